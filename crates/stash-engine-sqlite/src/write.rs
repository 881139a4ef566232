//! The write statements, run inside a `BEGIN IMMEDIATE` transaction.
//!
//! The entry count and the count of entries with an expiry live in `meta`
//! and change in the same transaction as the rows they count. Each write
//! adds how it changed them to a [`Delta`] and the caller applies the sum
//! once per transaction: a batch of new keys updates the count row once, not
//! once per key.
//! (Counting with triggers instead measured about half the batch speed: each
//! insert then runs a sub-program and journals its statement.)

use rusqlite::{Connection, OptionalExtension, params};
use stash_engine_api::clock::{is_expired, now_micros, unique_micros};
use stash_engine_api::engine::key_mismatch;
use stash_engine_api::{Digest, Error, Put, Result, WriteOptions};

use crate::error::corrupt;
use crate::pool::Pool;

fn mismatch(pool: &Pool, digest: &Digest) -> Error {
    key_mismatch(digest).with_context("file", pool.path().display())
}

/// The stamp of a version appended after one stamped `last`: the clock, or
/// just after `last` if the clock is behind it. `None` when no stamp can
/// follow `last` (a stored `i64::MAX`).
fn after(now: i64, last: i64) -> Option<i64> {
    last.checked_add(1).map(|next| now.max(next))
}

/// How a transaction changed the two counters of `meta`, applied once at commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    /// Change in the number of rows of `entries` (`'count'`).
    pub keys: i64,
    /// Change in the number of rows with an `expires_at` (`'expiring'`).
    pub expiring: i64,
}

impl Delta {
    /// Adds the changes of `other`.
    pub(crate) fn merge(&mut self, other: Delta) {
        self.keys += other.keys;
        self.expiring += other.expiring;
    }

    /// Adds the change of one write.
    fn add(&mut self, keys: i64, old_expiring: bool, new_expiring: bool) {
        self.keys += keys;
        self.expiring += i64::from(new_expiring) - i64::from(old_expiring);
    }
}

/// Stores `value` as the only version of `key`, expiring at `expires_at`.
///
/// A new key is one `INSERT ... ON CONFLICT DO NOTHING` (the common write of
/// a cache: a miss computed and stored; a batch loading new keys). An
/// existing key is that missed `INSERT`, then one `UPDATE` (plus a seek in the
/// usually empty `versions` table): the first `UPDATE` only matches a row
/// without an expiry, the second one with, so the expiring count stays exact
/// without reading the row first. A slot holding another key is refused.
/// (`UPDATE` first, as before, cost a new key two missed `UPDATE`s: the batch
/// of new keys ran at a third of raw SQLite's rate.)
pub(crate) fn replace(
    pool: &Pool,
    conn: &Connection,
    delta: &mut Delta,
    digest: &Digest,
    key: &[u8],
    value: &[u8],
    expires_at: Option<i64>,
) -> Result<()> {
    replace_many(pool, conn, delta, [Put { digest: *digest, key, value }], expires_at)
}

/// [`replace`] of every item of a batch, the `INSERT` prepared once for all.
pub(crate) fn replace_many<'a>(
    pool: &Pool,
    conn: &Connection,
    delta: &mut Delta,
    items: impl IntoIterator<Item = Put<'a>>,
    expires_at: Option<i64>,
) -> Result<()> {
    let err = |e| pool.error(e, "write an entry");
    let mut insert = conn.prepare_cached(INSERT_NEW).map_err(err)?;
    for put in items {
        let now = unique_micros();
        if insert.execute(params![&put.digest.0[..], put.key, put.value, now, expires_at]).map_err(err)? > 0 {
            delta.add(1, false, expires_at.is_some());
        } else {
            update_existing(pool, conn, delta, &put.digest, put.key, put.value, now, expires_at)?;
        }
    }
    Ok(())
}

/// The second half of [`replace`]: the slot is taken; replaces the entry if
/// it holds `key`, stamped `now` or just after the version it replaces.
#[allow(clippy::too_many_arguments)]
fn update_existing(
    pool: &Pool,
    conn: &Connection,
    delta: &mut Delta,
    digest: &Digest,
    key: &[u8],
    value: &[u8],
    now: i64,
    expires_at: Option<i64>,
) -> Result<()> {
    let err = |e| pool.error(e, "write an entry");
    let d = &digest.0[..];
    // The new version is stamped after the one it replaces whatever this
    // process's clock says (another process's clock, a step back), so a delete
    // that decided from the old one (`delete_unless_rewritten`) keeps it; a
    // stamp nothing can follow (a damaged `i64::MAX`) gets the clock's.
    for old_expiring in [false, true] {
        let sql = if old_expiring {
            "UPDATE entries SET value = ?3, history = 0, expires_at = ?5,
                 written_at = CASE WHEN written_at >= ?4 AND written_at < 9223372036854775807
                                   THEN written_at + 1 ELSE ?4 END
             WHERE digest = ?1 AND key = ?2"
        } else {
            "UPDATE entries SET value = ?3, history = 0, expires_at = ?5,
                 written_at = CASE WHEN written_at >= ?4 AND written_at < 9223372036854775807
                                   THEN written_at + 1 ELSE ?4 END
             WHERE digest = ?1 AND key = ?2 AND expires_at IS NULL"
        };
        let updated = conn
            .prepare_cached(sql)
            .map_err(err)?
            .execute(params![d, key, value, now, expires_at])
            .map_err(err)?;
        if updated > 0 {
            drop_history(pool, conn, digest)?;
            delta.add(0, old_expiring, expires_at.is_some());
            return Ok(());
        }
    }
    // The digest is there but the key is not: another key holds the slot.
    Err(mismatch(pool, digest))
}

/// Inserts a new entry (`?1` digest, `?2` key, `?3` value, `?4` written at,
/// `?5` expires at); no change when the slot is taken.
const INSERT_NEW: &str =
    "INSERT INTO entries(digest, key, value, written_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT(digest) DO NOTHING";

/// Removes the older versions of a slot (a seek in a usually empty table).
fn drop_history(pool: &Pool, conn: &Connection, digest: &Digest) -> Result<()> {
    conn.prepare_cached("DELETE FROM versions WHERE digest = ?1")
        .and_then(|mut s| s.execute([&digest.0[..]]))
        .map_err(|e| pool.error(e, "drop older versions"))?;
    Ok(())
}

/// Stores `value` as the newest version of `key`, keeping the others: moves
/// the current value into `versions`. An expired entry is gone: appending to
/// it starts a new history. The entry then expires at `expires_at`.
pub(crate) fn append(
    pool: &Pool,
    conn: &Connection,
    delta: &mut Delta,
    digest: &Digest,
    key: &[u8],
    value: &[u8],
    expires_at: Option<i64>,
) -> Result<()> {
    let err = |e| pool.error(e, "append a version");
    let d = &digest.0[..];
    let current: Option<(bool, i64, Option<i64>, i64)> = conn
        .prepare_cached("SELECT key = ?2, written_at, expires_at, history FROM entries WHERE digest = ?1")
        .map_err(err)?
        .query_row(params![d, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()
        .map_err(err)?;
    // Taken under the write lock, so version order and time order agree
    // across processes.
    let now = unique_micros();
    match current {
        None => {
            drop_history(pool, conn, digest)?;
            conn.prepare_cached(
                "INSERT INTO entries(digest, key, value, written_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(err)?
            .execute(params![d, key, value, now, expires_at])
            .map_err(err)?;
            delta.add(1, false, expires_at.is_some());
        }
        Some((false, ..)) => return Err(mismatch(pool, digest)),
        Some((true, last, old_expiry, _)) if is_expired(old_expiry, now_micros()) => {
            // A new history, as a replace: after the old stamp where one can be.
            drop_history(pool, conn, digest)?;
            conn.prepare_cached(
                "UPDATE entries SET value = ?2, written_at = ?3, history = 0, expires_at = ?4 WHERE digest = ?1",
            )
            .map_err(err)?
            .execute(params![d, value, after(now, last).unwrap_or(now), expires_at])
            .map_err(err)?;
            delta.add(0, true, expires_at.is_some());
        }
        Some((true, last, old_expiry, history)) => {
            // Stored numbers: refuse what no version can follow instead of
            // overflowing (a panic in debug builds, a wrapped stamp in release).
            let damaged = |what: String| corrupt(what, pool.path()).with_context("digest", digest);
            let Some(at) = after(now, last) else {
                return Err(damaged(format!(
                    "cannot append: the newest version is stamped {last} µs, after which no time can be \
                     written (a damaged row; a replacing write repairs it)"
                )));
            };
            if history.checked_add(1).is_none_or(|next| next < 1) {
                return Err(damaged(format!("cannot append: the entry records {history} older versions")));
            }
            conn.prepare_cached(
                "INSERT INTO versions(digest, version, written_at, value)
                 SELECT digest, history + 1, written_at, value FROM entries WHERE digest = ?1",
            )
            .map_err(err)?
            .execute([d])
            .map_err(err)?;
            // `at` keeps time order even if the clock stepped back since the last version.
            conn.prepare_cached(
                "UPDATE entries SET value = ?2, written_at = ?3, history = history + 1, expires_at = ?4
                 WHERE digest = ?1",
            )
            .map_err(err)?
            .execute(params![d, value, at, expires_at])
            .map_err(err)?;
            delta.add(0, old_expiry.is_some(), expires_at.is_some());
        }
    }
    Ok(())
}

/// Stores `value` for `key` only if no live entry holds it (the write of
/// `setdefault`); returns whether it stored. Inside the caller's `BEGIN
/// IMMEDIATE` transaction, so no other write, from any thread or process,
/// lands between the check and the write. A free slot is one `INSERT ... ON
/// CONFLICT DO NOTHING`; a taken one is looked up: this key live is refused,
/// another key live is a mismatch, an expired entry is replaced (or, with
/// `append`, starts a new history) by [`replace`] or [`append`], which keep
/// the counters exact and refuse an expired slot of another key.
pub(crate) fn insert_if_absent(
    pool: &Pool,
    conn: &Connection,
    delta: &mut Delta,
    digest: &Digest,
    key: &[u8],
    value: &[u8],
    options: WriteOptions,
) -> Result<bool> {
    let expires_at = options.expires_at_micros;
    let inserted = conn
        .prepare_cached(INSERT_NEW)
        .and_then(|mut s| s.execute(params![&digest.0[..], key, value, unique_micros(), expires_at]))
        .map_err(|e| pool.error(e, "write an entry if absent"))?;
    if inserted > 0 {
        // As a first append does: no stray older version may join the new entry.
        drop_history(pool, conn, digest)?;
        delta.add(1, false, expires_at.is_some());
        return Ok(true);
    }
    match slot_holds(pool, conn, digest, key, Some(now_micros()))? {
        Some(true) => Ok(false),
        Some(false) => Err(mismatch(pool, digest)),
        None if options.append => append(pool, conn, delta, digest, key, value, expires_at).map(|()| true),
        None => replace(pool, conn, delta, digest, key, value, expires_at).map(|()| true),
    }
}

/// Removes `key` and its versions; returns whether it was there and not
/// expired (an expired entry is removed too, but was not there to the caller).
pub(crate) fn remove(
    pool: &Pool,
    conn: &Connection,
    delta: &mut Delta,
    digest: &Digest,
    key: &[u8],
) -> Result<bool> {
    let err = |e| pool.error(e, "delete an entry");
    let deleted: Option<Option<i64>> = conn
        .prepare_cached("DELETE FROM entries WHERE digest = ?1 AND key = ?2 RETURNING expires_at")
        .map_err(err)?
        .query_row(params![&digest.0[..], key], |r| r.get(0))
        .optional()
        .map_err(err)?;
    if let Some(expiry) = deleted {
        drop_history(pool, conn, digest)?;
        delta.add(-1, expiry.is_some(), false);
        return Ok(!is_expired(expiry, now_micros()));
    }
    match slot_holds(pool, conn, digest, key, None)? {
        Some(false) => Err(mismatch(pool, digest)),
        _ => Ok(false),
    }
}

/// Removes `key` and its versions if its newest version was written at or
/// before `seen` (expired or not): one `DELETE`, inside the caller's write
/// transaction, so no write can land between the check and the removal.
/// Returns whether it removed the entry.
pub(crate) fn remove_unless_rewritten(
    pool: &Pool,
    conn: &Connection,
    delta: &mut Delta,
    digest: &Digest,
    key: &[u8],
    seen: i64,
) -> Result<bool> {
    let err = |e| pool.error(e, "delete an entry unless rewritten");
    let deleted: Option<Option<i64>> = conn
        .prepare_cached(
            "DELETE FROM entries WHERE digest = ?1 AND key = ?2 AND written_at <= ?3 RETURNING expires_at",
        )
        .map_err(err)?
        .query_row(params![&digest.0[..], key, seen], |r| r.get(0))
        .optional()
        .map_err(err)?;
    if let Some(expiry) = deleted {
        drop_history(pool, conn, digest)?;
        delta.add(-1, expiry.is_some(), false);
        return Ok(true);
    }
    match slot_holds(pool, conn, digest, key, None)? {
        Some(false) => Err(mismatch(pool, digest)),
        _ => Ok(false),
    }
}

/// Applies `delta` to the counters of `meta`.
pub(crate) fn bump_counts(pool: &Pool, conn: &Connection, delta: Delta) -> Result<()> {
    for (name, change) in [("count", delta.keys), ("expiring", delta.expiring)] {
        if change != 0 {
            conn.prepare_cached("UPDATE meta SET value = value + ?2 WHERE name = ?1")
                .and_then(|mut s| s.execute(params![name, change]))
                .map_err(|e| pool.error(e, "update the entry count"))?;
        }
    }
    Ok(())
}

/// Whether the slot holds `key` (`Some(true)`), another key (`Some(false)`)
/// or nothing; with `now`, an entry expired at `now` counts as nothing.
pub(crate) fn slot_holds(
    pool: &Pool,
    conn: &Connection,
    digest: &Digest,
    key: &[u8],
    now: Option<i64>,
) -> Result<Option<bool>> {
    let result = match now {
        None => conn
            .prepare_cached("SELECT key = ?2 FROM entries WHERE digest = ?1")
            .and_then(|mut s| s.query_row(params![&digest.0[..], key], |r| r.get(0)).optional()),
        Some(now) => conn
            .prepare_cached(
                "SELECT key = ?2 FROM entries WHERE digest = ?1 AND (expires_at IS NULL OR expires_at > ?3)",
            )
            .and_then(|mut s| s.query_row(params![&digest.0[..], key, now], |r| r.get(0)).optional()),
    };
    result.map_err(|e| pool.error(e, "look up an entry"))
}
