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
    let m =
        stash.map(|a: String| a.to_uppercase(), animals.clone()).unwrap().threads(2).ordered(true).start();
    let results: Vec<String> = m.results().unwrap().into_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(results, ["CAT", "DOG", "AARDVARK", "ZEBRA"]);
    let mapped = describe_map(vec!["mole".into(), "lizard".into()], "!".into());
    let values: Vec<String> =
        mapped.unwrap().results().unwrap().into_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(values, ["mole!", "lizard!"]);
    assert_eq!(describe("turkey".into(), "?".into()), "turkey?");
}
