//! A lazy walk of the four-level tree: a stack of open `read_dir`s, one per level.

use std::fs::{self, ReadDir};
use std::path::{Path, PathBuf};

use std::os::unix::fs::MetadataExt;

use stash_engine_api::{Digest, EntryMeta, Error, Record, Result};

use crate::slot::{self, Rules, Want};

/// Depth of the leaf folders below `data.db`: `aa/bb/cc/<26 hex>`.
const LEVELS: usize = 4;

/// Yields every slot folder (`digest`, path) whose path is well formed;
/// anything else in the tree is ignored (links to folders included: they are
/// never followed), and folders that vanish are skipped.
pub(crate) struct Walker {
    /// One open listing per level entered; `stack.len()` is the level being listed.
    stack: Vec<ReadDir>,
    /// The folder `stack.last()` lists.
    path: PathBuf,
    /// Hex digits of the folders entered so far.
    hex: String,
}

impl Walker {
    /// Starts a walk of `root`; a missing root is an empty walk.
    pub fn new(root: &Path) -> Result<Walker> {
        let mut stack = Vec::with_capacity(LEVELS);
        match fs::read_dir(root) {
            Ok(rd) => stack.push(rd),
            Err(e) if slot::is_gone(&e) => {}
            Err(e) => return Err(Error::io(e, "list data folder", root)),
        }
        Ok(Walker { stack, path: root.to_path_buf(), hex: String::with_capacity(32) })
    }

    fn leave(&mut self) {
        self.stack.pop();
        self.path.pop();
        self.hex.truncate(self.stack.len().saturating_sub(1) * 2);
    }
}

impl Iterator for Walker {
    type Item = Result<(Digest, PathBuf)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let level = self.stack.len();
            let entry = self.stack.last_mut()?.next();
            let entry = match entry {
                None => {
                    self.leave();
                    continue;
                }
                Some(Err(e)) => {
                    let err = Error::io(e, "list folder", &self.path);
                    self.leave();
                    return Some(Err(err));
                }
                Some(Ok(entry)) => entry,
            };
            let name = entry.file_name();
            let want_len = if level < LEVELS { 2 } else { 26 };
            if !slot::is_hex_name(&name, want_len) {
                continue;
            }
            // d_type comes with the listing on Linux: no stat (std asks `lstat`
            // where the type is unknown). Links are not folders: never followed.
            if entry.file_type().is_ok_and(|t| !t.is_dir()) {
                continue;
            }
            let Some(name) = name.to_str() else { continue };
            if level == LEVELS {
                let mut hex = String::with_capacity(32);
                hex.push_str(&self.hex);
                hex.push_str(name);
                let Some(digest) = Digest::from_hex(&hex) else { continue };
                return Some(Ok((digest, self.path.join(name))));
            }
            self.path.push(name);
            match fs::read_dir(&self.path) {
                Ok(rd) => {
                    self.stack.push(rd);
                    self.hex.push_str(name);
                }
                Err(e) if slot::is_gone(&e) => {
                    self.path.pop();
                }
                Err(e) => {
                    let err = Error::io(e, "list folder", &self.path);
                    self.path.pop();
                    return Some(Err(err));
                }
            }
        }
    }
}

/// Streams records: the slots of a [`Walker`], each read as `want` asks.
pub(crate) struct Records {
    walker: Walker,
    want: Want,
    rules: Rules,
}

impl Records {
    pub fn new(root: &Path, want: Want, rules: Rules) -> Result<Records> {
        Ok(Records { walker: Walker::new(root)?, want, rules })
    }
}

impl Iterator for Records {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (digest, mut path) = match self.walker.next()? {
                Ok(leaf) => leaf,
                Err(e) => return Some(Err(e)),
            };
            match slot::read(&mut path, &digest, None, self.want, &self.rules) {
                Ok(Some(data)) => return Some(Ok(Record { digest, key: data.key, value: data.value })),
                Ok(None) => continue, // vanished or incomplete: skip
                Err(e) => return Some(Err(e.with_context("digest", digest))),
            }
        }
    }
}

/// Streams the metadata of every complete slot, expired ones included, and
/// removes stale temporary files from the slots it walks.
pub(crate) struct Metas {
    walker: Walker,
    rules: Rules,
}

impl Metas {
    pub fn new(root: &Path, rules: Rules) -> Result<Metas> {
        Ok(Metas { walker: Walker::new(root)?, rules })
    }
}

impl Iterator for Metas {
    type Item = Result<EntryMeta>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (digest, mut path) = match self.walker.next()? {
                Ok(leaf) => leaf,
                Err(e) => return Some(Err(e)),
            };
            match slot_meta(&mut path, digest, &self.rules) {
                Ok(Some(meta)) => return Some(Ok(meta)),
                Ok(None) => continue, // vanished or incomplete: skip
                Err(e) => return Some(Err(e.with_context("digest", digest))),
            }
        }
    }
}

/// The metadata of one slot: its key, its versions' names and sizes. Stale
/// temporary files go first; a slot left with nothing else by a crash goes too.
fn slot_meta(path: &mut PathBuf, digest: Digest, rules: &Rules) -> Result<Option<EntryMeta>> {
    let mut listing = match slot::list(path) {
        Ok(l) => l,
        Err(e) if slot::is_gone(&e) => return Ok(None),
        Err(e) => return Err(Error::io(e, "list slot folder", path)),
    };
    listing.hide_replaced();
    let clean = slot::remove_stale_tmps(path, &listing.tmps);
    if clean && !listing.has_key && listing.versions.is_empty() && !listing.tmps.is_empty() {
        // Fails harmlessly if anything else is there, or a writer got in.
        let _ = fs::remove_dir(&*path);
    }
    let Some(newest) = listing.newest() else { return Ok(None) };
    if !listing.has_key {
        return Ok(None);
    }
    path.push(slot::KEY_FILE);
    let key = match slot::check_kind(listing.key_kind, path) {
        Ok(()) => slot::read_file(path, rules.max_file_bytes),
        Err(err) => {
            path.pop();
            return Err(err);
        }
    };
    let key = match key {
        Ok(key) => key,
        Err(e) if slot::is_gone(&e) => return Ok(None),
        Err(e) => return Err(slot::read_error(e, "read key file", path)),
    };
    path.pop();
    let mut value_bytes = 0;
    for v in &listing.versions {
        path.push(&v.name);
        let size = fs::symlink_metadata(&*path);
        path.pop();
        match size {
            Ok(meta) => value_bytes += meta.len(),
            Err(e) if slot::is_gone(&e) => {}
            Err(e) => return Err(Error::io(e, "read the size of a version file", path)),
        }
    }
    Ok(Some(EntryMeta {
        digest,
        key,
        written_at_micros: newest.micros,
        expires_at_micros: newest.expires,
        versions: listing.versions.len() as u64,
        value_bytes,
    }))
}

/// The allocated bytes of everything under `root` (files and folders).
pub(crate) fn disk_usage(root: &Path) -> Result<u64> {
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if slot::is_gone(&e) => continue,
            Err(e) => return Err(Error::io(e, "list folder", &dir)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(e, "list folder", &dir))?;
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if slot::is_gone(&e) => continue,
                Err(e) => return Err(Error::io(e, "read file size", &entry.path())),
            };
            total += meta.blocks() * 512;
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(total)
}
