//! `raw`: no compression at all.

use crate::{Codec, CodecError};

/// The identity codec: bytes are stored as given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Raw;

impl Codec for Raw {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(input);
        Ok(())
    }

    fn decompress_limited(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
        if input.len() > limit {
            return Err(CodecError::TooLarge { codec: "raw", limit });
        }
        out.extend_from_slice(input);
        Ok(())
    }
}
