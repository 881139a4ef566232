//! The on-disk layout, numeric version order, and damaged or stray files.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use stash_core::{DigestAlgo, ErrorKind, Stash, StashConfig, WriteOptions};
mod common;

use stash_engine_pairtree::{Pairtree, PairtreeEngine, PairtreeOptions};

fn config(root: &Path, compress: &str) -> StashConfig {
    common::config(root, compress.parse().expect("a compressor name"))
}

fn open(root: &Path, compress: &str) -> Stash {
    Stash::open(config(root, compress), Arc::new(Pairtree)).unwrap()
}

/// Names in `dir` that parse as `<digits>.<digits>`.
fn version_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.split_once('.').is_some_and(|(a, b)| is_digits(a) && is_digits(b)))
        .collect();
    names.sort();
    names
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn python_layout_for_cat() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "raw");
    assert!(s.path().ends_with("main/pairtree.hashstash.raw/data.db"), "{}", s.path().display());
    s.set("cat", "meow").unwrap();
    let slot = s.path().join("58/68/e2/98eaa67371d8c10cfe937a2e1a");
    assert_eq!(slot, common::slot_of(&s, "cat"));
    assert_eq!(fs::read(slot.join(".key")).unwrap(), b"\"cat\"");
    let versions = version_files(&slot);
    assert_eq!(versions.len(), 1, "{versions:?}");
    let pid = std::process::id().to_string();
    let (micros, file_pid) = versions[0].split_once('.').unwrap();
    assert_eq!(file_pid, pid);
    assert!(micros.len() >= 16, "micros since the epoch: {micros}");
    assert_eq!(fs::read(slot.join(&versions[0])).unwrap(), b"\"meow\"");
    // Only `.key` and the version: no temporary file left behind.
    assert_eq!(fs::read_dir(&slot).unwrap().count(), 2);

    // Replace keeps one version; append keeps them all.
    s.set("cat", "purr").unwrap();
    assert_eq!(version_files(&slot).len(), 1);
    s.set_with("cat", "hiss", WriteOptions::APPEND).unwrap();
    s.set_with("cat", "mew", WriteOptions::APPEND).unwrap();
    assert_eq!(version_files(&slot).len(), 3);
    assert_eq!(s.get_all::<_, String>("cat").unwrap(), ["purr", "hiss", "mew"]);
    assert_eq!(s.len().unwrap(), 1);

    // Delete removes the slot folder and the parents it emptied, not data.db.
    assert!(s.remove("cat").unwrap());
    assert!(!slot.exists());
    assert!(!s.path().join("58").exists());
    assert!(s.path().is_dir());
}

#[test]
fn engine_reports_its_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "raw");
    let caps = s.engine().capabilities();
    assert!(caps.persistent && caps.multi_process && !caps.cheap_len);
    assert_eq!(s.engine().name(), "pairtree");
    assert!(s.to_string().starts_with("PairtreeHashStash("), "{s}");
}

#[test]
fn versions_order_numerically_not_as_strings() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "raw");
    s.set("k", "placeholder").unwrap();
    let slot = common::slot_of(&s, "k");
    for name in version_files(&slot) {
        fs::remove_file(slot.join(name)).unwrap();
    }
    fs::write(slot.join("999.12345"), s.encode_value("older").unwrap()).unwrap();
    fs::write(slot.join("1000.7"), s.encode_value("newer").unwrap()).unwrap();
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("newer"));
    let all = s.engine().versions(&s.encode_key("k").unwrap().digest, &s.encode_key("k").unwrap().bytes);
    let all = all.unwrap().unwrap();
    assert_eq!(all.iter().map(|v| v.written_at_micros).collect::<Vec<_>>(), [999, 1000]);
    assert_eq!(all.iter().map(|v| v.number).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["older", "newer"]);
    let items: Vec<(String, String)> = s.items().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(items, [("k".to_string(), "newer".to_string())]);
    // A replacing write keeps only itself.
    s.set("k", "latest").unwrap();
    assert_eq!(version_files(&slot).len(), 1);
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("latest"));
}

#[test]
fn a_damaged_value_is_an_error_and_spares_other_keys() {
    let dir = tempfile::tempdir().unwrap();
    // lz4 when compiled in (a bad frame is Corrupt); else garbage JSON (Decode).
    let s = open(dir.path(), stash_core::config::default_compress().name());
    s.set("a", &vec![1u32; 100]).unwrap();
    s.set("b", &vec![2u32; 100]).unwrap();
    let slot = common::slot_of(&s, "a");
    let version = slot.join(&version_files(&slot)[0]);
    fs::write(&version, b"\xff\xff\xff\x7fgarbage").unwrap();
    let err = s.get::<_, Vec<u32>>("a").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Corrupt | ErrorKind::Decode), "{err}");
    assert!(err.context_value("stash").is_some(), "{err}");
    assert!(err.context_value("digest").is_some(), "{err}");
    assert_eq!(s.get::<_, Vec<u32>>("b").unwrap(), Some(vec![2; 100]));
    // Scanning reports the bad entry and goes on.
    let results: Vec<_> = s.items::<String, Vec<u32>>().unwrap().collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    // Overwriting repairs it.
    s.set("a", &vec![3u32]).unwrap();
    assert_eq!(s.get::<_, Vec<u32>>("a").unwrap(), Some(vec![3]));
}

#[test]
fn a_wrong_or_empty_key_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "raw");
    s.set("a", "x").unwrap();
    s.set("b", "y").unwrap();
    let key_file = common::slot_of(&s, "a").join(".key");
    fs::write(&key_file, b"\"not a\"").unwrap();
    let err = s.get::<_, String>("a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.context_value("file").is_some_and(|f| f.ends_with(".key")), "{err}");
    assert!(s.contains("a").is_err());
    // Not a key naming this slot (its digest is another's): damage, which a write
    // repairs (tests/trust.rs reads the repaired entry).
    s.set("a", "z").unwrap();

    fs::write(&key_file, b"").unwrap();
    let err = s.get::<_, String>("a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("empty"), "{err}");
    assert_eq!(s.get::<_, String>("b").unwrap().as_deref(), Some("y"));
}

#[test]
fn a_slot_without_key_file_reads_as_absent_and_is_repaired_by_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "raw");
    s.set("a", "x").unwrap();
    let slot = common::slot_of(&s, "a");
    fs::remove_file(slot.join(".key")).unwrap();
    assert_eq!(s.get::<_, String>("a").unwrap(), None);
    assert_eq!(s.len().unwrap(), 0);
    s.set("a", "y").unwrap();
    assert_eq!(fs::read(slot.join(".key")).unwrap(), b"\"a\"");
    assert_eq!(s.get::<_, String>("a").unwrap().as_deref(), Some("y"));
    assert_eq!(version_files(&slot).len(), 1);
}

#[test]
fn stray_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "raw");
    s.set("cat", "meow").unwrap();
    s.set("dog", "woof").unwrap();
    let root = s.path().to_path_buf();
    let slot = common::slot_of(&s, "cat");
    fs::write(root.join(".tmp.1.2"), b"x").unwrap();
    fs::write(root.join("junk"), b"x").unwrap();
    fs::create_dir_all(root.join("zz/yy")).unwrap();
    fs::create_dir_all(root.join("58/68/e2/not-hex-at-all")).unwrap();
    fs::write(root.join("58/68/junk"), b"x").unwrap();
    fs::write(slot.join(".tmp.99.1"), b"torn").unwrap();
    fs::write(slot.join("junk"), b"x").unwrap();
    fs::write(slot.join("12.34.56"), b"x").unwrap();
    // A well-formed slot folder holding only a temporary file: not an entry.
    fs::create_dir_all(root.join("00/00/00/00000000000000000000000000")).unwrap();
    fs::write(root.join("00/00/00/00000000000000000000000000/.tmp.5.5"), b"x").unwrap();
    // A file (not a folder) where a slot would be.
    fs::write(root.join("00/00/00/11111111111111111111111111"), b"x").unwrap();

    assert_eq!(s.len().unwrap(), 2);
    assert!(!s.is_empty().unwrap());
    let mut items: Vec<(String, String)> = s.items().unwrap().collect::<Result<_, _>>().unwrap();
    items.sort();
    assert_eq!(items, [("cat".into(), "meow".into()), ("dog".into(), "woof".into())]);
    let mut keys: Vec<String> = s.keys().unwrap().collect::<Result<_, _>>().unwrap();
    keys.sort();
    assert_eq!(keys, ["cat", "dog"]);
    assert_eq!(s.get::<_, String>("cat").unwrap().as_deref(), Some("meow"));

    // Clear empties data.db (stray files included) and nothing above it.
    let sibling = root.parent().unwrap().join("keep-me");
    fs::write(&sibling, b"x").unwrap();
    s.clear().unwrap();
    assert!(root.is_dir());
    assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
    assert!(sibling.exists());
    assert!(s.is_empty().unwrap());
}

/// Whether permissions stop this process (they do not stop root).
fn permissions_apply(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let denied = fs::write(&probe, b"x").is_err();
    let _ = fs::remove_file(&probe);
    denied
}

#[cfg(unix)]
#[test]
fn a_read_only_folder_is_an_io_error_with_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "raw");
    s.set("present", "x").unwrap();
    let root = s.path().to_path_buf();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o555)).unwrap();
    let applies = permissions_apply(&root);
    let result = s.set("new key", "y");
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    if !applies {
        eprintln!("running as root: permissions do not apply, skipping the assertion");
        return;
    }
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    let file = err.context_value("file").unwrap_or_default();
    assert!(file.starts_with(root.to_str().unwrap()), "{err}");
    // Reads still work.
    assert_eq!(s.get::<_, String>("present").unwrap().as_deref(), Some("x"));
}

#[test]
fn open_refuses_a_file_where_data_db_should_be() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "raw");
    let data = cfg.data_path().unwrap();
    fs::create_dir_all(data.parent().unwrap()).unwrap();
    fs::write(&data, b"not a folder").unwrap();
    let err = Stash::open(cfg, Arc::new(Pairtree)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.context_value("file").is_some(), "{err}");
}

#[test]
fn fsync_option_writes_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let s = Stash::open(config(dir.path(), "raw"), Arc::new(PairtreeOptions::new().fsync(true))).unwrap();
    s.set("k", "v").unwrap();
    s.set_with("k", "w", WriteOptions::APPEND).unwrap();
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["v", "w"]);
    s.flush().unwrap();
    // Readable by a default handle.
    let t = open(dir.path(), "raw");
    assert_eq!(t.get::<_, String>("k").unwrap().as_deref(), Some("w"));
}

#[test]
fn a_verified_slot_still_refuses_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "raw");
    s.set("a", "value of a").unwrap();
    // The first get checks `.key` and remembers the slot; the second trusts it.
    assert_eq!(s.get::<_, String>("a").unwrap().as_deref(), Some("value of a"));
    assert_eq!(s.get::<_, String>("a").unwrap().as_deref(), Some("value of a"));
    // Another key asking for the same slot is not trusted: `.key` is read and refused.
    let a = s.encode_key("a").unwrap();
    let b = s.encode_key("b").unwrap();
    let err = s.engine().get(&a.digest, &b.bytes).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    // A delete forgets the slot: a recreated slot is checked again.
    assert!(s.remove("a").unwrap());
    s.engine().put(&a.digest, &b.bytes, b"\"b in a's slot\"", WriteOptions::REPLACE).unwrap();
    assert_eq!(s.get::<_, String>("a").unwrap_err().kind(), ErrorKind::Corrupt);
}

/// Values around the size of a read's first buffer (8 KiB) come back whole,
/// through `get` and through a walk, which opens files relative to their folders.
#[test]
fn values_around_the_first_read_size_read_whole() {
    use stash_engine_api::Engine;
    let dir = tempfile::tempdir().unwrap();
    let engine = PairtreeEngine::open(&dir.path().join("data.db"), PairtreeOptions::default()).unwrap();
    let sizes = [0, 1, 8191, 8192, 8193, 20_000];
    for (i, &size) in sizes.iter().enumerate() {
        let key = format!("key {i}").into_bytes();
        let value: Vec<u8> = (0..size).map(|b| (b % 251) as u8).collect();
        engine.put(&DigestAlgo::Md5.digest(&key), &key, &value, WriteOptions::default()).unwrap();
        assert_eq!(engine.get(&DigestAlgo::Md5.digest(&key), &key).unwrap(), Some(value));
    }
    let mut walked: Vec<(Vec<u8>, usize)> =
        engine.scan().unwrap().map(|r| r.map(|r| (r.key, r.value.len()))).collect::<Result<_, _>>().unwrap();
    walked.sort();
    let mut expected: Vec<(Vec<u8>, usize)> =
        sizes.iter().enumerate().map(|(i, &size)| (format!("key {i}").into_bytes(), size)).collect();
    expected.sort();
    assert_eq!(walked, expected);
}
