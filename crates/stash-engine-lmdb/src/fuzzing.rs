//! Not part of the API (hidden from the docs, no stability promise): raw
//! access to the records of a stash this process has open, for the fuzz
//! targets `lmdb_record` and `lmdb_python` (`fuzz/`, crate
//! `stash-fuzz-harness`).
//!
//! LMDB forbids a second environment on a path in one process, so a program
//! that wants to damage a record of an open stash (as another process
//! could) must go through the environment the stash shares; these functions
//! take it from the registry, as a second `Stash::open` would.

use std::path::Path;

use stash_engine_api::Result;

use crate::error::Fail;
use crate::options::LmdbOptions;
use crate::registry;

/// Every record of the stash whose folder is `dir` (`Stash::path`), in key order.
pub fn records(dir: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let engine = registry::open(dir, LmdbOptions::default())?;
    engine.env.read("list the records", |rtxn, db| {
        let mut out = Vec::new();
        for record in db.iter(rtxn)? {
            let (key, value) = record?;
            out.push((key.to_vec(), value.to_vec()));
        }
        Ok::<_, Fail>(out)
    })
}

/// Stores `value` under the raw LMDB key `key` in the stash whose folder is
/// `dir`, bypassing every check of the engine.
pub fn put(dir: &Path, key: &[u8], value: &[u8]) -> Result<()> {
    let engine = registry::open(dir, LmdbOptions::default())?;
    engine.env.write("write a raw record", |wtxn, db| Ok::<_, Fail>(db.put(wtxn, key, value)?))
}
