//! The write statements, run inside a `BEGIN IMMEDIATE` transaction.
//!
//! The entry count lives in `meta` and changes in the same transaction as
//! the rows it counts. Each write reports how it changed the number of keys
//! (`+1`, `0` or `-1`) and the caller applies the sum once per transaction:
//! a batch of new keys updates the count row once, not once per key.
//! (Counting with triggers instead measured about half the batch speed: each
//! insert then runs a sub-program and journals its statement.)

use rusqlite::{Connection, OptionalExtension, params};
use stash_core::clock::unique_micros;
use stash_core::engine::key_mismatch;
use stash_core::{Digest, Error, Result};

use crate::pool::Pool;

fn mismatch(pool: &Pool, digest: &Digest) -> Error {
    key_mismatch(digest).with_context("file", pool.path().display())
}

/// Stores `value` as the only version of `key`; returns the change in key count.
///
/// An existing key is one `UPDATE` (plus a seek in the usually empty
/// `versions` table); a new key a missed `UPDATE` and one `INSERT`. A slot
/// holding another key is refused.
pub(crate) fn replace(
    pool: &Pool,
    conn: &Connection,
    digest: &Digest,
    key: &[u8],
    value: &[u8],
) -> Result<i64> {
    let err = |e| pool.error(e, "write an entry");
    let d = &digest.0[..];
    let now = unique_micros();
    let updated = conn
        .prepare_cached(
            "UPDATE entries SET value = ?3, written_at = ?4, history = 0 WHERE digest = ?1 AND key = ?2",
        )
        .map_err(err)?
        .execute(params![d, key, value, now])
        .map_err(err)?;
    if updated > 0 {
        drop_history(pool, conn, digest)?;
        return Ok(0);
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO entries(digest, key, value, written_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(digest) DO NOTHING",
        )
        .map_err(err)?
        .execute(params![d, key, value, now])
        .map_err(err)?;
    if inserted == 0 {
        // The digest is there but the key is not: another key holds the slot.
        return Err(mismatch(pool, digest));
    }
    Ok(1)
}

/// Removes the older versions of a slot (a seek in a usually empty table).
fn drop_history(pool: &Pool, conn: &Connection, digest: &Digest) -> Result<()> {
    conn.prepare_cached("DELETE FROM versions WHERE digest = ?1")
        .and_then(|mut s| s.execute([&digest.0[..]]))
        .map_err(|e| pool.error(e, "drop older versions"))?;
    Ok(())
}

/// Stores `value` as the newest version of `key`, keeping the others: moves
/// the current value into `versions`. Returns the change in key count.
pub(crate) fn append(
    pool: &Pool,
    conn: &Connection,
    digest: &Digest,
    key: &[u8],
    value: &[u8],
) -> Result<i64> {
    let err = |e| pool.error(e, "append a version");
    let d = &digest.0[..];
    let current: Option<(bool, i64)> = conn
        .prepare_cached("SELECT key = ?2, written_at FROM entries WHERE digest = ?1")
        .map_err(err)?
        .query_row(params![d, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(err)?;
    // Taken under the write lock, so version order and time order agree
    // across processes.
    let now = unique_micros();
    match current {
        None => {
            drop_history(pool, conn, digest)?;
            conn.prepare_cached(
                "INSERT INTO entries(digest, key, value, written_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(err)?
            .execute(params![d, key, value, now])
            .map_err(err)?;
            Ok(1)
        }
        Some((false, _)) => Err(mismatch(pool, digest)),
        Some((true, last)) => {
            conn.prepare_cached(
                "INSERT INTO versions(digest, version, written_at, value)
                 SELECT digest, history + 1, written_at, value FROM entries WHERE digest = ?1",
            )
            .map_err(err)?
            .execute([d])
            .map_err(err)?;
            // Keep time order even if the clock stepped back since the last version.
            let at = now.max(last + 1);
            conn.prepare_cached(
                "UPDATE entries SET value = ?2, written_at = ?3, history = history + 1 WHERE digest = ?1",
            )
            .map_err(err)?
            .execute(params![d, value, at])
            .map_err(err)?;
            Ok(0)
        }
    }
}

/// Removes `key` and its versions; returns the change in key count (0 or -1).
pub(crate) fn remove(pool: &Pool, conn: &Connection, digest: &Digest, key: &[u8]) -> Result<i64> {
    let err = |e| pool.error(e, "delete an entry");
    let deleted = conn
        .prepare_cached("DELETE FROM entries WHERE digest = ?1 AND key = ?2")
        .map_err(err)?
        .execute(params![&digest.0[..], key])
        .map_err(err)?;
    if deleted > 0 {
        drop_history(pool, conn, digest)?;
        return Ok(-1);
    }
    match slot_holds(pool, conn, digest, key)? {
        Some(false) => Err(mismatch(pool, digest)),
        _ => Ok(0),
    }
}

/// Adds `delta` to the key count.
pub(crate) fn bump_count(pool: &Pool, conn: &Connection, delta: i64) -> Result<()> {
    if delta != 0 {
        conn.prepare_cached("UPDATE meta SET value = value + ?1 WHERE name = 'count'")
            .and_then(|mut s| s.execute([delta]))
            .map_err(|e| pool.error(e, "update the entry count"))?;
    }
    Ok(())
}

/// Whether the slot holds `key` (`Some(true)`), another key (`Some(false)`) or nothing.
pub(crate) fn slot_holds(
    pool: &Pool,
    conn: &Connection,
    digest: &Digest,
    key: &[u8],
) -> Result<Option<bool>> {
    conn.prepare_cached("SELECT key = ?2 FROM entries WHERE digest = ?1")
        .and_then(|mut s| s.query_row(params![&digest.0[..], key], |r| r.get(0)).optional())
        .map_err(|e| pool.error(e, "look up an entry"))
}
