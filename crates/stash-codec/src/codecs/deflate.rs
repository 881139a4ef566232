//! `zlib` and `gzip`: DEFLATE through flate2's C zlib backend.
//!
//! The backend is C zlib (`libz-sys`) because it gives byte-identical output to CPython's
//! `zlib.compress(data)` and `gzip.compress(data, mtime=0)`. flate2's default pure-Rust
//! backend (miniz_oxide) and `zlib-rs` both differ from C zlib at level 6 on ordinary
//! inputs (see the golden tests); `zlib-rs` matches at level 9 (gzip) only.

use super::{Budget, Step, stream_into};
use crate::{Codec, CodecError};
use flate2::{Compression, Decompress, FlushDecompress, Status};
use std::io::Write;

/// Level of Python's `zlib.compress` default (`Z_DEFAULT_COMPRESSION` = 6).
#[cfg(feature = "zlib")]
const ZLIB_LEVEL: u32 = 6;
/// Level of Python's `gzip.compress` default.
#[cfg(feature = "gzip")]
const GZIP_LEVEL: u32 = 9;
/// OS byte C zlib writes in gzip headers on Unix (CPython uses zlib's own gzip writer).
#[cfg(feature = "gzip")]
const GZIP_OS_UNIX: u8 = 3;

/// One inflate step over `input`, writing into `out`.
fn inflate_step(dec: &mut Decompress, input: &[u8], out: &mut [u8]) -> Result<Step, flate2::DecompressError> {
    let (in_before, out_before) = (dec.total_in(), dec.total_out());
    let status = dec.decompress(input, out, FlushDecompress::None)?;
    // Both deltas are bounded by the slices' lengths, so they fit in usize.
    let used = usize::try_from(dec.total_in() - in_before).unwrap_or(usize::MAX);
    let wrote = usize::try_from(dec.total_out() - out_before).unwrap_or(usize::MAX);
    Ok(Step { used, wrote, ended: status == Status::StreamEnd })
}

/// zlib stream (RFC 1950), level 6: Python's `zlib.compress` / `zlib.decompress`.
#[cfg(feature = "zlib")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Zlib;

#[cfg(feature = "zlib")]
impl Codec for Zlib {
    fn name(&self) -> &'static str {
        "zlib"
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        let mut encoder = flate2::write::ZlibEncoder::new(&mut *out, Compression::new(ZLIB_LEVEL));
        let result = encoder.write_all(input).and_then(|()| encoder.finish().map(drop));
        super::rollback(out, start, result.map_err(|e| CodecError::compress("zlib", e)))
    }

    /// Like `zlib.decompress`, bytes after the end of the stream are ignored.
    fn decompress_limited(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
        let mut dec = Decompress::new(true);
        let budget = Budget::new("zlib", out, limit);
        stream_into(budget, input, out, |i, o| inflate_step(&mut dec, i, o)).map(drop)
    }
}

/// gzip member (RFC 1952), level 9, mtime 0: Python's `gzip.compress(data, mtime=0)`.
#[cfg(feature = "gzip")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gzip;

#[cfg(feature = "gzip")]
impl Codec for Gzip {
    fn name(&self) -> &'static str {
        "gzip"
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        let mut encoder = flate2::GzBuilder::new()
            .mtime(0)
            .operating_system(GZIP_OS_UNIX)
            .write(&mut *out, Compression::new(GZIP_LEVEL));
        let result = encoder.write_all(input).and_then(|()| encoder.finish().map(drop));
        super::rollback(out, start, result.map_err(|e| CodecError::compress("gzip", e)))
    }

    /// Like `gzip.decompress`: concatenated members are joined, zero padding after a
    /// member is skipped, empty input gives empty output, anything else is an error.
    /// The limit covers all members together.
    fn decompress_limited(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
        let start = out.len();
        let budget = Budget::new("gzip", out, limit);
        let mut rest = input;
        while !rest.is_empty() {
            // zlib checks the gzip header, CRC-32 and length trailer itself.
            let mut dec = Decompress::new_gzip(15);
            let used = match stream_into(budget, rest, out, |i, o| inflate_step(&mut dec, i, o)) {
                Ok(used) => used,
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            };
            rest = &rest[used..];
            let padding = rest.iter().take_while(|&&b| b == 0).count();
            rest = &rest[padding..];
        }
        Ok(())
    }
}
