//! `--vs-python`: the same workload through the Python library (1.2.0),
//! driven by `benches/python/bench_matrix.py` (adapted from the shared
//! `bench_hashstash.py`: the same record, timing and disk walk, plus the
//! matrix's sizes and operations).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::{CellResult, CellSpec, Kind, Op, OpResult, Options, Result, SizeClass};

/// The Python engines the matrix compares (those both libraries have).
pub const PY_ENGINES: [&str; 4] = ["pairtree", "memory", "lmdb", "sqlite"];

/// The Python compressors (no zstd in the Python library).
pub const PY_COMPRESSORS: [&str; 6] = ["raw", "lz4", "blosc", "zlib", "gzip", "bz2"];

/// The Python serializer compared with a Rust one: `postcard` plays the part
/// of `pickle` (the compact binary format); `json` has no Python counterpart.
pub fn python_serializer(rust: &str) -> Option<&'static str> {
    match rust {
        "hashstash" => Some("hashstash"),
        "msgpack" => Some("msgpack"),
        "postcard" => Some("pickle"),
        _ => None,
    }
}

/// The Rust serializer a Python row is compared with.
pub fn rust_serializer(python: &str) -> &str {
    match python {
        "pickle" => "postcard",
        other => other,
    }
}

/// The script, in this crate's `python/` folder.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python").join("bench_matrix.py")
}

#[derive(Deserialize)]
struct Row {
    engine: String,
    serializer: String,
    compress: String,
    size: SizeClass,
    n: usize,
    #[serde(default)]
    ops: Vec<(Op, f64, usize)>,
    value_bytes: Option<f64>,
    disk_apparent: Option<f64>,
    disk_allocated: Option<f64>,
    #[serde(default)]
    notes: Vec<String>,
    error: Option<String>,
}

/// What the Python side will run for `options` on `engines`, and what it skips.
pub fn plan(options: &Options, engines: &[String]) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let mut notes = Vec::new();
    let py_engines: Vec<String> =
        engines.iter().filter(|e| PY_ENGINES.contains(&e.as_str())).cloned().collect();
    for e in engines.iter().filter(|e| !PY_ENGINES.contains(&e.as_str())) {
        notes.push(format!("python: no `{e}` row (not compared)"));
    }
    let mut sers = Vec::new();
    for s in &options.serializers {
        match python_serializer(s) {
            Some(p) => sers.push(p.to_string()),
            None => notes.push(format!("python: serializer `{s}` has no Python counterpart")),
        }
    }
    let comps: Vec<String> =
        options.compressors.iter().filter(|c| PY_COMPRESSORS.contains(&c.as_str())).cloned().collect();
    for c in options.compressors.iter().filter(|c| !PY_COMPRESSORS.contains(&c.as_str())) {
        notes.push(format!("python: compressor `{c}` does not exist in the Python library"));
    }
    (py_engines, sers, comps, notes)
}

/// Runs the Python side and returns its rows (kind [`Kind::Python`]) and notes.
/// `each` is called once per row as it arrives.
pub fn run(
    python: &Path,
    options: &Options,
    engines: &[String],
    mut each: impl FnMut(&CellResult),
) -> Result<(Vec<CellResult>, Vec<String>)> {
    let (py_engines, sers, comps, notes) = plan(options, engines);
    if py_engines.is_empty() || sers.is_empty() || comps.is_empty() {
        return Ok((Vec::new(), notes));
    }
    let params = options.params();
    let sizes: Vec<String> =
        options.sizes.iter().map(|s| format!("{}={}", s.name(), params.n_for(*s))).collect();
    let ops: Vec<&str> = options.ops.iter().map(|o| o.name()).collect();
    let mut cmd = Command::new(python);
    cmd.arg(script())
        .args(["--engines", &py_engines.join(",")])
        .args(["--serializers", &sers.join(",")])
        .args(["--compress", &comps.join(",")])
        .args(["--sizes", &sizes.join(",")])
        .args(["--ops", &ops.join(",")])
        .args(["--reps", &options.reps.to_string()])
        .args(["--budget-ms", &options.budget_ms.to_string()])
        .args(["--map-items", &options.map_items.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", python.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout from python")?;
    let mut rows = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Some(json) = line.strip_prefix("RESULT ") else { continue };
        let row: Row =
            serde_json::from_str(json).map_err(|e| format!("bad line from python: {e}: {json}"))?;
        let spec = CellSpec::new(Kind::Python, &row.engine, &row.serializer, &row.compress, row.size);
        let mut cell = CellResult::new(spec);
        cell.n = row.n;
        cell.ops =
            row.ops.into_iter().map(|(op, ops_per_s, items)| OpResult { op, ops_per_s, items }).collect();
        cell.value_bytes = row.value_bytes;
        cell.disk_apparent = row.disk_apparent;
        cell.disk_allocated = row.disk_allocated;
        cell.notes = row.notes;
        cell.error = row.error;
        each(&cell);
        rows.push(cell);
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("{} {} failed: {status}", python.display(), script().display()).into());
    }
    Ok((rows, notes))
}
