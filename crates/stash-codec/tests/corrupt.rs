//! Garbage in must give `CodecError::Corrupt`, never a panic, and leave `out` untouched.

mod common;

use stash_codec::{CodecError, Encoding, available, codec};

/// Compressors where *some* input is invalid (raw accepts anything).
fn checked_codecs() -> Vec<&'static str> {
    available().into_iter().filter(|n| *n != "raw").collect()
}

fn assert_corrupt(name: &str, what: &str, input: &[u8]) {
    let mut out = b"keep".to_vec();
    match codec(name).unwrap().decompress(input, &mut out) {
        Err(e) => {
            assert!(e.is_corrupt(), "{name}/{what}: wrong error kind {e:?}");
            assert_eq!(out, b"keep", "{name}/{what}: out modified on error");
        }
        Ok(()) => panic!("{name}/{what}: accepted invalid input"),
    }
}

#[test]
fn truncated_input_is_corrupt() {
    for name in checked_codecs() {
        for data in [common::text(100), common::noise(3000), b"\"cat\"".to_vec()] {
            let mut packed = Vec::new();
            codec(name).unwrap().compress(&data, &mut packed).unwrap();
            // gzip and bz2 decode empty input to empty output, like Python.
            let shortest = if matches!(name, "gzip" | "bz2") { 1 } else { 0 };
            let cuts = [shortest, 1, 2, 3, 4, 5, 8, 15, 16, 17, packed.len() / 2, packed.len() - 1];
            for cut in cuts.into_iter().filter(|&c| c >= shortest && c < packed.len()) {
                assert_corrupt(name, &format!("cut to {cut} of {}", packed.len()), &packed[..cut]);
            }
        }
    }
}

#[test]
fn garbage_is_corrupt() {
    for name in checked_codecs() {
        for len in [1, 3, 4, 7, 16, 31, 32, 33, 100, 4096] {
            let garbage = common::noise(len);
            assert_corrupt(name, &format!("{len} random bytes"), &garbage);
            assert_corrupt(name, &format!("{len} 0xff bytes"), &vec![0xff; len]);
        }
    }
}

#[test]
fn bit_flips_never_panic() {
    for name in checked_codecs() {
        let mut packed = Vec::new();
        codec(name).unwrap().compress(&common::text(300), &mut packed).unwrap();
        for i in (0..packed.len()).step_by(7) {
            let mut bad = packed.clone();
            bad[i] ^= 0x5a;
            let mut out = Vec::new();
            // lz4 and blosc have no checksum, so a flip may decode to other bytes;
            // all that matters is no panic and a Corrupt kind on failure (or TooLarge,
            // when the flip makes a size field claim more than the decode limit).
            if let Err(e) = codec(name).unwrap().decompress(&bad, &mut out) {
                assert!(e.is_corrupt() || e.is_too_large(), "{name} flip at {i}: {e:?}");
            }
        }
    }
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_huge_size_prefix_is_rejected_without_allocating() {
    let mut bad = u32::MAX.to_le_bytes().to_vec();
    bad.extend_from_slice(&[0x50, 1, 2, 3, 4, 5]);
    assert_corrupt("lz4", "size prefix 4 GiB", &bad);
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_without_content_size_and_with_lying_header() {
    // A frame written by a streaming encoder has no content size in its header.
    let data = common::text(1000);
    let mut frame = Vec::new();
    {
        use std::io::Write;
        let mut enc = zstd::stream::write::Encoder::new(&mut frame, 3).unwrap();
        enc.write_all(&data).unwrap();
        enc.finish().unwrap();
    }
    assert!(matches!(zstd::zstd_safe::get_frame_content_size(&frame), Ok(None)));
    assert_eq!(codec("zstd").unwrap().decompress_to_vec_for_test(&frame), data);

    // Two concatenated frames decode to the concatenation.
    let mut two = Vec::new();
    codec("zstd").unwrap().compress(b"abc", &mut two).unwrap();
    codec("zstd").unwrap().compress(b"def", &mut two).unwrap();
    assert_eq!(codec("zstd").unwrap().decompress_to_vec_for_test(&two), b"abcdef");
}

/// Small helper so tests read naturally.
#[cfg(feature = "zstd")]
trait DecompressToVec {
    fn decompress_to_vec_for_test(&self, input: &[u8]) -> Vec<u8>;
}

#[cfg(feature = "zstd")]
impl DecompressToVec for std::sync::Arc<dyn stash_codec::Codec> {
    fn decompress_to_vec_for_test(&self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.decompress(input, &mut out).unwrap();
        out
    }
}

#[test]
fn invalid_base64_is_corrupt() {
    for name in available() {
        let enc = Encoding::from_names(name, true).unwrap();
        for bad in [&b"not base64!"[..], b"ImNhdCI", b"ImNhdCI==", b"Im\nNhdCI=", b"\xff\xfe"] {
            let mut out = b"keep".to_vec();
            let err = enc.decode(bad, &mut out).unwrap_err();
            assert!(
                matches!(err, CodecError::Corrupt { codec: "base64", .. }),
                "{name}: {bad:?} gave {err:?}"
            );
            assert_eq!(out, b"keep");
        }
    }
}

#[test]
fn valid_base64_of_garbage_is_corrupt_from_the_codec() {
    for name in checked_codecs() {
        let enc = Encoding::from_names(name, true).unwrap();
        let err = enc.decode(b"AAECAwQFBgcICQoLDA0ODw==", &mut Vec::new()).unwrap_err();
        assert!(matches!(err, CodecError::Corrupt { codec, .. } if codec == name), "{name}: {err:?}");
    }
}
