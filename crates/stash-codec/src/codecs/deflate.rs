//! `zlib` and `gzip`: DEFLATE through flate2's C zlib backend.
//!
//! The backend is C zlib (`libz-sys`) because it gives byte-identical output to CPython's
//! `zlib.compress(data)` and `gzip.compress(data, mtime=0)`. flate2's default pure-Rust
//! backend (miniz_oxide) and `zlib-rs` both differ from C zlib at level 6 on ordinary
//! inputs (see the golden tests); `zlib-rs` matches at level 9 (gzip) only.

use super::stream_into;
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

/// One inflate step over `input`, appending to `out`.
fn inflate_step(
    dec: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(usize, bool), flate2::DecompressError> {
    let before = dec.total_in();
    let status = dec.decompress_vec(input, out, FlushDecompress::None)?;
    let used = (dec.total_in() - before) as usize;
    Ok((used, status == Status::StreamEnd))
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
    fn decompress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let mut dec = Decompress::new(true);
        stream_into("zlib", input, out, |i, o| inflate_step(&mut dec, i, o)).map(drop)
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
    fn decompress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        let mut rest = input;
        while !rest.is_empty() {
            // zlib checks the gzip header, CRC-32 and length trailer itself.
            let mut dec = Decompress::new_gzip(15);
            let used = match stream_into("gzip", rest, out, |i, o| inflate_step(&mut dec, i, o)) {
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
