//! One slot (the leaf folder of one key): version names, listing, reading and
//! writing its files.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read as _, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use stash_core::engine::key_mismatch;
use stash_core::{Digest, Error, ErrorKind, Result, Version};

/// The file holding the encoded key inside a slot folder.
pub(crate) const KEY_FILE: &str = ".key";

/// Prefix of temporary files; readers ignore every name starting with it.
pub(crate) const TMP_PREFIX: &str = ".tmp";

/// How many times a reader lists a slot again after a file it listed vanished
/// (a concurrent replace or delete), and a writer retries after its folder vanished.
pub(crate) const RETRIES: usize = 32;

/// Makes temporary names unique within this process (the pid makes them unique across processes).
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

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
        stash_core::clock::is_expired(self.expires, now)
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

/// What a slot folder holds, as one `read_dir` saw it.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// A `.key` file was listed.
    pub has_key: bool,
    /// Every parseable version, in directory order (unsorted).
    pub versions: Vec<VersionName>,
}

impl Listing {
    /// The newest version (numerically), if any.
    pub fn newest(&self) -> Option<&VersionName> {
        self.versions.iter().max()
    }
}

/// Lists a slot folder: one `read_dir`, no `stat`.
pub(crate) fn list(dir: &Path) -> io::Result<Listing> {
    let mut listing = Listing::default();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == KEY_FILE {
            listing.has_key = true;
        } else if let Some((micros, pid, expires)) = parse_version(name) {
            listing.versions.push(VersionName { micros, pid, expires, name: name.to_owned() });
        }
    }
    Ok(listing)
}

/// Bytes read before asking the file its size: most values fit, and then a
/// read costs open, read, close, without the `statx` of `fs::read`.
const FIRST_READ: usize = 8 * 1024;

/// Reads into `buf` until it is full or a read comes back short. On a local
/// regular file a short read means end of file, which saves the extra read
/// that would return 0; a file larger than `buf` is read to its end.
fn read_into(file: &mut fs::File, buf: &mut Vec<u8>, limit: usize) -> io::Result<()> {
    buf.resize(limit, 0);
    let mut len = 0;
    while len < limit {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len < limit {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        }
    }
    buf.truncate(len);
    Ok(())
}

/// Reads a whole file in as few syscalls as possible.
pub(crate) fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = fs::File::open(path)?;
    let mut buf = Vec::with_capacity(FIRST_READ);
    read_into(&mut file, &mut buf, FIRST_READ)?;
    if buf.len() == FIRST_READ {
        // A large file: size the buffer once instead of doubling it.
        if let Ok(meta) = file.metadata() {
            buf.reserve_exact((meta.len() as usize).saturating_sub(buf.len()) + 1);
        }
        file.read_to_end(&mut buf)?;
    } else if buf.capacity() > 2 * buf.len() {
        buf.shrink_to_fit();
    }
    Ok(buf)
}

/// Reads a key file for comparison with `expected`: at most one byte more than
/// `expected`, enough to tell "equal" from "different".
pub(crate) fn read_key_file(path: &Path, expected: Option<&[u8]>) -> io::Result<Vec<u8>> {
    let Some(expected) = expected else { return read_file(path) };
    let mut buf = Vec::new();
    read_into(&mut fs::File::open(path)?, &mut buf, expected.len() + 1)?;
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
/// slot folder, used as scratch and restored on return.
pub(crate) fn read_once(
    path: &mut PathBuf,
    digest: &Digest,
    expected: Option<&[u8]>,
    want: Want,
) -> Result<Read<SlotData>> {
    let listing = match list(path) {
        Ok(l) => l,
        Err(e) if is_gone(&e) => return Ok(Read::Absent),
        Err(e) => return Err(Error::io(e, "list slot folder", path)),
    };
    let Some(newest) = listing.newest() else { return Ok(Read::Absent) };
    if want != Want::Any && newest.expired(stash_core::clock::now_micros()) {
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
        path.push(KEY_FILE);
        let stored = read_key_file(path, expected);
        let stored = match stored {
            Ok(k) => k,
            Err(e) if is_gone(&e) => {
                path.pop();
                return Ok(Read::Raced);
            }
            Err(e) => {
                let err = Error::io(e, "read key file", path);
                path.pop();
                return Err(err.with_context("digest", digest));
            }
        };
        if let Some(expected) = expected {
            let checked = check_key(&stored, expected, digest, path);
            path.pop();
            checked?;
        } else {
            path.pop();
        }
        data.key = stored;
    }
    if matches!(want, Want::Newest | Want::NewestTrusted) {
        path.push(&newest.name);
        let value = read_file(path);
        let value = match value {
            Ok(v) => v,
            Err(e) if is_gone(&e) => {
                path.pop();
                return Ok(Read::Raced);
            }
            Err(e) => {
                let err = Error::io(e, "read version file", path);
                path.pop();
                return Err(err.with_context("digest", digest));
            }
        };
        path.pop();
        data.value = value;
    }
    Ok(Read::Found(data))
}

/// Reads a slot, listing again while files vanish under it.
pub(crate) fn read(
    path: &mut PathBuf,
    digest: &Digest,
    expected: Option<&[u8]>,
    want: Want,
) -> Result<Option<SlotData>> {
    for attempt in 0..RETRIES {
        match read_once(path, digest, expected, want)? {
            Read::Found(data) => return Ok(Some(data)),
            Read::Absent => return Ok(None),
            Read::Raced => backoff(attempt),
        }
    }
    Err(kept_changing(path, digest))
}

/// Every version of a slot, oldest first, with its key checked; `None` if absent.
pub(crate) fn versions(path: &mut PathBuf, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
    'attempt: for attempt in 0..RETRIES {
        let mut listing = match list(path) {
            Ok(l) => l,
            Err(e) if is_gone(&e) => return Ok(None),
            Err(e) => return Err(Error::io(e, "list slot folder", path)),
        };
        if listing.versions.is_empty() || !listing.has_key {
            return Ok(None);
        }
        listing.versions.sort_unstable();
        if listing.versions.last().is_some_and(|v| v.expired(stash_core::clock::now_micros())) {
            return Ok(None);
        }
        path.push(KEY_FILE);
        let stored = read_key_file(path, Some(key));
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
                let err = Error::io(e, "read key file", path);
                path.pop();
                return Err(err.with_context("digest", digest));
            }
        }
        let mut out = Vec::with_capacity(listing.versions.len());
        for (i, v) in listing.versions.iter().enumerate() {
            path.push(&v.name);
            let value = read_file(path);
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
                    let err = Error::io(e, "read version file", path);
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
pub(crate) fn is_hex_name(name: &OsStr, len: usize) -> bool {
    let bytes = name.as_encoded_bytes();
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
                VersionName { micros, pid, expires, name: n.to_string() }
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
        assert!(is_hex_name(OsStr::new("5f"), 2));
        assert!(!is_hex_name(OsStr::new("5F"), 2));
        assert!(!is_hex_name(OsStr::new("zz"), 2));
        assert!(!is_hex_name(OsStr::new("abc"), 2));
    }
}
