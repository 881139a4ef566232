//! The async row: [`CALLERS`] tokio tasks doing gets through the async API
//! against the same gets through the sync API on as many OS threads (same
//! stash, same keys, same duration), on lmdb and, when `HASHSTASH_REDIS_URL`
//! is set, on redis; reported with the ratio async/sync and the goal of each
//! engine (issue 18: async redis at least twice the sync pool, embedded within
//! 20% of sync).

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use hashstash::{AsyncStashExt, HashStash};
use serde::{Deserialize, Serialize};

use super::measure::{median, rate};
use super::payload::{pool, record_at};
use super::stash_cell::open;
use super::{CellSpec, Op, Options, Params, Result, SizeClass, server_url_var};
use crate::{Record, key};

/// Concurrent callers: tokio tasks on one side, OS threads on the other.
pub const CALLERS: usize = 64;
/// Keys written before the gets (record-sized values), read round-robin.
pub const KEYS: usize = 1000;
/// The engines of the row, in table order.
pub const ENGINES: [&str; 2] = ["lmdb", "redis"];

/// One engine's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsyncRow {
    /// The engine.
    pub engine: String,
    /// Keys read (written first, untimed).
    pub keys: usize,
    /// Concurrent callers on each side.
    pub callers: usize,
    /// How long each side ran (per repetition).
    pub seconds: f64,
    /// Gets per second through the sync API on `callers` threads (median of the repetitions).
    pub sync_per_s: f64,
    /// Gets per second through the async API from `callers` tasks (median of the repetitions).
    pub async_per_s: f64,
    /// Why the row has no figures.
    pub error: Option<String>,
}

impl AsyncRow {
    /// A row that could not be measured.
    pub fn failed(engine: &str, error: String) -> AsyncRow {
        AsyncRow {
            engine: engine.into(),
            keys: KEYS,
            callers: CALLERS,
            seconds: 0.0,
            sync_per_s: f64::NAN,
            async_per_s: f64::NAN,
            error: Some(error),
        }
    }

    /// Async throughput over sync throughput.
    pub fn ratio(&self) -> f64 {
        self.async_per_s / self.sync_per_s
    }

    /// The ratio the engine should reach: 2× for a server engine (native async
    /// I/O against a pool of blocking connections), 0.8× for an embedded one
    /// (its calls hop to the blocking pool and back).
    pub fn goal(&self) -> f64 {
        if server_url_var(&self.engine).is_some() { 2.0 } else { 0.8 }
    }
}

/// The engines the row runs on for this matrix run (those of `ENGINES` the
/// plan has, when gets are measured and cells run), and a note for each left out.
pub fn engines(options: &Options, planned: &[String]) -> (Vec<String>, Vec<String>) {
    let mut run = Vec::new();
    let mut notes = Vec::new();
    if options.only_scale || !options.ops.contains(&Op::Get) {
        return (run, notes);
    }
    for engine in ENGINES {
        if planned.iter().any(|e| e == engine) {
            run.push(engine.to_string());
        } else if let Some(var) = server_url_var(engine)
            && std::env::var_os(var).is_none()
            && options.engines.as_ref().is_none_or(|w| w.iter().any(|e| e == engine))
        {
            notes.push(format!(
                "async row: {engine} skipped, {var} is not set (cargo xtask bench --services)"
            ));
        }
    }
    (run, notes)
}

/// How long each side runs per repetition: 1 s with `--quick`, else 3 s.
pub fn duration(quick: bool) -> Duration {
    Duration::from_secs(if quick { 1 } else { 3 })
}

/// Measures one engine's row (errors land in the row).
pub fn run(engine: &str, params: &Params, each: Duration) -> AsyncRow {
    measure(engine, params, each).unwrap_or_else(|e| AsyncRow::failed(engine, e.to_string()))
}

fn measure(engine: &str, params: &Params, each: Duration) -> Result<AsyncRow> {
    let spec = CellSpec::stash(engine, "hashstash", "lz4", SizeClass::Record);
    let stash = open(&spec, &params.work_dir.join(format!("async-{engine}")))?;
    let records = pool();
    stash.update((0..KEYS as u64).map(|i| (key(i), record_at(records, i))))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (mut sync, mut async_) = (Vec::new(), Vec::new());
    for _ in 0..params.reps.max(1) {
        sync.push(sync_gets(&stash, each)?);
        async_.push(runtime.block_on(async_gets(&stash, each))?);
    }
    stash.clear()?;
    Ok(AsyncRow {
        engine: engine.into(),
        keys: KEYS,
        callers: CALLERS,
        seconds: each.as_secs_f64(),
        sync_per_s: median(&sync),
        async_per_s: median(&async_),
        error: None,
    })
}

/// The key caller `c` reads at its `i`-th get: each caller walks all keys from its own start.
fn key_of(c: usize, i: usize) -> String {
    key(((c * KEYS / CALLERS + i) % KEYS) as u64)
}

/// Gets per second of [`CALLERS`] threads on the sync API for `each`.
fn sync_gets(stash: &HashStash, each: Duration) -> Result<f64> {
    let start = Barrier::new(CALLERS + 1);
    let (done, took) = std::thread::scope(|s| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|c| {
                let start = &start;
                s.spawn(move || -> Result<usize> {
                    start.wait();
                    let deadline = Instant::now() + each;
                    let mut done = 0;
                    while Instant::now() < deadline {
                        let found: Option<Record> = stash.get(&key_of(c, done))?;
                        black_box(found.ok_or("a written key was not found")?);
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        let done: Vec<_> = callers.into_iter().map(|t| t.join()).collect();
        (done, began.elapsed())
    });
    let mut total = 0;
    for d in done {
        total += d.map_err(|_| "a sync caller panicked")??;
    }
    Ok(rate(total, took))
}

/// Gets per second of [`CALLERS`] tokio tasks on the async API for `each`.
async fn async_gets(stash: &HashStash, each: Duration) -> Result<f64> {
    let cache = stash.asynchronous();
    let began = Instant::now();
    let deadline = began + each;
    let tasks: Vec<_> = (0..CALLERS)
        .map(|c| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let mut done = 0;
                while Instant::now() < deadline {
                    let found: Option<Record> = cache.get(&key_of(c, done)).await?;
                    black_box(found.ok_or("a written key was not found")?);
                    done += 1;
                }
                Ok::<usize, super::BoxError>(done)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(rate(total, began.elapsed()))
}

/// The row's table (header first).
pub fn rows(rows: &[AsyncRow]) -> Vec<Vec<String>> {
    use super::report::{fmt_rate, fmt_ratio};
    let mut out = vec![
        ["async", "callers", "keys", "sync gets/s (threads)", "async gets/s (tasks)", "async/sync", "goal"]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    ];
    for r in rows {
        if let Some(e) = &r.error {
            let short: String = e.lines().next().unwrap_or("").chars().take(100).collect();
            out.push(vec![
                r.engine.clone(),
                r.callers.to_string(),
                r.keys.to_string(),
                format!("ERROR: {short}"),
            ]);
            continue;
        }
        let met = if r.ratio() >= r.goal() { "met" } else { "missed" };
        out.push(vec![
            r.engine.clone(),
            r.callers.to_string(),
            r.keys.to_string(),
            fmt_rate(r.sync_per_s),
            fmt_rate(r.async_per_s),
            fmt_ratio(r.ratio()),
            format!("≥ {} ({met})", fmt_ratio(r.goal())),
        ]);
    }
    out
}

/// The legend of the table in `matrix.md`.
pub const LEGEND: &str = "Gets of record-sized values (hashstash+lz4) from 64 callers at once, for the same \
time on the same stash and keys: 64 OS threads on the sync API against 64 tokio tasks (a multi-thread runtime, \
a worker per core) on the async API. Goals: async redis at least 2× the sync pool (native async I/O), an \
embedded engine within 20% of sync (0.8×: its calls hop to tokio's blocking pool).\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn row(engine: &str, sync_per_s: f64, async_per_s: f64) -> AsyncRow {
        AsyncRow {
            sync_per_s,
            async_per_s,
            error: None,
            seconds: 1.0,
            ..AsyncRow::failed(engine, String::new())
        }
    }

    #[test]
    fn the_table_shows_the_ratio_against_each_engines_goal() {
        let table = rows(&[
            row("lmdb", 100_000.0, 90_000.0),
            row("redis", 20_000.0, 30_000.0),
            AsyncRow::failed("redis", "down".into()),
        ]);
        assert_eq!(table.len(), 4);
        assert_eq!(table[1][3..], ["100k", "90.0k", "0.90×", "≥ 0.80× (met)"]);
        assert_eq!(table[2][3..], ["20.0k", "30.0k", "1.50×", "≥ 2.00× (missed)"]);
        assert_eq!(table[3][3], "ERROR: down");
    }

    #[test]
    fn the_row_runs_on_lmdb_and_notes_a_redis_without_its_url() {
        let options = Options::parse(["--quick".to_string()]).unwrap();
        let (run, notes) = engines(&options, &["memory".into(), "lmdb".into()]);
        assert_eq!(run, ["lmdb"]);
        if std::env::var_os("HASHSTASH_REDIS_URL").is_none() {
            assert!(notes.iter().any(|n| n.contains("redis skipped")), "{notes:?}");
        }
        let only_sets = Options::parse(["--op".to_string(), "set".to_string()]).unwrap();
        assert!(engines(&only_sets, &["lmdb".into()]).0.is_empty(), "no gets, no row");
    }

    #[test]
    fn a_short_lmdb_row_measures_both_sides() {
        let dir = tempfile::tempdir().unwrap();
        let params = Params {
            n: 6,
            reps: 1,
            budget_ms: 50,
            map_items: 3,
            ops: vec![Op::Get],
            work_dir: dir.path().into(),
        };
        let r = run("lmdb", &params, Duration::from_millis(200));
        assert_eq!(r.error, None);
        assert!(r.sync_per_s > 0.0 && r.async_per_s > 0.0, "{r:?}");
        assert!(r.ratio().is_finite());
    }
}
