//! Raw baselines: the same bytes through the storage with no caching library
//! in between, so each stash row can be read as a ratio to its floor.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use md5::{Digest as _, Md5};

pub mod lmdb;
pub mod sled;
pub mod sqlite;

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

/// `RwLock<HashMap>` holding bytes as given: the floor of the memory engine
/// for bytes already encoded by a serializer and a compressor.
#[derive(Default)]
pub struct MemoryBytes {
    map: RwLock<HashMap<String, Vec<u8>>>,
}

impl MemoryBytes {
    /// Stores `bytes` under `key`.
    pub fn set_bytes(&self, key: &str, bytes: Vec<u8>) {
        self.map.write().unwrap_or_else(|e| e.into_inner()).insert(key.to_string(), bytes);
    }

    /// Hands the bytes stored under `key` to `f`.
    pub fn get_bytes<R>(&self, key: &str, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(key).map(|b| f(b))
    }

    /// Hands every stored value to `each`, in no order, under the read lock;
    /// returns the count.
    pub fn for_each_bytes(&self, mut each: impl FnMut(&[u8])) -> usize {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.values().for_each(|b| each(b));
        map.len()
    }

    /// Empties the map.
    pub fn clear(&self) {
        self.map.write().unwrap_or_else(|e| e.into_inner()).clear();
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

/// The newest version file's name in a slot folder (the largest name not
/// starting with a dot).
fn newest_version(dir: &Path) -> io::Result<Option<std::ffi::OsString>> {
    Ok(fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| !n.as_encoded_bytes().starts_with(b"."))
        .max())
}

/// The pairtree layout written and read directly: md5 of the JSON key,
/// `aa/bb/cc/<rest>/` with a `.key` file and one value file per write,
/// written to a temp file and renamed. No fsync, like the engine.
pub struct RawPairtree {
    root: PathBuf,
}

fn slot(root: &Path, key: &str) -> PathBuf {
    let hex = key_md5_hex(key);
    root.join(&hex[0..2]).join(&hex[2..4]).join(&hex[4..6]).join(&hex[6..])
}

impl RawPairtree {
    /// A layout rooted at `root`.
    pub fn new(root: &Path) -> RawPairtree {
        RawPairtree { root: root.to_path_buf() }
    }

    /// Writes `value` (JSON) for `key`, as a new version file.
    pub fn set<T: serde::Serialize>(&self, key: &str, value: &T, stamp: u64) -> io::Result<()> {
        let dir = slot(&self.root, key);
        let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
        let tmp = dir.join(format!(".tmp.{}", std::process::id()));
        if let Err(e) = fs::write(&tmp, &bytes) {
            if e.kind() != io::ErrorKind::NotFound {
                return Err(e);
            }
            fs::create_dir_all(&dir)?;
            fs::write(dir.join(".key"), serde_json::to_vec(key).map_err(io::Error::other)?)?;
            fs::write(&tmp, &bytes)?;
        }
        fs::rename(&tmp, dir.join(format!("{stamp}.{}", std::process::id())))
    }

    /// Writes `bytes` for `key` as a new version file (the `.key` file holds
    /// the key's JSON), exactly as [`set`](RawPairtree::set) does for JSON.
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
    /// `.key` file holds `key` (as [`get_checked`](RawPairtree::get_checked)).
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
        match newest_version(&dir)? {
            None => Ok(None),
            Some(name) => fs::read(dir.join(name)).map(Some),
        }
    }

    /// Walks every slot, handing the newest value's bytes to `each`; returns the count.
    pub fn for_each_bytes(&self, mut each: impl FnMut(&[u8])) -> io::Result<usize> {
        let mut count = 0;
        if !self.root.exists() {
            return Ok(0);
        }
        for a in fs::read_dir(&self.root)? {
            for b in fs::read_dir(a?.path())? {
                for c in fs::read_dir(b?.path())? {
                    for leaf in fs::read_dir(c?.path())? {
                        let leaf = leaf?.path();
                        let _key = fs::read(leaf.join(".key"))?;
                        if let Some(name) = newest_version(&leaf)? {
                            each(&fs::read(leaf.join(name))?);
                            count += 1;
                        }
                    }
                }
            }
        }
        Ok(count)
    }

    /// Removes every slot.
    pub fn clear(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Reads the newest value file for `key`.
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let dir = slot(&self.root, key);
        let newest = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .filter(|n| !n.as_encoded_bytes().starts_with(b"."))
                .max(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match newest {
            None => Ok(None),
            Some(name) => {
                let bytes = fs::read(dir.join(name))?;
                serde_json::from_slice(&bytes).map(Some).map_err(io::Error::other)
            }
        }
    }

    /// Reads the newest value file for `key` after checking the `.key` file
    /// holds `key`: the least a correct lookup in this layout has to do.
    pub fn get_checked<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let dir = slot(&self.root, key);
        let stored = match fs::read(dir.join(".key")) {
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if stored != serde_json::to_vec(key).map_err(io::Error::other)? {
            return Err(io::Error::other("key mismatch"));
        }
        self.get(key)
    }

    /// Walks every slot, reading its key and newest value; returns the count.
    pub fn iterate(&self) -> io::Result<usize> {
        let mut count = 0;
        for a in fs::read_dir(&self.root)? {
            for b in fs::read_dir(a?.path())? {
                for c in fs::read_dir(b?.path())? {
                    for leaf in fs::read_dir(c?.path())? {
                        let leaf = leaf?.path();
                        let _key = fs::read(leaf.join(".key"))?;
                        let newest = fs::read_dir(&leaf)?
                            .filter_map(Result::ok)
                            .map(|e| e.file_name())
                            .filter(|n| !n.as_encoded_bytes().starts_with(b"."))
                            .max();
                        if let Some(name) = newest {
                            let bytes = fs::read(leaf.join(name))?;
                            let _: serde_json::Value =
                                serde_json::from_slice(&bytes).map_err(io::Error::other)?;
                            count += 1;
                        }
                    }
                }
            }
        }
        Ok(count)
    }
}
