//! [`LmdbEngine`]: the `Engine` operations as LMDB transactions.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering;

use heed::RwTxn;
use stash_engine_api::clock::{is_expired, now_micros, unique_micros};
use stash_engine_api::engine::key_mismatch;
use stash_engine_api::group_commit::{GroupStats, WriteOp};
use stash_engine_api::{
    Capabilities, Digest, Engine, Error, ErrorKind, LockAttempt, MetaIter, Put, RecordCursor, RecordIter,
    Result, Version, WriteOptions,
};

use crate::env::{Db, LmdbEnv};
use crate::error::{Fail, damaged};
use crate::group::Layout;
use crate::options::{Durability, LmdbOptions};
use crate::record::{self, RecordView};
use crate::registry;
use crate::scan::{self, DIGEST_KEY, KeyOrder, LentScan, Scan, damaged_page};

/// One LMDB stash: an environment in a `data.db/` folder, shared by every
/// handle of this process opened on that folder.
pub struct LmdbEngine {
    pub(crate) env: Arc<LmdbEnv>,
}

impl fmt::Debug for LmdbEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LmdbEngine").field("env", &self.env).finish()
    }
}

impl LmdbEngine {
    /// Opens (creating if needed) the environment in the folder `path`; a
    /// path this process already has open yields a new handle on the same
    /// environment. Opening an open path with another [`Durability`] is a
    /// `Config` error.
    pub fn open(path: &Path, options: LmdbOptions) -> Result<Arc<LmdbEngine>> {
        registry::open(path, options)
    }

    pub(crate) fn from_env(env: Arc<LmdbEnv>) -> LmdbEngine {
        LmdbEngine { env }
    }

    /// The data file (`.../data.db/data.mdb`).
    pub fn data_file(&self) -> &Path {
        self.env.file()
    }

    /// The durability the environment was opened with.
    pub fn durability(&self) -> Durability {
        self.env.durability()
    }

    /// The current size of the memory map in bytes (it doubles when full).
    pub fn map_size(&self) -> usize {
        self.env.map_size()
    }

    /// The error for a damaged record in `digest`'s slot.
    fn damaged(&self, reason: &str, digest: &Digest) -> Error {
        damaged(reason, self.env.file()).with_context("digest", digest)
    }

    /// Parses a stored record and checks that it holds `key`.
    fn checked<'a>(&self, digest: &Digest, stored: &'a [u8], key: &[u8]) -> Result<RecordView<'a>, Fail> {
        let view = record::parse(stored).map_err(|reason| self.damaged(reason, digest))?;
        if view.key != key {
            return Err(key_mismatch(digest).with_context("file", self.env.file().display()).into());
        }
        Ok(view)
    }

    /// Parses a stored record, checks its key, and hides it once expired.
    fn live<'a>(
        &self,
        digest: &Digest,
        stored: &'a [u8],
        key: &[u8],
    ) -> Result<Option<RecordView<'a>>, Fail> {
        let view = self.checked(digest, stored, key)?;
        Ok(Some(view).filter(|v| !is_expired(v.expires, now_micros())))
    }

    /// `<stash folder>/.locks`: the lock files of [`Engine::try_lock`], beside
    /// the `data.db/` folder (so `clear` and the environment never touch them).
    pub(crate) fn locks_dir(&self) -> PathBuf {
        let data_dir = self.env.file().parent().unwrap_or(self.env.file());
        data_dir.parent().unwrap_or(data_dir).join(stash_engine_api::LOCKS_NAME)
    }

    /// Creates the expiry marker before the first expiring write of this process.
    pub(crate) fn note_expiring(&self) -> Result<()> {
        if self.env.expiring_known.load(Ordering::Relaxed) {
            return Ok(());
        }
        let marker = self.env.expiring_marker();
        std::fs::OpenOptions::new().create(true).append(true).open(&marker).map_err(|e| {
            Error::new(ErrorKind::Io, "cannot create the expiry marker")
                .with_context("file", marker.display())
                .with_source(e)
        })?;
        self.env.expiring_known.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Whether any entry may carry an expiry (checked on disk: another process may have written one).
    pub(crate) fn may_expire(&self) -> bool {
        self.env.expiring_known.load(Ordering::Relaxed) || self.env.expiring_marker().exists()
    }

    /// Counts entries that have not expired, reading only record headers.
    fn count_live(&self) -> Result<usize> {
        let now = now_micros();
        self.env.read("count the keys", |rtxn, db| {
            let mut n = 0;
            let mut order = KeyOrder::new(None, Some(DIGEST_KEY));
            for item in db.iter(rtxn)? {
                let (key, stored) = item?;
                order.check(key).map_err(|reason| damaged_page(reason, self.env.file()))?;
                // A damaged record counts as present: reads report it.
                n += usize::from(record::parse(stored).map_or(true, |v| !is_expired(v.expires, now)));
            }
            Ok(n)
        })
    }

    /// Writes one item inside `wtxn`.
    pub(crate) fn insert(
        &self,
        wtxn: &mut RwTxn<'_>,
        db: Db,
        put: &Put<'_>,
        options: WriteOptions,
    ) -> Result<(), Fail> {
        let digest = &put.digest;
        let expires = options.expires_at_micros;
        // A new version is stamped after the newest one it replaces or follows,
        // whatever this process's clock says (another process's clock, a step
        // back): so versions stay in time order, and a delete that decided from
        // the old version (`delete_unless_rewritten`) never removes the new one.
        let mut micros = unique_micros();
        let appended = match db.get(wtxn, digest.as_bytes())? {
            None => None,
            // A replace repairs a record too damaged to parse; an append does not build on it.
            Some(stored) => match record::parse(stored) {
                Err(reason) if options.append => return Err(self.damaged(reason, digest).into()),
                Err(_) => None,
                Ok(_) => {
                    // Never overwrites another key's record.
                    let view = self.checked(digest, stored, put.key)?;
                    // An expired entry is gone: an append starts a new history.
                    let extend = options.append && !is_expired(view.expires, now_micros());
                    match view.newest() {
                        Ok((last, _)) => micros = micros.max(last.saturating_add(1)),
                        Err(reason) if extend => return Err(self.damaged(reason, digest).into()),
                        Err(_) => {}
                    }
                    if extend {
                        Some(
                            view.appended(micros, put.value, expires)
                                .map_err(|reason| self.damaged(reason, digest))?,
                        )
                    } else {
                        None
                    }
                }
            },
        };
        match appended {
            Some(bytes) => db.put(wtxn, digest.as_bytes(), &bytes)?,
            None => {
                let len = record::single_len(put.key, put.value, expires);
                db.put_reserved(wtxn, digest.as_bytes(), len, |space| {
                    record::write_single(space, put.key, micros, put.value, expires)
                })?;
            }
        }
        Ok(())
    }

    /// Writes `put` inside `wtxn` unless a live record holds its key; true if written.
    pub(crate) fn insert_if_absent(
        &self,
        wtxn: &mut RwTxn<'_>,
        db: Db,
        put: &Put<'_>,
        options: WriteOptions,
    ) -> Result<bool, Fail> {
        if let Some(stored) = db.get(wtxn, put.digest.as_bytes())?
            && self.live(&put.digest, stored, put.key)?.is_some()
        {
            return Ok(false);
        }
        self.insert(wtxn, db, put, options)?;
        Ok(true)
    }

    /// Deletes `key` inside `wtxn`; true if it was there and live.
    pub(crate) fn remove(
        &self,
        wtxn: &mut RwTxn<'_>,
        db: Db,
        digest: &Digest,
        key: &[u8],
    ) -> Result<bool, Fail> {
        let Some(stored) = db.get(wtxn, digest.as_bytes())? else { return Ok(false) };
        // A record too damaged to parse may be deleted; another key's may not.
        let live = match record::parse(stored) {
            Ok(_) => self.live(digest, stored, key)?.is_some(),
            Err(_) => true,
        };
        Ok(db.delete(wtxn, digest.as_bytes())? && live)
    }

    /// Deletes `key` inside `wtxn` unless its newest version is after `seen`; true if deleted.
    pub(crate) fn remove_unless_rewritten(
        &self,
        wtxn: &mut RwTxn<'_>,
        db: Db,
        digest: &Digest,
        key: &[u8],
        seen: i64,
    ) -> Result<bool, Fail> {
        let Some(stored) = db.get(wtxn, digest.as_bytes())? else { return Ok(false) };
        let view = self.checked(digest, stored, key)?;
        let (newest, _) = view.newest().map_err(|reason| self.damaged(reason, digest))?;
        if newest > seen {
            return Ok(false);
        }
        Ok(db.delete(wtxn, digest.as_bytes())?)
    }

    /// The counters of this environment's group commit (shared by every
    /// handle of this process on it): transactions run and writes submitted.
    /// Writes that arrive while a commit is in flight join the next one, so
    /// under contention there are fewer commits than writes.
    #[doc(hidden)]
    pub fn group_stats(&self) -> GroupStats {
        self.env.group.stats()
    }
}

impl Engine for LmdbEngine {
    fn name(&self) -> &'static str {
        "lmdb"
    }

    fn capabilities(&self) -> Capabilities {
        // Reads are lock-free MVCC snapshots of the memory map: they never wait for a
        // writer or a commit's fsync (only, briefly, for the map to be grown), so the
        // async stash runs them on its task.
        Capabilities::NONE.with_persistence().with_multi_process().with_cheap_len().with_inline_reads()
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.env.read("read a value", |rtxn, db| {
            let Some(stored) = db.get(rtxn, digest.as_bytes())? else { return Ok(None) };
            let Some(view) = self.live(digest, stored, key)? else { return Ok(None) };
            let (_, value) = view.newest().map_err(|reason| self.damaged(reason, digest))?;
            Ok(Some(value.to_vec()))
        })
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        if options.expires_at_micros.is_some() {
            self.note_expiring()?;
        }
        self.submit(Layout::Native, WriteOp::put(digest, key, value, options)).map(|_| ())
    }

    /// Writes every item in one transaction, committed once: all or nothing.
    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        if options.expires_at_micros.is_some() {
            self.note_expiring()?;
        }
        self.submit(Layout::Native, WriteOp::put_many(items, options)).map(|_| ())
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        self.submit(Layout::Native, WriteOp::delete(digest, key))
    }

    /// One write transaction: reads the record's newest stamp and deletes it
    /// only if it is not after `seen_written_at_micros`. LMDB serialises write
    /// transactions across threads and processes, so no write comes in between.
    /// A record too damaged to tell its newest stamp is a `Corrupt` error
    /// (left in place: `delete` removes it).
    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        self.submit(Layout::Native, WriteOp::delete_unless_rewritten(digest, key, seen_written_at_micros))
    }

    /// One write transaction: reads the slot and writes only if it holds no
    /// live record. LMDB serialises write transactions across threads and
    /// processes, so of many racing callers exactly one stores. Another key's
    /// record is a `key_mismatch` error, a damaged one `Corrupt` (left in place).
    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        if options.expires_at_micros.is_some() {
            self.note_expiring()?;
        }
        self.submit(Layout::Native, WriteOp::put_if_absent(digest, key, value, options))
    }

    /// A lock file in `<stash folder>/.locks`, shared by every process on this
    /// machine; `lease` is not needed: the kernel releases the lock of a
    /// process that dies.
    fn try_lock(&self, name: &Digest, _lease: Duration) -> Result<LockAttempt> {
        stash_engine_api::locks::try_lock_file(&self.locks_dir(), name)
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        self.env.read("look a key up", |rtxn, db| match db.get(rtxn, digest.as_bytes())? {
            None => Ok(false),
            Some(stored) => self.live(digest, stored, key).map(|v| v.is_some()),
        })
    }

    /// The entry count of the database (one record per key), no scan, while
    /// no entry was ever written with an expiry; then a scan of record headers.
    fn len(&self) -> Result<usize> {
        if self.may_expire() {
            return self.count_live();
        }
        self.env.read("count the keys", |rtxn, db| Ok(db.len(rtxn)? as usize))
    }

    fn is_empty(&self) -> Result<bool> {
        if self.may_expire() {
            return Ok(self.scan_keys()?.next().is_none());
        }
        self.env.read("count the keys", |rtxn, db| Ok(db.is_empty(rtxn)?))
    }

    fn clear(&self) -> Result<()> {
        self.env.write("clear the stash", |wtxn, db| Ok(db.clear(wtxn)?))?;
        let marker = self.env.expiring_marker();
        match std::fs::remove_file(&marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::new(ErrorKind::Io, "cannot remove the expiry marker")
                    .with_context("file", marker.display())
                    .with_source(e));
            }
        }
        self.env.expiring_known.store(false, Ordering::Relaxed);
        Ok(())
    }

    fn scan(&self) -> Result<RecordIter> {
        Ok(Box::new(Scan::new(self.env.clone(), scan::records)))
    }

    fn scan_lent(&self) -> Result<Box<dyn RecordCursor>> {
        Ok(Box::new(LentScan::new(self.env.clone())))
    }

    fn scan_keys(&self) -> Result<RecordIter> {
        Ok(Box::new(Scan::new(self.env.clone(), scan::keys)))
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        Ok(Box::new(Scan::new(self.env.clone(), scan::meta)))
    }

    /// The allocated size of the data and lock files.
    fn disk_usage(&self) -> Result<Option<u64>> {
        use std::os::unix::fs::MetadataExt;
        let mut total = 0;
        for name in ["data.mdb", "lock.mdb"] {
            let file = self.env.file().with_file_name(name);
            match std::fs::metadata(&file) {
                Ok(meta) => total += meta.blocks() * 512,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::new(ErrorKind::Io, "cannot read the size of an LMDB file")
                        .with_context("file", file.display())
                        .with_source(e));
                }
            }
        }
        Ok(Some(total))
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        self.env.read("read the versions of a value", |rtxn, db| {
            let Some(stored) = db.get(rtxn, digest.as_bytes())? else { return Ok(None) };
            let Some(view) = self.live(digest, stored, key)? else { return Ok(None) };
            let versions = view
                .versions()
                .enumerate()
                .map(|(i, v)| {
                    let (micros, value) = v.map_err(|reason| self.damaged(reason, digest))?;
                    Ok(Version { number: i as u64 + 1, written_at_micros: micros, value: value.to_vec() })
                })
                .collect::<Result<Vec<_>, Fail>>()?;
            Ok(Some(versions))
        })
    }

    /// Syncs the data file: a no-op in effect under full durability, the
    /// way to persist relaxed commits on demand.
    fn flush(&self) -> Result<()> {
        self.env.sync()
    }
}

#[cfg(test)]
mod tests {
    use stash_engine_api::{ErrorKind, Record};

    use super::*;

    fn digest(n: u8) -> Digest {
        Digest([n; 16])
    }

    /// Writes raw bytes under an LMDB key, bypassing the record format.
    fn write_raw(engine: &LmdbEngine, lmdb_key: &[u8], bytes: &[u8]) {
        engine.env.write("write raw", |wtxn, db| Ok(db.put(wtxn, lmdb_key, bytes)?)).unwrap();
    }

    /// What a scan handed out, in order: each record, or the kind of its error.
    fn outcomes(
        results: impl Iterator<Item = Result<Record>>,
    ) -> Vec<std::result::Result<Record, ErrorKind>> {
        results.map(|r| r.map_err(|e| e.kind())).collect()
    }

    #[test]
    fn a_lent_scan_hands_out_what_the_owned_scan_does_across_chunks_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let engine = LmdbEngine::open(dir.path(), LmdbOptions::new()).unwrap();
        let n = 2 * 1024 + 10;
        for i in 0..n as u32 {
            let mut d = [0u8; 16];
            d[..4].copy_from_slice(&i.to_be_bytes());
            let value = vec![i as u8; i as usize % 5];
            engine.put(&Digest(d), &i.to_be_bytes(), &value, WriteOptions::REPLACE).unwrap();
        }
        // Damaged records in the first and second chunks, and an expired one.
        for i in [7u32, 1500] {
            let mut d = [0u8; 16];
            d[..4].copy_from_slice(&i.to_be_bytes());
            write_raw(&engine, &d, b"\x01\xff\xff\xff\x7fgarbage");
        }
        let mut expired = [0u8; 16];
        expired[..4].copy_from_slice(&20u32.to_be_bytes());
        engine
            .put(&Digest(expired), &20u32.to_be_bytes(), b"old", WriteOptions::REPLACE.expiring_at(Some(1)))
            .unwrap();

        let mut cursor = engine.scan_lent().unwrap();
        let mut lent = Vec::new();
        while let Some(r) = cursor.next_lent() {
            lent.push(r.map(|rec| rec.to_record()).map_err(|e| e.kind()));
        }
        let owned = outcomes(engine.scan().unwrap());
        assert_eq!(lent, owned);
        assert_eq!(lent.len(), n - 1, "the expired record is skipped");
        let errors: Vec<usize> =
            lent.iter().enumerate().filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect();
        assert_eq!(errors, [7, 1499], "each damaged record in its place, and the walk goes on");
        assert!(lent.iter().all(|r| r.as_ref().err().is_none_or(|k| *k == ErrorKind::Corrupt)));
    }

    #[test]
    fn damaged_and_foreign_records_are_reported_and_repairable() {
        let dir = tempfile::tempdir().unwrap();
        let engine = LmdbEngine::open(dir.path(), LmdbOptions::new()).unwrap();
        engine.put(&digest(1), b"a", b"va", WriteOptions::REPLACE).unwrap();
        engine.put(&digest(2), b"b", b"vb", WriteOptions::REPLACE).unwrap();
        write_raw(&engine, &[1; 16], b"\x01\xff\xff\xff\x7fgarbage");
        write_raw(&engine, b"0123456789abcdef0123456789abcdef.key", b"\"python\"");

        let err = engine.get(&digest(1), b"a").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.context_value("file").is_some_and(|f| f.ends_with("data.mdb")), "{err}");
        assert!(err.context_value("digest").is_some(), "{err}");
        assert!(engine.contains(&digest(1), b"a").is_err());
        assert!(engine.versions(&digest(1), b"a").is_err());
        assert_eq!(engine.get(&digest(2), b"b").unwrap().as_deref(), Some(&b"vb"[..]));

        // Iteration reports both bad records and goes on; len counts records.
        let results: Vec<_> = engine.scan().unwrap().collect();
        assert_eq!(results.len(), 3);
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 2);
        assert_eq!(engine.scan_keys().unwrap().filter(|r| r.is_ok()).count(), 1);
        assert_eq!(engine.len().unwrap(), 3);

        // An append does not build on damage; a replace repairs it.
        assert_eq!(
            engine.put(&digest(1), b"a", b"x", WriteOptions::APPEND).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
        engine.put(&digest(1), b"a", b"fixed", WriteOptions::REPLACE).unwrap();
        assert_eq!(engine.get(&digest(1), b"a").unwrap().as_deref(), Some(&b"fixed"[..]));
        // A damaged record can be deleted.
        write_raw(&engine, &[1; 16], b"");
        assert!(engine.delete(&digest(1), b"a").unwrap());
        assert_eq!(engine.get(&digest(1), b"a").unwrap(), None);
    }

    /// A version stamped by a clock ahead of ours (another process's, or ours
    /// before it stepped back): what replaces or follows it is stamped after
    /// it, so a delete that decided from it keeps the new write.
    #[test]
    fn writes_are_stamped_after_a_version_from_a_clock_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let engine = LmdbEngine::open(dir.path(), LmdbOptions::new()).unwrap();
        let ahead = now_micros() + 10_000_000;
        let mut planted = Vec::new();
        record::write_single(&mut planted, b"k", ahead, b"old", None).unwrap();
        write_raw(&engine, &[1; 16], &planted);
        let seen = engine.scan_meta().unwrap().next().unwrap().unwrap().written_at_micros;
        assert_eq!(seen, ahead);

        engine.put(&digest(1), b"k", b"new", WriteOptions::REPLACE).unwrap();
        assert!(
            !engine.delete_unless_rewritten(&digest(1), b"k", seen).unwrap(),
            "a write after the scan was removed"
        );
        assert_eq!(engine.get(&digest(1), b"k").unwrap().as_deref(), Some(&b"new"[..]));
        engine.put(&digest(1), b"k", b"more", WriteOptions::APPEND).unwrap();
        let versions = engine.versions(&digest(1), b"k").unwrap().unwrap();
        assert!(
            ahead < versions[0].written_at_micros
                && versions[0].written_at_micros < versions[1].written_at_micros
        );
    }

    #[test]
    fn another_keys_slot_is_never_overwritten_or_returned() {
        let dir = tempfile::tempdir().unwrap();
        let engine = LmdbEngine::open(dir.path(), LmdbOptions::new()).unwrap();
        engine.put(&digest(1), b"a", b"va", WriteOptions::REPLACE).unwrap();
        for options in [WriteOptions::REPLACE, WriteOptions::APPEND] {
            let err = engine.put(&digest(1), b"other", b"x", options).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        }
        assert_eq!(engine.get(&digest(1), b"other").unwrap_err().kind(), ErrorKind::Corrupt);
        assert_eq!(engine.delete(&digest(1), b"other").unwrap_err().kind(), ErrorKind::Corrupt);
        // A failing item aborts the whole batch.
        let batch = [
            Put { digest: digest(3), key: b"c", value: b"vc" },
            Put { digest: digest(1), key: b"other", value: b"x" },
        ];
        assert!(engine.put_many(&batch, WriteOptions::REPLACE).is_err());
        assert_eq!(engine.get(&digest(3), b"c").unwrap(), None);
        assert_eq!(engine.get(&digest(1), b"a").unwrap().as_deref(), Some(&b"va"[..]));
    }

    #[test]
    fn iteration_crosses_chunks_while_writing() {
        let dir = tempfile::tempdir().unwrap();
        let relaxed = LmdbOptions::new().durability(Durability::Relaxed);
        let engine = LmdbEngine::open(dir.path(), relaxed).unwrap();
        let n = 2500u32;
        let items: Vec<([u8; 16], Vec<u8>)> = (0..n)
            .map(|i| {
                let mut d = [0u8; 16];
                d[..4].copy_from_slice(&i.to_be_bytes());
                (d, i.to_string().into_bytes())
            })
            .collect();
        let puts: Vec<Put<'_>> =
            items.iter().map(|(d, k)| Put { digest: Digest(*d), key: k, value: k }).collect();
        engine.put_many(&puts, WriteOptions::REPLACE).unwrap();
        let mut seen = 0;
        for record in engine.scan().unwrap() {
            let record = record.unwrap();
            assert_eq!(record.key, record.value);
            // Writing to every record while iterating.
            engine.put(&record.digest, &record.key, b"new", WriteOptions::APPEND).unwrap();
            seen += 1;
        }
        assert_eq!(seen, n);
        let versions = engine.versions(&puts[7].digest, puts[7].key).unwrap().unwrap();
        assert_eq!(versions.iter().map(|v| v.number).collect::<Vec<_>>(), [1, 2]);
        assert!(versions[0].written_at_micros < versions[1].written_at_micros);
    }
}
