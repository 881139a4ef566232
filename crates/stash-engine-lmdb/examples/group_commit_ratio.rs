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
use std::path::Path;
use std::sync::Arc;

use stash_core::testkit::timed_sets::{Plan, TimedSets, in_turn};
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

fn main() -> Result<(), Box<dyn Error>> {
    let plan = Plan::from_args()?;
    let value = "x".repeat(500);
    println!(
        "about {} durable sets of a 500-byte string a side, in {} slices, under {}",
        plan.n,
        plan.slices,
        plan.dir.display()
    );
    for (name, python) in [("native", false), ("python", true)] {
        let (one_dir, eight_dir) = (plan.side_dir()?, plan.side_dir()?);
        let (one, eight) = (open(one_dir.path(), python)?, open(eight_dir.path(), python)?);
        // Handles on the stashes' environments, for their group-commit counters.
        let stats = [
            LmdbEngine::open(one.path(), LmdbOptions::new())?,
            LmdbEngine::open(eight.path(), LmdbOptions::new())?,
        ];
        let before = stats.each_ref().map(|engine| engine.group_stats().commits);
        let mut sides = [TimedSets::new(&one, 1), TimedSets::new(&eight, THREADS)];
        in_turn(&mut sides, plan.n, plan.slices, &value)?;
        let [c1, c8] = [0, 1].map(|i| stats[i].group_stats().commits - before[i]);
        let [alone, shared] = &sides;
        println!(
            "{name:>6}: 1 thread {:>7.0} sets/s ({c1} commits), {THREADS} threads {:>7.0} sets/s \
             ({c8} commits, {:.1} sets each): {:.2}x",
            alone.rate(),
            shared.rate(),
            shared.count() as f64 / c8.max(1) as f64,
            shared.rate() / alone.rate(),
        );
    }
    Ok(())
}
