//! Stash throughput on the Python peer's workload: 5,000 keys `key{i}` and
//! 10-field records, next to the raw floor of each engine and to `cacache`.
//!
//! `cargo bench -p hashstash-benches --bench stash`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use hashstash::HashStash;
use hashstash_benches::baseline::{MemoryJson, RawPairtree};
use hashstash_benches::{Record, workload};

const N: u64 = 5_000;

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g
}

fn open(root: &std::path::Path, engine: &str, serializer: &str, compress: &str) -> HashStash {
    HashStash::builder()
        .root_dir(root)
        .engine(engine)
        .serializer(serializer)
        .compress(compress)
        .clear(true)
        .open()
        .expect("open stash")
}

/// Times `op` over the whole workload on a fresh stash for each iteration.
fn time_sets(iters: u64, data: &[(String, Record)], fresh: impl Fn() -> HashStash) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let stash = fresh();
        let start = Instant::now();
        for (k, v) in data {
            stash.set(k, v).expect("set");
        }
        total += start.elapsed();
    }
    total
}

fn memory(c: &mut Criterion) {
    let data = workload(N);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = group(c, "memory");
    for (serializer, compress) in
        [("hashstash", "raw"), ("hashstash", "lz4"), ("postcard", "raw"), ("json", "raw")]
    {
        let name = format!("{serializer}+{compress}");
        g.bench_function(format!("set/{name}"), |b| {
            b.iter_custom(|iters| {
                time_sets(iters, &data, || open(dir.path(), "memory", serializer, compress))
            })
        });
        let stash = open(dir.path(), "memory", serializer, compress);
        for (k, v) in &data {
            stash.set(k, v).expect("set");
        }
        g.bench_function(format!("get/{name}"), |b| {
            b.iter(|| {
                for (k, _) in &data {
                    black_box(stash.get::<_, Record>(k).expect("get").expect("present"));
                }
            })
        });
        g.bench_function(format!("iterate/{name}"), |b| {
            b.iter(|| {
                for item in stash.items::<String, Record>().expect("items") {
                    black_box(item.expect("item"));
                }
            })
        });
    }
    let raw = MemoryJson::default();
    g.bench_function("set/baseline-rwlock-hashmap-json", |b| {
        b.iter(|| {
            for (k, v) in &data {
                raw.set(k, v);
            }
        })
    });
    g.bench_function("get/baseline-rwlock-hashmap-json", |b| {
        b.iter(|| {
            for (k, _) in &data {
                black_box(raw.get::<Record>(k).expect("present"));
            }
        })
    });
    g.finish();
}

fn pairtree(c: &mut Criterion) {
    let data = workload(N);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = group(c, "pairtree");
    g.bench_function("set/hashstash+raw", |b| {
        b.iter_custom(|iters| time_sets(iters, &data, || open(dir.path(), "pairtree", "hashstash", "raw")))
    });
    let stash = open(dir.path(), "pairtree", "hashstash", "raw");
    for (k, v) in &data {
        stash.set(k, v).expect("set");
    }
    g.bench_function("get/hashstash+raw", |b| {
        b.iter(|| {
            for (k, _) in &data {
                black_box(stash.get::<_, Record>(k).expect("get").expect("present"));
            }
        })
    });
    g.bench_function("iterate/hashstash+raw", |b| {
        b.iter(|| {
            for item in stash.items::<String, Record>().expect("items") {
                black_box(item.expect("item"));
            }
        })
    });

    // The floor: the same layout written and read with plain std::fs.
    let mut round = 0u64;
    g.bench_function("set/baseline-raw-files", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let root = dir.path().join(format!("raw-set-{round}"));
                let raw = RawPairtree::new(&root);
                let start = Instant::now();
                for (i, (k, v)) in data.iter().enumerate() {
                    raw.set(k, v, i as u64).expect("raw set");
                }
                total += start.elapsed();
            }
            total
        })
    });
    let raw = RawPairtree::new(&dir.path().join("raw-get"));
    for (i, (k, v)) in data.iter().enumerate() {
        raw.set(k, v, i as u64).expect("raw set");
    }
    g.bench_function("get/baseline-raw-files", |b| {
        b.iter(|| {
            for (k, _) in &data {
                black_box(raw.get::<Record>(k).expect("raw get").expect("present"));
            }
        })
    });
    g.bench_function("get/baseline-raw-files+key-check", |b| {
        b.iter(|| {
            for (k, _) in &data {
                black_box(raw.get_checked::<Record>(k).expect("raw get").expect("present"));
            }
        })
    });
    g.bench_function("iterate/baseline-raw-files", |b| b.iter(|| black_box(raw.iterate().expect("walk"))));

    // The Rust peer: cacache (content files plus an appended index).
    g.bench_function("set/peer-cacache", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let root = dir.path().join(format!("cacache-set-{round}"));
                let start = Instant::now();
                for (k, v) in &data {
                    let bytes = serde_json::to_vec(v).expect("json");
                    cacache::write_sync(&root, k, bytes).expect("cacache write");
                }
                total += start.elapsed();
            }
            total
        })
    });
    let cache = dir.path().join("cacache-get");
    for (k, v) in &data {
        cacache::write_sync(&cache, k, serde_json::to_vec(v).expect("json")).expect("cacache write");
    }
    g.bench_function("get/peer-cacache", |b| {
        b.iter(|| {
            for (k, _) in &data {
                let bytes = cacache::read_sync(&cache, k).expect("cacache read");
                black_box(serde_json::from_slice::<Record>(&bytes).expect("json"));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, memory, pairtree);
criterion_main!(benches);
