//! Files that are not what the engine wrote: clear errors naming the file, no panics.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;
use stash_core::{Engine, ErrorKind, Stash, StashConfig, Value, WriteOptions};
use stash_engine_sqlite::{Sqlite, SqliteEngine, SqliteOptions};

fn config(root: &Path, serializer: &str, compress: &str) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "sqlite".into();
    config.root_dir = root.to_path_buf();
    config.serializer = serializer.parse().expect("a serializer name");
    config.compress = compress.parse().expect("a compressor name");
    config
}

/// Writes `bytes` where the stash's database goes and returns the config and path.
fn plant(root: &Path, bytes: &[u8]) -> (StashConfig, std::path::PathBuf) {
    let cfg = config(root, "hashstash", "raw");
    let data = cfg.data_path().unwrap();
    fs::create_dir_all(data.parent().unwrap()).unwrap();
    fs::write(&data, bytes).unwrap();
    (cfg, data)
}

fn assert_names_file(err: &stash_core::Error, path: &Path) {
    assert_eq!(err.context_value("file"), Some(path.to_str().unwrap()), "{err}");
}

#[test]
fn garbage_file_is_corrupt_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let (cfg, data) = plant(dir.path(), &garbage);
    let err = Stash::open(cfg, Arc::new(Sqlite)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("not a SQLite database"), "{err}");
    assert_names_file(&err, &data);
    // The garbage is left alone.
    assert_eq!(fs::read(&data).unwrap(), garbage);
}

#[test]
fn a_short_text_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data) = plant(dir.path(), b"hello, I am not a database\n");
    let err = Stash::open(cfg, Arc::new(Sqlite)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_names_file(&err, &data);
}

#[test]
fn an_empty_file_becomes_a_new_database() {
    // SQLite treats a zero-length file as an empty database.
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = plant(dir.path(), b"");
    let s = Stash::open(cfg, Arc::new(Sqlite)).unwrap();
    s.set("k", "v").unwrap();
    assert_eq!(s.len().unwrap(), 1);
}

#[test]
fn a_folder_where_the_file_goes_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "hashstash", "raw");
    let data = cfg.data_path().unwrap();
    fs::create_dir_all(&data).unwrap();
    let err = Stash::open(cfg, Arc::new(Sqlite)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_names_file(&err, &data);
}

/// Creates a database at the stash's path with `sql` and returns the config and path.
fn foreign_db(root: &Path, sql: &str) -> (StashConfig, std::path::PathBuf) {
    let cfg = config(root, "hashstash", "raw");
    let data = cfg.data_path().unwrap();
    fs::create_dir_all(data.parent().unwrap()).unwrap();
    Connection::open(&data).unwrap().execute_batch(sql).unwrap();
    (cfg, data)
}

#[test]
fn a_newer_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data) = foreign_db(dir.path(), "PRAGMA user_version = 99;");
    let err = Stash::open(cfg.clone(), Arc::new(Sqlite)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("format version 99"), "{err}");
    assert_names_file(&err, &data);
    // Still refused the second time: nothing was changed.
    assert_eq!(Stash::open(cfg, Arc::new(Sqlite)).unwrap_err().kind(), ErrorKind::Config);
}

#[test]
fn another_applications_database_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data) =
        foreign_db(dir.path(), "CREATE TABLE people(name TEXT); INSERT INTO people VALUES ('ada');");
    let err = Stash::open(cfg, Arc::new(Sqlite)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_names_file(&err, &data);
    let db = Connection::open(&data).unwrap();
    let name: String = db.query_row("SELECT name FROM people", [], |r| r.get(0)).unwrap();
    assert_eq!(name, "ada");
    let tables: i64 = db.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn right_version_but_wrong_tables_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = foreign_db(
        dir.path(),
        &format!(
            "PRAGMA application_id = {}; PRAGMA user_version = 1; CREATE TABLE entries(digest BLOB);",
            stash_engine_sqlite::APPLICATION_ID
        ),
    );
    let err = Stash::open(cfg, Arc::new(Sqlite)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("lacks the hashstash tables"), "{err}");
}

#[test]
fn right_version_but_foreign_application_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = foreign_db(dir.path(), "PRAGMA user_version = 1; CREATE TABLE t(x);");
    let err = Stash::open(cfg, Arc::new(Sqlite)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

#[test]
fn damaged_rows_are_corrupt_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let s = Stash::open(config(dir.path(), "hashstash", "raw"), Arc::new(Sqlite)).unwrap();
    for i in 0..10 {
        s.set(&format!("k{i}"), &i).unwrap();
    }
    s.set_with("app", &1, WriteOptions::APPEND).unwrap();
    s.set_with("app", &2, WriteOptions::APPEND).unwrap();
    let db = Connection::open(s.path()).unwrap();
    // A value stored as text, a key stored as an integer, a history that lies.
    let k1 = s.encode_key("k1").unwrap().digest;
    let k2 = s.encode_key("k2").unwrap().digest;
    let app = s.encode_key("app").unwrap().digest;
    db.execute("UPDATE entries SET value = 'text' WHERE digest = ?1", [&k1.0[..]]).unwrap();
    db.execute("UPDATE entries SET key = 42 WHERE digest = ?1", [&k2.0[..]]).unwrap();
    db.execute("UPDATE entries SET history = 5 WHERE digest = ?1", [&app.0[..]]).unwrap();
    let err = s.get::<_, i32>("k1").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let err = s.get::<_, i32>("k2").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let err = s.get_all::<_, i32>("app").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    // Iteration reports the damaged rows and goes on with none of them panicking.
    let results: Vec<_> = s.raw_items().unwrap().collect();
    assert!(results.iter().any(|r| r.is_err()));
    // A negative count.
    db.execute("UPDATE meta SET value = -3 WHERE name = 'count'", []).unwrap();
    assert_eq!(s.len().unwrap_err().kind(), ErrorKind::Corrupt);
}

#[test]
fn a_truncated_database_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "hashstash", "raw");
    let data = {
        let s = Stash::open(cfg.clone(), Arc::new(Sqlite)).unwrap();
        let value = "x".repeat(2000);
        s.update((0..500).map(|i| (format!("k{i}"), value.clone()))).unwrap();
        s.path().to_path_buf()
    };
    // Closed: the WAL was checkpointed into the file.
    let len = fs::metadata(&data).unwrap().len();
    let bytes = fs::read(&data).unwrap();
    fs::write(&data, &bytes[..len as usize / 2]).unwrap();
    // Opening may fail or succeed; reads may fail; nothing panics.
    if let Ok(s) = Stash::open(cfg, Arc::new(Sqlite)) {
        for i in 0..500 {
            if let Err(e) = s.get::<_, String>(&format!("k{i}")) {
                assert!(matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Backend | ErrorKind::Io), "{e}");
            }
        }
        let _ = s.raw_items().map(|it| it.count());
        let _ = s.len();
    }
}

#[test]
fn another_formats_database_gives_decode_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let source = Stash::open(config(dir.path(), "hashstash", "raw"), Arc::new(Sqlite)).unwrap();
    source.set(&("tuple", 1), &vec![1.5f64, 2.5]).unwrap();
    source.set("text", "hello").unwrap();
    let from = source.path().to_path_buf();
    drop(source);
    let mut opened = 0;
    for (serializer, compress) in
        [("postcard", "raw"), ("json", "raw"), ("hashstash", "zlib"), ("msgpack", "lz4")]
    {
        let cfg = config(dir.path(), serializer, compress);
        let Ok(to) = cfg.data_path() else { continue };
        if !stash_core::stash_codec::available().contains(&compress) {
            continue;
        }
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap();
        let s = Stash::open(cfg, Arc::new(Sqlite)).unwrap();
        opened += 1;
        assert_eq!(s.len().unwrap(), 2);
        // Typed and untyped reads fail or succeed, but never panic.
        let _ = s.get::<_, String>("text");
        for item in s.items::<Value, Value>().unwrap() {
            let _ = item;
        }
        for key in s.keys::<Value>().unwrap() {
            let _ = key;
        }
    }
    assert!(opened >= 2, "only {opened} foreign formats tried");
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
    let folder = cfg.data_path().unwrap().parent().unwrap().to_path_buf();
    fs::create_dir_all(&folder).unwrap();
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o555)).unwrap();
    let applies = permissions_apply(&folder);
    let result = Stash::open(cfg, Arc::new(Sqlite));
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
    if !applies {
        eprintln!("running as root: permissions do not apply, skipping the assertion");
        return;
    }
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.context_value("file").unwrap_or_default().starts_with(folder.to_str().unwrap()), "{err}");
}

#[test]
fn a_slot_holding_another_key_refuses_every_operation() {
    let dir = tempfile::tempdir().unwrap();
    let s = Stash::open(config(dir.path(), "hashstash", "raw"), Arc::new(Sqlite)).unwrap();
    let a = s.encode_key("a").unwrap();
    let b = s.encode_key("b").unwrap();
    let e = s.engine();
    e.put(&a.digest, &b.bytes, b"v", WriteOptions::REPLACE).unwrap();
    for result in [
        e.put(&a.digest, &a.bytes, b"w", WriteOptions::REPLACE).map(|_| ()),
        e.put(&a.digest, &a.bytes, b"w", WriteOptions::APPEND).map(|_| ()),
        e.get(&a.digest, &a.bytes).map(|_| ()),
        e.contains(&a.digest, &a.bytes).map(|_| ()),
        e.delete(&a.digest, &a.bytes).map(|_| ()),
        e.versions(&a.digest, &a.bytes).map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.context_value("digest").is_some(), "{err}");
    }
    // A batch with one bad item writes nothing.
    let c = s.encode_key("c").unwrap();
    let items = [
        stash_core::Put { digest: c.digest, key: &c.bytes, value: b"1" },
        stash_core::Put { digest: a.digest, key: &a.bytes, value: b"2" },
    ];
    assert!(e.put_many(&items, WriteOptions::REPLACE).is_err());
    assert_eq!(e.get(&c.digest, &c.bytes).unwrap(), None);
    assert_eq!(e.len().unwrap(), 1);
    // The stored entry is untouched.
    assert_eq!(e.get(&a.digest, &b.bytes).unwrap(), Some(b"v".to_vec()));
}

#[test]
fn a_held_write_lock_past_the_timeout_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x/data.db");
    let engine =
        SqliteEngine::open(&path, SqliteOptions::new().busy_timeout(std::time::Duration::from_millis(50)))
            .unwrap();
    let mut db = Connection::open(&path).unwrap();
    let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    let d = stash_core::DigestAlgo::default().digest(b"k");
    let err = engine.put(&d, b"k", b"v", WriteOptions::REPLACE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    assert_names_file(&err, &path);
    // Readers are not blocked by the writer (WAL).
    assert_eq!(engine.get(&d, b"k").unwrap(), None);
    drop(tx);
    engine.put(&d, b"k", b"v", WriteOptions::REPLACE).unwrap();
}

/// A stored write time no stamp can follow (issue 13, item 3): an append to
/// it is a `Corrupt` error naming the file and digest, not an overflow (a
/// panic in debug builds, a wrapped stamp in release); other keys, and the
/// entry itself, still work, and a replace repairs it.
#[test]
fn an_append_after_a_stamp_at_the_end_of_time_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = Stash::open(config(dir.path(), "hashstash", "raw"), Arc::new(Sqlite)).unwrap();
    s.set("k", "v").unwrap();
    s.set("other", "o").unwrap();
    s.set("gone", "g").unwrap();
    let plant = |name: &str, sql: &str| {
        let digest = s.encode_key(name).unwrap().digest;
        let conn = Connection::open(s.path()).unwrap();
        assert_eq!(conn.execute(sql, rusqlite::params![&digest.0[..], i64::MAX]).unwrap(), 1);
    };
    plant("k", "UPDATE entries SET written_at = ?2 WHERE digest = ?1");
    plant("gone", "UPDATE entries SET written_at = ?2, expires_at = 1 WHERE digest = ?1");
    s.set("h", "h").unwrap();
    plant("h", "UPDATE entries SET history = ?2 WHERE digest = ?1");
    let err = s.set_with("h", "h2", WriteOptions::APPEND).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    s.remove("h").unwrap();

    let err = s.set_with("k", "v2", WriteOptions::APPEND).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_names_file(&err, s.path());
    assert!(err.context_value("digest").is_some(), "{err}");
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["v"], "the failed append changed the entry");

    // Other keys append as before; the expired one starts a new history.
    s.set_with("other", "o2", WriteOptions::APPEND).unwrap();
    assert_eq!(s.get_all::<_, String>("other").unwrap(), ["o", "o2"]);
    s.set_with("gone", "g2", WriteOptions::APPEND).unwrap();
    let fresh = s.get_all_with_metadata::<_, String>("gone").unwrap();
    assert_eq!(fresh.iter().map(|v| v.value.as_str()).collect::<Vec<_>>(), ["g2"]);
    assert!(fresh[0].written_at < std::time::SystemTime::now() + std::time::Duration::from_secs(3600));

    // A replace repairs the entry; appends work again.
    s.set("k", "fixed").unwrap();
    s.set_with("k", "more", WriteOptions::APPEND).unwrap();
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["fixed", "more"]);
    assert_eq!(s.len().unwrap(), 3);
}

/// A database file cut short (not at a page boundary) while its WAL holds
/// the newer pages: SQLite's reads of the missing pages come back short
/// (`SQLITE_IOERR_SHORT_READ`). That is damage, an error of kind `Corrupt`
/// naming the file, not an I/O error that suggests retrying or checking the
/// disk (found by `reliability flips`).
#[test]
fn reads_past_the_end_of_a_cut_database_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "hashstash", "raw");
    let value = "x".repeat(2000);
    let data = {
        let s = Stash::open(cfg.clone(), Arc::new(Sqlite)).unwrap();
        s.update((0..200).map(|i| (format!("k{i}"), value.clone()))).unwrap();
        s.path().to_path_buf()
    };
    // Reopened, so the newer rows stay in the WAL; copied while open.
    let copy = config(&dir.path().join("copy"), "hashstash", "raw");
    let copied = copy.data_path().unwrap();
    {
        let s = Stash::open(cfg, Arc::new(Sqlite)).unwrap();
        s.update((200..300).map(|i| (format!("k{i}"), value.clone()))).unwrap();
        fs::create_dir_all(copied.parent().unwrap()).unwrap();
        fs::copy(&data, &copied).unwrap();
        let wal = |p: &Path| p.with_file_name("data.db-wal");
        fs::copy(wal(&data), wal(&copied)).unwrap();
    }
    let len = fs::metadata(&copied).unwrap().len();
    fs::OpenOptions::new().write(true).open(&copied).unwrap().set_len(len * 2 / 3 + 100).unwrap();
    let s = Stash::open(copy, Arc::new(Sqlite)).unwrap();
    let mut errors = 0;
    for i in 0..300 {
        if let Err(e) = s.get::<_, String>(&format!("k{i}")) {
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}: {:?}", std::error::Error::source(&e));
            assert_names_file(&e, &copied);
            errors += 1;
        }
    }
    assert!(errors > 0, "no read reached the missing pages");
    let err = s.raw_items().unwrap().find_map(Result::err).expect("the iteration reaches the missing pages");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
}
