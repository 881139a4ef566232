//! One module per compressor. Each is a zero-sized type implementing [`Codec`](crate::Codec).

mod raw;
pub use raw::Raw;

#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "lz4")]
pub use lz4::Lz4;

#[cfg(feature = "zstd")]
mod zstd;
#[cfg(feature = "zstd")]
pub use zstd::Zstd;

#[cfg(feature = "blosc")]
mod blosc;
#[cfg(feature = "blosc")]
pub use blosc::Blosc;

#[cfg(any(feature = "zlib", feature = "gzip"))]
mod deflate;
#[cfg(feature = "gzip")]
pub use deflate::Gzip;
#[cfg(feature = "zlib")]
pub use deflate::Zlib;

#[cfg(feature = "bz2")]
mod bz2;
#[cfg(feature = "bz2")]
pub use bz2::Bz2;

/// Undo a partial append: on error, `out` must be left as the caller gave it.
#[allow(dead_code)]
pub(crate) fn rollback<T, E>(out: &mut Vec<u8>, start: usize, result: Result<T, E>) -> Result<T, E> {
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Detail of the error [`stream_into`] returns when the input stops mid-stream.
#[cfg(any(feature = "zlib", feature = "gzip", feature = "bz2"))]
pub(crate) const TRUNCATED: &str = "truncated: input ended before the end-of-stream marker";

/// Drive a streaming decompressor over `input`, appending to `out` and growing it only as
/// real output appears (so a corrupt header can never trigger a huge allocation).
///
/// `step(input, out)` feeds the not-yet-consumed input, writes into `out`'s spare
/// capacity, and returns `(bytes consumed, reached end of stream)`. Returns the number of
/// input bytes consumed when the stream ends; a stream that stops making progress before
/// its end is reported as truncated.
#[cfg(any(feature = "zlib", feature = "gzip", feature = "bz2"))]
pub(crate) fn stream_into<E: std::fmt::Display>(
    codec: &'static str,
    input: &[u8],
    out: &mut Vec<u8>,
    mut step: impl FnMut(&[u8], &mut Vec<u8>) -> Result<(usize, bool), E>,
) -> Result<usize, crate::CodecError> {
    let start = out.len();
    let mut pos = 0;
    loop {
        if out.len() == out.capacity() {
            let produced = out.len() - start;
            out.reserve(produced.max(input.len()).max(256));
        }
        let before = out.len();
        match step(&input[pos..], out) {
            Ok((used, ended)) => {
                pos += used;
                if ended {
                    return Ok(pos);
                }
                if used == 0 && out.len() == before {
                    out.truncate(start);
                    return Err(crate::CodecError::corrupt(codec, TRUNCATED));
                }
            }
            Err(e) => {
                out.truncate(start);
                return Err(crate::CodecError::corrupt(codec, e));
            }
        }
    }
}
