//! A damaged entry file is a `Corrupt` error naming it; the other keys stay readable and a
//! write of the damaged key repairs it.

use std::sync::Arc;

use stash_core::{ErrorKind, Stash, StashConfig};
use stash_engine_files::Files;

#[test]
fn a_damaged_entry_fails_alone_and_a_write_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StashConfig::default();
    config.engine = "files".into();
    config.root_dir = dir.path().into();
    let stash = Stash::open(config, Arc::new(Files)).unwrap();
    stash.set("a", "1").unwrap();
    stash.set("b", "2").unwrap();
    let file = stash.path().join(stash.encode_key("a").unwrap().digest.to_hex());
    // A key length far past the end of the file: refused before anything is allocated for it.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&file, bytes).unwrap();

    let err = stash.get::<_, String>("a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.to_string().contains(&file.display().to_string()), "{err}");
    assert_eq!(stash.get::<_, String>("b").unwrap().as_deref(), Some("2"));
    stash.set("a", "3").unwrap();
    assert_eq!(stash.get::<_, String>("a").unwrap().as_deref(), Some("3"));
}

#[test]
fn an_append_past_the_size_limit_is_refused_and_what_was_stored_stays() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StashConfig::default();
    config.engine = "files".into();
    config.root_dir = dir.path().into();
    config.compress = stash_core::Compression::Raw;
    config.max_value_bytes = 1000;
    let stash = Stash::open(config, Arc::new(Files)).unwrap();
    let value = "x".repeat(40_000);
    let mut refused = false;
    for i in 0..200 {
        match stash.set_with("k", &value[..900], stash_core::WriteOptions::APPEND) {
            Ok(()) => continue,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
                assert!(i > 0, "the first version fits");
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "200 versions of 900 bytes never reached the limit");
    // Every acknowledged version reads back.
    let versions = stash.get_all::<_, String>("k").unwrap();
    assert!(!versions.is_empty() && versions.iter().all(|v| v.len() == 900), "{}", versions.len());
    assert!(stash.set_with("k", &value[..900], stash_core::WriteOptions::APPEND).is_err());
}
