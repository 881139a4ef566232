//! The engine's writes as values, so that writes arriving while a commit is
//! in flight join the next one ([`stash_engine_api::group_commit`]): LMDB
//! syncs once per commit, so eight threads writing at once pay about one
//! `fsync` per round instead of eight.

use std::borrow::Cow;

use heed::RwTxn;
use stash_engine_api::group_commit::BatchFailure;
use stash_engine_api::{Digest, Error, ErrorKind, Put, Result, WriteOptions};

use crate::LmdbEngine;
use crate::env::Db;
use crate::error::{Fail, is_map_full, is_map_resized, to_error};

/// The group-commit queue of one environment.
pub(crate) type Queue = stash_engine_api::group_commit::GroupCommit<WriteOp<'static>, bool>;

/// One key and value to write, borrowed from the caller or (queued) owned.
#[derive(Debug, Clone)]
pub(crate) struct Item<'a> {
    digest: Digest,
    key: Cow<'a, [u8]>,
    value: Cow<'a, [u8]>,
}

impl<'a> Item<'a> {
    fn put(&self) -> Put<'_> {
        Put { digest: self.digest, key: &self.key, value: &self.value }
    }

    fn owned(&self) -> Item<'static> {
        Item {
            digest: self.digest,
            key: Cow::Owned(self.key.to_vec()),
            value: Cow::Owned(self.value.to_vec()),
        }
    }
}

impl<'a> From<&Put<'a>> for Item<'a> {
    fn from(put: &Put<'a>) -> Item<'a> {
        Item { digest: put.digest, key: Cow::Borrowed(put.key), value: Cow::Borrowed(put.value) }
    }
}

/// One write of the engine: what [`LmdbEngine::apply`] runs in a transaction.
#[derive(Debug, Clone)]
pub(crate) enum WriteOp<'a> {
    /// `put`.
    Put(Item<'a>, WriteOptions),
    /// `put_many`: all or nothing.
    PutMany(Vec<Item<'a>>, WriteOptions),
    /// `put_if_absent`.
    PutIfAbsent(Item<'a>, WriteOptions),
    /// `delete`.
    Delete(Digest, Cow<'a, [u8]>),
    /// `delete_unless_rewritten`.
    DeleteUnlessRewritten(Digest, Cow<'a, [u8]>, i64),
}

impl<'a> WriteOp<'a> {
    /// `put` of `key` and `value`.
    pub(crate) fn put(digest: &Digest, key: &'a [u8], value: &'a [u8], options: WriteOptions) -> Self {
        WriteOp::Put(Item::from(&Put { digest: *digest, key, value }), options)
    }

    /// `put_if_absent` of `key` and `value`.
    pub(crate) fn put_if_absent(
        digest: &Digest,
        key: &'a [u8],
        value: &'a [u8],
        options: WriteOptions,
    ) -> Self {
        WriteOp::PutIfAbsent(Item::from(&Put { digest: *digest, key, value }), options)
    }

    /// `put_many` of `items`.
    pub(crate) fn put_many(items: &[Put<'a>], options: WriteOptions) -> Self {
        WriteOp::PutMany(items.iter().map(Item::from).collect(), options)
    }

    /// What the operation does, for error messages.
    pub(crate) fn action(&self) -> &'static str {
        match self {
            WriteOp::Put(..) => "write a value",
            WriteOp::PutMany(..) => "write a batch of values",
            WriteOp::PutIfAbsent(..) => "write a value if absent",
            WriteOp::Delete(..) => "delete a key",
            WriteOp::DeleteUnlessRewritten(..) => "delete a key unless rewritten",
        }
    }

    /// A copy that owns its bytes, to wait in the queue.
    fn owned(&self) -> WriteOp<'static> {
        match self {
            WriteOp::Put(item, o) => WriteOp::Put(item.owned(), *o),
            WriteOp::PutMany(items, o) => WriteOp::PutMany(items.iter().map(Item::owned).collect(), *o),
            WriteOp::PutIfAbsent(item, o) => WriteOp::PutIfAbsent(item.owned(), *o),
            WriteOp::Delete(d, key) => WriteOp::Delete(*d, Cow::Owned(key.to_vec())),
            WriteOp::DeleteUnlessRewritten(d, key, seen) => {
                WriteOp::DeleteUnlessRewritten(*d, Cow::Owned(key.to_vec()), *seen)
            }
        }
    }

    /// Whether a stash error of this operation (a key mismatch, a damaged
    /// record) leaves the transaction as it was: every single-key operation
    /// checks before it writes; a batch may have written some items already.
    fn fails_cleanly(&self) -> bool {
        !matches!(self, WriteOp::PutMany(items, _) if items.len() > 1)
    }
}

impl LmdbEngine {
    /// Runs `op` in `wtxn`: what the operation returns (`put`s: false).
    fn apply(&self, wtxn: &mut RwTxn<'_>, db: Db, op: &WriteOp<'_>) -> Result<bool, Fail> {
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

    /// Runs `op` through the environment's group-commit queue: alone in a
    /// transaction of its own when no commit is in flight, else in the next
    /// group. Returns once the transaction holding it has committed.
    pub(crate) fn submit(&self, op: WriteOp<'_>) -> Result<bool> {
        self.env.group.submit(
            || op.owned(),
            || self.env.write(op.action(), |wtxn, db| self.apply(wtxn, db, &op)),
            |ops| self.commit_group(ops),
        )
    }

    /// Runs `ops` in one write transaction: one result each. An operation
    /// that fails before writing gets its error and the others go on; one
    /// that fails in LMDB (the transaction is then unusable) aborts the
    /// transaction and is reported [`BatchFailure::Spoiled`], so the others
    /// run again without it.
    fn commit_group(&self, ops: &[&WriteOp<'static>]) -> Result<Vec<Result<bool>>, BatchFailure> {
        let mut spoiled: Option<(usize, Error)> = None;
        let committed = self.env.write("write a group of values", |wtxn, db| {
            let mut results = Vec::with_capacity(ops.len());
            for (index, op) in ops.iter().enumerate() {
                match self.apply(wtxn, db, op) {
                    Ok(out) => results.push(Ok(out)),
                    Err(Fail::Stash(error)) if op.fails_cleanly() => results.push(Err(error)),
                    // The whole transaction is run again on a larger map.
                    Err(fail) if is_map_full(&fail) || is_map_resized(&fail) => return Err(fail),
                    Err(fail) => {
                        spoiled = Some((index, to_error(fail, op.action(), self.env.file())));
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
