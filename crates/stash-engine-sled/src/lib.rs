//! The `sled` engine: each stash is one embedded [sled](https://docs.rs/sled/0.34)
//! 0.34 database, whose directory is the stash's `data.db`.
//!
//! ```
//! use std::sync::Arc;
//! use stash_core::{Stash, StashConfig, WriteOptions};
//! use stash_engine_sled::Sled;
//!
//! let dir = tempfile::tempdir()?;
//! let mut config = StashConfig::default();
//! config.engine = "sled".into();
//! config.root_dir = dir.path().into();
//! let stash = Stash::open(config.clone(), Arc::new(Sled))?;
//! stash.set("cat", &"meow")?;
//! stash.set_with("cat", &"purr", WriteOptions::APPEND)?;
//! // A second handle in this process shares the same open database.
//! let again = Stash::open(config, Arc::new(Sled))?;
//! assert_eq!(again.get_all::<_, String>("cat")?, ["meow", "purr"]);
//! assert_eq!(again.len()?, 1);
//! assert!(stash.path().ends_with("sled.hashstash.lz4/data.db") || stash.path().ends_with("sled.hashstash.raw/data.db"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # On-disk format
//!
//! `data.db/` is sled's own directory (`conf`, `db`, `blobs/`, snapshots).
//! Inside it:
//!
//! - sled's default tree maps each entry's 16-byte key digest to one record:
//!
//!   ```text
//!   u8       format tag: 1 (no expiry) or 2 (with an expiry)
//!   i64 LE   tag 2 only: expires at, microseconds since the epoch
//!   u32 LE   key length, then the encoded key
//!   then every kept version NEWEST FIRST:
//!     i64 LE written at, microseconds since the epoch
//!     u32 LE value length, then the encoded value
//!   ```
//!
//!   A replacing write stores one version; an append rewrites the record
//!   with the new version in front. Either is stamped after the newest
//!   version it replaces or follows, even if the clock is behind it. The newest write decides the tag and
//!   the expiry of the whole record; a permanent entry keeps the tag-1
//!   layout of the first format. An entry whose expiry is at or before now
//!   stays stored, hidden from every read except `scan_meta`, until it is
//!   deleted or overwritten; appending to it starts a new history.
//! - the tree `hashstash.meta` holds `format` (a database without it that
//!   holds data is refused as not a stash; an unknown one is refused too):
//!   `hashstash-sled/1` while every record has tag 1 (new databases start
//!   so, and earlier builds still open them), `hashstash-sled/2` once a
//!   record with an expiry may exist (written, and flushed, before the
//!   first one; earlier builds then refuse the database). Only between a
//!   clean close and the next open it also holds `count`, the number of
//!   records, and `expiring`, the number of records with tag 2 (expired or
//!   not), each a `u64` LE.
//!
//! # Concurrency
//!
//! sled locks its directory: **one process at a time**. A second process
//! gets an error of kind [`ErrorKind::Locked`](stash_engine_api::ErrorKind::Locked)
//! naming the lock file `data.db/db`, at once, without waiting. Within a
//! process, every handle on one path shares one open database (a registry
//! of weak references keyed by the canonical path); when the last handle
//! and iterator are gone the database is flushed and closed, and the close
//! waits (up to 5 s) until sled has really released its file lock, so the
//! stash can be reopened at once by this process or handed to another.
//!
//! Threads write without a lock of ours: each write reads the record and
//! replaces it with a compare-and-swap, retrying if another writer got in
//! between, so key checks, append lists and the key count stay exact.
//! [`put_many`](stash_engine_api::Engine::put_many) is one sled transaction:
//! checked, atomic, retried by sled on conflict. Iteration takes no lock
//! between items, so writing while iterating is fine (entries written
//! meanwhile may or may not be seen).
//!
//! # Durability
//!
//! sled writes its log in the background every 500 ms;
//! `Stash::flush` forces it to disk (`Db::flush`), and
//! closing (dropping the last handle) flushes too. A crash may lose the
//! writes of the last half second, never tear a record.
//!
//! # A full disk
//!
//! sled 0.34 does not recover from a failed write of its files in the
//! process that met it. Once its log cannot be written (`ENOSPC`), it keeps
//! that error and fails every later call, reads and iteration included (an
//! `Io` error naming the folder; a scan yields it once and ends); after
//! other failures its log buffer waits for a write that never comes, and a
//! flush (also the one of a close) never finishes: `flush` gives
//! up after 10 s with an `Io` error, and the database then stays open until
//! the process ends (closing it would flush). Writes acknowledged since the
//! last flush are lost; what was flushed survives. Freeing space does not
//! help that process: reopen the stash in a new one.
//!
//! # Costs
//!
//! `get` is one B-tree lookup and one copy of the value. Two exact counters
//! are kept in memory (saved at close; after a crash the next open counts
//! both in one pass, O(n)): records, and records with an expiry. While the
//! second is 0, `len` reads the first, O(1); while some entry has an
//! expiry, `len` walks every record and reads only its first nine bytes
//! (tag and expiry, no value copied), O(n), until those entries are deleted
//! or overwritten without expiry. A write is a lookup plus a
//! compare-and-swap; an append copies the older versions. `clear` deletes
//! the entries one by one. `scan_meta` walks the records reading version
//! headers, copying keys only; `disk_usage` walks the folder adding each
//! file's allocated blocks.
//!
//! # Damaged files
//!
//! Open fails with the path, never panics: sled's errors become
//! `Corrupt`/`Io`/`Backend`/`Locked`; a junk `conf` is `Corrupt`; a panic
//! of sled while opening is caught and reported as `Corrupt`; an existing
//! database in which sled finds nothing (a junk or emptied log file) is
//! `Corrupt`, not taken for a new stash; a sled database without the
//! format marker is refused. A log damaged in its middle is read by sled
//! as the torn tail of a crash: it keeps the entries written before the
//! damage (and the count is recounted). A record that does not parse is a
//! `Corrupt` error naming its digest; iteration reports it and goes on.
#![deny(missing_docs)]

mod error;
#[doc(hidden)]
pub mod fuzzing;
mod record;
mod registry;
mod scan;
mod store;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stash_engine_api::{
    Capabilities, Digest, Engine, EngineContext, EngineFactory, Error, LockAttempt, MetaIter, Put,
    RecordIter, Result, Version, WriteOptions,
};

use scan::{MetaScan, Scan};
use store::Store;

/// Opens sled engines: the factory to hand to `Stash::open`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sled;

impl EngineFactory for Sled {
    fn name(&self) -> &'static str {
        "sled"
    }

    fn display_name(&self) -> &'static str {
        "Sled"
    }

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        Ok(Arc::new(SledEngine::open(&context.path)?))
    }
}

/// A handle on the sled database of one stash; handles on one path share it.
#[derive(Debug, Clone)]
pub struct SledEngine {
    store: Arc<Store>,
}

impl SledEngine {
    /// Opens (creating if needed) the database in the directory `dir`, or
    /// joins the one this process already has open there.
    pub fn open(dir: &Path) -> Result<SledEngine> {
        fs::create_dir_all(dir).map_err(|e| Error::io(e, "create the database folder", dir))?;
        let dir = fs::canonicalize(dir).map_err(|e| Error::io(e, "resolve the database folder", dir))?;
        Ok(SledEngine { store: registry::open(&dir)? })
    }

    /// The database directory (canonical).
    pub fn path(&self) -> &Path {
        self.store.dir()
    }

    /// Whether `other` shares this handle's open database.
    pub fn shares_database_with(&self, other: &SledEngine) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

impl Engine for SledEngine {
    fn name(&self) -> &'static str {
        "sled"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_persistence().with_cheap_len()
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store.get(digest, key)
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        self.store.put(digest, key, value, options)
    }

    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        self.store.put_many(items, options)
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        self.store.delete(digest, key)
    }

    /// A compare-and-swap against the record whose stamp was checked: a write
    /// in between keeps the entry.
    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        self.store.delete_unless_rewritten(digest, key, seen_written_at_micros)
    }

    /// A compare-and-swap against the absent or expired record it checked: a
    /// write in between makes it check again, so exactly one racer stores.
    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        self.store.put_if_absent(digest, key, value, options)
    }

    /// A lock file in `<stash folder>/.locks`, beside `data.db/`; sled lets one
    /// process at a time open the stash, so it is shared by the handles of
    /// that process (and kept by a process that only holds locks).
    fn try_lock(&self, name: &Digest, _lease: Duration) -> Result<LockAttempt> {
        let dir = self.path();
        stash_engine_api::locks::try_lock_file(
            &dir.parent().unwrap_or(dir).join(stash_engine_api::LOCKS_NAME),
            name,
        )
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        self.store.contains(digest, key)
    }

    fn len(&self) -> Result<usize> {
        self.store.len()
    }

    fn clear(&self) -> Result<()> {
        self.store.clear()
    }

    fn scan(&self) -> Result<RecordIter> {
        Ok(Box::new(Scan::new(self.store.clone(), false)))
    }

    fn scan_keys(&self) -> Result<RecordIter> {
        Ok(Box::new(Scan::new(self.store.clone(), true)))
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        self.store.versions(digest, key)
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        Ok(Box::new(MetaScan::new(self.store.clone())))
    }

    fn disk_usage(&self) -> Result<Option<u64>> {
        self.store.disk_usage().map(Some)
    }

    fn flush(&self) -> Result<()> {
        self.store.flush()
    }
}
