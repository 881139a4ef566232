//! The scale rows: many small entries on one engine, showing that `len()`,
//! a `get` and a full iteration stay fast and that iterating does not grow
//! memory with the number of entries. Each engine the matrix runs gets a row
//! ([`default_n`] entries: a million on the embedded engines, 100,000 on
//! pairtree and the servers).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use hashstash::HashStash;

use super::measure::{disk_usage, median, proc_status_kib, rate};
use super::stash_cell::open;
use super::{CellSpec, Params, Result, SizeClass, server_url_var};
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

/// Random `get`s timed per row (their median and 99th percentile are reported;
/// the report's legend names the number).
pub const GETS: usize = 2_000;

/// Entries of `engine`'s scale row unless `--scale-n-<engine>` says otherwise:
/// 100,000 on pairtree (two files and up to four folders per entry, a few
/// thousand writes a second) and on the servers (each entry crosses the
/// network and lives in the server's memory), a million elsewhere.
pub fn default_n(engine: &str) -> usize {
    match engine {
        "pairtree" | "redis" | "mongo" => 100_000,
        _ => 1_000_000,
    }
}

/// Items per commit while loading `engine`'s row.
pub fn batch_size(engine: &str) -> usize {
    if engine == "pairtree" { 1_000 } else { 10_000 }
}

/// Why `engine`'s entries have no bytes on this machine's disk (`None`: they do).
pub fn not_on_disk(engine: &str) -> Option<&'static str> {
    if engine == "memory" {
        Some("in memory")
    } else if server_url_var(engine).is_some() {
        Some("on the server")
    } else {
        None
    }
}

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
    #[serde(deserialize_with = "nan_if_null")]
    pub write_per_s: f64,
    /// Seconds the load took (every batch, then a `flush`).
    #[serde(default, deserialize_with = "nan_if_null")]
    pub load_s: f64,
    /// What `len()` returned.
    pub len: usize,
    /// Time of `len()` in milliseconds.
    #[serde(deserialize_with = "nan_if_null")]
    pub len_ms: f64,
    /// Median time of a `get` of a random stored key, microseconds ([`GETS`] gets).
    #[serde(deserialize_with = "nan_if_null")]
    pub get_us: f64,
    /// 99th percentile of the same gets, microseconds.
    #[serde(default, deserialize_with = "nan_if_null")]
    pub get_p99_us: f64,
    /// Items per second of a full `items()` pass.
    #[serde(deserialize_with = "nan_if_null")]
    pub iterate_per_s: f64,
    /// Seconds of the full pass.
    #[serde(deserialize_with = "nan_if_null")]
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
    #[serde(deserialize_with = "nan_if_null")]
    pub disk_apparent: f64,
    /// Bytes on disk per entry, allocated.
    #[serde(deserialize_with = "nan_if_null")]
    pub disk_allocated: f64,
    /// Why there are no bytes on disk to count ([`not_on_disk`]); the disk
    /// columns are then NaN.
    #[serde(default)]
    pub disk_note: Option<String>,
    /// For redis: the growth of the server's `used_memory` (`INFO memory`, read
    /// with `redis-cli`) over the load, per entry. Other clients of the same
    /// server add their own writes to it.
    #[serde(default)]
    pub server_bytes: Option<f64>,
    /// Wall time of `hashstash info <stash>` (the command-line tool, a process of its
    /// own, start-up included) in milliseconds, when [`CLI_ENV`] names the binary.
    #[serde(default)]
    pub info_ms: Option<f64>,
    /// The error that stopped the row, if any.
    pub error: Option<String>,
}

/// Writes `n` small entries to `engine` in batches, then measures `len()`,
/// random gets and a full iteration. A server stash is cleared afterwards
/// (also when a measurement failed), so the row leaves nothing behind.
/// When [`CLI_ENV`] names the command-line binary, `hashstash info` is timed
/// on the row's stash too (not for memory, which no other process can see).
pub fn run(engine: &str, n: usize, params: &Params) -> Result<ScaleResult> {
    let cli = std::env::var_os(CLI_ENV).filter(|_| engine != "memory");
    run_with_cli(engine, n, params, cli.as_deref().map(Path::new))
}

/// [`run`], timing `cli info` on the stash when `cli` is given.
fn run_with_cli(engine: &str, n: usize, params: &Params, cli: Option<&Path>) -> Result<ScaleResult> {
    std::fs::create_dir_all(&params.work_dir)?;
    let dir = tempfile::tempdir_in(&params.work_dir)?;
    let spec = CellSpec::stash(engine, SCALE_CODEC.0, SCALE_CODEC.1, SizeClass::Record);
    let stash = open(&spec, dir.path())?;
    let measured = measure(&stash, engine, n);
    let info_args = info_args(&stash, engine);
    if server_url_var(engine).is_some() {
        // The server keeps the entries: `info` reads them before the clear.
        let info = cli.map(|cli| time_info(cli, &info_args));
        let cleared = stash.clear();
        let mut result = measured?;
        cleared?;
        result.info_ms = info.transpose()?;
        // The server's memory after the clear is the baseline nothing of this row is in.
        if let (Some(per_entry), Some(after)) = (result.server_bytes, redis_used_memory(engine)) {
            result.server_bytes = Some(per_entry - after as f64 / n as f64);
        }
        return Ok(result);
    }
    // `info` is another process: it opens the stash after this one closes it, as
    // an engine holding an exclusive lock on its files (sled) requires.
    drop(stash);
    let mut result = measured?;
    result.info_ms = cli.map(|cli| time_info(cli, &info_args)).transpose()?;
    Ok(result)
}

fn measure(stash: &HashStash, engine: &str, n: usize) -> Result<ScaleResult> {
    let batch = batch_size(engine);
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
    let load = start.elapsed();
    // Used memory with the entries in; `run` subtracts what is left after the clear.
    let server_bytes = redis_used_memory(engine).map(|b| b as f64 / n as f64);

    let start = Instant::now();
    let len = stash.len()?;
    let len_ms = start.elapsed().as_secs_f64() * 1e3;
    if len != n {
        return Err(format!("len() is {len} after writing {n}").into());
    }

    let mut times = Vec::with_capacity(GETS);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..GETS {
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
    let disk_note = not_on_disk(engine);
    let (disk_apparent, disk_allocated) = match disk_note {
        Some(_) => (f64::NAN, f64::NAN),
        None => {
            let usage = disk_usage(stash.path().parent().unwrap_or(stash.path()))?;
            (usage.apparent as f64 / n as f64, usage.allocated as f64 / n as f64)
        }
    };
    Ok(ScaleResult {
        engine: engine.to_string(),
        n,
        batch,
        write_per_s: rate(n, load),
        load_s: load.as_secs_f64(),
        len,
        len_ms,
        get_us: median(&times),
        get_p99_us: percentile(&times, 99.0),
        iterate_per_s: n as f64 / iterate_s.max(1e-9),
        iterate_s,
        anon_before_kib: anon_before,
        anon_max_kib: anon_max,
        rss_before_kib: rss_before,
        rss_max_kib: rss_max,
        disk_apparent,
        disk_allocated,
        disk_note: disk_note.map(str::to_string),
        server_bytes,
        // Timed by `run` once the stash is closed.
        info_ms: None,
        error: None,
    })
}

/// The `p`th percentile of `values` (nearest rank, NaNs left out); NaN when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = (p / 100.0 * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The redis server's `used_memory` in bytes, when `engine` is redis, its URL is
/// set and `redis-cli` can read it; `None` otherwise.
fn redis_used_memory(engine: &str) -> Option<u64> {
    if engine != "redis" {
        return None;
    }
    let url = std::env::var(server_url_var(engine)?).ok()?;
    let out = Command::new("redis-cli").args(["-u", &url, "info", "memory"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}

/// What follows `hashstash info` to name the row's stash: its path, or for a
/// server its URL and what makes up its namespace (root, dbname, codec).
fn info_args(stash: &HashStash, engine: &str) -> Vec<std::ffi::OsString> {
    let url = server_url_var(engine).and_then(std::env::var_os);
    let Some(url) = url else { return vec![stash.path().into()] };
    let config = stash.config();
    let mut args = vec![url, "--root".into(), config.root_dir.clone().into(), "--dbname".into()];
    args.push(config.dbname.clone().into());
    for arg in ["--serializer", SCALE_CODEC.0, "--compress", SCALE_CODEC.1] {
        args.push(arg.into());
    }
    args
}

/// Reads a number that JSON could not hold as NaN: `serde_json` writes NaN as
/// `null`, and a row's child process sends NaN for what it did not measure.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Runs `cli info <args>` and returns its wall time in milliseconds (an error if it fails).
fn time_info(cli: &Path, args: &[std::ffi::OsString]) -> Result<f64> {
    let start = Instant::now();
    let out = Command::new(cli).arg("info").args(args).output()?;
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
            load_s: f64::NAN,
            len: 0,
            len_ms: f64::NAN,
            get_us: f64::NAN,
            get_p99_us: f64::NAN,
            iterate_per_s: f64::NAN,
            iterate_s: f64::NAN,
            anon_before_kib: None,
            anon_max_kib: None,
            rss_before_kib: None,
            rss_max_kib: None,
            disk_apparent: f64::NAN,
            disk_allocated: f64::NAN,
            disk_note: None,
            server_bytes: None,
            info_ms: None,
            error: Some(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_takes_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&[5.0, f64::NAN, 1.0], 99.0), 5.0);
        assert_eq!(percentile(&[3.0], 1.0), 3.0);
        assert!(percentile(&[], 99.0).is_nan());
    }

    #[test]
    fn a_row_with_nan_survives_json() -> Result<()> {
        let row = ScaleResult::failed("memory", 3, "broke");
        let back: ScaleResult = serde_json::from_str(&serde_json::to_string(&row)?)?;
        assert!(back.disk_apparent.is_nan() && back.get_p99_us.is_nan());
        assert_eq!(back.error.as_deref(), Some("broke"));
        Ok(())
    }

    /// sled holds an exclusive `flock` on its `db` file while open: the row's
    /// `info` process, here a stand-in taking that lock, must run once the
    /// row's own stash is closed (it failed with "locked" on a full run).
    #[test]
    fn info_runs_after_the_rows_stash_is_closed() -> Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir()?;
        let cli = dir.path().join("info-stand-in");
        // Called as `cli info <stash path>`.
        std::fs::write(&cli, "#!/bin/sh\nexec flock --nonblock --exclusive \"$2/db\" true\n")?;
        std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755))?;
        let params = Params {
            n: 10,
            reps: 1,
            budget_ms: 50,
            map_items: 1,
            ops: Vec::new(),
            work_dir: dir.path().join("work"),
        };
        let row = run_with_cli("sled", 50, &params, Some(&cli))?;
        assert!(row.info_ms.is_some_and(|ms| ms > 0.0), "{row:?}");
        Ok(())
    }

    #[test]
    fn sizes_and_storage_per_engine() {
        assert_eq!(
            (default_n("sqlite"), default_n("pairtree"), default_n("mongo")),
            (1_000_000, 100_000, 100_000)
        );
        assert_eq!((batch_size("pairtree"), batch_size("sled")), (1_000, 10_000));
        assert_eq!(
            (not_on_disk("memory"), not_on_disk("redis"), not_on_disk("lmdb")),
            (Some("in memory"), Some("on the server"), None)
        );
    }
}
