//! `run_async` and `map_async`: results in the sync `run`'s function stashes,
//! single flight across tasks (1,000 tasks on one key compute once), a
//! cancelled computation taken over by a waiting task, the concurrency limit
//! of `map_async`, and the `Result` rule.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use stash_async::AsyncStashExt;
use stash_core::ErrorKind;
use stash_func::{RunOptions, StashRun};

static DOUBLED: AtomicUsize = AtomicUsize::new(0);

async fn double(x: u64) -> u64 {
    DOUBLED.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5)).await;
    x * 2
}

fn double_sync(x: u64) -> u64 {
    x * 2
}

#[tokio::test]
async fn run_async_stores_in_the_sync_run_function_stash() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::open("pairtree", dir.path()).unwrap();
    let s = stash.asynchronous();
    let before = DOUBLED.load(Ordering::SeqCst);
    assert_eq!(s.run_async(double, (21,)).await.unwrap(), 42);
    assert_eq!(s.run_async(double, (21,)).await.unwrap(), 42);
    assert_eq!(DOUBLED.load(Ordering::SeqCst) - before, 1, "the second call reads the stored result");
    // The function stash the sync API names for that function holds it.
    let fs = stash.function_stash_named::<(u64,), u64>(&format!("{}::double", module_path!())).unwrap();
    assert_eq!(fs.get_func(&(21,)).unwrap(), Some(42));
    // A named async run and a named sync run share results.
    assert_eq!(s.run_async_named("shared", |x: u64| async move { x + 1 }, (1,)).await.unwrap(), 2);
    let sync = stash.clone();
    let from_sync =
        tokio::task::spawn_blocking(move || sync.run_named("shared", double_sync, (1u64,)).unwrap());
    assert_eq!(from_sync.await.unwrap(), 2, "the sync run found the async result (x + 1, not x * 2)");
    // `force` recomputes.
    let forced =
        s.run_async_named_with("shared", |x: u64| async move { x + 10 }, (1,), RunOptions::new().force(true));
    assert_eq!(forced.await.unwrap(), 11);
    // A closure has no stable name.
    let err = s.run_async(|x: u64| async move { x }, (1,)).await.unwrap_err();
    assert_eq!(stash_core::Error::from(err).kind(), ErrorKind::Config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_tasks_on_one_key_compute_once() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ["memory", "pairtree", "lmdb", "redis", "mongo"] {
        let Some(stash) = common::open(engine, dir.path()) else { continue };
        let s = stash.asynchronous();
        let computed = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (s, computed) = (s.clone(), computed.clone());
                tokio::spawn(async move {
                    let slow = |x: u64| {
                        let computed = computed.clone();
                        async move {
                            computed.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            x * 3
                        }
                    };
                    s.run_async_named("slow", slow, (7,)).await.unwrap()
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), 21);
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1, "{engine}: computed once for 1,000 tasks");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_computation_is_taken_over_by_a_waiting_task() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ["memory", "pairtree"] {
        let s = common::open(engine, dir.path()).unwrap().asynchronous();
        let started = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let call = |s: stash_async::AsyncStash, started: Arc<AtomicUsize>, finished: Arc<AtomicUsize>| async move {
            let work = move |x: u64| {
                let (started, finished) = (started.clone(), finished.clone());
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                    x + 100
                }
            };
            s.run_async_named("cancellable", work, (1,)).await.unwrap()
        };
        let first = tokio::spawn(call(s.clone(), started.clone(), finished.clone()));
        // Let the first task start computing, then queue the others behind it.
        while started.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let waiters: Vec<_> =
            (0..5).map(|_| tokio::spawn(call(s.clone(), started.clone(), finished.clone()))).collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1, "{engine}: the waiters wait");
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        for waiter in waiters {
            let out =
                tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("a waiter took over");
            assert_eq!(out.unwrap(), 101);
        }
        assert_eq!(started.load(Ordering::SeqCst), 2, "{engine}: one waiter computed instead");
        assert_eq!(finished.load(Ordering::SeqCst), 1, "{engine}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_async_streams_results_in_order_within_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::open("memory", dir.path()).unwrap().asynchronous();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let work = {
        let (running, most) = (running.clone(), most.clone());
        move |x: u64| {
            let (running, most) = (running.clone(), most.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                x * x
            }
        }
    };
    let results = s.map_async_named("squares", work.clone(), 0..20u64, 3);
    assert_eq!(results.size_hint(), (20, Some(20)));
    let out: Vec<u64> = results.map(|r| r.unwrap()).collect().await;
    assert_eq!(out, (0..20).map(|x| x * x).collect::<Vec<_>>());
    assert!(most.load(Ordering::SeqCst) <= 3, "at most 3 at once, saw {}", most.load(Ordering::SeqCst));
    assert!(most.load(Ordering::SeqCst) >= 2, "ran concurrently");
    // Stored: a second map computes nothing, and the sync map's stash holds them.
    let again: Vec<u64> = s.map_async_named("squares", work, 0..20u64, 3).map(|r| r.unwrap()).collect().await;
    assert_eq!(again, out);
    let fs = s.stash().function_stash_named::<(u64,), u64>("squares").unwrap();
    assert_eq!(fs.get_func(&(4,)).unwrap(), Some(16));
}

async fn checked(x: i64) -> Result<i64, String> {
    if x < 0 { Err(format!("{x} is negative")) } else { Ok(x) }
}

#[tokio::test]
async fn only_ok_values_are_stored_unless_errors_are_cached() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::open("memory", dir.path()).unwrap();
    let s = stash.asynchronous();
    assert_eq!(s.run_async(checked, (-1,)).await.unwrap(), Err("-1 is negative".to_string()));
    assert_eq!(s.run_async(checked, (2,)).await.unwrap(), Ok(2));
    let fs = stash
        .function_stash_named::<(i64,), Result<i64, String>>(&format!("{}::checked", module_path!()))
        .unwrap();
    assert_eq!(fs.len().unwrap(), 1, "the Err was not stored");
    let opts = RunOptions::new().cache_errors(true).error_ttl(Duration::from_secs(60));
    assert!(s.run_async_with(checked, (-5,), opts.clone()).await.unwrap().is_err());
    let errs = stash.error_stash_named(&format!("{}::checked", module_path!())).unwrap();
    assert_eq!(errs.len().unwrap(), 1, "the Err was cached in the error stash");
    assert!(s.run_async_with(checked, (-5,), opts).await.unwrap().is_err());
}

static SLOW_SYNC: AtomicUsize = AtomicUsize::new(0);

fn slow_sync(x: u64) -> u64 {
    SLOW_SYNC.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(400));
    x + 1
}

/// A sync `run` and an async `run_async` of one function on one key wait for
/// each other through the engine's lock (pairtree: a lock file), as two
/// processes would: one computation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_async_callers_of_one_key_compute_once() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::open("pairtree", dir.path()).unwrap();
    let s = stash.asynchronous();
    let before = SLOW_SYNC.load(Ordering::SeqCst);
    let sync = {
        let stash = stash.clone();
        tokio::task::spawn_blocking(move || stash.run_named("slow-shared", slow_sync, (5u64,)).unwrap())
    };
    while SLOW_SYNC.load(Ordering::SeqCst) == before {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let from_async = s
        .run_async_named(
            "slow-shared",
            |x: u64| async move {
                SLOW_SYNC.fetch_add(1, Ordering::SeqCst);
                x + 1
            },
            (5,),
        )
        .await
        .unwrap();
    assert_eq!(from_async, 6);
    assert_eq!(sync.await.unwrap(), 6);
    assert_eq!(SLOW_SYNC.load(Ordering::SeqCst) - before, 1, "the async caller waited for the sync one");
}
