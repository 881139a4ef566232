//! Single-flight across processes on a file engine: children of this test
//! binary (re-run with `--exact child_caller`, a no-op unless the parent set
//! `STASH_FUNC_CHILD_ROOT`) call the same slow function on the same inputs at
//! once; each input is computed by one process only (the engine's per-key
//! lock: lock files in `<function stash folder>/.locks` for pairtree).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use stash_func::StashRun;

const ROOT_ENV: &str = "STASH_FUNC_CHILD_ROOT";
const CHILDREN: usize = 4;
const KEYS: u32 = 3;

/// Records each computation as a line in `<root>/log`, slowly.
fn slow(x: u32) -> u32 {
    let root = std::env::var_os(ROOT_ENV).unwrap();
    let mut log =
        std::fs::OpenOptions::new().create(true).append(true).open(Path::new(&root).join("log")).unwrap();
    // one write per line: lines of several processes never interleave
    log.write_all(format!("{x} {}\n", std::process::id()).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    x + 100
}

#[test]
fn child_caller() {
    let Some(root) = std::env::var_os(ROOT_ENV) else { return };
    let stash = common::pairtree(&Path::new(&root).join("stash"));
    // two threads per child, so in-process sharing of the folder lock is exercised too
    std::thread::scope(|s| {
        for t in 0..2 {
            let stash = &stash;
            s.spawn(move || {
                for k in 0..KEYS {
                    let k = (k + t) % KEYS;
                    assert_eq!(stash.run_named("slow", slow, (k,)).unwrap(), k + 100);
                }
            });
        }
    });
}

#[test]
fn each_input_is_computed_by_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_caller", "--test-threads", "1", "--nocapture"])
                .env(ROOT_ENV, dir.path())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    let mut keys: Vec<u32> = log.lines().map(|l| l.split(' ').next().unwrap().parse().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, (0..KEYS).collect::<Vec<_>>(), "computations:\n{log}");
    // the per-key locks leave no lock file behind (their folder may stay)
    let stash = common::pairtree(&dir.path().join("stash"));
    let fs = stash.function_stash_named::<(u32,), u32>("slow").unwrap();
    let folder = fs.path().parent().unwrap();
    let mut names: Vec<_> = std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    let locks = folder.join(stash_core::config::LOCKS_NAME);
    if locks.exists() {
        assert_eq!(std::fs::read_dir(&locks).unwrap().count(), 0, "{}", locks.display());
        assert_eq!(names, [".locks", "data.db"], "{}", folder.display());
    } else {
        assert_eq!(names, ["data.db"], "{}", folder.display());
    }
    assert_eq!(fs.len().unwrap(), KEYS as usize);
}

// ---- crossed calls: f(1) -> g(1) in one process, g(2) -> f(2) in another ----

const ROLE_ENV: &str = "STASH_FUNC_CHILD_ROLE";
/// How long the parent lets the crossed children run before it calls it a deadlock.
const CHILD_DEADLINE: Duration = Duration::from_secs(30);

fn cross_root() -> std::path::PathBuf {
    std::env::var_os(ROOT_ENV).unwrap().into()
}

fn cross_stash() -> stash_core::Stash {
    common::pairtree(&cross_root().join("stash"))
}

/// Marks `me` as inside its outer computation, then waits (bounded) until
/// the other child is inside its own: both hold their first lock before
/// asking for the second, which is what deadlocked with one lock per function.
fn meet(me: &str, other: &str) {
    let root = cross_root();
    std::fs::write(root.join(format!("in-{me}")), b"").unwrap();
    let start = std::time::Instant::now();
    while !root.join(format!("in-{other}")).exists() && start.elapsed() < CHILD_DEADLINE {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn log_call(what: &str) {
    let mut log =
        std::fs::OpenOptions::new().create(true).append(true).open(cross_root().join("cross-log")).unwrap();
    log.write_all(format!("{what}\n").as_bytes()).unwrap();
}

fn outer_f(x: u32) -> u32 {
    log_call(&format!("f({x})"));
    if x == 1 {
        meet("f", "g");
        return cross_stash().run(inner_g, (x,)).unwrap() + 1000;
    }
    x + 1000
}

fn inner_g(x: u32) -> u32 {
    log_call(&format!("g({x})"));
    if x == 2 {
        meet("g", "f");
        return cross_stash().run(outer_f, (x,)).unwrap() + 2000;
    }
    x + 2000
}

#[test]
fn child_crossed() {
    let Ok(role) = std::env::var(ROLE_ENV) else { return };
    let stash = cross_stash();
    match role.as_str() {
        "f" => assert_eq!(stash.run(outer_f, (1,)).unwrap(), 2001 + 1000),
        _ => assert_eq!(stash.run(inner_g, (2,)).unwrap(), 1002 + 2000),
    }
}

/// Issue 13 item 10: process A computes `f(1)`, whose body calls `g(1)`;
/// process B computes `g(2)`, whose body calls `f(2)`. With one lock per
/// function folder, each held the lock the other needed and both hung
/// forever; with per-key locks they finish. The children are killed after
/// `CHILD_DEADLINE`, so a regression fails instead of hanging.
#[test]
fn crossed_calls_in_two_processes_do_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = ["f", "g"]
        .iter()
        .map(|role| {
            Command::new(&exe)
                .args(["--exact", "child_crossed", "--test-threads", "1", "--nocapture"])
                .env(ROOT_ENV, dir.path())
                .env(ROLE_ENV, role)
                .spawn()
                .unwrap()
        })
        .collect();
    let start = std::time::Instant::now();
    let mut status = vec![None; children.len()];
    while status.iter().any(Option::is_none) {
        for (c, s) in children.iter_mut().zip(&mut status) {
            if s.is_none() {
                *s = c.try_wait().unwrap();
            }
        }
        if start.elapsed() > CHILD_DEADLINE {
            for c in &mut children {
                let _ = c.kill();
                let _ = c.wait();
            }
            let log = std::fs::read_to_string(dir.path().join("cross-log")).unwrap_or_default();
            panic!("deadlock: the children did not finish in {CHILD_DEADLINE:?}; computed so far:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(status.iter().all(|s| s.is_some_and(|s| s.success())), "{status:?}");
    let log = std::fs::read_to_string(dir.path().join("cross-log")).unwrap();
    let mut calls: Vec<&str> = log.lines().collect();
    calls.sort();
    assert_eq!(calls, ["f(1)", "f(2)", "g(1)", "g(2)"], "each call computed once");
}
