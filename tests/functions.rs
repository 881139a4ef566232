//! Function results through the facade, as the README shows them: the
//! macros' generated code must find everything under `::hashstash`.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use hashstash::{HashStash, StashRun, stash_mapped, stashed_result};

static ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());
static CALLS: AtomicUsize = AtomicUsize::new(0);

fn expensive_computation(names: Vec<String>, goodnesses: Vec<String>) -> Vec<String> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    names.iter().flat_map(|n| goodnesses.iter().map(move |g| format!("{g} {n}"))).collect()
}

#[stashed_result(root_dir = ROOT.path().join("functions_stash"), engine = "pairtree")]
fn expensive_computation2(names: Vec<String>, goodnesses: Vec<String>) -> Vec<String> {
    expensive_computation(names, goodnesses)
}

#[stash_mapped(root_dir = ROOT.path().join("mapped"), engine = "memory")]
fn describe(name: String, suffix: String) -> String {
    format!("{name}{suffix}")
}

fn names() -> (Vec<String>, Vec<String>) {
    (vec!["cat".into(), "dog".into()], vec!["good".into(), "bad".into()])
}

#[test]
fn run_computes_once_then_returns_the_stored_result() {
    let stash = HashStash::builder().root_dir(ROOT.path().join("run")).clear(true).open().unwrap();
    let before = CALLS.load(Ordering::SeqCst);
    let first = stash.run(expensive_computation, names()).unwrap();
    let second = stash.run(expensive_computation, names()).unwrap();
    assert_eq!(first, second);
    assert_eq!(CALLS.load(Ordering::SeqCst) - before, 1);
    let fs = stash.function_stash(&expensive_computation).unwrap();
    assert_eq!(fs.get_func(&names()).unwrap(), Some(first));
    assert!(fs.stash().path().to_string_lossy().contains("stashed_result"), "{}", fs.stash());
}

#[test]
fn the_macro_caches_and_exposes_the_functions_stash() {
    let a = expensive_computation2(names().0, names().1);
    let b = expensive_computation2(names().0, names().1);
    assert_eq!(a, b);
    let fs = expensive_computation2_stash().unwrap();
    assert_eq!(fs.get_func(&names()).unwrap(), Some(a));
    let items: Vec<_> = fs.items().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(items.len(), 1);
}

#[test]
fn map_computes_each_input_once_and_keeps_order() {
    let stash = HashStash::builder().root_dir(ROOT.path().join("map")).engine("memory").open().unwrap();
    let animals = ["cat", "dog", "aardvark", "zebra"].map(String::from);
    let m = stash
        .map_named("uppercase", |a: String| a.to_uppercase(), animals.clone())
        .unwrap()
        .threads(2)
        .ordered(true)
        .start();
    let results: Vec<String> = m.results().unwrap().into_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(results, ["CAT", "DOG", "AARDVARK", "ZEBRA"]);
    let mapped = describe_map(vec!["mole".into(), "lizard".into()], "!".into());
    let values: Vec<String> =
        mapped.unwrap().results().unwrap().into_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(values, ["mole!", "lizard!"]);
    assert_eq!(describe("turkey".into(), "?".into()), "turkey?");
}

// ---------------------------------------------------------------------------
// Issue 22: function results follow the stash's life cycle (TTL, bounds,
// statistics, clear), one rule for `Result` functions, error TTLs to the
// microsecond, and closures that capture state refused by `run`. Each case runs
// on every embedded engine this build has.
// ---------------------------------------------------------------------------

use std::path::Path;
use std::time::Duration;

use hashstash::{ErrorKind, RunOptions};

/// The embedded engines this build has (`--all-features`: pairtree, memory, lmdb, sqlite, sled).
fn engines() -> Vec<&'static str> {
    hashstash::EngineKind::ALL
        .into_iter()
        .filter(|k| k.factory().is_some() && !matches!(k.name(), "redis" | "mongo"))
        .map(|k| k.name())
        .collect()
}

fn open_on(root: &Path, engine: &str) -> HashStash {
    HashStash::builder().root_dir(root).engine(engine).compress("raw").open().unwrap()
}

/// Calls per (test, argument), so tests running at once never see each other's calls.
static SQUARES: AtomicUsize = AtomicUsize::new(0);
fn square(x: u64) -> u64 {
    SQUARES.fetch_add(1, Ordering::SeqCst);
    x * x
}

static TTL_CALLS: AtomicUsize = AtomicUsize::new(0);
fn ttl_probe(x: u64) -> u64 {
    TTL_CALLS.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[test]
fn results_expire_with_the_stash_ttl_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let stashes: Vec<_> = engines()
        .into_iter()
        .map(|engine| {
            let stash = HashStash::builder()
                .root_dir(dir.path().join(engine))
                .engine(engine)
                .ttl(Duration::from_millis(300))
                .open()
                .unwrap();
            (engine, stash)
        })
        .collect();
    let before = TTL_CALLS.load(Ordering::SeqCst);
    for (engine, stash) in &stashes {
        assert_eq!(stash.run(ttl_probe, (1,)).unwrap(), 2, "{engine}");
        assert_eq!(stash.run(ttl_probe, (1,)).unwrap(), 2, "{engine}");
        // a batched map write (file engines) and a forced run follow the TTL too
        let mapped = stash.map(ttl_probe, [10u64, 11]).unwrap().progress(false).results().unwrap();
        assert_eq!(mapped.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [11, 12], "{engine}");
        stash.run_with(ttl_probe, (20,), RunOptions::new().force(true)).unwrap();
        let fs = stash.function_stash(&ttl_probe).unwrap();
        assert_eq!(fs.len().unwrap(), 4, "{engine}");
        // every result was written with the stash's expiry
        for meta in fs.engine().scan_meta().unwrap() {
            let meta = meta.unwrap();
            let expires =
                meta.expires_at_micros.unwrap_or_else(|| panic!("{engine}: a result without expiry"));
            assert!(expires - meta.written_at_micros <= 300_000, "{engine}: {meta:?}");
        }
    }
    let per_engine = 4;
    assert_eq!(TTL_CALLS.load(Ordering::SeqCst) - before, per_engine * stashes.len());
    std::thread::sleep(Duration::from_millis(400));
    for (engine, stash) in &stashes {
        assert_eq!(stash.run(ttl_probe, (1,)).unwrap(), 2, "{engine}");
        let fs = stash.function_stash(&ttl_probe).unwrap();
        assert_eq!(fs.get_func(&(10,)).unwrap(), None, "{engine}: an expired result is gone");
    }
    assert_eq!(
        TTL_CALLS.load(Ordering::SeqCst) - before,
        (per_engine + 1) * stashes.len(),
        "an expired result is computed again"
    );
}

#[test]
fn results_count_toward_the_bounds_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    for engine in engines() {
        let stash = HashStash::builder()
            .root_dir(dir.path().join(engine))
            .engine(engine)
            .max_entries(5)
            .open()
            .unwrap();
        for x in 0..12u64 {
            stash.run(square, (x,)).unwrap();
        }
        let fs = stash.function_stash(&square).unwrap();
        assert!(fs.len().unwrap() <= 5, "{engine}: run: {} results kept", fs.len().unwrap());
        assert!(fs.stats().unwrap().evictions >= 7, "{engine}");
        // map's writes (batched on file engines) count too
        let mapped = stash.map(square, 100..120u64).unwrap().threads(2).progress(false).results().unwrap();
        assert_eq!(mapped.len(), 20);
        assert!(fs.len().unwrap() <= 5, "{engine}: map: {} results kept", fs.len().unwrap());
    }
}

#[test]
fn function_stash_statistics_count_run_map_and_the_macro_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    for engine in engines() {
        let stash = open_on(&dir.path().join(engine), engine);
        stash.run(square, (3,)).unwrap(); // a miss, a write
        stash.run(square, (3,)).unwrap(); // a hit
        let fs = stash.function_stash(&square).unwrap();
        let stats = fs.stats().unwrap();
        assert_eq!(
            (stats.hits, stats.misses, stats.writes, stats.entries),
            (1, 1, 1, 1),
            "{engine}: {stats:?}"
        );
        // map: one stored input (a hit), two new ones (misses, writes)
        let mapped = stash.map(square, [3u64, 4, 5]).unwrap().progress(false).results().unwrap();
        assert_eq!(mapped.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [9, 16, 25]);
        let stats = fs.stats().unwrap();
        assert_eq!(
            (stats.hits, stats.misses, stats.writes, stats.entries),
            (2, 3, 3, 3),
            "{engine}: {stats:?}"
        );
    }
}

static COUNTED_ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());
#[stashed_result(stash = HashStash::builder().root_dir(COUNTED_ROOT.path()).engine("pairtree").open())]
fn counted(x: u32) -> u32 {
    x * 7
}

#[test]
fn macro_statistics_count_hits_misses_and_writes() {
    assert_eq!(counted(2), 14);
    assert_eq!(counted(2), 14);
    let stats = counted_stash().unwrap().stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.writes), (1, 1, 1), "{stats:?}");
}

fn double(x: u64) -> u64 {
    x * 2
}

fn failing(x: i64) -> Result<i64, String> {
    if x < 0 { Err(format!("negative: {x}")) } else { Ok(x) }
}

/// Fills a stash with function results (run, map, a cached error) and a user sub-stash.
fn fill_results(stash: &HashStash) -> HashStash {
    assert_eq!(stash.run(double, (3,)).unwrap(), 6);
    let mapped = stash.map(double, [4u64, 5]).unwrap().progress(false).stash_map(true).results().unwrap();
    assert_eq!(mapped.len(), 2);
    let cache = RunOptions::new().cache_errors(true);
    assert!(stash.run_with(failing, (-1,), cache).unwrap().is_err());
    stash.set("own", "entry").unwrap();
    let user_sub = stash.sub("child").unwrap();
    user_sub.set("k", "v").unwrap();
    assert_eq!(stash.function_stash(&double).unwrap().len().unwrap(), 3);
    user_sub
}

/// Whether every function stash `fill_results` wrote to is empty (and the stash's own entries gone).
fn assert_results_cleared(stash: &HashStash, what: &str) {
    let fs = stash.function_stash(&double).unwrap();
    assert_eq!(fs.items().unwrap().count(), 0, "{what}: function results survived clear()");
    let maps = fs.sub(hashstash::func::MAPS_DIR).unwrap();
    assert_eq!(maps.len().unwrap(), 0, "{what}: stored maps survived clear()");
    let errors = stash.sub(&format!("stashed_errors/{}", std::any::type_name_of_val(&failing))).unwrap();
    assert_eq!(errors.len().unwrap(), 0, "{what}: cached errors survived clear()");
    assert_eq!(stash.get::<_, String>("own").unwrap(), None, "{what}");
    // Nothing cached any more: computed again, which is a miss of this stash's
    // function stash (a global call counter would also count other tests' calls).
    let misses = fs.stats().unwrap().misses;
    assert_eq!(stash.run(double, (3,)).unwrap(), 6);
    assert_eq!(fs.stats().unwrap().misses, misses + 1, "{what}: a cleared result was served");
}

#[test]
fn clear_empties_function_results_but_not_user_subs_from_the_same_handle() {
    let dir = tempfile::tempdir().unwrap();
    for engine in engines() {
        let stash = open_on(&dir.path().join(engine), engine);
        let user_sub = fill_results(&stash);
        stash.clear().unwrap();
        assert_results_cleared(&stash, engine);
        assert_eq!(
            user_sub.get::<_, String>("k").unwrap().as_deref(),
            Some("v"),
            "{engine}: a user sub was cleared"
        );
    }
}

#[test]
fn clear_empties_function_results_but_not_user_subs_from_a_fresh_handle() {
    let dir = tempfile::tempdir().unwrap();
    for engine in engines() {
        let root = dir.path().join(engine);
        let stash = open_on(&root, engine);
        fill_results(&stash);
        open_on(&root, engine).clear().unwrap();
        assert_results_cleared(&stash, engine);
        let reopened = open_on(&root, engine).sub("child").unwrap();
        assert_eq!(
            reopened.get::<_, String>("k").unwrap().as_deref(),
            Some("v"),
            "{engine}: a user sub was cleared"
        );
    }
}

const CLEAR_ROOT_ENV: &str = "HASHSTASH_TEST_CLEAR_ROOT";
const CLEAR_ENGINE_ENV: &str = "HASHSTASH_TEST_CLEAR_ENGINE";

/// Run by `clear_from_another_process_empties_function_results` in a child
/// process: clears the stash through a handle that never saw its functions.
#[test]
fn clear_child() {
    let (Some(root), Some(engine)) = (std::env::var_os(CLEAR_ROOT_ENV), std::env::var(CLEAR_ENGINE_ENV).ok())
    else {
        return;
    };
    open_on(Path::new(&root), &engine).clear().unwrap();
}

#[test]
fn clear_from_another_process_empties_function_results() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // sled allows one process at a time; memory is not shared between processes
    for engine in engines().into_iter().filter(|e| !matches!(*e, "sled" | "memory")) {
        let root = dir.path().join(engine);
        let stash = open_on(&root, engine);
        let user_sub = fill_results(&stash);
        let status = std::process::Command::new(&exe)
            .args(["--exact", "clear_child", "--test-threads", "1", "--nocapture"])
            .env(CLEAR_ROOT_ENV, &root)
            .env(CLEAR_ENGINE_ENV, engine)
            .status()
            .unwrap();
        assert!(status.success(), "{engine}: the clearing process failed");
        assert_results_cleared(&stash, engine);
        assert_eq!(user_sub.get::<_, String>("k").unwrap().as_deref(), Some("v"), "{engine}");
    }
}

static CLEARED_ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());
static SLOW_CALLS: AtomicUsize = AtomicUsize::new(0);
#[stashed_result(stash = HashStash::builder().root_dir(CLEARED_ROOT.path()).dbname("fn").open())]
fn slow(x: u32) -> u32 {
    SLOW_CALLS.fetch_add(1, Ordering::SeqCst);
    x * 2
}

#[test]
fn clear_empties_a_stashed_result_functions_stash_from_any_handle() {
    assert_eq!(slow(3), 6);
    assert_eq!(slow_stash().unwrap().items().unwrap().count(), 1);
    HashStash::builder().root_dir(CLEARED_ROOT.path()).dbname("fn").open().unwrap().clear().unwrap();
    assert_eq!(slow_stash().unwrap().items().unwrap().count(), 0);
    let before = SLOW_CALLS.load(Ordering::SeqCst);
    assert_eq!(slow(3), 6);
    assert_eq!(SLOW_CALLS.load(Ordering::SeqCst), before + 1);
}

static PARSES: AtomicUsize = AtomicUsize::new(0);
fn parse(s: String) -> Result<u32, String> {
    PARSES.fetch_add(1, Ordering::SeqCst);
    s.parse().map_err(|_| format!("not a number: {s}"))
}

#[test]
fn run_and_map_store_ok_values_only_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    for engine in engines() {
        let stash = open_on(&dir.path().join(engine), engine);
        let before = PARSES.load(Ordering::SeqCst);
        assert_eq!(stash.run(parse, ("x".to_string(),)).unwrap(), Err("not a number: x".to_string()));
        assert_eq!(stash.run(parse, ("x".to_string(),)).unwrap(), Err("not a number: x".to_string()));
        assert_eq!(PARSES.load(Ordering::SeqCst) - before, 2, "{engine}: run cached an Err");
        assert_eq!(stash.run(parse, ("7".to_string(),)).unwrap(), Ok(7));
        assert_eq!(stash.run(parse, ("7".to_string(),)).unwrap(), Ok(7));
        assert_eq!(PARSES.load(Ordering::SeqCst) - before, 3, "{engine}: run did not store an Ok");
        for _ in 0..2 {
            let mapped = stash.map(parse, ["y".to_string(), "8".to_string()]).unwrap().progress(false);
            let results: Vec<_> =
                mapped.stash_map(true).results().unwrap().into_iter().map(Result::unwrap).collect();
            assert_eq!(results, [Err("not a number: y".to_string()), Ok(8)]);
        }
        // y: computed by both maps; 8: once
        assert_eq!(PARSES.load(Ordering::SeqCst) - before, 6, "{engine}: map cached an Err");
        let fs = stash.function_stash(&parse).unwrap();
        assert_eq!(fs.len().unwrap(), 2, "{engine}: only Ok values are stored");
        // errors are cached only when asked
        let cache = RunOptions::new().cache_errors(true);
        assert!(stash.run_with(parse, ("z".to_string(),), cache.clone()).unwrap().is_err());
        assert!(stash.run_with(parse, ("z".to_string(),), cache.clone()).unwrap().is_err());
        assert!(stash.try_run_with(parse, ("z".to_string(),), cache).unwrap().is_err());
        assert_eq!(PARSES.load(Ordering::SeqCst) - before, 7, "{engine}: a cached error was not used");
        assert_eq!(fs.len().unwrap(), 2, "{engine}: errors are kept apart");
    }
}

type Parsed = Result<u32, String>;
static ALIASED: AtomicUsize = AtomicUsize::new(0);
static ALIAS_ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());
/// A `Result` the macro does not see spelled `Result<T, E>`.
#[stashed_result(root_dir = ALIAS_ROOT.path(), engine = "pairtree")]
fn parse_aliased(s: String) -> Parsed {
    ALIASED.fetch_add(1, Ordering::SeqCst);
    s.parse().map_err(|_| format!("not a number: {s}"))
}

#[test]
fn the_macro_stores_ok_values_only_whatever_the_return_type_is_called() {
    let before = ALIASED.load(Ordering::SeqCst);
    assert!(parse_aliased("q".into()).is_err());
    assert!(parse_aliased("q".into()).is_err());
    assert_eq!(ALIASED.load(Ordering::SeqCst) - before, 2, "the macro cached an Err");
    assert_eq!(parse_aliased("5".into()), Ok(5));
    assert_eq!(parse_aliased("5".into()), Ok(5));
    assert_eq!(ALIASED.load(Ordering::SeqCst) - before, 3);
}

static FLAKES: AtomicUsize = AtomicUsize::new(0);
fn flaky(x: i64) -> Result<i64, String> {
    FLAKES.fetch_add(1, Ordering::SeqCst);
    Err(format!("flaked on {x}"))
}

#[test]
fn error_ttl_keeps_its_microseconds_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions::new().cache_errors(true).error_ttl(Duration::from_millis(300));
    let stashes: Vec<_> = engines().into_iter().map(|e| (e, open_on(&dir.path().join(e), e))).collect();
    let before = FLAKES.load(Ordering::SeqCst);
    for (engine, stash) in &stashes {
        assert!(stash.try_run_with(flaky, (1,), opts.clone()).unwrap().is_err());
        assert!(stash.try_run_with(flaky, (1,), opts.clone()).unwrap().is_err());
        let errors = stash.sub(&format!("stashed_errors/{}", std::any::type_name_of_val(&flaky))).unwrap();
        let metas: Vec<_> = errors.engine().scan_meta().unwrap().map(Result::unwrap).collect();
        assert_eq!(metas.len(), 1, "{engine}");
        let expires = metas[0].expires_at_micros.unwrap_or_else(|| panic!("{engine}: no expiry stored"));
        let ttl = expires - metas[0].written_at_micros;
        assert!(ttl > 0 && ttl <= 300_000, "{engine}: the error expires {ttl} µs after it was written");
    }
    assert_eq!(FLAKES.load(Ordering::SeqCst) - before, stashes.len(), "cached errors are used");
    std::thread::sleep(Duration::from_millis(400));
    for (_, stash) in &stashes {
        assert!(stash.try_run_with(flaky, (1,), opts.clone()).unwrap().is_err());
    }
    assert_eq!(
        FLAKES.load(Ordering::SeqCst) - before,
        2 * stashes.len(),
        "an expired error is computed again"
    );
}

fn make_adder(n: u64) -> impl Fn(u64) -> u64 {
    move |x| x + n
}

#[test]
fn closures_that_capture_state_are_refused_by_run() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ["memory", "pairtree"] {
        let stash = open_on(&dir.path().join(engine), engine);
        for n in [1, 100] {
            let e = stash.run(make_adder(n), (5,)).unwrap_err();
            let e = hashstash::Error::from(e);
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(e.to_string().contains("run_named"), "{e}");
        }
        let e = hashstash::Error::from(stash.map(make_adder(1), [1u64]).err().unwrap());
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        // named, each closure keeps its own results
        let got: Vec<u64> =
            [1, 100].map(|n| stash.run_named(&format!("adder+{n}"), make_adder(n), (5,)).unwrap()).into();
        assert_eq!(got, [6, 105]);
        // fn items keep working; a closure has no stable name, even one that captures nothing
        assert!(stash.run(|x: u64| x + 1, (5,)).is_err(), "{engine}: a closure needs run_named");
        assert_eq!(stash.run_named("plus_one", |x: u64| x + 1, (5,)).unwrap(), 6);
        assert_eq!(stash.run(double, (5,)).unwrap(), 10);
        let f: fn(u64) -> u64 = double;
        assert!(stash.run(f, (5,)).is_err(), "{engine}: a function pointer is not told apart by its type");
    }
}
