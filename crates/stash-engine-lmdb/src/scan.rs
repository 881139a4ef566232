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

use stash_core::clock::{is_expired, now_micros};
use stash_core::{Digest, EntryMeta, Error, ErrorKind, Record, Result};

use heed::RoTxn;

use crate::env::{Db, LmdbEnv};
use crate::error::damaged;
use crate::record;

/// Records per chunk.
const CHUNK_RECORDS: usize = 1024;
/// Bytes per chunk (a chunk holds at least one record, whatever its size).
const CHUNK_BYTES: usize = 8 << 20;

/// One chunk of items, read in one transaction.
struct Chunk<T> {
    records: Vec<Result<T>>,
    /// The last LMDB key read, if any.
    last: Option<Vec<u8>>,
    /// Whether the database ended within this chunk.
    ended: bool,
}

/// Turns one stored record into an item, or skips it (`None`): one of
/// [`records`], [`keys`] and [`meta`], or a conversion of the Python layout
/// (which looks the value record up through the transaction it is given).
pub(crate) type Convert<T> =
    Box<dyn Fn(&LmdbEnv, &RoTxn<'_>, Db, &[u8], &[u8], i64) -> Option<Result<T>> + Send + Sync>;

/// A conversion of the native layout, which needs no transaction.
pub(crate) type NativeConvert<T> = fn(&LmdbEnv, &[u8], &[u8], i64) -> Option<Result<T>>;

/// A streaming iterator over the records of one environment.
pub(crate) struct Scan<T> {
    env: Arc<LmdbEnv>,
    convert: Convert<T>,
    /// The clock reading that decides expiry, taken when the scan starts.
    now: i64,
    /// The last LMDB key read; the next chunk starts after it.
    after: Option<Vec<u8>>,
    buffered: std::vec::IntoIter<Result<T>>,
    done: bool,
}

impl<T> Scan<T> {
    /// Iterates over every record of the native layout, converted by `convert`.
    pub fn new(env: Arc<LmdbEnv>, convert: NativeConvert<T>) -> Scan<T>
    where
        T: 'static,
    {
        Scan::with(env, Box::new(move |env, _, _, key, value, now| convert(env, key, value, now)))
    }

    /// Iterates over every record, converted by `convert`.
    pub fn with(env: Arc<LmdbEnv>, convert: Convert<T>) -> Scan<T> {
        Scan { env, convert, now: now_micros(), after: None, buffered: Vec::new().into_iter(), done: false }
    }

    /// Reads the next chunk.
    fn fetch(&self) -> Result<Chunk<T>> {
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
                if let Some(item) = (self.convert)(env, rtxn, db, key, value, self.now) {
                    chunk.push(item);
                }
            }
            Ok(Chunk { records: chunk, last: last.map(<[u8]>::to_vec), ended })
        })
    }
}

/// The newest value of a live record.
pub(crate) fn records(env: &LmdbEnv, lmdb_key: &[u8], stored: &[u8], now: i64) -> Option<Result<Record>> {
    to_record(env, lmdb_key, stored, now, false).transpose()
}

/// The key of a live record (its value left empty).
pub(crate) fn keys(env: &LmdbEnv, lmdb_key: &[u8], stored: &[u8], now: i64) -> Option<Result<Record>> {
    to_record(env, lmdb_key, stored, now, true).transpose()
}

/// The metadata of any record, expired or not.
pub(crate) fn meta(env: &LmdbEnv, lmdb_key: &[u8], stored: &[u8], _now: i64) -> Option<Result<EntryMeta>> {
    Some((|| {
        let digest = digest_of(env, lmdb_key)?;
        let bad = |reason| damaged(reason, env.file()).with_context("digest", digest);
        let view = record::parse(stored).map_err(bad)?;
        let (written_at_micros, _) = view.newest().map_err(bad)?;
        let (versions, value_bytes) = view.totals().map_err(bad)?;
        Ok(EntryMeta {
            digest,
            key: view.key.to_vec(),
            written_at_micros,
            expires_at_micros: view.expires,
            versions,
            value_bytes,
        })
    })())
}

fn digest_of(env: &LmdbEnv, lmdb_key: &[u8]) -> Result<Digest> {
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
    Ok(Digest(digest))
}

/// Decodes one stored record into the newest value of its key; `None` once expired.
fn to_record(
    env: &LmdbEnv,
    lmdb_key: &[u8],
    stored: &[u8],
    now: i64,
    keys_only: bool,
) -> Result<Option<Record>> {
    let digest = digest_of(env, lmdb_key)?;
    let bad = |reason| damaged(reason, env.file()).with_context("digest", digest);
    let view = record::parse(stored).map_err(bad)?;
    if is_expired(view.expires, now) {
        return Ok(None);
    }
    let value = if keys_only { Vec::new() } else { view.newest().map_err(bad)?.1.to_vec() };
    Ok(Some(Record { digest, key: view.key.to_vec(), value }))
}

impl<T> Iterator for Scan<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
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
