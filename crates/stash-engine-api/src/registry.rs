//! One open value per path per process: the registry engines keep their open
//! databases (or in-memory stores) in, so every stash opened on one path in
//! one process shares them.
//!
//! LMDB forbids a second environment on a path in one process and sled locks
//! its folder to one handle, so their engines must hand every stash the one
//! already open; the memory engine keeps its stores here for the life of the
//! process. The registry holds each value either while it is used ([`Hold::WhileUsed`],
//! a weak reference: the value closes when its last handle goes) or until it is
//! forgotten ([`Hold::Kept`]). What to do when a value is closing, or already open
//! with other settings, is the engine's policy; the registry only tells it.
//!
//! ```
//! use std::path::Path;
//! use std::sync::Arc;
//! use stash_engine_api::registry::{Found, Hold, PathRegistry};
//!
//! static OPEN: PathRegistry<String> = PathRegistry::new();
//! let open = |path: &Path| -> Arc<String> {
//!     OPEN.with(|slots| match slots.find(path) {
//!         Found::Open(value) => value,
//!         _ => {
//!             let value = Arc::new(format!("database at {}", path.display()));
//!             slots.insert(path, &value, Hold::WhileUsed);
//!             value
//!         }
//!     })
//! };
//! let a = open(Path::new("/x"));
//! let b = open(Path::new("/x"));
//! assert!(Arc::ptr_eq(&a, &b));
//! drop((a, b));
//! assert_eq!(OPEN.with(|slots| slots.len()), 0); // closed with its last handle
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// How the registry holds a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hold {
    /// While any handle uses it (a weak reference): it closes with its last handle.
    WhileUsed,
    /// Until [`Slots::remove_under`] forgets it, handles or not (an in-memory store
    /// that must outlive its handles, as a file would).
    Kept,
}

/// What [`Slots::find`] found at a path.
#[derive(Debug)]
pub enum Found<T> {
    /// A value in use (or kept): share it.
    Open(Arc<T>),
    /// A value whose last handle is gone but whose entry is still registered: it is
    /// closing (its close removes the entry with [`Slots::remove`]).
    Closing,
    /// Nothing registered.
    Absent,
}

#[derive(Debug)]
enum Held<T> {
    Used(Weak<T>),
    Kept(Arc<T>),
}

#[derive(Debug)]
struct Entry<T> {
    id: u64,
    held: Held<T>,
}

/// The entries, seen under the registry's lock ([`PathRegistry::with`]).
#[derive(Debug)]
pub struct Slots<T> {
    entries: BTreeMap<PathBuf, Entry<T>>,
    next_id: u64,
}

impl<T> Slots<T> {
    /// What is registered at `path`.
    pub fn find(&self, path: &Path) -> Found<T> {
        match self.entries.get(path).map(|e| &e.held) {
            None => Found::Absent,
            Some(Held::Kept(value)) => Found::Open(value.clone()),
            Some(Held::Used(weak)) => weak.upgrade().map_or(Found::Closing, Found::Open),
        }
    }

    /// Registers `value` at `path` (replacing what was there) and returns the
    /// entry's id, for [`remove`](Slots::remove).
    pub fn insert(&mut self, path: &Path, value: &Arc<T>, hold: Hold) -> u64 {
        let id = self.reserve_id();
        self.insert_as(path, value, hold, id);
        id
    }

    /// A fresh entry id, for a value that must know its id before it is
    /// registered (its close removes its own entry): then [`insert_as`](Slots::insert_as).
    pub fn reserve_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Registers `value` at `path` under the id `id` from [`reserve_id`](Slots::reserve_id).
    pub fn insert_as(&mut self, path: &Path, value: &Arc<T>, hold: Hold, id: u64) {
        let held = match hold {
            Hold::WhileUsed => Held::Used(Arc::downgrade(value)),
            Hold::Kept => Held::Kept(value.clone()),
        };
        self.entries.insert(path.to_path_buf(), Entry { id, held });
    }

    /// Removes the entry of `path` if it still is the one registered as `id` (a
    /// value that closes late never removes its successor); true if removed.
    pub fn remove(&mut self, path: &Path, id: u64) -> bool {
        let ours = self.entries.get(path).is_some_and(|e| e.id == id);
        if ours {
            self.entries.remove(path);
        }
        ours
    }

    /// Forgets every entry whose path lies under `dir` (a temporary stash went
    /// away with everything under it).
    pub fn remove_under(&mut self, dir: &Path) {
        self.entries.retain(|path, _| !path.starts_with(dir));
    }

    /// Forgets entries whose value has closed (weakly held, no handle left).
    pub fn prune_closed(&mut self) {
        self.entries.retain(|_, e| match &e.held {
            Held::Used(weak) => weak.strong_count() > 0,
            Held::Kept(_) => true,
        });
    }

    /// How many values are open (in use or kept).
    pub fn len(&self) -> usize {
        self.entries
            .values()
            .filter(|e| match &e.held {
                Held::Used(weak) => weak.strong_count() > 0,
                Held::Kept(_) => true,
            })
            .count()
    }

    /// Whether no value is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A process-wide map from paths to open values; usable in a `static`.
#[derive(Debug)]
pub struct PathRegistry<T> {
    slots: Mutex<Slots<T>>,
}

impl<T> PathRegistry<T> {
    /// An empty registry.
    pub const fn new() -> PathRegistry<T> {
        PathRegistry { slots: Mutex::new(Slots { entries: BTreeMap::new(), next_id: 0 }) }
    }

    /// Runs `f` on the entries under the registry's lock: a look-up and the open
    /// that follows it happen as one step, so two threads opening one path share
    /// one value. `f` must not wait on anything that needs this registry.
    pub fn with<R>(&self, f: impl FnOnce(&mut Slots<T>) -> R) -> R {
        // The map stays consistent whatever panicked while it was held.
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut slots)
    }
}

impl<T> Default for PathRegistry<T> {
    fn default() -> Self {
        PathRegistry::new()
    }
}
