//! An unchanged build keeps its results: two processes of the same binary
//! (children of this test, re-run with `--exact child_caller`, a no-op unless
//! the parent set `STASH_FUNC_REBUILD_ROOT`) call a `#[stashed_result]`
//! function with a `&str` argument, `ignore`, a `ttl` and `deps` on a file
//! engine, one after the other: the second finds every result the first
//! stored (same name, same code version), and computes nothing.

mod common;

use std::io::Write;
use std::process::Command;

use stash_func::{stash_fingerprint, stashed_result};

/// What the facade offers the macro.
mod hs {
    pub use stash_func as func;
}

const ROOT_ENV: &str = "STASH_FUNC_REBUILD_ROOT";
const WORDS: [&str; 3] = ["cat", "aardvark", "zebra"];

fn root() -> std::path::PathBuf {
    std::env::var_os(ROOT_ENV).map(Into::into).unwrap_or_else(|| std::env::temp_dir().join("rebuild-unset"))
}

fn stash() -> stash_core::Result<stash_core::Stash> {
    Ok(common::pairtree(&root().join("stash")))
}

#[stash_fingerprint]
fn weight(text: &str) -> usize {
    text.len() * 3
}

/// Records each computation as a line in `<root>/log`.
#[stashed_result(stash = stash(), crate = "crate::hs", ttl = "1h", ignore = [note], deps = [weight])]
fn weigh(text: &str, note: &str) -> usize {
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(root().join("log")).unwrap();
    log.write_all(format!("{text} {} {note}\n", std::process::id()).as_bytes()).unwrap();
    weight(text)
}

#[test]
fn child_caller() {
    if std::env::var_os(ROOT_ENV).is_none() {
        return;
    }
    for word in WORDS {
        assert_eq!(weigh(word, "from a child"), word.len() * 3);
    }
    // the version folder this process used, for the parent to compare
    let fs = weigh_stash().unwrap();
    let mut out =
        std::fs::OpenOptions::new().create(true).append(true).open(root().join("versions")).unwrap();
    out.write_all(format!("{}\n", fs.version().unwrap()).as_bytes()).unwrap();
}

#[test]
fn a_second_process_of_the_same_build_finds_every_result() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    for _ in 0..2 {
        let status = Command::new(&exe)
            .args(["--exact", "child_caller", "--test-threads", "1", "--nocapture"])
            .env(ROOT_ENV, dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    let mut computed: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
    computed.sort();
    let mut expected = WORDS.to_vec();
    expected.sort();
    assert_eq!(computed, expected, "each word computed once, by the first process:\n{log}");
    let versions = std::fs::read_to_string(dir.path().join("versions")).unwrap();
    let versions: Vec<&str> = versions.lines().collect();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0], versions[1]);
    assert!(versions[0].starts_with("code-"), "{versions:?}");
}
