//! LMDB through `heed` directly: the floor of the `lmdb` engine. The key is
//! [`key_md5_hex`](super::key_md5_hex), the value the record's compact JSON,
//! in the environment's unnamed database, as in the limits file's heed rows.

use std::path::Path;

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::key_md5_hex;

/// An LMDB environment and its unnamed database, keys and values as bytes.
pub struct RawHeed {
    env: Env,
    db: Database<'static, Bytes, Bytes>,
}

impl RawHeed {
    /// Opens (creating) an environment in the folder `dir`, with a 1 GiB map.
    /// `sync: true` is LMDB's default (two `fsync`s per commit); `false`
    /// sets `NO_SYNC | NO_META_SYNC`.
    pub fn open(dir: &Path, sync: bool) -> heed::Result<RawHeed> {
        std::fs::create_dir_all(dir)?;
        let mut options = EnvOpenOptions::new();
        options.map_size(1 << 30);
        if !sync {
            // SAFETY: these flags only weaken durability against an OS crash.
            unsafe {
                options.flags(EnvFlags::NO_SYNC | EnvFlags::NO_META_SYNC);
            }
        }
        // SAFETY: each bench opens a folder of its own, once, and nothing
        // else touches its files.
        let env = unsafe { options.open(dir) }?;
        let rtxn = env.read_txn()?;
        let db = env
            .open_databases_and_commit(rtxn, |opener, rtxn| {
                opener.open_database::<Bytes, Bytes>(rtxn, None).map(CommitOrAbort::<_, ()>::Commit)
            })?
            .unwrap_commit()
            .expect("LMDB always has an unnamed database");
        Ok(RawHeed { env, db })
    }

    /// Stores `value` as JSON in a write transaction of its own.
    pub fn set<T: Serialize>(&self, key: &str, value: &T) -> heed::Result<()> {
        let bytes = serde_json::to_vec(value).expect("serialize");
        let mut wtxn = self.env.write_txn()?;
        self.db.put(&mut wtxn, key_md5_hex(key).as_bytes(), &bytes)?;
        wtxn.commit()
    }

    /// Stores every pair as JSON in one write transaction.
    pub fn set_all<'a, T: Serialize + 'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a T)>,
    ) -> heed::Result<()> {
        let mut wtxn = self.env.write_txn()?;
        for (key, value) in pairs {
            let bytes = serde_json::to_vec(value).expect("serialize");
            self.db.put(&mut wtxn, key_md5_hex(key).as_bytes(), &bytes)?;
        }
        wtxn.commit()
    }

    /// Decodes the JSON stored under `key`, in a read transaction of its own.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> heed::Result<Option<T>> {
        let rtxn = self.env.read_txn()?;
        let found = self.db.get(&rtxn, key_md5_hex(key).as_bytes())?;
        Ok(found.map(|bytes| serde_json::from_slice(bytes).expect("deserialize")))
    }

    /// Decodes every value in one read transaction, handing each to `each`;
    /// returns the count.
    pub fn iterate<T: DeserializeOwned>(&self, mut each: impl FnMut(T)) -> heed::Result<usize> {
        let rtxn = self.env.read_txn()?;
        let mut count = 0;
        for entry in self.db.iter(&rtxn)? {
            let (_digest, bytes) = entry?;
            each(serde_json::from_slice(bytes).expect("deserialize"));
            count += 1;
        }
        Ok(count)
    }

    /// Stores `bytes` under `key` in a write transaction of its own.
    pub fn put_bytes(&self, key: &[u8], bytes: &[u8]) -> heed::Result<()> {
        let mut wtxn = self.env.write_txn()?;
        self.db.put(&mut wtxn, key, bytes)?;
        wtxn.commit()
    }

    /// Stores every pair in one write transaction.
    pub fn put_all_bytes<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> heed::Result<()> {
        let mut wtxn = self.env.write_txn()?;
        for (key, bytes) in pairs {
            self.db.put(&mut wtxn, key, bytes)?;
        }
        wtxn.commit()
    }

    /// Hands the bytes stored under `key` to `f`, in a read transaction of its own.
    pub fn get_bytes<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> heed::Result<Option<R>> {
        let rtxn = self.env.read_txn()?;
        Ok(self.db.get(&rtxn, key)?.map(f))
    }

    /// Hands every value to `each` in one read transaction; returns the count.
    pub fn for_each_bytes(&self, mut each: impl FnMut(&[u8])) -> heed::Result<usize> {
        let rtxn = self.env.read_txn()?;
        let mut count = 0;
        for entry in self.db.iter(&rtxn)? {
            each(entry?.1);
            count += 1;
        }
        Ok(count)
    }

    /// Empties the database (one transaction).
    pub fn clear(&self) -> heed::Result<()> {
        let mut wtxn = self.env.write_txn()?;
        self.db.clear(&mut wtxn)?;
        wtxn.commit()
    }

    /// The number of entries.
    pub fn count(&self) -> heed::Result<u64> {
        let rtxn = self.env.read_txn()?;
        self.db.len(&rtxn)
    }
}
