//! The cost of the life-cycle features on the common path: plain set/get next
//! to the same with a stash-wide TTL, with a (never reached) entry bound, and
//! in append mode, on memory and lmdb, plus the raw `RwLock<HashMap>` + JSON
//! floor, all in one run. A plain stash must not pay for what it does not use.
//!
//! `cargo bench -p hashstash-benches --bench lifecycle`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hashstash::HashStash;
use hashstash_benches::baseline::MemoryJson;
use hashstash_benches::{Record, workload};

const N: u64 = 2_000;

/// The stash settings compared.
const MODES: [&str; 4] = ["plain", "ttl", "bounded", "append"];

fn open(root: &std::path::Path, engine: &str, mode: &str) -> HashStash {
    let mut b = HashStash::builder().root_dir(root).dbname(mode).engine(engine).compress("raw").clear(true);
    b = match mode {
        "ttl" => b.ttl(Duration::from_secs(3600)),
        "bounded" => b.max_entries(1 << 40),
        "append" => b.append_mode(true),
        _ => b,
    };
    b.open().expect("open stash")
}

fn lifecycle(c: &mut Criterion) {
    let data = workload(N);
    let dir = tempfile::tempdir().expect("tempdir");
    for engine in ["memory", "lmdb"] {
        let mut g = c.benchmark_group(format!("lifecycle/{engine}"));
        g.throughput(Throughput::Elements(N));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(300));
        g.measurement_time(Duration::from_secs(2));
        for mode in MODES {
            let stash = open(dir.path(), engine, mode);
            // Append mode grows a history per key: write each key once per
            // iteration into a cleared stash so every mode stores N entries.
            g.bench_function(format!("set/{mode}"), |b| {
                b.iter(|| {
                    stash.clear().expect("clear");
                    stash.update(data.iter().map(|(k, v)| (k, v))).expect("update")
                })
            });
            stash.update(data.iter().map(|(k, v)| (k, v))).expect("fill");
            g.bench_function(format!("get/{mode}"), |b| {
                b.iter(|| {
                    for (k, _) in &data {
                        black_box(stash.get::<_, Record>(k).expect("get"));
                    }
                })
            });
        }
        if engine == "memory" {
            let floor = MemoryJson::default();
            g.bench_function("set/raw-floor", |b| {
                b.iter(|| {
                    for (k, v) in &data {
                        floor.set(k, v);
                    }
                })
            });
            g.bench_function("get/raw-floor", |b| {
                b.iter(|| {
                    for (k, _) in &data {
                        black_box(floor.get::<Record>(k));
                    }
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, lifecycle);
criterion_main!(benches);
