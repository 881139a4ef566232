//! The embedded engines (lmdb, sled, sqlite) on the Python peer's workload (5,000
//! keys `key{i}`, 10-field records): hashstash next to the same bytes put
//! through heed, sled and rusqlite directly, and, in the lmdb group, next to the Rust
//! peer a user would pick instead: `cached`'s redb disk store.
//!
//! `cargo bench -p hashstash-benches --bench embedded`
//!
//! Every `set` row writes the whole workload (`set/peer-cached-redb`: its
//! first 1,000 items) into a store emptied outside the timing; the stash and
//! sled rows end with a flush. LMDB's default durability syncs
//! every commit, so its per-item `set` rows cost seconds per pass: they run a
//! flat 10 passes.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cached::{ConcurrentCached, RedbCache};
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use hashstash::lmdb::{Durability, LmdbOptions};
use hashstash::{EngineFactory, HashStash};
use hashstash_benches::baseline::lmdb::RawHeed;
use hashstash_benches::baseline::sled::RawSled;
use hashstash_benches::baseline::sqlite::RawSqlite;
use hashstash_benches::{Record, workload};

const N: u64 = 5_000;

/// The items `set/peer-cached-redb` writes: its durable commits are slow.
const PEER_SET_ITEMS: usize = 1_000;

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(300));
    fast(&mut g);
    g
}

/// The settings for rows of a few milliseconds a pass.
fn fast(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sampling_mode(SamplingMode::Auto);
    g.measurement_time(Duration::from_secs(2));
}

/// The settings for rows of a second or more a pass (an `fsync` per item):
/// 10 flat samples of one pass each, without a warning about the time they take.
fn slow(g: &mut BenchmarkGroup<'_, WallTime>) {
    flat(g, 15);
}

/// The settings for rows of a few hundred milliseconds a pass (a commit per
/// item without a sync): 10 flat samples rather than criterion's 55 passes.
fn medium(g: &mut BenchmarkGroup<'_, WallTime>) {
    flat(g, 3);
}

fn flat(g: &mut BenchmarkGroup<'_, WallTime>, seconds: u64) {
    g.sampling_mode(SamplingMode::Flat);
    g.measurement_time(Duration::from_secs(seconds));
}

fn open_with(root: &Path, factory: Arc<dyn EngineFactory>, serializer: &str) -> HashStash {
    HashStash::builder()
        .root_dir(root)
        .engine_factory(factory)
        .serializer(serializer)
        .compress("raw")
        .clear(true)
        .open()
        .expect("open stash")
}

/// Sums the time of `iters` calls of `pass`, each after an untimed `reset`.
fn timed(iters: u64, mut reset: impl FnMut(), mut pass: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        reset();
        let start = Instant::now();
        pass();
        total += start.elapsed();
    }
    total
}

fn fill(stash: &HashStash, data: &[(String, Record)]) {
    let mut batch = stash.batch();
    for (k, v) in data {
        batch.set(k, v).expect("batch set");
    }
    batch.commit().expect("commit");
}

/// `set/hashstash+<label>`: one `set` (one commit) per item, then a flush.
fn stash_set(
    g: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    stash: &HashStash,
    data: &[(String, Record)],
) {
    g.bench_function(format!("set/hashstash+{label}"), |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || stash.clear().expect("clear"),
                || {
                    for (k, v) in data {
                        stash.set(k, v).expect("set");
                    }
                    stash.flush().expect("flush");
                },
            )
        })
    });
    assert_eq!(stash.len().expect("len"), data.len());
}

/// The stash rows every engine has: set, set-batch, get, iterate, postcard get.
fn stash_rows(
    g: &mut BenchmarkGroup<'_, WallTime>,
    root: &Path,
    factory: Arc<dyn EngineFactory>,
    data: &[(String, Record)],
) {
    let writes = open_with(&root.join("stash-set"), factory.clone(), "hashstash");
    per_item_write_settings(g, factory.name());
    stash_set(g, "raw", &writes, data);
    fast(g);
    g.bench_function("set-batch/hashstash+raw", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || writes.clear().expect("clear"),
                || {
                    fill(&writes, data);
                    writes.flush().expect("flush");
                },
            )
        })
    });
    assert_eq!(writes.len().expect("len"), data.len());
    drop(writes);

    let stash = open_with(&root.join("stash-read"), factory.clone(), "hashstash");
    fill(&stash, data);
    g.bench_function("get/hashstash+raw", |b| {
        b.iter(|| {
            for (k, _) in data {
                black_box(stash.get::<_, Record>(k).expect("get").expect("present"));
            }
        })
    });
    assert_eq!(stash.items::<String, Record>().expect("items").count(), data.len());
    g.bench_function("iterate/hashstash+raw", |b| {
        b.iter(|| {
            for item in stash.items::<String, Record>().expect("items") {
                black_box(item.expect("item"));
            }
        })
    });

    let postcard = open_with(&root.join("stash-postcard"), factory, "postcard");
    fill(&postcard, data);
    g.bench_function("get/postcard+raw", |b| {
        b.iter(|| {
            for (k, _) in data {
                black_box(postcard.get::<_, Record>(k).expect("get").expect("present"));
            }
        })
    });
}

/// Per-item writes commit each item: with a sync on LMDB (its default
/// durability), without one on SQLite (WAL, `synchronous=NORMAL`).
fn per_item_write_settings(g: &mut BenchmarkGroup<'_, WallTime>, engine: &str) {
    match engine {
        "lmdb" => slow(g),
        "sqlite" => medium(g),
        _ => fast(g),
    }
}

fn lmdb(c: &mut Criterion) {
    let data = workload(N);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = group(c, "lmdb");
    stash_rows(&mut g, dir.path(), Arc::new(LmdbOptions::new()), &data);

    // The same per-item writes without the syncs (`Durability::Relaxed`).
    let relaxed = open_with(
        &dir.path().join("stash-relaxed"),
        Arc::new(LmdbOptions::new().durability(Durability::Relaxed)),
        "hashstash",
    );
    stash_set(&mut g, "raw+relaxed", &relaxed, &data);
    drop(relaxed);

    // The floor: heed with the same key digest and JSON value.
    let heed = RawHeed::open(&dir.path().join("heed-set"), true).expect("open heed");
    slow(&mut g);
    g.bench_function("set/baseline-heed", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || heed.clear().expect("clear"),
                || {
                    for (k, v) in &data {
                        heed.set(k, v).expect("heed set");
                    }
                },
            )
        })
    });
    assert_eq!(heed.count().expect("count"), N);
    fast(&mut g);
    g.bench_function("set-batch/baseline-heed", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || heed.clear().expect("clear"),
                || heed.set_all(data.iter().map(|(k, v)| (k.as_str(), v))).expect("heed set_all"),
            )
        })
    });
    assert_eq!(heed.count().expect("count"), N);
    drop(heed);
    let nosync = RawHeed::open(&dir.path().join("heed-nosync"), false).expect("open heed");
    g.bench_function("set/baseline-heed-nosync", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || nosync.clear().expect("clear"),
                || {
                    for (k, v) in &data {
                        nosync.set(k, v).expect("heed set");
                    }
                },
            )
        })
    });
    drop(nosync);
    let heed = RawHeed::open(&dir.path().join("heed-read"), true).expect("open heed");
    heed.set_all(data.iter().map(|(k, v)| (k.as_str(), v))).expect("heed set_all");
    g.bench_function("get/baseline-heed", |b| {
        b.iter(|| {
            for (k, _) in &data {
                black_box(heed.get::<Record>(k).expect("heed get").expect("present"));
            }
        })
    });
    assert_eq!(
        heed.iterate(|r: Record| {
            black_box(r);
        })
        .expect("heed iterate"),
        data.len()
    );
    g.bench_function("iterate/baseline-heed", |b| {
        b.iter(|| {
            heed.iterate(|r: Record| {
                black_box(r);
            })
            .expect("heed iterate")
        })
    });
    drop(heed);

    // The Rust peer: `cached`'s redb store (MessagePack values, durable by
    // default: each `cache_set` is one redb commit with `Durability::Immediate`,
    // about 3 ms here, so the row writes the first 1,000 items of the workload:
    // the throughput is per item, like every other row's).
    let peer: RedbCache<String, Record> =
        RedbCache::builder("set").disk_dir(dir.path().join("cached-set")).build().expect("build redb cache");
    let some = &data[..PEER_SET_ITEMS];
    slow(&mut g);
    g.throughput(Throughput::Elements(PEER_SET_ITEMS as u64));
    g.bench_function("set/peer-cached-redb", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || peer.cache_clear().expect("clear"),
                || {
                    for (k, v) in some {
                        peer.cache_set(k.clone(), v.clone()).expect("cache_set");
                    }
                },
            )
        })
    });
    g.throughput(Throughput::Elements(N));
    drop(peer);
    fast(&mut g);
    // Filled without a sync per item (then one durable commit): the reads are the same.
    let peer: RedbCache<String, Record> = RedbCache::builder("get")
        .disk_dir(dir.path().join("cached-get"))
        .durable(false)
        .build()
        .expect("build redb cache");
    for (k, v) in &data {
        peer.cache_set(k.clone(), v.clone()).expect("cache_set");
    }
    peer.flush().expect("flush");
    g.bench_function("get/peer-cached-redb", |b| {
        b.iter(|| {
            for (k, _) in &data {
                black_box(peer.cache_get(k).expect("cache_get").expect("present"));
            }
        })
    });
    g.finish();
}

fn sled(c: &mut Criterion) {
    let data = workload(N);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = group(c, "sled");
    stash_rows(&mut g, dir.path(), hashstash::engines::factory("sled").expect("sled"), &data);

    // The floor: sled with the same key digest and JSON value.
    let raw = RawSled::open(&dir.path().join("sled-set")).expect("open sled");
    g.bench_function("set/baseline-sled", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || raw.clear().expect("clear"),
                || {
                    for (k, v) in &data {
                        raw.set(k, v).expect("sled set");
                    }
                    raw.flush().expect("flush");
                },
            )
        })
    });
    assert_eq!(raw.count(), data.len());
    g.bench_function("set-batch/baseline-sled", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || raw.clear().expect("clear"),
                || {
                    raw.set_all(data.iter().map(|(k, v)| (k.as_str(), v))).expect("sled batch");
                    raw.flush().expect("flush");
                },
            )
        })
    });
    assert_eq!(raw.count(), data.len());
    drop(raw);
    let raw = RawSled::open(&dir.path().join("sled-read")).expect("open sled");
    raw.set_all(data.iter().map(|(k, v)| (k.as_str(), v))).expect("sled batch");
    g.bench_function("get/baseline-sled", |b| {
        b.iter(|| {
            for (k, _) in &data {
                black_box(raw.get::<Record>(k).expect("sled get").expect("present"));
            }
        })
    });
    assert_eq!(
        raw.iterate(|r: Record| {
            black_box(r);
        })
        .expect("sled iterate"),
        data.len()
    );
    g.bench_function("iterate/baseline-sled", |b| {
        b.iter(|| {
            raw.iterate(|r: Record| {
                black_box(r);
            })
            .expect("sled iterate")
        })
    });
    g.finish();
}

fn sqlite(c: &mut Criterion) {
    let data = workload(N);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = group(c, "sqlite");
    stash_rows(&mut g, dir.path(), hashstash::engines::factory("sqlite").expect("sqlite"), &data);

    // The floor: rusqlite with the same key digest and JSON value.
    let mut raw = RawSqlite::open(&dir.path().join("rusqlite-set.db")).expect("open sqlite");
    medium(&mut g);
    g.bench_function("set/baseline-rusqlite", |b| {
        b.iter_custom(|iters| {
            timed(
                iters,
                || raw.clear().expect("clear"),
                || {
                    for (k, v) in &data {
                        raw.set(k, v).expect("sqlite set");
                    }
                },
            )
        })
    });
    assert_eq!(raw.count().expect("count"), data.len());
    fast(&mut g);
    g.bench_function("set-batch/baseline-rusqlite", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                raw.clear().expect("clear");
                let start = Instant::now();
                raw.set_all(data.iter().map(|(k, v)| (k.as_str(), v))).expect("sqlite set_all");
                total += start.elapsed();
            }
            total
        })
    });
    assert_eq!(raw.count().expect("count"), data.len());
    drop(raw);
    let mut raw = RawSqlite::open(&dir.path().join("rusqlite-read.db")).expect("open sqlite");
    raw.set_all(data.iter().map(|(k, v)| (k.as_str(), v))).expect("sqlite set_all");
    g.bench_function("get/baseline-rusqlite", |b| {
        b.iter(|| {
            for (k, _) in &data {
                black_box(raw.get::<Record>(k).expect("sqlite get").expect("present"));
            }
        })
    });
    assert_eq!(
        raw.iterate(|r: Record| {
            black_box(r);
        })
        .expect("sqlite iterate"),
        data.len()
    );
    g.bench_function("iterate/baseline-rusqlite", |b| {
        b.iter(|| {
            raw.iterate(|r: Record| {
                black_box(r);
            })
            .expect("sqlite iterate")
        })
    });
    g.finish();
}

criterion_group!(benches, lmdb, sled, sqlite);
criterion_main!(benches);
