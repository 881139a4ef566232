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

    /// Build a [`CodecError::Corrupt`] from any displayable decoder error.
    pub(crate) fn corrupt(codec: &'static str, detail: impl std::fmt::Display) -> Self {
        CodecError::Corrupt { codec, detail: detail.to_string() }
    }

    /// Build a [`CodecError::Compress`] from any displayable compressor error.
    pub(crate) fn compress(codec: &'static str, detail: impl std::fmt::Display) -> Self {
        CodecError::Compress { codec, detail: detail.to_string() }
    }
}
