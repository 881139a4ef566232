//! Errors of the format layers (`stash-codec`, `stash-serial`) as the stash's
//! [`Error`]: a kind to match on, a message that says what the stash was
//! doing, and the format's own error kept as [`source`](std::error::Error::source)
//! (printed once by `{:?}`, [`Error::report`] and error reporters such as
//! anyhow's, never repeated by `Display`).
//!
//! A name that is unknown or not compiled in, or a binary format asked for a
//! dynamic `Value`, is the error itself, not the cause of one: its text is the
//! message and there is no source.

use stash_codec::CodecError;
use stash_serial::SerialError;

use crate::error::{Error, ErrorKind};

/// A compressor's error as the stash's.
///
/// ```
/// use std::error::Error as _;
/// let damaged = stash_codec::CodecError::Corrupt { codec: "lz4", detail: "truncated block".into() };
/// let err = stash_core::formats::codec_error(damaged);
/// assert_eq!(err.kind(), stash_core::ErrorKind::Corrupt);
/// assert_eq!(err.to_string(), "stored bytes do not decode");
/// assert!(err.source().unwrap().to_string().contains("corrupt lz4 data"));
/// ```
pub fn codec_error(err: CodecError) -> Error {
    let (kind, message) = match &err {
        CodecError::NotCompiled { .. } => return Error::new(ErrorKind::NotCompiled, err.to_string()),
        CodecError::Unknown { .. } => return Error::new(ErrorKind::Config, err.to_string()),
        e if e.is_too_large() => (ErrorKind::TooLarge, "a value decodes to more than the stash's size limit"),
        e if e.is_corrupt() => (ErrorKind::Corrupt, "stored bytes do not decode"),
        _ => (ErrorKind::Encode, "bytes cannot be compressed"),
    };
    Error::new(kind, message).with_source(err)
}

/// A serializer's error as the stash's.
///
/// ```
/// use std::error::Error as _;
/// let err = stash_core::formats::serial_error(stash_serial::serializer("yaml").unwrap_err());
/// assert_eq!(err.kind(), stash_core::ErrorKind::Config);
/// assert!(err.source().is_none() && err.to_string().contains("unknown serializer"));
/// ```
pub fn serial_error(err: SerialError) -> Error {
    let (kind, message) = match &err {
        SerialError::Unknown { .. } => return Error::new(ErrorKind::Config, err.to_string()),
        SerialError::Unsupported { .. } => return Error::new(ErrorKind::Unsupported, err.to_string()),
        // A binary format asked for a `Value`: the advice is the error.
        SerialError::NotSelfDescribing { .. } => return Error::new(ErrorKind::Decode, err.to_string()),
        SerialError::Encode { .. } => (ErrorKind::Encode, "a key or value cannot be serialized"),
        SerialError::Decode { .. } => (ErrorKind::Decode, "stored bytes do not read as the requested type"),
        #[allow(unreachable_patterns)]
        _ => (ErrorKind::Decode, "stored bytes do not read as the requested type"),
    };
    Error::new(kind, message).with_source(err)
}
