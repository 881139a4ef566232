//! The core of hashstash: the engine contract, errors, configuration and
//! paths, and the [`Stash`] dictionary built on them.
//!
//! ```text
//!  key ──serialize (canonical)──► bytes ──compress/base64──► encoded key ──digest──► slot
//!  value ─serialize──────────────► bytes ──compress/base64──► encoded value ─────────┘
//!                                                              Engine::put(slot, key, value)
//! ```
//!
//! Engines live in their own crates (`stash-engine-*`) and implement [`Engine`]
//! and [`EngineFactory`]; serializers come from `stash-serial`, compressors
//! from `stash-codec`. The `hashstash` facade wires them together by name.
#![deny(missing_docs)]

pub mod config;
mod context;
pub mod formats;
pub mod functions;
pub mod iter;
pub mod lifecycle;
pub mod observe;
pub mod stash;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transfer;
pub mod typed;
pub mod verify;

pub use config::{Eviction, StashConfig};
// The engine contract, re-exported whole: engines depend on `stash-engine-api` alone.
pub use lifecycle::{Prune, PruneReport, SetOptions, Stats};
pub use stash::{Batch, EncodedKey, Stash, Versioned};
pub use stash_engine_api::{
    AsyncEngine, BoxFuture, ByteEncoding, Capabilities, Digest, DigestAlgo, Engine, EngineContext,
    EngineFactory, EngineOptions, EntryMeta, Error, ErrorKind, HeldLock, Layout, LentRecord, LockAttempt,
    MetaIter, OptionReader, OptionWriter, Put, Record, RecordCursor, RecordIter, Result, Version,
    WriteOptions, asynchronous, clock, cursor, digest, engine, error, locks, options, redact_url,
};
pub use transfer::MigrateReport;
pub use typed::TypedStash;
pub use verify::{DamagedEntry, VerifyReport};

pub use stash_codec;
pub use stash_codec::Compression;
pub use stash_serial;
pub use stash_serial::{Format, Set, Value};
