//! The error type shared by every codec.

use thiserror::Error;

/// Why a codec could not be built or could not encode/decode some bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The compressor name is not one hashstash knows.
    #[error("unknown compressor `{name}`: expected one of {}", known.join(", "))]
    Unknown {
        /// The name that was asked for.
        name: String,
        /// Every name hashstash knows (compiled in or not).
        known: &'static [&'static str],
    },
    /// The compressor is known, but its cargo feature was not enabled at build time.
    #[error("compressor `{name}` is not compiled in: enable the cargo feature `{feature}`")]
    NotCompiled {
        /// The compressor name.
        name: &'static str,
        /// The cargo feature of `stash-codec` that provides it.
        feature: &'static str,
    },
    /// The input could not be decoded: truncated, garbage, or made by another codec.
    #[error("corrupt {codec} data: {detail}")]
    Corrupt {
        /// The codec (or `"base64"`) that rejected the input.
        codec: &'static str,
        /// What the decoder reported.
        detail: String,
    },
    /// Decoding would produce more than the allowed number of bytes; the decoder
    /// stopped at the limit (a decompression bomb, or a value over the stash's
    /// `max_value_bytes`).
    #[error("{codec} data decodes to more than the limit of {limit} bytes")]
    TooLarge {
        /// The codec that hit the limit.
        codec: &'static str,
        /// The limit, in decoded bytes.
        limit: usize,
    },
    /// The compressor itself failed (not expected for in-memory buffers).
    #[error("{codec} compression failed: {detail}")]
    Compress {
        /// The codec that failed.
        codec: &'static str,
        /// What the compressor reported.
        detail: String,
    },
}

impl CodecError {
    /// True when the error means "these bytes cannot be decoded" ([`CodecError::Corrupt`]).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, CodecError::Corrupt { .. })
    }

    /// True when decoding stopped at the size limit ([`CodecError::TooLarge`]).
    pub fn is_too_large(&self) -> bool {
        matches!(self, CodecError::TooLarge { .. })
    }

    /// Build a [`CodecError::Corrupt`] from any displayable decoder error.
    pub(crate) fn corrupt(codec: &'static str, detail: impl std::fmt::Display) -> Self {
        CodecError::Corrupt { codec, detail: detail.to_string() }
    }

    /// Build a [`CodecError::Compress`] from any displayable compressor error.
    pub(crate) fn compress(codec: &'static str, detail: impl std::fmt::Display) -> Self {
        CodecError::Compress { codec, detail: detail.to_string() }
    }
}
