//! Issue 13 regressions: clocks that disagree, damaged key files, huge or
//! linked files planted in the tree, stale temporary files, and the engine
//! contract's conditional delete and lock.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use stash_core::clock::now_micros;
use stash_core::{Compression, DigestAlgo, ErrorKind, LockAttempt, Prune, SetOptions, Stash, WriteOptions};
mod common;

use stash_engine_pairtree::{Pairtree, STALE_TMP_AGE};

fn open(root: &Path) -> Stash {
    Stash::open(common::config(root, Compression::Raw), Arc::new(Pairtree)).unwrap()
}

/// Version file names in `dir` (anything not starting with a dot), sorted.
fn version_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The micros of a version file name `<micros>.<pid>[.x<expiry>]`, checking its format.
fn stamp(name: &str) -> i64 {
    let mut parts = name.split('.');
    let micros = parts.next().unwrap();
    let pid = parts.next().unwrap();
    assert!(micros.bytes().all(|b| b.is_ascii_digit()) && pid.bytes().all(|b| b.is_ascii_digit()), "{name}");
    if let Some(expiry) = parts.next() {
        assert!(expiry.strip_prefix('x').unwrap().bytes().all(|b| b.is_ascii_digit()), "{name}");
    }
    assert_eq!(parts.next(), None, "{name}");
    micros.parse().unwrap()
}

/// Replaces the versions of `key` with one file stamped `ahead` in the future,
/// written by "another host" (through the filesystem) and holding `value`.
fn plant_future_version(s: &Stash, key: &str, value: &str, ahead: Duration) -> i64 {
    let slot = common::slot_of(s, key);
    for name in version_files(&slot) {
        fs::remove_file(slot.join(name)).unwrap();
    }
    let micros = now_micros() + ahead.as_micros() as i64;
    fs::write(slot.join(format!("{micros}.1")), s.encode_value(value).unwrap()).unwrap();
    micros
}

// ---- item 5: a replacing write wins whatever the clocks say ----

#[test]
fn a_write_wins_over_a_version_stamped_in_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.set("k", "placeholder").unwrap();
    let future = plant_future_version(&s, "k", "old", Duration::from_secs(10));
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("old"));

    s.set("k", "new").unwrap();
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("new"));
    // Every handle sees it, and the slot keeps only the new version, named after the old one.
    assert_eq!(open(dir.path()).get::<_, String>("k").unwrap().as_deref(), Some("new"));
    let names = version_files(&common::slot_of(&s, "k"));
    assert_eq!(names.len(), 1, "{names:?}");
    // Named after the version it replaced (other tests of this process may have pushed its stamps further).
    let first = stamp(&names[0]);
    assert!(first > future, "{names:?} after {future}");
    assert!(names[0].ends_with(&format!(".{}", std::process::id())), "{names:?}");

    // A write with an expiry keeps the `.x<expiry>` suffix and still wins.
    s.set_with("k", "newer", SetOptions::new().ttl(Duration::from_secs(3600))).unwrap();
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("newer"));
    let names = version_files(&common::slot_of(&s, "k"));
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(stamp(&names[0]) > first, "{names:?}");
    assert!(names[0].contains(".x"), "{names:?}");
}

#[test]
fn an_append_after_a_version_stamped_in_the_future_is_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.set("k", "placeholder").unwrap();
    plant_future_version(&s, "k", "old", Duration::from_secs(10));
    s.set_with("k", "new", WriteOptions::APPEND).unwrap();
    s.set_with("k", "newest", WriteOptions::APPEND).unwrap();
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["old", "new", "newest"]);
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("newest"));
    let stamps: Vec<i64> = version_files(&common::slot_of(&s, "k")).iter().map(|n| stamp(n)).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
}

// ---- item 8: a damaged `.key` is reported by get, repaired by set, removed by remove ----

#[test]
fn a_damaged_key_file_is_repaired_by_set_and_removed_by_remove() {
    for (what, damage) in
        [("empty", &b""[..]), ("garbage", &b"\x00\xffgarbage"[..]), ("another key", &b"\"b\""[..])]
    {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        s.set("a", "x").unwrap();
        s.set("b", "y").unwrap();
        let slot = common::slot_of(&s, "a");
        fs::write(slot.join(".key"), damage).unwrap();

        let err = s.get::<_, String>("a").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {err}");
        assert!(err.context_value("file").is_some_and(|f| f.ends_with(".key")), "{what}: {err}");

        s.set("a", "z").unwrap();
        assert_eq!(s.get::<_, String>("a").unwrap().as_deref(), Some("z"), "{what}");
        assert_eq!(fs::read(slot.join(".key")).unwrap(), s.encode_key("a").unwrap().bytes, "{what}");
        assert_eq!(version_files(&slot).len(), 1, "{what}");

        fs::write(slot.join(".key"), damage).unwrap();
        assert!(s.remove("a").unwrap(), "{what}");
        assert_eq!(s.get::<_, String>("a").unwrap(), None, "{what}");
        assert!(!slot.exists(), "{what}");
        assert_eq!(s.get::<_, String>("b").unwrap().as_deref(), Some("y"), "{what}");
        assert_eq!(s.len().unwrap(), 1, "{what}");
    }
}

#[test]
fn an_append_to_a_damaged_slot_starts_it_over() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.set_with("a", "1", WriteOptions::APPEND).unwrap();
    s.set_with("a", "2", WriteOptions::APPEND).unwrap();
    let slot = common::slot_of(&s, "a");
    fs::write(slot.join(".key"), b"").unwrap();
    s.set_with("a", "3", WriteOptions::APPEND).unwrap();
    assert_eq!(s.get_all::<_, String>("a").unwrap(), ["3"]);
}

/// Two different 128-byte blocks with one md5 (Wang and Yu, 2004).
const COLLISION: [&str; 2] = [
    "d131dd02c5e6eec4693d9a0698aff95c2fcab58712467eab4004583eb8fb7f8955ad340609f4b30283e488832571415a\
     085125e8f7cdc99fd91dbdf280373c5bd8823e3156348f5bae6dacd436c919c6dd53e2b487da03fd02396306d248cda0\
     e99f33420f577ee8ce54b67080a80d1ec69821bcb6a8839396f9652b6ff72a70",
    "d131dd02c5e6eec4693d9a0698aff95c2fcab50712467eab4004583eb8fb7f8955ad340609f4b30283e4888325f1415a\
     085125e8f7cdc99fd91dbd7280373c5bd8823e3156348f5bae6dacd436c919c6dd53e23487da03fd02396306d248cda0\
     e99f33420f577ee8ce54b67080280d1ec69821bcb6a8839396f965ab6ff72a70",
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn a_colliding_key_is_never_overwritten_nor_removed() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let (k1, k2) = (unhex(COLLISION[0]), unhex(COLLISION[1]));
    let digest = DigestAlgo::Md5.digest(&k1);
    assert_ne!(k1, k2);
    assert_eq!(digest, DigestAlgo::Md5.digest(&k2));
    let engine = s.engine();
    engine.put(&digest, &k1, b"one", WriteOptions::REPLACE).unwrap();
    // The second key's slot holds a real key (it hashes to the slot): refused, not repaired.
    for options in [WriteOptions::REPLACE, WriteOptions::APPEND] {
        let err = engine.put(&digest, &k2, b"two", options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    }
    assert_eq!(engine.get(&digest, &k2).unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(engine.delete(&digest, &k2).unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(
        engine.delete_unless_rewritten(&digest, &k2, i64::MAX).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert_eq!(engine.get(&digest, &k1).unwrap().as_deref(), Some(&b"one"[..]));
}

// ---- item 3: a version file's size never drives an allocation ----

#[test]
fn a_huge_sparse_version_file_is_too_large_and_spares_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path(), Compression::Raw);
    cfg.max_value_bytes = 1 << 20;
    let s = Stash::open(cfg, Arc::new(Pairtree)).unwrap();
    s.set("a", "x").unwrap();
    s.set("b", "y").unwrap();
    let slot = common::slot_of(&s, "a");
    let version = slot.join(&version_files(&slot)[0]);
    fs::OpenOptions::new().write(true).open(&version).unwrap().set_len(64 << 30).unwrap();

    let err = s.get::<_, String>("a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    assert_eq!(err.context_value("file"), Some(version.to_str().unwrap()), "{err}");
    assert_eq!(s.get_all::<_, String>("a").unwrap_err().kind(), ErrorKind::TooLarge);
    assert_eq!(s.get::<_, String>("b").unwrap().as_deref(), Some("y"));
    let results: Vec<_> = s.items::<String, String>().unwrap().collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    // A write replaces it.
    s.set("a", "z").unwrap();
    assert_eq!(s.get::<_, String>("a").unwrap().as_deref(), Some("z"));

    // A huge key file is refused the same way when a scan reads it.
    fs::OpenOptions::new().write(true).open(slot.join(".key")).unwrap().set_len(64 << 30).unwrap();
    let keys: Vec<_> = s.keys::<String>().unwrap().collect();
    assert_eq!(keys.iter().filter(|r| r.as_ref().is_err_and(|e| e.kind() == ErrorKind::TooLarge)).count(), 1);
}

// ---- stale temporary files ----

fn plant_tmp(dir: &Path, name: &str, age: Duration) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, b"torn").unwrap();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
    path
}

#[test]
fn stale_temporary_files_are_removed_by_writes_deletes_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.set("k", "v").unwrap();
    let slot = common::slot_of(&s, "k");
    let old = STALE_TMP_AGE + Duration::from_secs(60);
    let stale = plant_tmp(&slot, ".tmp.999999.1", old);
    let fresh = plant_tmp(&slot, ".tmp.999999.2", Duration::ZERO);
    s.set("k", "w").unwrap();
    assert!(!stale.exists(), "a write removes a stale temporary file");
    assert!(fresh.exists(), "a write in flight elsewhere is left alone");

    // A delete removes stale ones, so the slot folder goes too.
    fs::remove_file(&fresh).unwrap();
    plant_tmp(&slot, ".tmp.999999.3", old);
    assert!(s.remove("k").unwrap());
    assert!(!slot.exists(), "the slot folder is removed");

    // A maintenance walk (prune, stats) removes them from a slot a crash left with nothing else.
    s.set("j", "v").unwrap();
    let slot = common::slot_of(&s, "j");
    for name in version_files(&slot) {
        fs::remove_file(slot.join(name)).unwrap();
    }
    fs::remove_file(slot.join(".key")).unwrap();
    let stale = plant_tmp(&slot, ".tmp.999999.4", old);
    s.prune(Prune::expired()).unwrap();
    assert!(!stale.exists());
    assert!(!slot.exists());
}

// ---- symlinks below data.db ----

#[cfg(unix)]
#[test]
fn symlinks_below_data_db_are_never_followed() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let s = open(dir.path());

    // A slot folder that is a link to a folder outside, holding a well-formed entry.
    s.set("folder", "inside").unwrap();
    let slot = common::slot_of(&s, "folder");
    let target = outside.path().join("slot");
    fs::rename(&slot, &target).unwrap();
    symlink(&target, &slot).unwrap();
    let before = version_files(&target);
    let err = s.get::<_, String>("folder").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(err.context_value("file"), Some(slot.to_str().unwrap()), "{err}");
    assert!(s.contains("folder").is_err());
    assert_eq!(s.set("folder", "through").unwrap_err().kind(), ErrorKind::Corrupt);
    assert!(s.remove("folder").is_err());
    assert_eq!(version_files(&target), before, "nothing written or removed outside");
    assert_eq!(s.len().unwrap(), 0, "walks skip the link");

    // A parent folder that is a link: a new key below it is refused, nothing is created outside.
    let parent = outside.path().join("parent");
    fs::create_dir(&parent).unwrap();
    let new_slot = common::slot_of(&s, "new");
    let top = new_slot.parent().unwrap().parent().unwrap().parent().unwrap();
    if !top.exists() {
        symlink(&parent, top).unwrap();
        assert_eq!(s.set("new", "x").unwrap_err().kind(), ErrorKind::Corrupt);
        assert_eq!(fs::read_dir(&parent).unwrap().count(), 0);
        fs::remove_file(top).unwrap();
    }

    // A version file that is a link to a file outside: refused on read, replaced (not followed) by a write.
    s.set("file", "x").unwrap();
    let slot = common::slot_of(&s, "file");
    let name = version_files(&slot).remove(0);
    let secret = outside.path().join("secret");
    fs::write(&secret, s.encode_value("secret").unwrap()).unwrap();
    fs::remove_file(slot.join(&name)).unwrap();
    symlink(&secret, slot.join(&name)).unwrap();
    let err = s.get::<_, String>("file").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.context_value("file").is_some_and(|f| f.ends_with(&name)), "{err}");
    assert!(s.get_all::<_, String>("file").is_err());
    assert!(s.values::<String>().unwrap().any(|r| r.is_err()));
    s.set("file", "y").unwrap();
    assert_eq!(s.get::<_, String>("file").unwrap().as_deref(), Some("y"));
    assert_eq!(fs::read(&secret).unwrap(), s.encode_value("secret").unwrap(), "the target is untouched");

    // A key file that is a link: refused on read, replaced by a write, unlinked by a remove.
    let key_target = outside.path().join("key");
    fs::write(&key_target, s.encode_key("file").unwrap().bytes).unwrap();
    fs::remove_file(slot.join(".key")).unwrap();
    symlink(&key_target, slot.join(".key")).unwrap();
    // A fresh handle (this one trusts the slot it has read: see `Verified`).
    let err = open(dir.path()).get::<_, String>("file").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.context_value("file").is_some_and(|f| f.ends_with(".key")), "{err}");
    assert!(s.remove("file").unwrap());
    assert!(key_target.exists(), "the target is untouched");
}

// ---- engine contract: delete_unless_rewritten and try_lock ----

#[test]
fn delete_unless_rewritten_keeps_a_write_after_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let k = s.encode_key("k").unwrap();
    let engine = s.engine();
    s.set("k", "old").unwrap();
    // A version another host stamped in the future is what the scan saw.
    let seen = plant_future_version(&s, "k", "old", Duration::from_secs(10));
    let scanned = s.stats().unwrap();
    assert_eq!(scanned.entries, 1);
    // Written after the scan: it must survive the scan's delete.
    s.set("k", "new").unwrap();
    assert!(!engine.delete_unless_rewritten(&k.digest, &k.bytes, seen).unwrap());
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("new"));
    // Appended after the scan: the entry and all its versions survive.
    let newest = engine.versions(&k.digest, &k.bytes).unwrap().unwrap().pop().unwrap().written_at_micros;
    s.set_with("k", "more", WriteOptions::APPEND).unwrap();
    assert!(!engine.delete_unless_rewritten(&k.digest, &k.bytes, newest).unwrap());
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["new", "more"]);

    // Not written since: removed, slot folder and all; a second call finds nothing.
    let newest = engine.versions(&k.digest, &k.bytes).unwrap().unwrap().pop().unwrap().written_at_micros;
    let slot = common::slot_of(&s, "k");
    assert!(engine.delete_unless_rewritten(&k.digest, &k.bytes, newest).unwrap());
    assert!(!slot.exists());
    assert_eq!(s.get::<_, String>("k").unwrap(), None);
    assert!(!engine.delete_unless_rewritten(&k.digest, &k.bytes, newest).unwrap());
    // `pop` goes through it.
    s.set("p", "v").unwrap();
    assert_eq!(s.pop::<_, String>("p").unwrap().as_deref(), Some("v"));
    assert_eq!(s.pop::<_, String>("p").unwrap(), None);
}

#[test]
fn try_lock_is_exclusive_and_lives_beside_data_db() {
    let dir = tempfile::tempdir().unwrap();
    for python in [false, true] {
        let cfg = common::config(&dir.path().join(python.to_string()), Compression::Raw);
        let cfg = if python {
            {
                let mut config = cfg;
                config.compress = stash_core::Compression::Lz4;
                config
            }
            .python()
        } else {
            cfg
        };
        let s = Stash::open(cfg, Arc::new(Pairtree)).unwrap();
        s.set("k", "v").unwrap();
        let name = s.encode_key("lock name").unwrap().digest;
        let lease = Duration::from_secs(30);
        let held = s.engine().try_lock(&name, lease).unwrap();
        assert!(matches!(held, LockAttempt::Acquired(_)), "{held:?}");
        // Another handle of the same stash (as another process would) finds it taken.
        let other = Stash::open(s.config().clone(), Arc::new(Pairtree)).unwrap();
        assert!(matches!(other.engine().try_lock(&name, lease).unwrap(), LockAttempt::Busy));
        let locks = s.path().parent().unwrap().join(stash_core::config::LOCKS_NAME);
        assert!(locks.is_dir(), "{}", locks.display());
        assert!(!locks.starts_with(s.path()));
        assert_eq!(s.len().unwrap(), 1);
        assert_eq!(s.keys::<String>().unwrap().count(), 1);
        s.clear().unwrap();
        assert!(
            matches!(other.engine().try_lock(&name, lease).unwrap(), LockAttempt::Busy),
            "clear keeps locks"
        );
        drop(held);
        assert!(matches!(other.engine().try_lock(&name, lease).unwrap(), LockAttempt::Acquired(_)));
    }
}
