//! `reliability fuzz`: every committed fuzz corpus and crash regression replayed through
//! its target's checks (the same code the fuzzers run, `fuzz/harness`), on stable Rust.
//!
//! The fuzzers themselves need nightly (`fuzz/run.sh`); their run figures (time and
//! executions per target) are in `fuzz/README.md` and `docs/reliability.md`. This row
//! puts the corpora in the one table: inputs replayed and inputs failing, per target.

use std::time::Instant;

use stash_fuzz_harness::TARGETS;
use stash_fuzz_harness::corpus::{Kind, replay};

use crate::Row;
use crate::spec::Spec;

/// One row per fuzz target (the target's name in the engine column).
pub fn run() -> Vec<Row> {
    // The checks report a broken claim by panicking; the messages go to the table.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let rows = TARGETS
        .iter()
        .map(|&(name, check)| {
            let started = Instant::now();
            let mut row = Row::new("fuzz", &Spec { engine: name, setting: "corpus" });
            for kind in [Kind::Corpus, Kind::Regressions] {
                let done = replay(kind, name, check);
                row.trials += done.ran as u64;
                row.other += done.failed.len() as u64;
                for (file, why) in done.failed {
                    row.detail(format!("{}: {why}", file.display()));
                }
            }
            if row.trials == 0 {
                row.errors += 1;
                row.detail(format!("fuzz/corpus/{name} is empty"));
            }
            row.wall = started.elapsed();
            row
        })
        .collect();
    std::panic::set_hook(hook);
    rows
}
