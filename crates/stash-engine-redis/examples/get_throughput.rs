//! Rough `get` throughput of a stash on Redis (600-byte values), to compare
//! with `redis-benchmark -t get -d 600 -q`:
//!
//! ```text
//! HASHSTASH_REDIS_URL=redis://127.0.0.1:6390/0 cargo run --release -p stash-engine-redis --example get_throughput
//! ```
use std::sync::Arc;
use std::time::Instant;

use stash_core::{Stash, StashConfig};
use stash_engine_redis::Redis;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::temp_dir().join("hashstash-redis-throughput");
    let mut config = StashConfig::default();
    config.engine = "redis".into();
    config.root_dir = root;
    config.compress = stash_core::Compression::Raw;
    let stash = Stash::open(config, Arc::new(Redis))?;
    let value = vec![7u8; 600];
    let keys = 10_000u32;
    stash.update((0..keys).map(|i| (i, &value)))?;
    for threads in [1u32, 4, 16, 50] {
        let per_thread = 100_000 / threads;
        let start = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..threads {
                let s = stash.clone();
                scope.spawn(move || {
                    for i in 0..per_thread {
                        let v: Option<Vec<u8>> = s.get(&((i * 7 + t) % keys)).expect("get");
                        assert_eq!(v.map(|v| v.len()), Some(600));
                    }
                });
            }
        });
        let total = per_thread * threads;
        let stash_rate = total as f64 / start.elapsed().as_secs_f64();
        // The same reads straight from the engine (no decoding, no stash bookkeeping).
        let encoded: Vec<_> = (0..keys).map(|i| stash.encode_key(&i)).collect::<Result<_, _>>()?;
        let start = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (engine, encoded) = (stash.engine(), &encoded);
                scope.spawn(move || {
                    for i in 0..per_thread {
                        let k = &encoded[((i * 7 + t) % keys) as usize];
                        assert!(engine.get(&k.digest, &k.bytes).expect("get").is_some());
                    }
                });
            }
        });
        let engine_rate = total as f64 / start.elapsed().as_secs_f64();
        println!(
            "{threads:>2} threads: {stash_rate:.0} gets/s through the stash, {engine_rate:.0} through the engine"
        );
    }
    stash.clear()?;
    Ok(())
}
