//! How much group commit buys durable `set`s: the time of `n` durable sets
//! from one thread against the same `n` split over eight threads, in the
//! native layout and in the Python library's (`python_compatible`).
//!
//! ```text
//! cargo run --release -p stash-engine-lmdb --example group_commit_ratio -- [n] [dir] [rounds]
//! ```
//!
//! `dir` (default: the system's temporary folder) should be on the disk to
//! measure: on a memory filesystem a sync costs nothing and there is little
//! to share. Each of `rounds` rounds (default 3) times one thread and then
//! eight, so a disk whose speed drifts skews each ratio less; the median
//! ratio closes each layout. An ad-hoc measurement, not a benchmark with
//! statistics: run it a few times.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stash_core::testkit::threads::on_threads;
use stash_core::{Compression, Stash, StashConfig};
use stash_engine_lmdb::{LmdbEngine, LmdbOptions};

const THREADS: usize = 8;

/// A fresh stash under `root`, in the Python layout or the native one.
fn open(root: &Path, python: bool) -> Result<Stash, Box<dyn Error>> {
    let mut config = StashConfig::default();
    config.engine = "lmdb".into();
    config.root_dir = root.to_path_buf();
    config.compress = Compression::Raw;
    let config = if python { config.python() } else { config };
    Ok(Stash::open(config, Arc::new(LmdbOptions::new()))?)
}

/// The time of `n` durable sets made by `threads` threads, and the commits they took.
fn sets(root: &Path, python: bool, threads: usize, n: usize) -> Result<(Duration, u64), Box<dyn Error>> {
    let stash = open(root, python)?;
    let stats = LmdbEngine::open(stash.path(), LmdbOptions::new())?;
    let value = "x".repeat(500);
    let before = stats.group_stats().commits;
    let per_thread = n / threads;
    let start = Instant::now();
    on_threads(threads, |t| {
        for i in 0..per_thread {
            if let Err(e) = stash.set(&format!("{t}/{i}"), &value) {
                panic!("set {t}/{i}: {e}");
            }
        }
    });
    Ok((start.elapsed(), stats.group_stats().commits - before))
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(800);
    let dir: PathBuf = args.next().map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    println!("{n} durable sets of a 500-byte string, under {}", dir.display());
    for (name, python) in [("native", false), ("python", true)] {
        let mut ratios = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let one = tempfile::tempdir_in(&dir)?;
            let (alone, alone_commits) = sets(one.path(), python, 1, n)?;
            let eight = tempfile::tempdir_in(&dir)?;
            let (shared, shared_commits) = sets(eight.path(), python, THREADS, n)?;
            let rate = |d: Duration| n as f64 / d.as_secs_f64();
            let ratio = rate(shared) / rate(alone);
            ratios.push(ratio);
            println!(
                "{name:>6}: 1 thread {:>7.0} sets/s ({alone_commits} commits), {THREADS} threads {:>7.0} sets/s \
                 ({shared_commits} commits, {:.1} sets each): {ratio:.2}x",
                rate(alone),
                rate(shared),
                n as f64 / shared_commits.max(1) as f64,
            );
        }
        ratios.sort_by(f64::total_cmp);
        if let Some(median) = ratios.get(ratios.len() / 2) {
            println!("{name:>6}: median {median:.2}x of {rounds} rounds");
        }
    }
    Ok(())
}
