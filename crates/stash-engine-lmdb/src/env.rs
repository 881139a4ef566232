//! One open LMDB environment and the transactions run on it, with the map
//! grown (or re-read after another process grew it) and the transaction
//! retried, so callers never see `MDB_MAP_FULL` or `MDB_MAP_RESIZED`.
//!
//! Resizing the map is only sound while this process has no transaction
//! open on the environment. Every transaction therefore runs under a shared
//! guard of `txns`; a resize takes it exclusively. Transactions never wait
//! on the guard while holding another transaction, so this cannot deadlock.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, RoTxn, RwTxn};
use stash_engine_api::{Error, ErrorKind, Result};

use crate::error::{Fail, heed_error, is_map_full, is_map_resized, to_error};
use crate::options::{Durability, LmdbOptions};

/// The unnamed database of an environment, with raw byte keys and values.
pub(crate) type Db = Database<'static, Bytes, Bytes>;

/// Map sizes are kept a multiple of this (a multiple of every page size in use).
const GRANULE: usize = 64 << 10;

/// Reader slots (one per thread that reads, across all processes).
const MAX_READERS: u32 = 1022;

/// How many times one operation may be retried after growing or re-reading the map.
const MAX_RETRIES: usize = 64;

/// An open environment, its main database and the resize guard.
pub(crate) struct LmdbEnv {
    env: Env,
    db: Db,
    /// `.../data.db/data.mdb`, named in errors.
    file: PathBuf,
    durability: Durability,
    max_map_size: usize,
    /// Shared by every transaction of this process; exclusive while resizing.
    txns: RwLock<()>,
    /// Whether this process knows the expiry marker file exists.
    pub(crate) expiring_known: AtomicBool,
    /// Writes waiting for the next commit (group commit).
    pub(crate) group: crate::group::Queue,
}

impl fmt::Debug for LmdbEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LmdbEnv")
            .field("file", &self.file)
            .field("durability", &self.durability)
            .field("map_size", &self.map_size())
            .finish_non_exhaustive()
    }
}

fn round_up(bytes: usize) -> usize {
    bytes.max(GRANULE).div_ceil(GRANULE).saturating_mul(GRANULE)
}

impl LmdbEnv {
    /// Opens the environment in the existing folder `dir`. The caller makes
    /// sure no other handle of this process has it open.
    pub fn open(dir: &Path, options: &LmdbOptions) -> Result<LmdbEnv> {
        let file = dir.join("data.mdb");
        // Before LMDB maps the file: a page past its end would crash the process.
        crate::check::data_file_size(&file)?;
        let max_map_size = round_up(options.max_map_size);
        let mut builder = EnvOpenOptions::new();
        builder.map_size(round_up(options.map_size).min(max_map_size)).max_readers(MAX_READERS);
        if options.durability == Durability::Relaxed {
            // SAFETY: NO_SYNC / NO_META_SYNC only weaken durability against an
            // OS crash (documented on `Durability::Relaxed`); they cannot
            // cause undefined behaviour in this process.
            unsafe {
                builder.flags(EnvFlags::NO_SYNC | EnvFlags::NO_META_SYNC);
            }
        }
        // SAFETY: the process-wide registry (`crate::registry`) opens each
        // path at most once per process, and the files are only modified
        // through LMDB (whose lock file coordinates the other processes).
        let env =
            unsafe { builder.open(dir) }.map_err(|e| heed_error(e, "open the LMDB environment", &file))?;
        // Reader slots left by crashed processes pin old pages (the file
        // would keep growing): free them. Best effort: a failure only means
        // they are freed later.
        let _ = env.clear_stale_readers();
        let db =
            Self::main_database(&env).map_err(|e| heed_error(e, "open the LMDB main database", &file))?;
        let Some(db) = db else {
            return Err(Error::new(ErrorKind::Corrupt, "the LMDB environment has no main database")
                .with_context("file", file.display()));
        };
        Ok(LmdbEnv {
            env,
            db,
            file,
            durability: options.durability,
            max_map_size,
            txns: RwLock::new(()),
            expiring_known: AtomicBool::new(false),
            group: crate::group::Queue::new(),
        })
    }

    fn main_database(env: &Env) -> heed::Result<Option<Db>> {
        let rtxn = env.read_txn()?;
        let opened = env.open_databases_and_commit(rtxn, |opener, rtxn| {
            opener.open_database::<Bytes, Bytes>(rtxn, None).map(CommitOrAbort::<_, ()>::Commit)
        })?;
        Ok(opened.commit().flatten())
    }

    /// The data file, for error context.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// `.../data.db/expiring`: present once any entry was written with an
    /// expiry (by any process), until the stash is cleared. While it is absent,
    /// `len` is the database's entry count; while present, a header scan.
    pub fn expiring_marker(&self) -> PathBuf {
        self.file.with_file_name("expiring")
    }

    /// The durability the environment was opened with.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The current size of the memory map, in bytes.
    pub fn map_size(&self) -> usize {
        self.env.info().map_size
    }

    fn shared(&self) -> RwLockReadGuard<'_, ()> {
        // The guard protects no data: a panic elsewhere leaves nothing to repair.
        self.txns.read().unwrap_or_else(|e| e.into_inner())
    }

    fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.txns.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `body` in a read transaction (retried if another process grew the map).
    pub fn read<R>(
        &self,
        action: &str,
        mut body: impl FnMut(&RoTxn<'_>, Db) -> Result<R, Fail>,
    ) -> Result<R> {
        for attempt in 0..MAX_RETRIES {
            if attempt > 0 {
                stash_engine_api::observe::retry("lmdb", "read after the map grew", None, attempt);
            }
            let result = {
                let _guard = self.shared();
                self.env.read_txn().map_err(Fail::from).and_then(|rtxn| body(&rtxn, self.db))
            };
            match result {
                Err(fail) if is_map_resized(&fail) => self.adopt_map_size(action)?,
                other => return other.map_err(|fail| to_error(fail, action, &self.file)),
            }
        }
        Err(self.retries_exhausted(action))
    }

    /// Runs `body` in a write transaction and commits it. When the map is
    /// full, grows it and runs `body` again in a new transaction.
    pub fn write<R>(
        &self,
        action: &str,
        mut body: impl FnMut(&mut RwTxn<'_>, Db) -> Result<R, Fail>,
    ) -> Result<R> {
        for attempt in 0..MAX_RETRIES {
            if attempt > 0 {
                stash_engine_api::observe::retry("lmdb", "write after the map grew", None, attempt);
            }
            let (result, seen) = {
                let _guard = self.shared();
                let seen = self.map_size();
                let result = (|| {
                    let mut wtxn = self.env.write_txn()?;
                    let out = body(&mut wtxn, self.db)?;
                    wtxn.commit()?;
                    Ok(out)
                })();
                (result, seen)
            };
            match result {
                Err(fail) if is_map_full(&fail) => self.grow(seen, action)?,
                Err(fail) if is_map_resized(&fail) => self.adopt_map_size(action)?,
                other => return other.map_err(|fail| to_error(fail, action, &self.file)),
            }
        }
        Err(self.retries_exhausted(action))
    }

    /// Doubles the map (up to the limit) unless someone already grew it past `seen`.
    fn grow(&self, seen: usize, action: &str) -> Result<()> {
        let _guard = self.exclusive();
        let now = self.map_size();
        if now > seen {
            return Ok(());
        }
        if now >= self.max_map_size {
            return Err(Error::new(
                ErrorKind::Backend,
                format!(
                    "cannot {action}: the LMDB map is full at its size limit of {} bytes \
                     (raise LmdbOptions::max_map_size)",
                    self.max_map_size
                ),
            )
            .with_context("file", self.file.display()));
        }
        let new = now.saturating_mul(2).min(self.max_map_size);
        // SAFETY: `_guard` is exclusive: no transaction of this process is open.
        unsafe { self.env.resize(new) }
            .map_err(|e| heed_error(e, &format!("grow the LMDB map to {new} bytes"), &self.file))
    }

    /// Takes the map size another process set (after `MDB_MAP_RESIZED`).
    fn adopt_map_size(&self, action: &str) -> Result<()> {
        let _guard = self.exclusive();
        // SAFETY: `_guard` is exclusive: no transaction of this process is open.
        unsafe { self.env.resize(0) }.map_err(|e| {
            heed_error(e, &format!("{action}: adopt the LMDB map size set by another process"), &self.file)
        })
    }

    fn retries_exhausted(&self, action: &str) -> Error {
        Error::new(ErrorKind::Backend, format!("cannot {action}: the LMDB map kept changing size"))
            .with_context("file", self.file.display())
    }

    /// Flushes written pages to disk (`mdb_env_sync` with force).
    pub fn sync(&self) -> Result<()> {
        let _guard = self.shared();
        self.env.force_sync().map_err(|e| heed_error(e, "sync the LMDB environment", &self.file))
    }
}
