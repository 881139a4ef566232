//! Python-identical lz4 keys for `python_compatible` stashes.
//!
//! The layout already is the Python library's; only the key bytes of an lz4
//! stash differ (`lz4_flex` picks other matches than the LZ4 1.9.4 that Python
//! uses, and the slot is the md5 of the compressed key). This wrapper
//! recompresses each key as LZ4 1.9.4 does (the stash's `ByteEncoding::python_key`)
//! before it reaches the engine, so the `.key` file and the slot folder are the
//! ones Python writes and reads.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use stash_engine_api::{
    ByteEncoding, Capabilities, Digest, DigestAlgo, Engine, LockAttempt, MetaIter, Put, RecordIter, Result,
    Version, WriteOptions,
};

use crate::PairtreeEngine;

/// A pairtree engine whose keys are recompressed as the Python library compresses them.
#[derive(Debug)]
pub(crate) struct PythonKeys {
    pub(crate) inner: PairtreeEngine,
    pub(crate) encoding: Arc<dyn ByteEncoding>,
}

impl PythonKeys {
    /// The slot and key bytes Python uses; a caller's digest that is not the
    /// md5 of its key (a deliberate slot) is kept.
    fn canon<'k>(&self, digest: &Digest, key: &'k [u8]) -> Result<(Digest, Cow<'k, [u8]>)> {
        match self.encoding.python_key(key)? {
            Some(python) if python != key => {
                let slot = if DigestAlgo::Md5.digest(key) == *digest {
                    DigestAlgo::Md5.digest(&python)
                } else {
                    *digest
                };
                Ok((slot, Cow::Owned(python)))
            }
            _ => Ok((*digest, Cow::Borrowed(key))),
        }
    }
}

impl Engine for PythonKeys {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (digest, key) = self.canon(digest, key)?;
        self.inner.get(&digest, &key)
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        let (digest, key) = self.canon(digest, key)?;
        self.inner.put(&digest, &key, value, options)
    }

    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        items.iter().try_for_each(|p| self.put(&p.digest, p.key, p.value, options))
    }

    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        let (digest, key) = self.canon(digest, key)?;
        self.inner.put_if_absent(&digest, &key, value, options)
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let (digest, key) = self.canon(digest, key)?;
        self.inner.delete(&digest, &key)
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let (digest, key) = self.canon(digest, key)?;
        self.inner.contains(&digest, &key)
    }

    fn len(&self) -> Result<usize> {
        self.inner.len()
    }

    fn is_empty(&self) -> Result<bool> {
        self.inner.is_empty()
    }

    fn clear(&self) -> Result<()> {
        self.inner.clear()
    }

    fn scan(&self) -> Result<RecordIter> {
        self.inner.scan()
    }

    fn scan_keys(&self) -> Result<RecordIter> {
        self.inner.scan_keys()
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let (digest, key) = self.canon(digest, key)?;
        self.inner.versions(&digest, &key)
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        self.inner.scan_meta()
    }

    fn disk_usage(&self) -> Result<Option<u64>> {
        self.inner.disk_usage()
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        let (digest, key) = self.canon(digest, key)?;
        self.inner.delete_unless_rewritten(&digest, &key, seen_written_at_micros)
    }

    fn try_lock(&self, name: &Digest, lease: Duration) -> Result<LockAttempt> {
        self.inner.try_lock(name, lease)
    }
}
