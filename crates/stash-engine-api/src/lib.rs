//! The contract between a hashstash stash and its storage engines, and the
//! little an engine needs to keep it: [`Engine`] and [`EngineFactory`], the
//! [`EngineContext`] an engine opens with, key [`Digest`]s, the one [`Error`]
//! type, write clocks ([`clock`]), file locks ([`locks`]), the engine's own
//! settings ([`options`]) and natively async operations for server engines
//! ([`AsyncEngine`], in [`asynchronous`]).
//!
//! An engine crate depends on this crate alone: it stores bytes by digest and
//! knows nothing of serializers or compressors (`stash-serial`, `stash-codec`),
//! which the stash (`stash-core`) applies before and after. `stash-core`
//! re-exports everything here, so users name these items from there or from
//! the `hashstash` facade.
#![deny(missing_docs)]

pub mod asynchronous;
pub mod clock;
pub mod cursor;
pub mod digest;
pub mod engine;
pub mod error;
pub mod group_commit;
pub mod locks;
pub mod observe;
pub mod options;
pub mod redact;
pub mod registry;

pub use asynchronous::{AsyncEngine, BoxFuture};
pub use cursor::{LentRecord, RecordCursor};
pub use digest::{Digest, DigestAlgo};
pub use engine::{
    ByteEncoding, Capabilities, Engine, EngineContext, EngineFactory, EntryMeta, HeldLock, Layout,
    LockAttempt, MetaIter, Put, Record, RecordIter, Version, WriteOptions,
};
pub use error::{Error, ErrorKind, Report, Result};
pub use options::{EngineOptions, OptionReader, OptionWriter};
pub use redact::redact_url;

/// The default limit on the size of one value: 1 GiB (the stash's
/// `max_value_bytes`).
pub const DEFAULT_MAX_VALUE_BYTES: u64 = 1 << 30;

/// The folder (or file) an engine keeps its data in, under the stash folder.
pub const DATA_NAME: &str = "data.db";

/// The folder of the lock files file engines share between processes
/// ([`locks`]), beside [`DATA_NAME`].
pub const LOCKS_NAME: &str = ".locks";
