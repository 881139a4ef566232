//! Several processes on one sled stash: sled locks the directory, so a second
//! process gets a `Locked` error while the first holds it, and a stash is
//! handed from one process to the next once the first has closed it.
//!
//! The tests re-run this test binary as their children: each child runs only
//! `child` (`--exact`), which does nothing unless `SLED_CHILD_ROLE` is set.
//! Every wait is bounded and every child is killed when its test ends.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use stash_core::{ErrorKind, Stash, StashConfig, WriteOptions};
use stash_engine_sled::Sled;

const ROLE_ENV: &str = "SLED_CHILD_ROLE";
const ROOT_ENV: &str = "SLED_CHILD_ROOT";
const KEYS: u32 = 300;
/// The longest any test waits for a child; a child exits on its own after it.
const BOUND: Duration = Duration::from_secs(60);

fn config(root: &Path) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "sled".into();
    config.root_dir = root.to_path_buf();
    config
}

fn open(root: &Path) -> stash_core::Result<Stash> {
    Stash::open(config(root), Arc::new(Sled))
}

fn write_all(s: &Stash) {
    for i in 0..KEYS {
        s.set(&format!("key{i}"), &(i, format!("value {i}"))).unwrap();
    }
    for v in 0..3 {
        s.set_with("history", &v, WriteOptions::APPEND).unwrap();
    }
}

fn check_all(s: &Stash) {
    for i in 0..KEYS {
        assert_eq!(s.get::<_, (u32, String)>(&format!("key{i}")).unwrap(), Some((i, format!("value {i}"))));
    }
    assert_eq!(s.get_all::<_, u32>("history").unwrap(), [0, 1, 2]);
    assert_eq!(s.len().unwrap(), KEYS as usize + 1);
    assert_eq!(s.keys::<stash_core::Value>().unwrap().count(), KEYS as usize + 1);
}

/// The body of every child process; a no-op in a normal test run.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE_ENV) else { return };
    let root = std::env::var_os(ROOT_ENV).unwrap();
    let root = Path::new(&root);
    // Whatever the parent does, this process ends.
    std::thread::spawn(|| {
        std::thread::sleep(BOUND);
        std::process::exit(3);
    });
    match role.as_str() {
        // Writes, then exits: the stash is closed (and flushed) by drop.
        "writer" => write_all(&open(root).unwrap()),
        "reader" => check_all(&open(root).unwrap()),
        // Writes, flushes, says so, and holds the stash until stdin closes.
        "holder" => {
            let s = open(root).unwrap();
            write_all(&s);
            s.flush().unwrap();
            println!("READY");
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        }
        other => panic!("unknown role {other}"),
    }
}

/// A child that is killed when dropped, whatever the test did.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(role: &str, root: &Path, stdin: Stdio) -> Guard {
    let child = stash_core::testkit::child_test("child")
        .env(ROLE_ENV, role)
        .env(ROOT_ENV, root)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Guard(child)
}

/// Waits (bounded) for the child to exit and checks it passed its one test.
fn finish(mut guard: Guard, what: &str) {
    let mut stdout = guard.0.stdout.take().unwrap();
    let mut stderr = guard.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut out, mut err) = (String::new(), String::new());
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut err);
        let _ = tx.send((out, err));
    });
    // On a timeout the guard kills the child.
    let (out, err) =
        rx.recv_timeout(BOUND).unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"));
    let status = guard.0.wait().unwrap();
    assert!(status.success(), "{what} failed: {status}\n{out}\n{err}");
    assert!(out.contains("1 passed"), "{what} ran no test:\n{out}\n{err}");
}

fn is_parent() -> bool {
    std::env::var_os(ROLE_ENV).is_none()
}

#[test]
fn a_second_process_gets_a_locked_error_naming_the_lock() {
    if !is_parent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut holder = spawn("holder", dir.path(), Stdio::piped());
    // Wait, bounded, for the holder to have the stash open and written.
    let stdout = holder.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if line.is_ok_and(|l| l.contains("READY")) {
                let _ = tx.send(());
                return;
            }
        }
    });
    rx.recv_timeout(BOUND).expect("the holder did not open the stash in time");

    // The open must fail at once, not wait: run it where a hang cannot stall the test.
    let root = dir.path().to_path_buf();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(open(&root).map(|_| ()));
    });
    let err = rx.recv_timeout(BOUND).expect("opening a locked stash hung").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    let lock = err.context_value("file").unwrap_or_default().to_string();
    assert!(
        lock.ends_with("sled.hashstash.lz4/data.db/db") || lock.ends_with("sled.hashstash.raw/data.db/db"),
        "{err}"
    );
    assert!(err.to_string().contains("another process"), "{err}");
    assert!(err.context_value("stash").is_some_and(|s| s.starts_with("SledHashStash(")), "{err}");

    // Once the holder is gone (killed, not closed), the stash opens and
    // holds what it flushed.
    drop(holder);
    let s = open(dir.path()).unwrap();
    check_all(&s);
}

#[test]
fn a_stash_is_handed_from_process_to_process() {
    if !is_parent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A writes and exits without an explicit flush: closing flushes.
    finish(spawn("writer", dir.path(), Stdio::null()), "writer");
    // B (another process) reads everything, then this process does.
    finish(spawn("reader", dir.path(), Stdio::null()), "reader");
    check_all(&open(dir.path()).unwrap());
}

#[test]
fn dropping_the_last_handle_flushes_and_unlocks_for_the_next_process() {
    if !is_parent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).unwrap();
    let clone = s.clone();
    write_all(&s);
    drop(s);
    // A clone still holds the database: a child cannot open it.
    let (tx, rx) = mpsc::channel();
    let root = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let mut child = spawn("reader", &root, Stdio::null());
        let mut out = String::new();
        let _ = child.0.stdout.take().unwrap().read_to_string(&mut out);
        let _ = child.0.stderr.take().unwrap().read_to_string(&mut out);
        let _ = tx.send((child.0.wait().map(|s| s.success()), out));
    });
    let (ok, out) = rx.recv_timeout(BOUND).expect("the child hung");
    assert!(!ok.unwrap(), "a child opened a stash this process holds");
    assert!(out.contains("in use by another process"), "{out}");
    // Dropping the last handle, with no flush, leaves it whole and free.
    drop(clone);
    finish(spawn("reader", dir.path(), Stdio::null()), "reader after drop");
}
