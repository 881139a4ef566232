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
use stash_engine_api::cursor::RecordPage;
use stash_engine_api::{Digest, EntryMeta, LentRecord, Record, RecordCursor, Result};

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

/// What a scan reads: its page query and how a row joins the page.
///
/// A page query binds its row limit as `LIMIT ?2 + 0`, not `LIMIT ?2`: SQLite's
/// planner reads a bound plain `LIMIT` value, so each page's new `?1` would
/// compile the statement again (about 66k instructions a page, measured).
pub(crate) trait Reader: Send + 'static {
    /// Where a page's rows are kept until they are handed out.
    type Page: Page;
    /// The page query: `?1` the last digest seen, `?2` the page size and,
    /// when [`now`](Reader::now) is `Some`, `?3` the time entries expire at.
    fn sql(&self) -> &'static str;
    /// The time that hides expired entries, if the scan hides them.
    fn now(&self) -> Option<i64>;
    /// Adds one row to `page`; returns how many bytes it holds.
    fn read(&self, pool: &Pool, digest: Digest, row: &Row<'_>, page: &mut Self::Page) -> Result<usize>;
}

/// The rows of one page, handed out in order.
pub(crate) trait Page: Default + Send + 'static {
    /// Whether every row read has been handed out.
    fn is_drained(&self) -> bool;
    /// Forgets the rows handed out, before the next page is read into it.
    fn reset(&mut self);
}

/// One buffer reused by every page instead of two allocations per record
/// (a third of a record's cost, measured with callgrind, when `items()`
/// decodes and drops them at once).
impl Page for RecordPage {
    fn is_drained(&self) -> bool {
        RecordPage::is_drained(self)
    }

    fn reset(&mut self) {
        RecordPage::reset(self)
    }
}

impl<T: Send + 'static> Page for VecDeque<T> {
    fn is_drained(&self) -> bool {
        self.is_empty()
    }

    fn reset(&mut self) {
        self.clear();
    }
}

/// Reads live records, with or without their newest value.
pub(crate) struct Records {
    /// Read the values too (`scan`), or only keys (`scan_keys`).
    pub with_values: bool,
    /// Entries expired at this time are skipped.
    pub now: i64,
}

impl Reader for Records {
    type Page = RecordPage;

    fn sql(&self) -> &'static str {
        if self.with_values {
            "SELECT digest, key, value FROM entries
             WHERE digest > ?1 AND (expires_at IS NULL OR expires_at > ?3) ORDER BY digest LIMIT ?2 + 0"
        } else {
            "SELECT digest, key FROM entries
             WHERE digest > ?1 AND (expires_at IS NULL OR expires_at > ?3) ORDER BY digest LIMIT ?2 + 0"
        }
    }

    fn now(&self) -> Option<i64> {
        Some(self.now)
    }

    fn read(&self, pool: &Pool, digest: Digest, row: &Row<'_>, page: &mut RecordPage) -> Result<usize> {
        let key = blob(pool, row, 1, "an entry's key")?;
        let value = if self.with_values { blob(pool, row, 2, "an entry's value")? } else { &[] };
        page.push(digest, key, value);
        Ok(key.len() + value.len())
    }
}

/// Reads the metadata of every entry, expired ones included, without
/// reading a value: `length()` of a blob column reads only its header, and
/// the `versions` table is visited only for entries that have older versions.
pub(crate) struct Metas;

impl Reader for Metas {
    type Page = VecDeque<EntryMeta>;

    fn sql(&self) -> &'static str {
        "SELECT digest, key, written_at, expires_at, history,
                length(value) + CASE WHEN history > 0 THEN
                    (SELECT coalesce(sum(length(v.value)), 0) FROM versions v WHERE v.digest = e.digest)
                ELSE 0 END
         FROM entries e WHERE digest > ?1 ORDER BY digest LIMIT ?2 + 0"
    }

    fn now(&self) -> Option<i64> {
        None
    }

    fn read(&self, pool: &Pool, digest: Digest, row: &Row<'_>, page: &mut Self::Page) -> Result<usize> {
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
        page.push_back(EntryMeta {
            digest,
            key,
            written_at_micros,
            expires_at_micros,
            versions,
            value_bytes,
        });
        Ok(bytes)
    }
}

/// The blob in column `i`, or a `Corrupt` error.
fn blob<'r>(pool: &Pool, row: &'r Row<'_>, i: usize, what: &str) -> Result<&'r [u8]> {
    let value = row.get_ref(i).map_err(|e| pool.error(e, "read a page of entries"))?;
    value.as_blob().map_err(|_| corrupt(format!("{what} is not a blob"), pool.path()))
}

/// The cursor behind `scan`, `scan_lent`, `scan_keys` and `scan_meta`.
pub(crate) struct Scan<R: Reader> {
    pool: Arc<Pool>,
    reader: R,
    /// The last digest read; the next page starts after it.
    after: Vec<u8>,
    page: R::Page,
    /// The row limit of the next page.
    rows: usize,
    done: bool,
}

impl<R: Reader> Scan<R> {
    pub(crate) fn new(pool: Arc<Pool>, reader: R) -> Scan<R> {
        // An empty blob sorts before every digest.
        Scan { pool, reader, after: Vec::new(), page: R::Page::default(), rows: PAGE_ROWS, done: false }
    }

    /// Reads the next page once the current one is handed out; an error
    /// ends the scan.
    fn refill(&mut self) -> Result<()> {
        if self.page.is_drained() && !self.done {
            self.page.reset();
            let filled = self.fill();
            if filled.is_err() {
                self.done = true;
            }
            filled?;
        }
        Ok(())
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
        let (mut count, mut bytes, mut last) = (0, 0, None);
        while let Some(row) = rows.next().map_err(err)? {
            let digest = row.get_ref(0).map_err(err)?;
            let digest = digest
                .as_blob()
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .ok_or_else(|| corrupt("an entry's digest is not 16 bytes", pool.path()))?;
            bytes += self.reader.read(pool, Digest(digest), row, &mut self.page)?;
            count += 1;
            last = Some(digest);
            if bytes >= PAGE_BYTES {
                break;
            }
        }
        match last {
            Some(last) => self.after = last.to_vec(),
            None => self.done = true,
        }
        if count < self.rows && bytes < PAGE_BYTES {
            self.done = true;
        }
        self.rows = (self.rows * 2).min(MAX_PAGE_ROWS);
        Ok(())
    }
}

impl RecordCursor for Scan<Records> {
    fn next_lent(&mut self) -> Option<Result<LentRecord<'_>>> {
        if let Err(e) = self.refill() {
            return Some(Err(e));
        }
        self.page.lend().map(Ok)
    }
}

impl Iterator for Scan<Records> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        self.next_lent().map(|lent| lent.map(|record| record.to_record()))
    }
}

impl Iterator for Scan<Metas> {
    type Item = Result<EntryMeta>;

    fn next(&mut self) -> Option<Result<EntryMeta>> {
        if let Err(e) = self.refill() {
            return Some(Err(e));
        }
        self.page.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, StatementStatus, params};
    use stash_engine_api::{Digest, DigestAlgo, Engine, WriteOptions};

    use super::*;
    use crate::{SqliteEngine, SqliteOptions};

    /// Runs `reader`'s page query over the file, three rows a page, and
    /// returns how many pages it read and how often SQLite compiled the
    /// statement again.
    fn pages_and_recompiles(db: &Connection, reader: &impl Reader) -> (usize, i32) {
        let mut after = Vec::new();
        let mut pages = 0;
        loop {
            let mut stmt = db.prepare_cached(reader.sql()).unwrap();
            let mut rows = match reader.now() {
                Some(now) => stmt.query(params![after, 3, now]).unwrap(),
                None => stmt.query(params![after, 3]).unwrap(),
            };
            let mut last = None;
            while let Some(row) = rows.next().unwrap() {
                last = Some(row.get::<_, Vec<u8>>(0).unwrap());
            }
            pages += 1;
            match last {
                Some(last) => after = last,
                None => break,
            }
        }
        (pages, db.prepare_cached(reader.sql()).unwrap().get_status(StatementStatus::RePrepare))
    }

    #[test]
    fn a_page_query_is_compiled_once_for_every_page() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        let engine = SqliteEngine::open(&path, SqliteOptions::default()).unwrap();
        for n in 0..10u8 {
            engine.put(&Digest([n; 16]), &[n], b"value", WriteOptions::default()).unwrap();
        }
        let db = Connection::open(&path).unwrap();
        let records = Records { with_values: true, now: 0 };
        let keys = Records { with_values: false, now: 0 };
        for (name, (pages, recompiles)) in [
            ("records", pages_and_recompiles(&db, &records)),
            ("keys", pages_and_recompiles(&db, &keys)),
            ("metadata", pages_and_recompiles(&db, &Metas)),
        ] {
            assert_eq!(pages, 5, "{name}");
            assert_eq!(recompiles, 0, "{name}: the page query was compiled again");
        }
    }

    #[test]
    fn a_scan_lends_every_record_across_pages_and_owns_them_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        let engine = SqliteEngine::open(&path, SqliteOptions::default()).unwrap();
        // More than the first page, with keys and values of varied lengths.
        let n = PAGE_ROWS + 100;
        for i in 0..n {
            let key = format!("key-{i}");
            let value = vec![i as u8; i % 7];
            engine
                .put(
                    &DigestAlgo::Blake3.digest(key.as_bytes()),
                    key.as_bytes(),
                    &value,
                    WriteOptions::default(),
                )
                .unwrap();
        }
        let mut cursor = engine.scan_lent().unwrap();
        let mut lent = Vec::new();
        while let Some(record) = cursor.next_lent() {
            lent.push(record.unwrap().to_record());
        }
        let owned: Vec<Record> = engine.scan().unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(lent.len(), n);
        assert_eq!(lent, owned);
        for record in &lent {
            let i: usize = std::str::from_utf8(&record.key).unwrap()["key-".len()..].parse().unwrap();
            assert_eq!(record.value, vec![i as u8; i % 7]);
        }
    }
}
