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

pub mod clock;
pub mod config;
mod context;
pub mod digest;
pub mod engine;
pub mod error;
pub mod functions;
pub mod iter;
pub mod lifecycle;
pub mod locks;
pub mod options;
pub mod stash;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transfer;
pub mod typed;
pub mod verify;

pub use config::{Eviction, StashConfig, redact_url};
pub use digest::{Digest, DigestAlgo};
pub use engine::{
    ByteEncoding, Capabilities, Engine, EngineContext, EngineFactory, EntryMeta, HeldLock, Layout,
    LockAttempt, MetaIter, Put, Record, RecordIter, Version, WriteOptions,
};
pub use error::{Error, ErrorKind, Result};
pub use lifecycle::{Prune, PruneReport, SetOptions, Stats};
pub use options::{EngineOptions, OptionReader, OptionWriter};
pub use stash::{Batch, EncodedKey, Stash, Versioned};
pub use transfer::MigrateReport;
pub use typed::TypedStash;
pub use verify::{DamagedEntry, VerifyReport};

pub use stash_codec;
pub use stash_serial;
pub use stash_serial::{Set, Value};
