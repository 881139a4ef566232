//! Function results: the cost of a `run` cache hit, and of mapping 200
//! trivial calls cold (computing and storing) and warm (all stored).
//!
//! `cargo bench -p hashstash-benches --bench func`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hashstash::{HashStash, StashRun};

fn trivial(x: u64, y: u64) -> u64 {
    x + y
}

fn plus_one(x: u64) -> u64 {
    x + 1
}

fn open(root: &std::path::Path, engine: &str) -> HashStash {
    HashStash::builder().root_dir(root).engine(engine).clear(true).open().expect("open stash")
}

fn run_hit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("run");
    for engine in ["memory", "lmdb", "pairtree"] {
        let stash = open(&dir.path().join(engine), engine);
        stash.run(trivial, (1, 2)).expect("miss");
        g.bench_function(format!("hit/{engine}"), |b| {
            b.iter(|| black_box(stash.run(trivial, black_box((1, 2))).expect("hit")))
        });
    }
    g.finish();
}

fn map_200(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs: Vec<u64> = (0..200).collect();
    let mut g = c.benchmark_group("map200");
    g.sample_size(20);
    for threads in [1, 8] {
        let mut round = 0u32;
        g.bench_function(format!("cold/memory/threads={threads}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    let stash = open(&dir.path().join(format!("cold-{threads}-{round}")), "memory");
                    let start = Instant::now();
                    let m = stash.map(plus_one, inputs.clone()).expect("map").threads(threads).start();
                    black_box(m.results().expect("results"));
                    total += start.elapsed();
                }
                total
            })
        });
        let stash = open(&dir.path().join(format!("warm-{threads}")), "memory");
        let m = stash.map(plus_one, inputs.clone()).expect("map").threads(threads).start();
        black_box(m.results().expect("results"));
        g.bench_function(format!("warm/memory/threads={threads}"), |b| {
            b.iter(|| {
                let m = stash.map(plus_one, inputs.clone()).expect("map").threads(threads).start();
                black_box(m.results().expect("results"))
            })
        });
    }
    let mut round = 0u32;
    g.bench_function("cold/lmdb/threads=2", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let stash = open(&dir.path().join(format!("lmdb-cold-{round}")), "lmdb");
                let start = Instant::now();
                let m = stash.map(plus_one, inputs.clone()).expect("map").threads(2).start();
                black_box(m.results().expect("results"));
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, run_hit, map_200);
criterion_main!(benches);
