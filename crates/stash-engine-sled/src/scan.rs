//! Streaming over every record without blocking writers.
//!
//! A sled iterator takes no lock between items (each step pins an epoch
//! briefly), so the caller may write to the stash while iterating; records
//! written meanwhile may or may not be seen.

use std::sync::Arc;

use stash_engine_api::clock::now_micros;
use stash_engine_api::{Digest, EntryMeta, Error, ErrorKind, Record, Result};

use crate::error::sled_error;
use crate::store::Store;

/// sled's iterator, ended after its first error. sled does not move past a
/// step that failed, and once a write of its files failed (a full disk) it
/// fails every step: without this, a scan would yield the same error forever.
pub(crate) struct Cursor<I = sled::Iter> {
    inner: I,
    failed: bool,
}

impl<I> Cursor<I> {
    pub(crate) fn new(inner: I) -> Cursor<I> {
        Cursor { inner, failed: false }
    }
}

impl<I: Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> Iterator for Cursor<I> {
    type Item = sled::Result<(sled::IVec, sled::IVec)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.inner.next()?;
        self.failed = item.is_err();
        Some(item)
    }
}

/// The records of a store, newest value of each (or keys only); entries
/// expired when the scan began are skipped.
pub(crate) struct Scan {
    /// Declared first: dropped before the store it reads.
    iter: Cursor,
    store: Arc<Store>,
    keys_only: bool,
    now: i64,
}

/// The slot of a record as a digest, or a `Corrupt` error.
fn digest_of(store: &Store, slot: &[u8]) -> Result<Digest> {
    <[u8; 16]>::try_from(slot).map(Digest).map_err(|_| {
        Error::new(
            ErrorKind::Corrupt,
            format!("a record's slot is {} bytes, not a 16-byte digest", slot.len()),
        )
        .with_context("file", store.dir().display())
    })
}

impl Scan {
    pub(crate) fn new(store: Arc<Store>, keys_only: bool) -> Scan {
        Scan { iter: Cursor::new(store.iter()), store, keys_only, now: now_micros() }
    }

    /// The record, or `None` if it has expired.
    fn record(&self, slot: &[u8], bytes: &[u8]) -> Result<Option<Record>> {
        let digest = digest_of(&self.store, slot)?;
        let view = self.store.parse(&digest, bytes)?;
        if !view.live(self.now) {
            return Ok(None);
        }
        let value = if self.keys_only {
            Vec::new()
        } else {
            let (_, value) = self.store.parse_newest(&digest, &view)?;
            value.to_vec()
        };
        Ok(Some(Record { digest, key: view.key.to_vec(), value }))
    }
}

impl Iterator for Scan {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            let found = match self.iter.next()? {
                Ok((slot, bytes)) => self.record(&slot, &bytes).transpose(),
                Err(e) => Some(Err(sled_error(e, "list records", self.store.dir()))),
            };
            if found.is_some() {
                return found;
            }
        }
    }
}

/// The metadata of every record, expired ones included; no value is copied.
pub(crate) struct MetaScan {
    /// Declared first: dropped before the store it reads.
    iter: Cursor,
    store: Arc<Store>,
}

impl MetaScan {
    pub(crate) fn new(store: Arc<Store>) -> MetaScan {
        MetaScan { iter: Cursor::new(store.iter()), store }
    }

    fn meta(&self, slot: &[u8], bytes: &[u8]) -> Result<EntryMeta> {
        let digest = digest_of(&self.store, slot)?;
        let view = self.store.parse(&digest, bytes)?;
        let (written_at_micros, _) = self.store.parse_newest(&digest, &view)?;
        let (versions, value_bytes) = self.store.parse_sizes(&digest, &view)?;
        Ok(EntryMeta {
            digest,
            key: view.key.to_vec(),
            written_at_micros,
            expires_at_micros: view.expires_at,
            versions,
            value_bytes,
        })
    }
}

impl Iterator for MetaScan {
    type Item = Result<EntryMeta>;

    fn next(&mut self) -> Option<Result<EntryMeta>> {
        Some(match self.iter.next()? {
            Ok((slot, bytes)) => self.meta(&slot, &bytes),
            Err(e) => Err(sled_error(e, "list records", self.store.dir())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_ends_after_its_first_error() {
        let failing = std::iter::repeat_with(|| Err(sled::Error::Io(std::io::Error::other("disk full"))));
        let items: Vec<_> = Cursor::new(failing).take(10).collect();
        assert_eq!(items.len(), 1, "one error, then the end");
        let ok = || Ok((sled::IVec::from(&b"k"[..]), sled::IVec::from(&b"v"[..])));
        let mixed = vec![ok(), ok(), Err(sled::Error::Io(std::io::Error::other("x"))), ok()];
        assert_eq!(Cursor::new(mixed.into_iter()).count(), 3, "the items before the error, and the error");
    }
}
