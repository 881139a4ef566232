//! Scans on several threads (see "Iteration" in the crate docs): every record
//! exactly once, `len` and `stats` counting each slot once, helpers that stop
//! when the iteration is dropped, a damaged file found by a helper failing
//! alone, and the `walk_threads` setting.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stash_core::{Compression, EngineOptions, ErrorKind, Stash};
mod common;

use stash_engine_pairtree::PairtreeOptions;

/// Keys written per stash: enough to fill nearly every one of the 256 top
/// folders, so helpers start, and more than the pages helpers may hold ahead.
const KEYS: usize = 800;

/// Tests that count the process's walk threads run one at a time.
static WALKS: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    WALKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open(root: &Path, options: PairtreeOptions) -> Stash {
    Stash::open(common::config(root, Compression::Raw), Arc::new(options)).unwrap()
}

fn filled(root: &Path, options: PairtreeOptions) -> Stash {
    let stash = open(root, options);
    let items: Vec<(String, usize)> = (0..KEYS).map(|i| (format!("key{i}"), i)).collect();
    stash.update(items).unwrap();
    stash
}

/// Threads of this process named `pairtree-walk` (the helpers).
fn walk_threads() -> usize {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "pairtree-walk")
        .count()
}

/// Waits up to 10 s for `n` helpers (a thread takes its name once it runs);
/// the count then.
fn walk_threads_after_wait(n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = walk_threads();
        if seen == n || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits up to 10 s for the helpers to be gone; the count left.
fn helpers_left_after_wait() -> usize {
    walk_threads_after_wait(0)
}

#[test]
fn every_record_comes_once_whatever_the_threads() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let expected: BTreeSet<(String, usize)> = (0..KEYS).map(|i| (format!("key{i}"), i)).collect();
    filled(dir.path(), PairtreeOptions::new());
    for threads in [1, 2, 4, 16, 0] {
        let stash = open(dir.path(), PairtreeOptions::new().walk_threads(threads));
        let items: Vec<(String, usize)> = stash.items().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(items.len(), KEYS, "{threads} threads: a record twice or missing");
        assert_eq!(items.into_iter().collect::<BTreeSet<_>>(), expected, "{threads} threads");
        let keys: BTreeSet<String> = stash.keys::<String>().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(keys.len(), KEYS, "{threads} threads");
    }
    assert_eq!(helpers_left_after_wait(), 0);
}

#[test]
fn len_and_stats_count_each_slot_once_whatever_the_threads() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path(), PairtreeOptions::new());
    // A second version of some keys: `stats` counts versions too.
    open(dir.path(), PairtreeOptions::new()).update((0..50).map(|i| (format!("key{i}"), i + 1))).unwrap();
    for threads in [1, 2, 4, 0] {
        let stash = open(dir.path(), PairtreeOptions::new().walk_threads(threads));
        assert_eq!(stash.len().unwrap(), KEYS, "{threads} threads");
        assert!(!stash.is_empty().unwrap());
        let stats = stash.stats().unwrap();
        assert_eq!(stats.entries, KEYS as u64, "{threads} threads: {stats:?}");
        assert_eq!(stats.versions, KEYS as u64, "{threads} threads: replaced, not appended: {stats:?}");
    }
    assert_eq!(helpers_left_after_wait(), 0);
    let empty = tempfile::tempdir().unwrap();
    let stash = open(empty.path(), PairtreeOptions::new().walk_threads(4));
    assert_eq!(stash.len().unwrap(), 0);
    assert!(stash.is_empty().unwrap());
}

#[test]
fn dropping_an_iteration_stops_its_helpers() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let stash = filled(dir.path(), PairtreeOptions::new().walk_threads(4));
    assert_eq!(walk_threads(), 0);
    let mut items = stash.items::<String, usize>().unwrap();
    for _ in 0..10 {
        items.next().unwrap().unwrap();
    }
    // Held up by the pages they may send ahead: still there.
    assert_eq!(walk_threads_after_wait(3), 3, "4 threads: the caller's and 3 helpers");
    drop(items);
    assert_eq!(helpers_left_after_wait(), 0, "helpers outlived the iteration");
    // A short iteration never starts one.
    let first: Vec<_> = stash.keys::<String>().unwrap().take(3).collect();
    assert_eq!(first.len(), 3);
    assert_eq!(walk_threads(), 0);
}

#[test]
fn one_thread_starts_no_helper() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let stash = filled(dir.path(), PairtreeOptions::new().walk_threads(1));
    let mut items = stash.items::<String, usize>().unwrap();
    for _ in 0..10 {
        items.next().unwrap().unwrap();
    }
    assert_eq!(walk_threads(), 0);
    assert_eq!(items.count(), KEYS - 10);
}

/// The version files of `key`'s slot.
fn version_files(stash: &Stash, key: &str) -> Vec<PathBuf> {
    fs::read_dir(common::slot_of(stash, key))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect()
}

#[test]
fn a_huge_file_fails_alone_whichever_thread_reads_it() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let stash = filled(dir.path(), PairtreeOptions::new().walk_threads(4));
    // Sparse: 64 GiB that take no disk. Refused by its size before any read.
    let huge = &version_files(&stash, "key777")[0];
    fs::OpenOptions::new().write(true).open(huge).unwrap().set_len(64 << 30).unwrap();
    let mut read = 0;
    let mut errors = Vec::new();
    for item in stash.items::<String, usize>().unwrap() {
        match item {
            Ok(_) => read += 1,
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(read, KEYS - 1, "the other records");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kind(), ErrorKind::TooLarge, "{}", errors[0]);
    assert!(errors[0].to_string().contains(&*huge.to_string_lossy()), "names the file: {}", errors[0]);
    assert_eq!(helpers_left_after_wait(), 0);
}

#[test]
fn a_damaged_key_file_fails_alone_in_a_metadata_walk() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path(), PairtreeOptions::new());
    // A folder where `.key` should be: refused by kind, after the walk entered the slot.
    let key_file = common::slot_of(&open(dir.path(), PairtreeOptions::new()), "key123").join(".key");
    fs::remove_file(&key_file).unwrap();
    fs::create_dir(&key_file).unwrap();
    for threads in [1, 4] {
        let stash = open(dir.path(), PairtreeOptions::new().walk_threads(threads));
        let (mut keys, mut errors) = (BTreeSet::new(), Vec::new());
        for meta in stash.engine().scan_meta().unwrap() {
            match meta {
                Ok(meta) => assert!(keys.insert(meta.key), "{threads} threads: a slot twice"),
                Err(e) => errors.push(e),
            }
        }
        assert_eq!(errors.len(), 1, "{threads} threads: {errors:?}");
        assert!(errors[0].to_string().contains(".key"), "names the file: {}", errors[0]);
        // The slots after the damaged one are read from their own folders.
        let expected: BTreeSet<Vec<u8>> = (0..KEYS)
            .filter(|i| *i != 123)
            .map(|i| stash.encode_key(&format!("key{i}")).unwrap().bytes)
            .collect();
        assert_eq!(keys, expected, "{threads} threads");
    }
    assert_eq!(helpers_left_after_wait(), 0);
}

#[test]
fn walk_threads_is_an_engine_option() {
    let options = PairtreeOptions::new().walk_threads(3);
    let written = stash_core::EngineFactory::options(&options);
    assert_eq!(written.get("walk_threads").map(String::as_str), Some("3"));
    let mut read = EngineOptions::new();
    read.insert("walk_threads".into(), "3".into());
    assert_eq!(PairtreeOptions::new().with_options(&read).unwrap(), options);
    read.insert("walk_threads".into(), "many".into());
    let err = PairtreeOptions::new().with_options(&read).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("walk_threads"), "{err}");
    // The default writes nothing.
    assert!(stash_core::EngineFactory::options(&PairtreeOptions::new()).is_empty());
}
