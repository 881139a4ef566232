//! Raw baselines: the same bytes through the storage with no caching library
//! in between, so each stash row can be read as a ratio to its floor.
//!
//! Every baseline implements [`RawBaseline`] (as redb's benches do with their
//! `BenchDatabase`), so one bench function per operation serves them all; the
//! matrix opens them by engine name from [`RAW_BASELINES`]. Adding a baseline
//! is one `impl RawBaseline` plus one line in that table.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use md5::{Digest as _, Md5};

pub mod lmdb;
pub mod sled;
pub mod sqlite;

/// Any storage's error, boxed (the matrix's error type too).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The result of a baseline operation.
pub type Result<T> = std::result::Result<T, Error>;

/// One storage used directly with bytes already encoded: the floor of the
/// stash engine on top of it.
///
/// Object-safe, so the matrix can pick the baseline at run time; reads hand
/// the storage's own bytes to a callback, so a storage that lends its bytes
/// (LMDB's map, SQLite's row, the map's `Vec`, sled's `IVec`) is read without
/// a copy. Every method commits what it writes the way the storage's engine
/// would: see each implementation.
pub trait RawBaseline {
    /// Stores `bytes` under `key` (under the md5 of its JSON, as
    /// [`key_md5_hex`] spells it), as one commit where the storage has them.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()>;

    /// Stores every pair in one transaction where the storage has them,
    /// with one [`put`](RawBaseline::put) each otherwise.
    fn put_all(&self, pairs: &mut dyn Iterator<Item = (&str, &[u8])>) -> Result<()> {
        for (key, bytes) in pairs {
            self.put(key, bytes)?;
        }
        Ok(())
    }

    /// Hands the bytes stored under `key` to `found` (in a read transaction
    /// of its own where the storage has them); `false` when nothing is stored.
    fn get(&self, key: &str, found: &mut dyn FnMut(&[u8])) -> Result<bool>;

    /// Hands every stored value to `each`, in the storage's order, in one
    /// read transaction where the storage has them; returns the count.
    fn for_each(&self, each: &mut dyn FnMut(&[u8])) -> Result<usize>;

    /// Removes every entry.
    fn clear(&self) -> Result<()>;

    /// Writes what earlier calls left in memory to disk, for storages that
    /// write in the background (sled), and does what the engine's `flush`
    /// does where it does more than nothing (SQLite checkpoints its WAL);
    /// nothing for the others.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// The number of entries (untimed checks; may scan).
    fn count(&self) -> Result<usize>;
}

/// A raw baseline the matrix can open by the name of the engine it is the floor of.
pub struct RawEngine {
    /// The stash engine: `memory`, `pairtree`, `lmdb`, ...
    pub engine: &'static str,
    /// The storage's name in tables (`raw heed`, ...).
    pub name: &'static str,
    /// Opens (creating) the baseline in a file or folder of its own under the
    /// existing folder given.
    pub open: fn(&Path) -> Result<Box<dyn RawBaseline>>,
}

/// Every raw baseline, with the settings the matrix compares against the
/// engines' defaults.
pub const RAW_BASELINES: &[RawEngine] = &[
    RawEngine { engine: "memory", name: "RwLock<HashMap>", open: |_| Ok(Box::new(MemoryBytes::default())) },
    RawEngine {
        engine: "pairtree",
        name: "std::fs pairtree",
        open: |dir| Ok(Box::new(RawPairtree::new(&dir.join("pairtree")))),
    },
    // LMDB's default sync, as the stash's default durability.
    RawEngine {
        engine: "lmdb",
        name: "heed",
        open: |dir| Ok(Box::new(lmdb::RawHeed::open(&dir.join("heed"), true)?)),
    },
    RawEngine {
        engine: "sqlite",
        name: "rusqlite",
        open: |dir| Ok(Box::new(sqlite::RawSqlite::open(&dir.join("rusqlite.db"))?)),
    },
    RawEngine {
        engine: "sled",
        name: "sled",
        open: |dir| Ok(Box::new(sled::RawSled::open(&dir.join("sled"))?)),
    },
];

/// The raw baseline of `engine`, if it has one.
pub fn raw_engine(engine: &str) -> Option<&'static RawEngine> {
    RAW_BASELINES.iter().find(|r| r.engine == engine)
}

/// Opens the raw baseline of `engine` under `dir`.
pub fn open_raw(engine: &str, dir: &Path) -> Result<Box<dyn RawBaseline>> {
    let raw = raw_engine(engine).ok_or_else(|| format!("no raw baseline for engine {engine}"))?;
    (raw.open)(dir)
}

/// The md5 of the key's compact JSON, as 32 hex digits: the key every raw
/// baseline stores under (the digest the Python library uses for its keys).
pub fn key_md5_hex(key: &str) -> String {
    let json = serde_json::to_vec(key).expect("serialize key");
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in Md5::digest(&json) {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// `RwLock<HashMap>` holding bytes as given, keyed by [`key_md5_hex`]: the
/// floor of the memory engine for bytes already encoded by a serializer and
/// a compressor.
#[derive(Default)]
pub struct MemoryBytes {
    map: RwLock<HashMap<String, Vec<u8>>>,
}

impl RawBaseline for MemoryBytes {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let digest = key_md5_hex(key);
        self.map.write().unwrap_or_else(|e| e.into_inner()).insert(digest, bytes.to_vec());
        Ok(())
    }

    fn get(&self, key: &str, found: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let digest = key_md5_hex(key);
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        Ok(map.get(&digest).map(|b| found(b)).is_some())
    }

    /// In no order, under the read lock.
    fn for_each(&self, each: &mut dyn FnMut(&[u8])) -> Result<usize> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.values().for_each(|b| each(b));
        Ok(map.len())
    }

    fn clear(&self) -> Result<()> {
        self.map.write().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(())
    }

    fn count(&self) -> Result<usize> {
        Ok(self.map.read().unwrap_or_else(|e| e.into_inner()).len())
    }
}

/// `RwLock<HashMap>` holding compact JSON: the floor of the memory engine.
#[derive(Default)]
pub struct MemoryJson {
    map: RwLock<HashMap<String, Vec<u8>>>,
}

impl MemoryJson {
    /// Stores `value` as JSON.
    pub fn set<T: serde::Serialize>(&self, key: &str, value: &T) {
        let bytes = serde_json::to_vec(value).expect("serialize");
        self.map.write().expect("lock").insert(key.to_string(), bytes);
    }

    /// Decodes the JSON stored under `key`.
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let map = self.map.read().expect("lock");
        map.get(key).map(|b| serde_json::from_slice(b).expect("deserialize"))
    }
}

/// The newest version file's bytes in the slot folder `dir` (the largest
/// name not starting with a dot); `None` when the folder or its versions are
/// missing.
fn newest_bytes(dir: &Path) -> io::Result<Option<Vec<u8>>> {
    let newest = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(std::result::Result::ok)
            .map(|e| e.file_name())
            .filter(|n| !n.as_encoded_bytes().starts_with(b"."))
            .max(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    newest.map(|name| fs::read(dir.join(name))).transpose()
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    serde_json::from_slice(bytes).map_err(io::Error::other)
}

/// The pairtree layout written and read directly: md5 of the JSON key,
/// `aa/bb/cc/<rest>/` with a `.key` file and one value file per write,
/// written to a temp file and renamed. No fsync, like the engine.
///
/// A version file is named `<stamp>.<pid>`; through [`RawBaseline`] the stamp
/// is the number of puts since the last clear (so the `i`-th item of a pass
/// into a cleared layout is stamped `i`), and names compare as text, so a key
/// should be put once between clears.
pub struct RawPairtree {
    root: PathBuf,
    /// The stamp of the next [`RawBaseline::put`].
    next_stamp: AtomicU64,
}

fn slot(root: &Path, key: &str) -> PathBuf {
    let hex = key_md5_hex(key);
    root.join(&hex[0..2]).join(&hex[2..4]).join(&hex[4..6]).join(&hex[6..])
}

impl RawPairtree {
    /// A layout rooted at `root`.
    pub fn new(root: &Path) -> RawPairtree {
        RawPairtree { root: root.to_path_buf(), next_stamp: AtomicU64::new(0) }
    }

    /// Writes `value` (JSON) for `key`, as a new version file.
    pub fn set<T: serde::Serialize>(&self, key: &str, value: &T, stamp: u64) -> io::Result<()> {
        self.set_bytes(key, &serde_json::to_vec(value).map_err(io::Error::other)?, stamp)
    }

    /// Writes `bytes` for `key` as the version file `<stamp>.<pid>`; the
    /// slot's first write creates its folders and its `.key` file (the key's JSON).
    pub fn set_bytes(&self, key: &str, bytes: &[u8], stamp: u64) -> io::Result<()> {
        let dir = slot(&self.root, key);
        let tmp = dir.join(format!(".tmp.{}", std::process::id()));
        if let Err(e) = fs::write(&tmp, bytes) {
            if e.kind() != io::ErrorKind::NotFound {
                return Err(e);
            }
            fs::create_dir_all(&dir)?;
            fs::write(dir.join(".key"), serde_json::to_vec(key).map_err(io::Error::other)?)?;
            fs::write(&tmp, bytes)?;
        }
        fs::rename(&tmp, dir.join(format!("{stamp}.{}", std::process::id())))
    }

    /// The newest value file's bytes for `key`, after checking that the
    /// `.key` file holds `key`: the least a correct lookup in this layout has to do.
    pub fn get_bytes(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        let dir = slot(&self.root, key);
        let stored = match fs::read(dir.join(".key")) {
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if stored != serde_json::to_vec(key).map_err(io::Error::other)? {
            return Err(io::Error::other("key mismatch"));
        }
        newest_bytes(&dir)
    }

    /// Reads the newest value file for `key`, without reading its `.key` file.
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        newest_bytes(&slot(&self.root, key))?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Reads the newest value file for `key` after checking the `.key` file
    /// holds `key` (as [`get_bytes`](RawPairtree::get_bytes)).
    pub fn get_checked<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        self.get_bytes(key)?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Walks every slot, reading its key and newest value, and handing the
    /// value to `each`; returns the count (0 when nothing was ever written).
    fn walk(&self, mut each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<usize> {
        let mut count = 0;
        let top = match fs::read_dir(&self.root) {
            Ok(top) => top,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for a in top {
            for b in fs::read_dir(a?.path())? {
                for c in fs::read_dir(b?.path())? {
                    for leaf in fs::read_dir(c?.path())? {
                        let leaf = leaf?.path();
                        let _key = fs::read(leaf.join(".key"))?;
                        if let Some(bytes) = newest_bytes(&leaf)? {
                            each(&bytes)?;
                            count += 1;
                        }
                    }
                }
            }
        }
        Ok(count)
    }

    /// Walks every slot, reading its key and decoding its newest value as
    /// JSON; returns the count.
    pub fn iterate(&self) -> io::Result<usize> {
        self.walk(|bytes| decode::<serde_json::Value>(bytes).map(drop))
    }
}

/// Stamps each put with the number of puts since the last clear; no
/// transactions: [`put_all`](RawBaseline::put_all) is one put each.
impl RawBaseline for RawPairtree {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        Ok(self.set_bytes(key, bytes, self.next_stamp.fetch_add(1, Ordering::Relaxed))?)
    }

    /// The bytes are read into a buffer first: files lend nothing.
    fn get(&self, key: &str, found: &mut dyn FnMut(&[u8])) -> Result<bool> {
        Ok(self.get_bytes(key)?.map(|bytes| found(&bytes)).is_some())
    }

    fn for_each(&self, each: &mut dyn FnMut(&[u8])) -> Result<usize> {
        Ok(self.walk(|bytes| {
            each(bytes);
            Ok(())
        })?)
    }

    /// Removes every slot and starts the stamps over.
    fn clear(&self) -> Result<()> {
        match fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        self.next_stamp.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// A walk of every slot.
    fn count(&self) -> Result<usize> {
        self.for_each(&mut |_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(store: &dyn RawBaseline) -> Result<Vec<Vec<u8>>> {
        let mut seen = Vec::new();
        let count = store.for_each(&mut |bytes| seen.push(bytes.to_vec()))?;
        assert_eq!(count, seen.len());
        seen.sort();
        Ok(seen)
    }

    fn get(store: &dyn RawBaseline, key: &str) -> Result<Option<Vec<u8>>> {
        let mut got = None;
        let found = store.get(key, &mut |bytes| got = Some(bytes.to_vec()))?;
        assert_eq!(found, got.is_some());
        Ok(got)
    }

    #[test]
    fn every_baseline_stores_lends_walks_and_clears() -> Result<()> {
        let dir = tempfile::tempdir()?;
        for raw in RAW_BASELINES {
            let name = raw.name;
            let store = (raw.open)(dir.path())?;
            store.put("a", b"one")?;
            store.put_all(&mut [("b", &b"two"[..]), ("c", &b"three"[..])].into_iter())?;
            store.flush()?;
            assert_eq!(get(&*store, "b")?.as_deref(), Some(&b"two"[..]), "{name}");
            assert_eq!(get(&*store, "missing")?, None, "{name}");
            assert_eq!(walk(&*store)?, [&b"one"[..], b"three", b"two"], "{name}");
            assert_eq!(store.count()?, 3, "{name}");
            store.clear()?;
            assert_eq!((store.count()?, get(&*store, "a")?), (0, None), "{name}");
            store.put("a", b"again")?;
            assert_eq!(walk(&*store)?, [&b"again"[..]], "{name}");
        }
        assert!(raw_engine("redis").is_none());
        assert!(open_raw("redis", dir.path()).is_err());
        Ok(())
    }

    /// The key is the md5 of its JSON, as the engines and the Python library store it.
    #[test]
    fn keys_are_the_md5_of_their_json() -> Result<()> {
        // hashlib.md5(json.dumps("key1").encode()).hexdigest(), as Python computes it.
        assert_eq!(key_md5_hex("key1"), "0e04d32719cf813c966c4f224fbacd17");
        let dir = tempfile::tempdir()?;
        let store = sqlite::RawSqlite::open(&dir.path().join("kv.db"))?;
        store.put("key1", b"v")?;
        drop(store);
        let conn = rusqlite::Connection::open(dir.path().join("kv.db"))?;
        let stored: String = conn.query_row("SELECT key FROM kv", [], |row| row.get(0))?;
        assert_eq!(stored, key_md5_hex("key1"));
        Ok(())
    }

    /// The `i`-th put into a cleared pairtree names its version `i.<pid>`
    /// (the stamp the matrix's `set` rows always wrote).
    #[test]
    fn pairtree_stamps_count_puts_since_the_last_clear() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let store = RawPairtree::new(&dir.path().join("pt"));
        let versions = |key: &str| -> Result<Vec<String>> {
            let mut names: Vec<String> = fs::read_dir(slot(&dir.path().join("pt"), key))?
                .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
                .collect::<io::Result<_>>()?;
            names.sort();
            Ok(names)
        };
        let pid = std::process::id();
        store.put("x", b"1")?;
        store.clear()?;
        store.put("k0", b"a")?;
        store.put("k1", b"b")?;
        assert_eq!(versions("k0")?, [".key".to_string(), format!("0.{pid}")]);
        assert_eq!(versions("k1")?, [".key".to_string(), format!("1.{pid}")]);
        store.set("k2", &[1, 2], 7)?;
        assert_eq!(store.get::<Vec<u8>>("k2")?, Some(vec![1, 2]));
        assert_eq!(store.get_checked::<Vec<u8>>("k2")?, Some(vec![1, 2]));
        assert_eq!(versions("k2")?, [".key".to_string(), format!("7.{pid}")]);
        Ok(())
    }
}
