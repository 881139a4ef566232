//! Log events of stashed functions (feature `tracing`): a computed miss is a
//! `compute` event naming the function and the key's digest, a hit is
//! stash-core's `hit` alone, and a caller that waited for another computing
//! the same key logs `wait` with what it found. Never arguments or results.
#![cfg(feature = "tracing")]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use stash_core::testkit::logs::{Event, capture};
use stash_func::{StashRun, stashed_result};

/// What the facade offers the macro.
mod hs {
    pub use stash_func as func;
}

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());
/// One test at a time: `tracing` caches which call sites a thread-local
/// subscriber wants, and a call site first reached by another test's thread
/// (with no subscriber) while a capture runs can be missed by it.
static SERIAL: Mutex<()> = Mutex::new(());

fn mem() -> stash_core::Result<stash_core::Stash> {
    Ok(common::memory(DIR.path()))
}

#[stashed_result(stash = mem(), crate = "crate::hs")]
fn secret_length(secret: &str) -> usize {
    std::thread::sleep(Duration::from_millis(20));
    secret.len()
}

fn named<'a>(events: &'a [Event], message: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.message() == message).collect()
}

#[test]
fn a_miss_is_computed_and_logged_with_the_function_and_digest() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (n, events) = capture(|| secret_length("hunter2-alpha"));
    assert_eq!(n, 13);
    let digest = secret_length_stash().unwrap().args_digest(&("hunter2-alpha",)).unwrap();
    let computed = named(&events, "compute");
    assert_eq!(computed.len(), 1, "{events:#?}");
    let e = computed[0];
    assert_eq!((e.target.as_str(), e.level), ("hashstash", tracing::Level::DEBUG));
    assert_eq!(e.field("function"), "tracing::secret_length");
    assert_eq!(e.field("digest"), digest);
    assert!(e.field("took_us").parse::<u64>().unwrap() >= 20_000, "{e:?}");
    assert_eq!(named(&events, "miss").len(), 1, "stash-core's read event: {events:#?}");

    let (_, events) = capture(|| secret_length("hunter2-alpha"));
    assert!(named(&events, "compute").is_empty(), "a hit computes nothing: {events:#?}");
    assert_eq!(named(&events, "hit").len(), 1, "{events:#?}");
    for e in &events {
        assert!(!format!("{e:?}").contains("hunter2"), "arguments never appear: {e:?}");
    }
}

/// Set when `slow_double` starts computing.
static STARTED: AtomicBool = AtomicBool::new(false);

fn slow_double(x: u64) -> u64 {
    STARTED.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    x * 2
}

#[test]
fn a_caller_that_waits_for_another_logs_the_wait() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let stash = common::memory(&DIR.path().join("wait"));
    let other = stash.clone();
    let first = std::thread::spawn(move || other.run(slow_double, (21,)).unwrap());
    while !STARTED.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (n, events) = capture(|| stash.run(slow_double, (21,)).unwrap());
    assert_eq!((n, first.join().unwrap()), (42, 42));
    let waits = named(&events, "wait");
    assert_eq!(waits.len(), 1, "{events:#?}");
    assert_eq!(waits[0].field("found"), "true");
    assert!(waits[0].field("function").ends_with("tracing::slow_double"), "{:?}", waits[0]);
    assert!(waits[0].field("waited_us").parse::<u64>().unwrap() >= 1_000, "{:?}", waits[0]);
    assert!(named(&events, "compute").is_empty(), "the other caller computed it: {events:#?}");
}
