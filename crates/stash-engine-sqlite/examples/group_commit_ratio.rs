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
use std::path::Path;
use std::sync::Arc;

use stash_core::testkit::timed_sets::{Plan, TimedSets, in_turn};
use stash_core::{Compression, Stash, StashConfig};
use stash_engine_sqlite::SqliteOptions;

const THREADS: usize = 8;

/// A fresh stash under `root`, `durable` or not.
fn open(root: &Path, durable: bool) -> Result<Stash, Box<dyn Error>> {
    let mut config = StashConfig::default();
    config.engine = "sqlite".into();
    config.root_dir = root.to_path_buf();
    config.compress = Compression::Raw;
    Ok(Stash::open(config, Arc::new(SqliteOptions::new().durable(durable)))?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let plan = Plan::from_args()?;
    let value = "x".repeat(500);
    println!(
        "about {} sets of a 500-byte string a side on sqlite, in {} slices, under {}",
        plan.n,
        plan.slices,
        plan.dir.display()
    );
    for (name, durable) in [("normal", false), ("durable", true)] {
        let (one_dir, eight_dir) = (plan.side_dir()?, plan.side_dir()?);
        let (one, eight) = (open(one_dir.path(), durable)?, open(eight_dir.path(), durable)?);
        let mut sides = [TimedSets::new(&one, 1), TimedSets::new(&eight, THREADS)];
        in_turn(&mut sides, plan.n, plan.slices, &value)?;
        let [alone, shared] = &sides;
        println!(
            "{name:>7}: 1 thread {:>7.0} sets/s, {THREADS} threads {:>7.0} sets/s: {:.2}x",
            alone.rate(),
            shared.rate(),
            shared.rate() / alone.rate(),
        );
    }
    Ok(())
}
