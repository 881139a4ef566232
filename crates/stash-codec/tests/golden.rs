//! Byte-for-byte compatibility with the Python library (hashstash 1.2.0).
//!
//! The literals come from Python (see tests/data/gen_python_golden.py), never from
//! this crate. Summary of what is pinned:
//!
//! | codec | we decode Python's bytes | we produce Python's bytes |
//! |-------|--------------------------|---------------------------|
//! | zlib, gzip, bz2, zstd | yes | yes, on every golden input |
//! | lz4   | yes | only for tiny/incompressible input (`lz4_flex` finds different matches than C lz4) |
//! | blosc | yes (c-blosc1 chunks) | no: c-blosc2 writes format-5 chunks, which Python's c-blosc1 rejects |

mod common;
#[path = "data/python_golden.rs"]
mod python_golden;

use stash_codec::{codec, decode, encode};

const CAT: &[u8] = b"\"cat\"";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex literal")).collect()
}

#[test]
fn cat_input_is_what_python_sees() {
    assert_eq!(CAT, hex("2263617422"));
}

#[test]
fn raw_golden() {
    assert_eq!(encode(CAT, "raw", false).unwrap(), hex("2263617422"));
    assert_eq!(decode(&hex("2263617422"), "raw", false).unwrap(), CAT);
}

#[test]
fn raw_b64_golden() {
    assert_eq!(encode(CAT, "raw", true).unwrap(), b"ImNhdCI=");
    assert_eq!(decode(b"ImNhdCI=", "raw", true).unwrap(), CAT);
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_golden() {
    let expected = hex("05000000502263617422");
    assert_eq!(encode(CAT, "lz4", false).unwrap(), expected);
    assert_eq!(decode(&expected, "lz4", false).unwrap(), CAT);
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_b64_golden() {
    let enc = stash_codec::Encoding::from_names("lz4", true).unwrap();
    assert_eq!(enc.encode_to_vec(CAT).unwrap(), b"BQAAAFAiY2F0Ig==");
    assert_eq!(enc.decode_to_vec(b"BQAAAFAiY2F0Ig==").unwrap(), CAT);
}

#[cfg(feature = "zlib")]
#[test]
fn zlib_golden() {
    let expected = hex("789c534a4e2c5102000468017d");
    assert_eq!(encode(CAT, "zlib", false).unwrap(), expected);
    assert_eq!(decode(&expected, "zlib", false).unwrap(), CAT);
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_golden() {
    let expected = hex("1f8b0800000000000203534a4e2c510200958f968305000000");
    assert_eq!(encode(CAT, "gzip", false).unwrap(), expected);
    assert_eq!(decode(&expected, "gzip", false).unwrap(), CAT);
}

#[cfg(feature = "bz2")]
#[test]
fn bz2_golden_prefix() {
    let out = encode(CAT, "bz2", false).unwrap();
    assert_eq!(&out[..4], hex("425a6839").as_slice(), "BZh9");
}

#[cfg(feature = "blosc")]
#[test]
fn blosc_decodes_python_c_blosc1_chunk() {
    let python = hex("020113080500000001000000150000002263617422");
    assert_eq!(decode(&python, "blosc", false).unwrap(), CAT);
    // Our own output is a c-blosc2 (format version 5) chunk, not byte-identical.
    let ours = encode(CAT, "blosc", false).unwrap();
    assert_eq!(ours[0], 5, "c-blosc2 format version");
    assert_eq!(decode(&ours, "blosc", false).unwrap(), CAT);
}

/// Codecs whose compressed bytes equal Python's for every golden input.
const IDENTICAL: &[&str] = &["zlib", "gzip", "bz2", "zstd"];
/// lz4 output equals Python's `lz4.block.compress` only for these inputs.
const LZ4_IDENTICAL_INPUTS: &[&str] = &["cat", "empty", "noise512"];

#[test]
fn python_outputs_decode_and_match() {
    let mut checked = 0;
    for &(input, name, b64) in python_golden::GOLDEN {
        let Ok(codec) = codec(name) else { continue };
        let data = common::input(input);
        let python = common::b64(b64);

        let mut decoded = Vec::new();
        codec.decompress(&python, &mut decoded).unwrap_or_else(|e| panic!("{name}/{input}: {e}"));
        assert_eq!(decoded, data, "{name}/{input}: decoding Python's bytes");

        let mut ours = Vec::new();
        codec.compress(&data, &mut ours).unwrap();
        let identical = IDENTICAL.contains(&name) || (name == "lz4" && LZ4_IDENTICAL_INPUTS.contains(&input));
        if identical {
            assert!(ours == python, "{name}/{input}: expected Python's exact bytes");
        } else {
            assert!(ours != python, "{name}/{input}: now identical to Python; update the table");
        }
        checked += 1;
    }
    if cfg!(feature = "lz4") {
        assert!(checked >= 5, "at least lz4 was checked on every input");
    }
}
