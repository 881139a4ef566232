//! The error type shared by every serializer.

use std::fmt;

/// Why serializing or deserializing failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    /// No serializer has this name.
    #[error("unknown serializer {name:?}; known serializers: {}", crate::KNOWN.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The serializer exists in Python hashstash but cannot exist in Rust.
    #[error("serializer {name:?} is not available in Rust: {reason}")]
    Unsupported {
        /// The name asked for.
        name: String,
        /// Why, and what to use instead.
        reason: String,
    },
    /// The value could not be serialized.
    #[error("{serializer}: cannot serialize: {detail}")]
    Encode {
        /// The serializer's name.
        serializer: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The bytes could not be read (garbage, truncated, or the wrong type).
    #[error("{serializer}: cannot decode: {detail}")]
    Decode {
        /// The serializer's name.
        serializer: &'static str,
        /// What went wrong, naming the expected type when known.
        detail: String,
    },
    /// Decoding without a known type (into [`Value`](crate::Value)) needs a self-describing format.
    #[error(
        "{serializer} is not self-describing: bytes can only be decoded into the type that wrote them, not into a dynamic Value"
    )]
    NotSelfDescribing {
        /// The serializer's name.
        serializer: &'static str,
    },
}

impl SerialError {
    pub(crate) fn encode(serializer: &'static str, detail: impl fmt::Display) -> Self {
        SerialError::Encode { serializer, detail: detail.to_string() }
    }
    pub(crate) fn decode(serializer: &'static str, detail: impl fmt::Display) -> Self {
        SerialError::Decode { serializer, detail: detail.to_string() }
    }
}

/// The error of [`Value`](crate::Value)'s serde implementations (reading a typed value
/// out of a `Value`, or building one); [`from_value`](crate::from_value) and
/// [`to_value`](crate::to_value) wrap it in a [`SerialError`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValueError(pub(crate) String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

impl serde::ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}

impl serde::de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}
