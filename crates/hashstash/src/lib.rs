//! # hashstash
//!
//! A persistent, dictionary-like cache in which anything serde can serialize
//! is a key or a value: keys are serialized, encoded and hashed; values are
//! serialized, compressed and stored by an engine you pick by name.
//!
//! ```
//! use hashstash::{HashStash, Value};
//! use std::collections::BTreeMap;
//! # let dir = tempfile::tempdir().unwrap();
//!
//! let stash = HashStash::builder().root_dir(dir.path()).engine("pairtree").open()?;
//! stash.set("bad", "cat")?;
//! stash.set(&("bad", "good"), "cat")?;
//! stash.set(&BTreeMap::from([("goodness", "bad")]), "cat")?;
//! assert_eq!(stash.get::<_, String>(&("bad", "good"))?.as_deref(), Some("cat"));
//! assert_eq!(stash.len()?, 3);
//! for item in stash.items::<Value, Value>()? {
//!     let (key, value) = item?;
//!     assert_eq!(value, Value::from("cat"));
//! }
//! # Ok::<(), hashstash::Error>(())
//! ```
//!
//! The crate is a facade: each engine, the codecs and the serializers live in
//! their own crates, switched on by cargo features (`pairtree`, `memory`,
//! `lz4`, `zstd`, `blosc`, `zlib`, `gzip`, `bz2`; groups `rec` and `all`).
#![deny(missing_docs)]

mod builder;
pub mod engines;

use std::fmt;
use std::ops::Deref;

pub use builder::Builder;
pub use engines::EngineKind;
/// The life cycle layer every stash goes through (`stash.lifecycle()`): time to
/// live, counters, bounds and eviction over any engine.
pub use stash_core::lifecycle;
/// Logs through `tracing` (feature `tracing`): the events, their levels and fields,
/// and the slow-operation threshold.
pub use stash_core::observe;
pub use stash_core::{
    Batch, ByteEncoding, Capabilities, Compression, DamagedEntry, Digest, DigestAlgo, EncodedKey, Engine,
    EngineContext, EngineFactory, EntryMeta, Error, ErrorKind, Eviction, HeldLock, Layout, LentRecord,
    LockAttempt, MetaIter, MigrateReport, Prune, PruneReport, Put, Record, RecordCursor, RecordIter, Result,
    Set, SetOptions, Stash, StashConfig, Stats, TypedStash, Value, VerifyReport, Version, Versioned,
    WriteOptions, redact_url,
};
/// Iterators returned by the stash.
pub mod iter {
    pub use stash_core::iter::{Items, Keys, RawItems, Values};
}
/// The compressor names compiled into this build (`["raw", "lz4"]` by default).
pub use stash_codec::available as available_compressors;
pub use stash_codec::{Codec, Encoding};
/// A function as a key, written as Python writes a function key (`{"__py__": ...,
/// "__pytype__": "function", "__source__": ...}`); `fn_key!` (feature `func`) makes one
/// from a function.
pub use stash_serial::FnKey;
/// A Python `frozenset` key (written `builtins.frozenset`, as Python writes it); see [`Set`].
pub use stash_serial::FrozenSet;
pub use stash_serial::Serializer;

/// Stashed function results: `stash.run(f, args)`, `stash.map(f, inputs)`, `#[stashed_result]`
/// (feature `func`, on by default). The macros' generated code refers to `::hashstash::func`.
#[cfg(feature = "func")]
pub use stash_func as func;
/// `fn_key!(path::to::f)`: the key of a function marked `#[stash_fingerprint]` (or
/// `#[stashed_result]`), an [`FnKey`] naming it by its path and code fingerprint, so
/// `stash.set(&fn_key!(f), "cat")` stores under the function as Python's
/// `stash[func_key] = "cat"` does; a changed body is another key (feature `func`).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// #[hashstash::stash_fingerprint]
/// fn func_key(x: u32) -> u32 { x + 1 }
///
/// let stash = hashstash::HashStash::builder().root_dir(dir.path()).open()?;
/// stash.set(&hashstash::fn_key!(func_key), "cat")?;
/// assert_eq!(stash.get::<_, String>(&hashstash::fn_key!(func_key))?.as_deref(), Some("cat"));
/// # Ok::<(), hashstash::Error>(())
/// ```
#[cfg(feature = "func")]
pub use stash_func::fn_key;
#[cfg(feature = "func")]
pub use stash_func::{FunctionStash, RunOptions, StashRun, stash_fingerprint, stash_mapped, stashed_result};

/// The async API for tokio programs (feature `async`): `stash.asynchronous()` gives an
/// [`AsyncStash`] with the dictionary methods as `async fn`s, streams, `run_async` and
/// `map_async`; see the crate docs of `stash_async` for how it works and what it costs.
#[cfg(feature = "async")]
pub use stash_async as asynchronous;
#[cfg(feature = "async")]
pub use stash_async::{AsyncBatch, AsyncMap, AsyncStash, AsyncStashExt, StashStream};

/// How `#[stashed_result] async fn` reaches its runtime support: the async
/// single flight of `stash_async` with the feature `async`. Not a public API.
#[cfg(feature = "async")]
#[doc(hidden)]
#[macro_export]
macro_rules! __stash_async_call {
    ($helper:ident($($arg:expr),* $(,)?)) => {
        $crate::asynchronous::__private::$helper($($arg),*)
    };
}

/// Without the feature `async`: a compile error saying how to turn it on.
#[cfg(not(feature = "async"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __stash_async_call {
    ($($any:tt)*) => {
        ::core::compile_error!(
            "#[stashed_result] on an `async fn` needs hashstash's `async` feature: \
             hashstash = { version = \"...\", features = [\"async\"] }"
        )
    };
}

#[cfg(feature = "async")]
impl From<HashStash> for AsyncStash {
    fn from(stash: HashStash) -> Self {
        AsyncStash::new(stash.0)
    }
}

/// Tables: flattened records and polars DataFrames (`stash.df()`), CSV, JSON lines, Parquet.
#[cfg(feature = "frame")]
pub use stash_frame as frame;
/// A polars DataFrame as a key or value (Python's pandas form with the `hashstash` serializer).
#[cfg(feature = "frame")]
pub use stash_frame::Frame;
#[cfg(feature = "frame")]
pub use stash_frame::{FrameOptions, StashFrame};

#[cfg(feature = "lmdb")]
pub use stash_engine_lmdb as lmdb;
#[cfg(feature = "memory")]
pub use stash_engine_memory as memory;
#[cfg(feature = "mongo")]
pub use stash_engine_mongo as mongo;
#[cfg(feature = "pairtree")]
pub use stash_engine_pairtree as pairtree;
#[cfg(feature = "redis")]
pub use stash_engine_redis as redis;
#[cfg(feature = "sled")]
pub use stash_engine_sled as sled;
#[cfg(feature = "sqlite")]
pub use stash_engine_sqlite as sqlite;

/// A stash opened by engine name: a [`Stash`] (all dictionary methods are
/// reachable through it) plus the constructors that pick engines by name.
///
/// Clones are cheap and share the engine; a `HashStash` is `Send + Sync`.
#[derive(Clone)]
pub struct HashStash(Stash);

impl HashStash {
    /// Opens the default stash: engine `pairtree`, serializer `hashstash`,
    /// compressor `lz4` (or `raw` without the `lz4` feature), in
    /// `~/.cache/hashstash/default_stash/main` (or under `$HASHSTASH_ROOT_DIR`).
    pub fn new() -> Result<HashStash> {
        HashStash::builder().open()
    }

    /// A builder to choose the root, engine, serializer, compressor and options.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Opens the stash a saved configuration describes.
    pub fn open(config: StashConfig) -> Result<HashStash> {
        Builder::from_config(config).open()
    }

    /// A child stash with the same settings: [`Stash::sub`], as a `HashStash`
    /// (so a stash opened by name hands out stashes of its own type).
    pub fn sub(&self, name: &str) -> Result<HashStash> {
        self.0.sub(name).map(HashStash)
    }

    /// A temporary stash with the same settings: [`Stash::tmp`], as a `HashStash`.
    pub fn tmp(&self) -> Result<HashStash> {
        self.0.tmp().map(HashStash)
    }

    /// The underlying [`Stash`].
    pub fn as_stash(&self) -> &Stash {
        &self.0
    }

    /// Unwraps into the underlying [`Stash`].
    pub fn into_stash(self) -> Stash {
        self.0
    }
}

impl Deref for HashStash {
    type Target = Stash;
    fn deref(&self) -> &Stash {
        &self.0
    }
}

impl From<Stash> for HashStash {
    fn from(stash: Stash) -> Self {
        HashStash(stash)
    }
}

impl From<HashStash> for Stash {
    fn from(stash: HashStash) -> Self {
        stash.0
    }
}

impl fmt::Display for HashStash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for HashStash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Serializes `value` with the serializer called `serializer` (Python's `serialize`).
///
/// ```
/// let bytes = hashstash::serialize(&("bad", "good"), "hashstash")?;
/// let back: (String, String) = hashstash::deserialize(&bytes, "hashstash")?;
/// assert_eq!(back, ("bad".to_string(), "good".to_string()));
/// # Ok::<(), hashstash::Error>(())
/// ```
pub fn serialize<T: serde::Serialize + ?Sized>(value: &T, serializer: impl AsRef<str>) -> Result<Vec<u8>> {
    stash_serial::serialize(value, serializer.as_ref()).map_err(stash_core::formats::serial_error)
}

/// Deserializes bytes written by [`serialize`] (Python's `deserialize`).
pub fn deserialize<T: serde::de::DeserializeOwned>(bytes: &[u8], serializer: impl AsRef<str>) -> Result<T> {
    stash_serial::deserialize(bytes, serializer.as_ref()).map_err(stash_core::formats::serial_error)
}

/// Compresses `data` with `compress`, then base64-encodes it when `b64` (Python's `encode`).
///
/// ```
/// let enc = hashstash::encode(b"Hello, World!", "lz4", true)?;
/// assert_eq!(hashstash::decode(&enc, "lz4", true)?, b"Hello, World!");
/// # Ok::<(), hashstash::Error>(())
/// ```
pub fn encode(data: &[u8], compress: impl AsRef<str>, b64: bool) -> Result<Vec<u8>> {
    stash_codec::encode(data, compress.as_ref(), b64).map_err(stash_core::formats::codec_error)
}

/// Reverses [`encode`] (Python's `decode`).
pub fn decode(data: &[u8], compress: impl AsRef<str>, b64: bool) -> Result<Vec<u8>> {
    stash_codec::decode(data, compress.as_ref(), b64).map_err(stash_core::formats::codec_error)
}

/// The compressors compiled into this build.
pub fn compressors() -> Vec<&'static str> {
    stash_codec::available()
}

/// Every serializer this build offers.
pub fn serializers() -> &'static [&'static str] {
    stash_serial::KNOWN
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
