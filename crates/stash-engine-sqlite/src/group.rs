//! Group commit ([`stash_engine_api::group_commit`]): writes that arrive
//! while another write of this handle holds the database's write lock join
//! the next transaction instead of each waiting for the lock (SQLite's busy
//! handler sleeps in steps of milliseconds) and each paying a commit.

use rusqlite::Connection;
use stash_engine_api::group_commit::{BatchFailure, Item, WriteOp};
use stash_engine_api::{Error, Result, WriteOptions};

use crate::SqliteEngine;
use crate::write::{self, Delta};

/// What `op` does, for error messages.
fn action(op: &WriteOp<'_>) -> &'static str {
    match op {
        WriteOp::Put(_, options) if options.append => "append a version",
        WriteOp::Put(..) => "write an entry",
        WriteOp::PutMany(..) => "write a batch",
        WriteOp::PutIfAbsent(..) => "write an entry if absent",
        WriteOp::Delete(..) => "delete an entry",
        WriteOp::DeleteUnlessRewritten(..) => "delete an entry unless rewritten",
    }
}

impl SqliteEngine {
    /// Runs `op` inside the caller's transaction, adding its counter changes to `delta`.
    fn apply(&self, conn: &Connection, delta: &mut Delta, op: &WriteOp<'_>) -> Result<bool> {
        let pool = &*self.pool;
        let store = |item: &Item<'_>, options: WriteOptions, delta: &mut Delta| {
            let p = item.put();
            let one = if options.append { write::append } else { write::replace };
            one(pool, conn, delta, &p.digest, p.key, p.value, options.expires_at_micros)
        };
        match op {
            WriteOp::Put(item, options) => store(item, *options, delta).map(|()| false),
            WriteOp::PutMany(items, options) if !options.append => {
                write::replace_many(pool, conn, delta, items.iter().map(Item::put), options.expires_at_micros)
                    .map(|()| false)
            }
            WriteOp::PutMany(items, options) => {
                items.iter().try_for_each(|item| store(item, *options, delta))?;
                Ok(false)
            }
            WriteOp::PutIfAbsent(item, options) => {
                let p = item.put();
                write::insert_if_absent(pool, conn, delta, &p.digest, p.key, p.value, *options)
            }
            WriteOp::Delete(digest, key) => write::remove(pool, conn, delta, digest, key),
            WriteOp::DeleteUnlessRewritten(digest, key, seen) => {
                write::remove_unless_rewritten(pool, conn, delta, digest, key, *seen)
            }
        }
    }

    /// Runs `op` through this handle's group-commit queue: in a transaction
    /// of its own when no other write is in flight, else in the next group.
    /// Returns once the transaction holding it has committed.
    pub(crate) fn submit(&self, op: WriteOp<'_>) -> Result<bool> {
        self.queue.write(
            op,
            |op| self.write(action(op), |conn, delta| self.apply(conn, delta, op)),
            |ops| self.commit_group(ops),
        )
    }

    /// Runs `ops` in one `BEGIN IMMEDIATE` transaction, each under a
    /// savepoint: an operation that fails is rolled back to its savepoint and
    /// gets its error while the others go on. If SQLite ended the whole
    /// transaction meanwhile (it does on a full disk or an I/O error), the
    /// operation is reported [`BatchFailure::Spoiled`] and the others run again.
    fn commit_group(&self, ops: &[&WriteOp<'static>]) -> Result<Vec<Result<bool>>, BatchFailure> {
        if let [op] = ops {
            return Ok(vec![self.write(action(op), |conn, delta| self.apply(conn, delta, op))]);
        }
        let all = |e: rusqlite::Error| BatchFailure::All(self.pool.error(e, "write a group of entries"));
        let conn = self.pool.get().map_err(BatchFailure::All)?;
        let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
        run("BEGIN IMMEDIATE").map_err(all)?;
        let mut total = Delta::default();
        let mut results = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            let spoiled = |error: Error| BatchFailure::Spoiled { index, error };
            run("SAVEPOINT grouped").map_err(|e| spoiled(self.pool.error(e, action(op))))?;
            let mut delta = Delta::default();
            match self.apply(&conn, &mut delta, op) {
                Ok(out) => {
                    run("RELEASE grouped").map_err(|e| spoiled(self.pool.error(e, action(op))))?;
                    total.merge(delta);
                    results.push(Ok(out));
                }
                Err(error) => {
                    let undone = run("ROLLBACK TO grouped").and_then(|_| run("RELEASE grouped"));
                    if undone.is_err() || conn.is_autocommit() {
                        return Err(spoiled(error));
                    }
                    results.push(Err(error));
                }
            }
        }
        write::bump_counts(&self.pool, &conn, total).map_err(BatchFailure::All)?;
        run("COMMIT").map_err(all)?;
        Ok(results)
    }
}
