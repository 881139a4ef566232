//! Streaming over every record without blocking writers.
//!
//! A sled iterator takes no lock between items (each step pins an epoch
//! briefly), so the caller may write to the stash while iterating; records
//! written meanwhile may or may not be seen.

use std::sync::Arc;

use stash_core::{Digest, Error, ErrorKind, Record, Result};

use crate::error::sled_error;
use crate::store::Store;

/// The records of a store, newest value of each (or keys only).
pub(crate) struct Scan {
    /// Declared first: dropped before the store it reads.
    iter: sled::Iter,
    store: Arc<Store>,
    keys_only: bool,
}

impl Scan {
    pub(crate) fn new(store: Arc<Store>, keys_only: bool) -> Scan {
        Scan { iter: store.iter(), store, keys_only }
    }

    fn record(&self, slot: &[u8], bytes: &[u8]) -> Result<Record> {
        let digest = <[u8; 16]>::try_from(slot).map(Digest).map_err(|_| {
            Error::new(
                ErrorKind::Corrupt,
                format!("a record's slot is {} bytes, not a 16-byte digest", slot.len()),
            )
            .with_context("file", self.store.dir().display())
        })?;
        let view = self.store.parse(&digest, bytes)?;
        let value = if self.keys_only {
            Vec::new()
        } else {
            let (_, value) = self.store.parse_newest(&digest, &view)?;
            value.to_vec()
        };
        Ok(Record { digest, key: view.key.to_vec(), value })
    }
}

impl Iterator for Scan {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        Some(match self.iter.next()? {
            Ok((slot, bytes)) => self.record(&slot, &bytes),
            Err(e) => Err(sled_error(e, "list records", self.store.dir())),
        })
    }
}
