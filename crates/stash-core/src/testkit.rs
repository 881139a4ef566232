//! The conformance suite: written once, run against every engine.
//!
//! An engine crate runs all of it with one line in `tests/conformance.rs`,
//! naming its factory by full path:
//!
//! ```ignore
//! stash_core::conformance_suite!(stash_engine_memory::Memory);
//! ```
//!
//! or with a harness of its own (`harness: <expr>`), e.g. one whose configurations
//! are adjusted by [`Harness::with_config`].
//!
//! Each check is also a public function taking a [`Harness`], so an engine
//! can run a single one or add its own around them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use stash_serial::{Set, Value};

use crate::{EngineFactory, ErrorKind, Stash, StashConfig, WriteOptions};

#[cfg(feature = "tracing")]
pub mod logs;
pub mod processes;
pub mod threads;
pub mod timed_sets;

/// A temporary root and an engine factory; hands out fresh, isolated stashes.
pub struct Harness {
    factory: Arc<dyn EngineFactory>,
    root: tempfile::TempDir,
    counter: AtomicUsize,
    adjust: fn(StashConfig) -> StashConfig,
}

impl Harness {
    /// A harness for `factory` under a new temporary directory.
    pub fn new(factory: impl EngineFactory) -> Harness {
        Harness {
            factory: Arc::new(factory),
            root: tempfile::Builder::new().prefix("stash-conformance-").tempdir().expect("create temp dir"),
            counter: AtomicUsize::new(0),
            adjust: |c| c,
        }
    }

    /// The same harness with every configuration it hands out passed through
    /// `adjust` (e.g. to turn `python_compatible` on for the `hashstash` serializer).
    pub fn with_config(mut self, adjust: fn(StashConfig) -> StashConfig) -> Harness {
        self.adjust = adjust;
        self
    }

    /// A fresh configuration (unique `dbname`) for this engine.
    pub fn config(&self, serializer: impl AsRef<str>, compress: impl AsRef<str>, b64: bool) -> StashConfig {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        (self.adjust)(StashConfig {
            root_dir: self.root.path().to_path_buf(),
            dbname: format!("db{n}"),
            engine: self.factory.name().to_string(),
            serializer: serializer.as_ref().parse().expect("a serializer name"),
            compress: compress.as_ref().parse().expect("a compressor name"),
            b64,
            ..StashConfig::default()
        })
    }

    /// Opens `config` with this engine.
    pub fn open(&self, config: StashConfig) -> Stash {
        Stash::open(config, self.factory.clone()).expect("open stash")
    }

    /// A fresh stash with the default serializer and compressor.
    pub fn stash(&self) -> Stash {
        self.open(self.config("hashstash", crate::config::default_compress(), false))
    }
}

/// A struct used as key and value across the suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Animal {
    /// A name.
    pub name: String,
    /// Goodness.
    pub good: bool,
    /// Nested data.
    pub etc: BTreeMap<String, f64>,
}

fn animal(i: usize) -> Animal {
    Animal {
        name: format!("animal-{i}"),
        good: i.is_multiple_of(2),
        etc: BTreeMap::from([("age".into(), i as f64), ("weight".into(), 1.5 * i as f64)]),
    }
}

/// Keys of many shapes round-trip and stay distinct.
pub fn set_get_many_key_shapes(h: &Harness) {
    let s = h.stash();
    s.set("bad", "cat").unwrap();
    s.set(&("bad", "good"), "tuple").unwrap();
    s.set(&BTreeMap::from([("goodness", "bad")]), "map").unwrap();
    s.set(&vec!["bad", "good"], "list").unwrap();
    s.set(&Set::from_iter(["good", "bad"]), "set").unwrap();
    s.set(&animal(1), "struct").unwrap();
    s.set("ünïcødé 😀", "unicode").unwrap();
    s.set(&42u64, "int").unwrap();
    s.set(&(), "unit").unwrap();
    assert_eq!(s.get::<_, String>("bad").unwrap().as_deref(), Some("cat"));
    assert_eq!(s.get::<_, String>(&("bad", "good")).unwrap().as_deref(), Some("tuple"));
    assert_eq!(s.get::<_, String>(&BTreeMap::from([("goodness", "bad")])).unwrap().as_deref(), Some("map"));
    assert_eq!(s.get::<_, String>(&vec!["bad", "good"]).unwrap().as_deref(), Some("list"));
    assert_eq!(s.get::<_, String>(&Set::from_iter(["bad", "good"])).unwrap().as_deref(), Some("set"));
    assert_eq!(s.get::<_, String>(&animal(1)).unwrap().as_deref(), Some("struct"));
    assert_eq!(s.get::<_, String>("ünïcødé 😀").unwrap().as_deref(), Some("unicode"));
    assert_eq!(s.get::<_, String>(&42u64).unwrap().as_deref(), Some("int"));
    assert_eq!(s.get::<_, String>(&()).unwrap().as_deref(), Some("unit"));
    assert_eq!(s.len().unwrap(), 9);
}

/// Values of many types round-trip.
pub fn values_round_trip(h: &Harness) {
    let s = h.stash();
    s.set("animal", &animal(3)).unwrap();
    s.set("float", &0.1f64).unwrap();
    s.set("vec", &vec![1i64, -2, 3]).unwrap();
    s.set("none", &Option::<i32>::None).unwrap();
    s.set("nested", &vec![animal(1), animal(2)]).unwrap();
    assert_eq!(s.get::<_, Animal>("animal").unwrap(), Some(animal(3)));
    assert_eq!(s.get::<_, f64>("float").unwrap(), Some(0.1));
    assert_eq!(s.get::<_, Vec<i64>>("vec").unwrap(), Some(vec![1, -2, 3]));
    assert_eq!(s.get::<_, Option<i32>>("none").unwrap(), Some(None));
    assert_eq!(s.get::<_, Vec<Animal>>("nested").unwrap(), Some(vec![animal(1), animal(2)]));
}

/// Absent keys are `None`, not errors, and do not count.
pub fn missing_keys(h: &Harness) {
    let s = h.stash();
    assert_eq!(s.get::<_, String>("nope").unwrap(), None);
    assert!(!s.contains("nope").unwrap());
    assert!(!s.remove("nope").unwrap());
    assert_eq!(s.pop::<_, String>("nope").unwrap(), None);
    assert!(s.is_empty().unwrap());
    assert_eq!(s.len().unwrap(), 0);
}

/// A second write replaces the first; `len` counts keys once.
pub fn overwrite_replaces(h: &Harness) {
    let s = h.stash();
    s.set("k", "one").unwrap();
    s.set("k", "two").unwrap();
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("two"));
    assert_eq!(s.len().unwrap(), 1);
    assert_eq!(s.get_all::<_, String>("k").unwrap(), vec!["two".to_string()]);
}

/// `contains`, `remove`, `pop` and `setdefault` behave like a dict.
pub fn dict_methods(h: &Harness) {
    let s = h.stash();
    s.set("a", &1).unwrap();
    assert!(s.contains("a").unwrap());
    assert_eq!(s.pop::<_, i32>("a").unwrap(), Some(1));
    assert!(!s.contains("a").unwrap());
    assert_eq!(s.setdefault("a", &5).unwrap(), 5);
    assert_eq!(s.setdefault("a", &6).unwrap(), 5);
    assert!(s.remove("a").unwrap());
    assert!(!s.remove("a").unwrap());
    assert!(s.is_empty().unwrap());
}

/// `update` takes pairs and maps; `update_from` takes another stash.
pub fn update_variants(h: &Harness) {
    let s = h.stash();
    assert_eq!(s.update([("a", 1), ("b", 2)]).unwrap(), 2);
    let map: HashMap<String, i32> = (0..2500).map(|i| (format!("k{i}"), i)).collect();
    assert_eq!(s.update(&map).unwrap(), 2500);
    assert_eq!(s.len().unwrap(), 2502);
    assert_eq!(s.get::<_, i32>("k2499").unwrap(), Some(2499));

    // Same format: bytes are copied.
    let same = h.stash();
    assert_eq!(same.update_from(&s).unwrap(), 2502);
    assert_eq!(same.get::<_, i32>("b").unwrap(), Some(2));
    // Another format: entries are re-encoded through Value.
    let other = h.open(h.config("json", "raw", true));
    assert_eq!(other.update_from(&s).unwrap(), 2502);
    assert_eq!(other.get::<_, i32>("k7").unwrap(), Some(7));
}

/// An explicit batch writes everything at commit, nothing before.
pub fn batch(h: &Harness) {
    let s = h.stash();
    let mut batch = s.batch();
    for i in 0..300 {
        batch.set(&format!("b{i}"), &i).unwrap();
    }
    assert_eq!(batch.len(), 300);
    assert!(s.is_empty().unwrap(), "nothing is written before commit");
    assert_eq!(batch.commit().unwrap(), 300);
    assert_eq!(s.len().unwrap(), 300);
    assert_eq!(s.get::<_, i32>("b299").unwrap(), Some(299));
    let mut dropped = s.batch();
    dropped.set("never", &0).unwrap();
    drop(dropped);
    assert!(!s.contains("never").unwrap());
}

/// Sub-stashes are isolated from their parent and from each other.
pub fn sub_stashes(h: &Harness) {
    let parent = h.stash();
    let a = parent.sub("a").unwrap();
    let b = parent.sub("b").unwrap();
    let nested = a.sub("deeper/still").unwrap();
    for (s, v) in [(&parent, "parent"), (&a, "a"), (&b, "b"), (&nested, "nested")] {
        s.set("k", v).unwrap();
    }
    assert!(a.path().starts_with(parent.path().parent().unwrap()), "{}", a.path().display());
    a.clear().unwrap();
    assert_eq!(a.len().unwrap(), 0);
    for (s, v) in [(&parent, "parent"), (&b, "b"), (&nested, "nested")] {
        assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some(v));
        assert_eq!(s.len().unwrap(), 1);
    }
    parent.clear().unwrap();
    assert_eq!(b.get::<_, String>("k").unwrap().as_deref(), Some("b"));
    assert!(parent.sub("../escape").is_err());
}

/// `clear` empties this stash and no other.
pub fn clear_is_isolated(h: &Harness) {
    let a = h.stash();
    let b = h.stash();
    a.set("k", "a").unwrap();
    b.set("k", "b").unwrap();
    a.clear().unwrap();
    assert_eq!(a.len().unwrap(), 0);
    assert_eq!(b.get::<_, String>("k").unwrap().as_deref(), Some("b"));
    a.set("k", "again").unwrap();
    assert_eq!(a.get::<_, String>("k").unwrap().as_deref(), Some("again"));
}

/// `keys`, `values` and `items` stream every entry, typed or as `Value`.
pub fn iteration(h: &Harness) {
    let s = h.stash();
    for i in 0..50 {
        s.set(&format!("key{i}"), &animal(i)).unwrap();
    }
    let mut keys: Vec<String> = s.keys().unwrap().collect::<Result<_, _>>().unwrap();
    keys.sort();
    let mut expected: Vec<String> = (0..50).map(|i| format!("key{i}")).collect();
    expected.sort();
    assert_eq!(keys, expected);
    let values: Vec<Animal> = s.values().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(values.len(), 50);
    for item in s.items::<String, Animal>().unwrap() {
        let (k, v) = item.unwrap();
        assert_eq!(k, format!("key{}", &v.name["animal-".len()..]));
    }
    for item in s.items::<Value, Value>().unwrap() {
        let (k, v) = item.unwrap();
        assert!(k.as_str().unwrap().starts_with("key"));
        assert!(v.get("good").and_then(Value::as_bool).is_some());
    }
}

/// Raw items are the stored bytes and decode back with `decode_key`/`decode_value`.
pub fn raw_items_decode(h: &Harness) {
    let s = h.open(h.config("hashstash", crate::config::default_compress(), true));
    s.set(&("bad", "good"), "cat").unwrap();
    let raw: Vec<(Vec<u8>, Vec<u8>)> = s.raw_items().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(raw.len(), 1);
    let (k, v) = &raw[0];
    assert_eq!(k, &s.encode_key(&("bad", "good")).unwrap().bytes);
    assert_eq!(s.decode_key::<(String, String)>(k).unwrap(), ("bad".into(), "good".into()));
    assert_eq!(s.decode_value::<String>(v).unwrap(), "cat");
    assert_eq!(s.raw_keys().unwrap().count(), 1);
    assert_eq!(s.raw_values().unwrap().next().unwrap().unwrap(), *v);
}

/// Writing while iterating neither deadlocks nor breaks the iterator.
pub fn write_while_iterating(h: &Harness) {
    let s = h.stash();
    for i in 0..20 {
        s.set(&i, &i).unwrap();
    }
    let mut seen = 0;
    for item in s.items::<i32, i32>().unwrap() {
        let (k, _) = item.unwrap();
        s.set(&k, &(k * 10)).unwrap();
        s.set(&(1000 + k), &0).unwrap();
        seen += 1;
        if seen > 100 {
            break;
        }
    }
    assert!(seen >= 20);
    assert_eq!(s.get::<_, i32>(&3).unwrap(), Some(30));
}

/// Empty values, 10 MiB values and 100 KiB keys are stored intact.
pub fn sizes(h: &Harness) {
    let s = h.stash();
    let d = s.encode_key("empty").unwrap();
    s.engine().put(&d.digest, &d.bytes, b"", WriteOptions::REPLACE).unwrap();
    assert_eq!(s.engine().get(&d.digest, &d.bytes).unwrap(), Some(Vec::new()));
    let big: Vec<u64> = (0..(10 << 20) / 8).map(|i| i * 2_654_435_761).collect();
    s.set("big", &big).unwrap();
    assert_eq!(s.get::<_, Vec<u64>>("big").unwrap().map(|v| v.len()), Some(big.len()));
    let long_key = "k".repeat(100 * 1024);
    s.set(&long_key, "long").unwrap();
    assert_eq!(s.get::<_, String>(&long_key).unwrap().as_deref(), Some("long"));
    let keys: Vec<String> = s.keys().unwrap().filter_map(Result::ok).collect();
    assert!(keys.contains(&long_key));
}

/// Reading a value as the wrong type is a `Decode` error naming the stash.
pub fn wrong_type_is_an_error(h: &Harness) {
    let s = h.stash();
    s.set("k", "not a number").unwrap();
    let err = s.get::<_, u32>("k").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.context_value("stash").is_some(), "{err}");
    assert!(err.context_value("digest").is_some(), "{err}");
    // The entry is still there and readable as the right type.
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("not a number"));
}

/// A slot whose stored key is not the requested key is reported, never returned.
pub fn key_mismatch_is_detected(h: &Harness) {
    let s = h.stash();
    let a = s.encode_key("a").unwrap();
    let b = s.encode_key("b").unwrap();
    let v = s.encode_value("value of b").unwrap();
    // Store b's key and value in a's slot, as a damaged key file or a collision would.
    s.engine().put(&a.digest, &b.bytes, &v, WriteOptions::REPLACE).unwrap();
    let err = s.get::<_, String>("a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(s.contains("a").is_err());
}

/// Every serializer and every compiled-in compressor, with and without base64.
pub fn every_format(h: &Harness) {
    for serializer in stash_serial::KNOWN {
        for compress in stash_codec::available() {
            for b64 in [false, true] {
                let s = h.open(h.config(serializer, compress, b64));
                let ctx = format!("{serializer}/{compress}/{b64}");
                s.set(&("k", 1), &animal(7)).unwrap();
                s.set(&animal(2), &vec![1u8, 2, 3]).unwrap();
                assert_eq!(s.get::<_, Animal>(&("k", 1)).unwrap(), Some(animal(7)), "{ctx}");
                assert_eq!(s.get::<_, Vec<u8>>(&animal(2)).unwrap(), Some(vec![1, 2, 3]), "{ctx}");
                let keys: Vec<(String, i32)> =
                    s.keys::<(String, i32)>().unwrap().filter_map(Result::ok).collect();
                assert_eq!(keys, vec![("k".to_string(), 1)], "{ctx}");
                assert_eq!(s.len().unwrap(), 2, "{ctx}");
            }
        }
    }
}

/// A `HashMap` key hits however its entries were inserted.
pub fn hashmap_keys_are_canonical(h: &Harness) {
    for serializer in stash_serial::KNOWN {
        let s = h.open(h.config(serializer, "raw", false));
        let forward: HashMap<String, i32> = (0..64).map(|i| (format!("f{i}"), i)).collect();
        let backward: HashMap<String, i32> = (0..64).rev().map(|i| (format!("f{i}"), i)).collect();
        s.set(&forward, "hit").unwrap();
        assert_eq!(s.get::<_, String>(&backward).unwrap().as_deref(), Some("hit"), "{serializer}");
    }
}

/// Clones share the engine across threads; concurrent writers lose nothing.
pub fn threads(h: &Harness) {
    let s = h.stash();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let s = s.clone();
            scope.spawn(move || {
                for i in 0..100 {
                    s.set(&(t, i), &(t * 1000 + i)).unwrap();
                    assert_eq!(s.get::<_, i32>(&(t, i)).unwrap(), Some(t * 1000 + i));
                }
            });
        }
    });
    assert_eq!(s.len().unwrap(), 800);
}

/// Hammers ten keys of `stash` from eight threads with every kind of
/// operation (set, append, remove, get, contains, versions, iterate, len),
/// then checks `len` against what is really there. Engines call it on a stash
/// of their own to add engine-specific checks afterwards; values carry `pad`
/// bytes of padding (to make an engine grow while it is hammered).
pub fn hammer(stash: &Stash, rounds: u32, pad: usize) {
    let padding = "x".repeat(pad);
    let tag = |t: u32, i: u32| format!("{t}:{i}:{padding}");
    std::thread::scope(|scope| {
        for t in 0..8u32 {
            let s = stash.clone();
            let tag = &tag;
            scope.spawn(move || {
                for i in 0..rounds {
                    let key = (i * 7 + t) % 10;
                    match (i + t) % 5 {
                        0 | 1 => s.set(&key, &tag(t, i)).unwrap(),
                        2 => s.set_with(&key, &tag(t, i), WriteOptions::APPEND).unwrap(),
                        3 => {
                            s.remove(&key).unwrap();
                        }
                        _ => {
                            if let Some(v) = s.get::<_, String>(&key).unwrap() {
                                let writer: u32 = v.split(':').next().unwrap().parse().unwrap();
                                assert!(writer < 8, "{v}");
                            }
                            s.contains(&key).unwrap();
                            s.get_all::<_, String>(&key).unwrap();
                        }
                    }
                    if i % 50 == 0 {
                        for item in s.items::<u32, String>().unwrap() {
                            let (k, _) = item.unwrap();
                            assert!(k < 10);
                        }
                        assert!(s.len().unwrap() <= 10);
                    }
                }
            });
        }
    });
    let present = (0..10u32).filter(|k| stash.get::<_, String>(k).unwrap().is_some()).count();
    assert_eq!(stash.len().unwrap(), present);
}

/// Eight threads on the same ten keys: no errors, no panics, `len` exact.
pub fn threads_on_the_same_keys(h: &Harness) {
    hammer(&h.stash(), 300, 16);
}

/// Append writes keep every version, oldest first, with rising timestamps.
pub fn versions(h: &Harness) {
    let s = h.stash();
    for v in ["good", "bad", "ugly"] {
        s.set_with("k", v, WriteOptions::APPEND).unwrap();
    }
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("ugly"));
    let all = s.get_all_with_metadata::<_, String>("k").unwrap();
    assert_eq!(all.iter().map(|v| v.value.as_str()).collect::<Vec<_>>(), ["good", "bad", "ugly"]);
    assert_eq!(all.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(all.windows(2).all(|w| w[0].written_at < w[1].written_at));
    assert_eq!(s.len().unwrap(), 1);
    s.set("k", "only").unwrap();
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["only"]);
}

/// Expiry at the engine: an expired entry is absent for every read but the
/// metadata scan, and `delete` removes it. Driven through the engine with
/// expiry times in the past, so it needs no sleeping.
pub fn expiry(h: &Harness) {
    use crate::clock::now_micros;
    let s = h.stash();
    let e = s.engine().clone();
    let key = |name: &str| s.encode_key(name).unwrap();
    let value = |v: &str| s.encode_value(v).unwrap();
    let hour = 3_600_000_000;
    let past = WriteOptions::REPLACE.expiring_at(Some(now_micros() - hour));
    let future = WriteOptions::REPLACE.expiring_at(Some(now_micros() + hour));
    let (live, gone, later) = (key("live"), key("gone"), key("later"));
    e.put(&live.digest, &live.bytes, &value("a"), WriteOptions::REPLACE).unwrap();
    e.put(&gone.digest, &gone.bytes, &value("b"), past).unwrap();
    e.put(&later.digest, &later.bytes, &value("c"), future).unwrap();

    assert_eq!(e.get(&gone.digest, &gone.bytes).unwrap(), None);
    assert!(!e.contains(&gone.digest, &gone.bytes).unwrap());
    assert_eq!(e.versions(&gone.digest, &gone.bytes).unwrap(), None);
    assert_eq!(e.get(&later.digest, &later.bytes).unwrap(), Some(value("c")));
    assert_eq!(e.len().unwrap(), 2, "len counts an expired entry");
    assert!(!e.is_empty().unwrap());
    let mut keys: Vec<String> = s.keys().unwrap().collect::<crate::Result<_>>().unwrap();
    keys.sort();
    assert_eq!(keys, ["later", "live"]);
    let mut values: Vec<String> = s.values().unwrap().collect::<crate::Result<_>>().unwrap();
    values.sort();
    assert_eq!(values, ["a", "c"]);

    let mut meta: Vec<_> = e.scan_meta().unwrap().collect::<crate::Result<_>>().unwrap();
    meta.sort_by_key(|m| m.expires_at_micros);
    assert_eq!(meta.len(), 3, "the metadata scan must report expired entries");
    assert_eq!(meta[0].expires_at_micros, None);
    assert_eq!(meta[0].key, live.bytes);
    assert_eq!(meta[0].versions, 1);
    assert_eq!(meta[0].value_bytes, value("a").len() as u64);
    assert!(meta[0].written_at_micros > now_micros() - hour);
    assert_eq!(meta[1].key, gone.bytes);
    assert!(meta[1].expires_at_micros.is_some_and(|at| at < now_micros()));
    assert_eq!(meta[2].key, later.bytes);

    // Deleting an expired entry removes it, but it was not there to the caller.
    assert!(!e.delete(&gone.digest, &gone.bytes).unwrap());
    assert_eq!(e.scan_meta().unwrap().count(), 2);

    // Appending to an expired entry starts a new history.
    e.put(&gone.digest, &gone.bytes, &value("old"), past).unwrap();
    e.put(&gone.digest, &gone.bytes, &value("new"), WriteOptions::APPEND).unwrap();
    let versions = e.versions(&gone.digest, &gone.bytes).unwrap().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].value, value("new"));

    // A write without expiry makes the entry permanent again; a batch may expire too.
    e.put(&later.digest, &later.bytes, &value("c2"), WriteOptions::REPLACE).unwrap();
    let later_meta = e.scan_meta().unwrap().filter_map(|m| m.ok()).find(|m| m.key == later.bytes).unwrap();
    assert_eq!(later_meta.expires_at_micros, None);
    let (x, y) = (key("x"), key("y"));
    let batch = [
        crate::Put { digest: x.digest, key: &x.bytes, value: &value("x") },
        crate::Put { digest: y.digest, key: &y.bytes, value: &value("y") },
    ];
    e.put_many(&batch, past).unwrap();
    assert_eq!(e.len().unwrap(), 3);
    assert!(!e.contains(&x.digest, &x.bytes).unwrap());

    // Only expired entries left: empty.
    e.clear().unwrap();
    e.put(&x.digest, &x.bytes, &value("x"), past).unwrap();
    assert!(e.is_empty().unwrap());
    assert_eq!(e.len().unwrap(), 0);
    e.clear().unwrap();
    assert_eq!(e.scan_meta().unwrap().count(), 0);
}

/// Time to live through the stash: per-set and stash-wide, hidden once
/// expired (from `len` too), counted by `stats`, removed by `prune`.
pub fn ttl_and_prune(h: &Harness) {
    use std::time::Duration;

    use crate::{Prune, SetOptions};
    // Timings leave room for a loaded machine: a check that the entry is still
    // there runs only while its TTL has not passed.
    let s = h.stash();
    let short = Duration::from_millis(500);
    let before = std::time::Instant::now();
    s.set_with("short", "soon gone", SetOptions::new().ttl(short)).unwrap();
    let after = std::time::Instant::now();
    s.set("long", "stays").unwrap();
    let zero = s.set_with("zero", "x", SetOptions::new().ttl(Duration::ZERO)).unwrap_err();
    assert_eq!(zero.kind(), ErrorKind::Config, "{zero}");
    let seen = s.get::<_, String>("short").unwrap();
    let len = s.len().unwrap();
    if before.elapsed() < short {
        assert_eq!(seen.as_deref(), Some("soon gone"));
        assert_eq!(len, 2);
    }
    std::thread::sleep(short.saturating_sub(after.elapsed()) + Duration::from_millis(50));
    assert_eq!(s.get::<_, String>("short").unwrap(), None);
    assert!(!s.contains("short").unwrap());
    assert_eq!(s.len().unwrap(), 1);
    assert_eq!(s.keys::<String>().unwrap().collect::<crate::Result<Vec<_>>>().unwrap(), ["long"]);
    let stats = s.stats().unwrap();
    assert_eq!((stats.entries, stats.expired), (1, 1), "{stats:?}");

    let dry = s.prune(Prune::expired().dry_run()).unwrap();
    assert_eq!(dry.len(), 1);
    assert_eq!(s.stats().unwrap().expired, 1, "a dry run removed something");
    let done = s.prune(Prune::expired()).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(s.engine().scan_meta().unwrap().count(), 1);
    // older_than takes live entries too: "long" was written at least 300 ms
    // before `mark`, "fresh" after it; the cutoff falls 150 ms before `mark`.
    std::thread::sleep(Duration::from_millis(300));
    let mark = std::time::Instant::now();
    s.set("fresh", "new").unwrap();
    let old = s.prune(Prune::older_than(mark.elapsed() + Duration::from_millis(150))).unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(s.keys::<String>().unwrap().collect::<crate::Result<Vec<_>>>().unwrap(), ["fresh"]);

    // A stash-wide TTL applies to every write, batches included.
    let cfg = StashConfig { ttl: Some(short), ..h.config("hashstash", "raw", false) };
    let t = h.open(cfg);
    let before = std::time::Instant::now();
    t.update([("a", 1), ("b", 2)]).unwrap();
    t.set("c", &3).unwrap();
    let after = std::time::Instant::now();
    let len = t.len().unwrap();
    if before.elapsed() < short {
        assert_eq!(len, 3);
    }
    std::thread::sleep(short.saturating_sub(after.elapsed()) + Duration::from_millis(50));
    assert_eq!(t.len().unwrap(), 0);
    assert!(t.is_empty().unwrap());
    let bad = Stash::open(
        StashConfig { ttl: Some(Duration::ZERO), ..h.config("hashstash", "raw", false) },
        h.factory.clone(),
    );
    assert_eq!(bad.unwrap_err().kind(), ErrorKind::Config);
}

/// `max_entries` / `max_bytes` evict the least recently written entries (or
/// read ones, by choice); a zero bound is refused.
pub fn bounded_size(h: &Harness) {
    use crate::config::Eviction;
    let bounded = |max_entries, max_bytes, eviction| StashConfig {
        max_entries,
        max_bytes,
        eviction,
        ..h.config("hashstash", "raw", false)
    };
    let s = h.open(bounded(Some(10), None, Eviction::LeastRecentlyWritten));
    for i in 0..25 {
        s.set(&i, &i).unwrap();
    }
    let n = s.len().unwrap();
    assert!((1..=10).contains(&n), "len {n} past max_entries 10");
    assert_eq!(s.get::<_, i32>(&24).unwrap(), Some(24), "the newest entry was evicted");
    assert_eq!(s.get::<_, i32>(&0).unwrap(), None, "the oldest entry survived");
    let stats = s.stats().unwrap();
    assert_eq!(stats.evictions, 25 - n as u64, "{stats:?}");
    assert_eq!(stats.writes, 25);

    let s = h.open(bounded(None, Some(2_000), Eviction::LeastRecentlyWritten));
    let value = "x".repeat(198); // 200 bytes as a JSON string
    for i in 0..30 {
        s.set(&i, &value).unwrap();
    }
    let stats = s.stats().unwrap();
    assert!(stats.value_bytes <= 2_000 && stats.entries > 0, "{stats:?}");
    assert!(s.contains(&29).unwrap());

    let s = h.open(bounded(Some(5), None, Eviction::LeastRecentlyRead));
    for i in 0..5 {
        s.set(&i, &i).unwrap();
    }
    assert_eq!(s.get::<_, i32>(&0).unwrap(), Some(0)); // read: now the most recent
    s.set(&5, &5).unwrap();
    assert!(s.contains(&0).unwrap(), "a recently read entry was evicted");
    assert!(!s.contains(&1).unwrap(), "the least recently read entry survived");
    assert_eq!(s.len().unwrap(), 5);

    for cfg in [bounded(Some(0), None, Eviction::default()), bounded(None, Some(0), Eviction::default())] {
        assert_eq!(Stash::open(cfg, h.factory.clone()).unwrap_err().kind(), ErrorKind::Config);
    }
}

/// `stats` counts hits, misses and writes of this handle and its clones.
pub fn stats_counters(h: &Harness) {
    let s = h.stash();
    s.set("a", &1).unwrap();
    s.update([("b", 2), ("c", 3)]).unwrap();
    let clone = s.clone();
    assert_eq!(clone.get::<_, i32>("a").unwrap(), Some(1));
    assert_eq!(s.get::<_, i32>("zzz").unwrap(), None);
    let stats = s.stats().unwrap();
    assert_eq!((stats.entries, stats.versions, stats.hits, stats.misses, stats.writes), (3, 3, 1, 1, 3));
    assert!(stats.value_bytes > 0 && stats.key_bytes > 0, "{stats:?}");
    if let Some(disk) = stats.disk_bytes {
        assert!(disk > 0, "{stats:?}");
    }
}

/// `tmp()` is removed when dropped, also on a panic; `popitem`, `copy_to`
/// and `migrate` (dry run, then for real, keeping versions).
pub fn tmp_popitem_copy_migrate(h: &Harness) {
    use std::sync::Mutex;

    use crate::SetOptions;
    let s = h.stash();
    let tmp = s.tmp().unwrap();
    tmp.set("k", "v").unwrap();
    assert!(tmp.is_temporary() && !s.is_temporary());
    assert_eq!(s.get::<_, String>("k").unwrap(), None, "tmp shares data with its parent");
    let path = tmp.path().to_path_buf();
    drop(tmp);
    assert!(!path.exists(), "{} left behind", path.display());
    let seen = Mutex::new(None);
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let tmp = s.tmp().unwrap();
        tmp.set("k", "v").unwrap();
        *seen.lock().unwrap() = Some(tmp.path().to_path_buf());
        panic!("unwinding through a tmp stash");
    }));
    assert!(unwound.is_err());
    let path = seen.lock().unwrap().take().unwrap();
    assert!(!path.exists(), "{} left behind after a panic", path.display());
    let again = s.tmp().unwrap();
    assert!(again.is_empty().unwrap());

    s.update([("x", 1), ("y", 2)]).unwrap();
    let (k, v): (String, i32) = s.popitem().unwrap().unwrap();
    assert_eq!(v, if k == "x" { 1 } else { 2 });
    assert_eq!(s.len().unwrap(), 1);
    s.popitem::<String, i32>().unwrap().unwrap();
    assert_eq!(s.popitem::<String, i32>().unwrap(), None);

    for v in ["v1", "v2", "v3"] {
        s.set_with("hist", v, SetOptions::new().append(true)).unwrap();
    }
    s.set(&vec![1, 2], &animal(7)).unwrap();
    let other = h.open(h.config("json", "raw", true));
    assert_eq!(s.copy_to(&other).unwrap(), 2);
    assert_eq!(other.get::<_, Animal>(&vec![1, 2]).unwrap(), Some(animal(7)));
    assert_eq!(other.get_all::<_, String>("hist").unwrap(), ["v3"]);

    let target = h.open(h.config("msgpack", "raw", false));
    let dry = s.migrate(&target, true).unwrap();
    assert_eq!((dry.entries, dry.versions, dry.failures.len()), (2, 4, 0), "{dry:?}");
    assert!(target.is_empty().unwrap(), "a dry run wrote");
    let done = s.migrate(&target, false).unwrap();
    assert_eq!((done.entries, done.versions), (2, 4));
    assert_eq!(target.get_all::<_, String>("hist").unwrap(), ["v1", "v2", "v3"]);
    assert_eq!(target.get::<_, Animal>(&vec![1, 2]).unwrap(), Some(animal(7)));
    assert_eq!(s.len().unwrap(), 2, "migrate changed its source");
    let all: Vec<(String, crate::Versioned<String>)> = target
        .all_versions::<crate::Value, String>()
        .unwrap()
        .filter_map(|r| r.ok())
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
        .collect();
    assert_eq!(all.iter().filter(|(k, _)| k == "hist").count(), 3);
}

/// Version filters by write time, and one undecodable version never hides the others.
pub fn version_filters(h: &Harness) {
    use std::time::{Duration, SystemTime};

    use crate::SetOptions;
    let s = h.stash();
    s.set_with("k", "a", SetOptions::new().append(true)).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let middle = SystemTime::now();
    std::thread::sleep(Duration::from_millis(5));
    s.set_with("k", "b", SetOptions::new().append(true)).unwrap();
    let before: Vec<crate::Versioned<String>> = s.get_all_in("k", ..middle).unwrap();
    let after: Vec<crate::Versioned<String>> = s.get_all_in("k", middle..).unwrap();
    assert_eq!(before.iter().map(|v| v.value.as_str()).collect::<Vec<_>>(), ["a"]);
    assert_eq!(after.iter().map(|v| (v.version, v.value.as_str())).collect::<Vec<_>>(), [(2, "b")]);
    // A version of another type: its own error, the others still decode.
    s.set_with("k", &17, SetOptions::new().append(true)).unwrap();
    let each = s.try_get_all_with_metadata::<_, String>("k").unwrap();
    assert_eq!(each.len(), 3);
    assert!(each[0].is_ok() && each[1].is_ok());
    assert_eq!(each[2].as_ref().unwrap_err().kind(), ErrorKind::Decode);
}

/// `delete_unless_rewritten` (the delete of eviction, `prune` and `pop`)
/// removes only what was not written after the scan it decides from: a key
/// replaced or appended to since is kept (false), an untouched one, expired
/// or not, is removed (true), and another key's entry is never removed.
pub fn delete_unless_rewritten_keeps_later_writes(h: &Harness) {
    use crate::clock::now_micros;
    let s = h.stash();
    let e = s.engine().clone();
    let value = |v: &str| s.encode_value(v).unwrap();
    let hour = 3_600_000_000;
    for options in [WriteOptions::REPLACE, WriteOptions::APPEND] {
        let mode = if options.append { "append" } else { "replace" };
        let key = |name: &str| s.encode_key(&(name, mode)).unwrap();
        let (rewritten, untouched, expired) = (key("rewritten"), key("untouched"), key("expired"));
        e.put(&rewritten.digest, &rewritten.bytes, &value("old"), options).unwrap();
        e.put(&untouched.digest, &untouched.bytes, &value("old"), options).unwrap();
        e.put(&expired.digest, &expired.bytes, &value("old"), options.expiring_at(Some(now_micros() - hour)))
            .unwrap();
        let stamps: HashMap<Vec<u8>, i64> = e
            .scan_meta()
            .unwrap()
            .map(|m| m.map(|m| (m.key, m.written_at_micros)))
            .collect::<crate::Result<_>>()
            .unwrap();
        let seen = |k: &crate::EncodedKey| stamps[&k.bytes];

        // Written after the scan: kept, with everything it holds.
        e.put(&rewritten.digest, &rewritten.bytes, &value("new"), options).unwrap();
        assert!(
            !e.delete_unless_rewritten(&rewritten.digest, &rewritten.bytes, seen(&rewritten)).unwrap(),
            "{mode}"
        );
        assert_eq!(e.get(&rewritten.digest, &rewritten.bytes).unwrap(), Some(value("new")), "{mode}");
        let kept = e.versions(&rewritten.digest, &rewritten.bytes).unwrap().unwrap();
        assert_eq!(kept.len(), if options.append { 2 } else { 1 }, "{mode}");

        // Not written since: removed, once.
        assert!(
            e.delete_unless_rewritten(&untouched.digest, &untouched.bytes, seen(&untouched)).unwrap(),
            "{mode}"
        );
        assert_eq!(e.get(&untouched.digest, &untouched.bytes).unwrap(), None, "{mode}");
        assert!(
            !e.delete_unless_rewritten(&untouched.digest, &untouched.bytes, seen(&untouched)).unwrap(),
            "{mode}"
        );

        // Expired entries are removable too.
        assert!(
            e.delete_unless_rewritten(&expired.digest, &expired.bytes, seen(&expired)).unwrap(),
            "{mode}"
        );
        assert!(e.scan_meta().unwrap().filter_map(|m| m.ok()).all(|m| m.key != expired.bytes), "{mode}");

        // Another key's slot: an error or a refusal, never a removal.
        let stranger = key("stranger");
        let outcome = e.delete_unless_rewritten(&rewritten.digest, &stranger.bytes, i64::MAX);
        assert!(!outcome.unwrap_or(false), "{mode}: removed through another key");
        assert_eq!(e.get(&rewritten.digest, &rewritten.bytes).unwrap(), Some(value("new")), "{mode}");

        // With the stamp of the newest write, the rewritten key goes too.
        let newest = kept.last().unwrap().written_at_micros;
        assert!(e.delete_unless_rewritten(&rewritten.digest, &rewritten.bytes, newest).unwrap(), "{mode}");
        assert!(!e.contains(&rewritten.digest, &rewritten.bytes).unwrap(), "{mode}");
    }
    assert_eq!(e.scan_meta().unwrap().count(), 0);
    assert!(s.is_empty().unwrap());
}

/// `put_if_absent` (the write of `setdefault`) stores only where no live
/// entry holds the key: absent or expired, it stores (with the options given:
/// a first version, the new expiry) and answers true; present, it keeps the
/// old value and answers false; another key's slot is an error. Of 8 threads
/// racing on one missing key through two handles, exactly one stores, and
/// its value is the one kept.
pub fn put_if_absent_stores_once(h: &Harness) {
    use crate::clock::now_micros;
    let s = h.stash();
    let e = s.engine().clone();
    let key = |name: &str| s.encode_key(name).unwrap();
    let value = |v: &str| s.encode_value(v).unwrap();
    let hour = 3_600_000_000;
    let past = Some(now_micros() - hour);
    let future = Some(now_micros() + hour);
    let meta = |k: &crate::EncodedKey| {
        e.scan_meta().unwrap().filter_map(|m| m.ok()).find(|m| m.key == k.bytes).expect("entry in scan_meta")
    };

    // Absent: stored, as a first version, with the expiry given.
    let k = key("k");
    assert!(
        e.put_if_absent(&k.digest, &k.bytes, &value("first"), WriteOptions::APPEND.expiring_at(future))
            .unwrap()
    );
    assert_eq!(e.get(&k.digest, &k.bytes).unwrap(), Some(value("first")));
    assert_eq!(meta(&k).expires_at_micros, future);
    assert_eq!(meta(&k).versions, 1);

    // Present: refused, in either mode, and the old value and expiry kept.
    for options in [WriteOptions::REPLACE, WriteOptions::APPEND] {
        assert!(!e.put_if_absent(&k.digest, &k.bytes, &value("second"), options).unwrap());
    }
    let kept = e.versions(&k.digest, &k.bytes).unwrap().unwrap();
    assert_eq!(kept.iter().map(|v| &v.value).collect::<Vec<_>>(), [&value("first")]);
    assert_eq!(meta(&k).expires_at_micros, future);

    // Expired: absent, so replaced, its history started afresh and its expiry the new one.
    let gone = key("gone");
    e.put(&gone.digest, &gone.bytes, &value("old"), WriteOptions::APPEND.expiring_at(past)).unwrap();
    assert!(e.put_if_absent(&gone.digest, &gone.bytes, &value("new"), WriteOptions::APPEND).unwrap());
    let versions = e.versions(&gone.digest, &gone.bytes).unwrap().unwrap();
    assert_eq!(versions.iter().map(|v| &v.value).collect::<Vec<_>>(), [&value("new")]);
    assert_eq!(meta(&gone).expires_at_micros, None);
    assert!(!e.put_if_absent(&gone.digest, &gone.bytes, &value("newer"), WriteOptions::REPLACE).unwrap());

    // Stored already expired: stored (true), yet absent to the next caller.
    let brief = key("brief");
    assert!(
        e.put_if_absent(&brief.digest, &brief.bytes, &value("a"), WriteOptions::REPLACE.expiring_at(past))
            .unwrap()
    );
    assert_eq!(e.get(&brief.digest, &brief.bytes).unwrap(), None);
    assert!(e.put_if_absent(&brief.digest, &brief.bytes, &value("b"), WriteOptions::REPLACE).unwrap());
    assert_eq!(e.get(&brief.digest, &brief.bytes).unwrap(), Some(value("b")));
    assert_eq!(meta(&brief).expires_at_micros, None);
    assert_eq!(e.len().unwrap(), 3, "k, gone, brief");
    assert_eq!(e.scan_meta().unwrap().count(), 3);

    // Another key's slot: an error, and the slot untouched.
    let stranger = key("stranger");
    let err = e.put_if_absent(&k.digest, &stranger.bytes, &value("x"), WriteOptions::REPLACE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(e.get(&k.digest, &k.bytes).unwrap(), Some(value("first")));

    // Races on missing keys, through two handles: for each key, exactly one
    // of the callers stores, and its value is the one kept. Many rounds, each
    // released at once (the threads spin, yielding, until all have arrived),
    // so a check-then-write leaves a window some round hits. A thread never
    // panics mid-race (the others would wait for it forever): results are
    // checked after the join.
    let other = h.open(s.config().clone());
    let (threads, rounds) = (8, 256);
    let races: Vec<crate::EncodedKey> = (0..rounds).map(|r| s.encode_key(&("race", r)).unwrap()).collect();
    let arrived: Vec<AtomicUsize> = (0..rounds).map(|_| AtomicUsize::new(0)).collect();
    let outcomes: Vec<Vec<(Vec<u8>, crate::Result<bool>)>> = std::thread::scope(|scope| {
        let spawned: Vec<_> = (0..threads)
            .map(|i| {
                let engine = if i % 2 == 0 { s.engine().clone() } else { other.engine().clone() };
                let mine: Vec<Vec<u8>> =
                    (0..rounds).map(|r| value(&format!("thread {i} round {r}"))).collect();
                let (arrived, races) = (&arrived, &races);
                scope.spawn(move || {
                    races
                        .iter()
                        .zip(arrived)
                        .zip(mine)
                        .map(|((race, arrived), mine)| {
                            arrived.fetch_add(1, Ordering::SeqCst);
                            while arrived.load(Ordering::SeqCst) < threads {
                                std::thread::yield_now();
                            }
                            let stored =
                                engine.put_if_absent(&race.digest, &race.bytes, &mine, WriteOptions::REPLACE);
                            (mine, stored)
                        })
                        .collect()
                })
            })
            .collect();
        spawned.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (r, race) in races.iter().enumerate() {
        let mut winners = Vec::new();
        for outcome in &outcomes {
            let (mine, stored) = &outcome[r];
            if *stored.as_ref().unwrap_or_else(|e| panic!("round {r}: {e}")) {
                winners.push(mine);
            }
        }
        assert_eq!(winners.len(), 1, "round {r}: exactly one of {threads} racing callers must store");
        assert_eq!(e.get(&race.digest, &race.bytes).unwrap().as_ref(), Some(winners[0]), "round {r}");
        let seen_by_other = other.engine().get(&race.digest, &race.bytes).unwrap();
        assert_eq!(seen_by_other.as_ref(), Some(winners[0]), "round {r}");
        assert_eq!(e.versions(&race.digest, &race.bytes).unwrap().map(|v| v.len()), Some(1), "round {r}");
    }
}

/// `try_lock`: a lock taken is `Busy` for every other attempt on that name
/// (from this handle or another handle of the stash) until its guard drops,
/// another name is free, and the stash's data neither sees lock files nor
/// releases a lock when cleared. Only engines that keep nothing beyond the
/// process may answer `Unsupported`.
pub fn try_lock_is_exclusive(h: &Harness) {
    use std::time::Duration;

    use crate::LockAttempt;
    let s = h.stash();
    let lease = Duration::from_secs(30);
    let name = s.encode_key("a lock").unwrap().digest;
    let other_name = s.encode_key("another lock").unwrap().digest;
    let held = match s.engine().try_lock(&name, lease).unwrap() {
        LockAttempt::Acquired(guard) => guard,
        LockAttempt::Unsupported => {
            assert!(
                !s.engine().capabilities().persistent,
                "a persistent engine must offer a lock shared beyond the process"
            );
            return;
        }
        other => panic!("a free lock was not acquired: {other:?}"),
    };
    // Another handle of the same stash, as another process would open it.
    let again = h.open(s.config().clone());
    assert!(matches!(again.engine().try_lock(&name, lease).unwrap(), LockAttempt::Busy));
    assert!(matches!(s.engine().try_lock(&name, lease).unwrap(), LockAttempt::Busy));
    let other = again.engine().try_lock(&other_name, lease).unwrap();
    assert!(matches!(other, LockAttempt::Acquired(_)), "another name is taken: {other:?}");

    // Locks are not entries, and clearing the data keeps them.
    s.set("k", "v").unwrap();
    assert_eq!(s.len().unwrap(), 1);
    assert_eq!(s.keys::<String>().unwrap().count(), 1);
    s.clear().unwrap();
    assert!(s.is_empty().unwrap());
    assert!(
        matches!(again.engine().try_lock(&name, lease).unwrap(), LockAttempt::Busy),
        "clear released a lock"
    );

    drop(held);
    let retaken = again.engine().try_lock(&name, lease).unwrap();
    assert!(matches!(retaken, LockAttempt::Acquired(_)), "not released by its guard: {retaken:?}");
    assert!(matches!(s.engine().try_lock(&name, lease).unwrap(), LockAttempt::Busy));
    drop((retaken, other));
    assert!(matches!(s.engine().try_lock(&other_name, lease).unwrap(), LockAttempt::Acquired(_)));
}

/// A stash reopened with the same configuration sees the same data.
pub fn reopen(h: &Harness) {
    let cfg = h.config("hashstash", "raw", false);
    {
        let s = h.open(cfg.clone());
        s.set("persist", &[1, 2, 3]).unwrap();
        s.flush().unwrap();
    }
    let s = h.open(cfg.clone());
    assert_eq!(s.get::<_, Vec<i32>>("persist").unwrap(), Some(vec![1, 2, 3]));
    let cleared = h.open(StashConfig { clear: true, ..cfg });
    assert!(cleared.is_empty().unwrap());
}

/// `Display` names the engine and the Python-style path.
pub fn display(h: &Harness) {
    let s = h.stash();
    let shown = s.to_string();
    assert!(shown.contains("HashStash("), "{shown}");
    assert!(shown.ends_with("/data.db)"), "{shown}");
    assert!(shown.contains(&format!("{}.hashstash.", s.config().engine)), "{shown}");
}

/// Set by `cargo xtask test` (and CI): tests that need a server fail when its URL is unset.
pub const REQUIRE_SERVICES_ENV: &str = "HASHSTASH_REQUIRE_SERVICES";

/// The server URL in the environment variable `var`, for tests that need a server.
///
/// `None` (the test should return early, and says so on stderr) when the
/// variable is unset on a developer's machine; a panic when it is unset while
/// [`REQUIRE_SERVICES_ENV`] is set, so CI never skips a server test silently.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os(REQUIRE_SERVICES_ENV).is_some() => {
            panic!(
                "{var} is not set but {REQUIRE_SERVICES_ENV} is: start the servers with `cargo xtask services up`"
            )
        }
        _ => {
            eprintln!("skipped: {var} is not set (run `cargo xtask services up` to start the servers)");
            None
        }
    }
}

/// Runs every check of the suite as its own `#[test]` against an engine factory.
#[macro_export]
macro_rules! conformance_suite {
    (requires $var:literal, $factory:expr) => {
        $crate::conformance_suite!(@module {
            $crate::testkit::service_url($var)?;
            Some($crate::testkit::Harness::new($factory))
        });
    };
    (harness: $harness:expr) => {
        $crate::conformance_suite!(@module { Some($harness) });
    };
    ($factory:expr) => {
        $crate::conformance_suite!(@module { Some($crate::testkit::Harness::new($factory)) });
    };
    (@module $make:block) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            fn harness() -> Option<$crate::testkit::Harness> $make
            $crate::conformance_suite!(@tests
                set_get_many_key_shapes, values_round_trip, missing_keys, overwrite_replaces,
                dict_methods, update_variants, batch, sub_stashes, clear_is_isolated, iteration, raw_items_decode,
                write_while_iterating, sizes, wrong_type_is_an_error, key_mismatch_is_detected,
                every_format, hashmap_keys_are_canonical, threads, threads_on_the_same_keys, versions,
                expiry, ttl_and_prune, bounded_size, stats_counters, tmp_popitem_copy_migrate, version_filters,
                reopen, display, delete_unless_rewritten_keeps_later_writes, try_lock_is_exclusive,
                put_if_absent_stores_once
            );
        }
    };
    (@tests $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(h) = harness() {
                    $crate::testkit::$name(&h);
                }
            }
        )*
    };
}

/// A small tmpfs for full-disk tests, mounted in a fresh temporary folder and unmounted
/// (lazily) when dropped. Mounting needs root: where it fails, [`Tmpfs::mount`] prints why
/// the test skips and returns `None` (CI runs as root, so the tests run there).
#[derive(Debug)]
pub struct Tmpfs {
    dir: std::path::PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=`, e.g. `"2m"`), or says why not.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().ok()?;
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Tmpfs { dir, _parent: parent }),
            Ok(out) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    /// The mounted folder.
    pub fn path(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// `len` printable characters that follow from `seed` (xorshift): text no compressor
/// shrinks, for tests that must fill storage with a known number of bytes.
pub fn incompressible_text(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 94) as u8)
        })
        .collect()
}

/// This test binary started again to run only the test `name` (`--exact`, its output
/// shown, one thread): the way a test gets other processes. The child test reads what
/// the parent sets with `.env(..)` and does nothing in a normal run (where it is unset).
pub fn child_test(name: &str) -> std::process::Command {
    // The path of the running test binary; a test that cannot name itself cannot run.
    let exe = std::env::current_exe().expect("the test binary's own path");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    cmd
}
