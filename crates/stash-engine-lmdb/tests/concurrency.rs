//! Several processes and threads writing one LMDB stash at once.
//!
//! The multi-process test re-runs this test binary as its children: each runs
//! only `child_writer` (`--exact`), which does nothing unless the parent set
//! `LMDB_CHILD_ROOT`. That works the same under `cargo test` and `cargo nextest`.
//! The children start with a tiny map, so they also race to grow it and must
//! adopt the sizes the others set (`MDB_MAP_RESIZED`).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use stash_core::{Stash, StashConfig, WriteOptions};
use stash_engine_lmdb::{Lmdb, LmdbEngine, LmdbOptions};

const ROOT_ENV: &str = "LMDB_CHILD_ROOT";
const ID_ENV: &str = "LMDB_CHILD_ID";
const CHILDREN: u32 = 4;
const DISTINCT: u32 = 200;
const SHARED: u32 = 20;
/// Rounds of shared writes and append versions per child.
const ROUNDS: u32 = 20;
/// Padding that makes the data outgrow the children's first map several times.
const PAD: usize = 1500;

/// Raw compression: the padding must reach the map, whatever features the
/// workspace build turns on (lz4 would shrink it to nothing).
fn config(root: &Path) -> StashConfig {
    StashConfig {
        engine: "lmdb".into(),
        root_dir: root.to_path_buf(),
        compress: "raw".into(),
        ..StashConfig::default()
    }
}

/// The body of one child process; a no-op in a normal test run.
#[test]
fn child_writer() {
    let Some(root) = std::env::var_os(ROOT_ENV) else { return };
    let id: u32 = std::env::var(ID_ENV).unwrap().parse().unwrap();
    let tiny = LmdbOptions::new().map_size(64 << 10);
    let s = Stash::open(config(Path::new(&root)), Arc::new(tiny)).unwrap();
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
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|id| {
            Command::new(&exe)
                .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
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

    let s = Stash::open(config(dir.path()), Arc::new(Lmdb)).unwrap();
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
    let s = Stash::open(config(dir.path()), Arc::new(LmdbOptions::new().map_size(64 << 10))).unwrap();
    let engine = LmdbEngine::open(s.path(), LmdbOptions::new()).unwrap();
    let start = engine.map_size();
    stash_core::testkit::hammer(&s, 300, PAD);
    assert!(engine.map_size() > start, "the map never grew: {}", engine.map_size());
}
