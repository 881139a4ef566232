//! One thread's `set`s against several threads', timed, for the engines'
//! `group_commit_ratio` examples: each side writes new keys to a stash of
//! its own, slice by slice in turn ([`in_turn`]), so both sides see a disk
//! whose speed drifts alike.
//!
//! ```
//! use std::sync::Arc;
//! use stash_core::testkit::timed_sets::{TimedSets, in_turn};
//! use stash_core::{Stash, StashConfig};
//!
//! let dirs = (tempfile::tempdir()?, tempfile::tempdir()?);
//! let open = |root: &std::path::Path| {
//!     let mut config = StashConfig::default();
//!     config.root_dir = root.to_path_buf();
//!     config.engine = "memory".into();
//!     Stash::open(config, Arc::new(stash_engine_memory::Memory))
//! };
//! let (one, eight) = (open(dirs.0.path())?, open(dirs.1.path())?);
//! let mut sides = [TimedSets::new(&one, 1), TimedSets::new(&eight, 8)];
//! // 100 sets in 3 slices: slices of 32 (a multiple of 8), 96 sets a side.
//! in_turn(&mut sides, 100, 3, "value")?;
//! assert_eq!((sides[0].count(), sides[1].count()), (96, 96));
//! assert_eq!((one.len()?, eight.len()?), (96, 96));
//! assert!(sides[1].rate() > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::threads::on_threads;
use crate::{Error, Result, Stash};

/// `set`s of new keys on one stash by a number of threads, and the time they took.
pub struct TimedSets<'a> {
    stash: &'a Stash,
    threads: usize,
    /// Sets made by each thread so far.
    per_thread: usize,
    time: Duration,
}

impl<'a> TimedSets<'a> {
    /// No sets yet on `stash`, to be made by `threads` threads (at least one).
    pub fn new(stash: &'a Stash, threads: usize) -> Self {
        TimedSets { stash, threads: threads.max(1), per_thread: 0, time: Duration::ZERO }
    }

    /// Makes `n / threads` more sets of `value` on each thread, keys
    /// `"{thread}/{i}"` not written before; the first error ends them.
    pub fn sets(&mut self, n: usize, value: &str) -> Result<()> {
        let (count, base) = (n / self.threads, self.per_thread);
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let start = Instant::now();
        on_threads(self.threads, |t| {
            for i in base..base + count {
                if let Err(e) = self.stash.set(&format!("{t}/{i}"), value) {
                    failed.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                    return;
                }
            }
        });
        self.time += start.elapsed();
        self.per_thread += count;
        match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The sets made so far.
    pub fn count(&self) -> usize {
        self.per_thread * self.threads
    }

    /// Sets a second so far.
    pub fn rate(&self) -> f64 {
        self.count() as f64 / self.time.as_secs_f64()
    }
}

/// Makes about `n` sets of `value` on each side, in `slices` slices (at
/// least one) taken in turn: a slice of the first side, one of the second,
/// and so on. A slice is a multiple of every side's thread count.
pub fn in_turn(sides: &mut [TimedSets<'_>], n: usize, slices: usize, value: &str) -> Result<()> {
    let step = sides.iter().fold(1, |step, side| lcm(step, side.threads));
    let slices = slices.max(1);
    let slice = (n / slices / step).max(1) * step;
    for _ in 0..slices {
        for side in sides.iter_mut() {
            side.sets(slice, value)?;
        }
    }
    Ok(())
}

/// What an example measures: about `n` sets a side, in `slices` slices, on
/// stashes under `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Sets a side.
    pub n: usize,
    /// Where the stashes go: on the disk to measure.
    pub dir: PathBuf,
    /// Slices a side.
    pub slices: usize,
}

impl Plan {
    /// The program's arguments `[n] [dir] [slices]` (by default 3200, the
    /// system's temporary folder and 8).
    pub fn from_args() -> std::result::Result<Plan, std::num::ParseIntError> {
        Plan::parse(std::env::args().skip(1))
    }

    /// `[n] [dir] [slices]` from `args`.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
    ) -> std::result::Result<Plan, std::num::ParseIntError> {
        let mut args = args.into_iter();
        let n = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3200);
        let dir = args.next().map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let slices = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
        Ok(Plan { n, dir, slices })
    }

    /// A new, empty folder under `dir` for one side's stash, removed when dropped.
    pub fn side_dir(&self) -> std::io::Result<tempfile::TempDir> {
        tempfile::tempdir_in(&self.dir)
    }
}

fn lcm(a: usize, b: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    a / gcd(a, b) * b
}

#[cfg(test)]
mod tests {
    use super::{Plan, lcm};

    #[test]
    fn a_plan_reads_n_dir_and_slices() {
        let args = |a: &[&str]| Plan::parse(a.iter().map(|s| s.to_string()));
        assert_eq!(args(&["100", "/d", "4"]).unwrap(), Plan { n: 100, dir: "/d".into(), slices: 4 });
        let defaults = args(&[]).unwrap();
        assert_eq!((defaults.n, defaults.slices), (3200, 8));
        assert!(args(&["many"]).is_err());
    }

    #[test]
    fn slices_are_multiples_of_every_thread_count() {
        assert_eq!(lcm(1, 8), 8);
        assert_eq!(lcm(8, 1), 8);
        assert_eq!(lcm(4, 6), 12);
    }
}
