//! Several processes and threads writing one pairtree stash at once.
//!
//! The multi-process test re-runs this test binary as its children: each runs
//! only `child_writer` (`--exact`), which does nothing unless the parent set
//! `PAIRTREE_CHILD_ROOT`. That works the same under `cargo test` and `cargo nextest`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stash_core::{Stash, StashConfig, WriteOptions};
use stash_engine_pairtree::{Pairtree, PairtreeEngine, PairtreeOptions};

const ROOT_ENV: &str = "PAIRTREE_CHILD_ROOT";
const ID_ENV: &str = "PAIRTREE_CHILD_ID";
const CHILDREN: u32 = 4;
const DISTINCT: u32 = 200;
const SHARED: u32 = 20;
/// Rounds of shared writes and append versions per child.
const ROUNDS: u32 = 20;

fn open(root: &Path) -> Stash {
    let mut config = StashConfig::default();
    config.root_dir = root.to_path_buf();
    config.compress = stash_core::config::default_compress();
    Stash::open(config, Arc::new(Pairtree)).unwrap()
}

/// The body of one child process; a no-op in a normal test run.
#[test]
fn child_writer() {
    let Some(root) = std::env::var_os(ROOT_ENV) else { return };
    let id: u32 = std::env::var(ID_ENV).unwrap().parse().unwrap();
    let s = open(Path::new(&root));
    let per_round = DISTINCT / ROUNDS;
    for round in 0..ROUNDS {
        for i in round * per_round..(round + 1) * per_round {
            s.set(&format!("distinct-{id}-{i}"), &tag(id, i)).unwrap();
        }
        for k in 0..SHARED {
            s.set(&format!("shared-{k}"), &tag(id, round)).unwrap();
            // Read back what someone wrote: never an error, never absent.
            let (w, r) = untag(&s.get::<_, String>(&format!("shared-{k}")).unwrap().unwrap());
            assert!(w < CHILDREN && r < ROUNDS);
        }
        s.set_with("append", &tag(id, round), WriteOptions::APPEND).unwrap();
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

    let s = open(dir.path());
    let engine = PairtreeEngine::open(s.path(), PairtreeOptions::default()).unwrap();
    for id in 0..CHILDREN {
        for i in 0..DISTINCT {
            assert_eq!(s.get::<_, String>(&format!("distinct-{id}-{i}")).unwrap(), Some(tag(id, i)));
        }
    }
    for k in 0..SHARED {
        let key = format!("shared-{k}");
        let (w, r) = untag(&s.get::<_, String>(&key).unwrap().unwrap());
        assert!(w < CHILDREN && r < ROUNDS, "shared {k}: ({w}, {r})");
        let slot = engine.slot_path(&s.encode_key(&key).unwrap().digest);
        let names = version_names(&slot);
        assert_eq!(names.len(), 1, "shared {k} keeps one version: {names:?}");
    }

    let all = s.get_all_with_metadata::<_, String>("append").unwrap();
    assert_eq!(all.len(), (CHILDREN * ROUNDS) as usize);
    assert_eq!(all.iter().map(|v| v.version).collect::<Vec<_>>(), (1..=80).collect::<Vec<u64>>());
    assert!(all.windows(2).all(|w| w[0].written_at <= w[1].written_at), "append versions out of time order");
    // Each writer's own versions appear in the order it wrote them.
    let mut next: HashMap<u32, u32> = HashMap::new();
    for v in &all {
        let (id, round) = untag(&v.value);
        let expected = next.entry(id).or_insert(0);
        assert_eq!(round, *expected, "writer {id}'s versions out of order");
        *expected += 1;
    }
    assert!(next.values().all(|&n| n == ROUNDS));

    let mut tmp = Vec::new();
    tmp_files(s.path(), &mut tmp);
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
    assert_eq!(s.len().unwrap(), (CHILDREN * DISTINCT + SHARED + 1) as usize);
    assert_eq!(s.keys::<stash_core::Value>().unwrap().count(), s.len().unwrap());
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
