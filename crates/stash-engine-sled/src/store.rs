//! One open sled database: the records, the key count, flush and close.

use std::fmt;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use sled::IVec;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use stash_engine_api::clock::{is_expired, now_micros, unique_micros};
use stash_engine_api::engine::key_mismatch;
use stash_engine_api::{Digest, Error, ErrorKind, Put, Result, Version, WriteOptions};

use crate::error::{damaged, lock_file, open_panic, sled_error, too_long};
use crate::record::{self, View};
use crate::registry::{Closer, wait_for_release};

/// The tree holding the format marker and, between sessions, the counts.
const META_TREE: &[u8] = b"hashstash.meta";
/// Meta key: which layout the records use.
const FORMAT_KEY: &[u8] = b"format";
/// The first layout: tag-1 records only. New databases start with it, so
/// earlier builds still open them until an entry with an expiry is written.
const FORMAT_V1: &[u8] = b"hashstash-sled/1";
/// Records may also have tag 2 (with an expiry); written, durably, before
/// the first such record, so a build that cannot read them refuses the
/// database instead of reporting its records as damaged.
const FORMAT_V2: &[u8] = b"hashstash-sled/2";
/// Meta key: the key count, present only after a clean close.
const COUNT_KEY: &[u8] = b"count";
/// Meta key: the number of records with an expiry, present only after a
/// clean close of a format-2 database.
const EXPIRING_KEY: &[u8] = b"expiring";

/// How long a flush is waited for. sled 0.34 never finishes a flush after
/// some failed writes of its files (a full disk: its log buffer keeps a
/// writer that never leaves, and stable never reaches it), and a close
/// flushes too: without a bound, `flush` and dropping the last handle would
/// hang forever.
const FLUSH_WAIT: Duration = Duration::from_secs(10);

/// `db.flush()`, waited for at most [`FLUSH_WAIT`]. A flush that does not
/// finish goes on in its helper thread, which keeps a handle on the
/// database: sled then never closes it in this process (its close would
/// hang on the same flush), and `stuck` (if given) is set.
fn flush_within(db: &sled::Db, dir: &Path, stuck: Option<&AtomicBool>) -> Result<()> {
    if stuck.is_some_and(|s| s.load(Ordering::Acquire)) {
        return Err(flush_stuck(dir));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let handle = db.clone();
    std::thread::Builder::new()
        .name("hashstash-sled-flush".into())
        .spawn(move || {
            let _ = tx.send(handle.flush());
        })
        .map_err(|e| Error::io(e, "start a thread to flush the sled database", dir))?;
    match rx.recv_timeout(FLUSH_WAIT) {
        Ok(flushed) => flushed.map(drop).map_err(|e| sled_error(e, "flush the sled database", dir)),
        Err(_) => {
            if let Some(stuck) = stuck {
                stuck.store(true, Ordering::Release);
            }
            Err(flush_stuck(dir))
        }
    }
}

/// The error of a flush that did not finish within [`FLUSH_WAIT`].
fn flush_stuck(dir: &Path) -> Error {
    Error::new(
        ErrorKind::Io,
        format!(
            "cannot flush the sled database: sled did not finish within {} s, which sled 0.34 never \
             does after a failed write of its files (a full disk?); writes since the last flush \
             are lost when this process ends: reopen the stash in a new process once the disk has space",
            FLUSH_WAIT.as_secs()
        ),
    )
    .with_context("file", dir.display())
}

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
    /// Exact number of records with an expiry (expired or not), kept the
    /// same way: while it is 0, `len` is `count`.
    expiring: AtomicI64,
    /// Whether the format marker says 2 (records with an expiry may exist).
    format_v2: AtomicBool,
    /// A flush did not finish (see [`flush_within`]): later ones fail at once.
    stuck: AtomicBool,
    /// Last: runs after `db` and `meta` are dropped.
    _closer: Closer,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("count", &self.count)
            .field("expiring", &self.expiring)
            .finish_non_exhaustive()
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

/// What [`check_and_count`] finds.
struct Counts {
    keys: i64,
    expiring: i64,
    format_v2: bool,
}

/// A saved `u64` LE counter.
pub(crate) fn saved_count(saved: Option<&[u8]>) -> Option<i64> {
    let bytes: [u8; 8] = saved?.try_into().ok()?;
    Some(i64::from_le_bytes(bytes))
}

/// The record format a stored marker names: `Some(true)` for format 2,
/// `Some(false)` for format 1, `None` when there is no marker; an unknown
/// marker is a `Corrupt` error naming it and the database.
pub(crate) fn stored_format(format: Option<&[u8]>, dir: &Path) -> Result<Option<bool>> {
    match format {
        None => Ok(None),
        Some(format) if format == FORMAT_V1 => Ok(Some(false)),
        Some(format) if format == FORMAT_V2 => Ok(Some(true)),
        Some(format) => {
            Err(Error::new(ErrorKind::Corrupt, "this sled database has an unknown record format")
                .with_context("format", String::from_utf8_lossy(format))
                .with_context("file", dir.display()))
        }
    }
}

/// Checks the format marker (writing it into a new database) and finds the
/// key count and the count of records with an expiry: the saved ones after
/// a clean close, else by counting (one pass over the records).
///
/// `existed` says whether sled's files were there before this open: sled
/// reads a damaged log as an empty database, which must not pass for a new one.
fn check_and_count(db: &sled::Db, meta: &sled::Tree, dir: &Path, existed: bool) -> Result<Counts> {
    let err = |e| sled_error(e, "read the sled database", dir);
    let format_v2 = match stored_format(meta.get(FORMAT_KEY).map_err(err)?.as_deref(), dir)? {
        Some(format_v2) => format_v2,
        None if !existed && db.is_empty() => {
            meta.insert(FORMAT_KEY, FORMAT_V1).map_err(err)?;
            flush_within(db, dir, None)?;
            false
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
    };
    // Take the saved counts away before any write, durably: if this session
    // crashes, the next open counts again instead of trusting stale numbers.
    let keys = saved_count(meta.remove(COUNT_KEY).map_err(err)?.as_deref());
    let expiring = saved_count(meta.remove(EXPIRING_KEY).map_err(err)?.as_deref());
    // A format-1 database holds no record with an expiry.
    let expiring = if format_v2 { expiring } else { Some(0) };
    if let (Some(keys), Some(expiring)) = (keys, expiring) {
        flush_within(db, dir, None)?;
        return Ok(Counts { keys, expiring, format_v2 });
    }
    let (mut keys, mut expiring) = (0, 0);
    for record in db.iter().values() {
        let record = record.map_err(err)?;
        keys += 1;
        expiring += i64::from(record::has_expiry(&record));
    }
    Ok(Counts { keys, expiring, format_v2 })
}

impl Store {
    /// Opens (creating if needed) the database in `dir`, registered as `id`.
    pub(crate) fn open(dir: &Path, id: u64) -> Result<Store> {
        let existed = dir.join("conf").exists() || fs::metadata(lock_file(dir)).is_ok_and(|m| m.len() > 0);
        let (db, meta) = open_sled(dir)?;
        match check_and_count(&db, &meta, dir, existed) {
            Ok(counts) => Ok(Store {
                db,
                meta,
                dir: dir.to_path_buf(),
                count: AtomicI64::new(counts.keys),
                expiring: AtomicI64::new(counts.expiring),
                format_v2: AtomicBool::new(counts.format_v2),
                stuck: AtomicBool::new(false),
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

    /// The number of versions and their total length of a parsed record, for `scan_meta`.
    pub(crate) fn parse_sizes(&self, digest: &Digest, view: &View<'_>) -> Result<(u64, u64)> {
        view.sizes().map_err(|why| damaged(why, digest, &self.dir))
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
        if !view.live(now_micros()) {
            return Ok(None);
        }
        let (_, value) = view.newest().map_err(|why| damaged(why, digest, &self.dir))?;
        Ok(Some(value.to_vec()))
    }

    pub(crate) fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let Some(bytes) = self.record(digest, key)? else { return Ok(false) };
        let expiry = record::expiry(&bytes).map_err(|why| damaged(why, digest, &self.dir))?;
        Ok(!is_expired(expiry, now_micros()))
    }

    /// Writes the format-2 marker, durably, before the first record with an
    /// expiry; a no-op once done.
    fn mark_expiring(&self) -> Result<()> {
        if !self.format_v2.load(Ordering::Acquire) {
            self.meta.insert(FORMAT_KEY, FORMAT_V2).map_err(self.sled_err("write the format marker"))?;
            self.flush()?;
            self.format_v2.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Adds the changes of replacing `old` with `new` to the counts.
    fn count_change(&self, old: Option<&[u8]>, new: Option<&[u8]>) {
        let (keys, expiring) = change(old, new);
        if keys != 0 {
            self.count.fetch_add(keys, Ordering::Relaxed);
        }
        if expiring != 0 {
            self.expiring.fetch_add(expiring, Ordering::Relaxed);
        }
    }

    /// The record to store over `old` (checked against `key`). Appending to
    /// an expired entry starts a new history.
    fn next_record(
        &self,
        digest: &Digest,
        old: Option<&[u8]>,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<Vec<u8>> {
        let mut micros = unique_micros();
        let expires_at = options.expires_at_micros;
        let new = match old {
            Some(old) => {
                let view = self.checked(digest, old, key)?;
                // Stamped after the newest version it replaces or follows,
                // whatever the clock says (it may have stepped back since a
                // session ahead of it): versions stay in time order, and a delete
                // that decided from the old one (`delete_unless_rewritten`) keeps
                // this write.
                if let Ok((last, _)) = view.newest() {
                    micros = micros.max(last.saturating_add(1));
                }
                if options.append && view.live(now_micros()) {
                    record::appended(&view, expires_at, micros, value)
                } else {
                    record::single(key, expires_at, micros, value)
                }
            }
            None => record::single(key, expires_at, micros, value),
        };
        new.map_err(|e| too_long(e, digest))
    }

    pub(crate) fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        if options.expires_at_micros.is_some() {
            self.mark_expiring()?;
        }
        let slot = digest.as_bytes();
        loop {
            let old = self.db.get(slot).map_err(self.sled_err("read a record"))?;
            let new = IVec::from(self.next_record(digest, old.as_deref(), key, value, options)?);
            let swapped = self
                .db
                .compare_and_swap(slot, old.as_ref(), Some(new.clone()))
                .map_err(self.sled_err("write a record"))?;
            if swapped.is_ok() {
                self.count_change(old.as_deref(), Some(&new));
                return Ok(());
            }
            // Another writer changed the record in between: read it again.
        }
    }

    /// Stores `value` only if no live record holds `key`; true if it stored.
    /// A compare-and-swap against what it read (nothing, or an expired record
    /// of `key`): a write in between makes the swap fail, and the check runs
    /// again on the record now there, so of many racing callers exactly one
    /// stores. Another key's record is a `key_mismatch` error.
    pub(crate) fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        if options.expires_at_micros.is_some() {
            self.mark_expiring()?;
        }
        let slot = digest.as_bytes();
        loop {
            let old = self.db.get(slot).map_err(self.sled_err("read a record"))?;
            if let Some(bytes) = &old
                && self.checked(digest, bytes, key)?.live(now_micros())
            {
                return Ok(false);
            }
            let new = IVec::from(self.next_record(digest, old.as_deref(), key, value, options)?);
            let swapped = self
                .db
                .compare_and_swap(slot, old.as_ref(), Some(new.clone()))
                .map_err(self.sled_err("write a record"))?;
            if swapped.is_ok() {
                self.count_change(old.as_deref(), Some(&new));
                return Ok(true);
            }
            // Another writer changed the record in between: check it again.
        }
    }

    /// Writes every item in one sled transaction: all or nothing, retried by
    /// sled on conflict, committed as one atomic batch.
    pub(crate) fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        if options.expires_at_micros.is_some() && !items.is_empty() {
            self.mark_expiring()?;
        }
        let outcome = self.db.transaction(|tx| {
            let (mut created, mut expiring) = (0i64, 0i64);
            for p in items {
                let slot = p.digest.as_bytes();
                let old = tx.get(slot)?;
                let new = self
                    .next_record(&p.digest, old.as_deref(), p.key, p.value, options)
                    .map_err(ConflictableTransactionError::Abort)?;
                let (keys, expiry) = change(old.as_deref(), Some(&new));
                created += keys;
                expiring += expiry;
                tx.insert(&slot[..], new)?;
            }
            Ok((created, expiring))
        });
        match outcome {
            Ok((created, expiring)) => {
                self.count.fetch_add(created, Ordering::Relaxed);
                self.expiring.fetch_add(expiring, Ordering::Relaxed);
                Ok(())
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(sled_error(e, "write a batch", &self.dir)),
        }
    }

    /// Removes `key`; true if it was there and not expired (an expired
    /// entry is removed too, but was not there to the caller).
    pub(crate) fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let slot = digest.as_bytes();
        loop {
            let Some(old) = self.record(digest, key)? else { return Ok(false) };
            let expiry = record::expiry(&old).map_err(|why| damaged(why, digest, &self.dir))?;
            let swapped = self
                .db
                .compare_and_swap(slot, Some(&old), None::<IVec>)
                .map_err(self.sled_err("delete a record"))?;
            if swapped.is_ok() {
                self.count_change(Some(&old), None);
                return Ok(!is_expired(expiry, now_micros()));
            }
        }
    }

    /// Removes `key` if its newest version was written at or before `seen`
    /// (expired or not), with a compare-and-swap against the record it
    /// checked: a write in between makes the swap fail, and the check runs
    /// again on the new record. Returns whether it removed the entry.
    pub(crate) fn delete_unless_rewritten(&self, digest: &Digest, key: &[u8], seen: i64) -> Result<bool> {
        let slot = digest.as_bytes();
        loop {
            let Some(old) = self.db.get(slot).map_err(self.sled_err("read a record"))? else {
                return Ok(false);
            };
            let view = self.checked(digest, &old, key)?;
            let (newest, _) = view.newest().map_err(|why| damaged(why, digest, &self.dir))?;
            if newest > seen {
                return Ok(false);
            }
            let swapped = self
                .db
                .compare_and_swap(slot, Some(&old), None::<IVec>)
                .map_err(self.sled_err("delete a record"))?;
            if swapped.is_ok() {
                self.count_change(Some(&old), None);
                return Ok(true);
            }
        }
    }

    /// The number of live entries: the kept count while no record has an
    /// expiry, else a pass over the records reading only their first nine
    /// bytes (a damaged record counts as live, as it does in the kept count).
    pub(crate) fn len(&self) -> Result<usize> {
        if self.expiring.load(Ordering::Relaxed) <= 0 {
            return Ok(usize::try_from(self.count.load(Ordering::Relaxed)).unwrap_or(0));
        }
        let now = now_micros();
        let mut live = 0;
        for record in self.db.iter().values() {
            let record = record.map_err(self.sled_err("list records"))?;
            live += usize::from(!record::expiry(&record).is_ok_and(|at| is_expired(at, now)));
        }
        Ok(live)
    }

    /// Removes every record one by one (sled has no atomic clear); writes
    /// racing with it may survive.
    pub(crate) fn clear(&self) -> Result<()> {
        for slot in self.db.iter().keys() {
            let slot = slot.map_err(self.sled_err("list records"))?;
            if let Some(old) = self.db.remove(slot).map_err(self.sled_err("delete a record"))? {
                self.count_change(Some(&old), None);
            }
        }
        Ok(())
    }

    /// The bytes sled's files take on disk: every file under the folder, by
    /// allocated blocks where the system reports them.
    pub(crate) fn disk_usage(&self) -> Result<u64> {
        let mut total = 0;
        let mut folders = vec![self.dir.clone()];
        while let Some(folder) = folders.pop() {
            let entries = match fs::read_dir(&folder) {
                Ok(entries) => entries,
                // sled may remove a snapshot folder while we walk.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && folder != self.dir => continue,
                Err(e) => return Err(Error::io(e, "list the database folder", &folder)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(e, "list the database folder", &folder))?;
                let meta = match entry.metadata() {
                    Ok(meta) => meta,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io(e, "measure a database file", &entry.path())),
                };
                if meta.is_dir() {
                    folders.push(entry.path());
                } else {
                    total += allocated(&meta);
                }
            }
        }
        Ok(total)
    }

    pub(crate) fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let Some(bytes) = self.db.get(digest.as_bytes()).map_err(self.sled_err("read a record"))? else {
            return Ok(None);
        };
        let view = self.checked(digest, &bytes, key)?;
        if !view.live(now_micros()) {
            return Ok(None);
        }
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

    /// Flushes, waiting at most [`FLUSH_WAIT`].
    pub(crate) fn flush(&self) -> Result<()> {
        flush_within(&self.db, &self.dir, Some(&self.stuck))
    }

    /// A lazy iterator over the records; it takes no lock between items.
    pub(crate) fn iter(&self) -> sled::Iter {
        self.db.iter()
    }

    /// Stores raw bytes under a raw key, bypassing every check and count
    /// (for [`crate::fuzzing`]).
    pub(crate) fn raw_insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.insert(key, value).map(drop).map_err(self.sled_err("write a raw record"))
    }
}

/// How replacing `old` with `new` (`None`: no record) changes the key count
/// and the count of records with an expiry.
fn change(old: Option<&[u8]>, new: Option<&[u8]>) -> (i64, i64) {
    let expiring = |r: Option<&[u8]>| i64::from(r.is_some_and(record::has_expiry));
    (i64::from(new.is_some()) - i64::from(old.is_some()), expiring(new) - expiring(old))
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

impl Drop for Store {
    /// Saves the counts and flushes; errors cannot be reported from here,
    /// and counts not saved are recounted at the next open. After a flush
    /// that did not finish, sled keeps the database open (see
    /// [`flush_within`]) and this returns at once.
    fn drop(&mut self) {
        if !self.stuck.load(Ordering::Acquire) {
            let count = self.count.load(Ordering::Relaxed).max(0);
            let expiring = self.expiring.load(Ordering::Relaxed).max(0);
            let _ = self.meta.insert(EXPIRING_KEY, &expiring.to_le_bytes());
            let _ = self.meta.insert(COUNT_KEY, &count.to_le_bytes());
            let _ = self.flush();
        }
        if self.stuck.load(Ordering::Acquire) {
            self._closer.kept_open();
        }
    }
}
