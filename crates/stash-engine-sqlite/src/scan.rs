//! Streaming every entry in pages, by digest order (keyset pagination).
//!
//! Each page is one short statement on a pooled connection: no read
//! transaction stays open while the caller handles the records, so the
//! caller may write to the stash (or another process may) while iterating.
//! Entries written or removed during a scan may or may not be seen; every
//! entry present for the whole scan is seen exactly once.

use std::collections::VecDeque;
use std::sync::Arc;

use stash_core::{Digest, Record, Result};

use crate::error::corrupt;
use crate::pool::Pool;

/// Records read per page at most.
const PAGE_ROWS: usize = 512;
/// A page also ends once it holds this many bytes (big values).
const PAGE_BYTES: usize = 8 << 20;

/// The iterator behind `scan` and `scan_keys`.
pub(crate) struct Scan {
    pool: Arc<Pool>,
    with_values: bool,
    /// The last digest handed out; the next page starts after it.
    after: Vec<u8>,
    page: VecDeque<Record>,
    done: bool,
}

impl Scan {
    pub(crate) fn new(pool: Arc<Pool>, with_values: bool) -> Scan {
        // An empty blob sorts before every digest.
        Scan { pool, with_values, after: Vec::new(), page: VecDeque::new(), done: false }
    }

    fn fill(&mut self) -> Result<()> {
        let pool = &*self.pool;
        let conn = pool.get()?;
        let err = |e| pool.error(e, "read a page of entries");
        let sql = if self.with_values {
            "SELECT digest, key, value FROM entries WHERE digest > ?1 ORDER BY digest LIMIT ?2"
        } else {
            "SELECT digest, key FROM entries WHERE digest > ?1 ORDER BY digest LIMIT ?2"
        };
        let mut stmt = conn.prepare_cached(sql).map_err(err)?;
        let mut rows = stmt.query(rusqlite::params![self.after, PAGE_ROWS as i64]).map_err(err)?;
        let (mut count, mut bytes) = (0, 0);
        while let Some(row) = rows.next().map_err(err)? {
            let digest = row.get_ref(0).map_err(err)?;
            let digest = digest
                .as_blob()
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .ok_or_else(|| corrupt("an entry's digest is not 16 bytes", pool.path()))?;
            let key = row.get_ref(1).map_err(err)?.as_blob().map(<[u8]>::to_vec);
            let key = key.map_err(|_| corrupt("an entry's key is not a blob", pool.path()))?;
            let value = if self.with_values {
                let value = row.get_ref(2).map_err(err)?.as_blob().map(<[u8]>::to_vec);
                value.map_err(|_| corrupt("an entry's value is not a blob", pool.path()))?
            } else {
                Vec::new()
            };
            count += 1;
            bytes += key.len() + value.len();
            self.page.push_back(Record { digest: Digest(digest), key, value });
            if bytes >= PAGE_BYTES {
                break;
            }
        }
        match self.page.back() {
            Some(last) => self.after = last.digest.0.to_vec(),
            None => self.done = true,
        }
        if count < PAGE_ROWS && bytes < PAGE_BYTES {
            self.done = true;
        }
        Ok(())
    }
}

impl Iterator for Scan {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
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
