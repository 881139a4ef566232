//! Sharing one database per path, the key count, close and reopen.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stash_core::{ErrorKind, Stash, StashConfig, WriteOptions};
use stash_engine_sled::{Sled, SledEngine};

fn config(root: &Path) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "sled".into();
    config.root_dir = root.to_path_buf();
    config
}

fn open(root: &Path) -> Stash {
    Stash::open(config(root), Arc::new(Sled)).unwrap()
}

/// Runs `f` on the stash's database opened with plain sled, once our handles are closed.
fn with_plain_sled(data: &Path, f: impl FnOnce(&sled::Db)) {
    {
        let db = sled::open(data).unwrap();
        f(&db);
        db.flush().unwrap();
    }
    // sled 0.34 releases its lock a little after the drop: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = SledEngine::open(data) {
        assert!(e.kind() == ErrorKind::Locked && Instant::now() < deadline, "{e}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn handles_on_one_path_share_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    let b = open(dir.path());
    a.set("k", "v").unwrap();
    assert_eq!(b.get::<_, String>("k").unwrap().as_deref(), Some("v"));
    let data = a.path().to_path_buf();
    let e1 = SledEngine::open(&data).unwrap();
    // Another spelling of the same folder reaches the same database.
    let e2 = SledEngine::open(&data.join("..").join("data.db")).unwrap();
    assert!(e1.shares_database_with(&e2));
    assert_eq!(e1.path(), data.canonicalize().unwrap());
    let other = SledEngine::open(&dir.path().join("elsewhere")).unwrap();
    assert!(!e1.shares_database_with(&other));
}

#[test]
fn engine_reports_its_name_and_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let caps = s.engine().capabilities();
    assert!(caps.persistent && caps.cheap_len && !caps.multi_process);
    assert_eq!(s.engine().name(), "sled");
    assert!(s.to_string().starts_with("SledHashStash("), "{s}");
}

#[test]
fn closing_and_reopening_at_once_never_sees_a_stale_lock() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..30 {
        let s = open(dir.path());
        assert_eq!(s.len().unwrap(), i);
        s.set(&i, &i).unwrap();
        // An iterator keeps the database open after the stash is gone.
        let iter = s.keys::<usize>().unwrap();
        drop(s);
        assert_eq!(iter.count(), i + 1);
    }
    assert_eq!(open(dir.path()).len().unwrap(), 30);
}

#[test]
fn the_count_is_saved_at_close_and_recounted_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let data = {
        let s = open(dir.path());
        s.update((0..100).map(|i| (i, i))).unwrap();
        s.set_with(&0, &1, WriteOptions::APPEND).unwrap();
        s.remove(&99).unwrap();
        assert_eq!(s.len().unwrap(), 99);
        s.path().to_path_buf()
    };
    // A clean close saved the count, and `len` trusts it without scanning:
    // overwrite it to see.
    with_plain_sled(&data, |db| {
        let meta = db.open_tree("hashstash.meta").unwrap();
        assert_eq!(meta.get("count").unwrap().unwrap(), &99u64.to_le_bytes()[..]);
        meta.insert("count", &1234u64.to_le_bytes()).unwrap();
    });
    assert_eq!(open(dir.path()).len().unwrap(), 1234);
    // No saved count (a crash): the entries are counted.
    with_plain_sled(&data, |db| {
        db.open_tree("hashstash.meta").unwrap().remove("count").unwrap();
    });
    let s = open(dir.path());
    assert_eq!(s.len().unwrap(), 99);
    // While open, the saved count is gone, so a crash now cannot leave a stale one.
    s.flush().unwrap();
}

#[test]
fn the_count_stays_exact_under_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    std::thread::scope(|scope| {
        for t in 0..8u32 {
            let s = s.clone();
            scope.spawn(move || {
                for i in 0..300u32 {
                    let key = (i * 7 + t) % 40;
                    match (i + t) % 6 {
                        0 => s.set(&key, &i).unwrap(),
                        1 => s.set_with(&key, &i, WriteOptions::APPEND).unwrap(),
                        2 => {
                            s.remove(&key).unwrap();
                        }
                        3 => {
                            s.update((key..key + 5).map(|k| (k % 40, i))).unwrap();
                        }
                        4 => {
                            for item in s.items::<u32, u32>().unwrap() {
                                let (k, _) = item.unwrap();
                                assert!(k < 40);
                                if k == key {
                                    s.set(&k, &i).unwrap(); // writing while iterating
                                }
                            }
                        }
                        _ => {
                            let versions = s.get_all_with_metadata::<_, u32>(&key).unwrap();
                            assert!(versions.windows(2).all(|w| w[0].written_at < w[1].written_at));
                        }
                    }
                    if i % 100 == 0 && t == 0 {
                        s.clear().unwrap();
                    }
                }
            });
        }
    });
    let present = (0..40u32).filter(|k| s.contains(k).unwrap()).count();
    assert_eq!(s.len().unwrap(), present);
    assert_eq!(s.keys::<u32>().unwrap().count(), present);
}

#[test]
fn a_batch_with_a_mismatched_key_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let a = s.encode_key("a").unwrap();
    let b = s.encode_key("b").unwrap();
    let v = s.encode_value("x").unwrap();
    s.engine().put(&a.digest, &a.bytes, &v, WriteOptions::REPLACE).unwrap();
    let c = s.encode_key("c").unwrap();
    let items = [
        stash_core::Put { digest: c.digest, key: &c.bytes, value: &v },
        // b's key in a's slot: the whole batch is refused.
        stash_core::Put { digest: a.digest, key: &b.bytes, value: &v },
    ];
    let err = s.engine().put_many(&items, WriteOptions::REPLACE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(!s.contains("c").unwrap());
    assert_eq!(s.len().unwrap(), 1);
}

#[test]
fn a_batch_counts_a_key_written_twice_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let mut batch = s.batch();
    batch.set("k", &1).unwrap().set("k", &2).unwrap().set("j", &3).unwrap();
    batch.commit().unwrap();
    assert_eq!(s.len().unwrap(), 2);
    assert_eq!(s.get::<_, i32>("k").unwrap(), Some(2));
}

#[test]
fn expiry_marks_the_format_and_its_count_is_saved_and_recounted() {
    use stash_core::clock::now_micros;
    let dir = tempfile::tempdir().unwrap();
    let hour = 3_600_000_000;
    let (data, gone, later) = {
        let s = open(dir.path());
        s.update((0..10).map(|i| (i, i))).unwrap();
        (s.path().to_path_buf(), s.encode_key(&100).unwrap(), s.encode_key(&101).unwrap())
    };
    // No expiry written yet: the first format, readable by earlier builds.
    with_plain_sled(&data, |db| {
        let meta = db.open_tree("hashstash.meta").unwrap();
        assert_eq!(meta.get("format").unwrap().unwrap(), &b"hashstash-sled/1"[..]);
    });
    {
        let s = open(dir.path());
        let e = s.engine();
        let v = s.encode_value(&0).unwrap();
        e.put(&gone.digest, &gone.bytes, &v, WriteOptions::REPLACE.expiring_at(Some(now_micros() - hour)))
            .unwrap();
        e.put(&later.digest, &later.bytes, &v, WriteOptions::APPEND.expiring_at(Some(now_micros() + hour)))
            .unwrap();
        assert_eq!(s.len().unwrap(), 11);
        let meta: Vec<_> = e.scan_meta().unwrap().map(|m| m.unwrap()).collect();
        assert_eq!(meta.len(), 12);
        assert!(e.disk_usage().unwrap().unwrap() > 0);
    }
    // Saved at close: both counts; and the marker of the second format.
    with_plain_sled(&data, |db| {
        let meta = db.open_tree("hashstash.meta").unwrap();
        assert_eq!(meta.get("format").unwrap().unwrap(), &b"hashstash-sled/2"[..]);
        assert_eq!(meta.get("count").unwrap().unwrap(), &12u64.to_le_bytes()[..]);
        assert_eq!(meta.get("expiring").unwrap().unwrap(), &2u64.to_le_bytes()[..]);
        // While entries have an expiry, `len` counts live records, not the saved count.
        meta.insert("count", &1234u64.to_le_bytes()).unwrap();
    });
    assert_eq!(open(dir.path()).len().unwrap(), 11);
    // A crash (no saved counts): both are recounted.
    with_plain_sled(&data, |db| {
        let meta = db.open_tree("hashstash.meta").unwrap();
        meta.remove("count").unwrap();
        meta.remove("expiring").unwrap();
    });
    {
        let s = open(dir.path());
        assert_eq!(s.len().unwrap(), 11);
        assert!(!s.engine().delete(&gone.digest, &gone.bytes).unwrap());
        assert!(s.engine().delete(&later.digest, &later.bytes).unwrap());
        assert_eq!(s.len().unwrap(), 10);
    }
    // No expiring entry left: `len` trusts the count again, without scanning.
    with_plain_sled(&data, |db| {
        let meta = db.open_tree("hashstash.meta").unwrap();
        assert_eq!(meta.get("expiring").unwrap().unwrap(), &0u64.to_le_bytes()[..]);
        meta.insert("count", &1234u64.to_le_bytes()).unwrap();
    });
    assert_eq!(open(dir.path()).len().unwrap(), 1234);
}

#[test]
fn a_database_of_an_unknown_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = {
        let s = open(dir.path());
        s.set("k", "v").unwrap();
        s.path().to_path_buf()
    };
    {
        let db = sled::open(&data).unwrap();
        db.open_tree("hashstash.meta").unwrap().insert("format", "hashstash-sled/3").unwrap();
        db.flush().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        match SledEngine::open(&data) {
            Err(e) if e.kind() == ErrorKind::Locked && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => break e,
            Ok(_) => panic!("an unknown format opened"),
        }
    };
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("unknown record format"), "{err}");
}

/// A version stamped by a clock ahead of this one's (a session before the
/// clock stepped back): the write that replaces or follows it is stamped after
/// it, so a delete that decided from it keeps the write.
#[test]
fn writes_are_stamped_after_a_version_from_a_clock_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let (data, k) = {
        let s = open(dir.path());
        s.set("k", "old").unwrap();
        (s.path().to_path_buf(), s.encode_key("k").unwrap())
    };
    let ahead = stash_core::clock::now_micros() + 10_000_000;
    with_plain_sled(&data, |db| {
        // Tag 1: the newest version's stamp follows the tag, key length and key.
        let mut record = db.get(k.digest.as_bytes()).unwrap().unwrap().to_vec();
        let at = 1 + 4 + k.bytes.len();
        record[at..at + 8].copy_from_slice(&ahead.to_le_bytes());
        db.insert(k.digest.as_bytes(), record).unwrap();
    });
    let s = open(dir.path());
    let seen = s.engine().scan_meta().unwrap().next().unwrap().unwrap().written_at_micros;
    assert_eq!(seen, ahead);

    s.set("k", "new").unwrap();
    assert!(
        !s.engine().delete_unless_rewritten(&k.digest, &k.bytes, seen).unwrap(),
        "a later write was removed"
    );
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("new"));
    s.set_with("k", "more", WriteOptions::APPEND).unwrap();
    let versions = s.engine().versions(&k.digest, &k.bytes).unwrap().unwrap();
    assert!(
        ahead < versions[0].written_at_micros
            && versions[0].written_at_micros < versions[1].written_at_micros
    );
}
