//! Not part of the API (hidden from the docs, no stability promise): raw
//! access to a stash this process has open, for the fuzz target
//! `sled_record` (`fuzz/`, crate `stash-fuzz-harness`).
//!
//! sled locks its folder to one handle per process, so a program that wants
//! to damage a record of an open stash must go through the database the
//! stash holds; these functions take it from the registry, as a second
//! `Stash::open` would.

use std::fs;
use std::path::Path;

use stash_engine_api::{Error, Result};

use crate::error::sled_error;
use crate::registry;
use crate::store::{saved_count, stored_format};

fn store(dir: &Path) -> Result<std::sync::Arc<crate::store::Store>> {
    let dir = fs::canonicalize(dir).map_err(|e| Error::io(e, "resolve the database folder", dir))?;
    registry::open(&dir)
}

/// Every record of the stash whose folder is `dir` (`Stash::path`), in key order.
pub fn records(dir: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let store = store(dir)?;
    store
        .iter()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(|e| sled_error(e, "list records", dir)))
        .collect()
}

/// Stores `value` under the raw sled key `key` of the stash whose folder is
/// `dir`, bypassing every check of the engine (and its key count).
pub fn put(dir: &Path, key: &[u8], value: &[u8]) -> Result<()> {
    let store = store(dir)?;
    store.raw_insert(key, value)
}

/// What opening a database makes of the meta entries `format`, `count` and
/// `expiring` (each `None` when absent): the record format (`Some(true)`:
/// format 2), and the saved counts it would trust.
pub fn meta(
    format: Option<&[u8]>,
    count: Option<&[u8]>,
    expiring: Option<&[u8]>,
) -> (Result<Option<bool>>, Option<i64>, Option<i64>) {
    (stored_format(format, Path::new("fuzzed")), saved_count(count), saved_count(expiring))
}
