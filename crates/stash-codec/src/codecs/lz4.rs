//! `lz4`: the LZ4 *block* format with a 4-byte little-endian uncompressed size in front.
//!
//! This is what Python's `lz4.block.compress(data)` (default `store_size=True`) writes,
//! and what hashstash 1.2.0 stores.

use super::rollback;
use crate::{Codec, CodecError};
use std::cell::Cell;

use lz4_flex::block;

const NAME: &str = "lz4";
const SIZE_PREFIX: usize = 4;
/// An LZ4 block cannot expand more than 255x (one extra length byte adds at most 255
/// output bytes), so a larger claimed size in the prefix is corruption.
const MAX_RATIO: usize = 255;

/// Inputs shorter than this hold no match (LZ4's `MFLIMIT + 1`): literals only.
const LITERALS_ONLY: usize = 13;

thread_local! {
    /// This thread's hash tables for inputs under 64 KiB (16-bit entries) and over.
    /// `lz4_flex::block::compress_into` allocates and zeroes a fresh table on every call,
    /// which was half the instructions of a memory-stash `get` (the key is compressed
    /// on every lookup); a kept table is only cleared. The output bytes are the same.
    static SMALL: Cell<Option<block::CompressTable>> = const { Cell::new(None) };
    static LARGE: Cell<Option<block::CompressTable>> = const { Cell::new(None) };
}

/// Compresses `input` into `output` with this thread's kept table (taken out while in
/// use, so a nested call, or one during thread exit, makes a table of its own).
fn compress_block(input: &[u8], output: &mut [u8]) -> Result<usize, block::CompressError> {
    if input.len() < LITERALS_ONLY {
        // Too short for any match: one token and the literals, as every LZ4 compressor
        // writes it (pinned by a test against lz4_flex), without touching a table.
        let (token, rest) = output.split_first_mut().ok_or(block::CompressError::OutputTooSmall)?;
        let literals = rest.get_mut(..input.len()).ok_or(block::CompressError::OutputTooSmall)?;
        // `input.len() < 13`: the length fits the token's high nibble.
        *token = (input.len() as u8) << 4;
        literals.copy_from_slice(input);
        return Ok(1 + input.len());
    }
    let small = input.len() < usize::from(u16::MAX);
    let kept = if small { &SMALL } else { &LARGE };
    let mut table =
        kept.try_with(Cell::take).ok().flatten().unwrap_or_else(|| {
            if small { block::CompressTable::small() } else { block::CompressTable::large() }
        });
    let written = block::compress_into_with_table(input, output, &mut table);
    // Fails only while the thread exits: the table is then dropped.
    let _ = kept.try_with(|cell| cell.set(Some(table)));
    written
}

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
        let written = compress_block(input, &mut out[body..]).map_err(|e| CodecError::compress(NAME, e));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept-table and literals-only paths write exactly what `lz4_flex` writes with
    /// a fresh table: key bytes (and so digests) must never change.
    #[test]
    fn output_is_lz4_flex_output_for_every_length_and_after_reuse() {
        let text: Vec<u8> =
            (0..70_000u32).map(|i| b"abcabcabd hello hello world 0123"[(i * 7 % 32) as usize]).collect();
        let mut lengths: Vec<usize> = (0..80).collect();
        lengths.extend([255, 4_096, 65_534, 65_535, 65_536, 70_000]);
        // Long then short and back: each table is reused after inputs of other sizes.
        for &len in lengths.iter().chain(lengths.iter().rev()) {
            let input = &text[..len];
            let mut ours = Vec::new();
            Lz4.compress(input, &mut ours).unwrap();
            let theirs = block::compress_prepend_size(input);
            assert_eq!(ours, theirs, "length {len}");
            let mut back = Vec::new();
            Lz4.decompress_limited(&ours, &mut back, usize::MAX).unwrap();
            assert_eq!(back, input);
        }
    }
}
