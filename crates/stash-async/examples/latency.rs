//! What the async API costs per call: the latency of `set`, `get` (a hit) and
//! `contains` through the sync `Stash` and through `AsyncStash` (reads on the
//! task on memory and lmdb, one `spawn_blocking` hand-off per call otherwise on
//! the embedded engines; on redis, the engine's native async I/O), on the memory, lmdb and sqlite engines and,
//! when `HASHSTASH_REDIS_URL` is set, redis, one caller at a time; then the
//! throughput of 64 concurrent tasks doing gets against 64 threads doing the
//! same through the sync API (at least 200 gets each).
//!
//! `cargo run --release -p stash-async --example latency [ops]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use stash_async::AsyncStashExt;
use stash_core::{EngineFactory, Stash, StashConfig};

const CONCURRENCY: usize = 64;

fn open(engine: &str, root: &std::path::Path) -> Stash {
    let mut cfg = StashConfig::default();
    cfg.engine = engine.into();
    cfg.root_dir = root.into();
    let factory: Arc<dyn EngineFactory> = match engine {
        "memory" => Arc::new(stash_engine_memory::Memory),
        "lmdb" => Arc::new(stash_engine_lmdb::Lmdb),
        "redis" => {
            // A namespace of its own on the server, emptied when opened.
            cfg.url = std::env::var("HASHSTASH_REDIS_URL").ok();
            cfg.dbname = format!("stash-async-latency-{}", std::process::id());
            cfg.clear = true;
            Arc::new(stash_engine_redis::Redis)
        }
        _ => Arc::new(stash_engine_sqlite::Sqlite),
    };
    match Stash::open(cfg, factory) {
        Ok(stash) => stash,
        Err(e) => panic!("open {engine}: {e}"),
    }
}

fn per_op(took: Duration, ops: usize) -> String {
    format!("{:>8.2} µs", took.as_secs_f64() * 1e6 / ops as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ops: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(2000);
    let runtime = tokio::runtime::Runtime::new()?;
    println!("{ops} calls each, one caller at a time (per call):");
    println!("{:<8} {:<10} {:>11} {:>11}", "engine", "op", "sync", "async");
    let mut engines = vec!["memory", "lmdb", "sqlite"];
    if std::env::var_os("HASHSTASH_REDIS_URL").is_some() {
        engines.push("redis");
    }
    for engine in engines {
        let dir = tempfile::tempdir()?;
        let stash = open(engine, dir.path());
        let cache = stash.asynchronous();
        let path = if stash.engine().as_async().is_some() {
            "native"
        } else if stash.engine().capabilities().inline_reads {
            "the task for reads, spawn_blocking for writes"
        } else {
            "spawn_blocking"
        };
        println!("{engine}: async calls through {path}");
        let value = vec![7u8; 100];

        let t = Instant::now();
        for i in 0..ops {
            stash.set(&i, &value)?;
        }
        let sync_set = t.elapsed();
        let async_set = runtime.block_on(async {
            let t = Instant::now();
            for i in 0..ops {
                cache.set(&(i + ops), &value).await?;
            }
            Ok::<_, stash_core::Error>(t.elapsed())
        })?;
        println!("{engine:<8} {:<10} {} {}", "set", per_op(sync_set, ops), per_op(async_set, ops));

        let t = Instant::now();
        for i in 0..ops {
            assert!(stash.get::<_, Vec<u8>>(&i)?.is_some());
        }
        let sync_get = t.elapsed();
        let async_get = runtime.block_on(async {
            let t = Instant::now();
            for i in 0..ops {
                assert!(cache.get::<_, Vec<u8>>(&i).await?.is_some());
            }
            Ok::<_, stash_core::Error>(t.elapsed())
        })?;
        println!("{engine:<8} {:<10} {} {}", "get (hit)", per_op(sync_get, ops), per_op(async_get, ops));

        let t = Instant::now();
        for i in 0..ops {
            assert!(stash.contains(&i)?);
        }
        let sync_contains = t.elapsed();
        let async_contains = runtime.block_on(async {
            let t = Instant::now();
            for i in 0..ops {
                assert!(cache.contains(&i).await?);
            }
            Ok::<_, stash_core::Error>(t.elapsed())
        })?;
        println!(
            "{engine:<8} {:<10} {} {}",
            "contains",
            per_op(sync_contains, ops),
            per_op(async_contains, ops)
        );

        // Throughput: CONCURRENCY callers doing gets.
        let per_caller = (ops / CONCURRENCY).max(200);
        let t = Instant::now();
        std::thread::scope(|scope| {
            for c in 0..CONCURRENCY {
                let stash = &stash;
                scope.spawn(move || {
                    for i in 0..per_caller {
                        let key = (c * per_caller + i) % ops;
                        assert!(matches!(stash.get::<_, Vec<u8>>(&key), Ok(Some(_))));
                    }
                });
            }
        });
        let sync_threads = t.elapsed();
        let async_tasks = runtime.block_on(async {
            let t = Instant::now();
            let tasks: Vec<_> = (0..CONCURRENCY)
                .map(|c| {
                    let cache = cache.clone();
                    tokio::spawn(async move {
                        for i in 0..per_caller {
                            let key = (c * per_caller + i) % ops;
                            assert!(matches!(cache.get::<_, Vec<u8>>(&key).await, Ok(Some(_))));
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await?;
            }
            Ok::<_, tokio::task::JoinError>(t.elapsed())
        })?;
        let total = (per_caller * CONCURRENCY) as f64;
        println!(
            "{engine:<8} {:<10} {:>8.0}/s sync on {CONCURRENCY} threads, {:>8.0}/s async on {CONCURRENCY} tasks",
            "get x64",
            total / sync_threads.as_secs_f64(),
            total / async_tasks.as_secs_f64()
        );
        if engine == "redis" {
            stash.clear()?;
        }
    }
    Ok(())
}
