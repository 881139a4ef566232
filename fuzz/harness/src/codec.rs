//! Codec decoders: never panic, never write past the limit, leave `out` as given on error.

use stash_codec::{Codec, Encoding, codec};

/// The decode limit the codec targets use: 1 MiB.
pub const LIMIT: usize = 1 << 20;

/// Bytes already in `out` before a decode: a codec appends and never clears.
const PREFIX: &[u8] = b"pre";

fn check_decode(name: &str, result: Result<(), stash_codec::CodecError>, out: &[u8], limit: usize) {
    match result {
        Ok(()) => {
            assert!(out.starts_with(PREFIX), "{name}: decode changed bytes already in `out`");
            assert!(
                out.len() - PREFIX.len() <= limit,
                "{name}: decoded {} bytes over the limit {limit}",
                out.len()
            );
        }
        Err(_) => assert_eq!(out, PREFIX, "{name}: a failed decode left `out` changed"),
    }
}

/// Decodes `data` with the codec called `name` under [`LIMIT`], then checks that
/// `data` compressed by it decodes back to itself, also with the limit exactly its size.
pub fn codec_decode(name: &str, data: &[u8]) {
    let codec = codec(name).unwrap_or_else(|e| panic!("codec {name}: {e}"));
    let mut out = PREFIX.to_vec();
    let result = codec.decompress_limited(data, &mut out, LIMIT);
    check_decode(name, result, &out, LIMIT);
    // A tiny limit: the size checks must hold before any allocation.
    let mut out = PREFIX.to_vec();
    let result = codec.decompress_limited(data, &mut out, 7);
    check_decode(name, result, &out, 7);
    round_trip(&*codec, data);
    if name == "lz4" {
        // Key bytes recompressed as Python's LZ4 1.9.4 does (`python_key`) read back too.
        let enc = Encoding::from_names("lz4", false).expect("lz4 is built in");
        let packed = enc.encode_to_vec(data).expect("lz4 compresses");
        let python = enc.python_key(&packed).expect("own output decodes").expect("lz4 keys are recompressed");
        assert_eq!(
            enc.decode_to_vec(&python).expect("python_key output decodes"),
            data,
            "python_key round trip"
        );
    }
}

fn round_trip(codec: &dyn Codec, data: &[u8]) {
    let name = codec.name();
    let mut packed = Vec::new();
    codec.compress(data, &mut packed).unwrap_or_else(|e| panic!("{name}: compress failed: {e}"));
    let mut back = PREFIX.to_vec();
    codec
        .decompress_limited(&packed, &mut back, data.len())
        .unwrap_or_else(|e| panic!("{name}: own output does not decode at limit = its size: {e}"));
    assert_eq!(&back[PREFIX.len()..], data, "{name}: round trip");
    if !data.is_empty() {
        let mut out = PREFIX.to_vec();
        let result = codec.decompress_limited(&packed, &mut out, data.len() - 1);
        assert!(result.is_err(), "{name}: decoded {} bytes under a limit one smaller", data.len());
        assert_eq!(out, PREFIX, "{name}: a failed decode left `out` changed");
    }
}

/// The base64 layer: `raw+b64` and `lz4+b64` decode under [`LIMIT`], and round trip.
pub fn codec_base64(data: &[u8]) {
    for name in ["raw", "lz4"] {
        let enc = Encoding::from_names(name, true).expect("raw and lz4 are built in").with_max_decoded(LIMIT);
        let mut out = PREFIX.to_vec();
        let result = enc.decode(data, &mut out);
        check_decode(&enc.label(), result, &out, LIMIT);
        let packed =
            enc.encode_to_vec(data).unwrap_or_else(|e| panic!("{}: encode failed: {e}", enc.label()));
        let back = enc.decode_to_vec(&packed).unwrap_or_else(|e| panic!("{}: own output: {e}", enc.label()));
        assert_eq!(back, data, "{}: round trip", enc.label());
    }
}
