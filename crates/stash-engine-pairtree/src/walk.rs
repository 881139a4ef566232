//! A walk of the four-level tree: one open folder per level entered, each
//! listed once into a small table of its well-formed child names; slots are
//! opened by name relative to their parent's descriptor (see [`crate::dirfd`]).

use std::fs;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};

use std::os::unix::fs::MetadataExt;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::FileType;
use stash_engine_api::{Digest, EntryMeta, Error, Record, Result};

use crate::dirfd;
use crate::slot::{self, Rules, Want};

/// Depth of the leaf folders below `data.db`: `aa/bb/cc/<26 hex>`.
const LEVELS: usize = 4;

/// Hex digits in a digest (32: 2 per fan-out level, 26 for the slot folder).
const HEX: usize = 32;

/// One folder being walked: its descriptor and the names of its children to
/// visit, fixed-width (`width` bytes each), in listing order.
struct Level {
    dir: OwnedFd,
    names: Vec<u8>,
    width: usize,
    next: usize,
}

impl Level {
    /// Where the next child's name is in `names`.
    fn advance(&mut self) -> Option<std::ops::Range<usize>> {
        let range = self.next..self.next + self.width;
        if range.end > self.names.len() {
            return None;
        }
        self.next = range.end;
        Some(range)
    }
}

/// Yields every slot folder (`digest`, path) whose path is well formed;
/// anything else in the tree is ignored (links to folders included: they are
/// never followed), and folders that vanish are skipped.
pub(crate) struct Walker {
    /// One listed folder per level entered; `stack.len()` is the level being visited.
    stack: Vec<Level>,
    /// The folder `stack.last()` is, and the slot last yielded when `at_leaf`.
    path: PathBuf,
    /// `path` ends with the slot folder last yielded.
    at_leaf: bool,
    /// Hex digits of the folders entered so far, then the slot's.
    hex: [u8; HEX],
    /// Listing tables emptied by levels left, reused by levels entered.
    spare: Vec<Vec<u8>>,
    /// The `getdents64` buffer every listing of the walk reuses.
    buf: Box<[MaybeUninit<u8>; dirfd::LIST_BUF]>,
}

impl Walker {
    /// Starts a walk of `root`; a missing root is an empty walk.
    pub fn new(root: &Path) -> Result<Walker> {
        let mut walker = Walker {
            stack: Vec::with_capacity(LEVELS),
            path: root.to_path_buf(),
            at_leaf: false,
            hex: [b'0'; HEX],
            spare: Vec::with_capacity(LEVELS),
            buf: dirfd::list_buf(),
        };
        match dirfd::open_dir(None, root) {
            Ok(dir) => walker.enter(dir).map_err(|e| Error::io(e, "list data folder", root))?,
            Err(e) if slot::is_gone(&e) => {}
            Err(e) => return Err(Error::io(e, "list data folder", root)),
        }
        Ok(walker)
    }

    /// Lists `dir`, the folder `path` names, as the next level.
    fn enter(&mut self, dir: OwnedFd) -> std::io::Result<()> {
        let width = if self.stack.len() + 1 < LEVELS { 2 } else { HEX - 2 * (LEVELS - 1) };
        let mut names = self.spare.pop().unwrap_or_default();
        names.clear();
        dirfd::list(&dir, &mut self.buf[..], |name, listed| {
            let name = name.to_bytes();
            // d_type comes with the listing on Linux: no stat where it is
            // known. Links are not folders: never followed.
            if slot::is_hex_name(name, width) && matches!(listed, FileType::Directory | FileType::Unknown) {
                names.extend_from_slice(name);
            }
        })?;
        self.stack.push(Level { dir, names, width, next: 0 });
        Ok(())
    }

    fn leave(&mut self) {
        if let Some(level) = self.stack.pop() {
            self.spare.push(level.names);
        }
        self.path.pop();
    }

    /// The next slot: its digest; [`leaf`](Self::leaf) then gives its path and parent.
    pub fn next_leaf(&mut self) -> Option<Result<Digest>> {
        if std::mem::take(&mut self.at_leaf) {
            self.path.pop();
        }
        loop {
            let level = self.stack.len();
            let Some(range) = self.stack.last_mut()?.advance() else {
                self.leave();
                continue;
            };
            let top = &self.stack[level - 1];
            // Checked as hex when listed.
            let Ok(name) = std::str::from_utf8(&top.names[range]) else { continue };
            let at = 2 * (level - 1);
            self.hex[at..at + name.len()].copy_from_slice(name.as_bytes());
            self.path.push(name);
            if level == LEVELS {
                let Some(digest) = std::str::from_utf8(&self.hex).ok().and_then(Digest::from_hex) else {
                    self.path.pop();
                    continue;
                };
                self.at_leaf = true;
                return Some(Ok(digest));
            }
            let opened = dirfd::open_dir(Some(top.dir.as_fd()), Path::new(name));
            let entered = opened.and_then(|dir| self.enter(dir));
            match entered {
                Ok(()) => {}
                // Vanished, or a link (d_type unknown): skipped.
                Err(e) if slot::is_gone(&e) || dirfd::is_link(&e) => {
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

    /// The path of the slot [`next_leaf`](Self::next_leaf) last yielded, its
    /// parent folder, open, and its name there.
    pub fn leaf(&mut self) -> (&mut PathBuf, BorrowedFd<'_>, &str) {
        let parent = self.stack.last().map(|l| l.dir.as_fd()).unwrap_or(rustix::fs::CWD);
        // Hex digits: ASCII, and `next_leaf` made a digest of them.
        let name = std::str::from_utf8(&self.hex[2 * (LEVELS - 1)..]).unwrap_or_default();
        (&mut self.path, parent, name)
    }
}

impl Iterator for Walker {
    type Item = Result<(Digest, PathBuf)>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_leaf()?.map(|digest| (digest, self.path.clone())))
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
            let digest = match self.walker.next_leaf()? {
                Ok(digest) => digest,
                Err(e) => return Some(Err(e)),
            };
            let (path, parent, name) = self.walker.leaf();
            match slot::read(path, Some((parent, name)), &digest, None, self.want, &self.rules) {
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
