//! A data file truncated by another program (issue 13, item 4): opening the
//! stash is a `Corrupt` error naming the file, never a crash.
//!
//! Reading a mapped page past the end of a file kills the process with
//! `SIGBUS`, which would take the whole test binary down. So the opening and
//! reading run in a child process: this test binary run again with only
//! `child_opens_the_truncated_stash` (`--exact`), which does nothing unless
//! the parent set `TRUNCATED_CHILD_ROOT`. The parent checks that the child
//! exited normally and reported the error.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use stash_core::{ErrorKind, Stash};
use stash_engine_lmdb::Lmdb;

mod common;
use common::raw_config;

const ROOT_ENV: &str = "TRUNCATED_CHILD_ROOT";
const REFUSED: &str = "child: refused with Corrupt, naming ";

/// The child: opens the stash and reads all of it; a no-op in a normal test run.
#[test]
fn child_opens_the_truncated_stash() {
    let Some(root) = std::env::var_os(ROOT_ENV) else { return };
    match Stash::open(raw_config(Path::new(&root)), Arc::new(Lmdb)) {
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
            let file = err.context_value("file").unwrap_or_else(|| panic!("no file named: {err}"));
            println!("{REFUSED}{file}");
        }
        Ok(stash) => {
            // Without the check, these reads touch pages past the end of the file.
            let n = stash.len().unwrap_or(0);
            let read = stash.items::<String, String>().map(|items| items.count()).unwrap_or(0);
            let got = (0..2000)
                .filter(|i| stash.get::<_, String>(&format!("k{i}")).is_ok_and(|v| v.is_some()))
                .count();
            panic!("a truncated stash opened: len {n}, {read} items, {got} values read");
        }
    }
}

#[test]
fn a_truncated_data_file_is_refused_not_mapped() {
    if std::env::var_os(ROOT_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = {
        let stash = Stash::open(raw_config(dir.path()), Arc::new(Lmdb)).unwrap();
        stash.update((0..2000).map(|i| (format!("k{i}"), format!("{i:0>400}")))).unwrap();
        for i in (0..2000).step_by(3) {
            stash.set(&format!("k{i}"), &format!("rewritten {i}")).unwrap();
        }
        stash.flush().unwrap();
        stash.path().join("data.mdb")
        // Every handle is dropped here: the environment closes (the engine
        // keeps environments only while a handle or iterator uses them).
    };
    let len = std::fs::metadata(&data).unwrap().len();
    assert!(len > 1 << 20, "{len}");
    OpenOptions::new().write(true).open(&data).unwrap().set_len(len / 2).unwrap();

    let out = stash_core::testkit::child_test("child_opens_the_truncated_stash")
        .env(ROOT_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child failed ({}):\n{stdout}\n{stderr}", out.status);
    // The harness may print the test's name on the same line.
    let named = stdout.lines().find_map(|l| l.split_once(REFUSED).map(|(_, file)| file));
    let data = std::fs::canonicalize(&data).unwrap();
    assert_eq!(named, Some(data.to_str().unwrap()), "{stdout}\n{stderr}");
    // The file is left as it was found.
    assert_eq!(std::fs::metadata(&data).unwrap().len(), len / 2);
}
