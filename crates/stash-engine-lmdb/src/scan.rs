//! Iteration in chunks: each chunk is read in its own short read
//! transaction, and the next one starts after the last LMDB key seen.
//!
//! No transaction stays open between calls to `next`, so the caller may
//! write to the stash while iterating (from the same thread too), the map
//! may be resized, and a long iteration does not pin old pages (which would
//! make the file grow). The price: an iteration is not one snapshot; a key
//! written or deleted meanwhile may or may not be seen, but no key is seen
//! twice (keys are visited in digest order).

use std::ops::Bound;
use std::sync::Arc;

use stash_core::{Digest, Error, ErrorKind, Record, Result};

use crate::env::LmdbEnv;
use crate::error::damaged;
use crate::record;

/// Records per chunk.
const CHUNK_RECORDS: usize = 1024;
/// Bytes per chunk (a chunk holds at least one record, whatever its size).
const CHUNK_BYTES: usize = 8 << 20;

/// One chunk of records, read in one transaction.
struct Chunk {
    records: Vec<Result<Record>>,
    /// The last LMDB key read, if any.
    last: Option<Vec<u8>>,
    /// Whether the database ended within this chunk.
    ended: bool,
}

/// A streaming iterator over the records of one environment.
pub(crate) struct Scan {
    env: Arc<LmdbEnv>,
    keys_only: bool,
    /// The last LMDB key read; the next chunk starts after it.
    after: Option<Vec<u8>>,
    buffered: std::vec::IntoIter<Result<Record>>,
    done: bool,
}

impl Scan {
    /// Iterates over every record; with `keys_only`, values are left empty.
    pub fn new(env: Arc<LmdbEnv>, keys_only: bool) -> Scan {
        Scan { env, keys_only, after: None, buffered: Vec::new().into_iter(), done: false }
    }

    /// Reads the next chunk.
    fn fetch(&self) -> Result<Chunk> {
        let env = &*self.env;
        env.read("iterate over the stash", |rtxn, db| {
            let lower = match &self.after {
                Some(key) => Bound::Excluded(key.as_slice()),
                None => Bound::Unbounded,
            };
            let mut chunk = Vec::new();
            let mut bytes = 0;
            let mut last: Option<&[u8]> = None;
            let mut ended = true;
            for item in db.range(rtxn, &(lower, Bound::Unbounded))? {
                if chunk.len() >= CHUNK_RECORDS || bytes >= CHUNK_BYTES {
                    ended = false;
                    break;
                }
                let (key, value) = item?;
                bytes += key.len() + value.len();
                last = Some(key);
                chunk.push(to_record(env, key, value, self.keys_only));
            }
            Ok(Chunk { records: chunk, last: last.map(<[u8]>::to_vec), ended })
        })
    }
}

/// Decodes one stored record into the newest value of its key.
fn to_record(env: &LmdbEnv, lmdb_key: &[u8], stored: &[u8], keys_only: bool) -> Result<Record> {
    let Ok(digest) = <[u8; 16]>::try_from(lmdb_key) else {
        return Err(Error::new(
            ErrorKind::Corrupt,
            format!(
                "an LMDB key of {} bytes is not a 16-byte digest: a record not written by this engine",
                lmdb_key.len()
            ),
        )
        .with_context("file", env.file().display()));
    };
    let digest = Digest(digest);
    let bad = |reason| damaged(reason, env.file()).with_context("digest", digest);
    let view = record::parse(stored).map_err(bad)?;
    let value = if keys_only { Vec::new() } else { view.newest().map_err(bad)?.1.to_vec() };
    Ok(Record { digest, key: view.key.to_vec(), value })
}

impl Iterator for Scan {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            if let Some(item) = self.buffered.next() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.fetch() {
                Ok(chunk) => {
                    self.done = chunk.ended || chunk.last.is_none();
                    self.after = chunk.last;
                    self.buffered = chunk.records.into_iter();
                }
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            }
        }
    }
}
