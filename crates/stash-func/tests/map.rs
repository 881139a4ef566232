mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use stash_func::StashRun;

static CALLS: AtomicUsize = AtomicUsize::new(0);
fn square(x: u32) -> u32 {
    CALLS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[test]
fn map_computes_only_missing_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::memory(dir.path());
    let before = CALLS.load(Ordering::SeqCst);
    let r: Vec<u32> = stash
        .map(square, 0..10)
        .unwrap()
        .threads(3)
        .results()
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(r, (0..10).map(|x| x * x).collect::<Vec<_>>());
    assert_eq!(CALLS.load(Ordering::SeqCst), before + 10);
    let r: Vec<u32> =
        stash.map(square, 5..15).unwrap().results().unwrap().into_iter().map(Result::unwrap).collect();
    assert_eq!(r, (5..15).map(|x| x * x).collect::<Vec<_>>());
    assert_eq!(CALLS.load(Ordering::SeqCst), before + 15, "only 10..15 were new");
    // shares results with run
    assert_eq!(stash.function_stash(&square).unwrap().len().unwrap(), 15);
    let mut m = stash.map(square, 0..4).unwrap().ordered(false).start();
    let mut got: Vec<u32> = m.results_iter().map(Result::unwrap).collect();
    got.sort();
    assert_eq!(got, vec![0, 1, 4, 9]);
}

fn maybe_panic(x: u32) -> u32 {
    if x % 7 == 3 {
        panic!("bad input {x}");
    }
    x + 1
}

#[test]
fn thousand_maps_finish_with_panics_and_stored_results() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::memory(dir.path());
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for round in 0..1000u32 {
        let threads = (round % 8 + 1) as usize;
        // half the rounds revisit stored inputs, half are new
        let base = if round % 2 == 0 { 0 } else { round * 20 };
        let results = stash.map(maybe_panic, base..base + 20).unwrap().threads(threads).results().unwrap();
        assert_eq!(results.len(), 20);
        for (x, r) in (base..base + 20).zip(results) {
            match r {
                Ok(v) => assert_eq!(v, x + 1),
                Err(e) => assert!(e.is_panic() && x % 7 == 3, "{e}"),
            }
        }
    }
    std::panic::set_hook(prev);
}

static SLOW: AtomicUsize = AtomicUsize::new(0);
fn describe(animal: String, goodnesses: Vec<String>) -> String {
    SLOW.fetch_add(1, Ordering::SeqCst);
    format!("{animal} is {}", goodnesses.join("/"))
}

#[test]
fn common_arguments_are_part_of_the_key_and_display_shows_runs() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::memory(dir.path());
    let animals = ["cat", "dog"].map(String::from);
    let good = vec!["good".to_string(), "bad".to_string()];
    let mut m = stash.map_with(describe, animals.clone(), good.clone()).unwrap().precompute(false).start();
    let shown = m.to_string();
    assert_eq!(
        shown,
        format!(
            "StashMap([StashMapRun(map::describe(\"cat\", {good:?}) >>> ?), StashMapRun(map::describe(\"dog\", {good:?}) >>> ?)])"
        )
    );
    let before = SLOW.load(Ordering::SeqCst);
    let items: Vec<(String, String)> =
        m.items().unwrap().map(|(k, v)| (k.clone(), v.as_ref().unwrap().clone())).collect();
    assert_eq!(items[1], ("dog".into(), "dog is good/bad".into()));
    assert!(m.to_string().contains("describe(\"cat\", [\"good\", \"bad\"]) >>> \"cat is good/bad\")"), "{m}");
    assert_eq!(m.keys().cloned().collect::<Vec<_>>(), animals);
    assert_eq!(m.values().unwrap().count(), 2);
    assert_eq!(SLOW.load(Ordering::SeqCst), before + 2);
    // same as run(f, (input, common)); other common args are other keys
    assert_eq!(stash.run(describe, ("cat".to_string(), good.clone())).unwrap(), "cat is good/bad");
    assert_eq!(SLOW.load(Ordering::SeqCst), before + 2);
    let r = stash.map_with(describe, animals.clone(), vec!["ok".to_string()]).unwrap().results().unwrap();
    assert_eq!(r[0].as_ref().unwrap(), "cat is ok");
    assert_eq!(SLOW.load(Ordering::SeqCst), before + 4);
}

static LAZY: AtomicUsize = AtomicUsize::new(0);
fn lazy(x: u32) -> u32 {
    LAZY.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn preload_precompute_and_stash_runs() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::memory(dir.path());
    stash.run(lazy, (1,)).unwrap();
    let before = LAZY.load(Ordering::SeqCst);
    // preloaded: the stored result is there at once, nothing starts until asked
    let mut m = stash.map(lazy, [1, 2]).unwrap().precompute(false).start();
    assert_eq!(m.num_done(), 1);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(LAZY.load(Ordering::SeqCst), before, "precompute(false) waits");
    assert_eq!(m.get(1).unwrap().as_ref().unwrap(), &2);
    assert!(m.finished());
    assert_eq!(LAZY.load(Ordering::SeqCst), before + 1);
    // preload(false): workers look up; same results
    let r = stash.map(lazy, [1, 2]).unwrap().preload(false).results().unwrap();
    assert_eq!(r.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(LAZY.load(Ordering::SeqCst), before + 1);
    // stash_runs(false): computes everything, stores nothing
    let r = stash.map(lazy, [7, 8]).unwrap().stash_runs(false).results().unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(LAZY.load(Ordering::SeqCst), before + 3);
    assert_eq!(stash.function_stash(&lazy).unwrap().len().unwrap(), 2);
}

static WHOLE: AtomicUsize = AtomicUsize::new(0);
fn whole(x: u32) -> u32 {
    WHOLE.fetch_add(1, Ordering::SeqCst);
    x * 2
}

#[test]
fn stash_map_stores_the_whole_map() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::pairtree(dir.path());
    let r = stash.map(whole, 0..5).unwrap().stash_map(true).stash_runs(false).results().unwrap();
    assert_eq!(r.len(), 5);
    let before = WHOLE.load(Ordering::SeqCst);
    let mut m = stash.map(whole, 0..5).unwrap().stash_map(true).stash_runs(false).start();
    assert!(m.finished(), "read back in one lookup");
    assert_eq!(m.results_iter().map(Result::unwrap).collect::<Vec<_>>(), [0, 2, 4, 6, 8]);
    assert_eq!(WHOLE.load(Ordering::SeqCst), before);
    // other inputs: another map
    let r = stash.map(whole, 0..4).unwrap().stash_map(true).results().unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(WHOLE.load(Ordering::SeqCst), before + 4);
}

fn tenfold(x: u64) -> u64 {
    x * 10
}

#[test]
fn batched_writes_on_a_file_engine() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::pairtree(dir.path());
    let mut m = stash
        .map(tenfold, 0..250)
        .unwrap()
        .threads(4)
        .batch(16, Duration::from_millis(5))
        .ordered(false)
        .start();
    let mut got: Vec<u64> = m.results_iter().map(Result::unwrap).collect();
    got.sort();
    assert_eq!(got, (0..250).map(|x| x * 10).collect::<Vec<_>>());
    let fs = stash.function_stash(&tenfold).unwrap();
    assert_eq!(fs.len().unwrap(), 250, "every result is written once yielded");
    assert_eq!(fs.get_func(&(249,)).unwrap(), Some(2490));
    // a batch larger than the map: flushed when the workers are done
    let r = stash.map(tenfold, 250..260).unwrap().batch(1000, Duration::from_secs(60)).results().unwrap();
    assert_eq!(r.len(), 10);
    assert_eq!(fs.len().unwrap(), 260);
}

static PARSED: AtomicUsize = AtomicUsize::new(0);
fn parse(s: String) -> Result<u32, String> {
    PARSED.fetch_add(1, Ordering::SeqCst);
    s.parse().map_err(|_| format!("not a number: {s}"))
}

/// A map over a function returning `Result` stores `Ok` values only and
/// reports each `Err` for its own input.
#[test]
fn a_map_of_a_result_function_stores_ok_only_and_reports_each_error() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::memory(dir.path());
    let inputs = || ["1", "x", "3", "y"].map(String::from);
    let before = PARSED.load(Ordering::SeqCst);
    let out = stash.map(parse, inputs()).unwrap().threads(2).progress(false).try_results().unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].as_ref().unwrap(), &1);
    assert_eq!(out[2].as_ref().unwrap(), &3);
    for (i, bad) in [(1, "x"), (3, "y")] {
        match &out[i] {
            Err(stash_func::Error::Failed { call, message }) => {
                assert!(call.ends_with(&format!("map::parse(#{i})")), "{call}");
                assert_eq!(*message, format!("not a number: {bad}"));
            }
            other => panic!("input {i}: {other:?}"),
        }
    }
    assert_eq!(PARSED.load(Ordering::SeqCst) - before, 4);
    let fs = stash.function_stash(&parse).unwrap();
    assert_eq!(fs.len().unwrap(), 2, "only the Ok values are stored");
    assert_eq!(fs.get_func(&("1".to_string(),)).unwrap(), Some(Ok(1)));
    // Again: the two failures are computed again, the rest is read.
    let again = stash.map(parse, inputs()).unwrap().progress(false).results().unwrap();
    assert_eq!(again[1].as_ref().unwrap(), &Err("not a number: x".to_string()));
    assert_eq!(PARSED.load(Ordering::SeqCst) - before, 6);
}
