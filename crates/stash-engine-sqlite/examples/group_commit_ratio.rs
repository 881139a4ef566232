//! How much group commit buys `set`s on sqlite: the time of `n` sets from
//! one thread against the same `n` split over eight threads, with the
//! default `synchronous=NORMAL` and with `durable` (`synchronous=FULL`, a
//! WAL sync per commit).
//!
//! ```text
//! cargo run --release -p stash-engine-sqlite --example group_commit_ratio -- [n] [dir] [rounds]
//! ```
//!
//! `dir` (default: the system's temporary folder) should be on the disk to
//! measure. Each of `rounds` rounds (default 3) times one thread and then
//! eight; the median ratio closes each setting. An ad-hoc measurement, not a
//! benchmark with statistics: run it a few times (the lmdb crate has the
//! same example for lmdb).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stash_core::testkit::threads::on_threads;
use stash_core::{Compression, Stash, StashConfig};
use stash_engine_sqlite::SqliteOptions;

const THREADS: usize = 8;

/// The time of `n` sets of a 500-byte string made by `threads` threads on a fresh stash under `root`.
fn sets(root: &Path, durable: bool, threads: usize, n: usize) -> Result<Duration, Box<dyn Error>> {
    let mut config = StashConfig::default();
    config.engine = "sqlite".into();
    config.root_dir = root.to_path_buf();
    config.compress = Compression::Raw;
    let stash = Stash::open(config, Arc::new(SqliteOptions::new().durable(durable)))?;
    let value = "x".repeat(500);
    let per_thread = n / threads;
    let start = Instant::now();
    on_threads(threads, |t| {
        for i in 0..per_thread {
            if let Err(e) = stash.set(&format!("{t}/{i}"), &value) {
                panic!("set {t}/{i}: {e}");
            }
        }
    });
    Ok(start.elapsed())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1600);
    let dir: PathBuf = args.next().map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    println!("{n} sets of a 500-byte string on sqlite, under {}", dir.display());
    for (name, durable) in [("normal", false), ("durable", true)] {
        let mut ratios = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let one = tempfile::tempdir_in(&dir)?;
            let alone = sets(one.path(), durable, 1, n)?;
            let eight = tempfile::tempdir_in(&dir)?;
            let shared = sets(eight.path(), durable, THREADS, n)?;
            let rate = |d: Duration| n as f64 / d.as_secs_f64();
            let ratio = rate(shared) / rate(alone);
            ratios.push(ratio);
            println!(
                "{name:>7}: 1 thread {:>7.0} sets/s, {THREADS} threads {:>7.0} sets/s: {ratio:.2}x",
                rate(alone),
                rate(shared),
            );
        }
        ratios.sort_by(f64::total_cmp);
        if let Some(median) = ratios.get(ratios.len() / 2) {
            println!("{name:>7}: median {median:.2}x of {rounds} rounds");
        }
    }
    Ok(())
}
