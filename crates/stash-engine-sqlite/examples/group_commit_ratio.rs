//! How much group commit buys `set`s on sqlite: the time of `n` sets from
//! one thread against the same `n` split over eight threads, with the
//! default `synchronous=NORMAL` and with `durable` (`synchronous=FULL`, a
//! WAL sync per commit).
//!
//! ```text
//! cargo run --release -p stash-engine-sqlite --example group_commit_ratio -- [n] [dir] [slices]
//! ```
//!
//! `dir` (default: the system's temporary folder) should be on the disk to
//! measure. The sets are made in `slices` slices (default 8), one thread's
//! and eight threads' in turn, each side on a stash of its own, so that both
//! sides see a disk whose speed drifts alike. An ad-hoc measurement, not a
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

/// One stash written by `threads` threads, with the time its sets took so far.
struct Side {
    stash: Stash,
    threads: usize,
    /// Sets made by each thread so far.
    written: usize,
    time: Duration,
}

impl Side {
    fn open(root: &Path, durable: bool, threads: usize) -> Result<Side, Box<dyn Error>> {
        let mut config = StashConfig::default();
        config.engine = "sqlite".into();
        config.root_dir = root.to_path_buf();
        config.compress = Compression::Raw;
        let stash = Stash::open(config, Arc::new(SqliteOptions::new().durable(durable)))?;
        Ok(Side { stash, threads, written: 0, time: Duration::ZERO })
    }

    /// Makes `n` more sets of new keys, split over the threads.
    fn sets(&mut self, n: usize, value: &str) {
        let (per_thread, base) = (n / self.threads, self.written);
        let start = Instant::now();
        on_threads(self.threads, |t| {
            for i in base..base + per_thread {
                if let Err(e) = self.stash.set(&format!("{t}/{i}"), &value) {
                    panic!("set {t}/{i}: {e}");
                }
            }
        });
        self.time += start.elapsed();
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
        "{} sets of a 500-byte string on sqlite, in slices of {slice}, under {}",
        slice * slices,
        dir.display()
    );
    for (name, durable) in [("normal", false), ("durable", true)] {
        let (one_dir, eight_dir) = (tempfile::tempdir_in(&dir)?, tempfile::tempdir_in(&dir)?);
        let mut one = Side::open(one_dir.path(), durable, 1)?;
        let mut eight = Side::open(eight_dir.path(), durable, THREADS)?;
        for _ in 0..slices {
            one.sets(slice, &value);
            eight.sets(slice, &value);
        }
        println!(
            "{name:>7}: 1 thread {:>7.0} sets/s, {THREADS} threads {:>7.0} sets/s: {:.2}x",
            one.rate(),
            eight.rate(),
            eight.rate() / one.rate(),
        );
    }
    Ok(())
}
