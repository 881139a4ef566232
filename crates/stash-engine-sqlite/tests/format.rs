//! The on-disk format: tables, format version, the kept count and version rows.

use std::sync::Arc;

use rusqlite::Connection;
use stash_core::{Stash, StashConfig, WriteOptions};
use stash_engine_sqlite::{APPLICATION_ID, FORMAT_VERSION, Sqlite};

fn open(root: &std::path::Path) -> Stash {
    let mut config = StashConfig::default();
    config.engine = "sqlite".into();
    config.root_dir = root.to_path_buf();
    config.compress = stash_core::Compression::Raw;
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
    // A batch over a key with older versions, one with an expiry and a new one.
    for v in 0..3 {
        s.set_with(&3000, &v, WriteOptions::APPEND).unwrap();
    }
    s.set_with(&3001, &0, WriteOptions::REPLACE.expiring_at(Some(i64::MAX - 1))).unwrap();
    assert_eq!(count(&db, "SELECT value FROM meta WHERE name = 'expiring'"), 1);
    check(163);
    s.update([(3000, 9), (3001, 9), (3002, 9)]).unwrap();
    check(164);
    assert_eq!(s.get_all::<_, i32>(&3000).unwrap(), vec![9]);
    assert_eq!(count(&db, "SELECT value FROM meta WHERE name = 'expiring'"), 0);
    s.clear().unwrap();
    check(0);
}

#[test]
fn a_scan_pages_through_more_than_one_page_in_digest_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    // Pages of 512, 1024, ... 8192 rows (15,872 in all), then 8192 again: every boundary crossed.
    let n = 17_000;
    s.update((0..n).map(|i| (i, i))).unwrap();
    let digests: Vec<_> = s.engine().scan().unwrap().map(|r| r.unwrap().digest).collect();
    assert_eq!(digests.len(), n as usize);
    assert!(digests.windows(2).all(|w| w[0].0 < w[1].0));
    let keys = s.engine().scan_keys().unwrap().map(|r| r.unwrap()).collect::<Vec<_>>();
    assert_eq!(keys.len(), n as usize);
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

#[test]
fn the_expiring_count_stays_exact_and_len_uses_it() {
    use stash_core::clock::now_micros;
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let db = Connection::open(s.path()).unwrap();
    let e = s.engine().clone();
    let hour = 3_600_000_000;
    let past = WriteOptions::REPLACE.expiring_at(Some(now_micros() - hour));
    let future = WriteOptions::REPLACE.expiring_at(Some(now_micros() + hour));
    let check = |live: usize| {
        assert_eq!(
            count(&db, "SELECT value FROM meta WHERE name = 'expiring'"),
            count(&db, "SELECT count(*) FROM entries WHERE expires_at IS NOT NULL")
        );
        assert_eq!(
            count(&db, "SELECT value FROM meta WHERE name = 'count'"),
            count(&db, "SELECT count(*) FROM entries")
        );
        assert_eq!(s.len().unwrap(), live);
    };
    let k = |i: i32| s.encode_key(&i).unwrap();
    let v = s.encode_value(&0).unwrap();
    s.update((0..10).map(|i| (i, i))).unwrap();
    check(10);
    for i in 0..3 {
        e.put(&k(i).digest, &k(i).bytes, &v, past).unwrap(); // permanent -> expired
    }
    check(7);
    e.put(&k(3).digest, &k(3).bytes, &v, future).unwrap(); // permanent -> expiring
    e.put(&k(3).digest, &k(3).bytes, &v, future).unwrap(); // expiring -> expiring
    check(7);
    e.put(&k(0).digest, &k(0).bytes, &v, WriteOptions::REPLACE).unwrap(); // expired -> permanent
    check(8);
    e.put(&k(1).digest, &k(1).bytes, &v, WriteOptions::APPEND).unwrap(); // append on expired: fresh
    assert_eq!(e.versions(&k(1).digest, &k(1).bytes).unwrap().unwrap().len(), 1);
    check(9);
    e.put(&k(3).digest, &k(3).bytes, &v, WriteOptions::APPEND.expiring_at(Some(now_micros() + hour)))
        .unwrap();
    assert_eq!(e.versions(&k(3).digest, &k(3).bytes).unwrap().unwrap().len(), 2);
    check(9);
    assert!(!e.delete(&k(2).digest, &k(2).bytes).unwrap()); // expired: removed, not "there"
    assert!(e.delete(&k(3).digest, &k(3).bytes).unwrap());
    check(8);
    let keys: Vec<_> = (20..25).map(k).collect();
    let batch: Vec<_> =
        keys.iter().map(|k| stash_core::Put { digest: k.digest, key: &k.bytes, value: &v }).collect();
    e.put_many(&batch, past).unwrap();
    check(8);
    e.put_many(&batch, WriteOptions::APPEND).unwrap();
    check(13);
    s.clear().unwrap();
    check(0);
    assert_eq!(count(&db, "SELECT value FROM meta WHERE name = 'expiring'"), 0);
}

/// `put_if_absent` keeps `count`, `expiring` and the version rows exact
/// whichever way it goes: a new key, a refused live one, an expired one
/// replaced or started afresh by an append, one stored already expired.
#[test]
fn counters_stay_exact_through_put_if_absent() {
    use stash_core::clock::now_micros;
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let db = Connection::open(s.path()).unwrap();
    let e = s.engine().clone();
    let hour = 3_600_000_000;
    let past = Some(now_micros() - hour);
    let future = Some(now_micros() + hour);
    let check = |live: usize| {
        assert_eq!(
            count(&db, "SELECT value FROM meta WHERE name = 'expiring'"),
            count(&db, "SELECT count(*) FROM entries WHERE expires_at IS NOT NULL")
        );
        assert_eq!(
            count(&db, "SELECT value FROM meta WHERE name = 'count'"),
            count(&db, "SELECT count(*) FROM entries")
        );
        assert_eq!(
            count(&db, "SELECT coalesce(sum(history), 0) FROM entries"),
            count(&db, "SELECT count(*) FROM versions")
        );
        assert_eq!(s.len().unwrap(), live);
    };
    let k = |i: i32| s.encode_key(&i).unwrap();
    let v = s.encode_value(&0).unwrap();
    let put_if_absent =
        |i: i32, options: WriteOptions| e.put_if_absent(&k(i).digest, &k(i).bytes, &v, options);
    assert!(put_if_absent(0, WriteOptions::REPLACE).unwrap()); // new
    assert!(put_if_absent(1, WriteOptions::APPEND.expiring_at(future)).unwrap()); // new, expiring
    assert!(put_if_absent(2, WriteOptions::REPLACE.expiring_at(past)).unwrap()); // new, expired at once
    check(2);
    assert!(!put_if_absent(0, WriteOptions::APPEND.expiring_at(future)).unwrap()); // live: refused
    assert!(!put_if_absent(1, WriteOptions::REPLACE).unwrap());
    check(2);
    assert!(put_if_absent(2, WriteOptions::REPLACE).unwrap()); // expired -> permanent
    check(3);
    for _ in 0..3 {
        e.put(&k(3).digest, &k(3).bytes, &v, WriteOptions::APPEND.expiring_at(past)).unwrap();
    }
    e.put(&k(4).digest, &k(4).bytes, &v, WriteOptions::APPEND).unwrap();
    e.put(&k(4).digest, &k(4).bytes, &v, WriteOptions::APPEND.expiring_at(past)).unwrap(); // 2 versions, expired
    check(3);
    assert!(put_if_absent(3, WriteOptions::APPEND.expiring_at(future)).unwrap()); // expired -> fresh history
    assert!(put_if_absent(4, WriteOptions::REPLACE).unwrap()); // expired with history -> replaced
    assert_eq!(e.versions(&k(4).digest, &k(4).bytes).unwrap().unwrap().len(), 1);
    check(5);
    s.clear().unwrap();
    check(0);
}

#[test]
fn expired_entries_are_counted_through_the_partial_index() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let db = Connection::open(s.path()).unwrap();
    let plan: Vec<String> = db
        // The statement of `len` while some entry has an expiry.
        .prepare(
            "EXPLAIN QUERY PLAN SELECT c.value - CASE WHEN x.value > 0 THEN
                 (SELECT count(*) FROM entries WHERE expires_at <= ?1)
             ELSE 0 END
             FROM meta c, meta x WHERE c.name = 'count' AND x.name = 'expiring'",
        )
        .unwrap()
        .query_map([5], |r| r.get::<_, String>(3))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(plan.iter().any(|step| step.contains("entries_expiry")), "{plan:?}");
    assert!(!plan.iter().any(|step| step.starts_with("SCAN")), "{plan:?}");
}

#[test]
fn scan_meta_pages_through_every_entry_without_values() {
    use stash_core::clock::now_micros;
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.update((0..1500).map(|i| (i, i))).unwrap();
    let e = s.engine().clone();
    let k = s.encode_key(&7).unwrap();
    let past = Some(now_micros() - 1);
    e.put(&k.digest, &k.bytes, b"abc", WriteOptions::REPLACE).unwrap();
    e.put(&k.digest, &k.bytes, b"defgh", WriteOptions::APPEND.expiring_at(past)).unwrap();
    let meta: Vec<_> = e.scan_meta().unwrap().map(|m| m.unwrap()).collect();
    assert_eq!(meta.len(), 1500);
    assert!(meta.windows(2).all(|w| w[0].digest.0 < w[1].digest.0));
    let seven = meta.iter().find(|m| m.digest == k.digest).unwrap();
    assert_eq!((seven.versions, seven.value_bytes, seven.expires_at_micros), (2, 8, past));
    assert_eq!(seven.key, k.bytes);
    assert_eq!(s.len().unwrap(), 1499);
    assert_eq!(e.scan_keys().unwrap().count(), 1499);
    let usage = e.disk_usage().unwrap().unwrap();
    assert!(usage > 0);
    s.flush().unwrap();
    assert!(e.disk_usage().unwrap().unwrap() > 0);
}
