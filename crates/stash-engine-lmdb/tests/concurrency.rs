//! Several processes and threads writing one LMDB stash at once.
//!
//! The multi-process test re-runs this test binary as its children: each runs
//! only `child_writer` (`--exact`), which does nothing unless the parent set
//! `LMDB_CHILD_ROOT`. That works the same under `cargo test` and `cargo nextest`.
//! The children start with a tiny map, so they also race to grow it and must
//! adopt the sizes the others set (`MDB_MAP_RESIZED`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use stash_core::{Stash, WriteOptions};
use stash_engine_lmdb::{Lmdb, LmdbEngine, LmdbOptions};

mod common;
use common::raw_config;

const ROOT_ENV: &str = "LMDB_CHILD_ROOT";
const ID_ENV: &str = "LMDB_CHILD_ID";
const CHILDREN: u32 = 4;
const DISTINCT: u32 = 200;
const SHARED: u32 = 20;
/// Rounds of shared writes and append versions per child.
const ROUNDS: u32 = 20;
/// Padding that makes the data outgrow the children's first map several times.
const PAD: usize = 1500;

/// The body of one child process; a no-op in a normal test run.
#[test]
fn child_writer() {
    let Some(root) = std::env::var_os(ROOT_ENV) else { return };
    let id: u32 = std::env::var(ID_ENV).unwrap().parse().unwrap();
    let tiny = LmdbOptions::new().map_size(64 << 10);
    let s = Stash::open(raw_config(Path::new(&root)), Arc::new(tiny)).unwrap();
    let per_round = DISTINCT / ROUNDS;
    for round in 0..ROUNDS {
        // Half one by one, half in one batch.
        let ids: Vec<u32> = (round * per_round..(round + 1) * per_round).collect();
        let (single, batch) = ids.split_at(ids.len() / 2);
        for &i in single {
            s.set(&format!("distinct-{id}-{i}"), &tag(id, i)).unwrap();
        }
        s.update(batch.iter().map(|&i| (format!("distinct-{id}-{i}"), tag(id, i)))).unwrap();
        for k in 0..SHARED {
            s.set(&format!("shared-{k}"), &tag(id, round)).unwrap();
            // Read back what someone wrote: never an error, never absent.
            let (w, r) = untag(&s.get::<_, String>(&format!("shared-{k}")).unwrap().unwrap());
            assert!(w < CHILDREN && r < ROUNDS);
        }
        s.set_with("append", &tag(id, round), WriteOptions::APPEND).unwrap();
        // Reading everything while the others write: never an error.
        for item in s.items::<String, String>().unwrap() {
            item.unwrap();
        }
    }
}

/// A value tagged with its writer: `"<writer>:<n>:<padding>"`.
fn tag(writer: u32, n: u32) -> String {
    format!("{writer}:{n}:{}", "x".repeat(PAD))
}

fn untag(value: &str) -> (u32, u32) {
    let mut parts = value.splitn(3, ':');
    let w = parts.next().unwrap().parse().unwrap();
    let n = parts.next().unwrap().parse().unwrap();
    assert_eq!(parts.next().map(str::len), Some(PAD), "padding damaged");
    (w, n)
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
        assert!(
            out.status.success(),
            "child {id} failed: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The child really ran the writer (not zero tests).
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "child {id} ran no test");
    }

    let s = Stash::open(raw_config(dir.path()), Arc::new(Lmdb)).unwrap();
    for id in 0..CHILDREN {
        for i in 0..DISTINCT {
            assert_eq!(s.get::<_, String>(&format!("distinct-{id}-{i}")).unwrap(), Some(tag(id, i)));
        }
    }
    for k in 0..SHARED {
        let key = format!("shared-{k}");
        let (w, r) = untag(&s.get::<_, String>(&key).unwrap().unwrap());
        assert!(w < CHILDREN && r < ROUNDS, "shared {k}: ({w}, {r})");
        assert_eq!(s.get_all::<_, String>(&key).unwrap().len(), 1, "shared {k} keeps one version");
    }

    let all = s.get_all_with_metadata::<_, String>("append").unwrap();
    assert_eq!(all.len(), (CHILDREN * ROUNDS) as usize);
    assert_eq!(all.iter().map(|v| v.version).collect::<Vec<_>>(), (1..=80).collect::<Vec<u64>>());
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

    assert_eq!(s.len().unwrap(), (CHILDREN * DISTINCT + SHARED + 1) as usize);
    assert_eq!(s.keys::<stash_core::Value>().unwrap().count(), s.len().unwrap());
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
    stash_core::testkit::hammer(&s, 300, PAD);
    assert!(engine.map_size() > start, "the map never grew: {}", engine.map_size());
}

/// A stash of the default options on `root`.
fn open_default(root: &Path) -> Stash {
    Stash::open(raw_config(root), Arc::new(Lmdb)).unwrap()
}

/// Set in the children of the claim test: the stash root they claim keys in.
const CLAIM_ROOT_ENV: &str = "LMDB_CLAIM_ROOT";
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
    let s = open_default(Path::new(&root));
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
    drop(open_default(dir.path()));
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
    let s = open_default(dir.path());
    for k in 0..CLAIMS {
        let ids = stored_by.get(&k).cloned().unwrap_or_default();
        assert_eq!(ids.len(), 1, "claim-{k} stored by the children {ids:?}");
        assert_eq!(s.get::<_, String>(&format!("claim-{k}")).unwrap(), Some(tag(ids[0], k)), "claim-{k}");
    }
    assert_eq!(s.len().unwrap(), CLAIMS as usize);
}
