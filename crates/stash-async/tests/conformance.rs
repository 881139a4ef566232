//! The dictionary through the async API on every engine: the checks that
//! matter (set, get, contains, remove, pop, setdefault, update, iteration,
//! append, time to live, batches, sub and tmp stashes, stats and prune), and
//! one stash read and written through both APIs at once.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt;
use stash_async::{AsyncStash, AsyncStashExt};
use stash_core::{ErrorKind, Prune, SetOptions, Stash, Value};

async fn conformance(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(stash) = common::open(engine, dir.path()) else { return };
    let s = stash.asynchronous();

    // set / get / contains / len
    assert!(s.is_empty().await.unwrap());
    s.set("a", &1u32).await.unwrap();
    s.set(&("tuple", 2), "two").await.unwrap();
    assert_eq!(s.get::<_, u32>("a").await.unwrap(), Some(1));
    assert_eq!(s.get::<_, String>(&("tuple", 2)).await.unwrap().as_deref(), Some("two"));
    assert_eq!(s.get::<_, u32>("missing").await.unwrap(), None);
    assert!(s.contains("a").await.unwrap());
    assert!(!s.contains("missing").await.unwrap());
    assert_eq!(s.len().await.unwrap(), 2);
    // the same errors: a value read as the wrong type
    let err = s.get::<_, u32>(&("tuple", 2)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert_eq!(err.kind(), stash.get::<_, u32>(&("tuple", 2)).unwrap_err().kind());

    // remove / pop / setdefault
    assert!(s.remove("a").await.unwrap());
    assert!(!s.remove("a").await.unwrap());
    assert_eq!(s.pop::<_, String>(&("tuple", 2)).await.unwrap().as_deref(), Some("two"));
    assert_eq!(s.pop::<_, String>(&("tuple", 2)).await.unwrap(), None);
    assert_eq!(s.setdefault("d", 5u8).await.unwrap(), 5);
    assert_eq!(s.setdefault("d", 6u8).await.unwrap(), 5);
    assert!(s.is_empty().await.is_ok_and(|e| !e));

    // update and the streams
    s.clear().await.unwrap();
    let n = s.update((0..300u32).map(|i| (format!("k{i}"), i))).await.unwrap();
    assert_eq!(n, 300);
    let keys: BTreeSet<String> = s.keys::<String>().map(|k| k.unwrap()).collect().await;
    assert_eq!(keys, (0..300).map(|i| format!("k{i}")).collect());
    let sum: u32 = s.values::<u32>().map(|v| v.unwrap()).fold(0, |a, b| async move { a + b }).await;
    assert_eq!(sum, (0..300u32).sum::<u32>());
    let mut items = s.items::<String, u32>();
    let mut seen = 0;
    while let Some(item) = items.next().await {
        let (k, v) = item.unwrap();
        assert_eq!(k, format!("k{v}"));
        seen += 1;
    }
    assert_eq!(seen, 300);
    // a stream dropped part way stops its scan, and the stash stays usable
    let first_two: Vec<_> = s.keys::<String>().take(2).collect().await;
    assert_eq!(first_two.len(), 2);
    // a stream of the wrong type yields errors and goes on
    let wrong: Vec<_> = s.values::<String>().collect().await;
    assert_eq!(wrong.len(), 300);
    assert!(wrong.iter().all(|r| r.as_ref().is_err_and(|e| e.kind() == ErrorKind::Decode)));

    // batches
    s.clear().await.unwrap();
    let mut batch = s.batch();
    batch.set("x", &1).unwrap().set("y", &2).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.commit().await.unwrap(), 2);
    assert_eq!(s.get::<_, i32>("y").await.unwrap(), Some(2));

    // append: every version kept, oldest first
    s.set_with("log", "first", SetOptions::new().append(true)).await.unwrap();
    s.set_with("log", "second", SetOptions::new().append(true)).await.unwrap();
    assert_eq!(s.get_all::<_, String>("log").await.unwrap(), ["first", "second"]);
    let versions = s.get_all_with_metadata::<_, String>("log").await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(stash.get_all::<_, String>("log").unwrap(), ["first", "second"]);
    assert_eq!(s.get::<_, String>("log").await.unwrap().as_deref(), Some("second"));

    // a stash in append mode: plain `set`s keep versions, counted as writes
    let mut cfg = stash.config().clone();
    cfg.append_mode = true;
    cfg.dbname = format!("{}-append", cfg.dbname);
    cfg.clear = true;
    let appending = Stash::open(cfg, stash.engine_factory().clone()).unwrap().asynchronous();
    appending.set("v", &1).await.unwrap();
    appending.set("v", &2).await.unwrap();
    assert_eq!(appending.get_all::<_, i32>("v").await.unwrap(), [1, 2]);
    assert_eq!(appending.stats().await.unwrap().writes, 2);
    appending.clear().await.unwrap();

    // time to live
    s.set_with("short", 1u8, SetOptions::new().ttl(Duration::from_millis(300))).await.unwrap();
    assert_eq!(s.get::<_, u8>("short").await.unwrap(), Some(1));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(s.get::<_, u8>("short").await.unwrap(), None);
    assert!(!s.contains("short").await.unwrap());
    s.prune(Prune::expired()).await.unwrap();

    // stats count this handle's reads
    let stats = s.stats().await.unwrap();
    assert!(stats.hits > 0, "{stats:?}");

    // sub and tmp stashes
    let sub = s.sub("child").await.unwrap();
    sub.set("k", "in child").await.unwrap();
    assert_eq!(s.get::<_, String>("k").await.unwrap(), None);
    assert_eq!(stash.sub("child").unwrap().get::<_, String>("k").unwrap().as_deref(), Some("in child"));
    let tmp = s.tmp().await.unwrap();
    tmp.set("t", &1).await.unwrap();
    assert_eq!(tmp.len().await.unwrap(), 1);
    let tmp_path = tmp.stash().path().to_path_buf();
    drop(tmp);
    if common::EMBEDDED.contains(&engine) && engine != "memory" {
        assert!(!tmp_path.exists(), "{}", tmp_path.display());
    }
    sub.clear().await.unwrap();
    s.clear().await.unwrap();
    assert_eq!(s.len().await.unwrap(), 0);
}

/// Sync writers and async readers (and the reverse) on one stash at once:
/// each sees every entry the other wrote, decoded alike.
async fn mixed_readers(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(stash) = common::open(engine, dir.path()) else { return };
    let s = AsyncStash::from(stash.clone());
    let writer = {
        let stash = stash.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..200u32 {
                stash.set(&("sync", i), &vec![i; 3]).unwrap();
            }
        })
    };
    let async_writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..200u32 {
                s.set(&("async", i), &vec![i; 3]).await.unwrap();
            }
        })
    };
    writer.await.unwrap();
    async_writer.await.unwrap();
    for i in (0..200u32).step_by(7) {
        assert_eq!(s.get::<_, Vec<u32>>(&("sync", i)).await.unwrap(), Some(vec![i; 3]));
        let sync_reader = stash.clone();
        let read =
            tokio::task::spawn_blocking(move || sync_reader.get::<_, Vec<u32>>(&("async", i)).unwrap());
        assert_eq!(read.await.unwrap(), Some(vec![i; 3]));
    }
    let keys: Vec<Value> = s.keys::<Value>().map(|k| k.unwrap()).collect().await;
    assert_eq!(keys.len(), 400);
    let sync_keys = tokio::task::spawn_blocking({
        let stash = stash.clone();
        move || stash.keys::<Value>().unwrap().count()
    });
    assert_eq!(sync_keys.await.unwrap(), 400);
    s.clear().await.unwrap();
}

macro_rules! engines {
    ($($engine:ident),*) => {$(
        mod $engine {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn conformance() {
                super::conformance(stringify!($engine)).await;
            }

            #[tokio::test(flavor = "current_thread")]
            async fn conformance_on_a_current_thread_runtime() {
                super::conformance(stringify!($engine)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mixed_sync_and_async_readers() {
                super::mixed_readers(stringify!($engine)).await;
            }
        }
    )*};
}

engines!(memory, pairtree, lmdb, sqlite, sled, redis, redis_cluster, redis_tls, mongo);
