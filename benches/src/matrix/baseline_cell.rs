//! Baseline cells: the raw engines and `cacache` with the stash's encoded
//! bytes, the codec floor, and `cached`'s redb store.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use cached::{ConcurrentCached, RedbCache, SerializeCached as _};
use hashstash::HashStash;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::measure::{disk_usage, proc_status_kib, rate, timed_loop};
use super::payload::{self, doc_at, pool, record_at};
use super::stash_cell::{BATCH, compression, summarize};
use super::{CellResult, CellSpec, Kind, Op, Params, Result, SizeClass};
use crate::baseline::lmdb::RawHeed;
use crate::baseline::sled::RawSled;
use crate::baseline::sqlite::RawSqlite;
use crate::baseline::{MemoryBytes, RawPairtree, key_md5_hex};
use crate::{Record, key};

pub(super) fn run(spec: &CellSpec, params: &Params) -> Result<CellResult> {
    let records = pool();
    match spec.size {
        SizeClass::Record => {
            cell::<Record, _, _>(spec, params, |i| record_at(records, i), |i| record_at(records, i).clone())
        }
        SizeClass::K10 => cell::<payload::Doc, _, _>(
            spec,
            params,
            |i| doc_at(records, i, payload::K10_RECORDS),
            payload::make_doc_10k,
        ),
        SizeClass::M1 => cell::<payload::Doc, _, _>(
            spec,
            params,
            |i| doc_at(records, i, payload::M1_RECORDS),
            payload::make_doc_1m,
        ),
    }
}

/// The raw storage of an engine, holding bytes under the md5 of the key.
enum RawStore {
    Memory(MemoryBytes),
    Pairtree(RawPairtree),
    Lmdb(RawHeed),
    Sqlite(RawSqlite),
    Sled(RawSled),
}

impl RawStore {
    fn open(engine: &str, dir: &Path) -> Result<RawStore> {
        Ok(match engine {
            "memory" => RawStore::Memory(MemoryBytes::default()),
            "pairtree" => RawStore::Pairtree(RawPairtree::new(&dir.join("pairtree"))),
            // LMDB's default sync, as the stash's default durability.
            "lmdb" => RawStore::Lmdb(RawHeed::open(&dir.join("heed"), true)?),
            "sqlite" => RawStore::Sqlite(RawSqlite::open(&dir.join("rusqlite.db"))?),
            "sled" => RawStore::Sled(RawSled::open(&dir.join("sled"))?),
            other => return Err(format!("no raw baseline for engine {other}").into()),
        })
    }

    fn put(&self, key: &str, bytes: &[u8], stamp: u64) -> Result<()> {
        let digest = key_md5_hex(key);
        match self {
            RawStore::Memory(m) => m.set_bytes(&digest, bytes.to_vec()),
            RawStore::Pairtree(p) => p.set_bytes(key, bytes, stamp)?,
            RawStore::Lmdb(h) => h.put_bytes(digest.as_bytes(), bytes)?,
            RawStore::Sqlite(s) => s.put_bytes(&digest, bytes)?,
            RawStore::Sled(s) => s.put_bytes(digest.as_bytes(), bytes)?,
        }
        Ok(())
    }

    /// Stores `pairs` in one transaction where the storage has them.
    fn put_all(&mut self, pairs: &[(String, Vec<u8>)], stamp: u64) -> Result<()> {
        let digests: Vec<String> = pairs.iter().map(|(k, _)| key_md5_hex(k)).collect();
        match self {
            RawStore::Lmdb(h) => {
                h.put_all_bytes(digests.iter().zip(pairs).map(|(d, (_, v))| (d.as_bytes(), v.as_slice())))?
            }
            RawStore::Sqlite(s) => {
                s.put_all_bytes(digests.iter().zip(pairs).map(|(d, (_, v))| (d.as_str(), v.as_slice())))?
            }
            RawStore::Sled(s) => {
                s.put_all_bytes(digests.iter().zip(pairs).map(|(d, (_, v))| (d.as_bytes(), v.as_slice())))?
            }
            _ => {
                for (k, v) in pairs {
                    self.put(k, v, stamp)?;
                }
            }
        }
        Ok(())
    }

    fn get<R>(&self, key: &str, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        let digest = key_md5_hex(key);
        Ok(match self {
            RawStore::Memory(m) => m.get_bytes(&digest, f),
            RawStore::Pairtree(p) => p.get_bytes(key)?.map(|b| f(&b)),
            RawStore::Lmdb(h) => h.get_bytes(digest.as_bytes(), f)?,
            RawStore::Sqlite(s) => s.get_bytes(&digest, f)?,
            RawStore::Sled(s) => s.get_bytes(digest.as_bytes(), f)?,
        })
    }

    fn for_each(&self, f: impl FnMut(&[u8])) -> Result<usize> {
        Ok(match self {
            RawStore::Memory(m) => m.for_each_bytes(f),
            RawStore::Pairtree(p) => p.for_each_bytes(f)?,
            RawStore::Lmdb(h) => h.for_each_bytes(f)?,
            RawStore::Sqlite(s) => s.for_each_bytes(f)?,
            RawStore::Sled(s) => s.for_each_bytes(f)?,
        })
    }

    fn clear(&self) -> Result<()> {
        match self {
            RawStore::Memory(m) => m.clear(),
            RawStore::Pairtree(p) => p.clear()?,
            RawStore::Lmdb(h) => h.clear()?,
            RawStore::Sqlite(s) => s.clear()?,
            RawStore::Sled(s) => s.clear()?,
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        if let RawStore::Sled(s) = self {
            s.flush()?;
        }
        Ok(())
    }
}

/// Runs `op` once per repetition, each after an untimed `reset`, collecting `(items, ops/s)`.
fn reps(
    params: &Params,
    mut reset: impl FnMut() -> Result<()>,
    mut op: impl FnMut() -> Result<usize>,
) -> Result<Vec<(usize, f64)>> {
    let mut runs = Vec::new();
    for _ in 0..params.reps.max(1) {
        reset()?;
        let start = Instant::now();
        let done = op()?;
        runs.push((done, rate(done, start.elapsed())));
    }
    Ok(runs)
}

fn cell<O, F, V>(spec: &CellSpec, params: &Params, value: F, owned: impl Fn(u64) -> O) -> Result<CellResult>
where
    O: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    F: Fn(u64) -> V,
    V: Serialize,
{
    let n = params.n_for(spec.size);
    let budget = params.budget();
    let dir = tempfile::tempdir_in(&params.work_dir)?;
    let keys: Vec<String> = (0..n as u64).map(key).collect();
    let mut out = CellResult::new(spec.clone());
    out.n = n;
    // The codec: a memory stash with the cell's serializer and compressor,
    // used only for `encode_value` / `decode_value` (no engine involved).
    let codec = HashStash::builder()
        .root_dir(dir.path().join("codec"))
        .engine("memory")
        .serializer(spec.serializer.as_str())
        .compress(spec.compress.as_str())
        .open()?;
    if spec.kind != Kind::CachedRedb {
        let (value_bytes, ratio) = compression(&codec, n, &value)?;
        out.value_bytes = Some(value_bytes);
        out.compression = Some(ratio);
    }
    let decode = |bytes: &[u8]| -> Result<O> { Ok(codec.decode_value::<O>(bytes)?) };
    let owned_values: Vec<O> =
        if spec.kind == Kind::CachedRedb { (0..n as u64).map(&owned).collect() } else { Vec::new() };
    out.rss_before_kib = proc_status_kib("VmRSS");

    match spec.kind {
        Kind::Codec => {
            let encoded: Vec<Vec<u8>> =
                (0..n as u64).map(|i| codec.encode_value(&value(i))).collect::<Result<_, _>>()?;
            if params.wants(Op::Set) {
                let runs = reps(
                    params,
                    || Ok(()),
                    || {
                        let (done, _) = timed_loop(n, budget, |i| -> Result<()> {
                            black_box(codec.encode_value(&value(i as u64))?);
                            Ok(())
                        })?;
                        Ok(done)
                    },
                )?;
                out.ops.push(summarize(Op::Set, &runs));
            }
            if params.wants(Op::Get) {
                let runs = reps(
                    params,
                    || Ok(()),
                    || {
                        let (done, _) = timed_loop(n, budget, |i| -> Result<()> {
                            black_box(decode(&encoded[i])?);
                            Ok(())
                        })?;
                        Ok(done)
                    },
                )?;
                out.ops.push(summarize(Op::Get, &runs));
            }
        }
        Kind::Raw => {
            let mut store = RawStore::open(&spec.engine, dir.path())?;
            if params.wants(Op::Set) {
                let runs = reps(
                    params,
                    || store.clear(),
                    || {
                        let (done, _) = timed_loop(n, budget, |i| -> Result<()> {
                            store.put(&keys[i], &codec.encode_value(&value(i as u64))?, i as u64)
                        })?;
                        store.flush()?;
                        Ok(done)
                    },
                )?;
                out.ops.push(summarize(Op::Set, &runs));
            }
            store.clear()?;
            let mut stored = 0;
            if params.wants(Op::Batch) {
                let mut runs = Vec::new();
                for _ in 0..params.reps.max(1) {
                    store.clear()?;
                    let start = Instant::now();
                    let mut done = 0;
                    while done < n {
                        let hi = (done + BATCH).min(n);
                        let pairs: Vec<(String, Vec<u8>)> = (done..hi)
                            .map(|i| Ok((keys[i].clone(), codec.encode_value(&value(i as u64))?)))
                            .collect::<Result<_>>()?;
                        store.put_all(&pairs, 0)?;
                        done = hi;
                        if start.elapsed() >= budget {
                            break;
                        }
                    }
                    store.flush()?;
                    runs.push((done, rate(done, start.elapsed())));
                    stored = done;
                }
                out.ops.push(summarize(Op::Batch, &runs));
            }
            if stored < n {
                let pairs: Vec<(String, Vec<u8>)> = (stored..n)
                    .map(|i| Ok((keys[i].clone(), codec.encode_value(&value(i as u64))?)))
                    .collect::<Result<_>>()?;
                for chunk in pairs.chunks(BATCH) {
                    store.put_all(chunk, 0)?;
                }
                store.flush()?;
            }
            if spec.engine != "memory" {
                per_item_disk(&mut out, dir.path(), &["codec"], n)?;
            }
            if params.wants(Op::Get) {
                let runs = reps(
                    params,
                    || Ok(()),
                    || {
                        let (done, _) = timed_loop(n, budget, |i| -> Result<()> {
                            match store.get(&keys[i], decode)? {
                                Some(v) => {
                                    black_box(v?);
                                    Ok(())
                                }
                                None => Err(format!("raw get({}) found nothing", keys[i]).into()),
                            }
                        })?;
                        Ok(done)
                    },
                )?;
                out.ops.push(summarize(Op::Get, &runs));
            }
            if params.wants(Op::Iterate) {
                let runs = reps(
                    params,
                    || Ok(()),
                    || {
                        let mut failed = None;
                        let count = store.for_each(|b| {
                            if let Err(e) = decode(b).map(black_box) {
                                failed = Some(e);
                            }
                        })?;
                        match failed {
                            Some(e) => Err(e),
                            None if count != n => Err(format!("raw iteration yielded {count} of {n}").into()),
                            None => Ok(count),
                        }
                    },
                )?;
                out.ops.push(summarize(Op::Iterate, &runs));
            }
        }
        Kind::Cacache => {
            let root = dir.path().join("cacache");
            if params.wants(Op::Set) {
                let runs = reps(
                    params,
                    || clear_cacache(&root),
                    || {
                        let (done, _) = timed_loop(n, budget, |i| -> Result<()> {
                            cacache::write_sync(&root, &keys[i], codec.encode_value(&value(i as u64))?)?;
                            Ok(())
                        })?;
                        Ok(done)
                    },
                )?;
                out.ops.push(summarize(Op::Set, &runs));
            }
            clear_cacache(&root)?;
            for (i, k) in keys.iter().enumerate() {
                cacache::write_sync(&root, k, codec.encode_value(&value(i as u64))?)?;
            }
            per_item_disk(&mut out, dir.path(), &["codec"], n)?;
            if params.wants(Op::Get) {
                let runs = reps(
                    params,
                    || Ok(()),
                    || {
                        let (done, _) = timed_loop(n, budget, |i| -> Result<()> {
                            black_box(decode(&cacache::read_sync(&root, &keys[i])?)?);
                            Ok(())
                        })?;
                        Ok(done)
                    },
                )?;
                out.ops.push(summarize(Op::Get, &runs));
            }
            if params.wants(Op::Iterate) {
                let runs = reps(
                    params,
                    || Ok(()),
                    || {
                        let mut count = 0;
                        for entry in cacache::list_sync(&root) {
                            let entry = entry?;
                            black_box(decode(&cacache::read_hash_sync(&root, &entry.integrity)?)?);
                            count += 1;
                        }
                        Ok(count)
                    },
                )?;
                out.ops.push(summarize(Op::Iterate, &runs));
            }
        }
        Kind::CachedRedb => {
            // Durable by default: each `cache_set` is one redb commit that syncs.
            let writes: RedbCache<String, O> =
                RedbCache::builder("set").disk_dir(dir.path().join("cached-set")).build()?;
            if params.wants(Op::Set) {
                let runs = reps(
                    params,
                    || Ok(writes.cache_clear()?),
                    || {
                        let (done, _) = timed_loop(n, budget, |i| -> Result<()> {
                            writes.cache_set_ref(&keys[i], &owned_values[i])?;
                            Ok(())
                        })?;
                        Ok(done)
                    },
                )?;
                out.ops.push(summarize(Op::Set, &runs));
            }
            drop(writes);
            // Reads from a store filled without a sync per item (the reads are the same).
            let reads: RedbCache<String, O> =
                RedbCache::builder("get").disk_dir(dir.path().join("cached-get")).durable(false).build()?;
            for (k, v) in keys.iter().zip(&owned_values) {
                reads.cache_set_ref(k, v)?;
            }
            reads.flush()?;
            per_item_disk(&mut out, &dir.path().join("cached-get"), &[], n)?;
            if params.wants(Op::Get) {
                let runs = reps(
                    params,
                    || Ok(()),
                    || {
                        let (done, _) = timed_loop(n, budget, |i| -> Result<()> {
                            match reads.cache_get(&keys[i])? {
                                Some(v) => {
                                    black_box(v);
                                    Ok(())
                                }
                                None => Err(format!("cache_get({}) found nothing", keys[i]).into()),
                            }
                        })?;
                        Ok(done)
                    },
                )?;
                out.ops.push(summarize(Op::Get, &runs));
            }
        }
        Kind::Stash | Kind::Python => return Err("not a baseline".into()),
    }
    Ok(out)
}

fn clear_cacache(root: &Path) -> Result<()> {
    match std::fs::remove_dir_all(root) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Bytes per item under `dir`, leaving out its sub-folders named in `except`.
fn per_item_disk(out: &mut CellResult, dir: &Path, except: &[&str], n: usize) -> Result<()> {
    let (mut apparent, mut allocated) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if except.iter().any(|e| entry.file_name() == *e) {
            continue;
        }
        let u = disk_usage(&entry.path())?;
        apparent += u.apparent;
        allocated += u.allocated;
    }
    out.disk_apparent = Some(apparent as f64 / n as f64);
    out.disk_allocated = Some(allocated as f64 / n as f64);
    Ok(())
}
