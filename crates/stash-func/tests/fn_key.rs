//! `fn_key!`: a function as a stash key, named by its path and code fingerprint
//! (issue 16), on the memory and pairtree engines with every serializer, and on the
//! server engines when their URLs are set.

use std::sync::{Arc, LazyLock};

use stash_core::testkit::service_url;
use stash_core::{EngineFactory, Format, Stash, StashConfig, Value};
use stash_func::{FnKey, fn_key, stash_fingerprint, stashed_result};

mod common;

/// What the facade offers `#[stashed_result]`.
mod hs {
    pub use stash_func as func;
}

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());

fn mem() -> stash_core::Result<Stash> {
    Ok(common::memory(&DIR.path().join("mem")))
}

#[stash_fingerprint]
fn describe(x: u32) -> String {
    format!("{x} is good")
}

/// The same name, the same body, another module: another key (its path differs).
mod same_body {
    #[stash_func::stash_fingerprint]
    pub fn describe(x: u32) -> String {
        format!("{x} is good")
    }
}

/// The same name, another body: another fingerprint.
mod changed_body {
    #[stash_func::stash_fingerprint]
    pub fn describe(x: u32) -> String {
        format!("{x} is bad")
    }
}

#[stash_fingerprint]
fn helper(x: u32) -> u32 {
    x * 2
}

/// A helper's fingerprint counts in the key of a function naming it in `deps`.
#[stash_fingerprint(crate = "hs", deps = [helper])]
fn uses_helper(x: u32) -> u32 {
    helper(x) + 1
}

#[stashed_result(stash = mem(), crate = "hs")]
fn stashed(x: u32) -> u32 {
    x + 1
}

/// A Rust identifier that is a Python keyword.
#[stash_fingerprint]
fn lambda() -> u32 {
    1
}

#[derive(serde::Serialize)]
struct Model;

#[stashed_result]
impl Model {
    #[stashed_result(stash = mem(), crate = "hs")]
    fn predict(&self, x: u32) -> u32 {
        x * 3
    }

    fn key() -> FnKey {
        fn_key!(Self::predict)
    }
}

fn open(dir: &std::path::Path, engine: &str, serializer: &str, url: Option<&str>) -> Stash {
    let mut cfg = StashConfig::default();
    cfg.engine = engine.into();
    cfg.root_dir = dir.into();
    cfg.serializer = serializer.parse().unwrap();
    cfg.url = url.map(Into::into);
    let factory: Arc<dyn EngineFactory> = match engine {
        "memory" => Arc::new(stash_engine_memory::Memory),
        "pairtree" => Arc::new(stash_engine_pairtree::Pairtree),
        "redis" => Arc::new(stash_engine_redis::Redis),
        _ => Arc::new(stash_engine_mongo::Mongo),
    };
    Stash::open(cfg, factory).unwrap()
}

#[test]
fn a_function_key_names_the_function_by_path_and_code_version() {
    let key = fn_key!(describe);
    assert_eq!(key.py(), "fn_key.describe");
    assert_eq!(key.name(), "describe");
    assert_eq!(key, fn_key!(describe), "a key is the same on every call");
    let source = key.source().unwrap();
    assert!(
        source.contains("fn_key::describe") && source.contains(__stash_fingerprint_describe()),
        "{source}"
    );

    // Same name and body in another module: the same fingerprint, another key.
    assert_eq!(same_body::__stash_fingerprint_describe(), __stash_fingerprint_describe());
    assert_eq!(fn_key!(same_body::describe).py(), "fn_key::same_body.describe");
    assert_ne!(fn_key!(same_body::describe), key);
    // Another body: another fingerprint, so another key even under the same path.
    assert_ne!(changed_body::__stash_fingerprint_describe(), same_body::__stash_fingerprint_describe());
    let moved = FnKey::new("fn_key::same_body::describe", changed_body::__stash_fingerprint_describe());
    assert_ne!(moved, fn_key!(same_body::describe));
    let rebuilt = FnKey::new("fn_key::same_body::describe", same_body::__stash_fingerprint_describe());
    assert_eq!(rebuilt, fn_key!(same_body::describe));

    // The functions themselves are unchanged by the attribute.
    assert_eq!((describe(1), same_body::describe(1)), ("1 is good".into(), "1 is good".into()));
    assert_eq!(changed_body::describe(1), "1 is bad");
    assert_eq!(uses_helper(2), 5);

    // A helper's code version counts (`deps`).
    assert!(fn_key!(uses_helper).source().unwrap().contains(__stash_fingerprint_uses_helper()));
    assert_ne!(__stash_fingerprint_uses_helper(), __stash_fingerprint_helper());

    // `#[stashed_result]` functions and methods have keys too; the function still runs.
    assert_eq!(stashed(1), 2);
    assert_eq!(fn_key!(stashed).py(), "fn_key.stashed");
    assert_eq!(Model::key().py(), "fn_key::Model.predict");
    assert_eq!(Model.predict(2), 6);
    // A Python keyword as a name still makes a key Python can load.
    assert_eq!(fn_key!(lambda).name(), "lambda");
    assert_eq!(lambda(), 1);
}

fn set_and_get_on(stash: &Stash) {
    stash.clear().unwrap();
    stash.set(&fn_key!(describe), "cat").unwrap();
    stash.set(&fn_key!(same_body::describe), "dog").unwrap();
    stash.set(&fn_key!(changed_body::describe), "fish").unwrap();
    let ctx = format!("{} {}", stash.config().engine, stash.config().serializer);
    assert_eq!(stash.get::<_, String>(&fn_key!(describe)).unwrap().as_deref(), Some("cat"), "{ctx}");
    assert_eq!(
        stash.get::<_, String>(&fn_key!(same_body::describe)).unwrap().as_deref(),
        Some("dog"),
        "{ctx}"
    );
    assert_eq!(
        stash.get::<_, String>(&fn_key!(changed_body::describe)).unwrap().as_deref(),
        Some("fish"),
        "{ctx}"
    );
    assert_eq!(stash.get::<_, String>(&fn_key!(uses_helper)).unwrap(), None, "{ctx}");
    // The keys read back as function keys (and, self-describing, as values that find their entries).
    let mut keys: Vec<FnKey> = stash.keys().unwrap().collect::<Result<_, _>>().unwrap();
    keys.sort();
    let mut want = vec![fn_key!(describe), fn_key!(same_body::describe), fn_key!(changed_body::describe)];
    want.sort();
    assert_eq!(keys, want, "{ctx}");
    if stash.config().serializer != Format::Postcard {
        for key in stash.keys::<Value>().unwrap() {
            let key = key.unwrap();
            assert!(stash.get::<_, String>(&key).unwrap().is_some(), "{ctx}: {key} finds nothing");
        }
    }
}

#[test]
fn function_keys_on_every_serializer() {
    for engine in ["memory", "pairtree"] {
        for serializer in ["hashstash", "json", "msgpack", "postcard"] {
            let dir = tempfile::tempdir().unwrap();
            set_and_get_on(&open(dir.path(), engine, serializer, None));
        }
    }
}

#[test]
fn function_keys_on_the_servers() {
    for (engine, var) in [("redis", "HASHSTASH_REDIS_URL"), ("mongo", "HASHSTASH_MONGO_URL")] {
        let Some(url) = service_url(var) else { continue };
        let dir = tempfile::tempdir().unwrap();
        set_and_get_on(&open(dir.path(), engine, "hashstash", Some(&url)));
    }
}
