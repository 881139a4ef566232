//! `lz4`: the LZ4 *block* format with a 4-byte little-endian uncompressed size in front.
//!
//! This is what Python's `lz4.block.compress(data)` (default `store_size=True`) writes,
//! and what hashstash 1.2.0 stores.

use super::rollback;
use crate::{Codec, CodecError};
use lz4_flex::block;

const NAME: &str = "lz4";
const SIZE_PREFIX: usize = 4;
/// An LZ4 block cannot expand more than 255x (one extra length byte adds at most 255
/// output bytes), so a larger claimed size in the prefix is corruption.
const MAX_RATIO: usize = 255;

/// LZ4 block compression (`lz4_flex`), size-prefixed like Python's `lz4.block`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lz4;

impl Codec for Lz4 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let size = u32::try_from(input.len())
            .map_err(|_| CodecError::compress(NAME, "input larger than 4 GiB cannot be size-prefixed"))?;
        let start = out.len();
        let body = start + SIZE_PREFIX;
        out.extend_from_slice(&size.to_le_bytes());
        out.resize(body + block::get_maximum_output_size(input.len()), 0);
        let written =
            block::compress_into(input, &mut out[body..]).map_err(|e| CodecError::compress(NAME, e));
        let written = rollback(out, start, written)?;
        out.truncate(body + written);
        Ok(())
    }

    fn decompress_limited(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
        let (prefix, body) = input
            .split_first_chunk::<SIZE_PREFIX>()
            .ok_or_else(|| CodecError::corrupt(NAME, "shorter than the 4-byte size prefix"))?;
        let size = u32::from_le_bytes(*prefix) as usize;
        if size > body.len().saturating_mul(MAX_RATIO).saturating_add(16) {
            return Err(CodecError::corrupt(
                NAME,
                format!("size prefix claims {size} bytes from {} compressed bytes", body.len()),
            ));
        }
        // Checked before anything is allocated: the prefix is stored bytes.
        if size > limit {
            return Err(CodecError::TooLarge { codec: NAME, limit });
        }
        let start = out.len();
        // Exact: the buffer never grows past what the (limited) prefix claims.
        out.reserve_exact(size);
        out.resize(start + size, 0);
        let result = match block::decompress_into(body, &mut out[start..]) {
            Ok(n) if n == size => Ok(()),
            Ok(n) => Err(CodecError::corrupt(
                NAME,
                format!("size prefix says {size} bytes but the block holds {n}"),
            )),
            Err(e) => Err(CodecError::corrupt(NAME, e)),
        };
        rollback(out, start, result)
    }
}
