//! Records lent one at a time: [`RecordCursor`], what [`Engine::scan_lent`]
//! returns, and [`RecordPage`], the buffer an engine that reads records a
//! page at a time lends them from.
//!
//! `items()` decodes each record and drops it at once, so an owned
//! [`Record`] (two allocations and a copy) is pure cost there: a cursor
//! over a page buffer lends each record from bytes copied once into a
//! buffer reused by every page.
//!
//! [`Engine::scan_lent`]: crate::Engine::scan_lent

use crate::digest::Digest;
use crate::engine::{Record, RecordIter};
use crate::error::Result;

impl Record {
    /// The record borrowed, as a [`RecordCursor`] lends it.
    pub fn as_lent(&self) -> LentRecord<'_> {
        LentRecord { digest: self.digest, key: &self.key, value: &self.value }
    }
}

/// One stored entry lent by a [`RecordCursor`] until its next call: the
/// bytes stay in the engine's read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LentRecord<'a> {
    /// The slot.
    pub digest: Digest,
    /// Encoded key bytes.
    pub key: &'a [u8],
    /// Encoded value bytes (the newest version).
    pub value: &'a [u8],
}

impl LentRecord<'_> {
    /// An owned copy.
    pub fn to_record(&self) -> Record {
        Record { digest: self.digest, key: self.key.to_vec(), value: self.value.to_vec() }
    }
}

/// A streaming cursor over stored records that lends each one until the
/// next call, from [`Engine::scan_lent`](crate::Engine::scan_lent). Like a
/// [`RecordIter`] it holds no read transaction between calls.
///
/// ```
/// use stash_engine_api::cursor::{OwnedCursor, RecordCursor};
/// use stash_engine_api::{Digest, Record};
///
/// let records = vec![Ok(Record { digest: Digest([1; 16]), key: b"k".to_vec(), value: b"v".to_vec() })];
/// let mut cursor = OwnedCursor::new(Box::new(records.into_iter()));
/// let lent = cursor.next_lent().expect("one record")?;
/// assert_eq!((lent.key, lent.value), (&b"k"[..], &b"v"[..]));
/// assert!(cursor.next_lent().is_none());
/// # Ok::<(), stash_engine_api::Error>(())
/// ```
pub trait RecordCursor: Send {
    /// The next record, lent until the next call, or `None` at the end.
    fn next_lent(&mut self) -> Option<Result<LentRecord<'_>>>;
}

/// The cursor of an engine that yields owned records (the default of
/// [`Engine::scan_lent`](crate::Engine::scan_lent)): it keeps the current
/// record and lends it.
pub struct OwnedCursor {
    records: RecordIter,
    current: Option<Record>,
}

impl OwnedCursor {
    /// A cursor over `records`.
    pub fn new(records: RecordIter) -> OwnedCursor {
        OwnedCursor { records, current: None }
    }
}

impl RecordCursor for OwnedCursor {
    fn next_lent(&mut self) -> Option<Result<LentRecord<'_>>> {
        match self.records.next()? {
            Ok(record) => Some(Ok(self.current.insert(record).as_lent())),
            Err(e) => Some(Err(e)),
        }
    }
}

/// A page of records in one buffer, lent in the order they were pushed.
/// An engine's cursor fills it in one read transaction, lends its records,
/// then [`reset`](RecordPage::reset)s it for the next page, keeping its
/// capacity.
///
/// ```
/// use stash_engine_api::cursor::RecordPage;
/// use stash_engine_api::Digest;
///
/// let mut page = RecordPage::default();
/// page.push(Digest([1; 16]), b"k1", b"v1");
/// page.push(Digest([2; 16]), b"k2", b"");
/// assert_eq!(page.lend().map(|r| (r.key, r.value)), Some((&b"k1"[..], &b"v1"[..])));
/// assert_eq!(page.lend().map(|r| (r.key, r.value)), Some((&b"k2"[..], &b""[..])));
/// assert!(page.lend().is_none() && page.is_drained());
/// ```
#[derive(Debug, Default)]
pub struct RecordPage {
    /// Every record's key and value bytes, back to back.
    bytes: Vec<u8>,
    /// Each record's slot and where its key and its value end in `bytes`.
    ends: Vec<(Digest, usize, usize)>,
    /// The next record to lend.
    next: usize,
}

impl RecordPage {
    /// Adds a record after the others.
    pub fn push(&mut self, digest: Digest, key: &[u8], value: &[u8]) {
        self.bytes.extend_from_slice(key);
        let key_end = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.ends.push((digest, key_end, self.bytes.len()));
    }

    /// The next record not lent yet, lent until the page is written again.
    pub fn lend(&mut self) -> Option<LentRecord<'_>> {
        let i = self.next;
        let &(digest, key_end, value_end) = self.ends.get(i)?;
        self.next += 1;
        let start = match i.checked_sub(1) {
            Some(prev) => self.ends.get(prev).map_or(0, |prev| prev.2),
            None => 0,
        };
        // `push` wrote the ends in order, so these ranges exist.
        let key = self.bytes.get(start..key_end)?;
        let value = self.bytes.get(key_end..value_end)?;
        Some(LentRecord { digest, key, value })
    }

    /// Whether every record pushed has been lent.
    pub fn is_drained(&self) -> bool {
        self.next >= self.ends.len()
    }

    /// The number of records pushed since the last reset.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no record was pushed since the last reset.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Forgets every record, keeping the buffers' capacity.
    pub fn reset(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.next = 0;
    }
}
