//! Turning sled's errors (and panics) into stash errors that name the path.

use std::any::Any;
use std::io;
use std::path::Path;

use stash_engine_api::{Digest, Error, ErrorKind};

use crate::record::{Damaged, TooLong};

/// The file sled locks inside its directory.
pub(crate) fn lock_file(dir: &Path) -> std::path::PathBuf {
    dir.join("db")
}

/// Whether `err` is sled's "could not acquire lock" (another process holds the database).
fn is_lock_error(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock || err.to_string().contains("could not acquire lock")
}

/// A sled error while doing `action` on the database in `dir`.
pub(crate) fn sled_error(err: sled::Error, action: &str, dir: &Path) -> Error {
    match err {
        sled::Error::Io(e) if is_lock_error(&e) => Error::new(
            ErrorKind::Locked,
            "the sled database is in use by another process (sled holds an exclusive lock on its file)",
        )
        .with_context("file", lock_file(dir).display())
        .with_source(e),
        sled::Error::Io(e) => Error::io(e, action, dir),
        sled::Error::Corruption { at, .. } => {
            let mut error =
                Error::new(ErrorKind::Corrupt, format!("cannot {action}: sled found corrupt data"))
                    .with_context("file", dir.display());
            if let Some(at) = at {
                error = error.with_context("at", format!("{at:?}"));
            }
            error
        }
        other => Error::new(ErrorKind::Backend, format!("cannot {action}"))
            .with_context("file", dir.display())
            .with_source(other),
    }
}

/// sled panicked while opening `dir` (it does on some damaged files).
pub(crate) fn open_panic(payload: Box<dyn Any + Send>, dir: &Path) -> Error {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::new(
        ErrorKind::Corrupt,
        format!("sled panicked while opening the database (damaged files?): {message}"),
    )
    .with_context("file", dir.display())
}

/// A stored record that does not parse.
pub(crate) fn damaged(why: Damaged, digest: &Digest, dir: &Path) -> Error {
    Error::new(ErrorKind::Corrupt, format!("damaged record: {why}"))
        .with_context("digest", digest)
        .with_context("file", dir.display())
}

/// A key or value over the record's 4 GiB limit.
pub(crate) fn too_long(err: TooLong, digest: &Digest) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("a key or value of {} bytes exceeds the sled engine's 4 GiB limit", err.0),
    )
    .with_context("digest", digest)
}
