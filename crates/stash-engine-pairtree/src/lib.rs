//! The `pairtree` engine: one folder per key, one file per version, laid out
//! exactly as the Python hashstash library lays it out, so a stash can be
//! shared between Python and Rust.
//!
//! # Layout
//!
//! The 32 hex digits of the key digest are split `aa/bb/cc/<remaining 26>`:
//!
//! ```text
//! .../pairtree.hashstash.raw/data.db/
//! └── 58/
//!     └── 68/
//!         └── e2/
//!             └── 98eaa67371d8c10cfe937a2e1a/      one folder per key (md5 of `"cat"`)
//!                 ├── .key                         the encoded key
//!                 ├── 1732700000000001.4242        a version: <micros>.<pid>, bare encoded value
//!                 ├── 1732700000000517.4242        (append mode keeps several)
//!                 └── .tmp.4243.17                 a write in flight (ignored by readers)
//! ```
//!
//! Versions are ordered numerically by `(micros, pid)` parsed from the file
//! name (the Python library compares the names as strings, which misorders
//! pids of different lengths); names that do not parse are ignored.
//!
//! # Concurrency
//!
//! Many threads and processes may read and write one stash at once:
//!
//! - every file is written under a temporary name `.tmp.<pid>.<n>` in its
//!   final folder and `rename`d into place, so a reader sees a whole file or
//!   none, never a torn one;
//! - a replacing write lists the folder after its rename and deletes every
//!   version older than the newest it sees, never that newest one: whatever
//!   writers interleave, the numerically newest version always survives and,
//!   once they are done, it is the only one left;
//! - a reader that lists a version which then vanishes (a concurrent replace
//!   or delete) lists again instead of failing;
//! - a delete removes `.key` first, so a half-deleted slot reads as absent,
//!   and a writer that finds `.key` gone after its rename writes it again.
//!
//! # What pairtree trades
//!
//! One folder and two or more files per key make every first write of a key
//! create up to four folders and two inodes, and every write create and
//! rename an inode: writes are bound by the filesystem's inode allocation
//! (about 1.4k–4.7k sets/s on the reference machine), reads by syscalls. That
//! is the price of the Python-compatible layout; choose another engine for
//! write-heavy stashes that Python does not need to read.
//!
//! Like the Python library, pairtree does not `fsync` by default: a crash may
//! lose recent writes (never tear a file). [`PairtreeOptions::fsync`] turns
//! syncing of each file and its folder on.
//!
//! ```
//! use std::sync::Arc;
//! use stash_core::{Stash, StashConfig};
//! use stash_engine_pairtree::Pairtree;
//!
//! let dir = tempfile::tempdir()?;
//! let config = StashConfig { root_dir: dir.path().into(), compress: "raw".into(), ..Default::default() };
//! let stash = Stash::open(config, Arc::new(Pairtree))?;
//! stash.set("cat", &"meow")?;
//! assert_eq!(stash.get::<_, String>("cat")?.as_deref(), Some("meow"));
//! assert!(stash.path().ends_with("pairtree.hashstash.raw/data.db"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod python;
mod slot;
mod walk;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stash_core::clock::{now_micros, unique_micros};
use stash_core::{
    Capabilities, Digest, Engine, EngineFactory, Error, MetaIter, RecordIter, Result, StashConfig, Version,
    WriteOptions,
};

use slot::{KEY_FILE, RETRIES, VersionName, Want, Written};

/// Opens pairtree engines with the default options: the factory to hand to `Stash::open`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pairtree;

impl EngineFactory for Pairtree {
    fn name(&self) -> &'static str {
        "pairtree"
    }

    fn display_name(&self) -> &'static str {
        "Pairtree"
    }

    fn open(&self, path: &Path, config: &StashConfig) -> Result<Arc<dyn Engine>> {
        PairtreeOptions::default().open(path, config)
    }
}

/// Pairtree settings; also a factory, for stashes that want them.
///
/// ```
/// use std::sync::Arc;
/// use stash_core::{Stash, StashConfig};
/// use stash_engine_pairtree::PairtreeOptions;
///
/// let dir = tempfile::tempdir()?;
/// let config = StashConfig { root_dir: dir.path().into(), ..Default::default() };
/// let stash = Stash::open(config, Arc::new(PairtreeOptions::new().fsync(true)))?;
/// stash.set("durable", &1)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairtreeOptions {
    fsync: bool,
}

impl PairtreeOptions {
    /// The defaults: no fsync, as the Python library.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sync every written file and its folder before a write returns (off by default).
    /// Folders created for a new key are not synced themselves.
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }
}

impl EngineFactory for PairtreeOptions {
    fn name(&self) -> &'static str {
        "pairtree"
    }

    fn display_name(&self) -> &'static str {
        "Pairtree"
    }

    /// Opens the store; a `python_compatible` lz4 stash gets its keys recompressed
    /// as the Python library compresses them (see `docs/interop.md`).
    fn open(&self, path: &Path, config: &StashConfig) -> Result<Arc<dyn Engine>> {
        let engine = PairtreeEngine::open(path, *self)?;
        if config.python_compatible && config.compress == "lz4" {
            let encoding = stash_codec::Encoding::from_names(&config.compress, config.b64)?;
            return Ok(Arc::new(python::PythonKeys { inner: engine, encoding }));
        }
        Ok(Arc::new(engine))
    }
}

/// A pairtree store rooted at one `data.db` folder.
#[derive(Debug)]
pub struct PairtreeEngine {
    root: PathBuf,
    options: PairtreeOptions,
    verified: Verified,
}

/// Slots whose `.key` file this process has already compared with the key
/// asked for, with a 64-bit hash of that key: a later `get` of the same key
/// skips re-reading `.key` (one open and read fewer). A slot's key cannot
/// change under a live entry (a `put` with another key is refused), so the
/// check stays as strong as reading the file, short of a digest collision
/// written by another process after a delete. Bounded: emptied when it grows
/// past [`Verified::CAPACITY`] slots.
#[derive(Debug, Default)]
struct Verified(
    std::sync::RwLock<std::collections::HashMap<Digest, u64, stash_core::digest::BuildDigestHasher>>,
);

impl Verified {
    const CAPACITY: usize = 1 << 20;

    fn key_hash(key: &[u8]) -> u64 {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: independent of the digest that chose the slot.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        h.finish()
    }

    fn knows(&self, digest: &Digest, key: &[u8]) -> bool {
        let known = self.0.read().map(|m| m.get(digest).copied()).unwrap_or(None);
        known == Some(Self::key_hash(key))
    }

    fn remember(&self, digest: &Digest, key: &[u8]) {
        if let Ok(mut m) = self.0.write() {
            if m.len() >= Self::CAPACITY {
                m.clear();
            }
            m.insert(*digest, Self::key_hash(key));
        }
    }

    fn forget(&self, digest: &Digest) {
        if let Ok(mut m) = self.0.write() {
            m.remove(digest);
        }
    }

    fn forget_all(&self) {
        if let Ok(mut m) = self.0.write() {
            m.clear();
        }
    }
}

impl PairtreeEngine {
    /// Opens (creating if needed) the store in the folder `root`.
    pub fn open(root: &Path, options: PairtreeOptions) -> Result<PairtreeEngine> {
        fs::create_dir_all(root).map_err(|e| Error::io(e, "create data folder", root))?;
        Ok(PairtreeEngine { root: root.to_path_buf(), options, verified: Verified::default() })
    }

    /// The `data.db` folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of `digest`: `<root>/aa/bb/cc/<26 hex>`.
    pub fn slot_path(&self, digest: &Digest) -> PathBuf {
        let mut hex = String::with_capacity(32);
        digest.write_hex(&mut hex);
        // Room for the folder and a file name pushed onto it later.
        let mut path = PathBuf::with_capacity(self.root.as_os_str().len() + 64);
        path.push(&self.root);
        path.push(&hex[0..2]);
        path.push(&hex[2..4]);
        path.push(&hex[4..6]);
        path.push(&hex[6..]);
        path
    }

    /// Deletes every version of the slot at `dir` but the newest one listed;
    /// writes `.key` back if a concurrent delete removed it.
    fn prune(&self, dir: &mut PathBuf, key: &[u8]) -> Result<()> {
        let listing = match slot::list(dir) {
            Ok(l) => l,
            Err(e) if slot::is_gone(&e) => return Ok(()), // deleted after our write
            Err(e) => return Err(Error::io(e, "list slot folder", dir)),
        };
        let Some(newest) = listing.newest().cloned() else { return Ok(()) };
        for v in listing.versions.iter().filter(|v| **v < newest) {
            dir.push(&v.name);
            let removed = slot::remove_file(dir, "remove old version");
            dir.pop();
            removed?;
        }
        if !listing.has_key {
            slot::write_atomic(dir, KEY_FILE, key, self.options.fsync)?;
        }
        Ok(())
    }

    /// Whether the newest version in the slot folder `dir` has expired (false when there is none).
    fn newest_expired(&self, dir: &Path) -> Result<bool> {
        match slot::list(dir) {
            Ok(l) => Ok(l.newest().is_some_and(|v| v.expired(now_micros()))),
            Err(e) if slot::is_gone(&e) => Ok(false),
            Err(e) => Err(Error::io(e, "list slot folder", dir)),
        }
    }

    /// Removes empty folders from the slot's parent up to (not including) the root.
    fn prune_parents(&self, dir: &mut PathBuf) {
        for _ in 0..3 {
            if !dir.pop() || *dir == self.root || fs::remove_dir(&*dir).is_err() {
                return;
            }
        }
    }
}

impl Engine for PairtreeEngine {
    fn name(&self) -> &'static str {
        "pairtree"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(true, true, false)
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut path = self.slot_path(digest);
        let trusted = self.verified.knows(digest, key);
        let want = if trusted { Want::NewestTrusted } else { Want::Newest };
        let found = slot::read(&mut path, digest, Some(key), want)?;
        if found.is_some() && !trusted {
            self.verified.remember(digest, key);
        }
        Ok(found.map(|d| d.value))
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        let fsync = self.options.fsync;
        let mut dir = self.slot_path(digest);
        dir.push(KEY_FILE);
        let stored = slot::read_key_file(&dir, Some(key));
        let mut key_written = match stored {
            Ok(stored) => {
                let checked = slot::check_key(&stored, key, digest, &dir);
                dir.pop();
                checked?;
                true
            }
            Err(e) if slot::is_gone(&e) => {
                dir.pop();
                false // a new slot, or one a crash left without its key
            }
            Err(e) => return Err(Error::io(e, "read key file", &dir).with_context("digest", digest)),
        };
        let name = VersionName::format(unique_micros(), std::process::id(), options.expires_at_micros);
        // Appending to an expired entry starts a new history.
        let append = options.append && !self.newest_expired(&dir)?;
        let mut done = false;
        for attempt in 0..RETRIES {
            if !key_written
                && matches!(slot::write_atomic(&mut dir, KEY_FILE, key, fsync)?, Written::Vanished)
            {
                slot::backoff(attempt);
                continue;
            }
            match slot::write_atomic(&mut dir, &name, value, fsync)? {
                Written::Done => {
                    done = true;
                    break;
                }
                Written::Vanished => {
                    key_written = false;
                    slot::backoff(attempt);
                }
            }
        }
        if !done {
            return Err(Error::new(
                stash_core::ErrorKind::Io,
                format!("the slot folder kept vanishing under the writer ({RETRIES} attempts)"),
            )
            .with_context("file", dir.display())
            .with_context("digest", digest));
        }
        if !append {
            self.prune(&mut dir, key).map_err(|e| e.with_context("digest", digest))?;
        } else {
            dir.push(KEY_FILE);
            let gone = matches!(fs::symlink_metadata(&dir), Err(e) if slot::is_gone(&e));
            dir.pop();
            if gone {
                // A concurrent delete removed the key after we checked it.
                slot::write_atomic(&mut dir, KEY_FILE, key, fsync)?;
            }
        }
        Ok(())
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        self.verified.forget(digest);
        let mut dir = self.slot_path(digest);
        let present = match slot::read(&mut dir, digest, Some(key), Want::Any)? {
            Some(_) => true,
            None => return Ok(false),
        };
        // An expired entry is removed too, but was not there for the caller.
        let present = present && !self.newest_expired(&dir)?;
        // `.key` first: from here on the slot reads as absent.
        dir.push(KEY_FILE);
        let removed = slot::remove_file(&dir, "remove key file");
        dir.pop();
        let removed_key = removed.map_err(|e| e.with_context("digest", digest))?;
        let listing = match slot::list(&dir) {
            Ok(l) => l,
            Err(e) if slot::is_gone(&e) => return Ok(present && removed_key),
            Err(e) => return Err(Error::io(e, "list slot folder", &dir).with_context("digest", digest)),
        };
        for v in &listing.versions {
            dir.push(&v.name);
            let removed = slot::remove_file(&dir, "remove version file");
            dir.pop();
            removed.map_err(|e| e.with_context("digest", digest))?;
        }
        // Fails harmlessly if a writer got in again or a stray file is left.
        if fs::remove_dir(&dir).is_ok() {
            self.prune_parents(&mut dir);
        }
        Ok(present && removed_key)
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let mut path = self.slot_path(digest);
        Ok(slot::read(&mut path, digest, Some(key), Want::Exists)?.is_some())
    }

    fn len(&self) -> Result<usize> {
        let mut n = 0;
        let now = now_micros();
        for leaf in walk::Walker::new(&self.root)? {
            let (_, path) = leaf?;
            match slot::list(&path) {
                Ok(l) if l.has_key && l.newest().is_some_and(|v| !v.expired(now)) => n += 1,
                Ok(_) => {}
                Err(e) if slot::is_gone(&e) => {}
                Err(e) => return Err(Error::io(e, "list slot folder", &path)),
            }
        }
        Ok(n)
    }

    fn is_empty(&self) -> Result<bool> {
        let now = now_micros();
        for leaf in walk::Walker::new(&self.root)? {
            let (_, path) = leaf?;
            match slot::list(&path) {
                Ok(l) if l.has_key && l.newest().is_some_and(|v| !v.expired(now)) => return Ok(false),
                Ok(_) => {}
                Err(e) if slot::is_gone(&e) => {}
                Err(e) => return Err(Error::io(e, "list slot folder", &path)),
            }
        }
        Ok(true)
    }

    fn clear(&self) -> Result<()> {
        self.verified.forget_all();
        let entries = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if slot::is_gone(&e) => {
                return fs::create_dir_all(&self.root)
                    .map_err(|e| Error::io(e, "create data folder", &self.root));
            }
            Err(e) => return Err(Error::io(e, "list data folder", &self.root)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(e, "list data folder", &self.root))?;
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let mut attempt = 0;
            loop {
                let res = if is_dir { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
                match res {
                    Ok(()) => break,
                    Err(e) if slot::is_gone(&e) => break,
                    // A concurrent writer refilled a folder while it was emptied: again.
                    Err(_) if attempt + 1 < 8 => {
                        slot::backoff(attempt);
                        attempt += 1;
                    }
                    Err(e) => return Err(Error::io(e, "remove", &path)),
                }
            }
        }
        Ok(())
    }

    fn scan(&self) -> Result<RecordIter> {
        Ok(Box::new(walk::Records::new(&self.root, Want::Newest)?))
    }

    fn scan_keys(&self) -> Result<RecordIter> {
        Ok(Box::new(walk::Records::new(&self.root, Want::Key)?))
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let mut path = self.slot_path(digest);
        slot::versions(&mut path, digest, key)
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        Ok(Box::new(walk::Metas::new(&self.root)?))
    }

    /// The allocated size of every file and folder under the data folder.
    fn disk_usage(&self) -> Result<Option<u64>> {
        walk::disk_usage(&self.root).map(Some)
    }

    /// Nothing to do: every write is complete (renamed into place) when `put`
    /// returns. Without [`PairtreeOptions::fsync`] nothing is synced to disk,
    /// like the Python library.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
