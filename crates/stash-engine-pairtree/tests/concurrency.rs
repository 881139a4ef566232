//! Several processes and threads writing one pairtree stash at once.
//!
//! The multi-process scenarios are the testkit's ([`stash_core::testkit::processes`]):
//! this test binary is run again as the children.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stash_core::testkit::processes;
use stash_core::{Stash, StashConfig};
use stash_engine_pairtree::{Pairtree, PairtreeEngine, PairtreeOptions};

fn open(root: &Path) -> Stash {
    let mut config = StashConfig::default();
    config.root_dir = root.to_path_buf();
    config.compress = stash_core::config::default_compress();
    Stash::open(config, Arc::new(Pairtree)).unwrap()
}

fn version_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect()
}

fn tmp_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            tmp_files(&entry.path(), out);
        } else if entry.file_name().to_string_lossy().starts_with(".tmp") {
            out.push(entry.path());
        }
    }
}

/// The body of one writing child process; a no-op in a normal test run.
#[test]
fn child_writer() {
    processes::writer_child(open);
}

#[test]
fn four_processes_lose_nothing() {
    let Some((_dir, s)) = processes::writers_lose_nothing("child_writer", open) else { return };
    // Each shared key's slot holds one version file, and no temporary file is left.
    let engine = PairtreeEngine::open(s.path(), PairtreeOptions::default()).unwrap();
    for k in 0..processes::SHARED {
        let slot = engine.slot_path(&s.encode_key(&format!("shared-{k}")).unwrap().digest);
        let names = version_names(&slot);
        assert_eq!(names.len(), 1, "shared {k} keeps one version: {names:?}");
    }
    let mut tmp = Vec::new();
    tmp_files(s.path(), &mut tmp);
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
}

/// The body of one claiming child process; a no-op in a normal test run.
#[test]
fn child_claimer() {
    processes::claimer_child(open);
}

/// Four processes store the same keys with `put_if_absent` (the write of
/// `setdefault`): each key is stored by exactly one of them.
#[test]
fn four_processes_store_each_claimed_key_once() {
    processes::claimers_store_each_key_once("child_claimer", open);
}

#[test]
fn eight_threads_hammer_ten_keys() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    stash_core::testkit::hammer(&s, 400, 16);
    let mut tmp = Vec::new();
    tmp_files(s.path(), &mut tmp);
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
}
