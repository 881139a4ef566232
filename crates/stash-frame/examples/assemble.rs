//! Times `assemble_df` over N ten-field records (nested one level) in a memory
//! stash, and measures the peak memory it adds next to the DataFrame's own size.
//! `crates/stash-frame/examples/assemble.py` runs the same workload through the
//! Python library, for a side-by-side ratio:
//!
//! ```text
//! cargo run --release -p stash-frame --example assemble -- 100000
//! python3 crates/stash-frame/examples/assemble.py 100000   # in a venv with hashstash==1.2.0
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use stash_core::{Stash, StashConfig};
use stash_frame::{FrameOptions, StashFrame};
use stash_serial::Value;

/// The record of row `i`: six top-level fields and four under `etc`.
fn record(i: u64) -> BTreeMap<&'static str, Value> {
    let f = |x: u64| (x.wrapping_mul(2_654_435_761) % 10_000) as f64 / 100.0;
    let etc = Value::Map(vec![
        (Value::Str("city".into()), Value::Str(["Paris", "Oslo", "Rome", "Lima"][(i % 4) as usize].into())),
        (Value::Str("zip".into()), Value::Int((i % 90_000 + 10_000) as i64)),
        (Value::Str("lat".into()), Value::Float(f(i + 7))),
        (Value::Str("heaven".into()), Value::Bool(i.is_multiple_of(3))),
    ]);
    BTreeMap::from([
        ("name", Value::Str(format!("animal {i}"))),
        ("kind", Value::Str(["cat", "dog", "owl"][(i % 3) as usize].into())),
        ("age", Value::Int((i % 20) as i64)),
        ("weight", Value::Float(f(i))),
        ("good", Value::Bool(i.is_multiple_of(2))),
        ("score", Value::Float(f(i + 1))),
        ("etc", etc),
    ])
}

/// A line of /proc/self/status in kB (Linux), or 0.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let mut cfg = StashConfig::default();
    cfg.root_dir = dir.path().into();
    cfg.engine = "memory".into();
    cfg.compress = stash_core::Compression::Raw;
    let stash = Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
    stash.update((0..n).map(|i| (format!("Animal {i}"), record(i))))?;

    let mut times = Vec::new();
    let mut shape = (0, 0);
    let mut df_bytes = 0;
    let mut added_kb = 0;
    for round in 0..3 {
        // Reset the peak-RSS mark, so VmHWM afterwards is this assembly's peak.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = status_kb("VmRSS:");
        let start = Instant::now();
        let df = stash.df_with(FrameOptions::new())?;
        times.push(start.elapsed().as_secs_f64());
        // Only the first round is honest: later ones reuse pages the allocator kept.
        if round == 0 {
            added_kb = status_kb("VmHWM:").saturating_sub(before);
        }
        shape = df.shape();
        df_bytes = df.estimated_size();
        drop(df);
    }
    times.sort_by(f64::total_cmp);
    let median = times[1];
    println!("rows\t{}\ncolumns\t{}", shape.0, shape.1);
    println!("assemble_df_seconds\t{median:.4}");
    println!("rows_per_second\t{:.0}", n as f64 / median);
    println!("dataframe_bytes\t{df_bytes}");
    println!("peak_added_bytes\t{}", added_kb * 1024);
    println!("peak_over_dataframe\t{:.2}", (added_kb * 1024) as f64 / df_bytes.max(1) as f64);
    Ok(())
}
