//! A walk of the four-level tree: one open folder per level entered, each
//! listed once into a small table of its well-formed child names; slots are
//! opened by name relative to their parent's descriptor (see [`crate::dirfd`]).
//! Walkers can share the top folders of one walk ([`Claims`]), each walking
//! the folders it claims: [`crate::scan`] runs them on several threads.

use std::fs;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use std::os::unix::fs::MetadataExt;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::FileType;
use stash_engine_api::{Digest, Error, Result};

use crate::dirfd;
use crate::slot;

/// Depth of the leaf folders below `data.db`: `aa/bb/cc/<26 hex>`.
const LEVELS: usize = 4;

/// Width of a fan-out folder's name: two hex digits.
pub(crate) const FAN_WIDTH: usize = 2;

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
    fn advance(&mut self) -> Option<Range<usize>> {
        let range = self.next..self.next + self.width;
        if range.end > self.names.len() {
            return None;
        }
        self.next = range.end;
        Some(range)
    }
}

/// The top folders (`aa`) of one walk, handed out one at a time to the
/// walkers sharing it, each folder to exactly one of them.
pub(crate) struct Claims {
    /// Two-letter names, in listing order.
    names: Vec<u8>,
    /// Index of the next folder to hand out.
    next: AtomicUsize,
    /// Set when the scan is dropped: no folder is handed out after it.
    stop: AtomicBool,
}

impl Claims {
    /// Where the next unclaimed folder's name is in `names`.
    fn claim(&self) -> Option<Range<usize>> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed).checked_mul(FAN_WIDTH)?;
        let end = start.checked_add(FAN_WIDTH)?;
        (end <= self.names.len()).then_some(start..end)
    }

    /// How many folders nobody has claimed yet.
    pub fn unclaimed(&self) -> usize {
        (self.names.len() / FAN_WIDTH).saturating_sub(self.next.load(Ordering::Relaxed))
    }

    /// Hands out no more folders: walkers end once through the ones they hold.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
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
    /// Where the top folders come from when walkers share them; `None`: from
    /// the root's own listing.
    claims: Option<Arc<Claims>>,
}

impl Walker {
    /// Starts a walk of `root`; a missing root is an empty walk.
    pub fn new(root: &Path) -> Result<Walker> {
        Self::start(root, None)
    }

    /// Starts a walk of the top folders of `root` that `claims` hands out.
    pub fn sharing(root: &Path, claims: Arc<Claims>) -> Result<Walker> {
        Self::start(root, Some(claims))
    }

    fn start(root: &Path, claims: Option<Arc<Claims>>) -> Result<Walker> {
        let mut walker = Walker {
            stack: Vec::with_capacity(LEVELS),
            path: root.to_path_buf(),
            at_leaf: false,
            hex: [b'0'; HEX],
            spare: Vec::with_capacity(LEVELS),
            buf: dirfd::list_buf(),
            claims: None,
        };
        match dirfd::open_dir(None, root) {
            Ok(dir) if claims.is_some() => {
                walker.stack.push(Level { dir, names: Vec::new(), width: FAN_WIDTH, next: 0 });
                walker.claims = claims;
            }
            Ok(dir) => walker.enter(dir).map_err(|e| Error::io(e, "list data folder", root))?,
            Err(e) if slot::is_gone(&e) => {}
            Err(e) => return Err(Error::io(e, "list data folder", root)),
        }
        Ok(walker)
    }

    /// Hands the top folders this walker has not entered yet to [`Claims`]
    /// that other walkers can share; from here on this walker claims its
    /// next top folder like them. `None` if the walk is over or shared already.
    pub fn share_top(&mut self) -> Option<Arc<Claims>> {
        if self.claims.is_some() {
            return None;
        }
        let top = self.stack.first_mut()?;
        let names = top.names.split_off(top.next);
        let claims = Arc::new(Claims { names, next: AtomicUsize::new(0), stop: AtomicBool::new(false) });
        self.claims = Some(claims.clone());
        Some(claims)
    }

    /// Top folders this walker has listed and not entered yet (0 once shared).
    pub fn unentered_top(&self) -> usize {
        self.stack.first().map_or(0, |top| top.names.len().saturating_sub(top.next) / top.width)
    }

    /// The range of the next child name of the folder at `level` (1 = the
    /// root), and whether it is in the shared claims rather than the level's table.
    fn next_child(&mut self, level: usize) -> Option<(Range<usize>, bool)> {
        match &self.claims {
            Some(claims) if level == 1 => claims.claim().map(|r| (r, true)),
            _ => self.stack.last_mut()?.advance().map(|r| (r, false)),
        }
    }

    /// Lists `dir`, the folder `path` names, as the next level.
    fn enter(&mut self, dir: OwnedFd) -> std::io::Result<()> {
        let width = if self.stack.len() + 1 < LEVELS { FAN_WIDTH } else { HEX - FAN_WIDTH * (LEVELS - 1) };
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
            if level == 0 {
                return None;
            }
            let Some((range, claimed)) = self.next_child(level) else {
                self.leave();
                continue;
            };
            let top = &self.stack[level - 1];
            let names = match (&self.claims, claimed) {
                (Some(claims), true) => &claims.names,
                _ => &top.names,
            };
            // Checked as hex when listed.
            let Ok(name) = std::str::from_utf8(&names[range]) else { continue };
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
