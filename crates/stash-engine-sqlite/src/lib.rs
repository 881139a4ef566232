//! The `sqlite` engine: one SQLite database file per stash, in WAL mode, safe
//! for many threads and many processes at once.
//!
//! ```
//! use std::sync::Arc;
//! use stash_core::{Stash, StashConfig};
//! use stash_engine_sqlite::Sqlite;
//!
//! let dir = tempfile::tempdir()?;
//! let mut config = StashConfig::default();
//! config.engine = "sqlite".into();
//! config.root_dir = dir.path().into();
//! let stash = Stash::open(config, Arc::new(Sqlite))?;
//! stash.set("cat", &"meow")?;
//! assert_eq!(stash.get::<_, String>("cat")?.as_deref(), Some("meow"));
//! assert_eq!(stash.len()?, 1);
//! assert!(stash.path().ends_with("data.db")); // a file: .../sqlite.hashstash.<compress>/data.db
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # On-disk format
//!
//! The stash's data path (`.../sqlite.<serializer>.<compress>/data.db`) is a
//! SQLite database file (with its `-wal` and `-shm` companions while open).
//! `PRAGMA application_id` is `0x68737374` (`"hsst"`) and `PRAGMA
//! user_version` is the format version, now 2:
//!
//! ```sql
//! -- the newest value of every key: one row per key
//! CREATE TABLE entries(
//!     digest BLOB NOT NULL PRIMARY KEY,   -- the 16-byte key digest (the slot)
//!     key BLOB NOT NULL,                  -- the encoded key
//!     value BLOB NOT NULL,                -- the encoded newest value
//!     written_at INTEGER NOT NULL,        -- its write time, microseconds since the epoch
//!     history INTEGER NOT NULL DEFAULT 0, -- how many older versions `versions` holds
//!     expires_at INTEGER                  -- when the entry expires (µs since the epoch), NULL never
//! ) WITHOUT ROWID;
//! -- finds expired entries without visiting the permanent ones
//! CREATE INDEX entries_expiry ON entries(expires_at) WHERE expires_at IS NOT NULL;
//! -- older versions, only for keys written in append mode: numbered 1..=history
//! CREATE TABLE versions(
//!     digest BLOB NOT NULL, version INTEGER NOT NULL,
//!     written_at INTEGER NOT NULL, value BLOB NOT NULL,
//!     PRIMARY KEY (digest, version)
//! ) WITHOUT ROWID;
//! -- ('count', rows of `entries`) and ('expiring', rows with an `expires_at`,
//! -- expired or not), changed in the same transaction as the rows
//! CREATE TABLE meta(name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
//! ```
//!
//! The newest value of a key is version `history + 1`; replacing or
//! deleting a key drops its rows in `versions`. The newest write of a key
//! sets `expires_at` for the whole entry (NULL without an expiry). A row
//! whose `expires_at` is at or before now stays in the table, hidden from
//! every read (the queries filter on it) except `scan_meta`, until it is
//! deleted or overwritten; appending to it starts a new history.
//!
//! A version-1 file (the same without `expires_at`, its index and the
//! `expiring` row) is migrated in place when opened, in one write
//! transaction: `ALTER TABLE entries ADD COLUMN expires_at INTEGER`, the
//! index, `('expiring', 0)` and `user_version = 2`; earlier builds then
//! refuse it. A database with a newer or unknown format version, another
//! application id or missing tables is refused with a `Config` error,
//! untouched; a file that is not a SQLite database at all gives a `Corrupt`
//! error naming it.
//!
//! # Costs
//!
//! - `put` (replace) is one write transaction: an `INSERT ... ON CONFLICT DO
//!   NOTHING` and a count update for a new key; for an existing one that
//!   missed `INSERT`, then an `UPDATE`; one commit.
//! - `put` in append mode moves the current value into `versions` and
//!   stores the new one, in one transaction.
//! - `put_many` is one transaction, committed once, with one count update;
//!   in replace mode its `INSERT` is prepared once for the whole batch.
//! - Writes from several threads at once share transactions (group commit,
//!   see *Concurrency*).
//! - `get` and `contains` are one primary-key lookup; the stored key is
//!   compared in place before the value is copied out.
//! - `len` is one statement. While no entry has an expiry (`expiring` is 0)
//!   it reads the count row, never scans (`SELECT count(*)` walks every
//!   page of the table). Otherwise it subtracts the expired entries, counted
//!   through the partial index on `expires_at`: O(expired entries), not
//!   O(entries).
//! - Writes keep `expiring` exact without reading the row first: a replace
//!   of an existing key tries an `UPDATE` of a row without expiry, then of
//!   one with.
//! - `scan_meta` pages like `scan`, expired entries included, and reads no
//!   value: `length(value)` reads only a blob's header, and `versions` is
//!   visited only for entries with older versions.
//! - `disk_usage` adds the allocated sizes of the database file and its
//!   `-wal` and `-shm` companions.
//! - `scan` reads pages by digest order, the first of up to 512 records,
//!   each full one doubling the next up to 8192 (and up to 8 MiB each),
//!   each page one short statement: no transaction stays open while the
//!   caller works, so the caller may write during iteration.
//! - Statements are prepared once per connection (`prepare_cached`).
//!
//! # Concurrency
//!
//! Every operation borrows a connection from a small pool (one per thread
//! in use, idle ones kept), so threads never serialize in Rust. Across
//! threads and processes SQLite's WAL locking orders writers; readers never
//! block writers nor the reverse. A busy timeout (30 s by default) makes a
//! writer wait for another instead of failing with `SQLITE_BUSY`, and every
//! multi-statement write starts with `BEGIN IMMEDIATE`, so a transaction
//! never fails upgrading a read lock to a write lock. Write timestamps are
//! taken inside the write transaction, and a version is stamped after the one
//! it replaces or follows even if this process's clock is behind it, so
//! version order and time order agree across processes, and eviction and
//! `prune` (which delete only what was not written after their scan) never
//! remove a later write. A lock still held after the busy timeout is a `Locked`
//! error.
//!
//! Writes of one handle that arrive while another of its writes is in flight
//! join the next transaction instead of each waiting for SQLite's write lock
//! (its busy handler sleeps in steps of milliseconds) and each committing
//! (`stash_engine_api::group_commit`): one thread becomes the leader and runs
//! the waiting writes in one `BEGIN IMMEDIATE` transaction, each under a
//! savepoint, so a write that fails is rolled back alone and reported to its
//! own caller. Every call returns after the transaction holding its write
//! committed, at the configured synchronous level. WAL needs shared memory: keep the file on a local filesystem.
//!
//! # Durability
//!
//! By default `synchronous=NORMAL`: each commit is atomic and survives a
//! crash of the process; an operating-system crash or power loss may roll
//! back the last commits but never damages the file. `flush()` checkpoints
//! the WAL into the database, syncing both. [`SqliteOptions::durable`]
//! selects `synchronous=FULL`, which syncs the WAL at every commit.
#![deny(missing_docs)]

mod error;
mod group;
mod pool;
mod scan;
mod schema;
mod write;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};
use stash_engine_api::clock::now_micros;
use stash_engine_api::engine::key_mismatch;
use stash_engine_api::group_commit::{GroupStats, WriteOp, WriteQueue};
use stash_engine_api::{
    Capabilities, Digest, Engine, EngineContext, EngineFactory, EngineOptions, Error, LockAttempt, MetaIter,
    OptionReader, OptionWriter, Put, RecordCursor, RecordIter, Result, Version, WriteOptions,
};

use error::corrupt;
use pool::Pool;
use scan::{Metas, Records, Scan};
use write::Delta;

pub use schema::{APPLICATION_ID, FORMAT_VERSION};

/// Opens SQLite engines with the default options: the factory to hand to `Stash::open`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sqlite;

impl EngineFactory for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn display_name(&self) -> &'static str {
        "Sqlite"
    }

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        SqliteOptions::default().open(context)
    }
}

/// SQLite settings; also a factory, for stashes that want them.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use stash_core::{Stash, StashConfig};
/// use stash_engine_sqlite::SqliteOptions;
///
/// let dir = tempfile::tempdir()?;
/// let mut config = StashConfig::default();
/// config.engine = "sqlite".into();
/// config.root_dir = dir.path().into();
/// let options = SqliteOptions::new().durable(true).busy_timeout(Duration::from_secs(5));
/// let stash = Stash::open(config, Arc::new(options))?;
/// stash.set("durable", &1)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    busy_timeout: Duration,
    durable: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { busy_timeout: Duration::from_secs(30), durable: false }
    }
}

impl SqliteOptions {
    /// The defaults: a 30 s busy timeout, `synchronous=NORMAL`.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long an operation waits for another connection's lock before
    /// failing with a `Locked` error (30 s by default).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sync the WAL at every commit (`synchronous=FULL`) so a commit survives
    /// power loss; off by default (`synchronous=NORMAL`).
    pub fn durable(mut self, on: bool) -> Self {
        self.durable = on;
        self
    }

    /// These options with the settings of `options` over them: `busy_timeout_ms`
    /// and `durable` (`true`, `false`). An unknown name or a bad value is a
    /// `Config` error.
    pub fn with_options(self, options: &EngineOptions) -> Result<SqliteOptions> {
        let mut read = OptionReader::new("sqlite", options);
        let busy_timeout = read.millis("busy_timeout_ms")?.unwrap_or(self.busy_timeout);
        let durable = read.get("durable")?.unwrap_or(self.durable);
        read.finish()?;
        Ok(SqliteOptions { busy_timeout, durable })
    }
}

impl EngineFactory for SqliteOptions {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn display_name(&self) -> &'static str {
        "Sqlite"
    }

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        Ok(Arc::new(SqliteEngine::open(&context.path, self.with_options(&context.options)?)?))
    }

    fn options(&self) -> EngineOptions {
        let defaults = SqliteOptions::default();
        OptionWriter::new()
            .millis("busy_timeout_ms", self.busy_timeout, defaults.busy_timeout)
            .set("durable", self.durable, defaults.durable)
            .finish()
    }
}

/// A stash stored in one SQLite database file.
#[derive(Debug)]
pub struct SqliteEngine {
    pool: Arc<Pool>,
    /// Writes waiting for the next transaction (group commit).
    queue: WriteQueue,
}

impl SqliteEngine {
    /// Opens (creating it and its parent folders if needed) the database file
    /// at `path` and checks its format.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<SqliteEngine> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(e, "create the stash folder", parent))?;
        }
        if path.is_dir() {
            return Err(Error::io(
                std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
                "open the SQLite database",
                path,
            ));
        }
        let pool = Arc::new(Pool::new(path, options));
        let mut conn = pool.get()?;
        schema::prepare(&pool, &mut conn)?;
        drop(conn);
        Ok(SqliteEngine { pool, queue: WriteQueue::new() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.pool.path()
    }

    /// `<stash folder>/.locks`, beside the database file: the lock files of
    /// [`Engine::try_lock`].
    fn locks_dir(&self) -> PathBuf {
        let path = self.path();
        path.parent().unwrap_or(path).join(stash_engine_api::LOCKS_NAME)
    }

    /// The counters of this handle's group commit: transactions run and
    /// writes submitted. Writes that arrive while another is in flight join
    /// the next transaction, so under contention there are fewer
    /// transactions than writes.
    #[doc(hidden)]
    pub fn group_stats(&self) -> GroupStats {
        self.queue.stats()
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, applies the counter
    /// changes it adds to the [`Delta`] and commits; rolls back on error.
    fn write<T>(&self, action: &str, f: impl FnOnce(&Connection, &mut Delta) -> Result<T>) -> Result<T> {
        let conn = self.pool.get()?;
        // Cached statements rather than `Transaction`, which parses BEGIN and
        // COMMIT on every call: this is the per-write overhead that matters.
        let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
        run("BEGIN IMMEDIATE").map_err(|e| self.pool.error(e, action))?;
        let mut delta = Delta::default();
        let out = f(&conn, &mut delta)?; // on error the pooled connection rolls back when dropped
        write::bump_counts(&self.pool, &conn, delta)?;
        run("COMMIT").map_err(|e| self.pool.error(e, action))?;
        Ok(out)
    }
}

/// The bytes a file takes on disk: its allocated blocks where the system
/// reports them, else its length.
fn allocated(meta: &fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.blocks() * 512
    }
    #[cfg(not(unix))]
    {
        meta.len()
    }
}

/// The blob in column `i`, or a `Corrupt` error.
fn blob<'r>(row: &'r rusqlite::Row<'_>, i: usize, what: &str, path: &Path) -> Result<&'r [u8]> {
    match row.get_ref(i) {
        Ok(v) => v.as_blob().map_err(|_| corrupt(format!("{what} is not a blob"), path)),
        Err(e) => Err(error::sql_error(e, "read an entry", path)),
    }
}

impl Engine for SqliteEngine {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_persistence().with_multi_process().with_cheap_len()
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let conn = self.pool.get()?;
        let err = |e| self.pool.error(e, "read an entry");
        let mut stmt = conn
            .prepare_cached(
                "SELECT key, value FROM entries WHERE digest = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
            )
            .map_err(err)?;
        let mut rows = stmt.query(params![&digest.0[..], now_micros()]).map_err(err)?;
        let Some(row) = rows.next().map_err(err)? else { return Ok(None) };
        if blob(row, 0, "an entry's key", self.path())? != key {
            return Err(key_mismatch(digest).with_context("file", self.path().display()));
        }
        Ok(Some(blob(row, 1, "an entry's value", self.path())?.to_vec()))
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        self.submit(WriteOp::put(digest, key, value, options)).map(|_| ())
    }

    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.submit(WriteOp::put_many(items, options)).map(|_| ())
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        self.submit(WriteOp::delete(digest, key))
    }

    /// One conditional `DELETE` (`written_at <= seen`) in a `BEGIN IMMEDIATE`
    /// transaction: a write after the scan, from any thread or process, keeps
    /// the entry.
    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        self.submit(WriteOp::delete_unless_rewritten(digest, key, seen_written_at_micros))
    }

    /// One `BEGIN IMMEDIATE` transaction (see `write::insert_if_absent`): of
    /// many callers racing on a missing key, from any thread or process,
    /// exactly one stores.
    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        self.submit(WriteOp::put_if_absent(digest, key, value, options))
    }

    /// A lock file in `<stash folder>/.locks`, shared by every process on this
    /// machine; `lease` is not needed: the kernel releases the lock of a
    /// process that dies.
    fn try_lock(&self, name: &Digest, _lease: Duration) -> Result<LockAttempt> {
        stash_engine_api::locks::try_lock_file(&self.locks_dir(), name)
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        match write::slot_holds(&self.pool, &*self.pool.get()?, digest, key, Some(now_micros()))? {
            None => Ok(false),
            Some(true) => Ok(true),
            Some(false) => Err(key_mismatch(digest).with_context("file", self.path().display())),
        }
    }

    fn len(&self) -> Result<usize> {
        let conn = self.pool.get()?;
        // One statement, so one snapshot: the kept count, less the expired
        // entries, found through the partial index on `expires_at` and only
        // looked for while some entry has an expiry (`CASE` is lazy).
        let count: i64 = conn
            .prepare_cached(
                "SELECT c.value - CASE WHEN x.value > 0 THEN
                     (SELECT count(*) FROM entries WHERE expires_at <= ?1)
                 ELSE 0 END
                 FROM meta c, meta x WHERE c.name = 'count' AND x.name = 'expiring'",
            )
            .and_then(|mut s| s.query_row([now_micros()], |r| r.get(0)))
            .map_err(|e| self.pool.error(e, "read the entry count"))?;
        usize::try_from(count).map_err(|_| corrupt(format!("the entry count is {count}"), self.path()))
    }

    fn clear(&self) -> Result<()> {
        self.write("clear the stash", |tx, _| {
            tx.execute_batch(
                "DELETE FROM versions; DELETE FROM entries;
                 UPDATE meta SET value = 0 WHERE name IN ('count', 'expiring');",
            )
            .map_err(|e| self.pool.error(e, "clear the stash"))
        })
    }

    fn scan(&self) -> Result<RecordIter> {
        Ok(Box::new(Scan::new(self.pool.clone(), Records { with_values: true, now: now_micros() })))
    }

    fn scan_lent(&self) -> Result<Box<dyn RecordCursor>> {
        Ok(Box::new(Scan::new(self.pool.clone(), Records { with_values: true, now: now_micros() })))
    }

    fn scan_keys(&self) -> Result<RecordIter> {
        Ok(Box::new(Scan::new(self.pool.clone(), Records { with_values: false, now: now_micros() })))
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        Ok(Box::new(Scan::new(self.pool.clone(), Metas)))
    }

    fn disk_usage(&self) -> Result<Option<u64>> {
        let mut total = 0;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.path().as_os_str().to_owned();
            name.push(suffix);
            let file = Path::new(&name);
            match fs::metadata(file) {
                Ok(meta) => total += allocated(&meta),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(e, "measure the database files", file)),
            }
        }
        Ok(Some(total))
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let mut conn = self.pool.get()?;
        let err = |e| self.pool.error(e, "read the versions of an entry");
        // One read transaction: the entry and its history from one snapshot.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(err)?;
        let newest = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT key, history, written_at, value FROM entries
                     WHERE digest = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                )
                .map_err(err)?;
            let mut rows = stmt.query(params![&digest.0[..], now_micros()]).map_err(err)?;
            let Some(row) = rows.next().map_err(err)? else { return Ok(None) };
            if blob(row, 0, "an entry's key", self.path())? != key {
                return Err(key_mismatch(digest).with_context("file", self.path().display()));
            }
            let history: i64 = row.get(1).map_err(err)?;
            let at: i64 = row.get(2).map_err(err)?;
            (history, at, blob(row, 3, "an entry's value", self.path())?.to_vec())
        };
        let (history, at, value) = newest;
        let mut out = Vec::new();
        if history > 0 {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT version, written_at, value FROM versions WHERE digest = ?1 ORDER BY version",
                )
                .map_err(err)?;
            let mut rows = stmt.query([&digest.0[..]]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let number: i64 = row.get(0).map_err(err)?;
                let written_at_micros: i64 = row.get(1).map_err(err)?;
                let value = blob(row, 2, "a version's value", self.path())?.to_vec();
                if number != out.len() as i64 + 1 {
                    return Err(corrupt(format!("version {number} out of sequence"), self.path())
                        .with_context("digest", digest));
                }
                out.push(Version { number: number as u64, written_at_micros, value });
            }
        }
        if out.len() as i64 != history {
            return Err(corrupt(
                format!("the entry records {history} older versions but {} are stored", out.len()),
                self.path(),
            )
            .with_context("digest", digest));
        }
        out.push(Version { number: history as u64 + 1, written_at_micros: at, value });
        tx.commit().map_err(err)?;
        Ok(Some(out))
    }

    fn flush(&self) -> Result<()> {
        let conn = self.pool.get()?;
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| self.pool.error(e, "checkpoint the WAL"))
    }
}
