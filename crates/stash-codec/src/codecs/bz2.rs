//! `bz2`: bzip2 at level 9, Python's `bz2.compress` / `bz2.decompress`.
//!
//! Uses the `bzip2` crate's default backend (`libbz2-rs-sys`, a Rust port of libbzip2
//! 1.0.8), whose output is byte-identical to CPython's `bz2` module.

use super::{Budget, Step, TRUNCATED, stream_into};
use crate::{Codec, CodecError};
use bzip2::{Compression, Decompress, Status};
use std::io::Write;

const NAME: &str = "bz2";

/// bzip2 compression, block size 900k (level 9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bz2;

impl Codec for Bz2 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        let mut encoder = bzip2::write::BzEncoder::new(&mut *out, Compression::best());
        let result = encoder.write_all(input).and_then(|()| encoder.finish().map(drop));
        super::rollback(out, start, result.map_err(|e| CodecError::compress(NAME, e)))
    }

    /// Like `bz2.decompress`: concatenated streams are joined and, once one stream has
    /// decoded, trailing bytes that are not a valid stream are ignored. A truncated
    /// stream is always an error; empty input gives empty output. The limit covers all
    /// streams together.
    fn decompress_limited(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
        let start = out.len();
        let budget = Budget::new(NAME, out, limit);
        let mut rest = input;
        let mut streams = 0usize;
        while !rest.is_empty() {
            let stream_start = out.len();
            let mut dec = Decompress::new(false);
            let step = |i: &[u8], o: &mut [u8]| -> Result<Step, bzip2::Error> {
                let (in_before, out_before) = (dec.total_in(), dec.total_out());
                let status = dec.decompress(i, o)?;
                // Both deltas are bounded by the slices' lengths, so they fit in usize.
                let used = usize::try_from(dec.total_in() - in_before).unwrap_or(usize::MAX);
                let wrote = usize::try_from(dec.total_out() - out_before).unwrap_or(usize::MAX);
                Ok(Step { used, wrote, ended: status == Status::StreamEnd })
            };
            match stream_into(budget, rest, out, step) {
                Ok(used) => rest = &rest[used..],
                // Python ignores trailing garbage after a complete stream, but not a
                // stream that merely ends early.
                Err(CodecError::Corrupt { detail, .. }) if streams > 0 && detail != TRUNCATED => {
                    out.truncate(stream_start);
                    break;
                }
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            }
            streams += 1;
        }
        Ok(())
    }
}
