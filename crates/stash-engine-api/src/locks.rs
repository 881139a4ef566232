//! Locks shared by the processes of one machine, one lock file per name:
//! what file engines return from [`Engine::try_lock`](crate::Engine::try_lock).
//!
//! A lock is an advisory exclusive lock (`flock` on Unix, through std's
//! [`File::try_lock`]) on `<dir>/<name hex>.lock`. The holder removes the file
//! before it unlocks, so lock files do not pile up; a caller that locked a file
//! which was removed meanwhile sees that the path now names another file (or
//! none) and tries again. The kernel releases the lock when its process dies,
//! so a crashed holder never keeps a lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::engine::{HeldLock, LockAttempt};
use crate::error::{Error, Result};

/// How many times a caller retries when the file it locked was replaced under it.
const REOPEN_TRIES: usize = 8;

/// The lock file `name` in `dir` (see the module docs), taken if free.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use stash_engine_api::{Digest, LockAttempt, locks::try_lock_file};
/// let name = Digest([1; 16]);
/// let held = try_lock_file(dir.path(), &name)?;
/// assert!(matches!(held, LockAttempt::Acquired(_)));
/// assert!(matches!(try_lock_file(dir.path(), &name)?, LockAttempt::Busy));
/// drop(held);
/// assert!(matches!(try_lock_file(dir.path(), &name)?, LockAttempt::Acquired(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn try_lock_file(dir: &Path, name: &Digest) -> Result<LockAttempt> {
    let path = dir.join(format!("{name}.lock"));
    for _ in 0..REOPEN_TRIES {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(e, "create the lock folder", dir))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(e, "open a lock file", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(LockAttempt::Busy),
            Err(TryLockError::Error(e)) => return Err(Error::io(e, "lock a lock file", &path)),
        }
        if same_file(&file, &path) {
            return Ok(LockAttempt::Acquired(Box::new(FileLock { path, _file: file })));
        }
        // The holder before us removed the file we opened: take the new one.
    }
    Ok(LockAttempt::Busy)
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// A held lock file: removed, then unlocked, when dropped.
#[derive(Debug)]
struct FileLock {
    path: PathBuf,
    _file: File,
}

impl HeldLock for FileLock {}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Remove while still locked, so nobody can lock this path's file and keep
        // it after we go; closing `_file` (next) releases the lock. A file that
        // cannot be removed is harmless: the next holder locks and reuses it.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_across_handles_and_threads_and_leaves_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let name = Digest([9; 16]);
        let held = try_lock_file(dir.path(), &name).unwrap();
        assert!(matches!(held, LockAttempt::Acquired(_)));
        let d = dir.path().to_path_buf();
        let busy = std::thread::spawn(move || matches!(try_lock_file(&d, &name).unwrap(), LockAttempt::Busy));
        assert!(busy.join().unwrap());
        // another name is free
        assert!(matches!(try_lock_file(dir.path(), &Digest([8; 16])).unwrap(), LockAttempt::Acquired(_)));
        drop(held);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "lock files are removed");
    }

    #[test]
    fn many_threads_never_hold_one_name_together() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let inside = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (dir, inside, taken) = (dir.clone(), inside.clone(), taken.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        if let LockAttempt::Acquired(guard) =
                            try_lock_file(dir.path(), &Digest([3; 16])).unwrap()
                        {
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                            taken.fetch_add(1, Ordering::SeqCst);
                            std::thread::yield_now();
                            inside.fetch_sub(1, Ordering::SeqCst);
                            drop(guard);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(taken.load(Ordering::SeqCst) > 0);
    }
}
