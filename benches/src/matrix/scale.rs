//! The scale rows: many small entries on one engine, showing that `len()`,
//! a `get` and a full iteration stay fast and that iterating does not grow
//! memory with the number of entries.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::measure::{disk_usage, median, proc_status_kib, rate};
use super::stash_cell::open;
use super::{CellSpec, Params, Result, SizeClass};
use crate::key;

/// A small entry (about 30 bytes as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Small {
    /// Index.
    pub id: u64,
    /// `name-{i}`.
    pub name: String,
}

/// Names the `hashstash` command-line binary whose `info` each scale row times
/// (`cargo xtask bench` builds it and sets this when the scale rows run).
pub const CLI_ENV: &str = "HASHSTASH_BENCH_CLI";

/// The serializer and compressor of the scale rows: the defaults.
pub const SCALE_CODEC: (&str, &str) = ("hashstash", "lz4");

/// One scale row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleResult {
    /// The engine.
    pub engine: String,
    /// Entries written.
    pub n: usize,
    /// Items per commit while writing.
    pub batch: usize,
    /// Writes per second (batches of `batch`).
    pub write_per_s: f64,
    /// What `len()` returned.
    pub len: usize,
    /// Time of `len()` in milliseconds.
    pub len_ms: f64,
    /// Median time of a `get` of a random stored key, microseconds (1,000 gets).
    pub get_us: f64,
    /// Items per second of a full `items()` pass.
    pub iterate_per_s: f64,
    /// Seconds of the full pass.
    pub iterate_s: f64,
    /// `RssAnon` (heap, KiB) before the pass.
    pub anon_before_kib: Option<u64>,
    /// Largest `RssAnon` seen during the pass (sampled every 10,000 items).
    pub anon_max_kib: Option<u64>,
    /// `VmRSS` (KiB, includes file pages mapped by LMDB) before the pass.
    pub rss_before_kib: Option<u64>,
    /// Largest `VmRSS` seen during the pass.
    pub rss_max_kib: Option<u64>,
    /// Bytes on disk per entry, apparent.
    pub disk_apparent: f64,
    /// Bytes on disk per entry, allocated.
    pub disk_allocated: f64,
    /// Wall time of `hashstash info <stash>` (the command-line tool, a process of its
    /// own, start-up included) in milliseconds, when [`CLI_ENV`] names the binary.
    #[serde(default)]
    pub info_ms: Option<f64>,
    /// The error that stopped the row, if any.
    pub error: Option<String>,
}

/// Writes `n` small entries to `engine` in batches, then measures `len()`,
/// gets and a full iteration.
pub fn run(engine: &str, n: usize, params: &Params) -> Result<ScaleResult> {
    std::fs::create_dir_all(&params.work_dir)?;
    let dir = tempfile::tempdir_in(&params.work_dir)?;
    let spec = CellSpec::stash(engine, SCALE_CODEC.0, SCALE_CODEC.1, SizeClass::Record);
    let stash = open(&spec, dir.path())?;
    let batch = if engine == "pairtree" { 1_000 } else { 10_000 };
    let start = Instant::now();
    let mut lo = 0;
    while lo < n {
        let hi = (lo + batch).min(n);
        let mut b = stash.batch();
        for i in lo..hi {
            b.set(&key(i as u64), &Small { id: i as u64, name: format!("name-{i}") })?;
        }
        b.commit()?;
        lo = hi;
    }
    stash.flush()?;
    let write_per_s = rate(n, start.elapsed());

    let start = Instant::now();
    let len = stash.len()?;
    let len_ms = start.elapsed().as_secs_f64() * 1e3;
    if len != n {
        return Err(format!("len() is {len} after writing {n}").into());
    }

    let mut times = Vec::with_capacity(1000);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..1000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % n as u64;
        let start = Instant::now();
        let v: Option<Small> = stash.get(&key(i))?;
        times.push(start.elapsed().as_secs_f64() * 1e6);
        if v.map(|s| s.id) != Some(i) {
            return Err(format!("get(key{i}) did not return entry {i}").into());
        }
    }
    let get_us = median(&times);

    let anon_before = proc_status_kib("RssAnon");
    let rss_before = proc_status_kib("VmRSS");
    let (mut anon_max, mut rss_max) = (anon_before, rss_before);
    let start = Instant::now();
    let mut count = 0;
    for item in stash.items::<String, Small>()? {
        black_box(item?);
        count += 1;
        if count % 10_000 == 0 {
            anon_max = anon_max.max(proc_status_kib("RssAnon"));
            rss_max = rss_max.max(proc_status_kib("VmRSS"));
        }
    }
    let iterate_s = start.elapsed().as_secs_f64();
    if count != n {
        return Err(format!("items() yielded {count} of {n}").into());
    }
    let usage = disk_usage(stash.path().parent().unwrap_or(stash.path()))?;
    let info_ms = match std::env::var_os(CLI_ENV) {
        Some(cli) if engine != "memory" => Some(time_info(Path::new(&cli), stash.path())?),
        _ => None,
    };
    drop(stash);
    Ok(ScaleResult {
        engine: engine.to_string(),
        n,
        batch,
        write_per_s,
        len,
        len_ms,
        get_us,
        iterate_per_s: n as f64 / iterate_s.max(1e-9),
        iterate_s,
        anon_before_kib: anon_before,
        anon_max_kib: anon_max,
        rss_before_kib: rss_before,
        rss_max_kib: rss_max,
        disk_apparent: usage.apparent as f64 / n as f64,
        disk_allocated: usage.allocated as f64 / n as f64,
        info_ms,
        error: None,
    })
}

/// Runs `cli info <stash>` and returns its wall time in milliseconds (an error if it fails).
fn time_info(cli: &Path, stash: &Path) -> Result<f64> {
    let start = Instant::now();
    let out = Command::new(cli).arg("info").arg(stash).output()?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        return Err(
            format!("`{} info` failed: {}", cli.display(), String::from_utf8_lossy(&out.stderr)).into()
        );
    }
    Ok(ms)
}

impl ScaleResult {
    /// A failed row.
    pub fn failed(engine: &str, n: usize, error: impl Into<String>) -> ScaleResult {
        ScaleResult {
            engine: engine.to_string(),
            n,
            batch: 0,
            write_per_s: f64::NAN,
            len: 0,
            len_ms: f64::NAN,
            get_us: f64::NAN,
            iterate_per_s: f64::NAN,
            iterate_s: f64::NAN,
            anon_before_kib: None,
            anon_max_kib: None,
            rss_before_kib: None,
            rss_max_kib: None,
            disk_apparent: f64::NAN,
            disk_allocated: f64::NAN,
            info_ms: None,
            error: Some(error.into()),
        }
    }
}
