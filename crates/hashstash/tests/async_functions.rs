//! `#[stashed_result]` on `async fn`s through the facade (feature `async`):
//! computed once, single flight across tasks, the options of sync functions,
//! the accessors, and results shared with a sync function of the same name.
#![cfg(feature = "async")]

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hashstash::stashed_result;
use serde::{Deserialize, Serialize};

static ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());

fn calls(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

static GREETS: AtomicUsize = AtomicUsize::new(0);

/// On pairtree: its lock files and blocking reads go through the async single flight.
#[stashed_result(root_dir = ROOT.path().join("greet"), engine = "pairtree")]
async fn greet(name: String, times: usize) -> String {
    GREETS.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    format!("hi {}", name.repeat(times))
}

#[tokio::test]
async fn an_async_fn_computes_once_then_reads_its_stored_result() {
    let before = calls(&GREETS);
    assert_eq!(greet("cat".into(), 2).await, "hi catcat");
    assert_eq!(greet("cat".into(), 2).await, "hi catcat");
    assert_eq!(calls(&GREETS) - before, 1);
    // the accessors: the non-panicking form and the function's stash
    assert_eq!(try_greet("cat".into(), 2).await.unwrap(), "hi catcat");
    assert_eq!(calls(&GREETS) - before, 1);
    assert_eq!(try_greet("dog".into(), 1).await.unwrap(), "hi dog");
    assert_eq!(calls(&GREETS) - before, 2);
    let fs = greet_stash().unwrap();
    assert_eq!(fs.get_func(&("cat".to_string(), 2)).unwrap().as_deref(), Some("hi catcat"));
    assert_eq!(fs.len().unwrap(), 2);
    assert!(fs.stash().path().to_string_lossy().contains("stashed_result"), "{}", fs.stash());
    assert!(__stash_fingerprint_greet().starts_with("code-"));
}

static SLOW: AtomicUsize = AtomicUsize::new(0);

#[stashed_result(root_dir = ROOT.path().join("slow"), engine = "pairtree")]
async fn slow_double(x: u64) -> u64 {
    SLOW.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    x * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_calls_of_one_key_compute_once() {
    let before = calls(&SLOW);
    let tasks: Vec<_> = (0..1000).map(|_| tokio::spawn(slow_double(21))).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 42);
    }
    assert_eq!(calls(&SLOW) - before, 1, "one computation for 1,000 tasks");
    // another key is computed on its own
    assert_eq!(slow_double(5).await, 10);
    assert_eq!(calls(&SLOW) - before, 2);
}

static STALLS: AtomicUsize = AtomicUsize::new(0);

/// The first call never finishes in time (its task is aborted); later calls are quick.
#[stashed_result(root_dir = ROOT.path().join("stall"), engine = "pairtree")]
async fn stall_first(x: u32) -> u32 {
    if STALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    x + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_computation_passes_its_turn_to_a_waiting_task() {
    let first = tokio::spawn(stall_first(1));
    while calls(&STALLS) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waiting = tokio::spawn(stall_first(1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.abort();
    let got = tokio::time::timeout(Duration::from_secs(30), waiting).await.expect("not wedged").unwrap();
    assert_eq!(got, 2);
    assert_eq!(calls(&STALLS), 2, "the waiting task computed once the first was cancelled");
}

/// Not part of the key (and not `Serialize`).
struct Logger(&'static str);

static IGNORED: AtomicUsize = AtomicUsize::new(0);

#[stashed_result(root_dir = ROOT.path().join("ignore"), engine = "memory", ignore = [log])]
async fn square_logged(x: u32, log: &Logger) -> u32 {
    IGNORED.fetch_add(1, Ordering::SeqCst);
    assert!(!log.0.is_empty());
    x * x
}

static KEYED: AtomicUsize = AtomicUsize::new(0);

#[stashed_result(root_dir = ROOT.path().join("key"), engine = "memory", key = id)]
async fn fetch(id: u32, retries: u8) -> String {
    KEYED.fetch_add(1, Ordering::SeqCst);
    format!("record {id} ({retries} retries allowed)")
}

#[tokio::test]
async fn ignore_and_key_choose_what_the_key_is() {
    let before = calls(&IGNORED);
    assert_eq!(square_logged(3, &Logger("a")).await, 9);
    assert_eq!(square_logged(3, &Logger("b")).await, 9);
    assert_eq!(calls(&IGNORED) - before, 1, "the logger is not part of the key");
    assert_eq!(square_logged_stash().unwrap().get_func(&(3,)).unwrap(), Some(9));

    let before = calls(&KEYED);
    let first = fetch(7, 1).await;
    assert_eq!(fetch(7, 5).await, first, "only `id` is the key");
    assert_eq!(calls(&KEYED) - before, 1);
    assert_eq!(fetch_stash().unwrap().get_func(&7).unwrap(), Some(first));
}

static EXPIRING: AtomicUsize = AtomicUsize::new(0);

#[stashed_result(root_dir = ROOT.path().join("ttl"), engine = "pairtree", ttl = "1s")]
async fn expiring(x: u32) -> u32 {
    EXPIRING.fetch_add(1, Ordering::SeqCst);
    x + 100
}

#[tokio::test]
async fn a_result_expires_after_the_ttl_and_is_computed_again() {
    let before = calls(&EXPIRING);
    assert_eq!(expiring(1).await, 101);
    assert_eq!(expiring(1).await, 101);
    assert_eq!(calls(&EXPIRING) - before, 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(expiring(1).await, 101);
    assert_eq!(calls(&EXPIRING) - before, 2, "expired, so computed again");
}

#[derive(Debug, PartialEq)]
enum ParseError {
    Bad(String),
    Stash(String),
}

impl From<hashstash::Error> for ParseError {
    fn from(e: hashstash::Error) -> Self {
        ParseError::Stash(e.to_string())
    }
}

static PARSES: AtomicUsize = AtomicUsize::new(0);

#[stashed_result(root_dir = ROOT.path().join("result"), engine = "pairtree", max_entries = 2)]
async fn parse(text: String) -> Result<u32, ParseError> {
    PARSES.fetch_add(1, Ordering::SeqCst);
    let n: u32 = text.trim().parse().map_err(|_| ParseError::Bad(text.clone()))?;
    Ok(n)
}

#[tokio::test]
async fn a_result_fn_stores_its_ok_values_only_within_max_entries() {
    let before = calls(&PARSES);
    assert_eq!(parse("12".into()).await, Ok(12));
    assert_eq!(parse("12".into()).await, Ok(12));
    assert_eq!(calls(&PARSES) - before, 1);
    assert_eq!(parse("x".into()).await, Err(ParseError::Bad("x".into())));
    assert_eq!(parse("x".into()).await, Err(ParseError::Bad("x".into())));
    assert_eq!(calls(&PARSES) - before, 3, "errors are not stored");
    // stored bare, as the sync form stores them
    assert_eq!(parse_stash().unwrap().get_func(&("12".to_string(),)).unwrap(), Some(12));
    for text in ["1", "2", "3"] {
        parse(text.into()).await.unwrap();
    }
    assert!(parse_stash().unwrap().len().unwrap() <= 2, "max_entries = 2");
}

#[derive(Serialize, Deserialize, Debug)]
struct Model {
    weight: u32,
}

static PREDICTS: AtomicUsize = AtomicUsize::new(0);

#[stashed_result]
impl Model {
    #[stashed_result(root_dir = ROOT.path().join("method"), engine = "memory")]
    async fn predict(&self, x: u32) -> u32 {
        PREDICTS.fetch_add(1, Ordering::SeqCst);
        self.weight * x
    }
}

#[tokio::test]
async fn a_method_keys_on_its_receiver() {
    let before = calls(&PREDICTS);
    let (a, b) = (Model { weight: 2 }, Model { weight: 3 });
    assert_eq!(a.predict(5).await, 10);
    assert_eq!(a.predict(5).await, 10);
    assert_eq!(b.predict(5).await, 15);
    assert_eq!(calls(&PREDICTS) - before, 2);
    assert_eq!(a.try_predict(5).await.unwrap(), 10);
    assert_eq!(Model::predict_stash().unwrap().len().unwrap(), 2);
}

static SHARED: AtomicUsize = AtomicUsize::new(0);

#[stashed_result(root_dir = ROOT.path().join("shared"), engine = "pairtree", name = "shared::triple", version = "1")]
fn triple_sync(x: u64) -> u64 {
    SHARED.fetch_add(1, Ordering::SeqCst);
    x * 3
}

#[stashed_result(root_dir = ROOT.path().join("shared"), engine = "pairtree", name = "shared::triple", version = "1")]
async fn triple_async(x: u64) -> u64 {
    SHARED.fetch_add(1, Ordering::SeqCst);
    x * 3
}

#[tokio::test]
async fn a_sync_and_an_async_fn_of_one_name_and_version_share_results() {
    let before = calls(&SHARED);
    assert_eq!(triple_sync(2), 6);
    assert_eq!(triple_async(2).await, 6, "read what the sync form stored");
    assert_eq!(triple_async(4).await, 12);
    assert_eq!(triple_sync(4), 12, "read what the async form stored");
    assert_eq!(calls(&SHARED) - before, 2);
    assert_eq!(triple_sync_stash().unwrap().stash().path(), triple_async_stash().unwrap().stash().path());
}
