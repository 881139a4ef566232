//! `put_if_absent` (the write of `setdefault`): stores only where no live
//! entry holds the key, and of callers racing on a missing key in several
//! threads and processes exactly one stores.
//!
//! The race re-runs this test binary as its children: each runs only
//! `child_racer` (`--exact`), which does nothing unless the parent set
//! `PAIRTREE_PIA_ROOT`.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stash_core::clock::now_micros;
use stash_core::{Stash, StashConfig, WriteOptions};
use stash_engine_pairtree::Pairtree;

const ROOT_ENV: &str = "PAIRTREE_PIA_ROOT";
const ID_ENV: &str = "PAIRTREE_PIA_ID";
const THREADS: usize = 8;
const CHILDREN: usize = 2;
/// How long a racer waits for the start signal (the other racers to be ready).
const START_WAIT: Duration = Duration::from_secs(60);

fn open(root: &Path) -> Stash {
    let mut config = StashConfig::default();
    config.root_dir = root.to_path_buf();
    config.compress = stash_core::Compression::Raw;
    Stash::open(config, Arc::new(Pairtree)).unwrap()
}

/// One `put_if_absent` of `value` under "race"; true if it stored.
fn race(s: &Stash, value: &str) -> bool {
    let k = s.encode_key("race").unwrap();
    s.engine()
        .put_if_absent(&k.digest, &k.bytes, &s.encode_value(value).unwrap(), WriteOptions::REPLACE)
        .unwrap()
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + START_WAIT;
    while !path.exists() {
        assert!(Instant::now() < deadline, "no start signal {}", path.display());
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The body of one child process; a no-op in a normal test run.
#[test]
fn child_racer() {
    let Some(root) = std::env::var_os(ROOT_ENV) else { return };
    let id = std::env::var(ID_ENV).unwrap();
    let root = Path::new(&root);
    let s = open(&root.join("stash"));
    fs::write(root.join(format!("ready.{id}")), b"").unwrap();
    wait_for(&root.join("go"));
    let value = format!("child {id}");
    println!("RESULT {} {value}", race(&s, &value));
}

#[test]
fn absent_present_and_expired() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let e = s.engine().clone();
    let k = s.encode_key("k").unwrap();
    let v = |x: &str| s.encode_value(x).unwrap();
    assert!(e.put_if_absent(&k.digest, &k.bytes, &v("a"), WriteOptions::REPLACE).unwrap(), "absent: stored");
    assert!(!e.put_if_absent(&k.digest, &k.bytes, &v("b"), WriteOptions::REPLACE).unwrap(), "present");
    assert!(!e.put_if_absent(&k.digest, &k.bytes, &v("b"), WriteOptions::APPEND).unwrap(), "present");
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("a"), "old value kept");
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["a"]);

    let expired = WriteOptions::APPEND.expiring_at(Some(now_micros() - 1_000_000));
    e.put(&k.digest, &k.bytes, &v("old"), expired).unwrap();
    assert_eq!(s.get::<_, String>("k").unwrap(), None);
    assert!(
        e.put_if_absent(&k.digest, &k.bytes, &v("new"), WriteOptions::REPLACE).unwrap(),
        "expired: replaced"
    );
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["new"]);
    // The claim leaves no lock file behind.
    let locks = s.path().parent().unwrap().join(stash_core::config::LOCKS_NAME);
    assert_eq!(fs::read_dir(&locks).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn a_damaged_key_file_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.set("k", &"old").unwrap();
    let k = s.encode_key("k").unwrap();
    let engine = stash_engine_pairtree::PairtreeEngine::open(s.path(), Default::default()).unwrap();
    fs::write(engine.slot_path(&k.digest).join(".key"), b"garbage").unwrap();
    assert!(
        s.engine()
            .put_if_absent(&k.digest, &k.bytes, &s.encode_value("new").unwrap(), WriteOptions::REPLACE)
            .unwrap()
    );
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("new"));
}

#[test]
fn eight_threads_and_two_processes_store_once() {
    if std::env::var_os(ROOT_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir.path().join("stash"));
    let children: Vec<_> = (0..CHILDREN)
        .map(|id| {
            stash_core::testkit::child_test("child_racer")
                .env(ROOT_ENV, dir.path())
                .env(ID_ENV, id.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for id in 0..CHILDREN {
        wait_for(&dir.path().join(format!("ready.{id}")));
    }
    let barrier = std::sync::Barrier::new(THREADS + 1);
    let mut outcomes: Vec<(String, bool)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|i| {
                let (s, barrier) = (&s, &barrier);
                scope.spawn(move || {
                    let value = format!("thread {i}");
                    barrier.wait();
                    let stored = race(s, &value);
                    (value, stored)
                })
            })
            .collect();
        fs::write(dir.path().join("go"), b"").unwrap();
        barrier.wait();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child {id}: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
            .expect("child ran the racer");
        let (stored, value) = line.split_once(' ').unwrap();
        outcomes.push((value.to_owned(), stored.parse().unwrap()));
    }
    assert_eq!(outcomes.len(), THREADS + CHILDREN);
    let winners: Vec<&String> = outcomes.iter().filter(|(_, stored)| *stored).map(|(v, _)| v).collect();
    assert_eq!(winners.len(), 1, "exactly one racer stores: {outcomes:?}");
    assert_eq!(s.get::<_, String>("race").unwrap().as_ref(), Some(winners[0]));
    assert_eq!(s.get_all::<_, String>("race").unwrap(), [winners[0].clone()]);
}
