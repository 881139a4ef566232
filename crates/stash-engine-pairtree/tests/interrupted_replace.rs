//! A replace killed between renaming its version in and deleting the versions
//! it replaces must not bring them back into `get_all`/`versions()`.
//!
//! The kill is reproduced by hand: the versions a `set` replaced are copied
//! back beside its version, with the replace marker `.base.<version name>`
//! the killed writer leaves (see "Interrupted replaces" in the crate docs).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stash_core::{Stash, StashConfig, WriteOptions};
mod common;

use stash_engine_pairtree::Pairtree;

fn open(root: &Path) -> Stash {
    let mut config = StashConfig::default();
    config.root_dir = root.to_path_buf();
    config.compress = stash_core::Compression::Raw;
    Stash::open(config, Arc::new(Pairtree)).unwrap()
}

/// File names in `dir`, sorted; dotfiles only when `dot`.
fn names(dir: &Path, dot: bool) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| dot == n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// `k` holds ["a", "b"]; then `set(k, "c")` is "killed" after renaming its
/// version in: the replaced versions are back, beside its marker.
fn killed_replace(s: &Stash, aside: &Path) -> PathBuf {
    s.set_with("k", &"a", WriteOptions::APPEND).unwrap();
    s.set_with("k", &"b", WriteOptions::APPEND).unwrap();
    let slot = common::slot_of(s, "k");
    let old = names(&slot, false);
    assert_eq!(old.len(), 2);
    for n in &old {
        fs::copy(slot.join(n), aside.join(n)).unwrap();
    }
    s.set("k", &"c").unwrap();
    assert_eq!(names(&slot, true), [".key"], "a finished replace leaves no marker");
    let new = names(&slot, false);
    assert_eq!(new.len(), 1);
    for n in &old {
        fs::copy(aside.join(n), slot.join(n)).unwrap();
    }
    fs::write(slot.join(format!(".base.{}", new[0])), b"").unwrap();
    slot
}

#[test]
fn a_killed_replace_shows_only_the_new_history() {
    let dir = tempfile::tempdir().unwrap();
    let aside = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let slot = killed_replace(&s, aside.path());
    assert_eq!(names(&slot, false).len(), 3, "the replaced versions are on disk");
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("c"));
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["c"]);
    let k = s.encode_key("k").unwrap();
    assert_eq!(s.engine().versions(&k.digest, &k.bytes).unwrap().map(|v| v.len()), Some(1));
    let meta = s.engine().scan_meta().unwrap().next().unwrap().unwrap();
    assert_eq!(meta.versions, 1, "scan_meta counts what readers see");
}

#[test]
fn the_next_replace_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let aside = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let slot = killed_replace(&s, aside.path());
    s.set("k", &"d").unwrap();
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["d"]);
    assert_eq!(names(&slot, false).len(), 1);
    assert_eq!(names(&slot, true), [".key"], "the old marker is removed");
}

#[test]
fn an_append_after_a_killed_replace_extends_the_new_history() {
    let dir = tempfile::tempdir().unwrap();
    let aside = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let slot = killed_replace(&s, aside.path());
    s.set_with("k", &"d", WriteOptions::APPEND).unwrap();
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["c", "d"]);
    assert_eq!(names(&slot, false).len(), 2, "the hidden versions are removed");
}

#[test]
fn a_marker_whose_version_never_came_is_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.set_with("k", &"a", WriteOptions::APPEND).unwrap();
    s.set_with("k", &"b", WriteOptions::APPEND).unwrap();
    let slot = common::slot_of(&s, "k");
    let newest = names(&slot, false).pop().unwrap();
    let (micros, pid) = newest.split_once('.').unwrap();
    // A replace killed before its rename: its version, stamped after "b", never came.
    let dead = format!(".base.{}.{pid}", micros.parse::<i64>().unwrap() + 1);
    fs::write(slot.join(&dead), b"").unwrap();
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["a", "b"]);
    s.set_with("k", &"c", WriteOptions::APPEND).unwrap();
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["a", "b", "c"]);
    s.set("k", &"d").unwrap();
    assert_eq!(s.get_all::<_, String>("k").unwrap(), ["d"]);
    assert_eq!(names(&slot, true), [".key"], "a later replace removes it");
    // And a delete removes the slot whole, markers included.
    fs::write(slot.join(&dead), b"").unwrap();
    assert!(s.remove("k").unwrap());
    assert!(!slot.exists());
}
