//! Damaged, foreign and unwritable databases give clear errors, never panics.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stash_core::{ErrorKind, Stash, StashConfig};
use stash_engine_sled::Sled;

fn config(root: &Path, serializer: &str, compress: &str) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "sled".into();
    config.serializer = serializer.parse().expect("a serializer name");
    config.compress = compress.parse().expect("a compressor name");
    config.root_dir = root.to_path_buf();
    config
}

fn open(root: &Path) -> stash_core::Result<Stash> {
    Stash::open(config(root, "hashstash", "raw"), Arc::new(Sled))
}

/// Opens once a plain `sled::Db` just dropped by the test has released its
/// lock (sled 0.34 releases it a little after the drop).
fn open_when_free(root: &Path) -> stash_core::Result<Stash> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open(root) {
            Err(e) if e.kind() == ErrorKind::Locked && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// A closed stash holding a few entries; returns its `data.db`.
fn written(root: &Path) -> PathBuf {
    let s = open(root).unwrap();
    for i in 0..50 {
        s.set(&format!("key{i}"), &vec![i; 20]).unwrap();
    }
    s.path().to_path_buf()
}

/// The error must name the database folder (or a file in it).
fn assert_names(err: &stash_core::Error, data: &Path) {
    let file = err.context_value("file").unwrap_or_default();
    assert!(file.starts_with(data.canonicalize().unwrap().to_str().unwrap()), "{err}");
}

#[test]
fn a_junk_conf_file_is_corrupt_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = written(dir.path());
    fs::write(data.join("conf"), b"\x00\xffthis is not a sled config\n").unwrap();
    let err = open(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_names(&err, &data);
}

/// Overwrites the start of sled's log file `data.db/db`.
fn damage_log(data: &Path, how: &str) {
    let db = data.join("db");
    let mut bytes = fs::read(&db).unwrap();
    match how {
        "junk" => bytes.iter_mut().enumerate().for_each(|(i, b)| *b = (i * 7919 % 251) as u8),
        "empty" => bytes.clear(),
        _ => bytes[..4096].fill(0xab),
    }
    fs::write(&db, bytes).unwrap();
}

#[test]
fn a_junk_log_file_is_corrupt_not_an_empty_stash() {
    for how in ["junk", "empty", "junk start"] {
        let dir = tempfile::tempdir().unwrap();
        let data = written(dir.path());
        damage_log(&data, how);
        // sled recovers nothing from it; that must not pass for a new stash.
        let err = open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{how}: {err}");
        assert!(err.context_value("file").is_some_and(|f| f.ends_with("data.db/db")), "{how}: {err}");
        assert_names(&err, &data);
    }
}

#[test]
fn a_log_damaged_in_the_middle_keeps_the_entries_before_the_damage() {
    // sled reads a bad frame as the torn tail of a crash: it stops there.
    let dir = tempfile::tempdir().unwrap();
    let data = written(dir.path());
    let db = data.join("db");
    let mut bytes = fs::read(&db).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].iter_mut().for_each(|b| *b ^= 0x5a);
    fs::write(&db, bytes).unwrap();
    let s = open(dir.path()).unwrap();
    let items: Vec<(String, Vec<u32>)> = s.items().unwrap().collect::<Result<_, _>>().unwrap();
    assert!(!items.is_empty() && items.len() < 50, "{}", items.len());
    // The count is recounted, not the saved one of the lost tail.
    assert_eq!(s.len().unwrap(), items.len());
    for (k, v) in items {
        let i: u32 = k["key".len()..].parse().unwrap();
        assert_eq!(v, vec![i; 20]);
    }
}

#[test]
fn a_file_where_the_folder_should_be_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "hashstash", "raw");
    let data = cfg.data_path().unwrap();
    fs::create_dir_all(data.parent().unwrap()).unwrap();
    fs::write(&data, b"not a folder").unwrap();
    let err = Stash::open(cfg, Arc::new(Sled)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.context_value("file").is_some_and(|f| f.ends_with("data.db")), "{err}");
}

#[test]
fn a_plain_sled_database_is_not_taken_for_a_stash() {
    let dir = tempfile::tempdir().unwrap();
    let data = config(dir.path(), "hashstash", "raw").data_path().unwrap();
    {
        let db = sled::open(&data).unwrap();
        db.insert(b"someone else's", b"data").unwrap();
        db.flush().unwrap();
    }
    let err = open_when_free(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("not a stash"), "{err}");
    assert_names(&err, &data);
}

#[test]
fn a_damaged_record_is_corrupt_and_spares_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let data = written(dir.path());
    let digest = open(dir.path()).unwrap().encode_key("key7").unwrap().digest;
    {
        let db = sled::open(&data).unwrap();
        // Truncated in its value; a record with an unknown tag.
        let good = db.get(digest.as_bytes()).unwrap().unwrap();
        db.insert(digest.as_bytes(), &good[..good.len() - 3]).unwrap();
        db.insert([0u8; 16], &b"\x09junk"[..]).unwrap();
        db.flush().unwrap();
    }
    let s = open_when_free(dir.path()).unwrap();
    let err = s.get::<_, Vec<u32>>("key7").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.context_value("digest").is_some(), "{err}");
    assert_names(&err, &data);
    assert_eq!(s.get::<_, Vec<u32>>("key8").unwrap(), Some(vec![8; 20]));
    // Iteration reports both bad records and goes on.
    let results: Vec<_> = s.items::<String, Vec<u32>>().unwrap().collect();
    assert_eq!(results.len(), 51);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 2);
    // Overwriting repairs it.
    s.set("key7", &vec![70u32]).unwrap();
    assert_eq!(s.get::<_, Vec<u32>>("key7").unwrap(), Some(vec![70]));
}

#[test]
fn another_serializer_or_compressor_forced_on_the_path_gives_decode_errors() {
    let dir = tempfile::tempdir().unwrap();
    let formats = [("postcard", "raw"), ("hashstash", stash_core::config::default_compress().name())];
    for (serializer, compress) in formats {
        let written = Stash::open(config(dir.path(), serializer, compress), Arc::new(Sled)).unwrap();
        written.set("k", &vec![1.5f64, 2.5]).unwrap();
        written.set(&("tuple", 1), "v").unwrap();
    }
    // Move each database under the other's name.
    let paths: Vec<PathBuf> =
        formats.iter().map(|(s, c)| config(dir.path(), s, c).data_path().unwrap()).collect();
    let tmp = dir.path().join("swap");
    fs::rename(&paths[0], &tmp).unwrap();
    fs::rename(&paths[1], &paths[0]).unwrap();
    fs::rename(&tmp, &paths[1]).unwrap();
    for (serializer, compress) in formats {
        let s = Stash::open(config(dir.path(), serializer, compress), Arc::new(Sled)).unwrap();
        let ctx = format!("{serializer}/{compress}");
        // Keys are encoded differently: a lookup finds nothing.
        assert_eq!(s.get::<_, Vec<f64>>("k").unwrap(), None, "{ctx}");
        assert_eq!(s.len().unwrap(), 2, "{ctx}");
        // Iterating decodes the foreign bytes: errors, not panics.
        for item in s.items::<stash_core::Value, stash_core::Value>().unwrap() {
            if let Err(err) = item {
                assert!(matches!(err.kind(), ErrorKind::Decode | ErrorKind::Corrupt), "{ctx}: {err}");
            }
        }
        let typed: Vec<_> = s.items::<String, Vec<f64>>().unwrap().collect();
        assert!(typed.iter().any(Result::is_err), "{ctx}");
    }
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
    let root = dir.path().join("ro");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o555)).unwrap();
    let applies = permissions_apply(&root);
    let result = open(&root);
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    if !applies {
        eprintln!("running as root: permissions do not apply, skipping the assertion");
        return;
    }
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.context_value("file").is_some_and(|f| f.starts_with(root.to_str().unwrap())), "{err}");
}
