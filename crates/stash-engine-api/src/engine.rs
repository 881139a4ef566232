//! The storage engine contract: bytes in, bytes out, addressed by digest.
//!
//! An engine knows nothing of serializers or codecs. The stash hands it the
//! digest of an encoded key, the encoded key bytes (kept so entries can be
//! listed and checked) and the encoded value bytes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::asynchronous::AsyncEngine;
use crate::cursor::{OwnedCursor, RecordCursor};
use crate::digest::{Digest, DigestAlgo};
use crate::error::{Error, ErrorKind, Result};
use crate::options::EngineOptions;

/// One stored entry, as the engine holds it: encoded key and newest encoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The slot.
    pub digest: Digest,
    /// Encoded key bytes.
    pub key: Vec<u8>,
    /// Encoded value bytes (the newest version).
    pub value: Vec<u8>,
}

/// One stored version of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// 1 for the oldest kept version, counting up.
    pub number: u64,
    /// When it was written, in microseconds since the Unix epoch.
    pub written_at_micros: i64,
    /// Encoded value bytes.
    pub value: Vec<u8>,
}

impl Version {
    /// When it was written.
    pub fn written_at(&self) -> SystemTime {
        micros_to_time(self.written_at_micros)
    }
}

/// Converts microseconds since the epoch to a `SystemTime`.
pub fn micros_to_time(micros: i64) -> SystemTime {
    if micros >= 0 {
        UNIX_EPOCH + Duration::from_micros(micros as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
    }
}

/// How a write treats the versions already stored under the key, and when the entry expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Keep earlier versions (append mode) instead of replacing them.
    pub append: bool,
    /// When the entry expires, in microseconds since the Unix epoch; `None` never.
    /// The newest write of a key decides the expiry of the whole entry.
    pub expires_at_micros: Option<i64>,
}

impl WriteOptions {
    /// Replace whatever is stored.
    pub const REPLACE: WriteOptions = WriteOptions { append: false, expires_at_micros: None };
    /// Keep every version.
    pub const APPEND: WriteOptions = WriteOptions { append: true, expires_at_micros: None };

    /// The same options with an expiry time (microseconds since the epoch).
    pub const fn expiring_at(self, micros: Option<i64>) -> WriteOptions {
        WriteOptions { expires_at_micros: micros, ..self }
    }
}

/// What the stash knows about an entry without reading its value: the basis
/// of `prune`, eviction and `stats`. Unlike the other reads, a metadata scan
/// also reports entries that have expired, so they can be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// The slot.
    pub digest: Digest,
    /// Encoded key bytes.
    pub key: Vec<u8>,
    /// When the newest version was written, microseconds since the epoch.
    pub written_at_micros: i64,
    /// When the entry expires, if ever.
    pub expires_at_micros: Option<i64>,
    /// How many versions are kept (1 unless in append mode).
    pub versions: u64,
    /// Encoded value bytes over all kept versions (not counting the engine's overhead).
    pub value_bytes: u64,
}

/// A streaming iterator over entry metadata.
pub type MetaIter = Box<dyn Iterator<Item = Result<EntryMeta>> + Send>;

/// One item of a batch write.
#[derive(Debug, Clone, Copy)]
pub struct Put<'a> {
    /// The slot.
    pub digest: Digest,
    /// Encoded key bytes.
    pub key: &'a [u8],
    /// Encoded value bytes.
    pub value: &'a [u8],
}

/// A streaming iterator over stored records. It owns what it needs, so the
/// stash may be written while it runs.
pub type RecordIter = Box<dyn Iterator<Item = Result<Record>> + Send>;

/// What an engine can do beyond the required operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// Data survives the process.
    pub persistent: bool,
    /// Several processes may write at once without losing data.
    pub multi_process: bool,
    /// `len()` does not visit every entry.
    pub cheap_len: bool,
    /// `get`, `contains` and `len` are served from memory (the process's own or a
    /// memory map) in microseconds, waiting on no disk, server or writer: an async
    /// caller may run them on its task instead of handing them to a blocking pool.
    pub inline_reads: bool,
}

impl Capabilities {
    /// No capability: where an engine's declaration starts, naming each flag it has
    /// (`Capabilities::NONE.with_persistence().with_cheap_len()`); flags added later
    /// start `false` for engines that do not name them.
    pub const NONE: Capabilities =
        Capabilities { persistent: false, multi_process: false, cheap_len: false, inline_reads: false };

    /// Data survives the process.
    pub const fn with_persistence(self) -> Capabilities {
        Capabilities { persistent: true, ..self }
    }

    /// Several processes may write at once without losing data.
    pub const fn with_multi_process(self) -> Capabilities {
        Capabilities { multi_process: true, ..self }
    }

    /// `len()` does not visit every entry.
    pub const fn with_cheap_len(self) -> Capabilities {
        Capabilities { cheap_len: true, ..self }
    }

    /// Reads are served from memory without waiting on I/O or writers (see
    /// [`inline_reads`](Capabilities::inline_reads)).
    pub const fn with_inline_reads(self) -> Capabilities {
        Capabilities { inline_reads: true, ..self }
    }
}

/// A storage engine. Object safe: a stash holds an `Arc<dyn Engine>` chosen at
/// run time. Every method takes `&self`; engines synchronise internally.
///
/// Lookups take the expected encoded key as well as its digest: an engine
/// must compare it with the stored key and report a mismatch with
/// [`key_mismatch`], so a digest collision or a damaged key file can never
/// return another key's value.
///
/// Expiry: an entry whose `expires_at` (from the newest write's
/// [`WriteOptions`]) is at or before [`clock::now_micros`](crate::clock::now_micros)
/// is absent for `get`, `contains`, `versions`, `len`, `scan` and `scan_keys`;
/// only [`scan_meta`](Engine::scan_meta) still reports it, and `delete` removes it.
pub trait Engine: Send + Sync + fmt::Debug + 'static {
    /// The engine's registered name (`"pairtree"`, `"memory"`, ...).
    fn name(&self) -> &'static str;

    /// What this engine supports.
    fn capabilities(&self) -> Capabilities;

    /// The newest value stored for `key`, or `None`.
    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Stores `value` for `key`.
    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()>;

    /// Stores many entries; engines with transactions commit once.
    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        items.iter().try_for_each(|p| self.put(&p.digest, p.key, p.value, options))
    }

    /// Removes `key`; true if it was there.
    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool>;

    /// Whether `key` is stored.
    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        Ok(self.get(digest, key)?.is_some())
    }

    /// The number of stored keys.
    fn len(&self) -> Result<usize>;

    /// Whether nothing is stored.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every entry of this stash (and nothing else).
    fn clear(&self) -> Result<()>;

    /// Every record, newest value of each key.
    fn scan(&self) -> Result<RecordIter>;

    /// Every record, as [`scan`](Engine::scan), lent one at a time. Engines
    /// that read records a page at a time override this to lend them from
    /// the page's buffer; the default lends [`scan`](Engine::scan)'s records.
    fn scan_lent(&self) -> Result<Box<dyn RecordCursor>> {
        Ok(Box::new(OwnedCursor::new(self.scan()?)))
    }

    /// Every record with an empty `value`: engines that keep values apart
    /// from keys override this to avoid reading values.
    fn scan_keys(&self) -> Result<RecordIter> {
        Ok(Box::new(self.scan()?.map(|r| {
            r.map(|mut rec| {
                rec.value.clear();
                rec
            })
        })))
    }

    /// Every kept version of `key`, oldest first, or `None` if absent.
    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>>;

    /// Metadata of every entry, expired ones included.
    fn scan_meta(&self) -> Result<MetaIter>;

    /// Bytes the engine's files take on disk (allocated), if it keeps files.
    fn disk_usage(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// Makes written data durable where the engine buffers it.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Removes `key` unless it was written again after `seen_written_at_micros`
    /// (the newest write time a [`scan_meta`](Engine::scan_meta) reported): the
    /// delete of eviction and `prune`, which decide from a snapshot and must never
    /// remove a write that came after it. Expired entries are considered too.
    /// Returns true if this call removed the entry.
    ///
    /// The default checks [`versions`](Engine::versions) and then deletes, which
    /// leaves a short window for a concurrent write; every engine of this
    /// workspace overrides it with one atomic step (a transaction, a script, a
    /// conditional delete, or version files newer than the stamp left in place).
    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        let rewritten = self
            .versions(digest, key)?
            .and_then(|v| v.last().map(|newest| newest.written_at_micros > seen_written_at_micros))
            .unwrap_or(false);
        if rewritten { Ok(false) } else { self.delete(digest, key) }
    }

    /// Stores `value` for `key` only if no live entry holds `key` (an expired
    /// one counts as absent and is replaced); true if this call stored it. The
    /// write of `setdefault`: of many callers racing on a missing key, in any
    /// process, exactly one stores its value.
    ///
    /// The default checks [`contains`](Engine::contains) and then writes, which
    /// leaves a window for a concurrent write; every engine of this workspace
    /// overrides it with one atomic step.
    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        if self.contains(digest, key)? {
            return Ok(false);
        }
        self.put(digest, key, value, options)?;
        Ok(true)
    }

    /// Tries to take the lock called `name` on this engine's storage, shared by
    /// every handle, process (and, on server engines, machine) that opens the
    /// same stash. Function results use it so a missing result is computed once.
    ///
    /// Never blocks: callers poll with a deadline. `lease` bounds how long a lock
    /// of a holder that died stays taken where the storage cannot tell (servers);
    /// file locks go with their process. The default is
    /// [`LockAttempt::Unsupported`] (in-process engines need no such lock).
    fn try_lock(&self, name: &Digest, lease: Duration) -> Result<LockAttempt> {
        let _ = (name, lease);
        Ok(LockAttempt::Unsupported)
    }

    /// The engine's natively async operations, if it has any: a server engine
    /// built with async support returns itself, so an async caller awaits the
    /// server on its own task. The default, `None`, tells the caller to run
    /// the sync methods on a blocking pool (what embedded engines want: their
    /// calls take microseconds and block on a disk). A layer wrapping another
    /// engine (the stash's life cycle) returns `Some` only when every step it
    /// adds can run without blocking.
    fn as_async(&self) -> Option<&dyn AsyncEngine> {
        None
    }
}

/// A lock held through [`Engine::try_lock`]: released when dropped (a release
/// that fails leaves it to expire with its lease).
pub trait HeldLock: Send + fmt::Debug {}

/// What [`Engine::try_lock`] found.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockAttempt {
    /// The lock is ours until the guard is dropped.
    Acquired(Box<dyn HeldLock>),
    /// Someone else holds it: try again later.
    Busy,
    /// This engine offers no lock shared beyond the process.
    Unsupported,
}

/// Opens engines of one kind; kept by a stash so it can open sub-stashes.
pub trait EngineFactory: Send + Sync + fmt::Debug + 'static {
    /// The registered name (`"pairtree"`).
    fn name(&self) -> &'static str;

    /// The name used in `Display` (`"Pairtree"` prints `PairtreeHashStash(...)`).
    fn display_name(&self) -> &'static str;

    /// Opens (creating if needed) the engine whose data lives at
    /// [`context.path`](EngineContext::path), in the layout the context asks for.
    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>>;

    /// Whether this engine can keep its entries in the Python library's layout
    /// ([`Layout::Python`]), so that Python hashstash 1.2 reads and writes the same
    /// stash. A stash opened `python_compatible` on an engine that does not is a
    /// `Config` error. Default: no.
    fn python_layout(&self) -> bool {
        false
    }

    /// The settings this factory was made with, where they differ from the
    /// engine's defaults (an options type that is also a factory reports its
    /// own). A stash opened with it records them in its configuration
    /// (`StashConfig::engine_options` in `stash-core`),
    /// so the configuration, saved and reopened, opens the engine alike.
    /// Default: none.
    fn options(&self) -> EngineOptions {
        EngineOptions::new()
    }

    /// Releases what the factory keeps for stashes whose data lies under `dir`: a
    /// temporary stash (`Stash::tmp` in `stash-core`) went away with everything
    /// under it. Most factories keep nothing (the default does nothing); one that keeps
    /// stores by path for the life of the process (the memory engine) drops them here,
    /// or every temporary stash would leak one.
    fn forget_under(&self, dir: &Path) {
        let _ = dir;
    }
}

/// Everything an engine is told when a stash opens it: where its data lives, the
/// name a server keeps it under, which layout to use and the limits to enforce.
/// Nothing of serializers or compressors beyond the one thing a Python layout
/// needs ([`Layout::Python`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineContext {
    /// Where the engine keeps its data (`.../<engine>.<serializer>.<compress>/data.db`).
    pub path: PathBuf,
    /// The stash's identity independent of the machine (see
    /// `StashConfig::logical_name` in `stash-core`): what server
    /// engines name their storage after, so machines configured alike share it.
    pub logical_name: String,
    /// The server address the stash was given (`None`: the engine's environment
    /// variable or default).
    pub url: Option<String>,
    /// The layout to keep entries in.
    pub layout: Layout,
    /// The largest value the stash reads or writes: a stored size above it is
    /// refused before anything that big is allocated.
    pub max_value_bytes: u64,
    /// The digest algorithm naming slots (engines that check a slot's name use it).
    pub digest: DigestAlgo,
    /// The engine's own settings from the configuration, to read with
    /// [`OptionReader`](crate::OptionReader).
    pub options: EngineOptions,
}

impl EngineContext {
    /// A context for the data folder `path`, native layout, default limits and digest,
    /// the path as logical name: what a test or a tool opening an engine by hand needs.
    pub fn new(path: impl Into<PathBuf>) -> EngineContext {
        let path = path.into();
        EngineContext {
            logical_name: path.display().to_string(),
            path,
            url: None,
            layout: Layout::Native,
            max_value_bytes: crate::DEFAULT_MAX_VALUE_BYTES,
            digest: DigestAlgo::default(),
            options: EngineOptions::new(),
        }
    }

    /// The same context with the engine settings `options`.
    pub fn with_options(mut self, options: EngineOptions) -> EngineContext {
        self.options = options;
        self
    }

    /// The same context with the logical name `name`.
    pub fn with_logical_name(mut self, name: impl Into<String>) -> EngineContext {
        self.logical_name = name.into();
        self
    }

    /// The same context with the server address `url`.
    pub fn with_url(mut self, url: Option<String>) -> EngineContext {
        self.url = url;
        self
    }

    /// The same context with the layout `layout`.
    pub fn with_layout(mut self, layout: Layout) -> EngineContext {
        self.layout = layout;
        self
    }

    /// The same context with the value-size limit `bytes`.
    pub fn with_max_value_bytes(mut self, bytes: u64) -> EngineContext {
        self.max_value_bytes = bytes;
        self
    }

    /// The same context with the digest algorithm `digest`.
    pub fn with_digest(mut self, digest: DigestAlgo) -> EngineContext {
        self.digest = digest;
        self
    }
}

/// How an engine lays out its entries.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Layout {
    /// The engine's own layout.
    #[default]
    Native,
    /// The Python library's layout (hashstash 1.2), offered by engines whose factory
    /// says so ([`EngineFactory::python_layout`]). It comes with the stash's byte
    /// encoding, because Python stores some bytes differently (LZ4 keys compressed by
    /// another implementation, values wrapped in a JSON envelope before compression).
    Python(Arc<dyn ByteEncoding>),
}

/// The stash's byte encoding (compression, then optional base64), as a Python
/// layout needs it: the only part of the stash's formats an engine may see.
pub trait ByteEncoding: Send + Sync + fmt::Debug {
    /// `plain` compressed (and base64-encoded) as the stash stores bytes.
    fn encode(&self, plain: &[u8]) -> Result<Vec<u8>>;

    /// The plain bytes of `encoded`, at most the stash's value-size limit.
    fn decode(&self, encoded: &[u8]) -> Result<Vec<u8>>;

    /// The bytes the Python library would store for the encoded key `key`:
    /// `None` when they already are those bytes.
    fn python_key(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Whether [`python_key`](ByteEncoding::python_key) can ever return `Some`.
    fn recompresses_python_keys(&self) -> bool;

    /// A short name for messages (`lz4+b64`).
    fn label(&self) -> String;
}

/// The error an engine returns when the key stored in a slot is not the key asked for.
pub fn key_mismatch(digest: &Digest) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        "the key stored in this slot does not match the requested key (a damaged key file or a digest collision)",
    )
    .with_context("digest", digest)
}
