//! [`Compression`]: a compressor by name, parsed once where a name comes in.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::{Codec, CodecError, KNOWN, codec};

/// A compressor hashstash knows, whether or not it is compiled in: what a stash's
/// configuration holds. Parsed from its name (`"lz4".parse()`), shown and
/// serialized as its name; an unknown name is [`CodecError::Unknown`], and a
/// known one whose cargo feature is off is [`CodecError::NotCompiled`] when its
/// [`codec`](Compression::codec) is asked for.
///
/// ```
/// use stash_codec::Compression;
/// let lz4: Compression = "lz4".parse()?;
/// assert_eq!((lz4, lz4.name()), (Compression::Lz4, "lz4"));
/// assert!("lzma".parse::<Compression>().unwrap_err().to_string().contains("unknown compressor `lzma`"));
/// # Ok::<(), stash_codec::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Compression {
    /// No compression.
    Raw,
    /// LZ4 block, size-prefixed as Python's `lz4.block` (feature `lz4`).
    Lz4,
    /// Zstandard (feature `zstd`).
    Zstd,
    /// Blosc2 (feature `blosc`).
    Blosc,
    /// zlib, as Python's `zlib` (feature `zlib`).
    Zlib,
    /// gzip, as Python's `gzip` (feature `gzip`).
    Gzip,
    /// bzip2, as Python's `bz2` (feature `bz2`).
    Bz2,
}

impl Compression {
    /// Every compressor, in [`KNOWN`] order.
    pub const ALL: [Compression; 7] = [
        Compression::Raw,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Blosc,
        Compression::Zlib,
        Compression::Gzip,
        Compression::Bz2,
    ];

    /// Its name (`"lz4"`).
    pub const fn name(self) -> &'static str {
        match self {
            Compression::Raw => "raw",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
            Compression::Blosc => "blosc",
            Compression::Zlib => "zlib",
            Compression::Gzip => "gzip",
            Compression::Bz2 => "bz2",
        }
    }

    /// The compressor itself, or [`CodecError::NotCompiled`] naming the cargo feature.
    pub fn codec(self) -> Result<Arc<dyn Codec>, CodecError> {
        codec(self.name())
    }

    /// Whether it is compiled into this build.
    pub fn is_available(self) -> bool {
        self.codec().is_ok()
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = CodecError;

    fn from_str(name: &str) -> Result<Compression, CodecError> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| CodecError::Unknown { name: name.to_owned(), known: KNOWN })
    }
}

impl AsRef<str> for Compression {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl PartialEq<str> for Compression {
    fn eq(&self, name: &str) -> bool {
        self.name() == name
    }
}

impl PartialEq<&str> for Compression {
    fn eq(&self, name: &&str) -> bool {
        self.name() == *name
    }
}

impl serde::Serialize for Compression {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Compression {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Compression, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}
