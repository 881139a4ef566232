//! Iteration in chunks: each chunk is read in its own short read
//! transaction, and the next one starts after the last LMDB key seen.
//!
//! No transaction stays open between calls to `next`, so the caller may
//! write to the stash while iterating (from the same thread too), the map
//! may be resized, and a long iteration does not pin old pages (which would
//! make the file grow). The price: an iteration is not one snapshot; a key
//! written or deleted meanwhile may or may not be seen, but no key is seen
//! twice (keys are visited in digest order).
//!
//! LMDB trusts its pages. On a damaged leaf (a zeroed page, nodes
//! overwritten) its cursor reads nodes past the page's real ones, and the
//! next step may follow a garbage pointer out of the map: the process
//! crashes. A sound tree yields keys in strictly increasing order, of 1 to
//! 511 bytes (16 in the native layout), so every walk checks each key
//! ([`KeyOrder`]) and stops at the first that breaks the rule, with a
//! `Corrupt` error naming the file, before LMDB steps further. (Damage the
//! cursor meets before it hands the key over can still crash the process:
//! there is no checksum to find it earlier; and LMDB's debug build, compiled
//! with `debug_assertions`, aborts on its assertion `IS_LEAF(mp)` as soon as
//! the cursor steps onto a page that is not a leaf.)

use std::ops::Bound;
use std::sync::Arc;

use stash_engine_api::clock::{is_expired, now_micros};
use stash_engine_api::cursor::RecordPage;
use stash_engine_api::{Digest, EntryMeta, Error, ErrorKind, LentRecord, Record, RecordCursor, Result};

use heed::RoTxn;

use crate::env::{Db, LmdbEnv};
use crate::error::damaged;
use crate::record;

/// Records per chunk.
const CHUNK_RECORDS: usize = 1024;
/// The longest key LMDB stores (`mdb_env_get_maxkeysize` of its default build).
const MAX_KEY: usize = 511;
/// The LMDB key of the native layout: the key digest.
pub(crate) const DIGEST_KEY: usize = 16;

/// Checks the keys of one cursor walk as they come (see the module docs).
pub(crate) struct KeyOrder<'a> {
    prev: Option<&'a [u8]>,
    /// The one length keys have (native layout), if any.
    exact: Option<usize>,
}

impl<'a> KeyOrder<'a> {
    /// A walk that starts after `after`, of keys of length `exact` if given.
    pub fn new(after: Option<&'a [u8]>, exact: Option<usize>) -> KeyOrder<'a> {
        KeyOrder { prev: after, exact }
    }

    /// Whether `key` may follow the keys seen so far in a sound tree; why not otherwise.
    pub fn check(&mut self, key: &'a [u8]) -> std::result::Result<(), &'static str> {
        if key.is_empty() || key.len() > MAX_KEY || self.exact.is_some_and(|n| key.len() != n) {
            return Err("a page holds a key of an impossible length");
        }
        if self.prev.is_some_and(|prev| key <= prev) {
            return Err("a page holds keys out of order");
        }
        self.prev = Some(key);
        Ok(())
    }
}

/// The error that ends a walk at a key [`KeyOrder`] refuses.
pub(crate) fn damaged_page(reason: &str, file: &std::path::Path) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!(
            "the LMDB database is damaged: {reason}; the walk stops there, before LMDB follows the damaged page"
        ),
    )
    .with_context("file", file.display())
}
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
    /// The length of every LMDB key (native layout), if one.
    key_len: Option<usize>,
    buffered: std::vec::IntoIter<Result<T>>,
    done: bool,
}

impl<T> Scan<T> {
    /// Iterates over every record of the native layout, converted by `convert`.
    pub fn new(env: Arc<LmdbEnv>, convert: NativeConvert<T>) -> Scan<T>
    where
        T: 'static,
    {
        let mut scan =
            Scan::with(env, Box::new(move |env, _, _, key, value, now| convert(env, key, value, now)));
        scan.key_len = Some(DIGEST_KEY);
        scan
    }

    /// Iterates over every record, converted by `convert`.
    pub fn with(env: Arc<LmdbEnv>, convert: Convert<T>) -> Scan<T> {
        Scan {
            env,
            convert,
            now: now_micros(),
            after: None,
            key_len: None,
            buffered: Vec::new().into_iter(),
            done: false,
        }
    }

    /// Reads the next chunk.
    fn fetch(&self) -> Result<Chunk<T>> {
        let env = &*self.env;
        let mut records = Vec::new();
        let end = walk_chunk(env, self.after.as_deref(), self.key_len, |rtxn, db, key, value, restart| {
            if restart {
                records.clear();
            }
            match (self.convert)(env, rtxn, db, key, value, self.now) {
                Some(item) => {
                    records.push(item);
                    Visit::Kept
                }
                None => Visit::Skipped,
            }
        })?;
        records.extend(end.damaged.map(Err));
        Ok(Chunk { records, last: end.last, ended: end.ended })
    }
}

/// How one chunk's walk ended.
struct ChunkEnd {
    /// The last LMDB key read, if any.
    last: Option<Vec<u8>>,
    /// Whether the database ended within this chunk.
    ended: bool,
    /// The error of a key that broke the order (see [`KeyOrder`]); the walk stopped before it.
    damaged: Option<Error>,
}

/// What a chunk's walk did with one record.
enum Visit {
    /// Kept it: it counts toward [`CHUNK_RECORDS`].
    Kept,
    /// Skipped it (expired).
    Skipped,
    /// Ends the chunk with it (the next chunk starts after it).
    Stop,
}

/// Walks one chunk after `after` in one read transaction, handing each
/// stored `(key, value)` to `visit` until [`CHUNK_RECORDS`] kept records or
/// [`CHUNK_BYTES`]. `visit`'s last argument is `true` on the first record
/// of a walk run again (after the map grew): what it kept from the failed
/// attempt is to be dropped.
fn walk_chunk(
    env: &LmdbEnv,
    after: Option<&[u8]>,
    key_len: Option<usize>,
    mut visit: impl FnMut(&RoTxn<'_>, Db, &[u8], &[u8], bool) -> Visit,
) -> Result<ChunkEnd> {
    env.read("iterate over the stash", |rtxn, db| {
        let lower = match after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Unbounded,
        };
        let (mut kept, mut bytes, mut first) = (0, 0, true);
        let mut last: Option<&[u8]> = None;
        let mut ended = true;
        let mut damaged = None;
        let mut order = KeyOrder::new(after, key_len);
        for item in db.range(rtxn, &(lower, Bound::Unbounded))? {
            if kept >= CHUNK_RECORDS || bytes >= CHUNK_BYTES {
                ended = false;
                break;
            }
            let (key, value) = item?;
            if let Err(reason) = order.check(key) {
                damaged = Some(damaged_page(reason, env.file()));
                break;
            }
            bytes += key.len() + value.len();
            last = Some(key);
            match visit(rtxn, db, key, value, std::mem::take(&mut first)) {
                Visit::Kept => kept += 1,
                Visit::Skipped => {}
                Visit::Stop => {
                    ended = false;
                    break;
                }
            }
        }
        Ok(ChunkEnd { last: last.map(<[u8]>::to_vec), ended, damaged })
    })
}

/// The cursor behind the native layout's `scan_lent`: chunks read as
/// [`Scan`]'s, copied into one [`RecordPage`] reused by every chunk. A
/// record that does not parse ends its chunk; its error is handed out after
/// the records before it, and the next chunk starts after it, as [`Scan`]
/// goes on after an item's error.
pub(crate) struct LentScan {
    env: Arc<LmdbEnv>,
    /// The clock reading that decides expiry, taken when the scan starts.
    now: i64,
    /// The last LMDB key read; the next chunk starts after it.
    after: Option<Vec<u8>>,
    page: RecordPage,
    /// The error handed out once the page is lent.
    failed: Option<Error>,
    done: bool,
}

impl LentScan {
    /// Lends every live record of the native layout.
    pub fn new(env: Arc<LmdbEnv>) -> LentScan {
        LentScan {
            env,
            now: now_micros(),
            after: None,
            page: RecordPage::default(),
            failed: None,
            done: false,
        }
    }

    /// Reads the next chunk into the page.
    fn fetch(&mut self) -> Result<()> {
        let (env, now, page) = (&*self.env, self.now, &mut self.page);
        page.reset();
        let mut failed = None;
        let end = walk_chunk(env, self.after.as_deref(), Some(DIGEST_KEY), |_, _, key, stored, restart| {
            if restart {
                page.reset();
                failed = None;
            }
            match live_record(env, key, stored, now, false) {
                Ok(Some(lent)) => {
                    page.push(lent.digest, lent.key, lent.value);
                    Visit::Kept
                }
                Ok(None) => Visit::Skipped,
                Err(e) => {
                    failed = Some(e);
                    Visit::Stop
                }
            }
        })?;
        self.done = end.ended || end.last.is_none();
        self.after = end.last;
        // A key out of order ends the walk (`done` is set): its error comes last.
        self.failed = failed.or(end.damaged);
        Ok(())
    }
}

impl RecordCursor for LentScan {
    fn next_lent(&mut self) -> Option<Result<LentRecord<'_>>> {
        while self.page.is_drained() {
            if let Some(e) = self.failed.take() {
                return Some(Err(e));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.fetch() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.page.lend().map(Ok)
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
    Ok(live_record(env, lmdb_key, stored, now, keys_only)?.map(|lent| lent.to_record()))
}

/// One stored record's slot, key and newest value (empty with
/// `keys_only`), borrowed from it; `None` once expired.
fn live_record<'s>(
    env: &LmdbEnv,
    lmdb_key: &[u8],
    stored: &'s [u8],
    now: i64,
    keys_only: bool,
) -> Result<Option<LentRecord<'s>>> {
    let digest = digest_of(env, lmdb_key)?;
    let bad = |reason| damaged(reason, env.file()).with_context("digest", digest);
    let view = record::parse(stored).map_err(bad)?;
    if is_expired(view.expires, now) {
        return Ok(None);
    }
    let value = if keys_only { &[][..] } else { view.newest().map_err(bad)?.1 };
    Ok(Some(LentRecord { digest, key: view.key, value }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_accept_increasing_keys_of_the_layout_only() {
        let (a, b, c) = ([1u8; 16], [2u8; 16], [3u8; 16]);
        let mut order = KeyOrder::new(Some(&a), Some(DIGEST_KEY));
        assert!(order.check(&b).is_ok() && order.check(&c).is_ok());
        assert!(order.check(&c).is_err(), "a key seen twice");
        assert!(KeyOrder::new(Some(&b), Some(DIGEST_KEY)).check(&a).is_err(), "a key before the start");
        assert!(KeyOrder::new(None, Some(DIGEST_KEY)).check(&[]).is_err(), "an empty key (a zeroed page)");
        assert!(KeyOrder::new(None, Some(DIGEST_KEY)).check(&[1; 15]).is_err());
        let long = [1u8; MAX_KEY + 1];
        assert!(KeyOrder::new(None, None).check(&long).is_err(), "longer than LMDB stores");
        assert!(KeyOrder::new(None, None).check(b"0123.key").is_ok(), "any length in the Python layout");
    }
}
