//! A stash cell: every operation through the `hashstash` facade.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hashstash::{EngineKind, HashStash, StashRun};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::measure::{disk_usage, median, proc_status_kib, rate, timed_loop};
use super::payload::{self, doc_at, pool, record_at};
use super::{BoxError, CellResult, CellSpec, Op, OpResult, Params, Result, SET_THREADS, SizeClass};
use crate::{Record, key};

/// Items per commit of the `batch` operation.
pub(super) const BATCH: usize = 1000;

pub(super) fn run(spec: &CellSpec, params: &Params) -> Result<CellResult> {
    let records = pool();
    match spec.size {
        SizeClass::Record => {
            cell::<Record, _, _, _>(spec, params, |i| record_at(records, i), payload::make_record)
        }
        SizeClass::K10 => cell::<payload::Doc, _, _, _>(
            spec,
            params,
            |i| doc_at(records, i, payload::K10_RECORDS),
            payload::make_doc_10k,
        ),
        SizeClass::M1 => cell::<payload::Doc, _, _, _>(
            spec,
            params,
            |i| doc_at(records, i, payload::M1_RECORDS),
            payload::make_doc_1m,
        ),
    }
}

/// Opens the cell's stash in a fresh folder under the work dir.
pub(super) fn open(spec: &CellSpec, root: &std::path::Path) -> Result<HashStash> {
    let kind =
        EngineKind::from_name(&spec.engine).ok_or_else(|| format!("unknown engine {}", spec.engine))?;
    let factory = kind.factory().ok_or_else(|| format!("engine {} is not compiled in", spec.engine))?;
    Ok(HashStash::builder()
        .root_dir(root)
        .engine_factory(factory)
        .serializer(spec.serializer.as_str())
        .compress(spec.compress.as_str())
        .clear(true)
        .open()?)
}

/// Mean serialized size and stored/serialized ratio over up to 32 values.
pub(super) fn compression<F, V>(stash: &HashStash, n: usize, value: &F) -> Result<(f64, f64)>
where
    F: Fn(u64) -> V,
    V: Serialize,
{
    let step = (n / 32).max(1);
    let (mut plain, mut stored, mut count) = (0usize, 0usize, 0usize);
    for i in (0..n).step_by(step) {
        let v = value(i as u64);
        plain += hashstash::serialize(&v, stash.config().serializer)?.len();
        stored += stash.encode_value(&v)?.len();
        count += 1;
    }
    let count = count.max(1) as f64;
    Ok((plain as f64 / count, if plain > 0 { stored as f64 / plain as f64 } else { f64::NAN }))
}

/// Writes items `from..to` in batches of [`BATCH`] (untimed fill).
fn fill<F, V>(stash: &HashStash, keys: &[String], from: usize, to: usize, value: &F) -> Result<()>
where
    F: Fn(u64) -> V,
    V: Serialize,
{
    let mut lo = from;
    while lo < to {
        let hi = (lo + BATCH).min(to);
        let mut batch = stash.batch();
        for (i, k) in keys.iter().enumerate().take(hi).skip(lo) {
            batch.set(k, &value(i as u64))?;
        }
        batch.commit()?;
        lo = hi;
    }
    Ok(())
}

/// `set` of every key once from [`SET_THREADS`] threads (thread `t` takes keys
/// `t`, `t + SET_THREADS`, ...) until done or `budget` has passed; returns the
/// sets made.
fn set_from_threads<F, V>(stash: &HashStash, keys: &[String], budget: Duration, value: &F) -> Result<usize>
where
    F: Fn(u64) -> V + Sync,
    V: Serialize,
{
    let start = Instant::now();
    let counts = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SET_THREADS)
            .map(|t| {
                scope.spawn(move || -> Result<usize> {
                    let mut done = 0;
                    for i in (t..keys.len()).step_by(SET_THREADS) {
                        stash.set(&keys[i], &value(i as u64))?;
                        done += 1;
                        if start.elapsed() >= budget {
                            break;
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| -> BoxError { "a set-8threads thread panicked".into() })?)
            .collect::<Result<Vec<usize>>>()
    })?;
    Ok(counts.into_iter().sum())
}

fn cell<O, F, V, R>(spec: &CellSpec, params: &Params, value: F, func: R) -> Result<CellResult>
where
    O: Serialize + DeserializeOwned + Send + 'static,
    F: Fn(u64) -> V + Sync,
    V: Serialize,
    R: Fn(u64) -> O + Copy + Send + Sync + 'static,
{
    let n = params.n_for(spec.size);
    let budget = params.budget();
    let reps = params.reps.max(1);
    let dir = tempfile::tempdir_in(&params.work_dir)?;
    let stash = open(spec, dir.path())?;
    let keys: Vec<String> = (0..n as u64).map(key).collect();
    let mut out = CellResult::new(spec.clone());
    out.n = n;
    let (value_bytes, ratio) = compression(&stash, n, &value)?;
    out.value_bytes = Some(value_bytes);
    out.compression = Some(ratio);
    out.rss_before_kib = proc_status_kib("VmRSS");

    if params.wants(Op::Set) {
        let mut runs = Vec::new();
        for _ in 0..reps {
            stash.clear()?;
            let start = Instant::now();
            let (done, _) = timed_loop(n, budget, |i| stash.set(&keys[i], &value(i as u64)))?;
            stash.flush()?;
            runs.push((done, rate(done, start.elapsed())));
        }
        out.ops.push(summarize(Op::Set, &runs));
    }

    if params.wants(Op::SetThreads) {
        let mut runs = Vec::new();
        for _ in 0..reps {
            stash.clear()?;
            let start = Instant::now();
            let done = set_from_threads(&stash, &keys, budget, &value)?;
            stash.flush()?;
            runs.push((done, rate(done, start.elapsed())));
        }
        out.ops.push(summarize(Op::SetThreads, &runs));
    }

    let mut stored = 0;
    if params.wants(Op::Batch) {
        let mut runs = Vec::new();
        for _ in 0..reps {
            stash.clear()?;
            let start = Instant::now();
            let mut done = 0;
            while done < n {
                let hi = (done + BATCH).min(n);
                let mut batch = stash.batch();
                for (i, k) in keys.iter().enumerate().take(hi).skip(done) {
                    batch.set(k, &value(i as u64))?;
                }
                batch.commit()?;
                done = hi;
                if start.elapsed() >= budget {
                    break;
                }
            }
            stash.flush()?;
            runs.push((done, rate(done, start.elapsed())));
            stored = done;
        }
        out.ops.push(summarize(Op::Batch, &runs));
    } else {
        stash.clear()?;
    }
    fill(&stash, &keys, stored, n, &value)?;
    stash.flush()?;
    let len = stash.len()?;
    if len != n {
        return Err(format!("len() is {len} after writing {n} items").into());
    }
    if spec.engine != "memory" && super::server_url_var(&spec.engine).is_none() {
        // The stash's own folder (data.db and its siblings: WAL files, locks).
        let folder = stash.path().parent().unwrap_or(stash.path());
        let usage = disk_usage(folder)?;
        if usage.files > 0 {
            out.disk_apparent = Some(usage.apparent as f64 / n as f64);
            out.disk_allocated = Some(usage.allocated as f64 / n as f64);
        } else {
            out.notes.push("no files under the stash path (server engine?)".into());
        }
    }

    if params.wants(Op::Get) {
        let mut runs = Vec::new();
        for _ in 0..reps {
            let start = Instant::now();
            let (done, _) = timed_loop(n, budget, |i| -> Result<()> {
                let v: Option<O> = stash.get(&keys[i])?;
                if v.is_none() {
                    return Err(format!("get({}) found nothing", keys[i]).into());
                }
                black_box(v);
                Ok(())
            })?;
            runs.push((done, rate(done, start.elapsed())));
        }
        out.ops.push(summarize(Op::Get, &runs));
    }

    if params.wants(Op::Iterate) {
        let mut runs = Vec::new();
        for _ in 0..reps {
            let start = Instant::now();
            let mut count = 0;
            let mut complete = true;
            for item in stash.items::<String, O>()? {
                black_box(item?);
                count += 1;
                if count % 16 == 0 && count < n && start.elapsed() >= budget {
                    complete = false;
                    break;
                }
            }
            if complete && count != n {
                return Err(format!("items() yielded {count} of {n}").into());
            }
            runs.push((count, rate(count, start.elapsed())));
        }
        out.ops.push(summarize(Op::Iterate, &runs));
    }

    let m = params.map_items.min(n).max(1);
    if params.wants(Op::RunHit) {
        for i in 0..m {
            black_box(stash.run(func, (i as u64,))?);
        }
        let mut runs = Vec::new();
        for _ in 0..reps {
            let start = Instant::now();
            let (done, _) = timed_loop(m, budget, |i| -> Result<()> {
                black_box(stash.run(func, (i as u64,))?);
                Ok(())
            })?;
            runs.push((done, rate(done, start.elapsed())));
        }
        out.ops.push(summarize(Op::RunHit, &runs));
    }

    if params.wants(Op::Map) || params.wants(Op::MapWarm) {
        let mut cold = Vec::new();
        let mut inputs = Vec::new();
        for rep in 0..reps {
            let base = 1_000_000 * (rep as u64 + 1);
            inputs = (base..base + m as u64).collect::<Vec<u64>>();
            let start = Instant::now();
            let results = stash.map(func, inputs.clone())?.threads(2).progress(false).results()?;
            let elapsed = start.elapsed();
            check_map(&results, m)?;
            cold.push((m, rate(m, elapsed)));
        }
        if params.wants(Op::Map) {
            out.ops.push(summarize(Op::Map, &cold));
        }
        if params.wants(Op::MapWarm) {
            let mut warm = Vec::new();
            for _ in 0..reps {
                let start = Instant::now();
                let results = stash.map(func, inputs.clone())?.threads(2).progress(false).results()?;
                let elapsed = start.elapsed();
                check_map(&results, m)?;
                warm.push((m, rate(m, elapsed)));
            }
            out.ops.push(summarize(Op::MapWarm, &warm));
        }
    }
    drop(stash);
    Ok(out)
}

/// The median rate of repetitions `(items, ops/s)`, with the items of the
/// repetition closest to it.
pub(super) fn summarize(op: Op, runs: &[(usize, f64)]) -> OpResult {
    let rates: Vec<f64> = runs.iter().map(|r| r.1).collect();
    let mid = median(&rates);
    let items = runs.iter().min_by(|a, b| (a.1 - mid).abs().total_cmp(&(b.1 - mid).abs())).map_or(0, |r| r.0);
    OpResult { op, ops_per_s: mid, items }
}

fn check_map<O, E: std::fmt::Display>(results: &[std::result::Result<O, E>], m: usize) -> Result<()> {
    if results.len() != m {
        return Err(format!("map returned {} results for {m} inputs", results.len()).into());
    }
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        return Err(format!("map: {e}").into());
    }
    Ok(())
}
