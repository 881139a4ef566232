//! Turning heed/LMDB errors into stash errors that name the file.

use std::path::Path;

use heed::MdbError;
use stash_engine_api::{Error, ErrorKind};

/// What a transaction body may fail with: an LMDB error (which the retry
/// loop inspects for `MapFull`/`MapResized`) or a finished stash error.
#[derive(Debug)]
pub(crate) enum Fail {
    /// From heed / LMDB.
    Heed(heed::Error),
    /// Already a stash error (a key mismatch, a damaged record).
    Stash(Error),
}

impl From<heed::Error> for Fail {
    fn from(err: heed::Error) -> Self {
        Fail::Heed(err)
    }
}

impl From<Error> for Fail {
    fn from(err: Error) -> Self {
        Fail::Stash(err)
    }
}

/// Whether `err` is LMDB's `MDB_MAP_FULL`.
pub(crate) fn is_map_full(err: &Fail) -> bool {
    matches!(err, Fail::Heed(heed::Error::Mdb(MdbError::MapFull)))
}

/// Whether `err` is LMDB's `MDB_MAP_RESIZED` (another process grew the map).
pub(crate) fn is_map_resized(err: &Fail) -> bool {
    matches!(err, Fail::Heed(heed::Error::Mdb(MdbError::MapResized)))
}

/// A stash error for `fail` while trying to `action`, naming `file`.
pub(crate) fn to_error(fail: Fail, action: &str, file: &Path) -> Error {
    match fail {
        Fail::Stash(err) => err,
        Fail::Heed(err) => heed_error(err, action, file),
    }
}

/// A stash error for a heed error while trying to `action`, naming `file`.
pub(crate) fn heed_error(err: heed::Error, action: &str, file: &Path) -> Error {
    let (kind, hint) = match &err {
        heed::Error::Io(io) if io.raw_os_error() == Some(28) => (ErrorKind::Io, ": the disk is full"),
        // LMDB reports a write that wrote less than asked, as on a full disk,
        // as EIO ("short write, filesystem full?" in mdb.c): say so, or a
        // full disk reads as a broken one.
        heed::Error::Io(io) if io.raw_os_error() == Some(5) => (
            ErrorKind::Io,
            ": an I/O error (EIO), which LMDB also reports for a short write: the disk may be full",
        ),
        heed::Error::Io(_) => (ErrorKind::Io, ""),
        heed::Error::Mdb(MdbError::Invalid) => (ErrorKind::Corrupt, ": the file is not an LMDB database"),
        heed::Error::Mdb(MdbError::VersionMismatch) => {
            (ErrorKind::Corrupt, ": the file was written by an incompatible LMDB version")
        }
        heed::Error::Mdb(MdbError::Corrupted | MdbError::PageNotFound) => {
            (ErrorKind::Corrupt, ": the LMDB database is damaged")
        }
        _ => (ErrorKind::Backend, ""),
    };
    Error::new(kind, format!("cannot {action}{hint}")).with_context("file", file.display()).with_source(err)
}

/// The error for a record that does not parse.
pub(crate) fn damaged(reason: &str, file: &Path) -> Error {
    Error::new(ErrorKind::Corrupt, format!("damaged LMDB record: {reason}"))
        .with_context("file", file.display())
}
