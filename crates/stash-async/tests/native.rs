//! Native async I/O on the server engines: an `AsyncStash` on redis (a
//! server, a cluster, TLS) awaits the engine's own async operations instead
//! of handing calls to tokio's blocking pool, and so needs no blocking thread
//! for its dictionary calls; a bounded stash, or an embedded engine, takes the
//! blocking pool.

mod common;

use std::time::Duration;

use futures_util::future::join_all;
use stash_async::AsyncStash;

const SERVERS: [&str; 4] = ["redis", "redis_cluster", "redis_tls", "mongo"];

#[test]
fn server_stashes_have_an_async_engine_and_bounded_or_embedded_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    for engine in SERVERS {
        let Some(stash) = common::open(engine, dir.path()) else { continue };
        assert!(stash.engine().as_async().is_some(), "{engine}: the native path");
        // A bound evicts through sync calls: the blocking pool, whatever the engine.
        let bounded = common::open_with(engine, dir.path(), |c| c.max_entries = Some(10)).unwrap();
        assert!(bounded.engine().as_async().is_none(), "{engine}: bounded");
        // A time to live needs no eviction: still native.
        let ttl = common::open_with(engine, dir.path(), |c| c.ttl = Some(Duration::from_secs(60))).unwrap();
        assert!(ttl.engine().as_async().is_some(), "{engine}: with a time to live");
    }
    for engine in common::EMBEDDED {
        let stash = common::open(engine, dir.path()).unwrap();
        assert!(stash.engine().as_async().is_none(), "{engine} runs on the blocking pool");
    }
}

/// 1,000 concurrent gets (and the writes before them) on a current-thread
/// runtime whose only blocking thread is held the whole time: they complete,
/// so none of them went through `spawn_blocking`. A bounded stash's gets, which
/// do, wait for the blocking thread (the control: this test can fail).
#[test]
fn dictionary_calls_need_no_blocking_thread() {
    let dir = tempfile::tempdir().unwrap();
    for engine in SERVERS {
        let Some(stash) = common::open(engine, dir.path()) else { continue };
        let bounded = common::open_with(engine, dir.path(), |c| c.max_entries = Some(100_000)).unwrap();
        with_the_blocking_pool_held(async {
            let s = AsyncStash::from(stash.clone());
            let calls = async {
                s.update((0..100u32).map(|i| (i, i * 2))).await.unwrap();
                s.set("one", &1).await.unwrap();
                let reads = join_all((0..1_000u32).map(|i| {
                    let s = s.clone();
                    async move { s.get::<_, u32>(&(i % 100)).await }
                }))
                .await;
                for (i, read) in reads.into_iter().enumerate() {
                    assert_eq!(read.unwrap(), Some((i as u32 % 100) * 2), "{engine}");
                }
                assert!(s.contains("one").await.unwrap());
                assert!(s.remove("one").await.unwrap());
                assert_eq!(s.len().await.unwrap(), 100);
            };
            tokio::time::timeout(Duration::from_secs(60), calls)
                .await
                .unwrap_or_else(|_| panic!("{engine}: the calls waited for the blocking pool"));
            // The control: the bounded stash's call waits for the held blocking thread.
            let blocked = AsyncStash::from(bounded.clone());
            let waited = tokio::time::timeout(Duration::from_millis(500), blocked.get::<_, u32>(&1)).await;
            assert!(waited.is_err(), "{engine}: a bounded stash's get ran without the blocking pool");
        });
        assert_eq!(bounded.get::<_, u32>(&1).unwrap(), None, "{engine}: its own dbname");
        stash.clear().unwrap();
        bounded.clear().unwrap();
    }
}

/// The native path keeps the stash's books as the sync API does: hits, misses
/// and writes are counted, and the stash's time to live is applied.
#[tokio::test(flavor = "current_thread")]
async fn native_calls_are_counted_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let Some(stash) = common::open_with("redis", dir.path(), |c| c.ttl = Some(Duration::from_millis(400)))
    else {
        return;
    };
    let s = AsyncStash::from(stash.clone());
    s.set("k", "v").await.unwrap();
    s.update([("a", "1"), ("b", "2")]).await.unwrap();
    assert_eq!(s.get::<_, String>("k").await.unwrap().as_deref(), Some("v"));
    assert_eq!(s.get::<_, String>("missing").await.unwrap(), None);
    let stats = s.stats().await.unwrap();
    assert_eq!((stats.hits, stats.misses, stats.writes), (1, 1, 3), "{stats:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.get::<_, String>("k").await.unwrap(), None, "the stash's time to live");
    assert_eq!(s.len().await.unwrap(), 0);
    s.clear().await.unwrap();
}

/// Memory and lmdb serve reads from memory (`Capabilities::inline_reads`):
/// their `get`, `contains` and `len` run on the task, so they complete on a
/// current-thread runtime whose only blocking thread is held; sqlite's, which
/// may wait on its file lock, go to the blocking pool and wait (the control).
#[test]
fn memory_and_lmdb_reads_run_on_the_task() {
    let dir = tempfile::tempdir().unwrap();
    for (engine, inline) in [("memory", true), ("lmdb", true), ("sqlite", false)] {
        let stash = common::open(engine, dir.path()).unwrap();
        assert_eq!(stash.engine().capabilities().inline_reads, inline, "{engine}");
        stash.update((0..100u32).map(|i| (i, i * 2))).unwrap();
        let ran = with_the_blocking_pool_held(async {
            let s = AsyncStash::from(stash.clone());
            let reads = async {
                for i in 0..100u32 {
                    assert_eq!(s.get::<_, u32>(&i).await.unwrap(), Some(i * 2), "{engine}");
                }
                assert!(s.contains(&7u32).await.unwrap());
                assert_eq!(s.len().await.unwrap(), 100);
            };
            tokio::time::timeout(Duration::from_millis(if inline { 60_000 } else { 500 }), reads).await
        });
        assert_eq!(ran.is_ok(), inline, "{engine}: reads ran on the task: {}", ran.is_ok());
    }
}

/// Runs `calls` on a current-thread runtime whose only blocking thread is
/// held busy until they finish: a call that needs `spawn_blocking` waits.
fn with_the_blocking_pool_held<T>(calls: impl std::future::Future<Output = T>) -> T {
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().max_blocking_threads(1).build().unwrap();
    rt.block_on(async {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holder = tokio::task::spawn_blocking(move || held.recv());
        let out = calls.await;
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        out
    })
}
