//! How much group commit buys durable `set`s: the time of `n` durable sets
//! from one thread against the same `n` split over eight threads, in the
//! native layout and in the Python library's (`python_compatible`).
//!
//! ```text
//! cargo run --release -p stash-engine-lmdb --example group_commit_ratio -- [n] [dir] [slices]
//! ```
//!
//! `dir` (default: the system's temporary folder) should be on the disk to
//! measure: on a memory filesystem a sync costs nothing and there is little
//! to share. The sets are made in `slices` slices (default 8), one thread's
//! and eight threads' in turn, each side on a stash of its own, so that both
//! sides see a disk whose speed drifts alike. An ad-hoc measurement, not a
//! benchmark with statistics: run it a few times.

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

/// One stash written by `threads` threads, with the time and commits its sets took so far.
struct Side {
    stash: Stash,
    /// A handle on the stash's environment, for its group-commit counters.
    stats: Arc<LmdbEngine>,
    threads: usize,
    /// Sets made by each thread so far.
    written: usize,
    time: Duration,
    commits: u64,
}

impl Side {
    fn open(root: &Path, python: bool, threads: usize) -> Result<Side, Box<dyn Error>> {
        let stash = open(root, python)?;
        let stats = LmdbEngine::open(stash.path(), LmdbOptions::new())?;
        Ok(Side { stash, stats, threads, written: 0, time: Duration::ZERO, commits: 0 })
    }

    /// Makes `n` more durable sets of new keys, split over the threads.
    fn sets(&mut self, n: usize, value: &str) {
        let (per_thread, base) = (n / self.threads, self.written);
        let before = self.stats.group_stats().commits;
        let start = Instant::now();
        on_threads(self.threads, |t| {
            for i in base..base + per_thread {
                if let Err(e) = self.stash.set(&format!("{t}/{i}"), &value) {
                    panic!("set {t}/{i}: {e}");
                }
            }
        });
        self.time += start.elapsed();
        self.commits += self.stats.group_stats().commits - before;
        self.written += per_thread;
    }

    fn rate(&self) -> f64 {
        (self.written * self.threads) as f64 / self.time.as_secs_f64()
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3200);
    let dir: PathBuf = args.next().map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let slices: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    let slice = (n / slices.max(1) / THREADS).max(1) * THREADS;
    let value = "x".repeat(500);
    println!(
        "{} durable sets of a 500-byte string, in slices of {slice}, under {}",
        slice * slices,
        dir.display()
    );
    for (name, python) in [("native", false), ("python", true)] {
        let (one_dir, eight_dir) = (tempfile::tempdir_in(&dir)?, tempfile::tempdir_in(&dir)?);
        let mut one = Side::open(one_dir.path(), python, 1)?;
        let mut eight = Side::open(eight_dir.path(), python, THREADS)?;
        for _ in 0..slices {
            one.sets(slice, &value);
            eight.sets(slice, &value);
        }
        println!(
            "{name:>6}: 1 thread {:>7.0} sets/s ({} commits), {THREADS} threads {:>7.0} sets/s \
             ({} commits, {:.1} sets each): {:.2}x",
            one.rate(),
            one.commits,
            eight.rate(),
            eight.commits,
            (eight.written * THREADS) as f64 / eight.commits.max(1) as f64,
            eight.rate() / one.rate(),
        );
    }
    Ok(())
}
