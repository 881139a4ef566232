//! An example engine for hashstash: one file per key, named after the key's
//! digest, in the stash's data folder. It is the engine that
//! `docs/architecture.md` ("Adding an engine") walks through: one crate that
//! depends on `stash-engine-api` alone, one trait ([`Engine`]) with its
//! factory ([`EngineFactory`]), and one line of conformance tests
//! (`tests/conformance.rs`).
//!
//! A file holds one entry: the encoded key, its expiry and every kept version
//! (a [`record`] of a few length-prefixed fields). A write reads the file,
//! changes it in memory, writes a temporary file and renames it over the old
//! one, so a reader sees the old entry or the new one, never half of either.
//! An entry (its key and every kept version) takes at most the stash's
//! `max_value_bytes` plus room for headers: a write that would pass it is refused
//! with `TooLarge` before anything is written, so no read ever refuses what a write
//! acknowledged. A damaged file is a `Corrupt` error for reads, and a write or delete of that
//! key replaces or removes it. Writes of one key take a lock file (`.locks/w/<digest>.lock`, through
//! [`locks::try_lock_file`]) so that handles and processes sharing the folder
//! never lose each other's versions; readers take no lock.
//!
//! ```
//! use std::sync::Arc;
//! use stash_core::{Stash, StashConfig};
//! use stash_engine_files::Files;
//!
//! let dir = tempfile::tempdir()?;
//! let mut config = StashConfig::default();
//! config.engine = "files".into();
//! config.root_dir = dir.path().into();
//! let stash = Stash::open(config, Arc::new(Files))?;
//! stash.set("answer", &42)?;
//! assert_eq!(stash.get::<_, i32>("answer")?, Some(42));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod record;

use std::fs;
use std::io::{ErrorKind as IoKind, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use stash_engine_api::clock::{is_expired, now_micros, unique_micros};
use stash_engine_api::engine::key_mismatch;
use stash_engine_api::{
    Capabilities, Digest, Engine, EngineContext, EngineFactory, EntryMeta, Error, ErrorKind, LOCKS_NAME,
    LockAttempt, MetaIter, Record, RecordIter, Result, Version, WriteOptions, locks,
};

use crate::record::Entry;

/// The factory: `Stash::open(config, Arc::new(Files))`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Files;

impl EngineFactory for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn display_name(&self) -> &'static str {
        "Files"
    }

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        // This engine has no settings: any option is a mistake worth reporting.
        stash_engine_api::OptionReader::new("files", &context.options).finish()?;
        Ok(Arc::new(FilesEngine::open(&context.path, context.max_value_bytes)?))
    }
}

/// How long a write waits for another writer of the same key.
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// One stash: a folder of entry files.
#[derive(Debug, Clone)]
pub struct FilesEngine {
    dir: PathBuf,
    /// `.locks/` beside the data folder: function-result locks ([`Engine::try_lock`]).
    locks: PathBuf,
    /// `.locks/w/`: one lock file per key being written.
    write_locks: PathBuf,
    max_value_bytes: u64,
}

/// Numbers the temporary files of this process.
static TMP: AtomicU64 = AtomicU64::new(0);

impl FilesEngine {
    /// Opens (creating if needed) the folder `dir`; no file larger than
    /// `max_value_bytes` plus the key and headers is ever read whole.
    pub fn open(dir: &Path, max_value_bytes: u64) -> Result<FilesEngine> {
        fs::create_dir_all(dir).map_err(|e| Error::io(e, "create the data folder", dir))?;
        let locks = dir.parent().unwrap_or(dir).join(LOCKS_NAME);
        Ok(FilesEngine { dir: dir.into(), write_locks: locks.join("w"), locks, max_value_bytes })
    }

    /// The largest entry file this engine writes or reads: the key and every kept
    /// version within `max_value_bytes`, plus room for headers.
    fn max_file_bytes(&self) -> u64 {
        self.max_value_bytes.saturating_add(record::HEADERS)
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.to_hex())
    }

    /// The entry stored at `digest`, whoever's it is (`None`: no file).
    fn load(&self, digest: &Digest) -> Result<Option<Entry>> {
        let path = self.path(digest);
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(e, "open an entry file", &path)),
        };
        // Read at most what a write may store: a file that holds more is refused
        // before it is allocated.
        let cap = self.max_file_bytes();
        let mut bytes = Vec::new();
        file.take(cap.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(e, "read an entry file", &path))?;
        if bytes.len() as u64 > cap {
            return Err(Error::new(
                ErrorKind::TooLarge,
                "an entry file is larger than the stash's size limit",
            )
            .with_context("file", path.display()));
        }
        Entry::parse(&bytes).map(Some).map_err(|why| {
            Error::new(ErrorKind::Corrupt, format!("an entry file is damaged: {why}"))
                .with_context("file", path.display())
                .with_context("digest", digest)
        })
    }

    /// The live entry of `key` at `digest`; another key's entry is a mismatch.
    fn live(&self, digest: &Digest, key: &[u8]) -> Result<Option<Entry>> {
        match self.load(digest)? {
            Some(entry) if entry.key != key => Err(key_mismatch(digest)),
            Some(entry) if is_expired(entry.expires_at, now_micros()) => Ok(None),
            other => Ok(other),
        }
    }

    /// Replaces the file of `digest` with `entry` (or removes it): a temporary
    /// file renamed over the old one.
    fn store(&self, digest: &Digest, entry: Option<&Entry>) -> Result<()> {
        let path = self.path(digest);
        let Some(entry) = entry else {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != IoKind::NotFound => Err(Error::io(e, "remove an entry file", &path)),
                _ => Ok(()),
            };
        };
        // Refused here, before anything is written, rather than stored and then
        // refused by every read.
        let too_large = || {
            Error::new(
                ErrorKind::TooLarge,
                "this entry (its key and kept versions) would exceed the stash's size limit",
            )
            .with_context("digest", digest)
            .with_context("file", path.display())
        };
        let bytes = entry.to_bytes().map_err(|_| too_large())?;
        if bytes.len() as u64 > self.max_file_bytes() {
            return Err(too_large());
        }
        let tmp = self.dir.join(format!(
            ".tmp.{}.{}.{}",
            digest.to_hex(),
            std::process::id(),
            TMP.fetch_add(1, Ordering::Relaxed)
        ));
        fs::write(&tmp, bytes).map_err(|e| Error::io(e, "write an entry file", &tmp))?;
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(e, "rename an entry file into place", &path)
        })
    }

    /// Runs `change` on the entry of `digest` under its write lock and stores what
    /// it returns (`Some(None)`: remove; `None`: leave as is).
    fn update<R>(
        &self,
        digest: &Digest,
        change: impl FnOnce(Option<Entry>) -> Result<(Option<Option<Entry>>, R)>,
    ) -> Result<R> {
        let deadline = Instant::now() + WRITE_WAIT;
        let _held = loop {
            match locks::try_lock_file(&self.write_locks, digest)? {
                LockAttempt::Acquired(held) => break held,
                _ if Instant::now() >= deadline => {
                    return Err(Error::new(ErrorKind::Locked, "another writer holds this key")
                        .with_context("digest", digest)
                        .with_context("file", self.path(digest).display()));
                }
                _ => sleep(Duration::from_millis(1)),
            }
        };
        // A damaged file cannot be anyone's entry: a write replaces it, a delete removes it.
        let old = match self.load(digest) {
            Err(e) if e.kind() == ErrorKind::Corrupt => {
                self.store(digest, None)?;
                None
            }
            other => other?,
        };
        let (new, out) = change(old)?;
        if let Some(new) = new {
            self.store(digest, new.as_ref())?;
        }
        Ok(out)
    }

    fn write(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
        only_if_absent: bool,
    ) -> Result<bool> {
        self.update(digest, |old| {
            let now = now_micros();
            let old = match old {
                Some(e) if e.key != key => return Err(key_mismatch(digest)),
                Some(e) if is_expired(e.expires_at, now) => None,
                other => other,
            };
            if only_if_absent && old.is_some() {
                return Ok((None, false));
            }
            // A write is stamped after the newest version it follows, whatever the clock says.
            let newest = old.as_ref().and_then(|e| e.versions.last()).map_or(i64::MIN, |(t, _)| *t);
            let stamp = unique_micros().max(newest.saturating_add(1));
            let mut versions = match old {
                Some(e) if options.append => e.versions,
                _ => Vec::new(),
            };
            versions.push((stamp, value.to_vec()));
            let entry = Entry { key: key.to_vec(), expires_at: options.expires_at_micros, versions };
            Ok((Some(Some(entry)), true))
        })
    }

    /// The entry files present now (temporary files skipped), for the scans.
    fn names(&self) -> Result<Vec<Digest>> {
        let list = fs::read_dir(&self.dir).map_err(|e| Error::io(e, "list the data folder", &self.dir))?;
        let mut out = Vec::new();
        for item in list {
            let item = item.map_err(|e| Error::io(e, "list the data folder", &self.dir))?;
            if let Some(digest) = item.file_name().to_str().and_then(Digest::from_hex) {
                out.push(digest);
            }
        }
        Ok(out)
    }

    /// Every entry (expired ones included), read one by one as the iterator goes.
    fn entries(&self) -> Result<impl Iterator<Item = Result<(Digest, Entry)>> + Send + 'static> {
        // The iterator owns what it needs, so the stash may be written while it runs.
        let this = self.clone();
        Ok(self.names()?.into_iter().filter_map(move |digest| match this.load(&digest) {
            Ok(Some(entry)) => Some(Ok((digest, entry))),
            Ok(None) => None, // removed since the listing
            Err(e) => Some(Err(e)),
        }))
    }
}

impl Engine for FilesEngine {
    fn name(&self) -> &'static str {
        "files"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_persistence().with_multi_process()
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.live(digest, key)?.and_then(|mut e| e.versions.pop()).map(|(_, v)| v))
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        self.write(digest, key, value, options, false).map(drop)
    }

    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        self.write(digest, key, value, options, true)
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        self.update(digest, |old| match old {
            None => Ok((None, false)),
            Some(e) if e.key != key => Err(key_mismatch(digest)),
            // An expired entry is removed too, but was not "there" for the caller.
            Some(e) => Ok((Some(None), !is_expired(e.expires_at, now_micros()))),
        })
    }

    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        self.update(digest, |old| match old {
            None => Ok((None, false)),
            Some(e) if e.key != key => Err(key_mismatch(digest)),
            Some(e) if e.versions.last().is_some_and(|(t, _)| *t > seen_written_at_micros) => {
                Ok((None, false))
            }
            Some(_) => Ok((Some(None), true)),
        })
    }

    fn len(&self) -> Result<usize> {
        let now = now_micros();
        let mut live = 0;
        for entry in self.entries()? {
            live += usize::from(!is_expired(entry?.1.expires_at, now));
        }
        Ok(live)
    }

    fn clear(&self) -> Result<()> {
        for digest in self.names()? {
            self.store(&digest, None)?;
        }
        Ok(())
    }

    fn scan(&self) -> Result<RecordIter> {
        let now = now_micros();
        Ok(Box::new(self.entries()?.filter_map(move |item| match item {
            Err(e) => Some(Err(e)),
            Ok((_, e)) if is_expired(e.expires_at, now) => None,
            Ok((digest, mut e)) => {
                let (_, value) = e.versions.pop()?;
                Some(Ok(Record { digest, key: e.key, value }))
            }
        })))
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        Ok(self.live(digest, key)?.map(|e| {
            e.versions
                .into_iter()
                .zip(1..)
                .map(|((written_at_micros, value), number)| Version { number, written_at_micros, value })
                .collect()
        }))
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        Ok(Box::new(self.entries()?.filter_map(|item| {
            let (digest, e) = match item {
                Ok(found) => found,
                Err(e) => return Some(Err(e)),
            };
            let (written_at_micros, _) = e.versions.last()?;
            Some(Ok(EntryMeta {
                digest,
                written_at_micros: *written_at_micros,
                expires_at_micros: e.expires_at,
                versions: e.versions.len() as u64,
                value_bytes: e.versions.iter().map(|(_, v)| v.len() as u64).sum(),
                key: e.key,
            }))
        })))
    }

    /// A lock file shared by every handle and process on this folder.
    fn try_lock(&self, name: &Digest, _lease: Duration) -> Result<LockAttempt> {
        locks::try_lock_file(&self.locks, name)
    }
}
