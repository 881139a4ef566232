//! `zstd`: a standard Zstandard frame at level 3 (the library default).
//!
//! Compression records the content size in the frame header (like Python's
//! `zstandard.ZstdCompressor().compress`). Decompression does not trust it: a frame
//! claiming more than the decode limit is refused before anything is allocated, and
//! frames without a content size, claiming more than [`PREALLOCATE_LIMIT`], or whose
//! one-shot decode does not match their header (several frames, a lying header) are
//! streamed through [`stream_into`], which grows the output only as bytes really appear
//! and stops at the limit.

use super::{Budget, Step, rollback, stream_into};
use crate::{Codec, CodecError};
use std::cell::RefCell;
use zstd::bulk::Compressor;
use zstd::zstd_safe::{self, DCtx, InBuffer, OutBuffer};

const NAME: &str = "zstd";
/// The compression level used by [`Zstd`].
pub(crate) const LEVEL: i32 = 3;
/// Frames whose header declares at most this many bytes are decoded in one shot into an
/// exactly-sized buffer; anything else goes through the streaming decoder.
pub(crate) const PREALLOCATE_LIMIT: u64 = 64 << 20;

thread_local! {
    // zstd contexts are costly to create (hundreds of KiB of tables), so each thread
    // keeps one of each and reuses it for every call.
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
}

/// Zstandard compression (the `zstd` crate, bundled libzstd) at level 3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Zstd;

impl Codec for Zstd {
    fn name(&self) -> &'static str {
        NAME
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        out.resize(start + zstd_safe::compress_bound(input.len()), 0);
        let result = COMPRESSOR.with_borrow_mut(|slot| {
            let compressor = match slot {
                Some(c) => c,
                None => slot.insert(Compressor::new(LEVEL).map_err(|e| CodecError::compress(NAME, e))?),
            };
            compressor.compress_to_buffer(input, &mut out[start..]).map_err(|e| CodecError::compress(NAME, e))
        });
        let written = rollback(out, start, result)?;
        out.truncate(start + written);
        Ok(())
    }

    fn decompress_limited(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
        let declared = zstd_safe::get_frame_content_size(input)
            .map_err(|_| CodecError::corrupt(NAME, "not a zstd frame"))?;
        // The header is stored bytes: a claim over the limit is refused unallocated.
        if declared.is_some_and(|size| u64::try_from(limit).is_ok_and(|limit| size > limit)) {
            return Err(CodecError::TooLarge { codec: NAME, limit });
        }
        let start = out.len();
        // `size` fits in usize: it is at most the limit (checked above).
        if let Some(size) = declared.filter(|&s| s <= PREALLOCATE_LIMIT).map(|s| s as usize) {
            // Exact: the buffer never grows past what the (limited) header claims.
            out.reserve_exact(size);
            out.resize(start + size, 0);
            let one_shot = DECOMPRESSOR.with_borrow_mut(|slot| {
                let dctx = match slot {
                    Some(d) => d,
                    None => slot.insert(
                        DCtx::try_create()
                            .ok_or_else(|| CodecError::corrupt(NAME, "cannot create a context"))?,
                    ),
                };
                dctx.decompress(&mut out[start..], input)
                    .map_err(|code| CodecError::corrupt(NAME, zstd_safe::get_error_name(code)))
            });
            if let Ok(n) = one_shot
                && n == size
            {
                return Ok(());
            }
            // Several concatenated frames, a lying header, or real corruption: let the
            // streaming decoder decide (it reports the precise error).
            out.truncate(start);
        }
        stream_frames(input, out, limit)
    }
}

/// Decode every frame of `input` (concatenated frames are joined, like the `zstd` tool
/// and Python's `zstandard.decompress` with `allow_multiple_frames`), bounded by `limit`.
///
/// Uses a context of its own, dropped at the end: a streaming context keeps its window
/// buffer (up to zstd's default window limit, 128 MiB) allocated, which the per-thread
/// one-shot context must not retain.
fn stream_frames(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
    let mut dctx = DCtx::try_create().ok_or_else(|| CodecError::corrupt(NAME, "cannot create a context"))?;
    let start = out.len();
    let budget = Budget::new(NAME, out, limit);
    let mut rest = input;
    while !rest.is_empty() {
        let used = stream_into(budget, rest, out, |i, o| {
            let mut src = InBuffer::around(i);
            let mut dst = OutBuffer::around(o);
            let hint = dctx.decompress_stream(&mut dst, &mut src).map_err(zstd_safe::get_error_name)?;
            // A hint of 0 means the frame is complete and fully flushed.
            Ok::<_, &str>(Step { used: src.pos(), wrote: dst.pos(), ended: hint == 0 })
        });
        match used {
            Ok(used) => rest = &rest[used..],
            Err(e) => return rollback(out, start, Err(e)),
        }
    }
    Ok(())
}
