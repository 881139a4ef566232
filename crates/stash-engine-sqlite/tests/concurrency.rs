//! Several processes and threads writing one SQLite stash at once.
//!
//! The multi-process test re-runs this test binary as its children: each runs
//! only `child_writer` (`--exact`), which does nothing unless the parent set
//! `SQLITE_CHILD_ROOT`. The children open the same new file at the same time,
//! so creating the tables and switching to WAL race as well.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use stash_core::{Stash, StashConfig, WriteOptions};
use stash_engine_sqlite::Sqlite;

const ROOT_ENV: &str = "SQLITE_CHILD_ROOT";
const ID_ENV: &str = "SQLITE_CHILD_ID";
const CHILDREN: u32 = 4;
const DISTINCT: u32 = 200;
const SHARED: u32 = 20;
/// Rounds of shared writes and append versions per child.
const ROUNDS: u32 = 20;

fn open(root: &Path) -> Stash {
    let mut config = StashConfig::default();
    config.engine = "sqlite".into();
    config.root_dir = root.to_path_buf();
    config.compress = stash_core::config::default_compress();
    Stash::open(config, Arc::new(Sqlite)).unwrap()
}

/// The body of one child process; a no-op in a normal test run.
#[test]
fn child_writer() {
    let Some(root) = std::env::var_os(ROOT_ENV) else { return };
    let id: u32 = std::env::var(ID_ENV).unwrap().parse().unwrap();
    let s = open(Path::new(&root));
    let per_round = DISTINCT / ROUNDS;
    for round in 0..ROUNDS {
        let range = round * per_round..(round + 1) * per_round;
        if round % 2 == 0 {
            // Half the distinct keys one by one, half as one batch.
            for i in range {
                s.set(&format!("distinct-{id}-{i}"), &tag(id, i)).unwrap();
            }
        } else {
            let batch: Vec<(String, String)> =
                range.map(|i| (format!("distinct-{id}-{i}"), tag(id, i))).collect();
            assert_eq!(s.update(batch).unwrap(), per_round as usize);
        }
        for k in 0..SHARED {
            s.set(&format!("shared-{k}"), &tag(id, round)).unwrap();
            // Read back what someone wrote: never an error, never absent.
            let (w, r) = untag(&s.get::<_, String>(&format!("shared-{k}")).unwrap().unwrap());
            assert!(w < CHILDREN && r < ROUNDS);
        }
        s.set_with("append", &tag(id, round), WriteOptions::APPEND).unwrap();
        assert!(s.len().unwrap() >= 2);
    }
}

/// A value tagged with its writer: `"<writer>:<n>"`.
fn tag(writer: u32, n: u32) -> String {
    format!("{writer}:{n}")
}

fn untag(value: &str) -> (u32, u32) {
    let (w, n) = value.split_once(':').unwrap();
    (w.parse().unwrap(), n.parse().unwrap())
}

#[test]
fn four_processes_lose_nothing() {
    if std::env::var_os(ROOT_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|id| {
            stash_core::testkit::child_test("child_writer")
                .env(ROOT_ENV, dir.path())
                .env(ID_ENV, id.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child {id} failed: {}\n{stdout}\n{stderr}", out.status);
        // The child really ran the writer (not zero tests).
        assert!(stdout.contains("1 passed"), "child {id} ran no test");
        assert!(!stdout.contains("locked") && !stderr.contains("locked"), "child {id} saw a lock error");
    }

    let s = open(dir.path());
    for id in 0..CHILDREN {
        for i in 0..DISTINCT {
            assert_eq!(s.get::<_, String>(&format!("distinct-{id}-{i}")).unwrap(), Some(tag(id, i)));
        }
    }
    for k in 0..SHARED {
        let key = format!("shared-{k}");
        let (w, r) = untag(&s.get::<_, String>(&key).unwrap().unwrap());
        assert!(w < CHILDREN && r < ROUNDS, "shared {k}: ({w}, {r})");
        // Replaced, never appended: one version only.
        assert_eq!(s.get_all::<_, String>(&key).unwrap().len(), 1, "shared {k}");
    }

    let all = s.get_all_with_metadata::<_, String>("append").unwrap();
    assert_eq!(all.len(), (CHILDREN * ROUNDS) as usize);
    let expected: Vec<u64> = (1..=u64::from(CHILDREN * ROUNDS)).collect();
    assert_eq!(all.iter().map(|v| v.version).collect::<Vec<_>>(), expected);
    assert!(all.windows(2).all(|w| w[0].written_at < w[1].written_at), "append versions out of time order");
    // Each writer's own versions appear in the order it wrote them.
    let mut next: HashMap<u32, u32> = HashMap::new();
    for v in &all {
        let (id, round) = untag(&v.value);
        let expected = next.entry(id).or_insert(0);
        assert_eq!(round, *expected, "writer {id}'s versions out of order");
        *expected += 1;
    }
    assert!(next.values().all(|&n| n == ROUNDS));

    let total = (CHILDREN * DISTINCT + SHARED + 1) as usize;
    assert_eq!(s.len().unwrap(), total);
    assert_eq!(s.keys::<stash_core::Value>().unwrap().count(), total);
    // The trigger-kept count agrees with the table.
    let db = rusqlite::Connection::open(s.path()).unwrap();
    let rows: i64 = db.query_row("SELECT count(*) FROM entries", [], |r| r.get(0)).unwrap();
    assert_eq!(rows as usize, total);
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

/// Set in the children of the claim test: the stash root they claim keys in.
const CLAIM_ROOT_ENV: &str = "SQLITE_CLAIM_ROOT";
/// Keys every claiming child tries to store.
const CLAIMS: u32 = 500;

/// Waits for `file` to exist, for a minute at most; spins (yielding) rather
/// than sleeps, so the children leave the gate together.
fn wait_for(file: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !file.exists() {
        assert!(std::time::Instant::now() < deadline, "{} never appeared", file.display());
        std::thread::yield_now();
    }
}

/// The body of one claiming child process; a no-op in a normal test run.
/// Tries to store every claim key with `put_if_absent` and prints the ones
/// it stored.
#[test]
fn child_claimer() {
    let Some(root) = std::env::var_os(CLAIM_ROOT_ENV) else { return };
    let id: u32 = std::env::var(ID_ENV).unwrap().parse().unwrap();
    let s = open(Path::new(&root));
    // Ready, then wait for the parent's go, so all children claim at once.
    std::fs::write(Path::new(&root).join(format!("ready-{id}")), b"").unwrap();
    wait_for(&Path::new(&root).join("go"));
    // Each child starts a quarter further on and wraps around, so every one
    // of them runs into keys the others are claiming at the same moment.
    for k in (0..CLAIMS).map(|j| (j + id * CLAIMS / CHILDREN) % CLAIMS) {
        let key = s.encode_key(&format!("claim-{k}")).unwrap();
        let value = s.encode_value(&tag(id, k)).unwrap();
        if s.engine().put_if_absent(&key.digest, &key.bytes, &value, WriteOptions::REPLACE).unwrap() {
            println!("stored claim-{k}");
        }
    }
}

/// Four processes store the same keys with `put_if_absent` (the write of
/// `setdefault`): each key is stored by exactly one of them, and the value
/// kept is that one's.
#[test]
fn four_processes_store_each_claimed_key_once() {
    if std::env::var_os(CLAIM_ROOT_ENV).is_some() || std::env::var_os(ROOT_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Created first, so the children race on the keys rather than on creating the stash.
    drop(open(dir.path()));
    let children: Vec<_> = (0..CHILDREN)
        .map(|id| {
            stash_core::testkit::child_test("child_claimer")
                .env(CLAIM_ROOT_ENV, dir.path())
                .env(ID_ENV, id.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for id in 0..CHILDREN {
        wait_for(&dir.path().join(format!("ready-{id}")));
    }
    std::fs::write(dir.path().join("go"), b"").unwrap();
    let mut stored_by: HashMap<u32, Vec<u32>> = HashMap::new();
    for (id, child) in (0..CHILDREN).zip(children) {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child {id} failed: {}\n{stdout}\n{stderr}", out.status);
        assert!(stdout.contains("1 passed"), "child {id} ran no test");
        for k in stdout.lines().filter_map(|line| line.split("stored claim-").nth(1)) {
            stored_by.entry(k.trim().parse().unwrap()).or_default().push(id);
        }
    }
    let s = open(dir.path());
    for k in 0..CLAIMS {
        let ids = stored_by.get(&k).cloned().unwrap_or_default();
        assert_eq!(ids.len(), 1, "claim-{k} stored by the children {ids:?}");
        assert_eq!(s.get::<_, String>(&format!("claim-{k}")).unwrap(), Some(tag(ids[0], k)), "claim-{k}");
    }
    assert_eq!(s.len().unwrap(), CLAIMS as usize);
}
