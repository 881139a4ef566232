//! LMDB through `heed` directly: the floor of the `lmdb` engine. The key is
//! [`key_md5_hex`], the value the bytes given, in the
//! environment's unnamed database, as in the limits file's heed rows.

use std::path::Path;

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions};

use super::{RawBaseline, Result, key_md5_hex};

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
}

/// A write transaction per [`put`](RawBaseline::put), one for all of
/// [`put_all`](RawBaseline::put_all); a read transaction per read.
impl RawBaseline for RawHeed {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        self.db.put(&mut wtxn, key_md5_hex(key).as_bytes(), bytes)?;
        Ok(wtxn.commit()?)
    }

    fn put_all(&self, pairs: &mut dyn Iterator<Item = (&str, &[u8])>) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        for (key, bytes) in pairs {
            self.db.put(&mut wtxn, key_md5_hex(key).as_bytes(), bytes)?;
        }
        Ok(wtxn.commit()?)
    }

    /// The bytes are LMDB's own, borrowed from the map.
    fn get(&self, key: &str, found: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let rtxn = self.env.read_txn()?;
        Ok(self.db.get(&rtxn, key_md5_hex(key).as_bytes())?.map(found).is_some())
    }

    fn for_each(&self, each: &mut dyn FnMut(&[u8])) -> Result<usize> {
        let rtxn = self.env.read_txn()?;
        let mut count = 0;
        for entry in self.db.iter(&rtxn)? {
            each(entry?.1);
            count += 1;
        }
        Ok(count)
    }

    /// One transaction.
    fn clear(&self) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        self.db.clear(&mut wtxn)?;
        Ok(wtxn.commit()?)
    }

    fn count(&self) -> Result<usize> {
        let rtxn = self.env.read_txn()?;
        Ok(usize::try_from(self.db.len(&rtxn)?)?)
    }
}
