//! sled used directly: the floor of the `sled` engine. The key is
//! [`key_md5_hex`](super::key_md5_hex), the value the record's compact JSON,
//! in the default tree, as in the limits file's sled row (insert each, flush
//! at the end).

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::key_md5_hex;

/// A sled database, keys and values as bytes in its default tree.
pub struct RawSled {
    db: ::sled::Db,
}

impl RawSled {
    /// Opens (creating) a database in the folder `dir`.
    pub fn open(dir: &Path) -> ::sled::Result<RawSled> {
        Ok(RawSled { db: ::sled::open(dir)? })
    }

    /// Stores `value` as JSON (in sled's log, written to disk in the background).
    pub fn set<T: Serialize>(&self, key: &str, value: &T) -> ::sled::Result<()> {
        let bytes = serde_json::to_vec(value).expect("serialize");
        self.db.insert(key_md5_hex(key).as_bytes(), bytes)?;
        Ok(())
    }

    /// Stores every pair as JSON in one atomic `sled::Batch`.
    pub fn set_all<'a, T: Serialize + 'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a T)>,
    ) -> ::sled::Result<()> {
        let mut batch = ::sled::Batch::default();
        for (key, value) in pairs {
            batch.insert(key_md5_hex(key).as_bytes(), serde_json::to_vec(value).expect("serialize"));
        }
        self.db.apply_batch(batch)
    }

    /// Writes everything inserted so far to disk.
    pub fn flush(&self) -> ::sled::Result<()> {
        self.db.flush().map(drop)
    }

    /// Decodes the JSON stored under `key`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> ::sled::Result<Option<T>> {
        let found = self.db.get(key_md5_hex(key).as_bytes())?;
        Ok(found.map(|bytes| serde_json::from_slice(&bytes).expect("deserialize")))
    }

    /// Decodes every value, handing each to `each`; returns the count.
    pub fn iterate<T: DeserializeOwned>(&self, mut each: impl FnMut(T)) -> ::sled::Result<usize> {
        let mut count = 0;
        for entry in self.db.iter() {
            let (_digest, bytes) = entry?;
            each(serde_json::from_slice(&bytes).expect("deserialize"));
            count += 1;
        }
        Ok(count)
    }

    /// Stores `bytes` under `key`.
    pub fn put_bytes(&self, key: &[u8], bytes: &[u8]) -> ::sled::Result<()> {
        self.db.insert(key, bytes)?;
        Ok(())
    }

    /// Stores every pair in one atomic `sled::Batch`.
    pub fn put_all_bytes<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> ::sled::Result<()> {
        let mut batch = ::sled::Batch::default();
        for (key, bytes) in pairs {
            batch.insert(key, bytes);
        }
        self.db.apply_batch(batch)
    }

    /// Hands the bytes stored under `key` to `f`.
    pub fn get_bytes<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> ::sled::Result<Option<R>> {
        Ok(self.db.get(key)?.map(|b| f(&b)))
    }

    /// Hands every value to `each`; returns the count.
    pub fn for_each_bytes(&self, mut each: impl FnMut(&[u8])) -> ::sled::Result<usize> {
        let mut count = 0;
        for entry in self.db.iter() {
            each(&entry?.1);
            count += 1;
        }
        Ok(count)
    }

    /// Empties the database.
    pub fn clear(&self) -> ::sled::Result<()> {
        self.db.clear()
    }

    /// The number of entries (a scan).
    pub fn count(&self) -> usize {
        self.db.len()
    }
}
