//! The life cycle is an engine layer: it works over any engine on its own, and
//! every path a stash takes to its engine goes through it.

use std::sync::Arc;
use std::time::Duration;

use stash_core::lifecycle::{Lifecycle, Policy};
use stash_core::{
    DigestAlgo, Engine, EngineContext, EngineFactory, Eviction, Prune, SetOptions, Stash, StashConfig,
    WriteOptions,
};

fn raw_memory(dir: &std::path::Path) -> Arc<dyn Engine> {
    stash_engine_memory::Memory.open(&EngineContext::new(dir)).unwrap()
}

fn memory_stash(dir: &std::path::Path, adjust: impl FnOnce(&mut StashConfig)) -> Stash {
    let mut config = StashConfig::default();
    config.root_dir = dir.into();
    config.engine = "memory".into();
    adjust(&mut config);
    Stash::open(config, Arc::new(stash_engine_memory::Memory)).unwrap()
}

fn put(engine: &dyn Engine, key: &[u8], value: &[u8], options: WriteOptions) {
    engine.put(&DigestAlgo::Md5.digest(key), key, value, options).unwrap();
}

#[test]
fn the_layer_gives_any_engine_a_default_ttl_counters_and_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Lifecycle::wrap(raw_memory(dir.path()), Policy::default().ttl(Duration::from_millis(50)));
    put(&*engine, b"short", b"1", WriteOptions::REPLACE);
    // A write that gives its own expiry keeps it.
    put(&*engine, b"long", b"2", WriteOptions::REPLACE.expiring_at(Some(i64::MAX)));
    let digest = DigestAlgo::Md5.digest(b"short");
    assert_eq!(engine.get(&digest, b"short").unwrap().as_deref(), Some(&b"1"[..]));
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(engine.get(&digest, b"short").unwrap(), None, "the policy's ttl was not applied");
    assert_eq!(engine.len().unwrap(), 1);
    let stats = engine.stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.writes, stats.expired), (1, 1, 2, 1), "{stats:?}");
    assert_eq!(engine.prune(Prune::expired()).unwrap().len(), 1);

    let bounded = Lifecycle::wrap(raw_memory(&dir.path().join("bounded")), Policy::default().max_entries(10));
    for i in 0..25u32 {
        put(&*bounded, &i.to_be_bytes(), b"v", WriteOptions::REPLACE);
    }
    let stats = bounded.stats().unwrap();
    assert!(stats.entries <= 10 && stats.evictions == 25 - stats.entries, "{stats:?}");
    // The engine underneath is the one wrapped: reads through it are not counted.
    let newest = 24u32.to_be_bytes();
    assert!(bounded.inner().get(&DigestAlgo::Md5.digest(&newest), &newest).unwrap().is_some());
    assert_eq!(bounded.stats().unwrap().hits, 0);
}

#[test]
fn raw_engine_writes_and_transfers_are_counted_and_bounded_like_sets() {
    let dir = tempfile::tempdir().unwrap();
    let s = memory_stash(dir.path(), |c| c.max_entries = Some(10));
    // A write through `engine()`, past the dictionary, still counts and evicts.
    for i in 0..25u32 {
        let k = s.encode_key(&i).unwrap();
        let v = s.encode_value(&i).unwrap();
        s.engine().put(&k.digest, &k.bytes, &v, WriteOptions::REPLACE).unwrap();
    }
    let stats = s.stats().unwrap();
    assert_eq!(stats.writes, 25);
    assert!(s.len().unwrap() <= 10, "{stats:?}");

    // A migration counts one write per version written into its target.
    let source = memory_stash(&dir.path().join("source"), |_| {});
    for v in ["a", "b", "c"] {
        source.set_with("hist", v, SetOptions::new().append(true)).unwrap();
    }
    let target = memory_stash(&dir.path().join("target"), |_| {});
    source.migrate(&target, false).unwrap();
    assert_eq!(target.stats().unwrap().writes, 3);
    // Bulk reads of the source (migrate, all_versions) are not lookups.
    source.all_versions::<String, String>().unwrap().for_each(drop);
    let stats = source.stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (0, 0), "{stats:?}");
}

#[test]
fn a_stash_ttl_applies_to_setdefault_batches_and_raw_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = memory_stash(dir.path(), |c| c.ttl = Some(Duration::from_millis(50)));
    s.setdefault("d", &1).unwrap();
    s.update([("u", 2)]).unwrap();
    let k = s.encode_key("raw").unwrap();
    s.engine().put(&k.digest, &k.bytes, &s.encode_value(&3).unwrap(), WriteOptions::REPLACE).unwrap();
    s.set_with("kept", &4, SetOptions::new().ttl(Duration::from_secs(3600))).unwrap();
    assert_eq!(s.len().unwrap(), 4);
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(s.keys::<String>().unwrap().collect::<Result<Vec<_>, _>>().unwrap(), ["kept"]);
}

#[test]
fn an_export_does_not_count_as_recent_use_for_least_recently_read_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let s = memory_stash(dir.path(), |c| {
        c.max_entries = Some(5);
        c.eviction = Eviction::LeastRecentlyRead;
    });
    for i in 0..5 {
        s.set(&i, &i).unwrap();
    }
    assert_eq!(s.get::<_, i32>(&4).unwrap(), Some(4));
    assert_eq!(s.get::<_, i32>(&0).unwrap(), Some(0)); // 0 now the most recently read
    // A full scan of every version is not a read of each entry.
    s.all_versions::<i32, i32>().unwrap().for_each(drop);
    s.set(&5, &5).unwrap();
    assert!(s.contains(&0).unwrap(), "the most recently read entry was evicted");
    assert!(!s.contains(&1).unwrap(), "the scan made the least recently read entry recent");
}
