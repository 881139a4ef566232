//! The dictionary API through the facade, as the README shows it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use hashstash::{EngineKind, HashStash, Set, StashConfig, Value};

fn stash(root: &std::path::Path, engine: &str) -> HashStash {
    HashStash::builder().root_dir(root).engine(engine).clear(true).open().unwrap()
}

#[test]
fn defaults_follow_the_python_library() {
    let cfg = StashConfig::default();
    assert_eq!(cfg.engine, "pairtree");
    assert_eq!(cfg.serializer, "hashstash");
    assert_eq!(cfg.compress, "lz4");
    assert_eq!(cfg.dbname, "main");
    assert_eq!(cfg.root_dir, std::path::PathBuf::from("default_stash"));
}

#[test]
fn display_matches_the_python_form() {
    let dir = tempfile::tempdir().unwrap();
    let s = HashStash::builder()
        .root_dir(dir.path().join("project_stash"))
        .dbname("sub_stash")
        .compress("lz4")
        .b64(true)
        .open()
        .unwrap();
    assert_eq!(
        s.to_string(),
        format!(
            "PairtreeHashStash({}/project_stash/sub_stash/pairtree.hashstash.lz4+b64/data.db)",
            dir.path().display()
        )
    );
    let m = HashStash::builder().root_dir(dir.path()).engine(EngineKind::Memory).open().unwrap();
    assert!(m.to_string().starts_with("MemoryHashStash("), "{m}");
}

#[test]
fn config_round_trips_through_serde_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let s = HashStash::builder().root_dir(dir.path()).serializer("json").compress("raw").open().unwrap();
    s.set("k", "v").unwrap();
    let json = serde_json::to_string(s.config()).unwrap();
    let cfg: StashConfig = serde_json::from_str(&json).unwrap();
    let again = HashStash::open(cfg).unwrap();
    assert_eq!(again.get::<_, String>("k").unwrap().as_deref(), Some("v"));
}

#[cfg(feature = "lmdb")]
#[test]
fn engine_options_are_saved_in_the_config_and_reopen_alike() {
    use hashstash::ErrorKind;
    use hashstash::lmdb::{Durability, LmdbOptions};
    let dir = tempfile::tempdir().unwrap();
    let options = LmdbOptions::new().durability(Durability::Relaxed).map_size(1 << 20);
    let first = HashStash::builder()
        .root_dir(dir.path())
        .engine_factory(std::sync::Arc::new(options))
        .open()
        .unwrap();
    first.set("k", "v").unwrap();
    let recorded = &first.config().engine_options;
    assert_eq!(recorded.get("durability").map(String::as_str), Some("relaxed"));
    assert_eq!(recorded.get("map_size").map(String::as_str), Some("1048576"));

    let json = serde_json::to_string(first.config()).unwrap();
    let saved: StashConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(&saved, first.config());
    // LMDB refuses a second handle of one path with another durability in one process:
    // a saved configuration that lost the option would reopen with `full` and fail here.
    let again = HashStash::open(saved).unwrap();
    assert_eq!(again.get::<_, String>("k").unwrap().as_deref(), Some("v"));

    let by_name = || HashStash::builder().root_dir(dir.path()).engine("lmdb");
    by_name().engine_option("durability", "relaxed").open().unwrap();
    let full = by_name().engine_option("durability", "full").open().unwrap_err();
    assert_eq!(full.kind(), ErrorKind::Config, "{full}");
    let misspelt = by_name().engine_option("durabilty", "relaxed").open().unwrap_err();
    assert_eq!(misspelt.kind(), ErrorKind::Config);
    assert!(misspelt.to_string().contains("unknown option `durabilty` for engine `lmdb`"), "{misspelt}");
    let bad = by_name().engine_option("durability", "sometimes").open().unwrap_err();
    assert!(bad.to_string().contains("`sometimes` is not a durability"), "{bad}");
}

#[test]
fn relative_roots_live_under_the_root_env_or_home_cache() {
    // Only this test touches the environment variable.
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: no other test in this binary reads or writes HASHSTASH_ROOT_DIR.
    unsafe { std::env::set_var("HASHSTASH_ROOT_DIR", dir.path()) };
    let s = HashStash::builder().root_dir("project_stash").open().unwrap();
    assert!(s.path().starts_with(dir.path().join("project_stash")), "{}", s.path().display());
    unsafe { std::env::remove_var("HASHSTASH_ROOT_DIR") };
}

#[test]
fn every_key_shape_of_the_readme() {
    let dir = tempfile::tempdir().unwrap();
    // Server engines take part when their URL is set (`cargo xtask test` sets it).
    for engine in hashstash::engines::ready() {
        let s = stash(dir.path(), engine);
        s.set("bad", "cat").unwrap();
        s.set(&("bad", "good"), "cat").unwrap();
        s.set(&BTreeMap::from([("goodness", "bad")]), "cat").unwrap();
        s.set(&vec!["bad", "good"], "cat").unwrap();
        s.set(&Set::from_iter(["bad", "good"]), "cat").unwrap();
        assert_eq!(s.len().unwrap(), 5, "{engine}");
        let keys: Vec<Value> = s.keys().unwrap().collect::<Result<_, _>>().unwrap();
        let shown: BTreeSet<String> = keys.iter().map(|k| k.to_string()).collect();
        let expected: BTreeSet<String> =
            ["'bad'", "('bad', 'good')", "{'goodness': 'bad'}", "['bad', 'good']", "{'bad', 'good'}"]
                .into_iter()
                .map(String::from)
                .collect();
        assert_eq!(shown, expected, "{engine}");
    }
}

#[test]
fn set_like_keys_hit_whatever_the_insertion_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = stash(dir.path(), "memory");
    let forward: HashSet<String> = (0..100).map(|i| format!("item{i}")).collect();
    let mut backward: HashSet<String> = HashSet::new();
    for i in (0..100).rev() {
        backward.insert(format!("item{i}"));
    }
    s.set(&Set::from(forward), "hit").unwrap();
    assert_eq!(s.get::<_, String>(&Set::from(backward.clone())).unwrap().as_deref(), Some("hit"));
    // A BTreeSet is ordered too, but it is a list to serde: a different key from `Set`.
    let btree: BTreeSet<String> = backward.into_iter().collect();
    assert_eq!(s.get::<_, String>(&btree).unwrap(), None);
    s.set(&btree, "btree").unwrap();
    assert_eq!(s.len().unwrap(), 2);
}

#[test]
fn update_takes_pairs_maps_and_stashes_across_engines() {
    let dir = tempfile::tempdir().unwrap();
    let s = stash(dir.path(), "pairtree");
    s.update(vec![("a", 1), ("b", 2)]).unwrap();
    s.update(&HashMap::from([("c".to_string(), 3)])).unwrap();
    let other = HashStash::builder()
        .root_dir(dir.path())
        .dbname("other")
        .engine("memory")
        .serializer("msgpack")
        .clear(true)
        .open()
        .unwrap();
    // msgpack has no tuples: use a list key, which survives the change of format.
    other.set(&vec![1, 2, 3], &4).unwrap();
    s.update_from(&other).unwrap();
    assert_eq!(s.get::<_, i32>(&vec![1, 2, 3]).unwrap(), Some(4));
    assert_eq!(s.len().unwrap(), 4);
}

#[test]
fn handles_are_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<HashStash>();
    assert_send_sync::<hashstash::Stash>();
    let dir = tempfile::tempdir().unwrap();
    let s = stash(dir.path(), "pairtree");
    std::thread::scope(|scope| {
        for t in 0..4 {
            let s = s.clone();
            scope.spawn(move || {
                for i in 0..50 {
                    s.set(&(t, i), &i).unwrap();
                }
            });
        }
    });
    assert_eq!(s.len().unwrap(), 200);
}

#[test]
fn utilities_match_the_python_bytes() {
    assert_eq!(hashstash::encode(br#""cat""#, "lz4", true).unwrap(), b"BQAAAFAiY2F0Ig==");
    assert_eq!(hashstash::encode(br#""cat""#, "raw", true).unwrap(), b"ImNhdCI=");
    let key = hashstash::serialize(&("bad", "good"), "hashstash").unwrap();
    assert_eq!(key, br#"{"__py__":"builtins.tuple","__data__":["bad","good"]}"#);
    // The stash's key bytes are the canonical (sorted, spaced) form, as Python writes keys.
    let dir = tempfile::tempdir().unwrap();
    let s = HashStash::builder().root_dir(dir.path()).compress("raw").open().unwrap();
    assert_eq!(
        s.encode_key(&("bad", "good")).unwrap().bytes,
        br#"{"__data__": ["bad", "good"], "__py__": "builtins.tuple"}"#
    );
}

#[test]
fn md5_digests_place_keys_where_python_does() {
    let dir = tempfile::tempdir().unwrap();
    let s = HashStash::builder()
        .root_dir(dir.path())
        .compress("raw")
        .digest(hashstash::DigestAlgo::Md5)
        .open()
        .unwrap();
    assert_eq!(s.encode_key("cat").unwrap().digest.to_hex(), "5868e298eaa67371d8c10cfe937a2e1a");
    s.set("cat", "meow").unwrap();
    assert!(s.path().join("58/68/e2/98eaa67371d8c10cfe937a2e1a/.key").is_file());
}

#[test]
fn a_stash_opened_by_name_hands_out_sub_and_tmp_stashes_of_its_own_type() {
    let dir = tempfile::tempdir().unwrap();
    let s = stash(dir.path(), "memory");
    // Typed as `HashStash`: a function taking `&HashStash` takes them without conversion.
    fn use_it(stash: &HashStash, key: &str) {
        stash.set(key, "v").unwrap();
    }
    let child: HashStash = s.sub("child").unwrap();
    let tmp: HashStash = s.tmp().unwrap();
    use_it(&child, "in child");
    use_it(&tmp, "in tmp");
    assert!(s.get::<_, String>("in child").unwrap().is_none(), "a sub-stash shares its parent's entries");
    assert_eq!(child.get::<_, String>("in child").unwrap().as_deref(), Some("v"));
    assert_eq!(tmp.len().unwrap(), 1);
}
