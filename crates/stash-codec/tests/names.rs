//! Looking codecs up by name, feature gating, labels.

use stash_codec::{CodecError, Encoding, KNOWN, available, codec};

#[test]
fn unknown_name_lists_known_names() {
    let err = codec("snappy").unwrap_err();
    assert_eq!(err, CodecError::Unknown { name: "snappy".into(), known: KNOWN });
    assert_eq!(
        err.to_string(),
        "unknown compressor `snappy`: expected one of raw, lz4, zstd, blosc, zlib, gzip, bz2"
    );
    assert!(!err.is_corrupt());
    // Names are exact: no case folding, no silent fallback to raw.
    assert!(matches!(codec("LZ4"), Err(CodecError::Unknown { .. })));
    assert!(matches!(codec(""), Err(CodecError::Unknown { .. })));
}

#[test]
fn every_known_name_is_either_available_or_not_compiled() {
    let available = available();
    assert!(available.contains(&"raw"));
    for name in KNOWN {
        match codec(name) {
            Ok(c) => {
                assert_eq!(c.name(), *name);
                assert!(available.contains(name));
            }
            Err(CodecError::NotCompiled { name: n, feature }) => {
                assert_eq!(n, *name);
                assert_eq!(feature, *name);
                assert!(!available.contains(name));
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_is_available_by_default() {
    assert!(available().contains(&"lz4"));
}

#[cfg(not(feature = "zstd"))]
#[test]
fn zstd_is_not_compiled_without_its_feature() {
    let err = codec("zstd").unwrap_err();
    assert_eq!(err, CodecError::NotCompiled { name: "zstd", feature: "zstd" });
    assert_eq!(err.to_string(), "compressor `zstd` is not compiled in: enable the cargo feature `zstd`");
    assert!(stash_codec::encode(b"x", "zstd", false).is_err());
}

#[cfg(all(
    feature = "lz4",
    feature = "zstd",
    feature = "blosc",
    feature = "zlib",
    feature = "gzip",
    feature = "bz2"
))]
#[test]
fn all_features_make_everything_available() {
    assert_eq!(available(), KNOWN);
}

#[test]
fn labels() {
    let enc = Encoding::from_names("raw", false).unwrap();
    assert_eq!(enc.label(), "raw");
    assert!(!enc.b64());
    assert_eq!(enc.codec().name(), "raw");
    let enc = Encoding::from_names("raw", true).unwrap();
    assert_eq!(enc.label(), "raw+b64");
    assert_eq!(enc.to_string(), "raw+b64");
    assert_eq!(format!("{enc:?}"), r#"Encoding { codec: "raw", b64: true, max_decoded: 1073741824 }"#);
    for name in available() {
        for b64 in [false, true] {
            let enc = Encoding::from_names(name, b64).unwrap();
            let parsed: Encoding = enc.label().parse().unwrap();
            assert_eq!(parsed, enc);
        }
    }
    assert!(Encoding::from_label("nope+b64").is_err());
}

#[test]
fn encoding_is_clone_send_sync() {
    fn assert_traits<T: Clone + std::fmt::Debug + Send + Sync + 'static>() {}
    assert_traits::<Encoding>();
    assert_traits::<CodecError>();
}
