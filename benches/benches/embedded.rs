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
    Bencher, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use hashstash::lmdb::{Durability, LmdbOptions};
use hashstash::{EngineFactory, HashStash};
use hashstash_benches::baseline::RawBaseline;
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

/// What the rows do to a store, the same for the stash and for its raw
/// floors, so one function per row serves both (as redb's `BenchDatabase`).
trait Store {
    /// Removes every entry.
    fn empty(&self);
    /// Writes one record (one commit).
    fn put_record(&self, key: &str, value: &Record);
    /// Writes every record in one batch (one transaction).
    fn put_records(&self, data: &[(String, Record)]);
    /// Writes what is still in memory to disk (where the store defers it).
    fn sync(&self);
    /// The number of entries.
    fn entries(&self) -> usize;
    /// Reads and decodes the record stored under `key`, which must be there.
    fn record(&self, key: &str) -> Record;
    /// Reads and decodes every record; returns the count.
    fn walk(&self) -> usize;
}

impl Store for HashStash {
    fn empty(&self) {
        self.clear().expect("clear");
    }

    fn put_record(&self, key: &str, value: &Record) {
        self.set(key, value).expect("set");
    }

    fn put_records(&self, data: &[(String, Record)]) {
        let mut batch = self.batch();
        for (k, v) in data {
            batch.set(k, v).expect("batch set");
        }
        batch.commit().expect("commit");
    }

    fn sync(&self) {
        self.flush().expect("flush");
    }

    fn entries(&self) -> usize {
        self.len().expect("len")
    }

    fn record(&self, key: &str) -> Record {
        self.get::<_, Record>(key).expect("get").expect("present")
    }

    fn walk(&self) -> usize {
        let mut count = 0;
        for item in self.items::<String, Record>().expect("items") {
            black_box(item.expect("item"));
            count += 1;
        }
        count
    }
}

/// A raw floor storing each record's compact JSON under the same key digest.
struct Json<B>(B);

impl<B: RawBaseline> Store for Json<B> {
    fn empty(&self) {
        self.0.clear().expect("clear");
    }

    fn put_record(&self, key: &str, value: &Record) {
        self.0.put(key, &serde_json::to_vec(value).expect("serialize")).expect("put");
    }

    fn put_records(&self, data: &[(String, Record)]) {
        let values: Vec<Vec<u8>> =
            data.iter().map(|(_, v)| serde_json::to_vec(v).expect("serialize")).collect();
        let mut pairs = data.iter().zip(&values).map(|((k, _), v)| (k.as_str(), v.as_slice()));
        self.0.put_all(&mut pairs).expect("put_all");
    }

    /// sled's flush; nothing for heed and rusqlite, which commit to disk.
    fn sync(&self) {
        self.0.flush().expect("flush");
    }

    fn entries(&self) -> usize {
        self.0.count().expect("count")
    }

    /// Decoded from the bytes the storage lends.
    fn record(&self, key: &str) -> Record {
        let mut found = None;
        self.0
            .get(key, &mut |bytes| found = Some(serde_json::from_slice(bytes).expect("deserialize")))
            .expect("get");
        found.expect("present")
    }

    fn walk(&self) -> usize {
        self.0
            .for_each(&mut |bytes| {
                black_box(serde_json::from_slice::<Record>(bytes).expect("deserialize"));
            })
            .expect("iterate")
    }
}

/// A write row: `pass` timed over `store` emptied outside the timing, then,
/// if the row ran (a filter or `--list` skips it), a check that the pass
/// wrote the whole workload.
fn write_row<S: Store>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: String,
    store: &S,
    data: &[(String, Record)],
    pass: impl Fn(&S),
) {
    let ran = row(g, id, |b| b.iter_custom(|iters| timed(iters, || store.empty(), || pass(store))));
    if ran {
        assert_eq!(store.entries(), data.len());
    }
}

/// Runs the row `id`; says whether it ran.
fn row(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: String,
    mut f: impl FnMut(&mut Bencher<'_, WallTime>),
) -> bool {
    let mut ran = false;
    g.bench_function(id, |b| {
        ran = true;
        f(b)
    });
    ran
}

/// `set/<label>`: one write (one commit) per item, then a flush.
fn set_row(g: &mut BenchmarkGroup<'_, WallTime>, label: &str, store: &impl Store, data: &[(String, Record)]) {
    write_row(g, format!("set/{label}"), store, data, |s| {
        for (k, v) in data {
            s.put_record(k, v);
        }
        s.sync();
    });
}

/// `set/<label>` with the engine's per-item settings, then
/// `set-batch/<label>`: the whole workload in one batch, then a flush.
fn write_rows(
    g: &mut BenchmarkGroup<'_, WallTime>,
    engine: &str,
    label: &str,
    store: &impl Store,
    data: &[(String, Record)],
) {
    per_item_write_settings(g, engine);
    set_row(g, label, store, data);
    fast(g);
    write_row(g, format!("set-batch/{label}"), store, data, |s| {
        s.put_records(data);
        s.sync();
    });
}

/// `get/<label>` of every item of `store`, filled with the workload in one batch.
fn get_row(g: &mut BenchmarkGroup<'_, WallTime>, label: &str, store: &impl Store, data: &[(String, Record)]) {
    store.put_records(data);
    row(g, format!("get/{label}"), |b| {
        b.iter(|| {
            for (k, _) in data {
                black_box(store.record(k));
            }
        })
    });
}

/// [`get_row`], then `iterate/<label>`.
fn read_rows(
    g: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    store: &impl Store,
    data: &[(String, Record)],
) {
    get_row(g, label, store, data);
    assert_eq!(store.walk(), data.len());
    row(g, format!("iterate/{label}"), |b| b.iter(|| store.walk()));
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

/// An engine's group: the stash rows (`hashstash+raw`: set, set-batch, get,
/// iterate; `get/postcard+raw`), then its raw floor's (`baseline-<floor>`:
/// set, set-batch, get, iterate; written into the storage `open(dir, "set")`
/// opens, read from the one `open(dir, "read")` opens), then the engine's own
/// rows (`extra`).
fn engine_group<B: RawBaseline>(
    c: &mut Criterion,
    factory: Arc<dyn EngineFactory>,
    floor: &str,
    open: impl Fn(&Path, &str) -> B,
    extra: impl FnOnce(&mut BenchmarkGroup<'_, WallTime>, &Path, &[(String, Record)]),
) {
    let engine = factory.name().to_string();
    let data = workload(N);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut g = group(c, &engine);
    let stash = |name: &str, serializer: &str| open_with(&root.join(name), factory.clone(), serializer);
    write_rows(&mut g, &engine, "hashstash+raw", &stash("stash-set", "hashstash"), &data);
    read_rows(&mut g, "hashstash+raw", &stash("stash-read", "hashstash"), &data);
    get_row(&mut g, "postcard+raw", &stash("stash-postcard", "postcard"), &data);
    let label = format!("baseline-{floor}");
    write_rows(&mut g, &engine, &label, &Json(open(root, "set")), &data);
    read_rows(&mut g, &label, &Json(open(root, "read")), &data);
    extra(&mut g, root, &data);
    g.finish();
}

/// lmdb: heed at LMDB's default sync; then the stash and heed without the
/// syncs, and the Rust peer.
fn lmdb(c: &mut Criterion) {
    let heed =
        |root: &Path, name: &str, sync: bool| RawHeed::open(&root.join(name), sync).expect("open heed");
    engine_group(
        c,
        Arc::new(LmdbOptions::new()),
        "heed",
        |root, role| heed(root, &format!("heed-{role}"), true),
        |g, root, data| {
            // The same per-item writes without the syncs (`Durability::Relaxed`).
            let relaxed = open_with(
                &root.join("stash-relaxed"),
                Arc::new(LmdbOptions::new().durability(Durability::Relaxed)),
                "hashstash",
            );
            set_row(g, "hashstash+raw+relaxed", &relaxed, data);
            drop(relaxed);
            set_row(g, "baseline-heed-nosync", &Json(heed(root, "heed-nosync", false)), data);
            peer_rows(g, root, data);
        },
    );
}

/// The Rust peer: `cached`'s redb store (MessagePack values, durable by
/// default: each `cache_set` is one redb commit with `Durability::Immediate`,
/// about 3 ms here, so the `set` row writes the first 1,000 items of the
/// workload: the throughput is per item, like every other row's).
fn peer_rows(g: &mut BenchmarkGroup<'_, WallTime>, root: &Path, data: &[(String, Record)]) {
    let peer: RedbCache<String, Record> =
        RedbCache::builder("set").disk_dir(root.join("cached-set")).build().expect("build redb cache");
    let some = &data[..PEER_SET_ITEMS];
    slow(g);
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
    fast(g);
    // Filled without a sync per item (then one durable commit): the reads are the same.
    let peer: RedbCache<String, Record> = RedbCache::builder("get")
        .disk_dir(root.join("cached-get"))
        .durable(false)
        .build()
        .expect("build redb cache");
    for (k, v) in data {
        peer.cache_set(k.clone(), v.clone()).expect("cache_set");
    }
    peer.flush().expect("flush");
    g.bench_function("get/peer-cached-redb", |b| {
        b.iter(|| {
            for (k, _) in data {
                black_box(peer.cache_get(k).expect("cache_get").expect("present"));
            }
        })
    });
}

fn sled(c: &mut Criterion) {
    let factory = hashstash::engines::factory("sled").expect("sled");
    let open =
        |root: &Path, role: &str| RawSled::open(&root.join(format!("sled-{role}"))).expect("open sled");
    engine_group(c, factory, "sled", open, |_, _, _| {});
}

fn sqlite(c: &mut Criterion) {
    let factory = hashstash::engines::factory("sqlite").expect("sqlite");
    let open = |root: &Path, role: &str| {
        RawSqlite::open(&root.join(format!("rusqlite-{role}.db"))).expect("open sqlite")
    };
    engine_group(c, factory, "rusqlite", open, |_, _, _| {});
}

criterion_group!(benches, lmdb, sled, sqlite);
criterion_main!(benches);
