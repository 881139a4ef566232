//! The engine's writes as values, so that writes arriving while a commit is
//! in flight join the next one ([`stash_engine_api::group_commit`]): LMDB
//! syncs once per commit, so eight threads writing at once pay about one
//! `fsync` per round instead of eight.
//!
//! Every handle of this process on one environment shares its queue, the
//! native layout's and the Python layout's ([`crate::PythonLmdbEngine`])
//! alike: each queued write carries the [`Layout`] of the handle that made
//! it, and the leader stores it in that layout.

use std::sync::Arc;

use heed::RwTxn;
use stash_engine_api::group_commit::{BatchFailure, GroupCommit, WriteOp};
use stash_engine_api::{ByteEncoding, Error, ErrorKind, Result};

use crate::env::Db;
use crate::error::{Fail, is_map_full, is_map_resized, to_error};
use crate::{LmdbEngine, PythonLmdbEngine};

/// The record layout a write is stored in: the one of the handle that made it.
#[derive(Clone)]
pub(crate) enum Layout {
    /// One record per key ([`LmdbEngine`]).
    Native,
    /// The Python library's two records per key, its envelope encoded with
    /// this encoding ([`PythonLmdbEngine`]).
    Python(Arc<dyn ByteEncoding>),
}

/// A write waiting in the queue, with the layout it is stored in.
pub(crate) struct Queued {
    layout: Layout,
    op: WriteOp<'static>,
}

/// The group-commit queue of an environment.
pub(crate) type Queue = GroupCommit<Queued, bool>;

/// What an operation does, for error messages.
fn action(op: &WriteOp<'_>) -> &'static str {
    match op {
        WriteOp::Put(..) => "write a value",
        WriteOp::PutMany(..) => "write a batch of values",
        WriteOp::PutIfAbsent(..) => "write a value if absent",
        WriteOp::Delete(..) => "delete a key",
        WriteOp::DeleteUnlessRewritten(..) => "delete a key unless rewritten",
    }
}

/// Whether a stash error of `op` (a key mismatch, a damaged record) leaves
/// the transaction as it was: every single-key operation checks before it
/// writes; a batch may have written some items already.
fn fails_cleanly(op: &WriteOp<'_>) -> bool {
    !matches!(op, WriteOp::PutMany(items, _) if items.len() > 1)
}

impl LmdbEngine {
    /// Runs `op` in `wtxn` in `layout`: what the operation returns (`put`s: false).
    fn apply(&self, wtxn: &mut RwTxn<'_>, db: Db, layout: &Layout, op: &WriteOp<'_>) -> Result<bool, Fail> {
        match layout {
            Layout::Native => self.apply_native(wtxn, db, op),
            Layout::Python(encoding) => PythonLmdbEngine::on(self, encoding.clone()).apply(wtxn, db, op),
        }
    }

    /// Runs `op` in `wtxn` in the native layout.
    fn apply_native(&self, wtxn: &mut RwTxn<'_>, db: Db, op: &WriteOp<'_>) -> Result<bool, Fail> {
        match op {
            WriteOp::Put(item, options) => self.insert(wtxn, db, &item.put(), *options).map(|()| false),
            WriteOp::PutMany(items, options) => {
                items.iter().try_for_each(|item| self.insert(wtxn, db, &item.put(), *options))?;
                Ok(false)
            }
            WriteOp::PutIfAbsent(item, options) => self.insert_if_absent(wtxn, db, &item.put(), *options),
            WriteOp::Delete(digest, key) => self.remove(wtxn, db, digest, key),
            WriteOp::DeleteUnlessRewritten(digest, key, seen) => {
                self.remove_unless_rewritten(wtxn, db, digest, key, *seen)
            }
        }
    }

    /// Runs `op` through the environment's group-commit queue, stored in
    /// `layout`: alone in a transaction of its own when no commit is in
    /// flight, else in the next group. Returns once the transaction holding
    /// it has committed.
    pub(crate) fn submit(&self, layout: Layout, op: WriteOp<'_>) -> Result<bool> {
        self.env.group.submit(
            || Queued { layout: layout.clone(), op: op.owned() },
            || self.env.write(action(&op), |wtxn, db| self.apply(wtxn, db, &layout, &op)),
            |ops| self.commit_group(ops),
        )
    }

    /// Runs `ops` in one write transaction: one result each. An operation
    /// that fails before writing gets its error and the others go on; one
    /// that fails in LMDB (the transaction is then unusable) aborts the
    /// transaction and is reported [`BatchFailure::Spoiled`], so the others
    /// run again without it.
    fn commit_group(&self, ops: &[&Queued]) -> Result<Vec<Result<bool>>, BatchFailure> {
        let mut spoiled: Option<(usize, Error)> = None;
        let committed = self.env.write("write a group of values", |wtxn, db| {
            let mut results = Vec::with_capacity(ops.len());
            for (index, Queued { layout, op }) in ops.iter().copied().enumerate() {
                match self.apply(wtxn, db, layout, op) {
                    Ok(out) => results.push(Ok(out)),
                    Err(Fail::Stash(error)) if fails_cleanly(op) => results.push(Err(error)),
                    // The whole transaction is run again on a larger map.
                    Err(fail) if is_map_full(&fail) || is_map_resized(&fail) => return Err(fail),
                    Err(fail) => {
                        spoiled = Some((index, to_error(fail, action(op), self.env.file())));
                        return Err(Fail::Stash(Error::new(ErrorKind::Backend, "a grouped write failed")));
                    }
                }
            }
            Ok(results)
        });
        match (committed, spoiled) {
            (Ok(results), _) => Ok(results),
            (Err(_), Some((index, error))) => Err(BatchFailure::Spoiled { index, error }),
            (Err(error), None) => Err(BatchFailure::All(error)),
        }
    }
}
