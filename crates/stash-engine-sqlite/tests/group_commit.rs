//! Group commit: writes of many threads at once share transactions, and
//! each writer gets its own result.

use std::sync::Arc;

use stash_core::testkit::threads::{on_threads, thread_digest as digest};
use stash_core::{Engine, ErrorKind, Put, WriteOptions};
use stash_engine_sqlite::{SqliteEngine, SqliteOptions};

const THREADS: usize = 8;

/// Eight threads each doing durable (`synchronous=FULL`) writes: every value
/// is readable after, the counters agree with the table, and the writes took
/// fewer transactions than there were writes.
#[test]
fn eight_threads_of_durable_writes_share_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.db");
    let engine = Arc::new(SqliteEngine::open(&file, SqliteOptions::new().durable(true)).unwrap());
    let per_thread = 40;
    on_threads(THREADS, |t| {
        for i in 0..per_thread {
            let key = format!("{t}/{i}").into_bytes();
            let options = if i % 2 == 0 { WriteOptions::REPLACE } else { WriteOptions::APPEND };
            engine.put(&digest(t, i), &key, &key, options).unwrap();
        }
    });
    for t in 0..THREADS {
        for i in 0..per_thread {
            let key = format!("{t}/{i}").into_bytes();
            assert_eq!(engine.get(&digest(t, i), &key).unwrap(), Some(key));
        }
    }
    assert_eq!(engine.len().unwrap(), THREADS * per_thread);
    let db = rusqlite::Connection::open(&file).unwrap();
    let rows: i64 = db.query_row("SELECT count(*) FROM entries", [], |r| r.get(0)).unwrap();
    assert_eq!(rows as usize, THREADS * per_thread);
    let stats = engine.group_stats();
    assert_eq!(stats.ops, (THREADS * per_thread) as u64);
    assert!(stats.commits < stats.ops, "{stats:?}: no write joined another's transaction");
}

/// Writers that fail (a slot holding another key, a batch with such an
/// item) get their own errors, rolled back to their savepoint; the writes
/// grouped with them are stored and counted.
#[test]
fn a_failing_write_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(SqliteEngine::open(&dir.path().join("data.db"), SqliteOptions::new()).unwrap());
    engine.put(&digest(0, 0), b"owner", b"v", WriteOptions::REPLACE).unwrap();
    let per_thread = 30;
    on_threads(THREADS, |t| {
        for i in 0..per_thread {
            let key = format!("{t}/{i}").into_bytes();
            let d = digest(t + 1, i);
            match (t, i % 2) {
                (0, 0) => {
                    let err = engine.put(&digest(0, 0), &key, b"x", WriteOptions::APPEND).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
                }
                (0, _) => {
                    // The first item is written, then the second fails: none stays.
                    let batch = [
                        Put { digest: d, key: &key, value: b"first" },
                        Put { digest: digest(0, 0), key: &key, value: b"x" },
                    ];
                    let err = engine.put_many(&batch, WriteOptions::REPLACE).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
                }
                (_, 0) => {
                    assert!(engine.put_if_absent(&d, &key, b"v", WriteOptions::REPLACE).unwrap());
                    assert!(!engine.put_if_absent(&d, &key, b"w", WriteOptions::REPLACE).unwrap());
                }
                _ => {
                    engine.put(&d, &key, b"gone", WriteOptions::REPLACE).unwrap();
                    assert!(engine.delete(&d, &key).unwrap());
                    assert!(!engine.delete_unless_rewritten(&d, &key, i64::MAX).unwrap());
                    engine.put(&d, &key, b"v", WriteOptions::APPEND).unwrap();
                }
            }
        }
    });
    for t in 0..THREADS {
        for i in 0..per_thread {
            let key = format!("{t}/{i}").into_bytes();
            let expected = if t == 0 { None } else { Some(b"v".to_vec()) };
            assert_eq!(engine.get(&digest(t + 1, i), &key).unwrap(), expected, "{t}/{i}");
        }
    }
    assert_eq!(engine.get(&digest(0, 0), b"owner").unwrap().as_deref(), Some(&b"v"[..]));
    // The kept count saw only the writes that stayed.
    assert_eq!(engine.len().unwrap(), 1 + (THREADS - 1) * per_thread);
    assert_eq!(engine.scan_keys().unwrap().count(), 1 + (THREADS - 1) * per_thread);
}
