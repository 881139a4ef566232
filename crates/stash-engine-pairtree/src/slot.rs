//! One slot (the leaf folder of one key): version names, listing, reading and
//! writing its files, and the checks every operation makes on them.

use std::fs;
use std::io::{self, Read as _, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::SystemTime;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::FileType;
use stash_engine_api::clock::unique_micros;
use stash_engine_api::engine::key_mismatch;
use stash_engine_api::{Digest, DigestAlgo, Error, ErrorKind, Result, Version};

/// The file holding the encoded key inside a slot folder.
pub(crate) const KEY_FILE: &str = ".key";

/// Prefix of temporary files; readers ignore every name starting with it.
pub(crate) const TMP_PREFIX: &str = ".tmp";

/// Prefix of the marker `.base.<version name>` a replacing write leaves while
/// it replaces (see "Interrupted replaces" in the crate docs).
pub(crate) const BASE_PREFIX: &str = ".base.";

/// How many times a reader lists a slot again after a file it listed vanished
/// (a concurrent replace or delete), and a writer retries after its folder vanished.
pub(crate) const RETRIES: usize = 32;

/// The latest version stamp a writer names its version after: a version
/// stamped later (after the year 9999) cannot be real, and a writer removes it
/// rather than follow it toward the end of `i64`.
pub(crate) const MAX_STAMP: i64 = 253_402_300_799_999_999;

/// Makes temporary names unique within this process (the pid makes them unique across processes).
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The last stamp [`stamp_after`] gave out ahead of the clock.
static AHEAD: AtomicI64 = AtomicI64::new(i64::MIN);

/// What an engine enforces on the files it reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// The largest file read, version or key (see [`stored_limit`]).
    pub max_file_bytes: u64,
    /// The algorithm that names this stash's slots; `None` when unknown (any known one).
    pub digest: Option<DigestAlgo>,
}

impl Rules {
    pub fn new(max_value_bytes: u64, digest: Option<DigestAlgo>) -> Rules {
        Rules { max_file_bytes: stored_limit(max_value_bytes), digest }
    }

    /// Whether `stored` key bytes name the slot `digest` (so they are a real key, not damage).
    fn names_slot(&self, stored: &[u8], digest: &Digest) -> bool {
        match self.digest {
            Some(algo) => algo.digest(stored) == *digest,
            None => [DigestAlgo::Md5, DigestAlgo::Blake3].iter().any(|a| a.digest(stored) == *digest),
        }
    }
}

/// The largest stored file a stash with this `max_value_bytes` reads: half as
/// much again plus 64 KiB, room for base64 (4/3) over the worst-case expansion
/// of every codec (well under 1% plus a header). The stash refuses a decoded
/// value over `max_value_bytes` anyway; this bound keeps a file's size (a
/// sparse file claims any) from sizing memory before it gets there.
pub(crate) fn stored_limit(max_value_bytes: u64) -> u64 {
    max_value_bytes.saturating_add(max_value_bytes / 2).saturating_add(64 * 1024)
}

/// What a listed name is, from the type the listing reports (no `stat` on
/// filesystems that report types, such as ext4, xfs, btrfs and tmpfs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// A regular file.
    #[default]
    File,
    /// A symbolic link: never followed.
    Link,
    /// A folder, fifo, socket or device: never read (a fifo would block).
    Other,
}

impl Kind {
    fn of(listed: FileType) -> Kind {
        match listed {
            FileType::Symlink => Kind::Link,
            FileType::RegularFile => Kind::File,
            // Vanished since it was listed: reading it says so.
            FileType::Unknown => Kind::File,
            _ => Kind::Other,
        }
    }
}

/// Refuses to read a listed file that is not a regular file (kind `Corrupt`, naming it).
pub(crate) fn check_kind(kind: Kind, path: &Path) -> Result<()> {
    if kind == Kind::File { Ok(()) } else { Err(kind_error(kind, path)) }
}

/// The error [`check_kind`] gives for a `kind` other than `File`.
fn kind_error(kind: Kind, path: &Path) -> Error {
    let message = if kind == Kind::Link {
        "a symbolic link where the layout has a file: refused (links below data.db are never followed)"
    } else {
        "not a regular file where the layout has one: refused"
    };
    Error::new(ErrorKind::Corrupt, message).with_context("file", path.display())
}

/// `f` of the path of the file `name` in the folder `dir` (restored on
/// return): errors name the file, and only they build its path.
fn at_file<T>(dir: &mut PathBuf, name: &str, f: impl FnOnce(&Path) -> T) -> T {
    dir.push(name);
    let out = f(dir);
    dir.pop();
    out
}

/// Refuses a slot whose folders (`aa`, `aa/bb`, `aa/bb/cc`, the slot itself)
/// include a symbolic link (kind `Corrupt`, naming it), so no operation reads,
/// writes or removes through one. One `lstat` per level, from the top; a
/// missing level ends the check (nothing below it exists).
pub(crate) fn check_folders(slot: &Path) -> Result<()> {
    let mut levels = [slot; 4];
    for (i, level) in slot.ancestors().take(4).enumerate() {
        levels[3 - i] = level;
    }
    for level in levels {
        match fs::symlink_metadata(level) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    "a symbolic link where the layout has a folder: refused (links below data.db are never followed)",
                )
                .with_context("file", level.display()));
            }
            Ok(_) => {}
            // Missing (nothing below exists), or an error the operation itself reports.
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// A version file name `<micros>.<pid>`, or `<micros>.<pid>.x<expiry micros>`
/// for a write with an expiry, ordered numerically by `(micros, pid)` (the
/// name breaks ties between spellings such as `0999.1` and `999.1`).
/// The Python library reads the timestamp before the first dot, so it reads
/// expiring versions too (and ignores their expiry).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct VersionName {
    pub micros: i64,
    pub pid: u64,
    pub expires: Option<i64>,
    pub name: String,
    /// What the listing says the file is.
    pub kind: Kind,
}

impl VersionName {
    /// The file name for a version written now-ish.
    pub fn format(micros: i64, pid: u32, expires: Option<i64>) -> String {
        match expires {
            None => format!("{micros}.{pid}"),
            Some(at) => format!("{micros}.{pid}.x{at}"),
        }
    }

    /// Whether this version's expiry has passed at `now`.
    pub fn expired(&self, now: i64) -> bool {
        stash_engine_api::clock::is_expired(self.expires, now)
    }
}

/// The stamp of a version written now over `newest` (the newest version's
/// stamp, if any): the clock ([`unique_micros`]), or `newest + 1` when the
/// clock is behind it (another host's clock, a step back of this one), so a
/// write always sorts after what it replaces or appends to. Stamps given out
/// ahead of the clock are distinct within this process too.
pub(crate) fn stamp_after(newest: Option<i64>) -> i64 {
    let now = unique_micros();
    let floor = match newest.and_then(|m| m.checked_add(1)) {
        Some(floor) if floor > now => floor,
        _ => return now,
    };
    let mut last = AHEAD.load(Ordering::Relaxed);
    loop {
        let next = floor.max(last.saturating_add(1));
        match AHEAD.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// Parses `<micros>.<pid>[.x<expiry>]` (ASCII digits only); `None` for anything
/// else, including `.key` and `.tmp.*`.
pub(crate) fn parse_version(name: &str) -> Option<(i64, u64, Option<i64>)> {
    let (micros, rest) = name.split_once('.')?;
    let (pid, expires) = match rest.split_once(".x") {
        Some((pid, at)) => (pid, Some(at)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(micros) || !digits(pid) || !expires.is_none_or(digits) {
        return None;
    }
    let expires = match expires {
        Some(at) => Some(at.parse().ok()?),
        None => None,
    };
    Some((micros.parse().ok()?, pid.parse().ok()?, expires))
}

/// What a slot folder holds, as one listing saw it.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// A `.key` file was listed.
    pub has_key: bool,
    /// What `.key` is, when listed.
    pub key_kind: Kind,
    /// Every parseable version, in directory order (unsorted).
    pub versions: Vec<VersionName>,
    /// Temporary files (`.tmp.<pid>.<n>`): writes in flight, or left by a crash.
    pub tmps: Vec<String>,
    /// The versions named by replace markers (`.base.<version name>`), in
    /// directory order; `name` is the version's name, not the marker's.
    pub bases: Vec<VersionName>,
}

impl Listing {
    /// The newest version (numerically), if any.
    pub fn newest(&self) -> Option<&VersionName> {
        self.versions.iter().max()
    }

    /// The newest version named by a replace marker that exists: the versions
    /// older than it were replaced by it (a replace killed before it deleted them).
    pub fn base(&self) -> Option<&VersionName> {
        self.bases.iter().filter_map(|b| self.versions.iter().find(|v| v.name == b.name)).max()
    }

    /// Drops the versions a replace marker hides (see [`base`](Self::base)).
    pub fn hide_replaced(&mut self) {
        if let Some(base) = self.base().cloned() {
            self.versions.retain(|v| *v >= base);
        }
    }
}

/// The file name of the replace marker of the version `name`.
pub(crate) fn marker_name(name: &str) -> String {
    format!("{BASE_PREFIX}{name}")
}

/// Creates the (empty) replace marker `marker` in the slot folder `dir`
/// (restored on return), synced with its folder when `fsync`. False if the
/// folder is not there (no version to hide: nothing to mark).
pub(crate) fn create_marker(dir: &mut PathBuf, marker: &str, fsync: bool) -> Result<bool> {
    dir.push(marker);
    let created = fs::File::create_new(&*dir);
    let res = match created {
        Ok(_) => Ok(true),
        Err(e) if is_gone(&e) => Ok(false),
        // A name no other writer uses (the version's, unique): a leftover is as good.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(true),
        Err(e) => Err(Error::io(e, "create replace marker", dir)),
    };
    dir.pop();
    if fsync && matches!(res, Ok(true)) {
        sync_dir(dir)?;
    }
    res
}

/// Lists a slot folder: one listing, no `stat` where the filesystem reports file types.
pub(crate) fn list(dir: &Path) -> io::Result<Listing> {
    list_fd(&crate::dirfd::open_dir(None, dir)?)
}

/// Lists the open slot folder `dir` (see [`list`]).
fn list_fd(dir: &OwnedFd) -> io::Result<Listing> {
    let mut listing = Listing::default();
    let mut buf = [std::mem::MaybeUninit::uninit(); crate::dirfd::SLOT_LIST_BUF];
    crate::dirfd::list(dir, &mut buf, |name, listed| {
        let Ok(name) = name.to_str() else { return };
        if name == KEY_FILE {
            listing.has_key = true;
            listing.key_kind = Kind::of(listed);
        } else if let Some(version) = name.strip_prefix(BASE_PREFIX) {
            if let Some((micros, pid, expires)) = parse_version(version) {
                let (name, kind) = (version.to_owned(), Kind::of(listed));
                listing.bases.push(VersionName { micros, pid, expires, name, kind });
            }
        } else if let Some((micros, pid, expires)) = parse_version(name) {
            let kind = Kind::of(listed);
            listing.versions.push(VersionName { micros, pid, expires, name: name.to_owned(), kind });
        } else if name.strip_prefix(TMP_PREFIX).is_some_and(|rest| rest.starts_with('.')) {
            listing.tmps.push(name.to_owned());
        }
    })?;
    Ok(listing)
}

/// Removes the temporary files `tmps` of the slot folder `dir` (restored on
/// return) last modified more than [`STALE_TMP_AGE`](crate::STALE_TMP_AGE)
/// ago: left by a crash, as no write takes that long between two writes to its
/// file. Best effort: a file that cannot be removed is left. True if none is left.
pub(crate) fn remove_stale_tmps(dir: &mut PathBuf, tmps: &[String]) -> bool {
    let now = SystemTime::now();
    let mut all = true;
    for name in tmps {
        dir.push(name);
        let age = fs::symlink_metadata(&*dir).and_then(|m| m.modified()).map(|t| now.duration_since(t));
        let removed = match age {
            Ok(Ok(age)) if age > crate::STALE_TMP_AGE => match fs::remove_file(&*dir) {
                Ok(()) => true,
                Err(e) => is_gone(&e),
            },
            Err(e) => is_gone(&e),
            // Fresh (or modified in the future): a write in flight.
            Ok(_) => false,
        };
        all &= removed;
        dir.pop();
    }
    all
}

/// Bytes read before asking the file its size: most values fit, and then a
/// read costs open, read, close, without the `statx` of `fs::read`.
const FIRST_READ: usize = 8 * 1024;

/// Reads into `buf` (empty) until it holds at least `limit` bytes (its
/// capacity: `limit` or a little more) or a read comes back short. On a local
/// regular file a short read means end of file, which saves the extra read
/// that would return 0. Reads into the spare capacity (`rustix`): no zeroing
/// of the buffer first, which `std`'s `Read::read` needs (measured: zeroing
/// the 8 KiB first read was most of the user-space instructions per item of
/// an iterate over small records).
fn read_into(file: &fs::File, buf: &mut Vec<u8>, limit: usize) -> io::Result<()> {
    buf.reserve_exact(limit.saturating_sub(buf.len()));
    while buf.len() < limit {
        let spare = buf.capacity() - buf.len();
        match rustix::io::read(file, rustix::buffer::spare_capacity(buf)) {
            Ok(n) if n < spare => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn too_large(len: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "the file holds {len} bytes, more than a stored value of this stash may take \
             ({limit} bytes: max_value_bytes plus the encoding's overhead)"
        ),
    )
}

/// Reads a whole file of at most `limit` bytes in as few syscalls as
/// possible; a larger one is an error of kind `FileTooLarge` (see
/// [`read_error`]), found before anything is sized from it.
pub(crate) fn read_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_open_file(fs::File::open(path)?, limit)
}

/// [`read_file`] of a file already open.
fn read_open_file(mut file: fs::File, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_into(&file, &mut buf, FIRST_READ)?;
    if buf.len() >= FIRST_READ {
        // A large file: size the buffer once instead of doubling it, within the limit.
        let len = file.metadata()?.len();
        if len > limit {
            return Err(too_large(len, limit));
        }
        let more = usize::try_from(len).unwrap_or(usize::MAX).saturating_sub(buf.len()).saturating_add(1);
        buf.try_reserve_exact(more).map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e))?;
        // A file that grows meanwhile is read one byte past the limit, no further.
        let rest = limit.saturating_add(1).saturating_sub(buf.len() as u64);
        (&mut file).take(rest).read_to_end(&mut buf)?;
    } else if buf.capacity() > 2 * buf.len() {
        buf.shrink_to_fit();
    }
    if buf.len() as u64 > limit {
        return Err(too_large(buf.len() as u64, limit));
    }
    Ok(buf)
}

/// The stash error for a failed read of `path`: kind `TooLarge` for a file
/// over the limit, `Io` otherwise; both name the file.
pub(crate) fn read_error(err: io::Error, action: &str, path: &Path) -> Error {
    if err.kind() == io::ErrorKind::FileTooLarge {
        Error::new(ErrorKind::TooLarge, format!("cannot {action}: {err}"))
            .with_context("file", path.display())
    } else {
        Error::io(err, action, path)
    }
}

/// Reads a key file for comparison with `expected`: at most one byte more than
/// `expected`, enough to tell "equal" from "different"; the whole file (up to
/// `limit`) when there is nothing to compare with.
pub(crate) fn read_key_file(path: &Path, expected: Option<&[u8]>, limit: u64) -> io::Result<Vec<u8>> {
    read_open_key_file(fs::File::open(path)?, expected, limit)
}

/// [`read_key_file`] of a file already open.
fn read_open_key_file(file: fs::File, expected: Option<&[u8]>, limit: u64) -> io::Result<Vec<u8>> {
    let Some(expected) = expected else { return read_open_file(file, limit) };
    let mut buf = Vec::new();
    read_into(&file, &mut buf, expected.len() + 1)?;
    Ok(buf)
}

/// Whether an I/O error means the folder or file is not there (any more).
pub(crate) fn is_gone(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// Checks the stored key bytes against the requested ones.
pub(crate) fn check_key(stored: &[u8], key: &[u8], digest: &Digest, path: &Path) -> Result<()> {
    if stored == key {
        Ok(())
    } else if stored.is_empty() {
        Err(Error::new(ErrorKind::Corrupt, "the key file is empty (truncated or damaged)")
            .with_context("file", path.display())
            .with_context("digest", digest))
    } else {
        Err(key_mismatch(digest).with_context("file", path.display()))
    }
}

/// What a slot's `.key` holds, as a writer or a delete of one key sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyState {
    /// The requested key.
    Matches,
    /// No key file: a new slot, one a crash or a concurrent delete left without one.
    Missing,
    /// Not a key of this slot: empty, truncated, garbage, a link or not a
    /// regular file, or bytes whose digest is not the slot's name. A write
    /// repairs the slot, a delete removes it.
    Damaged,
}

/// Classifies `.key` of the slot folder `dir` (restored on return) for `key`.
///
/// A key file holding *another* key whose digest is this slot's name (a digest
/// collision, or a key written by a stash with other settings) is never
/// repaired or removed for `key`: that is a key mismatch error, as for reads.
pub(crate) fn key_state(
    dir: &mut PathBuf,
    listing: &Listing,
    key: &[u8],
    digest: &Digest,
    rules: &Rules,
) -> Result<KeyState> {
    if !listing.has_key {
        return Ok(KeyState::Missing);
    }
    if listing.key_kind != Kind::File {
        return Ok(KeyState::Damaged);
    }
    dir.push(KEY_FILE);
    let state = key_file_state(dir, key, digest, rules);
    dir.pop();
    state
}

fn key_file_state(path: &Path, key: &[u8], digest: &Digest, rules: &Rules) -> Result<KeyState> {
    let read_failed = |e: io::Error| read_error(e, "read key file", path).with_context("digest", digest);
    match read_key_file(path, Some(key), rules.max_file_bytes) {
        Ok(stored) if stored == key => return Ok(KeyState::Matches),
        Ok(_) => {}
        Err(e) if is_gone(&e) => return Ok(KeyState::Missing),
        Err(e) => return Err(read_failed(e)),
    }
    let stored = match read_file(path, rules.max_file_bytes) {
        Ok(stored) => stored,
        Err(e) if is_gone(&e) => return Ok(KeyState::Missing),
        // Larger than any value this stash keeps: no key it wrote.
        Err(e) if e.kind() == io::ErrorKind::FileTooLarge => return Ok(KeyState::Damaged),
        Err(e) => return Err(read_failed(e)),
    };
    if stored == key {
        // Repaired by a concurrent writer of the same key between the two reads.
        Ok(KeyState::Matches)
    } else if rules.names_slot(&stored, digest) {
        Err(key_mismatch(digest).with_context("file", path.display()))
    } else {
        Ok(KeyState::Damaged)
    }
}

/// What one read attempt of a slot found.
pub(crate) enum Read<T> {
    /// The slot holds `T`.
    Found(T),
    /// No complete entry: folder missing, no `.key` or no version.
    Absent,
    /// A listed file vanished before it was read: list again.
    Raced,
}

/// What to read from a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Only whether a complete entry is there.
    Exists,
    /// Like `Exists`, but an expired entry counts too.
    Any,
    /// The key bytes.
    Key,
    /// The key and newest value.
    Newest,
    /// The newest value only: the caller already checked this slot's key.
    NewestTrusted,
}

/// A slot read: the stored key (when asked for) and newest value (when asked for).
#[derive(Debug, Default)]
pub(crate) struct SlotData {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Reads a slot once. `expected` is the requested key, checked against `.key`
/// (`None` when scanning: the stored key is returned instead). `path` is the
/// slot folder, used as scratch and restored on return; `parent`, when given,
/// is its parent folder, open, and its name there (a walk): the slot is opened there, and
/// a link there is no slot. The slot's files are opened relative to the slot
/// folder (see [`crate::dirfd`]). Files that are not regular files (links,
/// fifos) are refused, files over the rules' limit are `TooLarge`.
pub(crate) fn read_once(
    path: &mut PathBuf,
    parent: Option<(BorrowedFd<'_>, &str)>,
    digest: &Digest,
    expected: Option<&[u8]>,
    want: Want,
    rules: &Rules,
) -> Result<Read<SlotData>> {
    let opened = match parent {
        Some((parent, name)) => crate::dirfd::open_dir(Some(parent), Path::new(name)),
        None => crate::dirfd::open_dir(None, path),
    };
    let dir = match opened {
        Ok(dir) => dir,
        Err(e) if is_gone(&e) => return Ok(Read::Absent),
        Err(e) if parent.is_some() && crate::dirfd::is_link(&e) => return Ok(Read::Absent),
        Err(e) => return Err(Error::io(e, "list slot folder", path)),
    };
    let listing = match list_fd(&dir) {
        Ok(l) => l,
        Err(e) if is_gone(&e) => return Ok(Read::Absent),
        Err(e) => return Err(Error::io(e, "list slot folder", path)),
    };
    let Some(newest) = listing.newest() else { return Ok(Read::Absent) };
    if want != Want::Any && newest.expired(stash_engine_api::clock::now_micros()) {
        return Ok(Read::Absent);
    }
    if !listing.has_key {
        // A version without a key: a put interrupted before writing `.key`, or
        // a concurrent delete. Not a complete entry either way.
        return Ok(Read::Absent);
    }
    let mut data = SlotData::default();
    let read_key = match want {
        Want::NewestTrusted => false,
        Want::Exists | Want::Any => expected.is_some(),
        Want::Key | Want::Newest => true,
    };
    if read_key {
        if listing.key_kind != Kind::File {
            let err = at_file(path, KEY_FILE, |p| kind_error(listing.key_kind, p));
            return Err(err.with_context("digest", digest));
        }
        let stored = crate::dirfd::open_file(dir.as_fd(), KEY_FILE)
            .and_then(|file| read_open_key_file(file, expected, rules.max_file_bytes));
        let stored = match stored {
            Ok(k) => k,
            Err(e) if is_gone(&e) => return Ok(Read::Raced),
            Err(e) => {
                let err = at_file(path, KEY_FILE, |p| read_error(e, "read key file", p));
                return Err(err.with_context("digest", digest));
            }
        };
        if let Some(expected) = expected.filter(|expected| stored != *expected) {
            at_file(path, KEY_FILE, |p| check_key(&stored, expected, digest, p))?;
        }
        data.key = stored;
    }
    if matches!(want, Want::Newest | Want::NewestTrusted) {
        if newest.kind != Kind::File {
            let err = at_file(path, &newest.name, |p| kind_error(newest.kind, p));
            return Err(err.with_context("digest", digest));
        }
        let value = crate::dirfd::open_file(dir.as_fd(), &newest.name)
            .and_then(|file| read_open_file(file, rules.max_file_bytes));
        data.value = match value {
            Ok(v) => v,
            Err(e) if is_gone(&e) => return Ok(Read::Raced),
            Err(e) => {
                let err = at_file(path, &newest.name, |p| read_error(e, "read version file", p));
                return Err(err.with_context("digest", digest));
            }
        };
    }
    Ok(Read::Found(data))
}

/// Reads a slot, listing again while files vanish under it.
/// `parent` as for [`read_once`].
pub(crate) fn read(
    path: &mut PathBuf,
    parent: Option<(BorrowedFd<'_>, &str)>,
    digest: &Digest,
    expected: Option<&[u8]>,
    want: Want,
    rules: &Rules,
) -> Result<Option<SlotData>> {
    for attempt in 0..RETRIES {
        match read_once(path, parent, digest, expected, want, rules)? {
            Read::Found(data) => return Ok(Some(data)),
            Read::Absent => return Ok(None),
            Read::Raced => {
                stash_engine_api::observe::retry("pairtree", "read", Some(digest), attempt + 1);
                backoff(attempt)
            }
        }
    }
    Err(kept_changing(path, digest))
}

/// Every version of a slot, oldest first, with its key checked; `None` if absent.
pub(crate) fn versions(
    path: &mut PathBuf,
    digest: &Digest,
    key: &[u8],
    rules: &Rules,
) -> Result<Option<Vec<Version>>> {
    'attempt: for attempt in 0..RETRIES {
        let mut listing = match list(path) {
            Ok(l) => l,
            Err(e) if is_gone(&e) => return Ok(None),
            Err(e) => return Err(Error::io(e, "list slot folder", path)),
        };
        if listing.versions.is_empty() || !listing.has_key {
            return Ok(None);
        }
        listing.hide_replaced();
        listing.versions.sort_unstable();
        if listing.versions.last().is_some_and(|v| v.expired(stash_engine_api::clock::now_micros())) {
            return Ok(None);
        }
        path.push(KEY_FILE);
        let stored = match check_kind(listing.key_kind, path) {
            Ok(()) => read_key_file(path, Some(key), rules.max_file_bytes),
            Err(err) => {
                path.pop();
                return Err(err.with_context("digest", digest));
            }
        };
        match stored {
            Ok(stored) => {
                let checked = check_key(&stored, key, digest, path);
                path.pop();
                checked?;
            }
            Err(e) if is_gone(&e) => {
                path.pop();
                backoff(attempt);
                continue 'attempt;
            }
            Err(e) => {
                let err = read_error(e, "read key file", path);
                path.pop();
                return Err(err.with_context("digest", digest));
            }
        }
        let mut out = Vec::with_capacity(listing.versions.len());
        for (i, v) in listing.versions.iter().enumerate() {
            path.push(&v.name);
            let value = match check_kind(v.kind, path) {
                Ok(()) => read_file(path, rules.max_file_bytes),
                Err(err) => {
                    path.pop();
                    return Err(err.with_context("digest", digest));
                }
            };
            match value {
                Ok(value) => {
                    path.pop();
                    out.push(Version { number: i as u64 + 1, written_at_micros: v.micros, value });
                }
                Err(e) if is_gone(&e) => {
                    path.pop();
                    backoff(attempt);
                    continue 'attempt;
                }
                Err(e) => {
                    let err = read_error(e, "read version file", path);
                    path.pop();
                    return Err(err.with_context("digest", digest));
                }
            }
        }
        return Ok(Some(out));
    }
    Err(kept_changing(path, digest))
}

fn kept_changing(path: &Path, digest: &Digest) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("the slot kept changing under the reader ({RETRIES} attempts): files vanished between listing and reading"),
    )
    .with_context("file", path.display())
    .with_context("digest", digest)
}

/// Lets the writer that raced us finish.
pub(crate) fn backoff(attempt: usize) {
    if attempt < 4 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(std::time::Duration::from_micros(50 << attempt.min(10)));
    }
}

/// The outcome of an atomic write.
pub(crate) enum Written {
    /// The file is in place.
    Done,
    /// The slot folder vanished (a concurrent delete or clear): start over.
    Vanished,
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, creating
/// the folder only when the first write finds it missing. `dir` is restored on return.
pub(crate) fn write_atomic(dir: &mut PathBuf, name: &str, bytes: &[u8], fsync: bool) -> Result<Written> {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp_name = format!("{TMP_PREFIX}.{}.{n}", std::process::id());
    dir.push(&tmp_name);
    let mut res = write_file(dir, bytes, fsync);
    if matches!(&res, Err(e) if is_gone(e)) {
        dir.pop();
        if let Err(e) = fs::create_dir_all(&*dir) {
            // A concurrent delete pruned a parent while we created it, or
            // removed a folder between `create_dir_all` finding it there
            // (AlreadyExists) and checking it is a folder: start over.
            if is_gone(&e) || e.kind() == io::ErrorKind::AlreadyExists {
                return Ok(Written::Vanished);
            }
            return Err(Error::io(e, "create slot folder", dir));
        }
        dir.push(&tmp_name);
        res = write_file(dir, bytes, fsync);
    }
    match res {
        Ok(()) => {}
        Err(e) if is_gone(&e) => {
            dir.pop();
            return Ok(Written::Vanished);
        }
        Err(e) => {
            let err = Error::io(e, "write temporary file", dir);
            let _ = fs::remove_file(&*dir);
            dir.pop();
            return Err(err);
        }
    }
    let tmp = dir.clone();
    dir.pop();
    dir.push(name);
    let renamed = fs::rename(&tmp, &*dir);
    match renamed {
        Ok(()) => {
            dir.pop();
            if fsync {
                sync_dir(dir)?;
            }
            Ok(Written::Done)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            if is_gone(&e) {
                dir.pop();
                return Ok(Written::Vanished);
            }
            let err = Error::io(e, "rename temporary file into place", dir);
            dir.pop();
            Err(err)
        }
    }
}

fn write_file(path: &Path, bytes: &[u8], fsync: bool) -> io::Result<()> {
    if !fsync {
        return fs::write(path, bytes);
    }
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|f| f.sync_all()).map_err(|e| Error::io(e, "sync slot folder", dir))
}

/// Removes a file, treating "already gone" as success; true if this call removed it.
pub(crate) fn remove_file(path: &Path, action: &str) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if is_gone(&e) => Ok(false),
        Err(e) => Err(Error::io(e, action, path)),
    }
}

/// Whether `name` is `len` lowercase hex digits (a pairtree folder name).
pub(crate) fn is_hex_name(bytes: &[u8], len: usize) -> bool {
    bytes.len() == len && bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_parse_numerically() {
        assert_eq!(parse_version("1000.7"), Some((1000, 7, None)));
        assert_eq!(parse_version("999.12345"), Some((999, 12345, None)));
        assert_eq!(parse_version("999.12345.x5000"), Some((999, 12345, Some(5000))));
        assert_eq!(VersionName::format(999, 12345, Some(5000)), "999.12345.x5000");
        for bad in [
            ".key", ".tmp.1.2", "junk", "1.", ".1", "1.2.3", "-1.2", "+1.2", "1.x", "", "1.2.x", "1.2.x-5",
            "1.2.y3",
        ] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
        assert_eq!(parse_version("99999999999999999999999.1"), None);
        let mut names: Vec<VersionName> = ["999.12345", "1000.7", "1000.12"]
            .iter()
            .map(|n| {
                let (micros, pid, expires) = parse_version(n).unwrap();
                VersionName { micros, pid, expires, name: n.to_string(), kind: Kind::File }
            })
            .collect();
        names.sort();
        assert_eq!(
            names.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["999.12345", "1000.7", "1000.12"]
        );
    }

    #[test]
    fn hex_names() {
        assert!(is_hex_name(b"5f", 2));
        assert!(!is_hex_name(b"5F", 2));
        assert!(!is_hex_name(b"zz", 2));
        assert!(!is_hex_name(b"abc", 2));
    }
}
