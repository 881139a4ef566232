//! Function results on the server engines (issue 13 item 13): `run`, `map`,
//! `#[stashed_result]` and single flight across two processes, against a
//! Redis server (`HASHSTASH_REDIS_URL`), a Redis Cluster
//! (`HASHSTASH_REDIS_CLUSTER_URL`) and a MongoDB-compatible server
//! (`HASHSTASH_MONGO_URL`); `cargo xtask services up` starts them. A test
//! skips when its variable is unset, and fails when it is unset while
//! `HASHSTASH_REQUIRE_SERVICES` is set (as in `cargo xtask test` and CI).
//!
//! These used to fail at once: the single-flight lock opened the function
//! stash's folder, which a server stash does not have.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use stash_core::testkit::service_url;
use stash_core::{EngineFactory, Stash, StashConfig};
use stash_func::{RunOptions, StashRun, stashed_result};

/// What the facade offers the macro (`HashStash::builder()` and `func`), with
/// the server engines behind `engine(..)`.
mod hs {
    pub use stash_func as func;

    pub struct HashStash;
    pub struct Builder(stash_core::StashConfig);
    impl HashStash {
        pub fn builder() -> Builder {
            Builder(stash_core::StashConfig::default())
        }
    }
    impl Builder {
        pub fn root_dir(mut self, d: impl Into<std::path::PathBuf>) -> Self {
            self.0.root_dir = d.into();
            self
        }
        pub fn engine(mut self, e: &str) -> Self {
            self.0.engine = e.into();
            self
        }
        pub fn url(mut self, u: impl Into<String>) -> Self {
            self.0.url = Some(u.into());
            self
        }
        pub fn open(self) -> stash_core::Result<stash_core::Stash> {
            let factory = super::factory(&self.0.engine);
            stash_core::Stash::open(self.0, factory)
        }
    }
}

fn factory(engine: &str) -> Arc<dyn EngineFactory> {
    match engine {
        "mongo" => Arc::new(stash_engine_mongo::Mongo),
        _ => Arc::new(stash_engine_redis::Redis),
    }
}

/// A stash on `engine` at `url` (a `redis+cluster://` URL is a cluster).
fn open(engine: &str, url: &str, root: &Path) -> Stash {
    let mut cfg = StashConfig::default();
    cfg.engine = engine.into();
    cfg.root_dir = root.into();
    cfg.url = Some(url.into());
    Stash::open(cfg, factory(engine)).unwrap()
}

// ---- single flight across processes: the children ----

const CHILD_ROOT: &str = "STASH_FUNC_SERVER_ROOT";
const CHILD_ENGINE: &str = "STASH_FUNC_SERVER_ENGINE";
const CHILD_URL: &str = "STASH_FUNC_SERVER_URL";
const KEYS: u32 = 3;
/// How long the parent lets its children run before it fails the test.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// Records each computation as a line `<key> <pid>` in `<root>/log`, slowly.
fn slow(x: u32) -> u32 {
    let root = std::env::var_os(CHILD_ROOT).unwrap();
    let mut log =
        std::fs::OpenOptions::new().create(true).append(true).open(Path::new(&root).join("log")).unwrap();
    // one write per line: lines of several processes never interleave
    log.write_all(format!("{x} {}\n", std::process::id()).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    x + 100
}

/// A child: two threads call `slow` on every key (in different orders).
#[test]
fn child_caller() {
    let Some(root) = std::env::var_os(CHILD_ROOT) else { return };
    let (engine, url) = (std::env::var(CHILD_ENGINE).unwrap(), std::env::var(CHILD_URL).unwrap());
    let stash = open(&engine, &url, &Path::new(&root).join("stash"));
    std::thread::scope(|s| {
        for t in 0..2 {
            let stash = &stash;
            s.spawn(move || {
                for k in 0..KEYS {
                    let k = (k + t) % KEYS;
                    assert_eq!(stash.run_named("slow", slow, (k,)).unwrap(), k + 100);
                }
            });
        }
    });
}

/// Two processes (two threads each) on the same stash: each key is computed
/// once, which takes a lock shared through the server (`Engine::try_lock`).
fn each_key_is_computed_by_one_process(engine: &str, url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_caller", "--test-threads", "1", "--nocapture"])
                .env(CHILD_ROOT, dir.path())
                .env(CHILD_ENGINE, engine)
                .env(CHILD_URL, url)
                .spawn()
                .unwrap()
        })
        .collect();
    let start = Instant::now();
    let mut status = vec![None; children.len()];
    while status.iter().any(Option::is_none) {
        for (c, s) in children.iter_mut().zip(&mut status) {
            if s.is_none() {
                *s = c.try_wait().unwrap();
            }
        }
        if start.elapsed() > CHILD_DEADLINE {
            for c in &mut children {
                let _ = c.kill();
                let _ = c.wait();
            }
            panic!("{engine}: the children did not finish in {CHILD_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stash = open(engine, url, &dir.path().join("stash"));
    let fs = stash.function_stash_named::<(u32,), u32>("slow").unwrap();
    let stored = fs.len();
    fs.clear().unwrap();
    assert!(status.iter().all(|s| s.is_some_and(|s| s.success())), "{engine}: {status:?}");
    assert_eq!(stored.unwrap(), KEYS as usize);
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    let mut keys: Vec<u32> = log.lines().map(|l| l.split(' ').next().unwrap().parse().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, (0..KEYS).collect::<Vec<_>>(), "{engine}: each key computed once; computations:\n{log}");
}

/// The same tests for each server: `$var` names its URL.
macro_rules! server_suite {
    ($module:ident, $engine:literal, $var:literal) => {
        mod $module {
            use super::*;

            static ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());
            static RUNS: AtomicUsize = AtomicUsize::new(0);
            static MAPS: AtomicUsize = AtomicUsize::new(0);
            static MACRO: AtomicUsize = AtomicUsize::new(0);

            fn url() -> Option<String> {
                service_url($var)
            }

            fn square(x: u64) -> u64 {
                RUNS.fetch_add(1, Ordering::SeqCst);
                x * x
            }

            fn cube(x: u64) -> u64 {
                MAPS.fetch_add(1, Ordering::SeqCst);
                x * x * x
            }

            #[stashed_result(engine = $engine, url = std::env::var($var).unwrap_or_default(), root_dir = ROOT.path().join("macro"), crate = "crate::hs")]
            fn tripled(x: u64) -> u64 {
                MACRO.fetch_add(1, Ordering::SeqCst);
                x * 3
            }

            #[test]
            fn run_computes_once_then_returns_the_stored_result() {
                let Some(url) = url() else { return };
                let stash = open($engine, &url, &ROOT.path().join("run"));
                assert_eq!(stash.run(square, (4,)).unwrap(), 16);
                assert_eq!(stash.run(square, (4,)).unwrap(), 16);
                assert_eq!(RUNS.load(Ordering::SeqCst), 1);
                let fs = stash.function_stash(&square).unwrap();
                assert_eq!(fs.get_func(&(4,)).unwrap(), Some(16));
                let force = RunOptions::new().force(true);
                assert_eq!(stash.run_with(square, (4,), force).unwrap(), 16);
                assert_eq!(RUNS.load(Ordering::SeqCst), 2);
                // threads asking for one missing key at once: computed once
                std::thread::scope(|s| {
                    for _ in 0..4 {
                        s.spawn(|| assert_eq!(stash.run(square, (5,)).unwrap(), 25));
                    }
                });
                assert_eq!(RUNS.load(Ordering::SeqCst), 3);
                fs.clear().unwrap();
            }

            #[test]
            fn map_computes_only_missing_inputs() {
                let Some(url) = url() else { return };
                let stash = open($engine, &url, &ROOT.path().join("map"));
                let first = stash.map(cube, [1, 2, 3]).unwrap().threads(2).progress(false).results().unwrap();
                assert_eq!(first.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 8, 27]);
                assert_eq!(MAPS.load(Ordering::SeqCst), 3);
                let second =
                    stash.map(cube, [2, 3, 4]).unwrap().threads(2).progress(false).results().unwrap();
                assert_eq!(second.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [8, 27, 64]);
                assert_eq!(MAPS.load(Ordering::SeqCst), 4);
                let fs = stash.function_stash(&cube).unwrap();
                assert_eq!(fs.len().unwrap(), 4);
                fs.clear().unwrap();
            }

            #[test]
            fn stashed_result_caches_on_the_server() {
                if url().is_none() {
                    return;
                }
                assert_eq!(try_tripled(7).unwrap(), 21);
                assert_eq!(tripled(7), 21);
                assert_eq!(MACRO.load(Ordering::SeqCst), 1);
                let fs = tripled_stash().unwrap();
                assert_eq!(fs.get_func(&(7,)).unwrap(), Some(21));
                assert!(fs.to_string().to_lowercase().contains($engine), "{fs}");
                fs.clear().unwrap();
            }

            fn halved(x: u64) -> u64 {
                x / 2
            }

            /// Issue 22 item 3 on a server: `clear()` from another handle empties the
            /// function stashes this process has open under the stash; a user's sub-stash stays.
            #[test]
            fn clear_empties_function_results_and_spares_user_subs() {
                let Some(url) = url() else { return };
                let root = ROOT.path().join("clear");
                let stash = open($engine, &url, &root);
                assert_eq!(stash.run(halved, (8,)).unwrap(), 4);
                let child = stash.sub("child").unwrap();
                child.set("k", "v").unwrap();
                open($engine, &url, &root).clear().unwrap();
                assert_eq!(stash.function_stash(&halved).unwrap().len().unwrap(), 0);
                assert_eq!(child.get::<_, String>("k").unwrap().as_deref(), Some("v"));
                child.clear().unwrap();
            }

            #[test]
            fn single_flight_across_two_processes() {
                let Some(url) = url() else { return };
                each_key_is_computed_by_one_process($engine, &url);
            }
        }
    };
}

server_suite!(redis, "redis", "HASHSTASH_REDIS_URL");
server_suite!(redis_cluster, "redis", "HASHSTASH_REDIS_CLUSTER_URL");
server_suite!(mongo, "mongo", "HASHSTASH_MONGO_URL");
