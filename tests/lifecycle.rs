//! Life-cycle features across engines through the facade: copy and migrate
//! between engines and serializers, a damaged version among good ones, and
//! tmp stashes on every engine compiled in.

use std::time::Duration;

use hashstash::{ErrorKind, HashStash, SetOptions};

fn open(root: &std::path::Path, engine: &str, serializer: &str, append: bool) -> HashStash {
    HashStash::builder()
        .root_dir(root)
        .engine(engine)
        .serializer(serializer)
        .compress("raw")
        .append_mode(append)
        .open()
        .unwrap()
}

/// The embedded engines this build has.
fn engines() -> Vec<&'static str> {
    hashstash::EngineKind::ALL
        .into_iter()
        .filter(|k| k.factory().is_some() && !matches!(k.name(), "redis" | "mongo"))
        .map(|k| k.name())
        .collect()
}

#[test]
fn copy_and_migrate_across_engines_and_serializers() {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&dir.path().join("src"), "pairtree", "hashstash", true);
    for v in ["v1", "v2", "v3"] {
        source.set("history", v).unwrap();
    }
    source.set(&(1, "tuple key"), &vec![1.5, 2.5]).unwrap();
    for (i, engine) in engines().into_iter().enumerate() {
        for serializer in ["json", "msgpack", "hashstash"] {
            let root = dir.path().join(format!("{engine}-{serializer}-{i}"));
            let copy = open(&root.join("copy"), engine, serializer, false);
            assert_eq!(source.copy_to(&copy).unwrap(), 2, "{engine} {serializer}");
            assert_eq!(copy.get::<_, Vec<f64>>(&(1, "tuple key")).unwrap(), Some(vec![1.5, 2.5]));
            assert_eq!(copy.get_all::<_, String>("history").unwrap(), ["v3"]);

            let target = open(&root.join("migrated"), engine, serializer, true);
            let dry = source.migrate(&target, true).unwrap();
            assert_eq!((dry.entries, dry.versions), (2, 4), "{engine} {serializer}");
            assert!(target.is_empty().unwrap());
            let done = source.migrate(&target, false).unwrap();
            assert!(done.failures.is_empty(), "{engine} {serializer}: {:?}", done.failures);
            assert_eq!(target.get_all::<_, String>("history").unwrap(), ["v1", "v2", "v3"], "{engine}");
        }
    }
}

#[test]
fn a_damaged_version_never_hides_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "pairtree", "json", true);
    for v in ["first", "second", "third"] {
        s.set("k", v).unwrap();
    }
    // Damage the middle version file on disk.
    let key = s.encode_key("k").unwrap();
    let slot = hashstash::pairtree::PairtreeEngine::open(s.path(), Default::default())
        .unwrap()
        .slot_path(&key.digest);
    let mut versions: Vec<_> = std::fs::read_dir(&slot)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    versions.sort_by_key(|n| n.split('.').next().unwrap().parse::<u64>().unwrap());
    std::fs::write(slot.join(&versions[1]), b"{not json").unwrap();

    let each = s.try_get_all_with_metadata::<_, String>("k").unwrap();
    assert_eq!(each.len(), 3);
    assert_eq!(each[0].as_ref().unwrap().value, "first");
    let err = each[1].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.to_string().contains("version"), "the error should say which version: {err}");
    assert_eq!(each[2].as_ref().unwrap().value, "third");
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("third"));
    assert_eq!(s.get_all::<_, String>("k").unwrap_err().kind(), ErrorKind::Decode);
}

#[test]
fn tmp_stashes_on_every_engine_go_away() {
    let dir = tempfile::tempdir().unwrap();
    for engine in engines() {
        let s = open(&dir.path().join(engine), engine, "hashstash", false);
        let (path, copy) = {
            let tmp = s.tmp().unwrap();
            tmp.set_with("k", "v", SetOptions::new().ttl(Duration::from_secs(60))).unwrap();
            assert_eq!(tmp.len().unwrap(), 1);
            (tmp.path().to_path_buf(), tmp.config().clone())
        };
        assert!(!path.exists(), "{engine}: {} left behind", path.display());
        if engine == "memory" {
            // The memory engine keeps data outside the folder: it is cleared too.
            let again =
                HashStash::builder().root_dir(&copy.root_dir).dbname(&copy.dbname).engine(engine).open();
            assert!(again.unwrap().is_empty().unwrap(), "{engine}");
        }
    }
}

/// Issue 22 item 11: with the same serializer and compressor, `migrate` and
/// `copy_to` copied stored key bytes as they were, so an entry whose key was
/// written non-canonically (unsorted map fields, by an older writer or another
/// program) was listed in the target but never found by `get`. Keys are now
/// re-encoded canonically, which makes migrating the way to repair such a stash.
#[test]
fn migrate_and_copy_make_non_canonical_keys_reachable() {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    for (i, engine) in engines().into_iter().enumerate() {
        for compress in ["raw", "lz4"] {
            let build = |name: &str| {
                HashStash::builder()
                    .root_dir(dir.path().join(format!("{engine}-{compress}-{i}-{name}")))
                    .engine(engine)
                    .compress(compress)
            };
            let source = build("source").open().unwrap();
            // What another writer stored: the same map with its fields unsorted.
            let plain = br#"{"model":"gpt","idx":3}"#;
            let key = source.encoding().encode_to_vec(plain).unwrap();
            let digest = source.config().digest.digest(&key);
            let value = source.encode_value("answer").unwrap();
            source.engine().put(&digest, &key, &value, hashstash::WriteOptions::REPLACE).unwrap();
            let canonical = BTreeMap::from([("idx", hashstash::Value::Int(3)), ("model", "gpt".into())]);
            assert_eq!(
                source.get::<_, String>(&canonical).unwrap(),
                None,
                "{engine}: the source cannot find it"
            );

            let migrated = build("migrated").open().unwrap();
            let report = source.migrate(&migrated, false).unwrap();
            assert!(report.failures.is_empty(), "{engine}: {:?}", report.failures);
            assert_eq!(migrated.get::<_, String>(&canonical).unwrap().as_deref(), Some("answer"), "{engine}");

            let copied = build("copied").open().unwrap();
            assert_eq!(source.copy_to(&copied).unwrap(), 1);
            assert_eq!(copied.get::<_, String>(&canonical).unwrap().as_deref(), Some("answer"), "{engine}");
        }
    }
}

/// An expiry given as an absolute time, through the engine-level `WriteOptions` or
/// `SetOptions::expires_at`, is kept: the conversion to `SetOptions` once dropped it,
/// so such an entry never expired.
#[test]
fn an_absolute_expiry_given_to_set_with_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    for engine in engines() {
        let stash = open(&dir.path().join(engine), engine, "hashstash", false);
        let past = std::time::SystemTime::now() - Duration::from_secs(60);
        let future = std::time::SystemTime::now() + Duration::from_secs(3600);
        let micros =
            |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
        stash
            .set_with("gone", "x", hashstash::WriteOptions::REPLACE.expiring_at(Some(micros(past))))
            .unwrap();
        stash
            .set_with("kept", "y", hashstash::WriteOptions::REPLACE.expiring_at(Some(micros(future))))
            .unwrap();
        stash.set_with("gone too", "z", SetOptions::new().expires_at(past)).unwrap();
        assert_eq!(stash.get::<_, String>("gone").unwrap(), None, "{engine}");
        assert_eq!(stash.get::<_, String>("gone too").unwrap(), None, "{engine}");
        assert_eq!(stash.get::<_, String>("kept").unwrap().as_deref(), Some("y"), "{engine}");
        assert_eq!(stash.len().unwrap(), 1, "{engine}");
    }
}
