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
#[cfg(any(feature = "zstd", feature = "zlib", feature = "gzip", feature = "bz2"))]
pub(crate) const TRUNCATED: &str = "truncated: input ended before the end-of-stream marker";

/// The smallest amount of output space [`stream_into`] adds at a time.
#[cfg(any(feature = "zstd", feature = "zlib", feature = "gzip", feature = "bz2"))]
const MIN_GROWTH: usize = 4 << 10;

/// What one call of a streaming decoder did: input bytes consumed, output bytes
/// written, and whether the stream (member, frame) ended.
#[cfg(any(feature = "zstd", feature = "zlib", feature = "gzip", feature = "bz2"))]
pub(crate) struct Step {
    /// Input bytes consumed by this call.
    pub(crate) used: usize,
    /// Output bytes written by this call (at the start of the slice it was given).
    pub(crate) wrote: usize,
    /// The end-of-stream marker was reached and everything before it written.
    pub(crate) ended: bool,
}

/// Where a bounded decode started and how much it may produce.
///
/// `start` is `out.len()` when the whole decode (all members of a gzip file, all
/// streams of a bz2 file) began, so the limit covers their sum.
#[cfg(any(feature = "zstd", feature = "zlib", feature = "gzip", feature = "bz2"))]
#[derive(Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) codec: &'static str,
    pub(crate) start: usize,
    pub(crate) limit: usize,
}

#[cfg(any(feature = "zstd", feature = "zlib", feature = "gzip", feature = "bz2"))]
impl Budget {
    /// A budget of `limit` bytes for `codec`, counted from `out`'s current length.
    pub(crate) fn new(codec: &'static str, out: &[u8], limit: usize) -> Self {
        Budget { codec, start: out.len(), limit }
    }

    fn too_large(&self) -> crate::CodecError {
        crate::CodecError::TooLarge { codec: self.codec, limit: self.limit }
    }
}

/// Drive a streaming decompressor over one stream in `input`, appending to `out`.
///
/// The output grows only as real output appears (so a corrupt header can never trigger
/// a huge allocation), geometrically, and never past `budget.limit + 1` bytes after
/// `budget.start`: the decoder is handed at most that much room, and producing the byte
/// past the limit stops the decode with [`CodecError::TooLarge`](crate::CodecError).
/// The room handed out per call grows with what this stream has produced, so zero-filling
/// it costs at most a small multiple of the real output (plus [`MIN_GROWTH`] per call),
/// even for thousands of tiny concatenated streams.
///
/// `step(input, output)` feeds the not-yet-consumed input and writes into `output` (a
/// zero-filled slice at the end of `out`). Returns the number of input bytes consumed
/// when the stream ends; a stream that stops making progress before its end is reported
/// as truncated. On error `out` is truncated to its length on entry.
#[cfg(any(feature = "zstd", feature = "zlib", feature = "gzip", feature = "bz2"))]
pub(crate) fn stream_into<E: std::fmt::Display>(
    budget: Budget,
    input: &[u8],
    out: &mut Vec<u8>,
    mut step: impl FnMut(&[u8], &mut [u8]) -> Result<Step, E>,
) -> Result<usize, crate::CodecError> {
    let entry = out.len();
    let mut pos = 0;
    let fail = |out: &mut Vec<u8>, err| {
        out.truncate(entry);
        Err(err)
    };
    loop {
        let len = out.len();
        let produced = len - budget.start;
        if produced > budget.limit {
            return fail(out, budget.too_large());
        }
        // At least 1, since produced <= limit. The byte past the limit tells "ends
        // exactly at the limit" (the decoder reports the end without using it) from
        // "goes on" (it writes it).
        let room = budget.limit.saturating_add(1) - produced;
        let window = (len - entry).max(MIN_GROWTH).min(room);
        if out.capacity() - len < window {
            // Exact, so capacity stays within `budget.start + limit + 1`; doubling the
            // whole output keeps appends amortised O(1).
            out.reserve_exact(window.max(produced).min(room));
        }
        out.resize(len + window, 0);
        match step(&input[pos..], &mut out[len..]) {
            Ok(Step { used, wrote, ended }) => {
                out.truncate(len + wrote.min(window));
                pos = pos.saturating_add(used).min(input.len());
                if ended {
                    if out.len() - budget.start > budget.limit {
                        return fail(out, budget.too_large());
                    }
                    return Ok(pos);
                }
                if used == 0 && wrote == 0 {
                    return fail(out, crate::CodecError::corrupt(budget.codec, TRUNCATED));
                }
            }
            Err(e) => return fail(out, crate::CodecError::corrupt(budget.codec, e)),
        }
    }
}
