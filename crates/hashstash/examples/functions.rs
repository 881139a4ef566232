//! Stashed function results: `run`, `#[stashed_result]`, and `map` over many inputs on
//! worker threads with a progress bar.
//!
//! `cargo run -p hashstash --example functions`

use std::time::{Duration, Instant};

use hashstash::{HashStash, StashRun, stashed_result};

/// Slow on purpose: what a stash saves you from computing twice.
fn slow_square(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(50));
    x * x
}

/// Every call goes through the function's own stash (here in memory, under the system's
/// temporary folder); its body is fingerprinted, so editing it starts fresh results.
#[stashed_result(root_dir = std::env::temp_dir().join("hashstash_example_functions"), engine = "memory")]
fn describe(name: &str, legs: u32) -> String {
    std::thread::sleep(Duration::from_millis(50));
    format!("{name} walks on {legs} legs")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let stash = HashStash::builder().root_dir(dir.path()).open()?;

    // `run`: computed once, then read back for the same arguments.
    let start = Instant::now();
    assert_eq!(stash.run(slow_square, (12,))?, 144);
    let computed = start.elapsed();
    let start = Instant::now();
    assert_eq!(stash.run(slow_square, (12,))?, 144);
    println!("run: computed in {computed:.1?}, stored result read in {:.1?}", start.elapsed());

    // `#[stashed_result]`: the same for every call of the function.
    assert_eq!(describe("cat", 4), "cat walks on 4 legs");
    assert_eq!(describe("cat", 4), "cat walks on 4 legs"); // stored
    let results = describe_stash()?;
    println!("{} has {} result(s)", results.name(), results.len()?);

    // `map`: inputs without a stored result are computed on worker threads; results
    // stream in as they are done, in input order with `ordered(true)`.
    let start = Instant::now();
    let mut squares = stash.map(slow_square, 0..40u64)?.threads(4).ordered(true).progress(true).start();
    let mut total = 0;
    for result in squares.results_iter() {
        total += result?;
    }
    assert_eq!(total, (0..40u64).map(|x| x * x).sum::<u64>());
    println!("map: 40 inputs in {:.1?} on 4 threads", start.elapsed());

    // A second map computes nothing.
    let start = Instant::now();
    let again: Vec<u64> =
        stash.map(slow_square, 0..40u64)?.start().results_iter().collect::<Result<_, _>>()?;
    assert_eq!(again.len(), 40);
    println!("map again: {:.1?}, nothing computed", start.elapsed());
    println!("functions: ok");
    Ok(())
}
