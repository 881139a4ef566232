//! sled used directly: the floor of the `sled` engine. The key is
//! [`key_md5_hex`], the value the bytes given, in the
//! default tree, as in the limits file's sled row (insert each, flush at the end).

use std::path::Path;

use super::{RawBaseline, Result, key_md5_hex};

/// A sled database, keys and values as bytes in its default tree.
pub struct RawSled {
    db: ::sled::Db,
}

impl RawSled {
    /// Opens (creating) a database in the folder `dir`.
    pub fn open(dir: &Path) -> ::sled::Result<RawSled> {
        Ok(RawSled { db: ::sled::open(dir)? })
    }
}

/// Inserts go to sled's log, written to disk in the background (and by
/// [`flush`](RawBaseline::flush)); [`put_all`](RawBaseline::put_all) is one
/// atomic `sled::Batch`.
impl RawBaseline for RawSled {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.db.insert(key_md5_hex(key).as_bytes(), bytes)?;
        Ok(())
    }

    fn put_all(&self, pairs: &mut dyn Iterator<Item = (&str, &[u8])>) -> Result<()> {
        let mut batch = ::sled::Batch::default();
        for (key, bytes) in pairs {
            batch.insert(key_md5_hex(key).as_bytes(), bytes);
        }
        Ok(self.db.apply_batch(batch)?)
    }

    /// The bytes are sled's own `IVec` (shared, not copied).
    fn get(&self, key: &str, found: &mut dyn FnMut(&[u8])) -> Result<bool> {
        Ok(self.db.get(key_md5_hex(key).as_bytes())?.map(|b| found(&b)).is_some())
    }

    fn for_each(&self, each: &mut dyn FnMut(&[u8])) -> Result<usize> {
        let mut count = 0;
        for entry in self.db.iter() {
            each(&entry?.1);
            count += 1;
        }
        Ok(count)
    }

    fn clear(&self) -> Result<()> {
        Ok(self.db.clear()?)
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// A scan.
    fn count(&self) -> Result<usize> {
        Ok(self.db.len())
    }
}
