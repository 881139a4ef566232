//! Several processes and threads writing one SQLite stash at once.
//!
//! The multi-process scenarios are the testkit's ([`stash_core::testkit::processes`]):
//! this test binary is run again as the children. They open the same new file
//! at the same time, so creating the tables and switching to WAL race as well.

use std::path::Path;
use std::sync::Arc;

use stash_core::testkit::processes;
use stash_core::{Stash, StashConfig, WriteOptions};
use stash_engine_sqlite::Sqlite;

fn open(root: &Path) -> Stash {
    let mut config = StashConfig::default();
    config.engine = "sqlite".into();
    config.root_dir = root.to_path_buf();
    config.compress = stash_core::config::default_compress();
    Stash::open(config, Arc::new(Sqlite)).unwrap()
}

/// The body of one writing child process; a no-op in a normal test run.
#[test]
fn child_writer() {
    processes::writer_child(open);
}

#[test]
fn four_processes_lose_nothing() {
    let Some((_dir, s)) = processes::writers_lose_nothing("child_writer", open) else { return };
    // The trigger-kept count agrees with the table, and the file is sound.
    let db = rusqlite::Connection::open(s.path()).unwrap();
    let rows: i64 = db.query_row("SELECT count(*) FROM entries", [], |r| r.get(0)).unwrap();
    assert_eq!(rows as usize, s.len().unwrap());
    let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn eight_threads_hammer_ten_keys() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    stash_core::testkit::hammer(&s, 400, 16);
    // Deleted and replaced keys left no orphaned versions behind.
    let db = rusqlite::Connection::open(s.path()).unwrap();
    let orphans: i64 = db
        .query_row(
            "SELECT count(*) FROM versions v WHERE NOT EXISTS
             (SELECT 1 FROM entries e WHERE e.digest = v.digest AND e.history >= v.version)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
}

/// A version stamped by a clock ahead of this process's (another process's,
/// or this one's before it stepped back): the write that replaces or follows
/// it is stamped after it, so a delete that decided from it keeps the write.
#[test]
fn writes_are_stamped_after_a_version_from_a_clock_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.set("k", "old").unwrap();
    let k = s.encode_key("k").unwrap();
    let ahead = stash_core::clock::now_micros() + 10_000_000;
    let conn = rusqlite::Connection::open(s.path()).unwrap();
    conn.execute(
        "UPDATE entries SET written_at = ?2 WHERE digest = ?1",
        rusqlite::params![&k.digest.0[..], ahead],
    )
    .unwrap();
    let seen = s.engine().scan_meta().unwrap().next().unwrap().unwrap().written_at_micros;
    assert_eq!(seen, ahead);

    s.set("k", "new").unwrap();
    assert!(
        !s.engine().delete_unless_rewritten(&k.digest, &k.bytes, seen).unwrap(),
        "a later write was removed"
    );
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("new"));
    s.set_with("k", "more", WriteOptions::APPEND).unwrap();
    let versions = s.engine().versions(&k.digest, &k.bytes).unwrap().unwrap();
    assert!(
        ahead < versions[0].written_at_micros
            && versions[0].written_at_micros < versions[1].written_at_micros
    );
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
