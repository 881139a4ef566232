//! The sync API inside a tokio program: called straight from a runtime worker
//! (multi-thread and current-thread runtimes) it must not panic ("Cannot start
//! a runtime from within a runtime", "Cannot block the current thread from
//! within a runtime") on any engine: opening, the dictionary, iteration,
//! sub-stashes and stashed function results. The servers are covered when
//! `HASHSTASH_REDIS_URL` / `HASHSTASH_MONGO_URL` are set (`cargo xtask services
//! up`), and fail the test when unset under `HASHSTASH_REQUIRE_SERVICES`.

mod common;

use stash_core::Value;
use stash_func::StashRun;

fn tripled(x: u32) -> u32 {
    x * 3
}

/// Every kind of sync call, made on the calling thread (a runtime worker here).
fn sync_calls(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(stash) = common::open(engine, dir.path()) else { return };
    stash.set("k", &vec![1, 2, 3]).unwrap();
    assert_eq!(stash.get::<_, Vec<i32>>("k").unwrap(), Some(vec![1, 2, 3]));
    assert!(stash.contains("k").unwrap());
    stash.update((0..10).map(|i| (i, i))).unwrap();
    assert_eq!(stash.len().unwrap(), 11);
    assert_eq!(stash.items::<Value, Value>().unwrap().count(), 11);
    assert_eq!(stash.setdefault("d", &1).unwrap(), 1);
    assert_eq!(stash.pop::<_, i32>("d").unwrap(), Some(1));
    let sub = stash.sub("child").unwrap();
    sub.set("x", "y").unwrap();
    assert_eq!(stash.run_named("tripled", tripled, (4,)).unwrap(), 12);
    assert_eq!(stash.run_named("tripled", tripled, (4,)).unwrap(), 12);
    stash.stats().unwrap();
    sub.clear().unwrap();
    stash.clear().unwrap();
    assert!(stash.is_empty().unwrap());
}

macro_rules! engines {
    ($($engine:ident),*) => {$(
        mod $engine {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sync_api_on_a_multi_thread_runtime_worker() {
                super::sync_calls(stringify!($engine));
            }

            #[tokio::test(flavor = "current_thread")]
            async fn sync_api_on_a_current_thread_runtime() {
                super::sync_calls(stringify!($engine));
            }

            /// The recommended way: the sync call on the blocking pool.
            #[tokio::test(flavor = "current_thread")]
            async fn sync_api_in_spawn_blocking() {
                tokio::task::spawn_blocking(|| super::sync_calls(stringify!($engine))).await.unwrap();
            }
        }
    )*};
}

engines!(memory, pairtree, lmdb, sqlite, sled, redis, mongo);
