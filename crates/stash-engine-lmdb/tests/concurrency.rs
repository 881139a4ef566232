//! Several processes and threads writing one LMDB stash at once.
//!
//! The multi-process scenarios are the testkit's ([`stash_core::testkit::processes`]):
//! this test binary is run again as the children. The children start with a
//! tiny map, so they also race to grow it and must adopt the sizes the others
//! set (`MDB_MAP_RESIZED`).

use std::path::Path;
use std::sync::Arc;

use stash_core::Stash;
use stash_core::testkit::processes;
use stash_engine_lmdb::{Lmdb, LmdbEngine, LmdbOptions};

mod common;
use common::raw_config;

/// A stash of the default options on `root`.
fn open_default(root: &Path) -> Stash {
    Stash::open(raw_config(root), Arc::new(Lmdb)).unwrap()
}

/// A stash whose map starts at 64 KiB, so the writers outgrow it many times.
fn open_tiny(root: &Path) -> Stash {
    Stash::open(raw_config(root), Arc::new(LmdbOptions::new().map_size(64 << 10))).unwrap()
}

/// The body of one writing child process; a no-op in a normal test run.
#[test]
fn child_writer() {
    processes::writer_child(open_tiny);
}

#[test]
fn four_processes_lose_nothing() {
    let Some((_dir, s)) = processes::writers_lose_nothing("child_writer", open_default) else { return };
    // LMDB serializes writers: append versions are strictly in time order.
    let all = s.get_all_with_metadata::<_, String>("append").unwrap();
    assert!(all.windows(2).all(|w| w[0].written_at < w[1].written_at), "append versions out of time order");
    // The children outgrew their 64 KiB map many times over.
    let engine = LmdbEngine::open(s.path(), LmdbOptions::new()).unwrap();
    assert!(std::fs::metadata(engine.data_file()).unwrap().len() > 1 << 20);
}

#[test]
fn eight_threads_hammer_ten_keys_while_the_map_grows() {
    let dir = tempfile::tempdir().unwrap();
    let s = Stash::open(raw_config(dir.path()), Arc::new(LmdbOptions::new().map_size(64 << 10))).unwrap();
    let engine = LmdbEngine::open(s.path(), LmdbOptions::new()).unwrap();
    let start = engine.map_size();
    stash_core::testkit::hammer(&s, 300, processes::PAD);
    assert!(engine.map_size() > start, "the map never grew: {}", engine.map_size());
}

/// The body of one claiming child process; a no-op in a normal test run.
#[test]
fn child_claimer() {
    processes::claimer_child(open_default);
}

/// Four processes store the same keys with `put_if_absent` (the write of
/// `setdefault`): each key is stored by exactly one of them.
#[test]
fn four_processes_store_each_claimed_key_once() {
    processes::claimers_store_each_key_once("child_claimer", open_default);
}
