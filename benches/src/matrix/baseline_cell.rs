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
use crate::baseline::open_raw;
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

/// When the cell wants `op`: runs `pass` once per repetition, each after an
/// untimed `reset`, and records the median of the `(items, items/s)` runs in `out`.
fn reps(
    out: &mut CellResult,
    op: Op,
    params: &Params,
    mut reset: impl FnMut() -> Result<()>,
    mut pass: impl FnMut() -> Result<usize>,
) -> Result<()> {
    if !params.wants(op) {
        return Ok(());
    }
    let mut runs = Vec::new();
    for _ in 0..params.reps.max(1) {
        reset()?;
        let start = Instant::now();
        let done = pass()?;
        runs.push((done, rate(done, start.elapsed())));
    }
    out.ops.push(summarize(op, &runs));
    Ok(())
}

/// [`reps`] with nothing to reset.
fn passes(out: &mut CellResult, op: Op, params: &Params, pass: impl FnMut() -> Result<usize>) -> Result<()> {
    reps(out, op, params, || Ok(()), pass)
}

/// [`reps`] of a [`timed_loop`] of `each` over the items, ended by `finish`
/// inside the timing.
fn per_item_reps(
    out: &mut CellResult,
    op: Op,
    params: &Params,
    n: usize,
    reset: impl FnMut() -> Result<()>,
    mut each: impl FnMut(usize) -> Result<()>,
    mut finish: impl FnMut() -> Result<()>,
) -> Result<()> {
    reps(out, op, params, reset, || {
        let (done, _) = timed_loop(n, params.budget(), &mut each)?;
        finish()?;
        Ok(done)
    })
}

/// [`per_item_reps`] with nothing to reset or finish.
fn per_item(
    out: &mut CellResult,
    op: Op,
    params: &Params,
    n: usize,
    each: impl FnMut(usize) -> Result<()>,
) -> Result<()> {
    per_item_reps(out, op, params, n, || Ok(()), each, || Ok(()))
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
            per_item(&mut out, Op::Set, params, n, |i| {
                black_box(codec.encode_value(&value(i as u64))?);
                Ok(())
            })?;
            per_item(&mut out, Op::Get, params, n, |i| {
                black_box(decode(&encoded[i])?);
                Ok(())
            })?;
        }
        Kind::Raw => {
            let store = open_raw(&spec.engine, dir.path())?;
            per_item_reps(
                &mut out,
                Op::Set,
                params,
                n,
                || store.clear(),
                |i| store.put(&keys[i], &codec.encode_value(&value(i as u64))?),
                || store.flush(),
            )?;
            store.clear()?;
            // Stores `pairs` in one transaction where the storage has them.
            let put_all = |pairs: &[(String, Vec<u8>)]| {
                store.put_all(&mut pairs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            };
            let mut stored = 0;
            reps(
                &mut out,
                Op::Batch,
                params,
                || store.clear(),
                || {
                    let start = Instant::now();
                    let mut done = 0;
                    while done < n {
                        let hi = (done + BATCH).min(n);
                        let pairs: Vec<(String, Vec<u8>)> = (done..hi)
                            .map(|i| Ok((keys[i].clone(), codec.encode_value(&value(i as u64))?)))
                            .collect::<Result<_>>()?;
                        put_all(&pairs)?;
                        done = hi;
                        if start.elapsed() >= budget {
                            break;
                        }
                    }
                    store.flush()?;
                    stored = done;
                    Ok(done)
                },
            )?;
            if stored < n {
                let pairs: Vec<(String, Vec<u8>)> = (stored..n)
                    .map(|i| Ok((keys[i].clone(), codec.encode_value(&value(i as u64))?)))
                    .collect::<Result<_>>()?;
                for chunk in pairs.chunks(BATCH) {
                    put_all(chunk)?;
                }
                store.flush()?;
            }
            if spec.engine != "memory" {
                per_item_disk(&mut out, dir.path(), &["codec"], n)?;
            }
            per_item(&mut out, Op::Get, params, n, |i| {
                // Decoded from the bytes the storage lends, as the stash decodes.
                let mut decoded = None;
                store.get(&keys[i], &mut |b| decoded = Some(decode(b)))?;
                match decoded {
                    Some(v) => {
                        black_box(v?);
                        Ok(())
                    }
                    None => Err(format!("raw get({}) found nothing", keys[i]).into()),
                }
            })?;
            passes(&mut out, Op::Iterate, params, || {
                let mut failed = None;
                let count = store.for_each(&mut |b| {
                    if let Err(e) = decode(b).map(black_box) {
                        failed = Some(e);
                    }
                })?;
                match failed {
                    Some(e) => Err(e),
                    None if count != n => Err(format!("raw iteration yielded {count} of {n}").into()),
                    None => Ok(count),
                }
            })?;
        }
        Kind::Cacache => {
            let root = dir.path().join("cacache");
            per_item_reps(
                &mut out,
                Op::Set,
                params,
                n,
                || clear_cacache(&root),
                |i| {
                    cacache::write_sync(&root, &keys[i], codec.encode_value(&value(i as u64))?)?;
                    Ok(())
                },
                || Ok(()),
            )?;
            clear_cacache(&root)?;
            for (i, k) in keys.iter().enumerate() {
                cacache::write_sync(&root, k, codec.encode_value(&value(i as u64))?)?;
            }
            per_item_disk(&mut out, dir.path(), &["codec"], n)?;
            per_item(&mut out, Op::Get, params, n, |i| {
                black_box(decode(&cacache::read_sync(&root, &keys[i])?)?);
                Ok(())
            })?;
            passes(&mut out, Op::Iterate, params, || {
                let mut count = 0;
                for entry in cacache::list_sync(&root) {
                    let entry = entry?;
                    black_box(decode(&cacache::read_hash_sync(&root, &entry.integrity)?)?);
                    count += 1;
                }
                Ok(count)
            })?;
        }
        Kind::CachedRedb => {
            // Durable by default: each `cache_set` is one redb commit that syncs.
            let writes: RedbCache<String, O> =
                RedbCache::builder("set").disk_dir(dir.path().join("cached-set")).build()?;
            per_item_reps(
                &mut out,
                Op::Set,
                params,
                n,
                || Ok(writes.cache_clear()?),
                |i| {
                    writes.cache_set_ref(&keys[i], &owned_values[i])?;
                    Ok(())
                },
                || Ok(()),
            )?;
            drop(writes);
            // Reads from a store filled without a sync per item (the reads are the same).
            let reads: RedbCache<String, O> =
                RedbCache::builder("get").disk_dir(dir.path().join("cached-get")).durable(false).build()?;
            for (k, v) in keys.iter().zip(&owned_values) {
                reads.cache_set_ref(k, v)?;
            }
            reads.flush()?;
            per_item_disk(&mut out, &dir.path().join("cached-get"), &[], n)?;
            per_item(&mut out, Op::Get, params, n, |i| match reads.cache_get(&keys[i])? {
                Some(v) => {
                    black_box(v);
                    Ok(())
                }
                None => Err(format!("cache_get({}) found nothing", keys[i]).into()),
            })?;
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
