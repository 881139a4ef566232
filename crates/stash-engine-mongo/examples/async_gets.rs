//! Throughput of gets on mongo through the async stash against the sync API:
//! 64 threads each doing sync gets, 64 tokio tasks each awaiting the
//! engine's native futures (`stash.asynchronous()`), and, for comparison, 64
//! tasks handing each sync get to tokio's blocking pool (what the async
//! stash does for an engine without native async I/O).
//!
//! `HASHSTASH_MONGO_URL=... cargo run --release -p stash-engine-mongo --features async --example async_gets [gets] [keys]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use stash_async::{AsyncStash, AsyncStashExt};
use stash_core::{Stash, StashConfig};
use stash_engine_mongo::Mongo;

const CONCURRENCY: usize = 64;

/// One get of a 100-byte value.
type GetFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Option<Vec<u8>>> + Send>>;

fn rate(gets: usize, took: Duration) -> String {
    format!(
        "{:>9.0} gets/s  ({:>7.1} µs/get)",
        gets as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / gets as f64
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let gets: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(20_000);
    let keys: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(1_000);
    let per_caller = gets / CONCURRENCY;
    let gets = per_caller * CONCURRENCY;

    let mut config = StashConfig::default();
    config.engine = "mongo".into();
    config.dbname = format!("async-gets-{}", std::process::id());
    config.clear = true;
    let stash = Stash::open(config, Arc::new(Mongo))?;
    stash.update((0..keys).map(|i| (i, vec![7u8; 100])))?;
    let native = stash.engine().as_async().is_some();
    println!(
        "{gets} gets of {keys} keys (100-byte values), {CONCURRENCY} callers; native async engine: {native}"
    );

    // Warm the pool: as many connections as callers, in each mode.
    let warm = |stash: &Stash| -> Result<(), stash_core::Error> {
        std::thread::scope(|s| {
            let calls: Vec<_> =
                (0..CONCURRENCY).map(|i| s.spawn(move || stash.get::<_, Vec<u8>>(&(i % keys)))).collect();
            calls.into_iter().try_for_each(|c| {
                c.join()
                    .map_err(|_| {
                        stash_core::Error::new(stash_core::ErrorKind::Backend, "a warm-up thread panicked")
                    })?
                    .map(drop)
            })
        })
    };
    warm(&stash)?;

    let t = Instant::now();
    std::thread::scope(|s| {
        for caller in 0..CONCURRENCY {
            let stash = &stash;
            s.spawn(move || {
                for i in 0..per_caller {
                    let value =
                        stash.get::<_, Vec<u8>>(&((caller * per_caller + i) % keys)).expect("a sync get");
                    assert!(value.is_some());
                }
            });
        }
    });
    println!("sync, {CONCURRENCY} threads:              {}", rate(gets, t.elapsed()));

    let runtime = tokio::runtime::Runtime::new()?;
    // Each of the 64 tasks gets `per_caller` keys, one after another, with `get`.
    let tasks = |get: fn(AsyncStash, usize) -> GetFuture| {
        runtime.block_on(async {
            let t = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for caller in 0..CONCURRENCY {
                let cache = stash.asynchronous();
                tasks.spawn(async move {
                    for i in 0..per_caller {
                        let value = get(cache.clone(), (caller * per_caller + i) % keys).await;
                        assert!(value.is_some());
                    }
                });
            }
            while let Some(done) = tasks.join_next().await {
                done.expect("a get task");
            }
            t.elapsed()
        })
    };
    let native = tasks(|cache, key| Box::pin(async move { cache.get(&key).await.expect("an async get") }));
    println!("async, {CONCURRENCY} tasks (native):      {}", rate(gets, native));
    let handed_off = tasks(|cache, key| {
        Box::pin(async move {
            let stash = cache.into_stash();
            tokio::task::spawn_blocking(move || stash.get(&key))
                .await
                .expect("a blocking get")
                .expect("a sync get")
        })
    });
    println!("async, {CONCURRENCY} tasks (spawn_blocking): {}", rate(gets, handed_off));
    stash.clear()?;
    Ok(())
}
