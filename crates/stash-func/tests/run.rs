mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use stash_func::{RunOptions, StashRun};

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn expensive(names: Vec<String>, goodnesses: Vec<String>) -> Vec<String> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    names.iter().flat_map(|n| goodnesses.iter().map(move |g| format!("{g} {n}"))).collect()
}

#[test]
fn run_computes_once_then_returns_stored() {
    let dir = tempfile::tempdir().unwrap();
    for stash in [common::memory(dir.path()), common::pairtree(dir.path())] {
        let before = CALLS.load(Ordering::SeqCst);
        let args = (vec!["cat".to_string()], vec!["good".to_string(), "bad".to_string()]);
        let a = stash.run(expensive, args.clone()).unwrap();
        let b = stash.run(expensive, args.clone()).unwrap();
        assert_eq!(a, b);
        assert_eq!(CALLS.load(Ordering::SeqCst), before + 1);
        // force recomputes and overwrites
        stash.run_with(expensive, args.clone(), RunOptions::new().force(true)).unwrap();
        assert_eq!(CALLS.load(Ordering::SeqCst), before + 2);
        let fs = stash.function_stash(&expensive).unwrap();
        assert_eq!(fs.len().unwrap(), 1);
        assert_eq!(fs.get_func(&args).unwrap(), Some(a.clone()));
        let items: Vec<_> = fs.items().unwrap().map(Result::unwrap).collect();
        assert_eq!(items, vec![(args.clone(), a)]);
        assert!(fs.name().ends_with("run::expensive"), "{}", fs.name());
        assert!(fs.to_string().contains("stashed_result"), "{fs}");
    }
}

mod a {
    pub fn same(x: u32) -> String {
        format!("a{x}")
    }
}
mod b {
    pub fn same(x: u32) -> String {
        format!("b{x}")
    }
}

#[test]
fn same_name_in_other_modules_do_not_share_and_closures_need_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::memory(dir.path());
    assert_eq!(stash.run(a::same, (1,)).unwrap(), "a1");
    assert_eq!(stash.run(b::same, (1,)).unwrap(), "b1");
    assert_eq!(stash.function_stash(&a::same).unwrap().name(), "run::a::same");
    // A closure has no stable name (no TypeId hash): refused, even one that
    // captures nothing, with the way out in the message.
    let e = stash_core::Error::from(stash.run(|x: u32| x + 1, (1,)).unwrap_err());
    assert_eq!(e.kind(), stash_core::ErrorKind::Config);
    assert!(e.to_string().contains("run_named") && e.to_string().contains("no stable name"), "{e}");
    assert!(stash.function_stash(&|x: u32| x + 2).is_err());
    assert!(stash.map(|x: u32| x + 2, [1u32]).is_err());
    let named = stash.run_named("mine", |x: u32| x * 10, (2,)).unwrap();
    assert_eq!(named, 20);
    // the named stash keeps it under the given name
    assert_eq!(stash.run_named("mine", |x: u32| x * 99, (2,)).unwrap(), 20);
}

#[test]
fn zero_to_twelve_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::memory(dir.path());
    fn zero() -> u8 {
        0
    }
    #[allow(clippy::too_many_arguments)]
    fn eight(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8) -> u8 {
        a + b + c + d + e + f + g + h
    }
    #[allow(clippy::too_many_arguments)]
    fn twelve(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8, j: u8, k: u8, l: u8) -> u8 {
        a + b + c + d + e + f + g + h + i + j + k + l
    }
    assert_eq!(stash.run(zero, ()).unwrap(), 0);
    assert_eq!(stash.run(eight, (1, 1, 1, 1, 1, 1, 1, 1)).unwrap(), 8);
    assert_eq!(stash.run(twelve, (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)).unwrap(), 12);
    assert_eq!(stash.function_stash(&eight).unwrap().get_func(&(1, 1, 1, 1, 1, 1, 1, 1)).unwrap(), Some(8));
}

static TRIES: AtomicUsize = AtomicUsize::new(0);
fn flaky(x: i32) -> Result<i32, String> {
    TRIES.fetch_add(1, Ordering::SeqCst);
    if x < 0 { Err(format!("negative: {x}")) } else { Ok(x * 2) }
}

#[test]
fn results_store_ok_only_unless_errors_are_cached() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::memory(dir.path());
    let t0 = TRIES.load(Ordering::SeqCst);
    assert_eq!(stash.try_run(flaky, (2,)).unwrap(), Ok(4));
    assert_eq!(stash.try_run(flaky, (2,)).unwrap(), Ok(4));
    assert_eq!(TRIES.load(Ordering::SeqCst), t0 + 1);
    assert!(stash.try_run(flaky, (-1,)).unwrap().is_err());
    assert!(stash.try_run(flaky, (-1,)).unwrap().is_err());
    assert_eq!(TRIES.load(Ordering::SeqCst), t0 + 3, "errors are retried");
    let cache = RunOptions::new().cache_errors(true);
    assert!(stash.try_run_with(flaky, (-2,), cache.clone()).unwrap().is_err());
    assert_eq!(stash.try_run_with(flaky, (-2,), cache.clone()).unwrap(), Err("negative: -2".to_string()));
    assert_eq!(TRIES.load(Ordering::SeqCst), t0 + 4, "cached error is returned");
    let fs = stash.function_stash(&flaky).unwrap();
    assert_eq!(fs.len().unwrap(), 1, "only Ok values in the function stash");
    // the cached errors live in the error stash, as the `Err` returned
    let errors = stash.error_stash(&flaky).unwrap();
    assert_eq!(errors.get::<_, Result<i32, String>>(&(-2,)).unwrap(), Some(Err("negative: -2".to_string())));
    // an expired error counts as missing (the TTL is kept to the microsecond)
    let ttl = RunOptions::new().cache_errors(true).error_ttl(Duration::from_millis(300));
    assert!(stash.try_run_with(flaky, (-3,), ttl.clone()).unwrap().is_err());
    assert!(stash.try_run_with(flaky, (-3,), ttl.clone()).unwrap().is_err());
    assert_eq!(TRIES.load(Ordering::SeqCst), t0 + 5);
    std::thread::sleep(Duration::from_millis(400));
    assert!(stash.try_run_with(flaky, (-3,), ttl).unwrap().is_err());
    assert_eq!(TRIES.load(Ordering::SeqCst), t0 + 6);
    // force recomputes past a cached error
    assert!(stash.try_run_with(flaky, (-2,), cache.clone().force(true)).unwrap().is_err());
    assert_eq!(TRIES.load(Ordering::SeqCst), t0 + 7);
    // a zero error TTL caches nothing
    let none = RunOptions::new().cache_errors(true).error_ttl(Duration::ZERO);
    assert!(stash.try_run_with(flaky, (-4,), none.clone()).unwrap().is_err());
    assert!(stash.try_run_with(flaky, (-4,), none).unwrap().is_err());
    assert_eq!(TRIES.load(Ordering::SeqCst), t0 + 9);
}

#[test]
fn closures_that_capture_state_are_refused_everywhere_run_names_a_function() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::memory(dir.path());
    let n = 3u32;
    let adder = move |x: u32| x + n;
    let is_refusal = |e: stash_func::Error| {
        let e = stash_core::Error::from(e);
        e.kind() == stash_core::ErrorKind::Config && e.to_string().contains("run_named")
    };
    assert!(is_refusal(stash.run(adder, (1,)).unwrap_err()));
    assert!(is_refusal(stash.function_stash(&adder).unwrap_err()));
    assert!(is_refusal(stash.error_stash(&adder).unwrap_err()));
    assert!(is_refusal(stash.map(adder, [1u32]).err().unwrap()));
    assert!(is_refusal(stash.map_with(move |x: u32, y: u32| x + y + n, [1u32], 2u32).err().unwrap()));
    let boxed: Box<dyn Fn(u32) -> u32> = Box::new(|x| x);
    assert!(is_refusal(stash.run(boxed, (1,)).unwrap_err()));
    // the named forms take them
    assert_eq!(stash.run_named("adder+3", adder, (1,)).unwrap(), 4);
    let mapped = stash.map_named("adder+3", adder, [1u32, 2]).unwrap().progress(false).results().unwrap();
    assert_eq!(mapped.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(stash.function_stash_named::<(u32,), u32>("adder+3").unwrap().len().unwrap(), 2);
}

static SLOW: AtomicUsize = AtomicUsize::new(0);
fn slow(x: u64) -> u64 {
    SLOW.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    x + 1
}

#[test]
fn single_flight_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    for stash in [common::memory(dir.path()), common::pairtree(dir.path())] {
        let before = SLOW.load(Ordering::SeqCst);
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let stash = stash.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    // two keys, four threads each
                    stash.run(slow, (i % 2,)).unwrap()
                })
            })
            .collect();
        let results: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results, vec![1, 2, 1, 2, 1, 2, 1, 2]);
        assert_eq!(SLOW.load(Ordering::SeqCst), before + 2, "each key computed once");
    }
}

fn boom(x: u8) -> u8 {
    if x == 0 {
        panic!("boom");
    }
    x
}

#[test]
fn a_panicking_call_releases_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::memory(dir.path());
    let s = stash.clone();
    assert!(std::thread::spawn(move || s.run(boom, (0,))).join().is_err());
    // the same key can be asked again (no deadlock), and panics again
    let s = stash.clone();
    assert!(std::thread::spawn(move || s.run(boom, (0,))).join().is_err());
    assert_eq!(stash.run(boom, (3,)).unwrap(), 3);
}

fn tripled(x: u32) -> u32 {
    x * 3
}

/// A key whose engine lock another holder never releases (a stuck or very
/// slow process): `run` waits its `wait_timeout`, then computes anyway.
#[test]
fn a_held_engine_lock_costs_a_computation_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::pairtree(dir.path());
    let fs = stash.function_stash(&tripled).unwrap();
    let digest = fs.encode_key(&(7u32,)).unwrap().digest;
    let held = fs.engine().try_lock(&digest, Duration::from_secs(60)).unwrap();
    assert!(matches!(held, stash_core::LockAttempt::Acquired(_)), "pairtree has a per-key lock: {held:?}");
    let quick = RunOptions::new().wait_timeout(Duration::from_millis(50));
    assert_eq!(stash.run_with(tripled, (7,), quick.clone()).unwrap(), 21);
    // stored, so the next call does not wait at all; other keys never waited
    assert_eq!(fs.get_func(&(7,)).unwrap(), Some(21));
    assert_eq!(stash.run_with(tripled, (8,), quick).unwrap(), 24);
    drop(held);
}

static RECOVERS: AtomicUsize = AtomicUsize::new(0);
fn fails_once(x: u32) -> Result<u32, String> {
    if RECOVERS.fetch_add(1, Ordering::SeqCst) == 0 { Err("first call fails".into()) } else { Ok(x * 10) }
}

/// The Python library's `test_recovers_after_exception_ttl`, with `force` in place of the wait.
#[test]
fn a_success_replaces_a_cached_error() {
    let dir = tempfile::tempdir().unwrap();
    let stash = common::pairtree(dir.path());
    let cache = RunOptions::new().cache_errors(true);
    assert!(stash.run_with(fails_once, (5,), cache.clone()).unwrap().is_err());
    assert!(stash.run_with(fails_once, (5,), cache.clone()).unwrap().is_err(), "the cached error");
    assert_eq!(RECOVERS.load(Ordering::SeqCst), 1);
    let forced = cache.clone().force(true);
    assert_eq!(stash.run_with(fails_once, (5,), forced).unwrap(), Ok(50));
    assert_eq!(stash.run_with(fails_once, (5,), cache).unwrap(), Ok(50));
    assert_eq!(stash.run(fails_once, (5,)).unwrap(), Ok(50));
    assert_eq!(RECOVERS.load(Ordering::SeqCst), 2);
    assert!(stash.error_stash(&fails_once).unwrap().is_empty().unwrap(), "the error is gone");
}
