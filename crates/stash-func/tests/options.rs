//! `#[stashed_result]`'s options of the key (`ignore`, `key`, `key_type`,
//! `store_args`), of the function (`ttl`, `ttl_secs`, `max_entries`,
//! `append`), borrowed and generic arguments, and `deps`.
mod common;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use serde::Serialize;
use stash_func::{stash_fingerprint, stashed_result};

/// What the facade offers the macro.
mod hs {
    pub use stash_core::Error;
    pub use stash_func as func;
}

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());

fn mem() -> stash_core::Result<stash_core::Stash> {
    Ok(common::memory(&DIR.path().join("mem")))
}

/// Counts the calls of each function by name.
static CALLS: LazyLock<Mutex<HashMap<&'static str, usize>>> = LazyLock::new(Default::default);

fn called(name: &'static str) {
    *CALLS.lock().unwrap().entry(name).or_default() += 1;
}

fn calls(name: &'static str) -> usize {
    CALLS.lock().unwrap().get(name).copied().unwrap_or(0)
}

/// Not `Serialize`: a connection cannot be part of a key.
struct Connection {
    queries: usize,
}

/// Not `Serialize` either.
struct Logger {
    lines: Mutex<Vec<String>>,
}

#[stashed_result(stash = mem(), crate = "crate::hs", ignore = [conn, log])]
fn lookup(id: u32, conn: &mut Connection, log: &Logger) -> String {
    called("lookup");
    conn.queries += 1;
    log.lines.lock().unwrap().push(format!("looked up {id}"));
    format!("user {id}")
}

#[test]
fn ignored_arguments_are_left_out_of_the_key() {
    let mut conn = Connection { queries: 0 };
    let mut other = Connection { queries: 0 };
    let log = Logger { lines: Mutex::new(vec![]) };
    assert_eq!(lookup(7, &mut conn, &log), "user 7");
    assert_eq!(lookup(7, &mut other, &log), "user 7", "another connection, same key");
    assert_eq!(lookup(8, &mut other, &log), "user 8");
    assert_eq!(calls("lookup"), 2);
    assert_eq!((conn.queries, other.queries), (1, 1));
    let fs = lookup_stash().unwrap();
    let keys: Vec<(u32,)> = fs.keys().unwrap().map(Result::unwrap).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&(7,)) && keys.contains(&(8,)));
    assert_eq!(fs.get_func(&(7,)).unwrap(), Some("user 7".to_string()));
}

#[derive(Serialize)]
struct User {
    id: u64,
    name: String,
    last_seen: u64,
}

#[stashed_result(stash = mem(), crate = "crate::hs", key = user.id, key_type = u64)]
fn profile(user: &User) -> String {
    called("profile");
    format!("{} ({})", user.name, user.id)
}

#[stashed_result(stash = mem(), crate = "crate::hs", key = (b, a))]
fn difference(a: i64, b: i64, trace: bool) -> i64 {
    called("difference");
    if trace {
        println!("{a} - {b}");
    }
    a - b
}

#[test]
fn a_key_expression_is_the_whole_key() {
    let mut ann = User { id: 1, name: "ann".into(), last_seen: 10 };
    assert_eq!(profile(&ann), "ann (1)");
    ann.last_seen = 99;
    ann.name = "ann b.".into();
    assert_eq!(profile(&ann), "ann (1)", "only the id is the key");
    assert_eq!(calls("profile"), 1);
    assert_eq!(ann.last_seen, 99);
    let fs = profile_stash().unwrap();
    assert_eq!(fs.get_func(&1).unwrap(), Some("ann (1)".to_string()));
    assert_eq!(fs.keys().unwrap().map(Result::unwrap).collect::<Vec<u64>>(), [1]);

    // a tuple of arguments: its type is told from the signature
    assert_eq!(difference(5, 3, false), 2);
    assert_eq!(difference(5, 3, true), 2, "`trace` is not in the key");
    assert_eq!(calls("difference"), 1);
    assert_eq!(difference_stash().unwrap().get_func(&(3, 5)).unwrap(), Some(2));
}

#[stashed_result(stash = mem(), crate = "crate::hs", store_args = false)]
fn checksum(data: Vec<u8>) -> u64 {
    called("checksum");
    data.iter().map(|&b| b as u64).sum()
}

#[test]
fn without_stored_arguments_the_key_is_their_digest() {
    let big = vec![7u8; 100_000];
    assert_eq!(checksum(big.clone()), 700_000);
    assert_eq!(checksum(big.clone()), 700_000);
    assert_eq!(calls("checksum"), 1);
    let fs = checksum_stash().unwrap();
    let items: Vec<(String, u64)> = fs.items().unwrap().map(Result::unwrap).collect();
    let digest = fs.args_digest(&(big.clone(),)).unwrap();
    assert_eq!(digest.len(), 32);
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(items, vec![(digest.clone(), 700_000)]);
    assert_eq!(fs.get_func(&digest).unwrap(), Some(700_000));
    let raw_keys: usize = fs.raw_keys().unwrap().map(|k| k.unwrap().len()).sum();
    assert!(raw_keys < 100, "the arguments are not stored: {raw_keys} bytes of keys");
}

#[stashed_result(stash = mem(), crate = "crate::hs", ttl = "300ms")]
fn short_lived(x: u32) -> u32 {
    called("short_lived");
    x * 2
}

#[stashed_result(stash = mem(), crate = "crate::hs", ttl_secs = 3600, max_entries = 2)]
fn bounded(x: u32) -> u32 {
    called("bounded");
    x + 1
}

#[stashed_result(stash = mem(), crate = "crate::hs", ttl = "1h30m")]
fn hour_and_a_half(x: u32) -> u32 {
    x
}

#[test]
fn ttl_and_max_entries_are_the_functions_own() {
    assert_eq!(short_lived(1), 2);
    assert_eq!(short_lived(1), 2);
    assert_eq!(calls("short_lived"), 1);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(short_lived(1), 2);
    assert_eq!(calls("short_lived"), 2, "expired, so computed again");
    let fs = short_lived_stash().unwrap();
    assert_eq!(fs.config().ttl, Some(Duration::from_millis(300)));

    for x in 0..6 {
        assert_eq!(bounded(x), x + 1);
    }
    let fs = bounded_stash().unwrap();
    assert_eq!(fs.config().ttl, Some(Duration::from_secs(3600)));
    assert_eq!(fs.config().max_entries, Some(2));
    assert!(fs.len().unwrap() <= 2, "{} results kept", fs.len().unwrap());
    assert!(fs.stats().unwrap().evictions >= 4);

    // The stash they live under keeps its own settings.
    let parent = mem().unwrap();
    assert_eq!((parent.config().ttl, parent.config().max_entries), (None, None));

    assert_eq!(hour_and_a_half(3), 3);
    assert_eq!(hour_and_a_half_stash().unwrap().config().ttl, Some(Duration::from_secs(5400)));
}

static VERSIONS: AtomicUsize = AtomicUsize::new(0);

#[stashed_result(stash = mem(), crate = "crate::hs", append = true, ttl = "200ms")]
fn sampled(x: u32) -> usize {
    called("sampled");
    x as usize * 1000 + VERSIONS.fetch_add(1, Ordering::SeqCst)
}

#[stashed_result(stash = mem(), crate = "crate::hs")]
fn replaced(x: u32) -> u32 {
    x
}

#[test]
fn append_keeps_every_result_as_a_version() {
    let first = sampled(1);
    assert_eq!(sampled(1), first);
    let fs = sampled_stash().unwrap();
    assert!(fs.config().append_mode);
    fs.set(&(1u32,), &42usize).unwrap();
    let all: Vec<usize> = fs.get_all(&(1u32,)).unwrap();
    assert_eq!(all, [first, 42], "a new result is a version of its key");

    assert_eq!(replaced(1), 1);
    let fs = replaced_stash().unwrap();
    assert!(!fs.config().append_mode);
    fs.set(&(1u32,), &42u32).unwrap();
    assert_eq!(fs.get_all::<_, u32>(&(1u32,)).unwrap(), [42], "without append, replaced");
}

#[stashed_result(stash = mem(), crate = "crate::hs")]
fn count_matches(text: &str, words: &[String], prefix: Option<&str>, suffix: Cow<'_, str>) -> usize {
    called("count_matches");
    text.split_whitespace()
        .filter(|w| words.iter().any(|x| x == w))
        .filter(|w| prefix.is_none_or(|p| w.starts_with(p)))
        .filter(|w| w.ends_with(&*suffix))
        .count()
}

#[stashed_result(stash = mem(), crate = "crate::hs")]
fn total_len(items: Vec<&str>, path: &std::path::Path, pair: (&str, &u32)) -> usize {
    called("total_len");
    items.iter().map(|s| s.len()).sum::<usize>() + path.as_os_str().len() + pair.0.len() + *pair.1 as usize
}

#[test]
fn borrowed_arguments_are_keyed_without_a_clone_and_stored_owned() {
    let words = vec!["cat".to_string(), "cow".to_string()];
    let text = String::from("cat cow dog cat");
    assert_eq!(count_matches(&text, &words, Some("c"), Cow::Borrowed("t")), 2);
    assert_eq!(count_matches(&text, &words, Some("c"), Cow::Owned("t".into())), 2, "Cow: same key");
    assert_eq!(count_matches("cat cow dog cat", &words[..1], None, "".into()), 2);
    assert_eq!(calls("count_matches"), 2);
    // The stash's key type is the owned form.
    let fs: stash_func::FunctionStash<(String, Vec<String>, Option<String>, String), usize> =
        count_matches_stash().unwrap();
    let key = (text.clone(), words.clone(), Some("c".to_string()), "t".to_string());
    assert_eq!(fs.get_func(&key).unwrap(), Some(2));
    assert_eq!(fs.len().unwrap(), 2);

    let path = std::path::PathBuf::from("/tmp/x");
    assert_eq!(total_len(vec!["ab", "c"], &path, ("de", &4)), 3 + 6 + 2 + 4);
    assert_eq!(total_len(vec!["ab", "c"], &path, ("de", &4)), 15);
    assert_eq!(calls("total_len"), 1);
    let fs = total_len_stash().unwrap();
    let key = (vec!["ab".to_string(), "c".to_string()], path.clone(), ("de".to_string(), 4u32));
    assert_eq!(fs.get_func(&key).unwrap(), Some(15));
}

#[stashed_result(stash = mem(), crate = "crate::hs")]
fn parse_num(s: &str) -> Result<u32, stash_core::Error> {
    called("parse_num");
    s.parse().map_err(|_| stash_core::Error::new(stash_core::ErrorKind::Decode, format!("not a number: {s}")))
}

#[test]
fn a_result_function_takes_borrowed_arguments_too() {
    assert_eq!(parse_num("12").unwrap(), 12);
    assert_eq!(parse_num("12").unwrap(), 12);
    assert!(parse_num("x").is_err());
    assert!(parse_num("x").is_err());
    assert_eq!(calls("parse_num"), 3, "errors are not stored");
    assert_eq!(parse_num_stash().unwrap().get_func(&("12".to_string(),)).unwrap(), Some(12));
}

#[stashed_result(stash = mem(), crate = "crate::hs", key = x.to_string(), key_type = String)]
fn shown<T: Display>(x: T) -> usize {
    called("shown");
    x.to_string().len()
}

#[stashed_result(stash = mem(), crate = "crate::hs", ignore = [progress])]
fn steps(n: u32, progress: impl Fn(u32)) -> u32 {
    called("steps");
    (0..n).inspect(|&i| progress(i)).sum()
}

#[test]
fn generic_functions_work_with_a_key_of_their_own() {
    assert_eq!(shown(12345u32), 5);
    assert_eq!(shown("12345"), 5, "another type, same key");
    assert_eq!(shown(12.5f64), 4);
    assert_eq!(calls("shown"), 2);
    assert_eq!(shown_stash().unwrap().get_func(&"12345".to_string()).unwrap(), Some(5));

    let seen = Mutex::new(0);
    assert_eq!(steps(4, |_| *seen.lock().unwrap() += 1), 6);
    assert_eq!(steps(4, |_| panic!("not called: stored")), 6);
    assert_eq!(*seen.lock().unwrap(), 4);
    assert_eq!(try_steps(4, |_| ()).unwrap(), 6);
    assert_eq!(calls("steps"), 1);
}

/// Not `Serialize`: only usable as a receiver with `ignore = [self]`.
struct Pool {
    size: usize,
}

impl Pool {
    #[stashed_result(stash = mem(), crate = "crate::hs", ignore = [self])]
    fn cube(&self, x: u64) -> u64 {
        called("cube");
        assert!(self.size > 0);
        x * x * x
    }
}

#[test]
fn a_method_may_leave_self_out_of_the_key() {
    assert_eq!(Pool { size: 1 }.cube(3), 27);
    assert_eq!(Pool { size: 8 }.cube(3), 27);
    assert_eq!(calls("cube"), 1);
    assert_eq!(Pool::cube_stash().unwrap().get_func(&(3,)).unwrap(), Some(27));
}

/// Three helpers: the first and third have the same code, the second not.
mod helpers_v1 {
    #[stash_func::stash_fingerprint]
    pub fn helper(x: u32) -> u32 {
        x + 1
    }
}
mod helpers_v2 {
    #[stash_func::stash_fingerprint]
    pub fn helper(x: u32) -> u32 {
        x + 2
    }
}
mod helpers_v1_again {
    #[stash_func::stash_fingerprint]
    pub fn helper(x: u32) -> u32 {
        x + 1
    }
}

/// One dependant (same name, same code, same stash) built against each
/// helper: as if the crate were rebuilt after the helper changed (v2) or
/// after an edit that changed nothing (v1 again).
mod built_with_v1 {
    use super::*;
    #[stashed_result(stash = mem(), crate = "crate::hs", name = "dependant", deps = [super::helpers_v1::helper])]
    pub fn dependant(x: u32) -> u32 {
        called("dependant");
        x * 10
    }
}
mod built_with_v2 {
    use super::*;
    #[stashed_result(stash = mem(), crate = "crate::hs", name = "dependant", deps = [super::helpers_v2::helper])]
    pub fn dependant(x: u32) -> u32 {
        called("dependant");
        x * 10
    }
}
mod built_with_v1_again {
    use super::*;
    #[stashed_result(stash = mem(), crate = "crate::hs", name = "dependant", deps = [super::helpers_v1_again::helper])]
    pub fn dependant(x: u32) -> u32 {
        called("dependant");
        x * 10
    }
}

/// A chain: `outer` depends on `middle`, which depends on a helper.
mod chain {
    use super::*;
    #[stash_fingerprint(crate = "crate::hs", deps = [super::helpers_v2::helper])]
    pub fn middle(x: u32) -> u32 {
        super::helpers_v2::helper(x)
    }
    #[stashed_result(stash = mem(), crate = "crate::hs", deps = [middle, built_with_v1::dependant])]
    pub fn outer(x: u32) -> u32 {
        middle(x)
    }
}

#[test]
fn a_changed_dependency_invalidates_the_dependant() {
    assert_eq!(helpers_v1::helper(1) + helpers_v2::helper(1) + helpers_v1_again::helper(1), 7);
    let v1 = built_with_v1::dependant_stash().unwrap();
    let v2 = built_with_v2::dependant_stash().unwrap();
    let v1_again = built_with_v1_again::dependant_stash().unwrap();
    assert_eq!(helpers_v1::__stash_fingerprint_helper(), helpers_v1_again::__stash_fingerprint_helper());
    assert_ne!(helpers_v1::__stash_fingerprint_helper(), helpers_v2::__stash_fingerprint_helper());
    assert_ne!(v1.version(), v2.version(), "a changed helper: a new version");
    assert_eq!(v1.version(), v1_again.version(), "an unchanged helper: the same version");
    assert!(v1.version().unwrap().starts_with("code-"));
    assert_ne!(v1.path(), v2.path());

    assert_eq!(built_with_v1::dependant(3), 30);
    assert_eq!(built_with_v1_again::dependant(3), 30);
    assert_eq!(calls("dependant"), 1, "same code and helpers: results kept");
    assert_eq!(built_with_v2::dependant(3), 30);
    assert_eq!(calls("dependant"), 2, "the helper changed: computed again");
    assert_eq!(v2.len().unwrap(), 1);

    // Fingerprints chain, and a stashed function can be a dependency too.
    assert_eq!(chain::outer(1), 3);
    assert_ne!(chain::__stash_fingerprint_middle(), helpers_v2::__stash_fingerprint_helper());
    assert_eq!(built_with_v1::__stash_fingerprint_dependant(), v1.version().unwrap());
    assert_eq!(chain::__stash_fingerprint_outer(), chain::outer_stash().unwrap().version().unwrap());
}

#[stashed_result(stash = mem(), crate = "crate::hs", name = "billing::invoice_total")]
fn renamed(x: u32) -> u32 {
    x
}

/// Names are literals from the source: `module_path!()::f` (here the test
/// crate `options`), or `name = ...`; no type name or type id is involved,
/// so a new compiler finds the same folders.
#[test]
fn names_are_literals_from_the_source() {
    let fs = lookup_stash().unwrap();
    assert_eq!(fs.name(), "options::lookup");
    assert_eq!(fs.name(), concat!(module_path!(), "::lookup"));
    let folder = fs.path().to_string_lossy().into_owned();
    assert!(folder.contains("stashed_result/options::lookup/code-"), "{folder}");
    assert_eq!(built_with_v1::dependant_stash().unwrap().name(), "dependant");
    assert_eq!(renamed(1), 1);
    let fs = renamed_stash().unwrap();
    assert_eq!(fs.name(), "billing::invoice_total");
    assert!(fs.path().to_string_lossy().contains("stashed_result/billing::invoice_total/code-"));
}

fn disk() -> stash_core::Result<stash_core::Stash> {
    Ok(common::pairtree(&DIR.path().join("disk")))
}

#[stashed_result(stash = disk(), crate = "crate::hs", prune_old_versions = true)]
fn pruned(x: u32) -> u32 {
    x + 1
}

/// `prune_old_versions = true`: the first open in a process deletes what
/// earlier code versions left; `old_versions_bytes` tells what that was.
#[test]
fn old_code_versions_are_pruned_on_first_open_when_asked() {
    let parent = disk().unwrap();
    let name = "options::pruned";
    let old =
        stash_func::__private::function_stash::<(u32,), u32>(Ok(&parent), name, "code-0123456789abcdef")
            .unwrap();
    old.set(&(1u32,), &5u32).unwrap();
    old.flush().unwrap();
    let current =
        stash_func::__private::function_stash::<(u32,), u32>(Ok(&parent), name, __stash_fingerprint_pruned())
            .unwrap();
    assert_eq!(current.old_versions().unwrap(), ["code-0123456789abcdef"]);
    let bytes = current.old_versions_bytes().unwrap();
    assert!(bytes > 0, "{bytes}");
    assert_eq!(pruned(1), 2, "the first call opens the stash, and prunes");
    assert_eq!(current.old_versions().unwrap(), Vec::<String>::new());
    assert_eq!(current.old_versions_bytes().unwrap(), 0);
    assert_eq!(pruned_stash().unwrap().get_func(&(1,)).unwrap(), Some(2), "the current version stays");
}
