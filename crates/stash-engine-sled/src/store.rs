//! One open sled database: the records, the key count, flush and close.

use std::fmt;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use sled::IVec;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use stash_core::clock::unique_micros;
use stash_core::engine::key_mismatch;
use stash_core::{Digest, Error, ErrorKind, Put, Result, Version, WriteOptions};

use crate::error::{damaged, lock_file, open_panic, sled_error, too_long};
use crate::record::{self, View};
use crate::registry::{Closer, wait_for_release};

/// The tree holding the format marker and, between sessions, the key count.
const META_TREE: &[u8] = b"hashstash.meta";
/// Meta key: which layout the records use.
const FORMAT_KEY: &[u8] = b"format";
/// The only layout so far.
const FORMAT: &[u8] = b"hashstash-sled/1";
/// Meta key: the key count, present only after a clean close.
const COUNT_KEY: &[u8] = b"count";

/// An open database. Records live in sled's default tree, keyed by the
/// 16-byte digest. Dropped when the last handle goes: flushes, saves the
/// count and closes.
pub(crate) struct Store {
    db: sled::Db,
    meta: sled::Tree,
    dir: PathBuf,
    /// Exact number of records: every write changes a record with a
    /// compare-and-swap (or a transaction) and so knows whether it created
    /// or removed one.
    count: AtomicI64,
    /// Last: runs after `db` and `meta` are dropped.
    _closer: Closer,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).field("count", &self.count).finish_non_exhaustive()
    }
}

/// The tree and meta tree of a freshly opened database, before it is checked.
fn open_sled(dir: &Path) -> Result<(sled::Db, sled::Tree)> {
    let opened = catch_unwind(AssertUnwindSafe(|| sled::Config::new().path(dir).open()));
    let db = match opened {
        Ok(Ok(db)) => db,
        // With the default settings we always use, sled says "unsupported"
        // only about files it cannot read: a junk `conf`, another version.
        Ok(Err(sled::Error::Unsupported(why))) => {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "cannot open the sled database: its files are damaged or from another sled version: {why}"
                ),
            )
            .with_context("file", dir.display()));
        }
        Ok(Err(e)) => return Err(sled_error(e, "open the sled database", dir)),
        Err(payload) => return Err(open_panic(payload, dir)),
    };
    let meta = catch_unwind(AssertUnwindSafe(|| db.open_tree(META_TREE)))
        .map_err(|payload| open_panic(payload, dir))?
        .map_err(|e| sled_error(e, "open the meta tree", dir))?;
    Ok((db, meta))
}

/// Checks the format marker (writing it into a new database) and finds the
/// key count: the saved one after a clean close, else by counting.
///
/// `existed` says whether sled's files were there before this open: sled
/// reads a damaged log as an empty database, which must not pass for a new one.
fn check_and_count(db: &sled::Db, meta: &sled::Tree, dir: &Path, existed: bool) -> Result<i64> {
    let err = |e| sled_error(e, "read the sled database", dir);
    match meta.get(FORMAT_KEY).map_err(err)? {
        Some(format) if format == FORMAT => {}
        Some(format) => {
            return Err(Error::new(ErrorKind::Corrupt, "this sled database has an unknown record format")
                .with_context("format", String::from_utf8_lossy(&format))
                .with_context("file", dir.display()));
        }
        None if !existed && db.is_empty() => {
            meta.insert(FORMAT_KEY, FORMAT).map_err(err)?;
            db.flush().map_err(|e| sled_error(e, "flush the sled database", dir))?;
        }
        None if db.is_empty() => {
            return Err(Error::new(
                ErrorKind::Corrupt,
                "sled finds nothing in this existing database: its log file is damaged \
                 (remove the folder to start a new stash)",
            )
            .with_context("file", lock_file(dir).display()));
        }
        None => {
            return Err(Error::new(
                ErrorKind::Corrupt,
                "this sled database holds data but no hashstash format marker: not a stash",
            )
            .with_context("file", dir.display()));
        }
    }
    // Take the saved count away before any write, durably: if this session
    // crashes, the next open counts again instead of trusting a stale number.
    match meta.remove(COUNT_KEY).map_err(err)? {
        Some(saved) if saved.len() == 8 => {
            db.flush().map_err(|e| sled_error(e, "flush the sled database", dir))?;
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&saved);
            Ok(i64::from_le_bytes(bytes))
        }
        _ => {
            let mut n = 0;
            for key in db.iter().keys() {
                key.map_err(err)?;
                n += 1;
            }
            Ok(n)
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database in `dir`, registered as `id`.
    pub(crate) fn open(dir: &Path, id: u64) -> Result<Store> {
        let existed = dir.join("conf").exists() || fs::metadata(lock_file(dir)).is_ok_and(|m| m.len() > 0);
        let (db, meta) = open_sled(dir)?;
        match check_and_count(&db, &meta, dir, existed) {
            Ok(count) => Ok(Store {
                db,
                meta,
                dir: dir.to_path_buf(),
                count: AtomicI64::new(count),
                _closer: Closer::new(dir, id),
            }),
            Err(e) => {
                drop((meta, db));
                wait_for_release(dir);
                Err(e)
            }
        }
    }

    /// The database directory (`.../data.db`).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn sled_err<'a>(&'a self, action: &'a str) -> impl Fn(sled::Error) -> Error + 'a {
        move |e| sled_error(e, action, &self.dir)
    }

    /// Parses a stored record and checks that it holds `key`.
    fn checked<'a>(&self, digest: &Digest, bytes: &'a [u8], key: &[u8]) -> Result<View<'a>> {
        let view = View::parse(bytes).map_err(|why| damaged(why, digest, &self.dir))?;
        if view.key != key {
            return Err(key_mismatch(digest).with_context("file", self.dir.display()));
        }
        Ok(view)
    }

    /// Parses a record for `scan`.
    pub(crate) fn parse<'a>(&self, digest: &Digest, bytes: &'a [u8]) -> Result<View<'a>> {
        View::parse(bytes).map_err(|why| damaged(why, digest, &self.dir))
    }

    /// The newest version of a parsed record, for `scan`.
    pub(crate) fn parse_newest<'a>(&self, digest: &Digest, view: &View<'a>) -> Result<(i64, &'a [u8])> {
        view.newest().map_err(|why| damaged(why, digest, &self.dir))
    }

    /// The stored record for `key` (checked), or `None`.
    fn record(&self, digest: &Digest, key: &[u8]) -> Result<Option<IVec>> {
        let found = self.db.get(digest.as_bytes()).map_err(self.sled_err("read a record"))?;
        if let Some(bytes) = &found {
            self.checked(digest, bytes, key)?;
        }
        Ok(found)
    }

    pub(crate) fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(bytes) = self.db.get(digest.as_bytes()).map_err(self.sled_err("read a record"))? else {
            return Ok(None);
        };
        let view = self.checked(digest, &bytes, key)?;
        let (_, value) = view.newest().map_err(|why| damaged(why, digest, &self.dir))?;
        Ok(Some(value.to_vec()))
    }

    pub(crate) fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        Ok(self.record(digest, key)?.is_some())
    }

    /// The record to store over `old` (checked against `key`).
    fn next_record(
        &self,
        digest: &Digest,
        old: Option<&[u8]>,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<Vec<u8>> {
        let micros = unique_micros();
        let new = match old {
            Some(old) => {
                let view = self.checked(digest, old, key)?;
                if options.append {
                    record::appended(&view, micros, value)
                } else {
                    record::single(key, micros, value)
                }
            }
            None => record::single(key, micros, value),
        };
        new.map_err(|e| too_long(e, digest))
    }

    pub(crate) fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        let slot = digest.as_bytes();
        loop {
            let old = self.db.get(slot).map_err(self.sled_err("read a record"))?;
            let new = self.next_record(digest, old.as_deref(), key, value, options)?;
            let swapped = self
                .db
                .compare_and_swap(slot, old.as_ref(), Some(new))
                .map_err(self.sled_err("write a record"))?;
            if swapped.is_ok() {
                if old.is_none() {
                    self.count.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(());
            }
            // Another writer changed the record in between: read it again.
        }
    }

    /// Writes every item in one sled transaction: all or nothing, retried by
    /// sled on conflict, committed as one atomic batch.
    pub(crate) fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        let outcome = self.db.transaction(|tx| {
            let mut created = 0i64;
            for p in items {
                let slot = p.digest.as_bytes();
                let old = tx.get(slot)?;
                let new = self
                    .next_record(&p.digest, old.as_deref(), p.key, p.value, options)
                    .map_err(ConflictableTransactionError::Abort)?;
                created += i64::from(old.is_none());
                tx.insert(&slot[..], new)?;
            }
            Ok(created)
        });
        match outcome {
            Ok(created) => {
                self.count.fetch_add(created, Ordering::Relaxed);
                Ok(())
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(sled_error(e, "write a batch", &self.dir)),
        }
    }

    pub(crate) fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let slot = digest.as_bytes();
        loop {
            let Some(old) = self.record(digest, key)? else { return Ok(false) };
            let swapped = self
                .db
                .compare_and_swap(slot, Some(&old), None::<IVec>)
                .map_err(self.sled_err("delete a record"))?;
            if swapped.is_ok() {
                self.count.fetch_sub(1, Ordering::Relaxed);
                return Ok(true);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.count.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Removes every record one by one (sled has no atomic clear); writes
    /// racing with it may survive.
    pub(crate) fn clear(&self) -> Result<()> {
        for slot in self.db.iter().keys() {
            let slot = slot.map_err(self.sled_err("list records"))?;
            if self.db.remove(slot).map_err(self.sled_err("delete a record"))?.is_some() {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    pub(crate) fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let Some(bytes) = self.db.get(digest.as_bytes()).map_err(self.sled_err("read a record"))? else {
            return Ok(None);
        };
        let view = self.checked(digest, &bytes, key)?;
        let newest_first = view.versions().map_err(|why| damaged(why, digest, &self.dir))?;
        Ok(Some(
            newest_first
                .into_iter()
                .rev()
                .enumerate()
                .map(|(i, (micros, value))| Version {
                    number: i as u64 + 1,
                    written_at_micros: micros,
                    value: value.to_vec(),
                })
                .collect(),
        ))
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush().map(drop).map_err(self.sled_err("flush the sled database"))
    }

    /// A lazy iterator over the records; it takes no lock between items.
    pub(crate) fn iter(&self) -> sled::Iter {
        self.db.iter()
    }
}

impl Drop for Store {
    /// Saves the count and flushes; errors cannot be reported from here, and
    /// a count not saved is recounted at the next open.
    fn drop(&mut self) {
        let count = self.count.load(Ordering::Relaxed).max(0);
        let _ = self.meta.insert(COUNT_KEY, &count.to_le_bytes());
        let _ = self.db.flush();
    }
}
