//! `zstd`: a standard Zstandard frame at level 3 (the library default).
//!
//! Compression records the content size in the frame header (like Python's
//! `zstandard.ZstdCompressor().compress`). Decompression does not rely on it: frames
//! without a content size, or claiming more than [`PREALLOCATE_LIMIT`], are streamed,
//! so a corrupt header can never make us allocate more than the data really produces.

use super::rollback;
use crate::{Codec, CodecError};
use std::cell::RefCell;
use std::io::Read;
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe;

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
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
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

    fn decompress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        let declared = zstd_safe::get_frame_content_size(input)
            .map_err(|_| CodecError::corrupt(NAME, "not a zstd frame"))?;
        if let Some(size) = declared.filter(|&s| s <= PREALLOCATE_LIMIT) {
            // `size` fits in usize: it is at most PREALLOCATE_LIMIT.
            let size = size as usize;
            out.resize(start + size, 0);
            let one_shot = DECOMPRESSOR.with_borrow_mut(|slot| {
                let decompressor = match slot {
                    Some(d) => d,
                    None => slot.insert(Decompressor::new().map_err(|e| CodecError::corrupt(NAME, e))?),
                };
                decompressor
                    .decompress_to_buffer(input, &mut out[start..])
                    .map_err(|e| CodecError::corrupt(NAME, e))
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
        let streamed = zstd::stream::read::Decoder::with_buffer(input)
            .and_then(|mut decoder| decoder.read_to_end(out))
            .map(|_| ())
            .map_err(|e| CodecError::corrupt(NAME, e));
        rollback(out, start, streamed)
    }
}
