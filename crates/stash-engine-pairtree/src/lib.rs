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
//!                 ├── .base.1732700000000517.4242  a replace in progress (see "Interrupted replaces")
//!                 └── .tmp.4243.17                 a write in flight (ignored by readers)
//! ```
//!
//! Versions are ordered numerically by `(micros, pid)` parsed from the file
//! name (the Python library compares the names as strings, which misorders
//! pids of different lengths); names that do not parse are ignored.
//!
//! # Clocks
//!
//! A version's micros come from this process's clock, or are the newest
//! existing version's plus one when the clock is behind it (another host's
//! clock, a step back of this one): a write always sorts after the versions
//! it replaces or appends to, whatever the clocks say, and the name keeps the
//! Python library's `<micros>.<pid>` form. A version stamped after the year
//! 9999 cannot be followed; a writer removes it.
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
//!   and a writer that finds `.key` gone after its rename writes it again;
//! - the conditional delete of eviction, `prune` and `pop`
//!   ([`Engine::delete_unless_rewritten`]) removes only the versions stamped at
//!   or before the stamp it was given, and the slot only if no version is left:
//!   a write after the scan (named after every version the scan saw) survives;
//! - [`Engine::put_if_absent`] checks for a live entry and writes under a
//!   claim: a file lock in `<stash folder>/.locks` named after the key's
//!   digest (derived from it, so never the lock [`Engine::try_lock`] takes on
//!   that digest), held by one caller per key across threads and processes
//!   and released by the kernel if its process dies. A `.key` created
//!   exclusively would not do: an expired entry, a damaged slot and a slot
//!   left with only `.key` by a crash all hold one already. Of callers racing
//!   on a missing key exactly one stores; a plain `put` or `delete` racing it
//!   takes no claim and lands before or after it, as with any other write. A
//!   claim not given up within [`CLAIM_WAIT`] is an error of kind `Unavailable`.
//!
//! # Interrupted replaces
//!
//! A replacing write renames its version in, then deletes the versions it
//! replaces: killed in between, it would leave them in the history
//! (`get_all`, `versions()`, the count of `scan_meta`) although `get` already
//! returns the new value. So a replace over a slot that holds versions first
//! creates an empty marker `.base.<its version name>`, then renames its
//! version in, deletes the older versions and removes the markers naming its
//! version or older ones. The rule for readers: versions older than the
//! newest version named by a marker **that exists** are hidden; a marker whose
//! version does not exist (a write killed before its rename, or one in flight)
//! hides nothing. After any kill the history is the old one or the new one.
//! A later write removes the hidden versions, a later replace (or a delete)
//! the markers. A first write, an append and a write to an empty slot create
//! no marker: they hide nothing. The marker costs a replacing `set` four
//! syscalls (create and close it, one `fcntl`, remove it) out of about 25.
//! The Python library ignores dotfiles, so it reads the layout as before
//! (without the hiding rule: after a killed replace, its history shows the
//! replaced versions, as it always did).
//!
//! Temporary files older than [`STALE_TMP_AGE`] were left by a crash: a write
//! to the slot, a delete of it and a metadata walk (`stats`, `prune`,
//! eviction) remove them.
//!
//! # Damaged slots
//!
//! A slot's `.key` is checked on every read: a key file that is not the
//! requested key is an error of kind `Corrupt` naming the file, never another
//! key's value. A write or a delete tells two cases apart by the slot's name,
//! which is the digest of the key stored there:
//!
//! - a key file whose digest under the stash's digest algorithm is the slot's
//!   name holds a real key that collides with the requested one: it is never
//!   overwritten nor removed for another key (`Corrupt`, as for reads);
//! - any other content (empty, truncated, garbage, a link, a folder) is
//!   damage: a write of the requested key repairs the slot (it removes the
//!   versions, whose key is unknown, and writes `.key` and the value; an
//!   append starts a new history), and a delete removes it.
//!
//! # Bounds
//!
//! No file's size sizes memory: a version or key file larger than the stash's
//! `max_value_bytes` plus room for the encoding's overhead (half as much
//! again plus 64 KiB) is an error of kind `TooLarge` naming the file, found
//! before it is read; the other entries stay readable, and a write replaces it.
//!
//! # Symbolic links
//!
//! The layout never holds links, and the engine follows none below
//! `data.db`: a slot whose folders (`aa`, `bb`, `cc` or the slot itself)
//! include a link is refused by reads, writes and deletes (kind `Corrupt`,
//! naming the link), so nothing is read, written or removed outside the
//! stash; a `.key` or version file that is a link is refused by reads, and
//! replaced or unlinked (never followed) by writes and deletes; walks (`len`,
//! iteration, `clear`) skip linked folders, and `clear` unlinks them. `data.db`
//! itself and the folders above it may be links. A process reading a key it
//! has already read checks its folders once.
//!
//! # Iteration
//!
//! `items()`, `keys()` and `values()` walk the tree in folder order, not in
//! key or write order. So do `len()`, `stats()` and the metadata walks of
//! `prune` and eviction. A walk that has yielded 4 items while at least 16
//! top folders (`aa`) are left starts helper threads (as many as
//! [`PairtreeOptions::walk_threads`] allows: by default one fewer than the
//! cores, at most 3): each walker, the caller's included, claims the next
//! unwalked top folder, and helpers hand their items to the caller in pages
//! through a bounded channel (at most 4 pages of 32 items or 256 KiB each per
//! walk). A walk is bound by the kernel's path lookups, which cores do side
//! by side: on 2 cores, two threads iterated 1.9× as many records a second as
//! one, for the same CPU time in all. Dropping an iteration stops its helpers
//! at their next item; a helper that panics ends the walk with an error of
//! kind `Backend`.
//!
//! # Locks
//!
//! [`Engine::try_lock`] takes a file lock in `<stash folder>/.locks`, beside
//! `data.db` (never inside it, so walks and `clear` never see it), shared by
//! every process on the machine; see [`stash_engine_api::locks`].
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
//! let mut config = StashConfig::default();
//! config.root_dir = dir.path().into();
//! config.compress = stash_core::Compression::Raw;
//! let stash = Stash::open(config, Arc::new(Pairtree))?;
//! stash.set("cat", &"meow")?;
//! assert_eq!(stash.get::<_, String>("cat")?.as_deref(), Some("meow"));
//! assert!(stash.path().ends_with("pairtree.hashstash.raw/data.db"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod dirfd;
mod python;
mod scan;
mod slot;
mod walk;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stash_engine_api::clock::now_micros;
use stash_engine_api::{
    Capabilities, Digest, Engine, EngineContext, EngineFactory, EngineOptions, Error, Layout, LockAttempt,
    MetaIter, OptionReader, OptionWriter, RecordIter, Result, Version, WriteOptions,
};
use stash_engine_api::{DEFAULT_MAX_VALUE_BYTES, LOCKS_NAME};

use slot::{KEY_FILE, KeyState, Listing, RETRIES, Rules, VersionName, Want, Written};

/// How old a temporary file `.tmp.<pid>.<n>` must be (by its modification
/// time) before writes, deletes and metadata walks remove it as left by a
/// crash: 10 minutes. A write in flight modifies its file far more often.
pub const STALE_TMP_AGE: Duration = Duration::from_secs(10 * 60);

/// How long [`Engine::put_if_absent`] waits for another caller's claim on the
/// same key (see "Concurrency") before failing with kind `Unavailable`: 30 s.
/// A claim is held for one check and one write.
pub const CLAIM_WAIT: Duration = Duration::from_secs(30);

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

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        PairtreeOptions::default().open(context)
    }

    fn python_layout(&self) -> bool {
        true
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
/// let mut config = StashConfig::default();
/// config.root_dir = dir.path().into();
/// let stash = Stash::open(config, Arc::new(PairtreeOptions::new().fsync(true)))?;
/// stash.set("durable", &1)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairtreeOptions {
    fsync: bool,
    walk_threads: usize,
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

    /// How many threads one walk of the tree (`items()`, `keys()`, `values()`,
    /// `len()`, `stats()`, `prune`) may use, the caller's included: 0 (the
    /// default) picks as many as there are cores, at most 4; 1 walks on the
    /// caller's thread only; more than 16 count as 16. Helpers start only once
    /// a walk has yielded a few items and at least 16 top folders are left
    /// (see "Iteration"), so short walks never start a thread.
    pub fn walk_threads(mut self, threads: usize) -> Self {
        self.walk_threads = threads;
        self
    }

    /// These options with the settings of `options` over them: `fsync` (`true`,
    /// `false`) and `walk_threads` (a number, as [`walk_threads`](Self::walk_threads)).
    /// An unknown name or a bad value is a `Config` error.
    pub fn with_options(self, options: &EngineOptions) -> Result<PairtreeOptions> {
        let mut read = OptionReader::new("pairtree", options);
        let fsync = read.get("fsync")?.unwrap_or(self.fsync);
        let walk_threads = read.get("walk_threads")?.unwrap_or(self.walk_threads);
        read.finish()?;
        Ok(PairtreeOptions { fsync, walk_threads })
    }
}

impl EngineFactory for PairtreeOptions {
    fn name(&self) -> &'static str {
        "pairtree"
    }

    fn display_name(&self) -> &'static str {
        "Pairtree"
    }

    fn options(&self) -> EngineOptions {
        OptionWriter::new().set("fsync", self.fsync, false).set("walk_threads", self.walk_threads, 0).finish()
    }

    /// Opens the store. The layout already is the Python library's; in the Python
    /// layout, keys are recompressed as the Python library compresses them where its
    /// compressor differs (lz4, see `docs/interop.md`).
    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        let engine = PairtreeEngine::open_in(context, self.with_options(&context.options)?)?;
        match &context.layout {
            Layout::Python(encoding) if encoding.recompresses_python_keys() => {
                Ok(Arc::new(python::PythonKeys { inner: engine, encoding: encoding.clone() }))
            }
            _ => Ok(Arc::new(engine)),
        }
    }

    fn python_layout(&self) -> bool {
        true
    }
}

/// A pairtree store rooted at one `data.db` folder.
#[derive(Debug)]
pub struct PairtreeEngine {
    root: PathBuf,
    options: PairtreeOptions,
    rules: Rules,
    verified: Verified,
}

/// Slots whose `.key` file (and folders, see "Symbolic links") this process
/// has already checked for the key asked for, with a 64-bit hash of that key:
/// a later `get` of the same key skips re-reading `.key` (one open and read
/// fewer). A slot's key cannot change under a live entry (a `put` with another
/// real key is refused), so the check stays as strong as reading the file,
/// short of a digest collision written by another process after a delete.
/// Bounded: emptied when it grows past [`Verified::CAPACITY`] slots.
#[derive(Debug, Default)]
struct Verified(
    std::sync::RwLock<std::collections::HashMap<Digest, u64, stash_engine_api::digest::BuildDigestHasher>>,
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
    /// Opens (creating if needed) the store in the folder `root`, with the
    /// default `max_value_bytes` (1 GiB) bounding the files it reads and any
    /// known digest algorithm naming slots (see "Damaged slots"). A stash opens
    /// its engine with [`open_in`](Self::open_in) instead.
    pub fn open(root: &Path, options: PairtreeOptions) -> Result<PairtreeEngine> {
        Self::create(root, options, Rules::new(DEFAULT_MAX_VALUE_BYTES, None))
    }

    /// Opens (creating if needed) the store in the folder
    /// [`context.path`](EngineContext::path): the context's `max_value_bytes`
    /// bounds the files read, its digest algorithm tells a damaged key file from
    /// another key's.
    pub fn open_in(context: &EngineContext, options: PairtreeOptions) -> Result<PairtreeEngine> {
        Self::create(&context.path, options, Rules::new(context.max_value_bytes, Some(context.digest)))
    }

    fn create(root: &Path, options: PairtreeOptions, rules: Rules) -> Result<PairtreeEngine> {
        fs::create_dir_all(root).map_err(|e| Error::io(e, "create data folder", root))?;
        Ok(PairtreeEngine { root: root.to_path_buf(), options, rules, verified: Verified::default() })
    }

    /// The `data.db` folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A scan of every slot reading what `visitor` reads, on the threads the options allow.
    fn scan_with<V: scan::Visit>(&self, visitor: V) -> Result<scan::Scan<V>> {
        scan::Scan::new(&self.root, visitor, scan::WalkThreads::new(self.options.walk_threads))
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

    /// The folder of the lock files: `.locks` beside `data.db`.
    fn locks_dir(&self) -> PathBuf {
        self.root.parent().unwrap_or(&self.root).join(LOCKS_NAME)
    }

    /// The slot folder of `digest`, refused if a link is on its way (see "Symbolic links").
    fn checked_slot(&self, digest: &Digest) -> Result<PathBuf> {
        let dir = self.slot_path(digest);
        slot::check_folders(&dir).map_err(|e| e.with_context("digest", digest))?;
        Ok(dir)
    }

    /// Lists the slot folder `dir` (`None` if it is not there).
    fn listing(&self, dir: &Path) -> Result<Option<Listing>> {
        match slot::list(dir) {
            Ok(l) => Ok(Some(l)),
            Err(e) if slot::is_gone(&e) => Ok(None),
            Err(e) => Err(Error::io(e, "list slot folder", dir)),
        }
    }

    /// Removes the named files of the slot folder `dir`.
    fn remove_versions<'a>(
        &self,
        dir: &mut PathBuf,
        versions: impl IntoIterator<Item = &'a VersionName>,
        action: &str,
    ) -> Result<()> {
        for v in versions {
            dir.push(&v.name);
            let removed = slot::remove_file(dir, action);
            dir.pop();
            removed?;
        }
        Ok(())
    }

    /// Deletes every version of the slot at `dir` but the newest one listed,
    /// then the replace markers naming it or older ones (see "Interrupted
    /// replaces"); writes `.key` back if a concurrent delete removed it.
    fn prune(&self, dir: &mut PathBuf, key: &[u8]) -> Result<()> {
        let Some(listing) = self.listing(dir)? else { return Ok(()) }; // deleted after our write
        let Some(newest) = listing.newest() else { return Ok(()) };
        self.remove_versions(dir, listing.versions.iter().filter(|v| *v < newest), "remove old version")?;
        self.remove_markers(dir, listing.bases.iter().filter(|b| *b <= newest))?;
        if !listing.has_key {
            slot::write_atomic(dir, KEY_FILE, key, self.options.fsync)?;
        }
        Ok(())
    }

    /// Removes the replace markers of the named versions from the slot folder `dir`.
    fn remove_markers<'a>(
        &self,
        dir: &mut PathBuf,
        bases: impl IntoIterator<Item = &'a VersionName>,
    ) -> Result<()> {
        for b in bases {
            dir.push(slot::marker_name(&b.name));
            let removed = slot::remove_file(dir, "remove replace marker");
            dir.pop();
            removed?;
        }
        Ok(())
    }

    /// Removes what is left in the slot folder `dir` (versions, replace markers, stale
    /// temporary files), then the folder and the parents it emptied. A folder a
    /// writer got into again, or holding a stray file, stays.
    fn remove_slot(&self, dir: &mut PathBuf) -> Result<()> {
        let Some(listing) = self.listing(dir)? else { return Ok(()) };
        self.remove_versions(dir, &listing.versions, "remove version file")?;
        self.remove_markers(dir, &listing.bases)?;
        slot::remove_stale_tmps(dir, &listing.tmps);
        if fs::remove_dir(&*dir).is_ok() {
            self.prune_parents(dir);
        }
        Ok(())
    }

    /// Removes empty folders from the slot's parent up to (not including) the root.
    fn prune_parents(&self, dir: &mut PathBuf) {
        for _ in 0..3 {
            if !dir.pop() || *dir == self.root || fs::remove_dir(&*dir).is_err() {
                return;
            }
        }
    }

    /// The slot of `digest` for a delete of `key`, with its listing, if it holds
    /// a complete entry that is `key`'s or damaged; a real other key is an error.
    fn slot_to_delete(&self, digest: &Digest, key: &[u8]) -> Result<Option<(PathBuf, Listing, KeyState)>> {
        let mut dir = self.checked_slot(digest)?;
        let Some(listing) = self.listing(&dir)? else { return Ok(None) };
        if !listing.has_key || listing.versions.is_empty() {
            return Ok(None);
        }
        match slot::key_state(&mut dir, &listing, key, digest, &self.rules)? {
            KeyState::Missing => Ok(None), // removed by a concurrent delete
            state => Ok(Some((dir, listing, state))),
        }
    }

    fn put_slot(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        let fsync = self.options.fsync;
        let mut dir = self.checked_slot(digest)?;
        let listing = self.listing(&dir)?.unwrap_or_default();
        slot::remove_stale_tmps(&mut dir, &listing.tmps);
        let state = slot::key_state(&mut dir, &listing, key, digest, &self.rules)?;
        let damaged = state == KeyState::Damaged;
        // A damaged slot's versions belong to a key nobody can name: the slot
        // starts over. Versions stamped past any real time cannot be followed.
        // Versions a replace marker hides were replaced already (see "Interrupted replaces").
        let base = listing.base();
        let (doomed, kept): (Vec<&VersionName>, Vec<&VersionName>) = listing
            .versions
            .iter()
            .partition(|v| damaged || v.micros > slot::MAX_STAMP || base.is_some_and(|b| *v < b));
        self.remove_versions(&mut dir, doomed, "remove a version that cannot be kept")?;
        let newest = kept.into_iter().max();
        // Appending to an expired entry starts a new history.
        let append = options.append && !newest.is_some_and(|v| v.expired(now_micros()));
        // Named after every version listed: a write wins over what it replaces, whatever the clocks say.
        let micros = slot::stamp_after(newest.map(|v| v.micros));
        let name = VersionName::format(micros, std::process::id(), options.expires_at_micros);
        // A replace over versions marks itself first, so a kill before its
        // prune leaves the replaced versions hidden (see "Interrupted replaces").
        let marker = match newest {
            Some(_) if !append => {
                let marker = slot::marker_name(&name);
                slot::create_marker(&mut dir, &marker, fsync)?.then_some(marker)
            }
            _ => None,
        };
        let mut key_written = state == KeyState::Matches;
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
            if let Some(marker) = &marker {
                dir.push(marker);
                let _ = fs::remove_file(&dir); // names no version: harmless if left
                dir.pop();
            }
            return Err(Error::new(
                stash_engine_api::ErrorKind::Io,
                format!("the slot folder kept vanishing under the writer ({RETRIES} attempts)"),
            )
            .with_context("file", dir.display()));
        }
        if !append {
            self.prune(&mut dir, key)?;
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

    /// The name of the claim lock of `put_if_absent` on `digest`: derived from
    /// it, so it never is the lock a caller of [`Engine::try_lock`] takes on
    /// the digest itself (function results lock a key while computing it).
    fn claim_name(digest: &Digest) -> Digest {
        let mut bytes = Vec::with_capacity(48);
        bytes.extend_from_slice(b"pairtree put_if_absent claim ");
        bytes.extend_from_slice(digest.as_bytes());
        stash_engine_api::DigestAlgo::Md5.digest(&bytes)
    }

    /// Takes the claim of `put_if_absent` on `digest`, waiting at most [`CLAIM_WAIT`].
    fn claim(&self, digest: &Digest) -> Result<Box<dyn stash_engine_api::HeldLock>> {
        let dir = self.locks_dir();
        let name = Self::claim_name(digest);
        let deadline = Instant::now() + CLAIM_WAIT;
        let mut attempt = 0;
        loop {
            match stash_engine_api::locks::try_lock_file(&dir, &name)? {
                LockAttempt::Acquired(held) => return Ok(held),
                LockAttempt::Busy if Instant::now() < deadline => {
                    slot::backoff(attempt);
                    attempt = (attempt + 1).min(8);
                }
                _ => {
                    return Err(Error::new(
                        stash_engine_api::ErrorKind::Unavailable,
                        format!(
                            "another caller kept its put_if_absent claim on this key for {} s",
                            CLAIM_WAIT.as_secs()
                        ),
                    )
                    .with_context("file", dir.display()));
                }
            }
        }
    }

    fn put_if_absent_slot(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        let _claim = self.claim(digest)?;
        let mut dir = self.checked_slot(digest)?;
        if let Some(listing) = self.listing(&dir)?
            && listing.has_key
            && listing.newest().is_some_and(|v| !v.expired(now_micros()))
        {
            // A live entry: refused if it is this key's; another real key's is
            // an error; a damaged or vanished `.key` is no entry (the write repairs it).
            if slot::key_state(&mut dir, &listing, key, digest, &self.rules)? == KeyState::Matches {
                return Ok(false);
            }
        }
        self.put_slot(digest, key, value, options)?;
        Ok(true)
    }

    fn delete_slot(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        self.verified.forget(digest);
        let Some((mut dir, listing, _)) = self.slot_to_delete(digest, key)? else { return Ok(false) };
        // An expired entry is removed too, but was not there for the caller.
        let present = !listing.newest().is_some_and(|v| v.expired(now_micros()));
        // `.key` first: from here on the slot reads as absent.
        dir.push(KEY_FILE);
        let removed = slot::remove_file(&dir, "remove key file");
        dir.pop();
        let removed_key = removed?;
        self.remove_slot(&mut dir)?;
        Ok(present && removed_key)
    }

    fn delete_seen(&self, digest: &Digest, key: &[u8], seen: i64) -> Result<bool> {
        self.verified.forget(digest);
        let Some((mut dir, listing, state)) = self.slot_to_delete(digest, key)? else { return Ok(false) };
        if listing.versions.iter().any(|v| v.micros > seen) {
            return Ok(false); // written since the scan
        }
        // The versions the caller saw go first, while `.key` keeps the entry
        // whole for a concurrent writer (whose version is named after them).
        self.remove_versions(&mut dir, &listing.versions, "remove version file")?;
        let Some(after) = self.listing(&dir)? else { return Ok(false) };
        if !after.versions.is_empty() {
            return Ok(false); // written meanwhile
        }
        dir.push(KEY_FILE);
        let removed = slot::remove_file(&dir, "remove key file");
        dir.pop();
        let removed = removed?;
        let Some(last) = self.listing(&dir)? else { return Ok(removed) };
        if !last.versions.is_empty() {
            // A write landed between the check and the removal of `.key`: it
            // keeps its entry (its writer also puts `.key` back if it looks after us).
            if removed && state == KeyState::Matches {
                slot::write_atomic(&mut dir, KEY_FILE, key, self.options.fsync)?;
            }
            return Ok(false);
        }
        self.remove_slot(&mut dir)?;
        Ok(removed)
    }
}

impl Engine for PairtreeEngine {
    fn name(&self) -> &'static str {
        "pairtree"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_persistence().with_multi_process()
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let trusted = self.verified.knows(digest, key);
        let mut path = if trusted { self.slot_path(digest) } else { self.checked_slot(digest)? };
        let want = if trusted { Want::NewestTrusted } else { Want::Newest };
        let found = slot::read(&mut path, None, digest, Some(key), want, &self.rules)?;
        if found.is_some() && !trusted {
            self.verified.remember(digest, key);
        }
        Ok(found.map(|d| d.value))
    }

    /// Stores a version named after every version listed (see "Clocks"),
    /// repairing a damaged slot (see "Damaged slots").
    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        self.put_slot(digest, key, value, options).map_err(|e| e.with_context("digest", digest))
    }

    /// Stores unless a live entry holds `key`, under a claim: a file lock in
    /// `<stash folder>/.locks` (see "Concurrency") held for the check and the
    /// write, so of callers racing in any process exactly one stores.
    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        self.put_if_absent_slot(digest, key, value, options).map_err(|e| e.with_context("digest", digest))
    }

    /// Removes the entry, or a damaged slot; another real key's is an error.
    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        self.delete_slot(digest, key).map_err(|e| e.with_context("digest", digest))
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let mut path = self.checked_slot(digest)?;
        Ok(slot::read(&mut path, None, digest, Some(key), Want::Exists, &self.rules)?.is_some())
    }

    fn len(&self) -> Result<usize> {
        self.scan_with(scan::Live { now: now_micros() })?.try_fold(0, |n, live| live.map(|()| n + 1))
    }

    fn is_empty(&self) -> Result<bool> {
        Ok(self.scan_with(scan::Live { now: now_micros() })?.next().transpose()?.is_none())
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
            // A link is unlinked, never followed.
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
        Ok(Box::new(self.scan_with(scan::Records { want: Want::Newest, rules: self.rules })?))
    }

    fn scan_keys(&self) -> Result<RecordIter> {
        Ok(Box::new(self.scan_with(scan::Records { want: Want::Key, rules: self.rules })?))
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let mut path = self.checked_slot(digest)?;
        slot::versions(&mut path, digest, key, &self.rules)
    }

    /// Also removes stale temporary files from the slots it walks.
    fn scan_meta(&self) -> Result<MetaIter> {
        Ok(Box::new(self.scan_with(scan::Metas { rules: self.rules })?))
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

    /// Atomic per version file: removes the versions stamped at or before
    /// `seen_written_at_micros`, then the slot only if no version is left (see
    /// "Concurrency"). Returns true if this call removed the entry's `.key`.
    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        self.delete_seen(digest, key, seen_written_at_micros).map_err(|e| e.with_context("digest", digest))
    }

    /// A file lock in `<stash folder>/.locks` (see "Locks"); `lease` is not
    /// needed: the kernel releases the lock of a process that dies.
    fn try_lock(&self, name: &Digest, _lease: Duration) -> Result<LockAttempt> {
        stash_engine_api::locks::try_lock_file(&self.locks_dir(), name)
    }
}
