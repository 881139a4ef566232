//! Group commit: durable writes of many threads at once share commits, and
//! each writer gets its own result; in the native layout and in the Python
//! library's (`python_compatible`) alike: every test runs on both.

use std::sync::Arc;

use stash_core::testkit::threads::{on_threads, thread_digest as digest};
use stash_core::{DigestAlgo, Engine, ErrorKind, Put, Stash, WriteOptions};
use stash_engine_lmdb::{Durability, LmdbEngine, LmdbOptions};

mod common;
use common::{closed_records, raw_config};

const THREADS: usize = 8;

/// The record layout a test's stash keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Native,
    Python,
}

/// A stash in `layout` under `root`, opened with `options`, and a native
/// handle on its environment (sharing its group-commit queue and counters).
fn open(root: &std::path::Path, layout: Layout, options: LmdbOptions) -> (Arc<Stash>, Arc<LmdbEngine>) {
    let config = match layout {
        Layout::Native => raw_config(root),
        Layout::Python => raw_config(root).python(),
    };
    let stash = Arc::new(Stash::open(config, Arc::new(options)).unwrap());
    let handle = LmdbEngine::open(stash.path(), options).unwrap();
    (stash, handle)
}

/// LMDB records per key: one natively, `<hex>.key` and `<hex>.value` in Python's layout.
fn records_per_key(layout: Layout) -> usize {
    match layout {
        Layout::Native => 1,
        Layout::Python => 2,
    }
}

/// A `#[test]` per layout for each test function taking a [`Layout`].
macro_rules! on_each_layout {
    ($($test:ident),* $(,)?) => {
        mod native {
            $(#[test]
            fn $test() {
                super::$test(super::Layout::Native)
            })*
        }
        mod python {
            $(#[test]
            fn $test() {
                super::$test(super::Layout::Python)
            })*
        }
    };
}

on_each_layout!(
    eight_threads_of_durable_sets_share_commits,
    a_failing_write_fails_alone,
    grouped_deletes_and_claims_keep_their_results,
);

/// Eight threads each doing durable `set`s: every value is readable once
/// its `set` returned, the writes took fewer commits than there were writes,
/// and every record is in the stash's layout.
fn eight_threads_of_durable_sets_share_commits(layout: Layout) {
    let dir = tempfile::tempdir().unwrap();
    let (stash, engine) = open(dir.path(), layout, LmdbOptions::new());
    assert_eq!(engine.durability(), Durability::Full);
    let per_thread = 40;
    let before = engine.group_stats();
    on_threads(THREADS, |t| {
        for i in 0..per_thread {
            let key = format!("{t}/{i}");
            stash.set(&key, &(t * 1000 + i)).unwrap();
            assert_eq!(stash.get::<_, usize>(&key).unwrap(), Some(t * 1000 + i), "{key} right after its set");
        }
    });
    let after = engine.group_stats();
    for t in 0..THREADS {
        for i in 0..per_thread {
            assert_eq!(stash.get::<_, usize>(&format!("{t}/{i}")).unwrap(), Some(t * 1000 + i));
        }
    }
    assert_eq!(stash.len().unwrap(), THREADS * per_thread);
    // The stash's engine reads every record in its layout (the Python layout's
    // scan refuses a record that is not `<md5 hex>.key` or `.value`), and the
    // environment holds exactly the layout's records.
    let scanned = stash.engine().scan().unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(scanned.len(), THREADS * per_thread);
    assert_eq!(engine.len().unwrap(), THREADS * per_thread * records_per_key(layout));
    let ops = after.ops - before.ops;
    let commits = after.commits - before.commits;
    assert_eq!(ops, (THREADS * per_thread) as u64);
    assert!(commits < ops, "{commits} commits for {ops} writes: no write joined another's commit");
    assert!(after.joined > before.joined);
    if layout == Layout::Python {
        let path = stash.path().to_path_buf();
        drop((stash, engine));
        every_record_is_pythons(&closed_records(&path), THREADS * per_thread);
    }
}

/// Checks that `records` are the Python library's records of `n` keys `"t/i"`
/// holding the number `t * 1000 + i` (raw compression: the bytes are the JSON text):
/// `<md5 hex of the key>.key` holding the key, `<md5 hex>.value` its envelope.
fn every_record_is_pythons(records: &[(String, Vec<u8>)], n: usize) {
    assert_eq!(records.len(), 2 * n);
    for pair in records.chunks(2) {
        let [(key_name, key), (value_name, envelope)] = pair else { unreachable!("chunks of two") };
        let hex = DigestAlgo::Md5.digest(key).to_hex();
        assert_eq!(key_name, &format!("{hex}.key"));
        assert_eq!(value_name, &format!("{hex}.value"));
        let key = std::str::from_utf8(key).unwrap();
        let (t, i) = key.trim_matches('"').split_once('/').unwrap();
        let value = t.parse::<usize>().unwrap() * 1000 + i.parse::<usize>().unwrap();
        let envelope = std::str::from_utf8(envelope).unwrap();
        let written_at = envelope
            .strip_prefix(&format!(r#"{{"__hs_v1__":true,"_fv":1,"_values":[{value}],"_written_at":["#))
            .and_then(|rest| rest.strip_suffix("]}"))
            .unwrap_or_else(|| panic!("{key}: not the envelope Python writes: {envelope}"));
        let secs: f64 = written_at.parse().unwrap();
        assert!(secs > 1.7e9, "{key}: written at {secs}");
    }
}

/// Writers that fail (a value larger than the map may grow, a slot holding
/// another key, a batch with such an item) get their own errors; the writes
/// grouped with them are stored.
fn a_failing_write_fails_alone(layout: Layout) {
    let dir = tempfile::tempdir().unwrap();
    let options = LmdbOptions::new().map_size(64 << 10).max_map_size(1 << 20);
    let (stash, handle) = open(dir.path(), layout, options);
    let engine = stash.engine();
    let before = handle.group_stats();
    engine.put(&digest(0, 0), b"owner", b"v", WriteOptions::REPLACE).unwrap();
    let per_thread = 30;
    on_threads(THREADS, |t| {
        let too_large = vec![7u8; 2 << 20];
        for i in 0..per_thread {
            let key = format!("{t}/{i}").into_bytes();
            let d = digest(t + 1, i);
            match (t, i % 3) {
                (0, 0) => {
                    let err = engine.put(&d, &key, &too_large, WriteOptions::REPLACE).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
                    assert!(err.to_string().contains("size limit"), "{err}");
                }
                (0, 1) => {
                    let err = engine.put(&digest(0, 0), &key, b"x", WriteOptions::REPLACE).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
                }
                (0, _) => {
                    let batch = [
                        Put { digest: d, key: &key, value: b"first" },
                        Put { digest: digest(0, 0), key: &key, value: b"x" },
                    ];
                    let err = engine.put_many(&batch, WriteOptions::REPLACE).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
                }
                (_, 0) => {
                    assert!(engine.put_if_absent(&d, &key, b"v", WriteOptions::REPLACE).unwrap())
                }
                _ => engine.put(&d, &key, b"v", WriteOptions::APPEND).unwrap(),
            }
        }
    });
    for t in 0..THREADS {
        for i in 0..per_thread {
            let key = format!("{t}/{i}").into_bytes();
            let stored = engine.get(&digest(t + 1, i), &key).unwrap();
            // Thread 0's batches were all or nothing: their first item is absent.
            let expected = if t == 0 { None } else { Some(b"v".to_vec()) };
            assert_eq!(stored, expected, "{t}/{i}");
        }
    }
    assert_eq!(engine.get(&digest(0, 0), b"owner").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(engine.len().unwrap(), 1 + (THREADS - 1) * per_thread);
    let grouped = handle.group_stats().joined - before.joined;
    assert!(grouped > 0, "no write joined another's commit: nothing failed beside other writes");
}

/// A thread's deletes and conditional writes keep their meaning when grouped
/// with other threads' writes.
fn grouped_deletes_and_claims_keep_their_results(layout: Layout) {
    let dir = tempfile::tempdir().unwrap();
    let (stash, _handle) = open(dir.path(), layout, LmdbOptions::new());
    let engine = stash.engine();
    let per_thread = 24;
    on_threads(THREADS, |t| {
        for i in 0..per_thread {
            let key = format!("{t}/{i}").into_bytes();
            let d = digest(t, i);
            assert!(engine.put_if_absent(&d, &key, b"a", WriteOptions::REPLACE).unwrap());
            assert!(!engine.put_if_absent(&d, &key, b"b", WriteOptions::REPLACE).unwrap());
            if i % 2 == 0 {
                assert!(engine.delete(&d, &key).unwrap());
                assert!(!engine.delete(&d, &key).unwrap());
            } else {
                let seen = engine.versions(&d, &key).unwrap().unwrap()[0].written_at_micros;
                assert!(!engine.delete_unless_rewritten(&d, &key, seen - 1).unwrap());
            }
        }
    });
    assert_eq!(engine.len().unwrap(), THREADS * per_thread / 2);
}

/// A native handle and a Python-layout stash on one environment share its
/// queue: a leader stores each queued write in the layout of the handle that
/// made it, so each handle reads back what it wrote.
#[test]
fn grouped_writes_keep_the_layout_of_their_handle() {
    let dir = tempfile::tempdir().unwrap();
    let (stash, native) = open(dir.path(), Layout::Python, LmdbOptions::new());
    let python = stash.engine();
    let per_thread = 30;
    let before = native.group_stats();
    on_threads(THREADS, |t| {
        let engine: &dyn Engine = if t % 2 == 0 { &**python } else { &*native };
        for i in 0..per_thread {
            let key = format!("\"{t}/{i}\"").into_bytes();
            engine.put(&digest(t, i), &key, b"1", WriteOptions::REPLACE).unwrap();
        }
    });
    assert!(native.group_stats().joined > before.joined, "no write joined another's commit");
    for t in 0..THREADS {
        let (mine, other): (&dyn Engine, &dyn Engine) =
            if t % 2 == 0 { (&**python, &*native) } else { (&*native, &**python) };
        for i in 0..per_thread {
            let key = format!("\"{t}/{i}\"").into_bytes();
            assert_eq!(mine.get(&digest(t, i), &key).unwrap().as_deref(), Some(&b"1"[..]), "{t}/{i}");
            // Not in the other layout: absent there (native: no record under the
            // digest; Python: no `<hex>.key` record).
            assert_eq!(other.get(&digest(t, i), &key).unwrap(), None, "{t}/{i} in the other layout");
        }
    }
}
