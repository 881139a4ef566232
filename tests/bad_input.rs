//! Bad input gets a clear error, never a panic, and loses nothing else.

use hashstash::{ErrorKind, HashStash};

#[test]
fn unknown_and_missing_names_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let open = |engine: &str, serializer: &str, compress: &str| {
        HashStash::builder()
            .root_dir(dir.path())
            .engine(engine)
            .serializer(serializer)
            .compress(compress)
            .open()
            .unwrap_err()
    };
    let err = open("nosuch", "hashstash", "raw");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("unknown engine `nosuch`"), "{err}");
    assert!(err.to_string().contains("pairtree"), "{err}");

    // Every engine this build leaves out is refused with the feature to enable.
    for kind in hashstash::EngineKind::ALL.into_iter().filter(|k| k.factory().is_none()) {
        let err = open(kind.name(), "hashstash", "raw");
        assert_eq!(err.kind(), ErrorKind::NotCompiled);
        assert!(err.to_string().contains(&format!("cargo feature `{kind}`")), "{err}");
    }

    let err = open("pairtree", "nosuch", "raw");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("nosuch"), "{err}");

    let err = open("pairtree", "pickle", "raw");
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("postcard"), "{err}");

    let err = open("pairtree", "hashstash", "snappy");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("snappy"), "{err}");
}

/// Every compressor this build leaves out is refused with the feature to enable
/// (which ones depends on the features the test build unified, so ask the codec crate).
#[test]
fn a_compressor_not_compiled_in_names_its_feature() {
    let dir = tempfile::tempdir().unwrap();
    let compiled = hashstash::available_compressors();
    for name in
        ["raw", "lz4", "zstd", "blosc", "zlib", "gzip", "bz2"].into_iter().filter(|n| !compiled.contains(n))
    {
        let err = HashStash::builder().root_dir(dir.path()).compress(name).open().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotCompiled, "{name}: {err}");
        assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
    }
}

#[test]
fn paths_escaping_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for dbname in ["../escape", "a/../../b", "/etc/passwd"] {
        let err = HashStash::builder().root_dir(dir.path()).dbname(dbname).open().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{dbname}: {err}");
    }
    let err = HashStash::builder().root_dir(dir.path().join("..").join("x")).open().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let err = HashStash::builder().root_dir("../outside").open().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    // Nothing was created outside the temporary root.
    assert!(!dir.path().join("..").join("escape").exists());
}

#[test]
fn a_value_read_as_the_wrong_type_is_a_decode_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = HashStash::builder().root_dir(dir.path()).open().unwrap();
    s.set("k", &vec![1, 2, 3]).unwrap();
    let err = s.get::<_, String>("k").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    // What was asked for is in the cause, which `report()` (and `{:?}`) print once.
    assert!(err.to_string().starts_with("stored bytes do not read as the requested type"), "{err}");
    assert!(std::error::Error::source(&err).is_some_and(|s| s.to_string().contains("String")), "{err:?}");
    assert!(err.report().to_string().contains("String"), "{}", err.report());
    assert_eq!(s.get::<_, Vec<i32>>("k").unwrap(), Some(vec![1, 2, 3]));
}

#[test]
fn binary_values_cannot_be_read_as_dynamic_values() {
    let dir = tempfile::tempdir().unwrap();
    let s = HashStash::builder().root_dir(dir.path()).serializer("postcard").open().unwrap();
    s.set("k", "v").unwrap();
    let err = s.get::<_, hashstash::Value>("k").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("self-describing"), "{err}");
}

#[test]
fn corrupt_value_files_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let s = HashStash::builder().root_dir(dir.path()).compress("lz4").open().unwrap();
    s.set("good", "fine").unwrap();
    s.set("bad", "will be damaged").unwrap();
    let slot = s.encode_key("bad").unwrap().digest.to_hex();
    let leaf = s.path().join(&slot[0..2]).join(&slot[2..4]).join(&slot[4..6]).join(&slot[6..]);
    let version = std::fs::read_dir(&leaf)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .unwrap();
    std::fs::write(&version, b"\xff\xff\xff\x7fgarbage").unwrap();
    let err = s.get::<_, String>("bad").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.context_value("digest").is_some(), "{err}");
    assert_eq!(s.get::<_, String>("good").unwrap().as_deref(), Some("fine"));
    // Iteration reports the damaged entry and goes on.
    let results: Vec<_> = s.items::<String, String>().unwrap().collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
}
