//! Compression and encoding for hashstash.
//!
//! hashstash stores every value as *serialized bytes → compressed → optionally base64*.
//! This crate provides the middle and last steps, byte-compatible with the Python
//! library (hashstash 1.2.0) where the underlying formats allow it:
//!
//! | name    | format                                             | cargo feature |
//! |---------|----------------------------------------------------|---------------|
//! | `raw`   | bytes unchanged                                    | always        |
//! | `lz4`   | LZ4 block, 4-byte little-endian size prefix        | `lz4` (default) |
//! | `zstd`  | Zstandard frame, level 3                           | `zstd`        |
//! | `blosc` | one Blosc chunk (blosclz, clevel 9, shuffle)       | `blosc`       |
//! | `zlib`  | zlib stream, level 6                               | `zlib`        |
//! | `gzip`  | gzip member, level 9, mtime 0                      | `gzip`        |
//! | `bz2`   | bzip2 stream, level 9                              | `bz2`         |
//!
//! Asking for a compressor whose feature is off is an error
//! ([`CodecError::NotCompiled`]); unlike the Python library, nothing silently falls back
//! to `raw`.
//!
//! # Size limit
//!
//! Stored bytes are untrusted, and a few bytes can claim or expand to gigabytes (a
//! decompression bomb). Every decode therefore has a limit on the bytes it produces:
//! [`DEFAULT_MAX_DECODED`] (1 GiB) unless set with [`Codec::decompress_limited`] or
//! [`Encoding::with_max_decoded`]. Each codec enforces it *while* decoding: size fields
//! (the lz4 prefix, the zstd frame header, the blosc header) over the limit are refused
//! before anything is allocated, and the streaming formats (zstd without a content size,
//! zlib, gzip with all its members, bz2 with all its streams) grow the output only as
//! bytes really appear and stop one byte past the limit. So decoding never holds more
//! than the limit plus the decoder's own fixed working memory (zlib's 32 KiB window,
//! bzip2's block of at most 900 kB times a small factor, zstd's window, at most 128 MiB by
//! zstd's default and only touched as output is produced), and going over is
//! [`CodecError::TooLarge`] (`is_too_large()`), distinct from corrupt data. On any error
//! the caller's buffer is left as it was.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "lz4")]
//! # fn main() -> Result<(), stash_codec::CodecError> {
//! use stash_codec::{decode, encode, Encoding};
//!
//! // One-off helpers, like Python's `encode(data, compress='lz4', b64=True)`.
//! let stored = encode(b"\"cat\"", "lz4", true)?;
//! assert_eq!(stored, b"BQAAAFAiY2F0Ig==");
//! assert_eq!(decode(&stored, "lz4", true)?, b"\"cat\"");
//!
//! // Reusable form: build once, then encode/decode into caller-owned buffers.
//! let enc = Encoding::from_names("lz4", true)?;
//! assert_eq!(enc.label(), "lz4+b64");
//! let mut buf = Vec::new();
//! enc.encode(b"\"cat\"", &mut buf)?;
//! let mut plain = Vec::new();
//! enc.decode(&buf, &mut plain)?;
//! assert_eq!(plain, b"\"cat\"");
//!
//! // Garbage never panics: it is a `Corrupt` error.
//! assert!(enc.decode(b"not base64!", &mut plain).unwrap_err().is_corrupt());
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "lz4"))]
//! # fn main() {}
//! ```
#![deny(missing_docs)]

mod codecs;
mod compression;
mod encoding;
mod error;
mod python;

use std::fmt;
use std::sync::Arc;

#[cfg(feature = "blosc")]
pub use codecs::Blosc;
#[cfg(feature = "bz2")]
pub use codecs::Bz2;
#[cfg(feature = "gzip")]
pub use codecs::Gzip;
#[cfg(feature = "lz4")]
pub use codecs::Lz4;
pub use codecs::Raw;
#[cfg(feature = "zlib")]
pub use codecs::Zlib;
#[cfg(feature = "zstd")]
pub use codecs::Zstd;
pub use compression::Compression;
pub use encoding::{Encoding, decode, encode};
pub use error::CodecError;
pub use python::python_key_compressor;

/// The default limit on how many bytes one decode may produce: 1 GiB.
///
/// [`Codec::decompress`], [`decode`], and every [`Encoding`] unless
/// [`Encoding::with_max_decoded`] sets another limit, stop at this many bytes with
/// [`CodecError::TooLarge`].
pub const DEFAULT_MAX_DECODED: usize = 1 << 30;

/// A compressor chosen at run time.
///
/// Implementations append to `out` (never clear it) so callers can reuse buffers, and on
/// error leave `out` as the caller gave it (same length and contents).
pub trait Codec: Send + Sync + fmt::Debug {
    /// The name used in stash paths and configs (`"raw"`, `"lz4"`, ...).
    fn name(&self) -> &'static str;
    /// Compress `input`, appending the result to `out`.
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError>;
    /// Decompress `input`, appending at most `limit` bytes to `out`.
    ///
    /// The limit is enforced *while* decoding: `out` never grows past `limit` (plus one
    /// byte for streaming formats, to tell "exactly at the limit" from "over it") beyond
    /// what it held on entry, whatever sizes the input claims.
    ///
    /// # Errors
    /// [`CodecError::TooLarge`] when the input decodes (or claims to decode) to more than
    /// `limit` bytes; [`CodecError::Corrupt`] when it does not decode.
    fn decompress_limited(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError>;
    /// Decompress `input`, appending the result to `out`: [`decompress_limited`]
    /// with [`DEFAULT_MAX_DECODED`].
    ///
    /// [`decompress_limited`]: Codec::decompress_limited
    fn decompress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.decompress_limited(input, out, DEFAULT_MAX_DECODED)
    }
}

/// Every compressor name hashstash knows, whether or not it is compiled in.
pub const KNOWN: &[&str] = &["raw", "lz4", "zstd", "blosc", "zlib", "gzip", "bz2"];

/// `Ok(codec)` when `feature` is on, otherwise [`CodecError::NotCompiled`].
macro_rules! gated {
    ($feature:literal, $name:literal, $make:expr) => {{
        #[cfg(feature = $feature)]
        let made: Result<Arc<dyn Codec>, CodecError> = Ok(Arc::new($make));
        #[cfg(not(feature = $feature))]
        let made: Result<Arc<dyn Codec>, CodecError> =
            Err(CodecError::NotCompiled { name: $name, feature: $feature });
        made
    }};
}

/// The compressor called `name` (one of [`KNOWN`]).
///
/// # Errors
/// [`CodecError::Unknown`] for a name not in [`KNOWN`]; [`CodecError::NotCompiled`] for a
/// known compressor whose cargo feature is off.
pub fn codec(name: &str) -> Result<Arc<dyn Codec>, CodecError> {
    match name {
        "raw" => Ok(Arc::new(Raw)),
        "lz4" => gated!("lz4", "lz4", codecs::Lz4),
        "zstd" => gated!("zstd", "zstd", codecs::Zstd),
        "blosc" => gated!("blosc", "blosc", codecs::Blosc),
        "zlib" => gated!("zlib", "zlib", codecs::Zlib),
        "gzip" => gated!("gzip", "gzip", codecs::Gzip),
        "bz2" => gated!("bz2", "bz2", codecs::Bz2),
        _ => Err(CodecError::Unknown { name: name.to_owned(), known: KNOWN }),
    }
}

/// The compressor names compiled into this build, in [`KNOWN`] order.
pub fn available() -> Vec<&'static str> {
    KNOWN.iter().copied().filter(|name| codec(name).is_ok()).collect()
}
