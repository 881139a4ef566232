//! Layout, sharing, map growth, durability, and bad input.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use stash_core::{EngineFactory, ErrorKind, Stash, StashConfig, WriteOptions};
use stash_engine_lmdb::{Durability, Lmdb, LmdbEngine, LmdbOptions};

fn config(root: &Path, serializer: &str, compress: &str) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "lmdb".into();
    config.serializer = serializer.parse().expect("a serializer name");
    config.compress = compress.parse().expect("a compressor name");
    config.root_dir = root.to_path_buf();
    config
}

fn open(root: &Path) -> Stash {
    Stash::open(config(root, "hashstash", "raw"), Arc::new(Lmdb)).unwrap()
}

#[test]
fn layout_and_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.set("cat", "meow").unwrap();
    assert!(s.path().ends_with("main/lmdb.hashstash.raw/data.db"), "{}", s.path().display());
    assert!(s.path().join("data.mdb").is_file());
    assert!(s.path().join("lock.mdb").is_file());
    let caps = s.engine().capabilities();
    assert!(caps.persistent && caps.multi_process && caps.cheap_len);
    assert_eq!(s.engine().name(), "lmdb");
    assert!(s.to_string().starts_with("LmdbHashStash("), "{s}");
    let options = LmdbOptions::new().durability(Durability::Relaxed);
    assert_eq!((options.name(), options.display_name()), ("lmdb", "Lmdb"));
    assert_eq!(options.durability_setting(), Durability::Relaxed);
    assert_eq!(LmdbOptions::default().durability_setting(), Durability::Full);
}

#[test]
fn handles_share_one_environment_and_reopen_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    let b = open(dir.path());
    a.set("k", &1).unwrap();
    assert_eq!(b.get::<_, i32>("k").unwrap(), Some(1));
    b.set_with("k", &2, WriteOptions::APPEND).unwrap();
    assert_eq!(a.get_all::<_, i32>("k").unwrap(), [1, 2]);
    drop((a, b));
    // Open and close the same path from two threads at once, many times: a
    // handle opened while the last one is closing waits, never fails.
    std::thread::scope(|scope| {
        for t in 0..2 {
            let root = dir.path();
            scope.spawn(move || {
                for i in 0..25 {
                    let s = open(root);
                    s.set(&(t, i), &i).unwrap();
                    assert_eq!(s.get_all::<_, i32>("k").unwrap(), [1, 2]);
                }
            });
        }
    });
    let s = open(dir.path());
    assert_eq!(s.len().unwrap(), 51);
}

#[test]
fn the_map_grows_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let small = LmdbOptions::new().map_size(64 << 10);
    let s = Stash::open(config(dir.path(), "hashstash", "raw"), Arc::new(small)).unwrap();
    let engine = LmdbEngine::open(s.path(), small).unwrap();
    assert_eq!(engine.map_size(), 64 << 10);
    // One batch (one transaction) much bigger than the map.
    let value = "v".repeat(2000);
    assert_eq!(s.update((0..2000).map(|i| (i, value.clone()))).unwrap(), 2000);
    assert!(engine.map_size() >= 4 << 20, "{}", engine.map_size());
    // One value bigger than the map.
    let big = vec![7u8; 3 << 20];
    s.set("big", &big).unwrap();
    assert_eq!(s.get::<_, Vec<u8>>("big").unwrap().map(|v| v.len()), Some(big.len()));
    assert_eq!(s.len().unwrap(), 2001);
    assert_eq!(s.get::<_, String>(&1999).unwrap().as_deref(), Some(value.as_str()));
}

#[test]
fn a_full_map_at_its_limit_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let capped = LmdbOptions::new().map_size(64 << 10).max_map_size(1 << 20);
    let s = Stash::open(config(dir.path(), "hashstash", "raw"), Arc::new(capped)).unwrap();
    s.set("small", "fits").unwrap();
    let err = s.set("huge", &vec![1u8; 2 << 20]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.to_string().contains("size limit"), "{err}");
    assert!(err.context_value("file").is_some_and(|f| f.ends_with("data.mdb")), "{err}");
    assert!(err.context_value("stash").is_some(), "{err}");
    // Nothing half-written; the stash still works.
    assert_eq!(s.get::<_, Vec<u8>>("huge").unwrap(), None);
    s.set("after", "ok").unwrap();
    assert_eq!(s.get::<_, String>("small").unwrap().as_deref(), Some("fits"));
    assert_eq!(s.len().unwrap(), 2);
}

#[test]
fn relaxed_durability() {
    let dir = tempfile::tempdir().unwrap();
    let relaxed = LmdbOptions::new().durability(Durability::Relaxed);
    let cfg = config(dir.path(), "hashstash", "raw");
    let s = Stash::open(cfg.clone(), Arc::new(relaxed)).unwrap();
    let engine = LmdbEngine::open(s.path(), relaxed).unwrap();
    assert_eq!(engine.durability(), Durability::Relaxed);
    s.update((0..100).map(|i| (i, i))).unwrap();
    s.set("k", "v").unwrap();
    s.flush().unwrap();
    // One environment per path: another durability is refused while it is open.
    let err = Stash::open(cfg.clone(), Arc::new(Lmdb)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("relaxed"), "{err}");
    drop((s, engine));
    let s = Stash::open(cfg, Arc::new(Lmdb)).unwrap();
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("v"));
    assert_eq!(s.len().unwrap(), 101);
}

#[test]
fn garbage_where_the_database_should_be_is_corrupt() {
    for garbage in [vec![0xab; 16 << 10], b"not an lmdb file at all".to_vec()] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), "hashstash", "raw");
        let data = cfg.data_path().unwrap();
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("data.mdb"), &garbage).unwrap();
        let err = Stash::open(cfg, Arc::new(Lmdb)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("not an LMDB database"), "{err}");
        let file = err.context_value("file").unwrap_or_default();
        assert!(file.ends_with("data.db/data.mdb"), "{err}");
    }
}

#[test]
fn a_file_where_the_folder_should_be_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "hashstash", "raw");
    let data = cfg.data_path().unwrap();
    fs::create_dir_all(data.parent().unwrap()).unwrap();
    fs::write(&data, b"not a folder").unwrap();
    let err = Stash::open(cfg, Arc::new(Lmdb)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.context_value("file").is_some_and(|f| f.ends_with("data.db")), "{err}");
}

/// Whether permissions stop this process (they do not stop root).
fn permissions_apply(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let denied = fs::write(&probe, b"x").is_err();
    let _ = fs::remove_file(&probe);
    denied
}

#[cfg(unix)]
#[test]
fn a_read_only_folder_is_an_io_error_with_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "hashstash", "raw");
    // An empty, read-only data.db folder: LMDB cannot create its files.
    let data = cfg.data_path().unwrap();
    fs::create_dir_all(&data).unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o555)).unwrap();
    let applies = permissions_apply(&data);
    let result = Stash::open(cfg, Arc::new(Lmdb));
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
    if !applies {
        eprintln!("running as root: permissions do not apply, skipping the assertion");
        assert!(result.is_ok());
        return;
    }
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    let file = err.context_value("file").unwrap_or_default();
    assert!(file.starts_with(data.to_str().unwrap()), "{err}");
}

/// The data of one format copied under another format's path: lookups miss
/// or fail to decode, iteration reports errors, nothing panics.
#[test]
fn a_database_written_in_another_format_fails_cleanly() {
    let mut pairs = vec![(("postcard", "raw"), ("json", "raw")), (("json", "raw"), ("postcard", "raw"))];
    if stash_core::stash_codec::available().contains(&"lz4") {
        pairs.push((("hashstash", "raw"), ("hashstash", "lz4")));
        pairs.push((("hashstash", "lz4"), ("hashstash", "raw")));
    }
    for ((ser_a, comp_a), (ser_b, comp_b)) in pairs {
        let ctx = format!("{ser_a}/{comp_a} read as {ser_b}/{comp_b}");
        let dir = tempfile::tempdir().unwrap();
        let a = Stash::open(config(dir.path(), ser_a, comp_a), Arc::new(Lmdb)).unwrap();
        for i in 0..10 {
            a.set(&format!("key{i}"), &vec![i as f64 / 3.0; 4]).unwrap();
        }
        let value_a = a.encode_value(&vec![0.5f64; 4]).unwrap();
        drop(a);
        let cfg_b = config(dir.path(), ser_b, comp_b);
        let data_b = cfg_b.data_path().unwrap();
        fs::create_dir_all(&data_b).unwrap();
        let data_a = config(dir.path(), ser_a, comp_a).data_path().unwrap();
        fs::copy(data_a.join("data.mdb"), data_b.join("data.mdb")).unwrap();

        let b = Stash::open(cfg_b, Arc::new(Lmdb)).unwrap();
        assert_eq!(b.len().unwrap(), 10, "{ctx}");
        for i in 0..10 {
            match b.get::<_, Vec<f64>>(&format!("key{i}")) {
                Ok(None) => {}
                Ok(Some(v)) => panic!("{ctx}: decoded {v:?}"),
                Err(e) => assert!(matches!(e.kind(), ErrorKind::Decode | ErrorKind::Corrupt), "{ctx}: {e}"),
            }
        }
        let items: Vec<_> = b.items::<String, Vec<f64>>().unwrap().collect();
        assert_eq!(items.len(), 10, "{ctx}");
        for item in items {
            let err = item.unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::Decode | ErrorKind::Corrupt), "{ctx}: {err}");
        }
        let _ = b.keys::<stash_core::Value>().unwrap().count();
        let _ = b.values::<stash_core::Value>().unwrap().count();
        // A hit on a value of the other format: a decode error, not a panic.
        let k = b.encode_key("forced").unwrap();
        b.engine().put(&k.digest, &k.bytes, &value_a, WriteOptions::REPLACE).unwrap();
        let err = b.get::<_, Vec<f64>>("forced").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Decode | ErrorKind::Corrupt), "{ctx}: {err}");
        assert!(err.context_value("digest").is_some(), "{ctx}: {err}");
    }
}
