//! The shared conformance suite against the Python library's record layout
//! (`python_compatible`, for every stash of the `hashstash` serializer), and
//! the layout itself.

use std::sync::Arc;

use stash_core::testkit::Harness;
use stash_core::{ErrorKind, Stash, StashConfig, WriteOptions};
use stash_engine_lmdb::Lmdb;

mod common;
use common::{closed_records, raw_config};

fn python(config: StashConfig) -> StashConfig {
    // Python has no zstd, and cannot read c-blosc2: those stay in the native layout
    // (a compatible stash refuses them, tested below).
    let python_codec = !matches!(config.compress.name(), "zstd" | "blosc");
    if config.serializer == "hashstash" && python_codec { config.python() } else { config }
}

stash_core::conformance_suite!(harness: Harness::new(Lmdb).with_config(python));

fn open(root: &std::path::Path, compress: &str, b64: bool) -> Stash {
    let mut config = raw_config(root);
    config.compress = compress.parse().expect("a compressor name");
    config.b64 = b64;
    let config = config.python();
    Stash::open(config, Arc::new(Lmdb)).unwrap()
}

#[test]
fn two_records_per_key_with_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let path = {
        let s = open(dir.path(), "raw", false);
        s.set("cat", "meow").unwrap();
        s.set_with("cat", "purr", WriteOptions::APPEND).unwrap();
        assert_eq!(s.len().unwrap(), 1);
        assert_eq!(s.get_all::<_, String>("cat").unwrap(), ["meow", "purr"]);
        s.path().to_path_buf()
    };
    let all = closed_records(&path);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].0, "5868e298eaa67371d8c10cfe937a2e1a.key");
    assert_eq!(all[0].1, b"\"cat\"");
    assert_eq!(all[1].0, "5868e298eaa67371d8c10cfe937a2e1a.value");
    let text = String::from_utf8(all[1].1.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"__hs_v1__":true,"_fv":1,"_values":["meow","purr"],"_written_at":["#),
        "{text}"
    );
}

#[test]
fn lz4_keys_are_the_c_librarys_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "lz4", true);
    let key = "k".repeat(13);
    s.set(&key, &1).unwrap();
    let stored: Vec<Vec<u8>> = s.raw_keys().unwrap().collect::<Result<_, _>>().unwrap();
    // lz4.block.compress(b'"kkkkkkkkkkkkk"') in Python, base64: lz4_flex writes other bytes.
    let plain = format!("\"{key}\"");
    let ours = stash_codec::encode(plain.as_bytes(), "lz4", true).unwrap();
    assert_ne!(stored[0], ours, "this key no longer shows the lz4_flex difference");
    assert_eq!(stash_codec::decode(&stored[0], "lz4", true).unwrap(), plain.as_bytes());
    assert_eq!(s.get::<_, i32>(&key).unwrap(), Some(1));
    assert!(s.contains(&key).unwrap());
    assert!(s.remove(&key).unwrap());
    assert!(s.is_empty().unwrap());
}

#[test]
fn python_mode_refuses_other_formats() {
    let dir = tempfile::tempdir().unwrap();
    let base = {
        let mut config = StashConfig::default();
        config.engine = "lmdb".into();
        config.root_dir = dir.path().into();
        config
    }
    .python();
    for bad in [
        {
            let mut config = base.clone();
            config.serializer = stash_core::Format::Json;
            config
        },
        {
            let mut config = base.clone();
            config.digest = stash_core::DigestAlgo::Blake3;
            config
        },
        {
            let mut config = base.clone();
            config.compress = stash_core::Compression::Zstd;
            config
        },
    ] {
        let err = Stash::open(bad, Arc::new(Lmdb)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }
}
