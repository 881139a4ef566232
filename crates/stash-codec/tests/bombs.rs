//! Decompression bombs and size claims: every codec stops at the decode limit *while*
//! decoding (the output buffer never grows much past it), reports `TooLarge`, and
//! leaves the caller's buffer as it was; blosc refuses special-value chunks.

mod common;

use stash_codec::{CodecError, DEFAULT_MAX_DECODED, Encoding, available, codec};

/// The decode limit used by these tests.
const LIMIT: usize = 1 << 20;
/// How far past the limit `out`'s capacity may grow (streaming decoders get one byte
/// of room past the limit; everything else is bookkeeping slack).
const SLACK: usize = 4 << 10;
/// What the caller's buffer holds before each decode.
const KEEP: &[u8] = b"keep";

fn compress(name: &str, data: &[u8]) -> Vec<u8> {
    let mut packed = Vec::new();
    codec(name).unwrap().compress(data, &mut packed).unwrap();
    packed
}

/// `input` must give `TooLarge` from `name` at `LIMIT`, with `out` untouched and its
/// capacity within the limit.
fn assert_bomb_refused(name: &str, what: &str, input: &[u8]) {
    let mut out = KEEP.to_vec();
    let err = codec(name).unwrap().decompress_limited(input, &mut out, LIMIT).unwrap_err();
    assert!(err.is_too_large(), "{name}/{what}: expected TooLarge, got {err:?}");
    assert!(
        matches!(err, CodecError::TooLarge { codec, limit: LIMIT } if codec == name),
        "{name}/{what}: {err:?}"
    );
    assert_eq!(out, KEEP, "{name}/{what}: out modified on error");
    assert!(
        out.capacity() <= KEEP.len() + LIMIT + SLACK,
        "{name}/{what}: out grew to {} bytes of capacity for a {LIMIT}-byte limit",
        out.capacity()
    );
}

/// Small inputs that each decode to more than `LIMIT` bytes, made by the codec itself.
fn bombs(name: &str) -> Vec<(&'static str, Vec<u8>)> {
    let over = vec![0u8; 2 * LIMIT];
    let mut bombs = vec![("2 MiB of zeros", compress(name, &over))];
    match name {
        // Raw cannot expand: its "bomb" is just a value over the limit.
        "raw" => bombs = vec![("limit + 1 bytes", vec![0; LIMIT + 1])],
        // Many concatenated streams/members/frames, each well under the limit.
        "bz2" | "gzip" | "zstd" => {
            bombs.push(("8 concatenated quarter-limit units", compress(name, &vec![0; LIMIT / 4]).repeat(8)));
            bombs.push((
                "limit + 1 bytes as 2 units",
                [compress(name, &vec![0; LIMIT]), compress(name, b"x")].concat(),
            ));
        }
        _ => {}
    }
    bombs
}

#[test]
fn every_codec_stops_at_the_limit() {
    for name in available() {
        for (what, bomb) in bombs(name) {
            if name != "raw" {
                assert!(bomb.len() < 16 << 10, "{name}/{what}: bomb of {} bytes is not small", bomb.len());
            }
            assert_bomb_refused(name, what, &bomb);
        }
    }
}

#[test]
fn a_value_exactly_at_the_limit_decodes() {
    // Zeros (the extreme ratio) at `LIMIT`, and text at a limit of its own length.
    let zeros = vec![0u8; LIMIT];
    let text = common::text(1_000);
    for name in available() {
        for data in [&zeros, &text] {
            let limit = data.len();
            let packed = compress(name, data);
            let mut out = KEEP.to_vec();
            codec(name)
                .unwrap()
                .decompress_limited(&packed, &mut out, limit)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(out[..KEEP.len()] == *KEEP && out[KEEP.len()..] == data[..], "{name}: wrong bytes");
            // One byte less is over the limit.
            let mut out = KEEP.to_vec();
            let err = codec(name).unwrap().decompress_limited(&packed, &mut out, limit - 1).unwrap_err();
            assert!(err.is_too_large(), "{name} at limit {}: {err:?}", limit - 1);
            assert_eq!(out, KEEP);
        }
    }
}

#[cfg(feature = "bz2")]
#[test]
fn bz2_many_streams_are_bounded_together() {
    // The shape of the reported bomb: a small stored value made of many bz2 streams,
    // each decoding to 64 KiB; 40 of them are 2.5 MiB.
    let unit = compress("bz2", &vec![0; 64 << 10]);
    let bomb = unit.repeat(40);
    assert!(bomb.len() < 4 << 10, "{} bytes", bomb.len());
    assert_bomb_refused("bz2", "40 streams", &bomb);
    // Under the limit, the same streams still join.
    let mut out = Vec::new();
    codec("bz2").unwrap().decompress_limited(&unit.repeat(16), &mut out, LIMIT).unwrap();
    assert_eq!(out, vec![0; LIMIT]);
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_members_are_bounded_together() {
    let unit = compress("gzip", &vec![0; 256 << 10]);
    let mut out = Vec::new();
    codec("gzip").unwrap().decompress_limited(&unit.repeat(4), &mut out, LIMIT).unwrap();
    assert_eq!(out.len(), LIMIT);
    assert_bomb_refused("gzip", "5 members", &unit.repeat(5));
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_header_claim_over_the_limit_is_refused_unallocated() {
    // A frame whose header claims 2 GiB (magic, descriptor: 8-byte content size,
    // single segment) followed by one empty last raw block: refused from the header
    // alone, before any allocation (the old decoder streamed it).
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
    frame.extend_from_slice(&(2u64 << 30).to_le_bytes());
    frame.extend_from_slice(&[0x01, 0x00, 0x00]);
    assert!(matches!(zstd::zstd_safe::get_frame_content_size(&frame), Ok(Some(n)) if n == 2 << 30));
    assert_bomb_refused("zstd", "header claims 2 GiB", &frame);
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_frames_without_content_size_are_bounded_while_streaming() {
    let stream = |data: &[u8]| {
        use std::io::Write;
        let mut frame = Vec::new();
        let mut enc = zstd::stream::write::Encoder::new(&mut frame, 3).unwrap();
        enc.write_all(data).unwrap();
        enc.finish().unwrap();
        frame
    };
    let bomb = stream(&vec![0; 4 * LIMIT]);
    assert!(matches!(zstd::zstd_safe::get_frame_content_size(&bomb), Ok(None)));
    assert_bomb_refused("zstd", "4 MiB without content size", &bomb);
    let exact = stream(&vec![7; LIMIT]);
    let mut out = Vec::new();
    codec("zstd").unwrap().decompress_limited(&exact, &mut out, LIMIT).unwrap();
    assert_eq!(out, vec![7; LIMIT]);
    // A skippable frame after a data frame is skipped, as before.
    let mut with_skippable = stream(b"abc");
    with_skippable.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    let mut out = Vec::new();
    codec("zstd").unwrap().decompress_limited(&with_skippable, &mut out, LIMIT).unwrap();
    assert_eq!(out, b"abc");
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_size_prefix_over_the_limit_is_refused_unallocated() {
    // A plausible prefix (within lz4's 255x expansion of the body) over the limit.
    let mut bomb = ((LIMIT + 1) as u32).to_le_bytes().to_vec();
    bomb.extend_from_slice(&common::noise(LIMIT / 200));
    assert_bomb_refused("lz4", "prefix claims limit + 1", &bomb);
}

#[test]
fn base64_layer_enforces_the_encoding_limit() {
    for name in available() {
        let enc = Encoding::from_names(name, true).unwrap().with_max_decoded(LIMIT);
        assert_eq!(enc.max_decoded(), LIMIT);
        let data = if name == "raw" { vec![0; LIMIT + 1] } else { vec![0; 2 * LIMIT] };
        // Encode with an unlimited twin: the limit only applies to decoding.
        let stored = Encoding::from_names(name, true).unwrap().encode_to_vec(&data).unwrap();
        let mut out = KEEP.to_vec();
        let err = enc.decode(&stored, &mut out).unwrap_err();
        assert!(err.is_too_large(), "{name}+b64: {err:?}");
        assert_eq!(out, KEEP, "{name}+b64");
        assert!(out.capacity() <= KEEP.len() + LIMIT + SLACK, "{name}+b64: capacity {}", out.capacity());
        // Exactly at the limit still decodes, with and without base64.
        for b64 in [false, true] {
            let enc = Encoding::from_names(name, b64).unwrap().with_max_decoded(LIMIT);
            let stored = enc.encode_to_vec(&data[..LIMIT]).unwrap();
            assert_eq!(enc.decode_to_vec(&stored).unwrap(), data[..LIMIT], "{name} b64={b64}");
            let err = enc.clone().with_max_decoded(LIMIT - 1).decode_to_vec(&stored).unwrap_err();
            assert!(err.is_too_large(), "{name} b64={b64}: {err:?}");
        }
    }
}

#[test]
fn encodings_default_to_the_1_gib_limit() {
    assert_eq!(DEFAULT_MAX_DECODED, 1 << 30);
    for name in available() {
        for b64 in [false, true] {
            let enc = Encoding::from_names(name, b64).unwrap();
            assert_eq!(enc.max_decoded(), DEFAULT_MAX_DECODED, "{enc}");
            assert_eq!(Encoding::from_label(&enc.label()).unwrap().max_decoded(), DEFAULT_MAX_DECODED);
            let limited = enc.clone().with_max_decoded(10);
            assert_eq!(limited.max_decoded(), 10);
            // Same bytes on disk: the limit does not make another encoding.
            assert_eq!(limited, enc);
        }
    }
}

#[cfg(feature = "lz4")]
#[test]
fn the_default_limit_applies_through_from_names() {
    let enc = Encoding::from_names("lz4", true).unwrap();
    // An lz4 value whose prefix claims one byte over 1 GiB (the body is long enough for
    // lz4's own ratio check to let it through): refused from the prefix, before the
    // 1 GiB buffer the old decoder allocated and zeroed.
    let claim = DEFAULT_MAX_DECODED + 1;
    let mut value = (claim as u32).to_le_bytes().to_vec();
    value.extend_from_slice(&vec![0x0f; claim / 255 + 1]);
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&value).into_bytes()
    };
    let mut out = Vec::new();
    let err = enc.decode(&b64, &mut out).unwrap_err();
    assert!(matches!(err, CodecError::TooLarge { codec: "lz4", limit: DEFAULT_MAX_DECODED }), "{err:?}");
    assert!(out.capacity() < 1 << 20, "capacity {}", out.capacity());
    let err = stash_codec::decode(&b64, "lz4", true).unwrap_err();
    assert!(err.is_too_large(), "{err:?}");
    let err = codec("lz4").unwrap().decompress(&value, &mut out).unwrap_err();
    assert!(err.is_too_large(), "{err:?}");
}

/// A 32-byte c-blosc2 extended header (layout of `blosc2.h`, c-blosc2 2.15) for a
/// special-value chunk of `nbytes`, `special` being the type in bits 4-6 of byte 31.
#[cfg(feature = "blosc")]
fn blosc_special_chunk(special: u8, nbytes: u32) -> Vec<u8> {
    let typesize = 1u8;
    let mut chunk = vec![0u8; 32];
    chunk[0] = 5; // BLOSC2_VERSION_FORMAT_STABLE
    chunk[1] = 1; // codec format version
    chunk[2] = 0x01 | 0x04; // BLOSC_DOSHUFFLE | BLOSC_DOBITSHUFFLE: extended header
    chunk[3] = typesize;
    chunk[4..8].copy_from_slice(&nbytes.to_le_bytes());
    chunk[8..12].copy_from_slice(&nbytes.min(1 << 16).to_le_bytes()); // blocksize
    let cbytes = if special == 3 { 33u32 } else { 32 }; // VALUE carries the value
    chunk[12..16].copy_from_slice(&cbytes.to_le_bytes());
    chunk[31] = special << 4;
    if special == 3 {
        chunk.push(0xab);
    }
    chunk
}

#[cfg(feature = "blosc")]
#[test]
fn blosc_special_value_chunks_other_than_zero_are_refused() {
    // UNINIT (0x40): c-blosc2 writes nothing and reports 64 KiB, and the old decoder
    // returned 64 KiB of whatever the allocation held. NAN and VALUE are never written
    // for a value either.
    let c = codec("blosc").unwrap();
    for (special, label) in [(4, "UNINIT"), (2, "NAN"), (3, "VALUE")] {
        let chunk = blosc_special_chunk(special, 64 << 10);
        let mut out = KEEP.to_vec();
        let err = c.decompress(&chunk, &mut out).unwrap_err();
        assert!(err.is_corrupt(), "{label}: {err:?}");
        assert_eq!(out, KEEP, "{label}");
        assert!(out.capacity() < 1 << 10, "{label}: capacity {}", out.capacity());
        let err = Encoding::from_names("blosc", true).unwrap().decode_to_vec(&b64(&chunk)).unwrap_err();
        assert!(err.is_corrupt(), "{label} via Encoding: {err:?}");
    }
}

#[cfg(feature = "blosc")]
#[test]
fn blosc_zero_chunks_are_bounded_by_the_limit() {
    let c = codec("blosc").unwrap();
    // c-blosc2 itself writes a ZERO special chunk for all-zero input, so those decode...
    let packed = compress("blosc", &vec![0; 64 << 10]);
    assert_eq!(packed.len(), 32, "c-blosc2 no longer writes a ZERO chunk for zeros");
    assert_eq!(packed[31] >> 4, 1);
    let mut out = KEEP.to_vec();
    c.decompress(&blosc_special_chunk(1, 64 << 10), &mut out).unwrap();
    assert!(
        out[..KEEP.len()] == *KEEP
            && out[KEEP.len()..].iter().all(|&b| b == 0)
            && out.len() == KEEP.len() + (64 << 10)
    );
    // ...but 32 bytes claiming 1 GiB are refused by the limit before any allocation,
    // and claiming more than the default limit is refused by `decompress`.
    assert_bomb_refused("blosc", "ZERO chunk claiming 1 GiB", &blosc_special_chunk(1, 1 << 30));
    let mut out = KEEP.to_vec();
    let over_default = u32::try_from(DEFAULT_MAX_DECODED + 8).unwrap();
    let err = c.decompress(&blosc_special_chunk(1, over_default), &mut out).unwrap_err();
    assert!(err.is_too_large(), "{err:?}");
    assert_eq!(out, KEEP);
    assert!(out.capacity() < 1 << 10, "capacity {}", out.capacity());
}

#[cfg(feature = "blosc")]
fn b64(bytes: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes).into_bytes()
}

/// Found by fuzzing (`fuzz/regressions/codec_blosc`): blosc's own chunk of
/// all-zero input whose length is not a multiple of 8 (a ZERO special chunk)
/// did not decode (c-blosc2 error -11).
#[cfg(feature = "blosc")]
#[test]
fn blosc_all_zero_input_of_any_length_round_trips() {
    let codec = stash_codec::codec("blosc").unwrap();
    for len in [1usize, 7, 8, 9, 13, 64, 1001, 4099] {
        let zeros = vec![0u8; len];
        let mut packed = Vec::new();
        codec.compress(&zeros, &mut packed).unwrap();
        let mut back = Vec::new();
        codec.decompress(&packed, &mut back).unwrap_or_else(|e| panic!("{len} zeros: {e}"));
        assert_eq!(back, zeros, "{len}");
    }
}
