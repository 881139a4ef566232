//! Regression tests for the defects of "Trust I" that live in the stash itself
//! (not in one engine): eviction that removed fresh writes or stopped at a
//! damaged entry, `pop` racing `pop`, sub-stashes laid out inside their
//! parent's data, secrets in `Debug`, and the value-size limit.

use std::sync::{Arc, Barrier};

use hashstash::{Digest, Engine, EngineContext, EngineFactory, ErrorKind, HashStash, WriteOptions};

/// The embedded engines this build has.
fn engines() -> Vec<&'static str> {
    hashstash::EngineKind::ALL
        .into_iter()
        .filter(|k| k.factory().is_some() && !matches!(k.name(), "redis" | "mongo"))
        .map(|k| k.name())
        .collect()
}

fn open(root: &std::path::Path, engine: &str) -> hashstash::Builder {
    HashStash::builder().root_dir(root).engine(engine).compress("raw")
}

/// An engine that lets a test act between a metadata scan and what the stash
/// does with it: `scan_meta` reads the whole scan, runs the hook (another
/// writer, as a concurrent thread or process would), then returns the scan,
/// now stale. Every other call goes straight to the engine underneath.
struct AfterScan {
    inner: Arc<dyn Engine>,
    hook: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for AfterScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfterScan").field("inner", &self.inner).finish()
    }
}

impl std::fmt::Debug for Hooked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooked").field("inner", &self.inner).finish()
    }
}

/// The factory of [`AfterScan`] engines.
struct Hooked {
    inner: Arc<dyn EngineFactory>,
    hook: Arc<dyn Fn() + Send + Sync>,
}

impl EngineFactory for Hooked {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn display_name(&self) -> &'static str {
        self.inner.display_name()
    }
    fn open(&self, context: &EngineContext) -> hashstash::Result<Arc<dyn Engine>> {
        Ok(Arc::new(AfterScan { inner: self.inner.open(context)?, hook: self.hook.clone() }))
    }
}

impl Engine for AfterScan {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn capabilities(&self) -> hashstash::Capabilities {
        self.inner.capabilities()
    }
    fn get(&self, digest: &Digest, key: &[u8]) -> hashstash::Result<Option<Vec<u8>>> {
        self.inner.get(digest, key)
    }
    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> hashstash::Result<()> {
        self.inner.put(digest, key, value, options)
    }
    fn put_many(&self, items: &[hashstash::Put<'_>], options: WriteOptions) -> hashstash::Result<()> {
        self.inner.put_many(items, options)
    }
    fn delete(&self, digest: &Digest, key: &[u8]) -> hashstash::Result<bool> {
        self.inner.delete(digest, key)
    }
    fn contains(&self, digest: &Digest, key: &[u8]) -> hashstash::Result<bool> {
        self.inner.contains(digest, key)
    }
    fn len(&self) -> hashstash::Result<usize> {
        self.inner.len()
    }
    fn clear(&self) -> hashstash::Result<()> {
        self.inner.clear()
    }
    fn scan(&self) -> hashstash::Result<hashstash::RecordIter> {
        self.inner.scan()
    }
    fn scan_keys(&self) -> hashstash::Result<hashstash::RecordIter> {
        self.inner.scan_keys()
    }
    fn versions(&self, digest: &Digest, key: &[u8]) -> hashstash::Result<Option<Vec<hashstash::Version>>> {
        self.inner.versions(digest, key)
    }
    fn scan_meta(&self) -> hashstash::Result<hashstash::MetaIter> {
        let seen: Vec<_> = self.inner.scan_meta()?.collect();
        (self.hook)();
        Ok(Box::new(seen.into_iter()))
    }
    fn delete_unless_rewritten(&self, digest: &Digest, key: &[u8], seen: i64) -> hashstash::Result<bool> {
        self.inner.delete_unless_rewritten(digest, key, seen)
    }
}

/// Issue 13 item 6: eviction decided from a snapshot and deleted by key, so an
/// entry written after its scan was removed at once (7 of 400 rounds on
/// sqlite in the report). Here another writer rewrites the oldest entry
/// right after the scan, on every embedded engine: it must survive.
#[test]
fn eviction_and_prune_never_remove_a_write_made_after_their_scan() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let plain = open(dir.path(), engine).open().unwrap();
        let writer = plain.clone();
        let rewrites = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = rewrites.clone();
        let hook: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            writer.set("oldest", &format!("rewritten {n}")).unwrap();
        });
        let factory = Arc::new(Hooked { inner: plain.engine_factory().clone(), hook });
        let bounded = open(dir.path(), engine).max_entries(5).engine_factory(factory.clone()).open().unwrap();
        bounded.set("oldest", "first").unwrap();
        for i in 0..5 {
            bounded.set(&i, &i).unwrap(); // the last one passes the bound: evict
        }
        let last = rewrites.load(std::sync::atomic::Ordering::SeqCst);
        assert!(last > 0, "{engine}: no eviction ran");
        assert_eq!(
            plain.get::<_, String>("oldest").unwrap(),
            Some(format!("rewritten {}", last - 1)),
            "{engine}: eviction removed a write made after its scan"
        );
        assert!(bounded.stats().unwrap().evictions > 0, "{engine}");

        // prune(older_than) decides from a scan too.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let pruning = open(dir.path(), engine).engine_factory(factory).open().unwrap();
        let report =
            pruning.prune(hashstash::Prune::older_than(std::time::Duration::from_millis(20))).unwrap();
        assert!(!report.is_empty(), "{engine}: nothing was old enough");
        assert!(
            plain.get::<_, String>("oldest").unwrap().is_some(),
            "{engine}: prune removed a write made after its scan"
        );
        assert!(report.entries.iter().all(|m| m.digest != plain.encode_key("oldest").unwrap().digest));
    }
}

/// Issue 13 item 7: one entry whose metadata cannot be read made every later
/// `set` fail (although its value was stored) and the bound stopped holding.
#[test]
fn a_damaged_entry_neither_fails_sets_nor_stops_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let stash = open(dir.path(), "pairtree").max_entries(5).open().unwrap();
    stash.set("victim", "v").unwrap();
    // Make the victim's key file unreadable (a folder where the file was: even
    // root cannot read it).
    let key_file =
        walk(stash.path()).into_iter().find(|p| p.file_name().is_some_and(|n| n == ".key")).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    std::fs::create_dir(&key_file).unwrap();
    for i in 0..30 {
        stash.set(&i, &i).unwrap_or_else(|e| panic!("set {i} failed because of another entry: {e}"));
    }
    let stats = stash.stats().unwrap();
    assert!(stats.entries <= 5, "the bound stopped holding: {stats:?}");
    assert_eq!(stats.damaged, 1, "{stats:?}");
    assert!(stats.eviction_errors > 0, "{stats:?}");
    assert_eq!(stash.get::<_, i32>(&29).unwrap(), Some(29));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Issue 13 ("Also"): `pop` ignored whether its removal removed anything, so
/// two concurrent `pop`s could both return the value.
#[test]
fn only_one_of_many_concurrent_pops_gets_the_value() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let stash = open(dir.path(), engine).open().unwrap();
        let rounds = if engine == "pairtree" { 20 } else { 100 };
        for round in 0..rounds {
            stash.set("k", &round).unwrap();
            let barrier = Arc::new(Barrier::new(6));
            let poppers: Vec<_> = (0..6)
                .map(|_| {
                    let (stash, barrier) = (stash.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        stash.pop::<_, i32>("k").unwrap()
                    })
                })
                .collect();
            let got: Vec<i32> = poppers.into_iter().filter_map(|t| t.join().unwrap()).collect();
            assert_eq!(got, [round], "{engine}: round {round}");
            assert!(!stash.contains("k").unwrap());
        }
    }
}

/// Issue 13 item 9: `sub("data.db")` was created inside the parent's data, so
/// `parent.clear()` wiped it; a `dbname` through another stash's `data.db` nested
/// the same way.
#[test]
fn layout_names_are_refused_and_subs_survive_their_parents_clear() {
    let dir = tempfile::tempdir().unwrap();
    let parent = open(dir.path(), "pairtree").open().unwrap();
    for name in ["data.db", "a/data.db", "data.db/x", ".locks"] {
        let err = parent.sub(name).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{name}: {err}");
    }
    let err = open(dir.path(), "pairtree").dbname("main/pairtree.hashstash.raw/data.db").open().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");

    let child = parent.sub("child").unwrap();
    let grandchild = child.sub("a/b").unwrap();
    child.set("k", "child").unwrap();
    grandchild.set("k", "grandchild").unwrap();
    parent.set("k", "parent").unwrap();
    parent.clear().unwrap();
    assert_eq!(child.get::<_, String>("k").unwrap().as_deref(), Some("child"));
    assert_eq!(grandchild.get::<_, String>("k").unwrap().as_deref(), Some("grandchild"));
    assert!(
        !child.path().starts_with(parent.path()),
        "{} inside {}",
        child.path().display(),
        parent.path().display()
    );
    // The child keeps the root as configured; its dbname carries the sub path.
    assert_eq!(child.config().root_dir, parent.config().root_dir);
    assert_eq!(child.config().dbname, "main/pairtree.hashstash.raw/child");
    assert_eq!(child.path(), parent.path().parent().unwrap().join("child/pairtree.hashstash.raw/data.db"));
}

/// Issue 13 item 15: `{:?}` of a stash printed its server URL, password included.
#[test]
fn debug_display_and_saved_configs_never_show_a_password() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["redis://admin:s3cr3t@db.example:6379/0", "redis+unix:///run/redis.sock?db=0&pass=s3cr3t"] {
        let stash = open(dir.path(), "memory").url(url).open().unwrap();
        for shown in [
            format!("{stash:?}"),
            format!("{stash}"),
            format!("{:?}", stash.config()),
            serde_json::to_string(stash.config()).unwrap(),
        ] {
            assert!(!shown.contains("s3cr3t"), "{shown}");
        }
        let saved = serde_json::to_string(&stash.config().with_secrets()).unwrap();
        assert!(saved.contains("s3cr3t"), "asked for, the URL is saved whole: {saved}");
    }
}

/// Issue 13 item 2, at the stash level: a value larger than `max_value_bytes`
/// is refused when written (it could not be read back), and a stash with a
/// smaller limit refuses to read it, with kind `TooLarge`, while the rest of
/// the stash stays readable.
#[test]
fn values_over_the_size_limit_are_refused_both_ways() {
    for compress in hashstash::available_compressors() {
        let dir = tempfile::tempdir().unwrap();
        let builder = || open(dir.path(), "pairtree").compress(compress);
        let small = builder().max_value_bytes(1000).open().unwrap();
        let err = small.set("big", &"x".repeat(2000)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{compress}: {err}");
        assert!(!small.contains("big").unwrap());

        let large = builder().open().unwrap();
        large.set("big", &"x".repeat(2000)).unwrap();
        large.set("small", "ok").unwrap();
        let err = small.get::<_, String>("big").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{compress}: {err}");
        assert!(err.context_value("digest").is_some(), "{err}");
        assert_eq!(small.get::<_, String>("small").unwrap().as_deref(), Some("ok"));
    }
}

/// Issue 14 §5: `verify` walks every entry and reports the damaged ones
/// without stopping; `repair` removes them and leaves the rest intact, on
/// every embedded engine and for a binary serializer too.
#[test]
fn verify_reports_damage_and_repair_removes_only_it() {
    for engine in engines() {
        for (serializer, compress) in [("hashstash", "lz4"), ("postcard", "lz4"), ("json", "raw")] {
            let dir = tempfile::tempdir().unwrap();
            let stash = HashStash::builder()
                .root_dir(dir.path())
                .engine(engine)
                .serializer(serializer)
                .compress(compress)
                .open()
                .unwrap();
            for i in 0..20 {
                stash.set(&i, &format!("value {i}")).unwrap();
            }
            // Two entries whose stored bytes no longer decode, as a bad disk or
            // another program would leave them.
            let junk: &[u8] = if compress == "raw" { b"{not json" } else { b"\xff\xff\xff\x7f not lz4" };
            for bad in [3, 7] {
                let k = stash.encode_key(&bad).unwrap();
                stash.engine().put(&k.digest, &k.bytes, junk, WriteOptions::REPLACE).unwrap();
            }
            let report = stash.verify().unwrap();
            let ctx = format!("{engine} {serializer} {compress}");
            assert_eq!((report.healthy, report.damaged.len()), (18, 2), "{ctx}: {report:?}");
            assert!(
                report.damaged.iter().all(|d| !d.removed && d.error.context_value("digest").is_some()),
                "{ctx}"
            );
            assert_eq!(stash.len().unwrap(), 20, "{ctx}: verify removes nothing");

            let repaired = stash.repair().unwrap();
            assert!(repaired.damaged.iter().all(|d| d.removed), "{ctx}: {repaired:?}");
            assert!(stash.verify().unwrap().is_clean(), "{ctx}");
            assert_eq!(stash.len().unwrap(), 18, "{ctx}");
            assert_eq!(stash.get::<_, String>(&5).unwrap().as_deref(), Some("value 5"), "{ctx}");
        }
    }
}

/// Found by the many-process harness (`cargo xtask reliability processes`):
/// `setdefault` was a `get` then a `set`, so callers racing on a missing key
/// each stored and returned their own default. Now exactly one stores, and
/// every caller returns that value.
#[test]
fn racing_setdefaults_agree_on_one_value() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path(), engine).open().unwrap();
        let second = open(dir.path(), engine).open().unwrap();
        let rounds = if engine == "pairtree" { 20 } else { 100 };
        for round in 0..rounds {
            let key = format!("k{round}");
            let barrier = Arc::new(Barrier::new(6));
            let racers: Vec<_> = (0..6)
                .map(|i| {
                    let stash = if i % 2 == 0 { first.clone() } else { second.clone() };
                    let (barrier, key) = (barrier.clone(), key.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        stash.setdefault(&key, &i).unwrap()
                    })
                })
                .collect();
            let got: Vec<i32> = racers.into_iter().map(|t| t.join().unwrap()).collect();
            let stored = first.get::<_, i32>(&key).unwrap().unwrap();
            assert!(got.iter().all(|v| *v == stored), "{engine} round {round}: {got:?}, stored {stored}");
        }
    }
}

/// A stored key damaged so that it decodes to another key (one flipped bit
/// turns `"key-5"` into `"key-4"`; found by `reliability flips` on pairtree)
/// is never listed with the damaged slot's value: `get` of either key is
/// checked by the engine, and iteration, `popitem` and `update_from` check
/// that a key hashes to the slot it was read from (a `Corrupt` error naming
/// the slot otherwise).
#[test]
fn a_damaged_key_that_reads_as_another_key_is_never_listed_with_its_slot_value() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let stash = open(dir.path(), engine).open().unwrap();
        stash.set("key-4", "four").unwrap();
        // The slot of "key-5" holding the key bytes of "key-4": what the damage leaves.
        let four = stash.encode_key("key-4").unwrap();
        let five = stash.encode_key("key-5").unwrap();
        let value = stash.encode_value("five").unwrap();
        stash.engine().put(&five.digest, &four.bytes, &value, WriteOptions::REPLACE).unwrap();

        let items: Vec<_> = stash.items::<String, String>().unwrap().collect();
        assert_eq!(items.len(), 2, "{engine}");
        let ok: Vec<_> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
        assert_eq!(ok, [&("key-4".to_string(), "four".to_string())], "{engine}: {items:?}");
        let err = items.into_iter().find_map(Result::err).unwrap();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{engine}: {err}");
        assert_eq!(err.context_value("digest"), Some(five.digest.to_hex().as_str()), "{engine}: {err}");
        for keys in [
            stash.keys::<String>().unwrap().collect::<Vec<_>>(),
            stash.raw_keys().unwrap().map(|k| k.map(|b| stash.decode_key::<String>(&b).unwrap())).collect(),
        ] {
            assert_eq!(keys.iter().filter(|k| k.is_ok()).count(), 1, "{engine}: {keys:?}");
        }
        assert_eq!(stash.values::<String>().unwrap().filter(|v| v.is_ok()).count(), 1, "{engine}");
        assert_eq!(stash.raw_items().unwrap().filter(|i| i.is_ok()).count(), 1, "{engine}");

        let copy = open(&dir.path().join("copy"), engine).open().unwrap();
        assert_eq!(copy.update_from(&stash).unwrap_err().kind(), ErrorKind::Corrupt, "{engine}");
        assert_ne!(copy.get::<_, String>("key-4").unwrap().as_deref(), Some("five"), "{engine}");
        // popitem never hands out the damaged slot as ("key-4", "five").
        while let Ok(Some((k, v))) = stash.popitem::<String, String>() {
            assert_eq!((k.as_str(), v.as_str()), ("key-4", "four"), "{engine}");
        }
    }
}
