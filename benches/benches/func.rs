//! Function results: the cost of a `run` cache hit, of a `#[stashed_result]`
//! hit with one `&str` argument (plain, with `ignore`, with `key =`: the
//! options should cost nothing measurable; target <= 2 us on memory), and of
//! mapping 200 trivial calls cold (computing and storing) and warm (all stored).
//!
//! `cargo bench -p hashstash-benches --bench func`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hashstash::{HashStash, StashRun, stashed_result};

fn trivial(x: u64, y: u64) -> u64 {
    x + y
}

fn plus_one(x: u64) -> u64 {
    x + 1
}

#[stashed_result(root_dir = std::env::temp_dir().join("hashstash-bench-func"), engine = "memory")]
fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

#[stashed_result(root_dir = std::env::temp_dir().join("hashstash-bench-func"), engine = "memory", ignore = [log])]
fn words_ignoring(text: &str, log: &std::sync::Mutex<Vec<String>>) -> usize {
    if let Ok(mut log) = log.lock() {
        log.push(text.to_string());
    }
    text.split_whitespace().count()
}

#[stashed_result(root_dir = std::env::temp_dir().join("hashstash-bench-func"), engine = "memory", key = text)]
fn words_keyed(text: &str, verbose: bool) -> usize {
    if verbose {
        eprintln!("{text}");
    }
    text.split_whitespace().count()
}

fn macro_hit(c: &mut Criterion) {
    let text = "the quick brown fox jumps over the lazy dog";
    let log = std::sync::Mutex::new(Vec::new());
    assert_eq!((words(text), words_ignoring(text, &log), words_keyed(text, false)), (9, 9, 9));
    let mut g = c.benchmark_group("stashed_result");
    g.bench_function("hit/memory/&str", |b| b.iter(|| black_box(words(black_box(text)))));
    g.bench_function("hit/memory/&str+ignore", |b| {
        b.iter(|| black_box(words_ignoring(black_box(text), &log)))
    });
    g.bench_function("hit/memory/&str+key", |b| b.iter(|| black_box(words_keyed(black_box(text), false))));
    g.finish();
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

criterion_group!(benches, run_hit, macro_hit, map_200);
criterion_main!(benches);
