//! Single-flight across processes on a file engine: children of this test
//! binary (re-run with `--exact child_caller`, a no-op unless the parent set
//! `STASH_FUNC_CHILD_ROOT`) call the same slow function on the same inputs at
//! once; each input is computed by one process only.

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
    writeln!(log, "{x} {}", std::process::id()).unwrap();
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
    // the lock leaves no file behind in the function stash's folder
    let stash = common::pairtree(&dir.path().join("stash"));
    let fs = stash.function_stash_named::<(u32,), u32>("slow").unwrap();
    let folder = fs.path().parent().unwrap();
    let names: Vec<_> = std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [fs.path().file_name().unwrap()], "{}", folder.display());
    assert_eq!(fs.len().unwrap(), KEYS as usize);
}
