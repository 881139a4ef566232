//! Streaming every entry in pages, by digest order (keyset pagination).
//!
//! Each page is one short statement on a pooled connection: no read
//! transaction stays open while the caller handles the records, so the
//! caller may write to the stash (or another process may) while iterating.
//! Entries written or removed during a scan may or may not be seen; every
//! entry present for the whole scan is seen exactly once.

use std::collections::VecDeque;
use std::sync::Arc;

use rusqlite::Row;
use stash_engine_api::{Digest, EntryMeta, Record, Result};

use crate::error::corrupt;
use crate::pool::Pool;

/// Records read by the first page at most; each full page doubles the next
/// one's, up to [`MAX_PAGE_ROWS`]: a short scan reads little ahead, a long
/// one starts few statements (each page's start, a read transaction and a
/// seek, cost a 512-row page about a quarter of its SQLite time).
const PAGE_ROWS: usize = 512;
/// Records read per page at most, however long the scan.
const MAX_PAGE_ROWS: usize = 8192;
/// A page also ends once it holds this many bytes (big values).
const PAGE_BYTES: usize = 8 << 20;

/// What a scan reads: its page query and how a row becomes an item.
pub(crate) trait Reader: Send + 'static {
    /// What the scan yields.
    type Item: Send + 'static;
    /// The page query: `?1` the last digest seen, `?2` the page size and,
    /// when [`now`](Reader::now) is `Some`, `?3` the time entries expire at.
    fn sql(&self) -> &'static str;
    /// The time that hides expired entries, if the scan hides them.
    fn now(&self) -> Option<i64>;
    /// The item of one row, and how many bytes it holds.
    fn read(&self, pool: &Pool, digest: Digest, row: &Row<'_>) -> Result<(Self::Item, usize)>;
    /// The slot of an item, where the next page starts.
    fn digest(item: &Self::Item) -> Digest;
}

/// Reads live records, with or without their newest value.
pub(crate) struct Records {
    /// Read the values too (`scan`), or only keys (`scan_keys`).
    pub with_values: bool,
    /// Entries expired at this time are skipped.
    pub now: i64,
}

impl Reader for Records {
    type Item = Record;

    fn sql(&self) -> &'static str {
        if self.with_values {
            "SELECT digest, key, value FROM entries
             WHERE digest > ?1 AND (expires_at IS NULL OR expires_at > ?3) ORDER BY digest LIMIT ?2"
        } else {
            "SELECT digest, key FROM entries
             WHERE digest > ?1 AND (expires_at IS NULL OR expires_at > ?3) ORDER BY digest LIMIT ?2"
        }
    }

    fn now(&self) -> Option<i64> {
        Some(self.now)
    }

    fn read(&self, pool: &Pool, digest: Digest, row: &Row<'_>) -> Result<(Record, usize)> {
        let key = blob(pool, row, 1, "an entry's key")?.to_vec();
        let value =
            if self.with_values { blob(pool, row, 2, "an entry's value")?.to_vec() } else { Vec::new() };
        let bytes = key.len() + value.len();
        Ok((Record { digest, key, value }, bytes))
    }

    fn digest(item: &Record) -> Digest {
        item.digest
    }
}

/// Reads the metadata of every entry, expired ones included, without
/// reading a value: `length()` of a blob column reads only its header, and
/// the `versions` table is visited only for entries that have older versions.
pub(crate) struct Metas;

impl Reader for Metas {
    type Item = EntryMeta;

    fn sql(&self) -> &'static str {
        "SELECT digest, key, written_at, expires_at, history,
                length(value) + CASE WHEN history > 0 THEN
                    (SELECT coalesce(sum(length(v.value)), 0) FROM versions v WHERE v.digest = e.digest)
                ELSE 0 END
         FROM entries e WHERE digest > ?1 ORDER BY digest LIMIT ?2"
    }

    fn now(&self) -> Option<i64> {
        None
    }

    fn read(&self, pool: &Pool, digest: Digest, row: &Row<'_>) -> Result<(EntryMeta, usize)> {
        let err = |e| pool.error(e, "read the metadata of an entry");
        let key = blob(pool, row, 1, "an entry's key")?.to_vec();
        let written_at_micros: i64 = row.get(2).map_err(err)?;
        let expires_at_micros: Option<i64> = row.get(3).map_err(err)?;
        let history: i64 = row.get(4).map_err(err)?;
        let value_bytes: i64 = row.get(5).map_err(err)?;
        let versions = u64::try_from(history)
            .ok()
            .and_then(|h| h.checked_add(1))
            .ok_or_else(|| corrupt(format!("an entry records {history} older versions"), pool.path()))?;
        let value_bytes = u64::try_from(value_bytes)
            .map_err(|_| corrupt(format!("an entry's values total {value_bytes} bytes"), pool.path()))?;
        let bytes = key.len();
        let meta = EntryMeta { digest, key, written_at_micros, expires_at_micros, versions, value_bytes };
        Ok((meta, bytes))
    }

    fn digest(item: &EntryMeta) -> Digest {
        item.digest
    }
}

/// The blob in column `i`, or a `Corrupt` error.
fn blob<'r>(pool: &Pool, row: &'r Row<'_>, i: usize, what: &str) -> Result<&'r [u8]> {
    let value = row.get_ref(i).map_err(|e| pool.error(e, "read a page of entries"))?;
    value.as_blob().map_err(|_| corrupt(format!("{what} is not a blob"), pool.path()))
}

/// The iterator behind `scan`, `scan_keys` and `scan_meta`.
pub(crate) struct Scan<R: Reader> {
    pool: Arc<Pool>,
    reader: R,
    /// The last digest handed out; the next page starts after it.
    after: Vec<u8>,
    page: VecDeque<R::Item>,
    /// The row limit of the next page.
    rows: usize,
    done: bool,
}

impl<R: Reader> Scan<R> {
    pub(crate) fn new(pool: Arc<Pool>, reader: R) -> Scan<R> {
        // An empty blob sorts before every digest.
        Scan { pool, reader, after: Vec::new(), page: VecDeque::new(), rows: PAGE_ROWS, done: false }
    }

    fn fill(&mut self) -> Result<()> {
        let pool = &*self.pool;
        let conn = pool.get()?;
        let err = |e| pool.error(e, "read a page of entries");
        let mut stmt = conn.prepare_cached(self.reader.sql()).map_err(err)?;
        let limit = self.rows as i64;
        let mut rows = match self.reader.now() {
            Some(now) => stmt.query(rusqlite::params![self.after, limit, now]),
            None => stmt.query(rusqlite::params![self.after, limit]),
        }
        .map_err(err)?;
        let (mut count, mut bytes) = (0, 0);
        while let Some(row) = rows.next().map_err(err)? {
            let digest = row.get_ref(0).map_err(err)?;
            let digest = digest
                .as_blob()
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .ok_or_else(|| corrupt("an entry's digest is not 16 bytes", pool.path()))?;
            let (item, size) = self.reader.read(pool, Digest(digest), row)?;
            count += 1;
            bytes += size;
            self.page.push_back(item);
            if bytes >= PAGE_BYTES {
                break;
            }
        }
        match self.page.back() {
            Some(last) => self.after = R::digest(last).0.to_vec(),
            None => self.done = true,
        }
        if count < self.rows && bytes < PAGE_BYTES {
            self.done = true;
        }
        self.rows = (self.rows * 2).min(MAX_PAGE_ROWS);
        Ok(())
    }
}

impl<R: Reader> Iterator for Scan<R> {
    type Item = Result<R::Item>;

    fn next(&mut self) -> Option<Result<R::Item>> {
        if self.page.is_empty()
            && !self.done
            && let Err(e) = self.fill()
        {
            self.done = true;
            return Some(Err(e));
        }
        self.page.pop_front().map(Ok)
    }
}
