//! The on-disk format: tables, format version, the kept count and version rows.

use std::sync::Arc;

use rusqlite::Connection;
use stash_core::{Stash, StashConfig, WriteOptions};
use stash_engine_sqlite::{APPLICATION_ID, FORMAT_VERSION, Sqlite};

fn open(root: &std::path::Path) -> Stash {
    let config = StashConfig {
        engine: "sqlite".into(),
        root_dir: root.to_path_buf(),
        compress: "raw".into(),
        ..StashConfig::default()
    };
    Stash::open(config, Arc::new(Sqlite)).unwrap()
}

fn count(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn the_file_is_a_versioned_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert!(s.path().ends_with("sqlite.hashstash.raw/data.db"));
    assert!(s.path().is_file());
    let db = Connection::open(s.path()).unwrap();
    assert_eq!(count(&db, "PRAGMA user_version"), FORMAT_VERSION);
    assert_eq!(count(&db, "PRAGMA application_id"), APPLICATION_ID);
    let mode: String = db.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    s.set("cat", "meow").unwrap();
    let (key, value): (Vec<u8>, Vec<u8>) =
        db.query_row("SELECT key, value FROM entries", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(key, s.encode_key("cat").unwrap().bytes);
    assert_eq!(value, s.encode_value("meow").unwrap());
}

#[test]
fn count_and_versions_stay_exact_through_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let db = Connection::open(s.path()).unwrap();
    let check = |expected: usize| {
        assert_eq!(s.len().unwrap(), expected);
        assert_eq!(count(&db, "SELECT count(*) FROM entries") as usize, expected);
        assert_eq!(
            count(&db, "SELECT coalesce(sum(history), 0) FROM entries"),
            count(&db, "SELECT count(*) FROM versions")
        );
    };
    s.update((0..100).map(|i| (i, i))).unwrap();
    check(100);
    s.update((50..150).map(|i| (i, -i))).unwrap(); // half new, half replaced
    check(150);
    for v in 0..5 {
        s.set_with(&7, &v, WriteOptions::APPEND).unwrap();
        s.set_with(&1000, &v, WriteOptions::APPEND).unwrap(); // new key by append
    }
    check(151);
    assert_eq!(s.get_all::<_, i32>(&7).unwrap(), vec![7, 0, 1, 2, 3, 4]);
    s.set(&7, &70).unwrap(); // a replace drops the history
    check(151);
    assert_eq!(s.get_all::<_, i32>(&7).unwrap(), vec![70]);
    assert!(s.remove(&1000).unwrap()); // a delete drops it too
    assert!(!s.remove(&1000).unwrap());
    check(150);
    s.set_with(&1000, &1, WriteOptions::APPEND).unwrap();
    assert_eq!(s.get_all::<_, i32>(&1000).unwrap(), vec![1]);
    check(151);
    let mut batch = s.batch();
    for i in 0..10 {
        batch.set(&(2000 + i), &i).unwrap();
    }
    batch.commit().unwrap();
    check(161);
    s.clear().unwrap();
    check(0);
}

#[test]
fn a_scan_pages_through_more_than_one_page_in_digest_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.update((0..2000).map(|i| (i, i))).unwrap();
    let digests: Vec<_> = s.engine().scan().unwrap().map(|r| r.unwrap().digest).collect();
    assert_eq!(digests.len(), 2000);
    assert!(digests.windows(2).all(|w| w[0].0 < w[1].0));
    let keys = s.engine().scan_keys().unwrap().map(|r| r.unwrap()).collect::<Vec<_>>();
    assert_eq!(keys.len(), 2000);
    assert!(keys.iter().all(|r| r.value.is_empty() && !r.key.is_empty()));
}

#[test]
fn big_values_end_pages_early_without_losing_records() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let big = vec![7u8; 3 << 20];
    for i in 0..6u8 {
        let k = s.encode_key(&i).unwrap();
        s.engine().put(&k.digest, &k.bytes, &big, WriteOptions::REPLACE).unwrap();
    }
    let sizes: Vec<usize> = s.engine().scan().unwrap().map(|r| r.unwrap().value.len()).collect();
    assert_eq!(sizes, vec![3 << 20; 6]);
}
