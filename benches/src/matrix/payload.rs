//! The values of the three size classes, built from one pool of records so a
//! large run needs no more memory than the pool.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::{Record, record};

use super::SizeClass;

/// Records in the pool: enough for a 1 MiB document and for windows that
/// differ from one index to the next.
pub const POOL: usize = 4096;

/// Records in a `10k` document (about 10 KiB of JSON).
pub const K10_RECORDS: usize = 17;

/// Records in a `1m` document (about 1 MiB of JSON).
pub const M1_RECORDS: usize = 1775;

/// A document: a window of records, as stored (borrowed).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename = "Doc")]
pub struct DocRef<'a> {
    /// The document's index.
    pub id: u64,
    /// Its records.
    pub records: &'a [Record],
}

/// A document as read back (owned).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Doc {
    /// The document's index.
    pub id: u64,
    /// Its records.
    pub records: Vec<Record>,
}

static SHARED: OnceLock<Vec<Record>> = OnceLock::new();

/// The shared pool of `POOL` records (`record(0..POOL)`), built once.
pub fn pool() -> &'static [Record] {
    SHARED.get_or_init(|| (0..POOL as u64).map(record).collect())
}

/// The record stored under index `i`: `record(i)` for the first `POOL`
/// indices (exactly the Python benchmark's value shape), then the pool again.
pub fn record_at(records: &[Record], i: u64) -> &Record {
    &records[(i as usize) % records.len()]
}

/// The document of `count` records for index `i`: a window of the pool
/// starting at a position that depends on `i`.
pub fn doc_at(records: &[Record], i: u64, count: usize) -> DocRef<'_> {
    let count = count.min(records.len());
    let start = (i as usize).wrapping_mul(131) % (records.len() - count + 1);
    DocRef { id: i, records: &records[start..start + count] }
}

/// The record count of a document of `size` (0 for a plain record).
pub fn doc_records(size: SizeClass) -> usize {
    match size {
        SizeClass::Record => 0,
        SizeClass::K10 => K10_RECORDS,
        SizeClass::M1 => M1_RECORDS,
    }
}

/// The function `run` and `map` stash for the `record` size.
pub fn make_record(i: u64) -> Record {
    record_at(pool(), i).clone()
}

/// The function `run` and `map` stash for the `10k` size.
pub fn make_doc_10k(i: u64) -> Doc {
    let d = doc_at(pool(), i, K10_RECORDS);
    Doc { id: d.id, records: d.records.to_vec() }
}

/// The function `run` and `map` stash for the `1m` size.
pub fn make_doc_1m(i: u64) -> Doc {
    let d = doc_at(pool(), i, M1_RECORDS);
    Doc { id: d.id, records: d.records.to_vec() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_about_what_they_say() {
        let k10 = serde_json::to_vec(&doc_at(pool(), 3, K10_RECORDS)).map(|v| v.len()).unwrap_or(0);
        assert!((9_000..=11_500).contains(&k10), "{k10}");
        let m1 = serde_json::to_vec(&doc_at(pool(), 3, M1_RECORDS)).map(|v| v.len()).unwrap_or(0);
        assert!((950_000..=1_150_000).contains(&m1), "{m1}");
        let json = serde_json::to_vec(&doc_at(pool(), 5, K10_RECORDS)).unwrap_or_default();
        let back: Doc = serde_json::from_slice(&json).unwrap_or(Doc { id: 0, records: vec![] });
        let want = make_doc_10k(5);
        assert_eq!(back.id, want.id);
        let ids = |d: &Doc| d.records.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(&back), ids(&want));
    }
}
