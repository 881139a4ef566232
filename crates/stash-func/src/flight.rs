//! Single-flight: one computation per missing result at a time.
//!
//! Callers asking for the same key of the same function stash take turns
//! on a per-key slot (kept in a process-global table only while someone
//! holds or waits for it). The caller holding the slot looks the key up
//! again and computes only if it is still missing, so the function runs once
//! and the others find its stored result when their turn comes.
//!
//! Across processes (stashes whose engine is persistent, on Unix): a
//! computing caller also holds an advisory `flock` on the function stash's
//! folder (`<engine>.<serializer>.<compress>`; no lock file is created). The
//! threads of one process share that lock (a per-folder count: the first
//! takes it, the last releases it), so another process waits until this one
//! computes nothing of that function, then looks up again. The lock is per
//! function, not per key: processes computing different inputs of one
//! function at the same moment take turns. Not on other platforms (folders
//! cannot be opened as files there): single-flight covers one process only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};

use stash_core::{Digest, Stash};

use crate::error::Result;

#[derive(Default)]
struct Slot {
    busy: Mutex<bool>,
    freed: Condvar,
}

type Key = (PathBuf, Digest);
static SLOTS: LazyLock<Mutex<HashMap<Key, Arc<Slot>>>> = LazyLock::new(Default::default);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking computation leaves these tables consistent: ignore poisoning.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held while one caller computes a key; dropping it (also on panic) lets the next in.
pub(crate) struct Flight {
    key: Key,
    slot: Arc<Slot>,
    _dir: Option<DirLock>,
}

impl Flight {
    /// Waits for the turn on `digest` in `stash` (and, for persistent
    /// engines, for other processes computing in the same function stash).
    pub(crate) fn acquire(stash: &Stash, digest: Digest) -> Result<Flight> {
        let path = stash.path();
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut flight = Flight::acquire_local(path, digest);
        #[cfg(unix)]
        if stash.engine().capabilities().persistent {
            flight._dir = Some(DirLock::acquire(path.parent().unwrap_or(path))?);
        }
        Ok(flight)
    }

    fn acquire_local(path: &Path, digest: Digest) -> Flight {
        let key = (path.to_path_buf(), digest);
        let slot = lock(&SLOTS).entry(key.clone()).or_default().clone();
        let mut busy = lock(&slot.busy);
        while *busy {
            busy = slot.freed.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy = true;
        drop(busy);
        Flight { key, slot, _dir: None }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        *lock(&self.slot.busy) = false;
        self.slot.freed.notify_one();
        let mut slots = lock(&SLOTS);
        // Only the table's and ours: nobody waits, so the entry can go.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.key);
        }
    }
}

/// One folder's process-wide lock: how many callers of this process hold
/// it, and the open folder carrying the `flock` while any do.
#[derive(Default)]
#[cfg_attr(not(unix), allow(dead_code))]
struct DirState {
    holders: usize,
    file: Option<std::fs::File>,
}

static DIRS: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<DirState>>>>> = LazyLock::new(Default::default);

/// A share of the process's `flock` on a folder.
#[cfg_attr(not(unix), allow(dead_code))]
struct DirLock {
    dir: PathBuf,
    state: Arc<Mutex<DirState>>,
}

#[cfg(unix)]
impl DirLock {
    fn acquire(dir: &Path) -> Result<DirLock> {
        let state = lock(&DIRS).entry(dir.to_path_buf()).or_default().clone();
        let mut st = lock(&state);
        if st.holders == 0 {
            // Blocks while another process holds it; the other threads of this
            // process wanting the folder wait on `state` meanwhile.
            st.file = Some(flock_dir(dir)?);
        }
        st.holders += 1;
        drop(st);
        Ok(DirLock { dir: dir.to_path_buf(), state })
    }
}

#[cfg(unix)]
fn flock_dir(dir: &Path) -> Result<std::fs::File> {
    use fs2::FileExt;
    let io = |e, action| stash_core::Error::io(e, action, dir);
    let file = std::fs::File::open(dir).map_err(|e| io(e, "open the function stash folder to lock"))?;
    file.lock_exclusive().map_err(|e| io(e, "lock the function stash folder"))?;
    Ok(file)
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        st.holders -= 1;
        if st.holders == 0 {
            // Closing the folder releases the flock.
            st.file = None;
            drop(st);
            let mut dirs = lock(&DIRS);
            if Arc::strong_count(&self.state) == 2 {
                dirs.remove(&self.dir);
            }
        }
    }
}

#[cfg(test)]
pub(crate) fn table_len() -> usize {
    lock(&SLOTS).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_removed_when_free() {
        let d = Digest([7; 16]);
        let a = Flight::acquire_local(Path::new("/x/flight-test"), d);
        let t = std::thread::spawn(move || drop(Flight::acquire_local(Path::new("/x/flight-test"), d)));
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(a);
        t.join().unwrap();
        assert_eq!(table_len(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn dir_locks_are_shared_by_threads_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let a = DirLock::acquire(dir.path()).unwrap();
        let p = dir.path().to_path_buf();
        // another thread of this process does not wait
        std::thread::spawn(move || drop(DirLock::acquire(&p).unwrap())).join().unwrap();
        drop(a);
        assert!(!lock(&DIRS).contains_key(dir.path()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no files left behind");
    }
}
