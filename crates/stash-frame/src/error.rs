//! The error of this layer: a stash error, a polars error, or input a table cannot be built from.

use std::path::PathBuf;

/// Why a table could not be assembled or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Reading the stash failed.
    #[error(transparent)]
    Stash(#[from] stash_core::Error),
    /// polars refused the columns or failed to write them.
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// The stash's serializer does not record types, so values cannot be
    /// decoded without knowing them.
    #[error(
        "the `{serializer}` serializer is not self-describing: its values cannot be read without their type; \
         call `df_typed::<K, V>()` (or `ld_typed`) with the key and value types"
    )]
    NotSelfDescribing {
        /// The serializer's name.
        serializer: String,
    },
    /// Writing an export file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A typed value could not be turned into a table cell.
    #[error("cannot turn a value into table cells: {0}")]
    Convert(#[from] stash_serial::SerialError),
}

impl From<FrameError> for stash_core::Error {
    fn from(err: FrameError) -> stash_core::Error {
        use stash_core::{Error, ErrorKind};
        match err {
            FrameError::Stash(e) => e,
            FrameError::NotSelfDescribing { .. } => Error::new(ErrorKind::Unsupported, err.to_string()),
            FrameError::Io { path, source } => Error::io(source, "write a table", &path),
            FrameError::Convert(e) => Error::new(ErrorKind::Decode, e.to_string()),
            FrameError::Polars(e) => Error::new(ErrorKind::Backend, format!("polars: {e}")),
        }
    }
}

/// Results of this crate.
pub type Result<T, E = FrameError> = std::result::Result<T, E>;
