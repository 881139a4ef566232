//! Turning SQLite errors into stash errors of the right kind, naming the file.

use std::path::Path;

use rusqlite::ErrorCode;
use stash_engine_api::{Error, ErrorKind};

/// A SQLite error met while doing `action` on the database at `path`.
///
/// Kinds: a file that is not a database or is damaged is `Corrupt` (so is a
/// read that comes back short: the file is shorter than the pages its
/// database uses, it was cut); a lock
/// still held when the busy timeout ran out is `Locked`; permission, disk and
/// open failures are `Io`; anything else is `Backend`.
pub(crate) fn sql_error(err: rusqlite::Error, action: &str, path: &Path) -> Error {
    let short_read =
        err.sqlite_error().is_some_and(|e| e.extended_code == rusqlite::ffi::SQLITE_IOERR_SHORT_READ);
    let (kind, message) = match err.sqlite_error_code() {
        _ if short_read => (
            ErrorKind::Corrupt,
            format!(
                "cannot {action}: the SQLite database file ends before the pages it uses (it was cut short)"
            ),
        ),
        Some(ErrorCode::NotADatabase) => {
            (ErrorKind::Corrupt, format!("cannot {action}: the file is not a SQLite database"))
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            (ErrorKind::Corrupt, format!("cannot {action}: the SQLite database is damaged"))
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => (
            ErrorKind::Locked,
            format!(
                "cannot {action}: the SQLite database stayed locked by another connection past the busy timeout"
            ),
        ),
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::NoLargeFileSupport,
        ) => (ErrorKind::Io, format!("cannot {action}")),
        _ => (ErrorKind::Backend, format!("cannot {action}")),
    };
    Error::new(kind, message).with_context("file", path.display()).with_source(err)
}

/// Stored bytes that do not have the shape this engine writes.
pub(crate) fn corrupt(message: impl Into<String>, path: &Path) -> Error {
    Error::new(ErrorKind::Corrupt, message).with_context("file", path.display())
}
