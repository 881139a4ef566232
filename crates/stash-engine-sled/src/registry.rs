//! One open store per path in this process, and a close that really releases
//! sled's lock.
//!
//! sled locks its directory with `flock` and refuses a second open, even from
//! the same process, so every handle on one path must share one `sled::Db`.
//! The registry holds weak references: when the last handle (stash or
//! iterator) goes, the store is flushed and closed, and another process may
//! open it.
//!
//! sled 0.34 releases its file lock a little after the `Db` is dropped (its
//! background threads close the file). A store's [`Closer`] therefore waits,
//! bounded, until the lock can be taken, and only then leaves the registry;
//! an open that finds a store still closing waits for it. Reopening right
//! after closing, in this process or another, thus never sees a stale lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use stash_engine_api::Result;
use stash_engine_api::registry::{Found, Hold, PathRegistry};

use crate::error::lock_file;
use crate::store::Store;

/// How long a close waits for sled to release its lock, and an open for a close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Open stores by canonical path.
static STORES: PathRegistry<Store> = PathRegistry::new();

/// The store of `dir` (canonical), opened if no handle of this process has it open.
pub(crate) fn open(dir: &Path) -> Result<Arc<Store>> {
    let deadline = Instant::now() + CLOSE_WAIT;
    loop {
        let opened = STORES.with(|stores| match stores.find(dir) {
            Found::Open(store) => Some(Ok(store)),
            // The last handle was just dropped; its close is releasing the lock.
            Found::Closing if Instant::now() < deadline => None,
            _ => {
                let id = stores.reserve_id();
                // Nothing is dropped while the registry is held: a failed open has no `Closer`.
                Some(Store::open(dir, id).map(|store| {
                    let store = Arc::new(store);
                    stores.insert_as(dir, &store, Hold::WhileUsed, id);
                    store
                }))
            }
        });
        match opened {
            Some(result) => return result,
            None => sleep(Duration::from_millis(1)),
        }
    }
}

/// Waits (bounded) until sled's lock on `dir` is free; returns whether it is.
pub(crate) fn wait_for_release(dir: &Path) -> bool {
    let Ok(file) = File::open(lock_file(dir)) else { return true };
    let deadline = Instant::now() + CLOSE_WAIT;
    let mut pause = Duration::from_micros(200);
    loop {
        // std's advisory lock is `flock` on Unix, the lock sled itself takes.
        if file.try_lock().is_ok() {
            let _ = file.unlock();
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// The last field of a [`Store`]: dropped after the `sled::Db`, it waits for
/// the lock to go and then removes the store from the registry.
#[derive(Debug)]
pub(crate) struct Closer {
    dir: PathBuf,
    id: u64,
    /// Whether sled will release its lock (not when it keeps the database open).
    released: bool,
}

impl Closer {
    /// The closer of the store `id` of `dir`.
    pub(crate) fn new(dir: &Path, id: u64) -> Closer {
        Closer { dir: dir.to_path_buf(), id, released: true }
    }

    /// sled keeps the database open in this process (a flush that never
    /// finished holds it): its lock stays, so the close does not wait for it.
    pub(crate) fn kept_open(&mut self) {
        self.released = false;
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        if self.released {
            wait_for_release(&self.dir);
        }
        STORES.with(|stores| stores.remove(&self.dir, self.id));
    }
}
