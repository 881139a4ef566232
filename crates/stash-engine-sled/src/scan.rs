//! Streaming over every record without blocking writers.
//!
//! A sled iterator takes no lock between items (each step pins an epoch
//! briefly), so the caller may write to the stash while iterating; records
//! written meanwhile may or may not be seen.

use std::sync::Arc;

use stash_core::clock::now_micros;
use stash_core::{Digest, EntryMeta, Error, ErrorKind, Record, Result};

use crate::error::sled_error;
use crate::store::Store;

/// The records of a store, newest value of each (or keys only); entries
/// expired when the scan began are skipped.
pub(crate) struct Scan {
    /// Declared first: dropped before the store it reads.
    iter: sled::Iter,
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
        Scan { iter: store.iter(), store, keys_only, now: now_micros() }
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
    iter: sled::Iter,
    store: Arc<Store>,
}

impl MetaScan {
    pub(crate) fn new(store: Arc<Store>) -> MetaScan {
        MetaScan { iter: store.iter(), store }
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
