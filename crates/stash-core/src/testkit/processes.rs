//! Scenarios played by several processes at once, for engines that several
//! processes share (pairtree, lmdb, sqlite): written once here, run by each
//! engine's tests with its own way of opening a stash.
//!
//! A scenario has a child side and a parent side. The engine's test file holds
//! a `#[test]` for each: the child test calls the child side, which does
//! nothing unless its parent started it; the parent starts this test binary
//! again as the children ([`child_test`](super::child_test)), then checks what
//! they did.
//!
//! ```ignore
//! #[test]
//! fn child_writer() {
//!     stash_core::testkit::processes::writer_child(open);
//! }
//!
//! #[test]
//! fn four_processes_lose_nothing() {
//!     let Some((_dir, stash)) = stash_core::testkit::processes::writers_lose_nothing("child_writer", open)
//!     else { return };
//!     // engine-specific checks of `stash`...
//! }
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::{Stash, Value, WriteOptions};

/// Set in the children: the stash root they share.
const ROOT_ENV: &str = "HASHSTASH_TESTKIT_CHILD_ROOT";
/// Set in the children: which child this is (0..CHILDREN).
const ID_ENV: &str = "HASHSTASH_TESTKIT_CHILD_ID";
/// How many children a scenario starts.
pub const CHILDREN: u32 = 4;
/// Keys each writer writes alone.
const DISTINCT: u32 = 200;
/// Keys every writer writes.
pub const SHARED: u32 = 20;
/// Rounds of shared writes and append versions per writer.
const ROUNDS: u32 = 20;
/// Padding of every value: enough that the writers outgrow a small LMDB map many times.
pub const PAD: usize = 1500;
/// Keys every claiming child tries to store.
const CLAIMS: u32 = 500;

/// A value tagged with its writer: `"<writer>:<n>:<padding>"`.
fn tag(writer: u32, n: u32) -> String {
    format!("{writer}:{n}:{}", "x".repeat(PAD))
}

/// The writer and number of a [`tag`]ged value (its padding checked).
fn untag(value: &str) -> (u32, u32) {
    let mut parts = value.splitn(3, ':');
    let w = parts.next().and_then(|p| p.parse().ok()).expect("a writer id");
    let n = parts.next().and_then(|p| p.parse().ok()).expect("a number");
    assert_eq!(parts.next().map(str::len), Some(PAD), "padding damaged");
    (w, n)
}

/// The root and id of this child process, or `None` in a normal test run.
fn child_role() -> Option<(std::path::PathBuf, u32)> {
    let root = std::env::var_os(ROOT_ENV)?;
    let id = std::env::var(ID_ENV).ok()?.parse().ok()?;
    Some((root.into(), id))
}

/// Starts the children running the test `child` on `root`.
fn spawn_children(child: &str, root: &Path) -> Vec<Child> {
    (0..CHILDREN)
        .map(|id| {
            super::child_test(child)
                .env(ROOT_ENV, root)
                .env(ID_ENV, id.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a child test process")
        })
        .collect()
}

/// Waits for every child; fails if one failed or ran no test. Returns their stdouts.
fn wait_children(children: Vec<Child>) -> Vec<String> {
    children
        .into_iter()
        .enumerate()
        .map(|(id, child)| {
            let out = child.wait_with_output().expect("wait for a child test process");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "child {id} failed: {}\n{stdout}\n{stderr}", out.status);
            // The child really ran its test (not zero tests).
            assert!(stdout.contains("1 passed"), "child {id} ran no test\n{stdout}");
            stdout
        })
        .collect()
}

/// Waits for `file` to exist, for a minute at most; spins (yielding) rather
/// than sleeps, so the children leave the gate together.
fn wait_for(file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !file.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", file.display());
        std::thread::yield_now();
    }
}

/// The child side of [`writers_lose_nothing`]: writes its own keys (half one
/// by one, half in batches), the shared keys, and append versions, reading
/// back and listing while the others write. Does nothing in a normal run.
pub fn writer_child(open: impl Fn(&Path) -> Stash) {
    let Some((root, id)) = child_role() else { return };
    let s = open(&root);
    let per_round = DISTINCT / ROUNDS;
    for round in 0..ROUNDS {
        let ids: Vec<u32> = (round * per_round..(round + 1) * per_round).collect();
        let (single, batch) = ids.split_at(ids.len() / 2);
        for &i in single {
            s.set(&format!("distinct-{id}-{i}"), &tag(id, i)).unwrap();
        }
        let written = s.update(batch.iter().map(|&i| (format!("distinct-{id}-{i}"), tag(id, i)))).unwrap();
        assert_eq!(written, batch.len());
        for k in 0..SHARED {
            s.set(&format!("shared-{k}"), &tag(id, round)).unwrap();
            // Read back what someone wrote: never an error, never absent.
            let (w, r) = untag(&s.get::<_, String>(&format!("shared-{k}")).unwrap().unwrap());
            assert!(w < CHILDREN && r < ROUNDS);
        }
        s.set_with("append", &tag(id, round), WriteOptions::APPEND).unwrap();
        assert!(s.len().unwrap() >= 2);
        // Reading everything while the others write: never an error.
        if round % 5 == 4 {
            for item in s.items::<String, String>().unwrap() {
                item.unwrap();
            }
        }
    }
}

/// Four processes write one stash at once (run by the test `child`, which
/// calls [`writer_child`]): afterwards every distinct key holds its writer's
/// value, every shared key one version by one of them, the append key all
/// 80 versions in time order (each writer's in the order it wrote them), and
/// `len` and `keys` agree. Returns the root and the stash for the engine's
/// own checks, or `None` when this process is itself a child.
pub fn writers_lose_nothing(
    child: &str,
    open: impl Fn(&Path) -> Stash,
) -> Option<(tempfile::TempDir, Stash)> {
    if child_role().is_some() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    wait_children(spawn_children(child, dir.path()));

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
        assert_eq!(s.get_all::<_, String>(&key).unwrap().len(), 1, "shared {k} keeps one version");
    }
    let all = s.get_all_with_metadata::<_, String>("append").unwrap();
    assert_eq!(all.len(), (CHILDREN * ROUNDS) as usize);
    let numbers: Vec<u64> = all.iter().map(|v| v.version).collect();
    assert_eq!(numbers, (1..=u64::from(CHILDREN * ROUNDS)).collect::<Vec<u64>>());
    assert!(all.windows(2).all(|w| w[0].written_at <= w[1].written_at), "append versions out of time order");
    let mut next: HashMap<u32, u32> = HashMap::new();
    for v in &all {
        let (id, round) = untag(&v.value);
        let expected = next.entry(id).or_insert(0);
        assert_eq!(round, *expected, "writer {id}'s versions out of order");
        *expected += 1;
    }
    assert!(next.len() == CHILDREN as usize && next.values().all(|&n| n == ROUNDS));
    let total = (CHILDREN * DISTINCT + SHARED + 1) as usize;
    assert_eq!(s.len().unwrap(), total);
    assert_eq!(s.keys::<Value>().unwrap().count(), total);
    Some((dir, s))
}

/// The child side of [`claimers_store_each_key_once`]: tries to store every
/// claim key with `put_if_absent` (the write of `setdefault`) and prints the
/// ones it stored. Does nothing in a normal run.
pub fn claimer_child(open: impl Fn(&Path) -> Stash) {
    let Some((root, id)) = child_role() else { return };
    let s = open(&root);
    // Ready, then wait for the parent's go, so all children claim at once.
    std::fs::write(root.join(format!("ready-{id}")), b"").unwrap();
    wait_for(&root.join("go"));
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

/// Four processes store the same keys with `put_if_absent` at once (run by
/// the test `child`, which calls [`claimer_child`]): each key is stored by
/// exactly one of them, and the value kept is that one's. `false` when this
/// process is itself a child (and did nothing).
pub fn claimers_store_each_key_once(child: &str, open: impl Fn(&Path) -> Stash) -> bool {
    if child_role().is_some() {
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    // Created first, so the children race on the keys rather than on creating the stash.
    drop(open(dir.path()));
    let children = spawn_children(child, dir.path());
    for id in 0..CHILDREN {
        wait_for(&dir.path().join(format!("ready-{id}")));
    }
    std::fs::write(dir.path().join("go"), b"").unwrap();
    let mut stored_by: HashMap<u32, Vec<u32>> = HashMap::new();
    for (id, stdout) in (0..CHILDREN).zip(wait_children(children)) {
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
    true
}
