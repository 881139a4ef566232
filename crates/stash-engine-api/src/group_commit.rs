//! Group commit: writers that arrive while a durable commit is in flight join
//! the next one, so `n` threads writing at once pay about one `fsync` per
//! round instead of one each.
//!
//! An engine keeps one [`GroupCommit`] per open database and sends each write
//! through [`GroupCommit::submit`]. A writer that finds no commit running
//! runs its own operation at once, on its own thread, with the bytes it was
//! given (the fast path: two uncontended mutex operations, no copy). A writer
//! that finds one running queues an owned copy of its operation and waits;
//! when the running commit ends, the oldest waiting writer becomes the *leader*,
//! takes every queued operation (up to a bound) and runs them in one
//! transaction; the others wait for it. Every caller returns only after the
//! transaction holding its operation committed (or failed), so a write is as
//! durable as before; only fewer commits are made.
//!
//! Writers in a loop come back with their next write a moment after their
//! commit ends. A leader that took only the queue then would commit without
//! them, and they would queue for the commit after it: `n` writers would
//! split into two groups taking turns, each paying for its own commit. So
//! when a transaction ends, the queue expects its writers back, with those
//! that queued while it ran: the next leader (the oldest waiting writer, or
//! a writer that finds no transaction running while writers are expected)
//! waits until that many writes are queued (the last of them leads at once,
//! instead of waking it), but at most half the last
//! transaction's duration and at most
//! [`commit_delay`](GroupCommit::with_commit_delay) (default
//! [`DEFAULT_COMMIT_DELAY`]). A transaction of one writer with none queued
//! expects no one: a lone writer takes the fast path every time, except
//! for its first write after a busy spell, which may wait that short while.
//!
//! Each caller gets its own operation's result. The engine's batch function
//! reports an operation that failed without touching the transaction (a key
//! mismatch found before writing, a savepoint rolled back) as that
//! operation's error and goes on; one that spoiled the transaction
//! ([`BatchFailure::Spoiled`]) gets its error and the rest run again, in a
//! new transaction, without it; when the transaction fails as a whole
//! ([`BatchFailure::All`]), each operation runs again alone, so only the
//! operations that fail alone report an error. Nothing waits forever: a
//! leader always hands out every result of its batch, and if its batch
//! function panics, the waiting writers get a `Backend` error and the panic
//! goes on in the leader's caller. A write still queued after
//! [`max_wait`](GroupCommit::with_max_wait) (default [`DEFAULT_MAX_WAIT`]) is
//! withdrawn unstored with a `Locked` error.
//!
//! ```
//! use stash_engine_api::group_commit::GroupCommit;
//!
//! let stored = std::sync::Mutex::new(Vec::new());
//! let group: GroupCommit<u64, u64> = GroupCommit::new();
//! let n = 5;
//! let doubled = group.submit(
//!     || n, // the owned operation, made only if it has to wait
//!     || {
//!         // no transaction running: this write runs at once, alone
//!         stored.lock().unwrap().push(n);
//!         Ok(n * 2)
//!     },
//!     |ops| {
//!         // the leader's transaction for every waiting write
//!         let mut stored = stored.lock().unwrap();
//!         Ok(ops.iter().map(|&&op| { stored.push(op); Ok(op * 2) }).collect())
//!     },
//! )?;
//! assert_eq!(doubled, 10);
//! assert_eq!(group.stats().commits, 1);
//! # Ok::<(), stash_engine_api::Error>(())
//! ```

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::digest::Digest;
use crate::engine::{Put, WriteOptions};
use crate::error::{Error, ErrorKind, Result};

/// How many queued operations one leader takes into its transaction by default.
pub const DEFAULT_MAX_BATCH: usize = 256;

/// How long a write waits in the queue, by default, for the running
/// transaction to end before it gives up unstored.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(300);

/// The longest a leader waits, by default, for the writers of the last
/// commit to queue again before it commits without them (see
/// [`GroupCommit::with_commit_delay`]).
pub const DEFAULT_COMMIT_DELAY: Duration = Duration::from_millis(1);

/// Why a batch function could not give one result per operation.
#[derive(Debug)]
pub enum BatchFailure {
    /// The operation at `index` (in the slice the function was given) failed
    /// in a way that spoils the transaction (it was aborted): that operation
    /// gets `error`, and the others run again without it.
    Spoiled {
        /// The failing operation's position in the batch.
        index: usize,
        /// Its error.
        error: Error,
    },
    /// The transaction failed as a whole (beginning or committing it, or an
    /// operation the engine cannot blame alone, such as one too large for
    /// the database): each operation of a group runs again in a transaction
    /// of its own, so only those that fail alone get an error.
    All(Error),
}

/// Counters of a [`GroupCommit`], for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupStats {
    /// Transactions run: one per operation run alone, one per group attempt.
    pub commits: u64,
    /// Operations submitted.
    pub ops: u64,
    /// Operations that waited and were run by another thread's transaction.
    pub joined: u64,
}

/// What the queue holds, under one mutex.
struct State<Op, Out> {
    /// A transaction is running (alone or for a group).
    busy: bool,
    /// Operations waiting for the next transaction, with their tickets.
    queue: VecDeque<(u64, Op)>,
    /// Results of finished operations, until their writers take them.
    done: HashMap<u64, Result<Out>>,
    /// The next ticket number.
    next_ticket: u64,
    /// How many writers the next transaction expects: those of the last one
    /// (they come back with their next write) and those that queued while it
    /// ran. 1 while writes come one at a time.
    expected: usize,
    /// Until when the next transaction's leader waits for `expected` writers:
    /// the end of the last transaction plus a part of its duration.
    gather_until: Option<Instant>,
    /// How many writers wait on `gathered`: a leader waiting for writers to
    /// queue, and perhaps one that the last of them overtook and that has
    /// not woken yet.
    gatherers: usize,
}

/// The group-commit queue of one database: see the [module](self) docs.
/// `Op` is an owned write operation, `Out` what one operation returns.
pub struct GroupCommit<Op, Out> {
    state: Mutex<State<Op, Out>>,
    /// Signalled whenever a transaction ends (results published, `busy` cleared).
    turn: Condvar,
    /// Signalled when the queue holds as many writers as the next
    /// transaction expects: wakes its leader, which waits for them.
    gathered: Condvar,
    max_batch: usize,
    /// How long a queued write waits for its turn before it is withdrawn.
    max_wait: Duration,
    /// The longest a leader waits for the writers it expects.
    max_delay: Duration,
    commits: AtomicU64,
    ops: AtomicU64,
    joined: AtomicU64,
}

impl<Op, Out> std::fmt::Debug for GroupCommit<Op, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("max_batch", &self.max_batch)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<Op, Out> Default for GroupCommit<Op, Out> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Op, Out> GroupCommit<Op, Out> {
    /// An empty queue taking up to [`DEFAULT_MAX_BATCH`] operations per group.
    pub fn new() -> Self {
        Self::with_max_batch(DEFAULT_MAX_BATCH)
    }

    /// An empty queue taking up to `max_batch` (at least 1) operations per group.
    pub fn with_max_batch(max_batch: usize) -> Self {
        GroupCommit {
            state: Mutex::new(State {
                busy: false,
                queue: VecDeque::new(),
                done: HashMap::new(),
                next_ticket: 0,
                expected: 1,
                gather_until: None,
                gatherers: 0,
            }),
            turn: Condvar::new(),
            gathered: Condvar::new(),
            max_batch: max_batch.max(1),
            max_wait: DEFAULT_MAX_WAIT,
            max_delay: DEFAULT_COMMIT_DELAY,
            commits: AtomicU64::new(0),
            ops: AtomicU64::new(0),
            joined: AtomicU64::new(0),
        }
    }

    /// How long a queued write waits (default [`DEFAULT_MAX_WAIT`]) for the
    /// running transaction to end; past it, a write still in the queue is
    /// withdrawn, unstored, with a [`ErrorKind::Locked`] error. A write a
    /// leader already took waits for that leader's transaction, which the
    /// engine's own timeouts bound.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The longest (default [`DEFAULT_COMMIT_DELAY`]) a leader waits for the
    /// writers it expects (see the [module](self) docs) before it commits
    /// without them; each wait is also at most half the last transaction's
    /// duration. Zero turns the wait off: each leader commits what is
    /// queued when the running transaction ends.
    pub fn with_commit_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> GroupStats {
        GroupStats {
            commits: self.commits.load(Ordering::Relaxed),
            ops: self.ops.load(Ordering::Relaxed),
            joined: self.joined.load(Ordering::Relaxed),
        }
    }

    /// How many operations are waiting for the next transaction.
    pub fn waiting(&self) -> usize {
        self.lock().queue.len()
    }

    fn lock(&self) -> MutexGuard<'_, State<Op, Out>> {
        // No code panics while holding the lock with the state half changed.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one write and returns its result once the transaction holding it
    /// has committed (or failed).
    ///
    /// - `owned`: the operation as the queue keeps it, called only if a
    ///   transaction is running and this write has to wait for the next one.
    /// - `alone`: runs this write in a transaction of its own (called when no
    ///   transaction is running, on this thread).
    /// - `group`: runs a batch of queued operations in one transaction,
    ///   returning one result per operation in order (called by the leader,
    ///   perhaps for other threads' operations; perhaps again, without an
    ///   operation it reported as [`BatchFailure::Spoiled`]).
    pub fn submit<G>(
        &self,
        owned: impl FnOnce() -> Op,
        alone: impl FnOnce() -> Result<Out>,
        mut group: G,
    ) -> Result<Out>
    where
        G: FnMut(&[&Op]) -> Result<Vec<Result<Out>>, BatchFailure>,
    {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        // Alone at once, unless the writers of the last transaction are
        // expected back (then this write waits for them as a leader).
        if !state.busy && state.queue.is_empty() && !self.gathering(&state) {
            state.busy = true;
            drop(state);
            self.commits.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(alone));
            self.finish(Vec::new(), 1, started);
            return outcome.unwrap_or_else(|panic| resume_unwind(panic));
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back((ticket, owned()));
        if !state.busy && state.queue.len() >= self.expected(&state) && state.queue.len() <= self.max_batch {
            // The queue holds every writer expected, this one last: lead at
            // once rather than wake the writer waiting for them (which then
            // waits for this transaction's result like any other).
            state.busy = true;
            let batch: Vec<(u64, Op)> = state.queue.drain(..).collect();
            drop(state);
            return self.lead(ticket, batch, &mut group);
        }
        let deadline = Instant::now() + self.max_wait;
        loop {
            if let Some(result) = state.done.remove(&ticket) {
                self.joined.fetch_add(1, Ordering::Relaxed);
                return result;
            }
            if !state.busy && state.queue.front().is_some_and(|(first, _)| *first == ticket) {
                if state.queue.len() < self.expected(&state)
                    && let Some(until) = state.gather_until
                    && let Some(left) = until.checked_duration_since(Instant::now()).filter(|l| !l.is_zero())
                {
                    // Lead soon: first give the writers of the last
                    // transaction (busy writing their next operation) a
                    // moment to queue, so they share this commit instead of
                    // waiting for the next.
                    state.gatherers += 1;
                    state = self.gathered.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
                    state.gatherers -= 1;
                    continue;
                }
                // Lead: the oldest waiting write takes the queue, its own operation first.
                state.busy = true;
                let take = state.queue.len().min(self.max_batch);
                let batch: Vec<(u64, Op)> = state.queue.drain(..take).collect();
                drop(state);
                return self.lead(ticket, batch, &mut group);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero()
                && let Some(at) = state.queue.iter().position(|(queued, _)| *queued == ticket)
            {
                state.queue.remove(at);
                // The next queued write may now be the oldest: let it lead.
                self.turn.notify_all();
                return Err(Error::new(
                    ErrorKind::Locked,
                    format!(
                        "waited {:?} for the running write transaction to end; this write was not stored",
                        self.max_wait
                    ),
                ));
            }
            // Past the deadline but taken by a leader: its transaction is running
            // (bounded by the engine's timeouts); wait in slices for its result.
            let slice = if left.is_zero() { Duration::from_millis(100) } else { left };
            state = self.turn.wait_timeout(state, slice).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Runs `batch` as the leader and publishes every result but `own`'s, which it returns.
    fn lead<G>(&self, own: u64, batch: Vec<(u64, Op)>, group: &mut G) -> Result<Out>
    where
        G: FnMut(&[&Op]) -> Result<Vec<Result<Out>>, BatchFailure>,
    {
        let tickets: Vec<u64> = batch.iter().map(|(t, _)| *t).collect();
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.run_batch(&batch, group)));
        let (mut results, panic) = match outcome {
            Ok(results) => (results, None),
            Err(panic) => {
                let lost = || {
                    Error::new(
                        ErrorKind::Backend,
                        "the thread committing a group of writes panicked: this write may not be stored",
                    )
                };
                (tickets.iter().map(|_| lost()).map(Err).collect(), Some(panic))
            }
        };
        let own_index = tickets.iter().position(|t| *t == own);
        let mine = own_index.map(|i| results.swap_remove(i));
        let mut others = tickets;
        if let Some(i) = own_index {
            others.swap_remove(i);
        }
        self.finish(others.into_iter().zip(results).collect(), batch.len(), started);
        if let Some(panic) = panic {
            resume_unwind(panic);
        }
        // The leader's own ticket is always in its batch: this is only a guard.
        mine.unwrap_or_else(|| Err(Error::new(ErrorKind::Backend, "a grouped write lost its result")))
    }

    /// One result per operation of `batch`, running the group again without
    /// each operation that spoiled a transaction.
    fn run_batch<G>(&self, batch: &[(u64, Op)], group: &mut G) -> Vec<Result<Out>>
    where
        G: FnMut(&[&Op]) -> Result<Vec<Result<Out>>, BatchFailure>,
    {
        let mut results: Vec<Option<Result<Out>>> = batch.iter().map(|_| None).collect();
        loop {
            let live: Vec<usize> = (0..batch.len()).filter(|&i| results[i].is_none()).collect();
            if live.is_empty() {
                break;
            }
            let ops: Vec<&Op> = live.iter().map(|&i| &batch[i].1).collect();
            self.commits.fetch_add(1, Ordering::Relaxed);
            match group(&ops) {
                Ok(outs) if outs.len() == live.len() => {
                    for (i, out) in live.into_iter().zip(outs) {
                        results[i] = Some(out);
                    }
                }
                Ok(outs) => {
                    let wrong = || {
                        Error::new(
                            ErrorKind::Backend,
                            format!(
                                "a group commit returned {} results for {} writes: the writes may not be stored",
                                outs.len(),
                                live.len()
                            ),
                        )
                    };
                    for &i in &live {
                        results[i] = Some(Err(wrong()));
                    }
                }
                Err(BatchFailure::Spoiled { index, error }) if index < live.len() => {
                    results[live[index]] = Some(Err(error));
                }
                Err(BatchFailure::All(_)) if live.len() > 1 => {
                    // Which operation made it fail (one too large to commit, the
                    // disk)? Each one, in a transaction of its own, finds out.
                    for &i in &live {
                        self.commits.fetch_add(1, Ordering::Relaxed);
                        results[i] = Some(match group(&[&batch[i].1]) {
                            Ok(outs) => match <[Result<Out>; 1]>::try_from(outs) {
                                Ok([out]) => out,
                                Err(outs) => Err(Error::new(
                                    ErrorKind::Backend,
                                    format!("a group commit returned {} results for 1 write", outs.len()),
                                )),
                            },
                            Err(BatchFailure::Spoiled { error, .. } | BatchFailure::All(error)) => Err(error),
                        });
                    }
                }
                Err(BatchFailure::Spoiled { error, .. } | BatchFailure::All(error)) => {
                    for &i in &live {
                        results[i] = Some(Err(shared(&error)));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(Error::new(ErrorKind::Backend, "a grouped write lost its result")))
            })
            .collect()
    }

    /// How many writers the next transaction waits for (at most a batch).
    fn expected(&self, state: &State<Op, Out>) -> usize {
        state.expected.min(self.max_batch)
    }

    /// Whether a write that finds no transaction running should still wait
    /// for others: the last transaction had company and ended so recently
    /// that its writers are still expected back.
    fn gathering(&self, state: &State<Op, Out>) -> bool {
        self.expected(state) > 1 && state.gather_until.is_some_and(|until| Instant::now() < until)
    }

    /// Publishes `results`, ends the running transaction (of `writers`
    /// writers, begun at `started`) and wakes the waiting writers.
    ///
    /// Sets what the next leader waits for: every writer of this transaction
    /// and of the queue, for at most half this transaction's duration
    /// (capped by `max_delay`): with `n` writers in a loop, a leader that
    /// took only the queue would commit while the writers just released
    /// prepare their next operation, and they would queue for the commit
    /// after it; the writers then split into two groups that take turns,
    /// each paying for its own commit.
    fn finish(&self, results: Vec<(u64, Result<Out>)>, writers: usize, started: Instant) {
        let mut state = self.lock();
        // Writers wait on `turn` for a result or in the queue; on `gathered`
        // only while no transaction runs, or when overtaken.
        let (wake_turn, wake_gathered) =
            (!results.is_empty() || !state.queue.is_empty(), state.gatherers > 0);
        state.done.extend(results);
        state.busy = false;
        state.expected = writers + state.queue.len();
        state.gather_until = if state.expected > 1 && !self.max_delay.is_zero() {
            let now = Instant::now();
            Some(now + (now.saturating_duration_since(started) / 2).min(self.max_delay))
        } else {
            None
        };
        drop(state);
        // Only when someone waits: a notification is a system call even
        // then, and a lone writer would pay it at every write.
        if wake_turn {
            self.turn.notify_all();
        }
        if wake_gathered {
            // A writer that waited for others to gather, overtaken by the
            // last of them, which led this transaction.
            self.gathered.notify_all();
        }
    }
}

/// One key and value to write: borrowed from the caller, or owned while the
/// write waits in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<'a> {
    /// The slot.
    pub digest: Digest,
    /// Encoded key bytes.
    pub key: Cow<'a, [u8]>,
    /// Encoded value bytes.
    pub value: Cow<'a, [u8]>,
}

impl Item<'_> {
    /// The item as the engine's writes take it.
    pub fn put(&self) -> Put<'_> {
        Put { digest: self.digest, key: &self.key, value: &self.value }
    }

    /// A copy that owns its bytes.
    pub fn owned(&self) -> Item<'static> {
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

/// One write of the [`Engine`](crate::Engine) operations that group: what an
/// engine's group function runs in its transaction. Each returns a `bool`
/// ([`put`](WriteOp::Put) and [`PutMany`](WriteOp::PutMany): `false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp<'a> {
    /// `put`.
    Put(Item<'a>, WriteOptions),
    /// `put_many`: all or nothing.
    PutMany(Vec<Item<'a>>, WriteOptions),
    /// `put_if_absent`: true if stored.
    PutIfAbsent(Item<'a>, WriteOptions),
    /// `delete`: true if it was there.
    Delete(Digest, Cow<'a, [u8]>),
    /// `delete_unless_rewritten` with the write time seen: true if removed.
    DeleteUnlessRewritten(Digest, Cow<'a, [u8]>, i64),
}

impl<'a> WriteOp<'a> {
    /// `put` of `key` and `value`.
    pub fn put(digest: &Digest, key: &'a [u8], value: &'a [u8], options: WriteOptions) -> Self {
        WriteOp::Put(Item::from(&Put { digest: *digest, key, value }), options)
    }

    /// `put_if_absent` of `key` and `value`.
    pub fn put_if_absent(digest: &Digest, key: &'a [u8], value: &'a [u8], options: WriteOptions) -> Self {
        WriteOp::PutIfAbsent(Item::from(&Put { digest: *digest, key, value }), options)
    }

    /// `put_many` of `items`.
    pub fn put_many(items: &[Put<'a>], options: WriteOptions) -> Self {
        WriteOp::PutMany(items.iter().map(Item::from).collect(), options)
    }

    /// `delete` of `key`.
    pub fn delete(digest: &Digest, key: &'a [u8]) -> Self {
        WriteOp::Delete(*digest, Cow::Borrowed(key))
    }

    /// `delete_unless_rewritten` of `key`.
    pub fn delete_unless_rewritten(digest: &Digest, key: &'a [u8], seen_written_at_micros: i64) -> Self {
        WriteOp::DeleteUnlessRewritten(*digest, Cow::Borrowed(key), seen_written_at_micros)
    }

    /// A copy that owns its bytes, to wait in a queue.
    pub fn owned(&self) -> WriteOp<'static> {
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
}

/// The queue of an engine whose writes are [`WriteOp`]s.
pub type WriteQueue = GroupCommit<WriteOp<'static>, bool>;

impl WriteQueue {
    /// [`submit`](GroupCommit::submit)s `op`: `alone` runs it (borrowed) when
    /// no commit is in flight, else an owned copy waits for `group`.
    pub fn write<G>(
        &self,
        op: WriteOp<'_>,
        alone: impl FnOnce(&WriteOp<'_>) -> Result<bool>,
        group: G,
    ) -> Result<bool>
    where
        G: FnMut(&[&WriteOp<'static>]) -> Result<Vec<Result<bool>>, BatchFailure>,
    {
        self.submit(|| op.owned(), || alone(&op), group)
    }
}

/// A copy of `error` for one more operation of a failed batch: the same kind,
/// message and context, the cause as text.
fn shared(error: &Error) -> Error {
    let mut copy = Error::new(error.kind(), error.message());
    for (key, value) in error.context() {
        copy = copy.with_context(key, value);
    }
    match std::error::Error::source(error) {
        Some(cause) => copy.with_source(cause.to_string()),
        None => copy,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Barrier};
    use std::thread;

    use super::*;

    /// A writer that runs alone and holds its transaction until `waiting`
    /// writes queued behind it; returns once it holds it.
    fn hold_until_queued(
        group: &Arc<GroupCommit<u64, u64>>,
        waiting: usize,
    ) -> thread::JoinHandle<Result<u64>> {
        hold_while(group, move |group| group.waiting() < waiting)
    }

    /// A writer that runs alone and holds its transaction while `hold` says
    /// so; returns once it holds it.
    fn hold_while(
        group: &Arc<GroupCommit<u64, u64>>,
        hold: impl Fn(&GroupCommit<u64, u64>) -> bool + Send + 'static,
    ) -> thread::JoinHandle<Result<u64>> {
        let gate = Arc::new(Barrier::new(2));
        let first = {
            let (group, gate) = (group.clone(), gate.clone());
            thread::spawn(move || {
                group.submit(
                    || 0,
                    || {
                        gate.wait();
                        while hold(&group) {
                            thread::yield_now();
                        }
                        Ok(0)
                    },
                    |_| unreachable!("the first writer runs alone"),
                )
            })
        };
        gate.wait();
        first
    }

    /// A write queued behind a transaction that outlasts the queue's wait is
    /// withdrawn with an error and never run; the queue keeps working.
    #[test]
    fn a_write_waiting_too_long_is_withdrawn_unstored() {
        let group: Arc<GroupCommit<u64, u64>> =
            Arc::new(GroupCommit::new().with_max_wait(Duration::from_millis(50)));
        let released = Arc::new(AtomicBool::new(false));
        let first = {
            let released = released.clone();
            hold_while(&group, move |_| !released.load(Ordering::Acquire))
        };
        let ran = Arc::new(Mutex::new(Vec::new()));
        let waited = group.submit(
            || 1,
            || unreachable!("a transaction is running"),
            |ops| {
                ran.lock().unwrap().extend(ops.iter().map(|&&op| op));
                Ok(ops.iter().map(|&&op| Ok(op)).collect())
            },
        );
        let error = waited.expect_err("the write waited past max_wait");
        assert_eq!(error.kind(), ErrorKind::Locked, "{error}");
        assert_eq!(group.waiting(), 0, "withdrawn from the queue");
        released.store(true, Ordering::Release);
        assert_eq!(first.join().unwrap().unwrap(), 0);
        assert!(ran.lock().unwrap().is_empty(), "the withdrawn write never ran");
        // The queue is free again: the next write runs alone.
        assert_eq!(group.submit(|| 2, || Ok(2), |_| unreachable!("alone")).unwrap(), 2);
    }

    /// A group of `threads` writers that a slow first transaction makes wait.
    fn contended(threads: usize, fail: Option<u64>) -> (Vec<Result<u64>>, GroupStats, Vec<Vec<u64>>) {
        let group: Arc<GroupCommit<u64, u64>> = Arc::new(GroupCommit::new());
        let committed = Arc::new(Mutex::new(Vec::<Vec<u64>>::new()));
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads as u64)
            .map(|n| {
                let (group, committed, start) = (group.clone(), committed.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let alone = || {
                        // The first writer holds its transaction until every other one queued.
                        while group.waiting() < threads - 1 {
                            thread::yield_now();
                        }
                        committed.lock().unwrap().push(vec![n]);
                        Ok(n * 10)
                    };
                    let batch = |ops: &[&u64]| {
                        if let Some(bad) = fail
                            && let Some(index) = ops.iter().position(|&&op| op == bad)
                        {
                            return Err(BatchFailure::Spoiled {
                                index,
                                error: Error::new(ErrorKind::TooLarge, format!("op {bad} is too large")),
                            });
                        }
                        committed.lock().unwrap().push(ops.iter().map(|&&op| op).collect());
                        Ok(ops.iter().map(|&&op| Ok(op * 10)).collect())
                    };
                    group.submit(|| n, alone, batch)
                })
            })
            .collect();
        let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let stats = group.stats();
        let committed = committed.lock().unwrap().clone();
        (results, stats, committed)
    }

    #[test]
    fn writers_waiting_for_a_commit_share_the_next_one() {
        let (results, stats, committed) = contended(8, None);
        for (n, result) in results.into_iter().enumerate() {
            assert_eq!(result.unwrap(), n as u64 * 10);
        }
        assert_eq!(stats.ops, 8);
        assert_eq!(stats.commits, 2, "one alone, then one group of seven: {committed:?}");
        assert_eq!(stats.joined, 6, "the leader of the group does not count as joined");
        assert_eq!(committed.iter().map(Vec::len).collect::<Vec<_>>(), [1, 7]);
    }

    #[test]
    fn a_failing_write_gets_its_error_and_the_others_commit() {
        // Writer 7's operation spoils any group it is in; whichever writer ran
        // alone first (perhaps 7 itself, which then succeeds) is never grouped.
        let (results, _, committed) = contended(8, Some(7));
        let alone = committed[0][0];
        for (n, result) in results.into_iter().enumerate() {
            if n == 7 && alone != 7 {
                let err = result.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TooLarge);
                assert!(err.to_string().contains("op 7"), "{err}");
            } else {
                assert_eq!(result.unwrap(), n as u64 * 10);
            }
        }
        let stored: Vec<u64> = committed.concat();
        assert_eq!(stored.len(), if alone == 7 { 8 } else { 7 });
    }

    #[test]
    fn a_failed_group_runs_each_write_alone_and_only_the_failing_one_reports() {
        let group: Arc<GroupCommit<u64, u64>> = Arc::new(GroupCommit::new());
        let first = hold_until_queued(&group, 3);
        let others: Vec<_> = (1..4u64)
            .map(|n| {
                let group = group.clone();
                thread::spawn(move || {
                    group.submit(
                        || n,
                        || Ok(n),
                        |ops: &[&u64]| {
                            // A group fails as a whole; alone, only write 2 does.
                            if ops.len() > 1 || *ops[0] == 2 {
                                return Err(BatchFailure::All(
                                    Error::new(ErrorKind::Io, "cannot commit")
                                        .with_context("file", "/x")
                                        .with_source(std::io::Error::other("disk full")),
                                ));
                            }
                            Ok(vec![Ok(*ops[0] * 10)])
                        },
                    )
                })
            })
            .collect();
        assert_eq!(first.join().unwrap().unwrap(), 0);
        for (n, handle) in (1..4u64).zip(others) {
            let result = handle.join().unwrap();
            if n == 2 {
                let err = result.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Io);
                assert_eq!(err.context_value("file"), Some("/x"));
                assert_eq!(err.report().to_string(), "cannot commit (file: /x): disk full");
            } else {
                assert_eq!(result.unwrap(), n * 10);
            }
        }
        // One group of three, then each of the three alone.
        assert_eq!(group.stats().commits, 1 + 1 + 3);
    }

    #[test]
    fn a_panicking_leader_fails_the_waiting_writers_and_the_queue_goes_on() {
        let group: Arc<GroupCommit<u64, u64>> = Arc::new(GroupCommit::new());
        let first = hold_until_queued(&group, 2);
        let others: Vec<_> = (1..3u64)
            .map(|n| {
                let group = group.clone();
                thread::spawn(move || {
                    catch_unwind(AssertUnwindSafe(|| {
                        group.submit(|| n, || Ok(n), |_| panic!("the batch function failed"))
                    }))
                })
            })
            .collect();
        assert_eq!(first.join().unwrap().unwrap(), 0);
        let outcomes: Vec<_> = others.into_iter().map(|h| h.join().unwrap()).collect();
        // The leader's caller sees the panic, the follower an error.
        assert_eq!(outcomes.iter().filter(|o| o.is_err()).count(), 1);
        let err = outcomes.into_iter().find_map(|o| o.ok()).unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend);
        // Nothing is left busy: the next write commits (alone, or as a leader
        // that waited briefly for the writers of the failed group).
        let next = group.submit(|| 9, || Ok(9), |ops| Ok(ops.iter().map(|&&op| Ok(op)).collect()));
        assert_eq!(next.unwrap(), 9);
    }

    #[test]
    fn an_uncontended_write_runs_alone_without_the_owned_copy() {
        let group: GroupCommit<u64, u64> = GroupCommit::new();
        for n in 0..3 {
            let out = group.submit(|| unreachable!("nothing waits"), || Ok(n), |_| unreachable!());
            assert_eq!(out.unwrap(), n);
        }
        assert_eq!(group.stats(), GroupStats { commits: 3, ops: 3, joined: 0 });
    }

    /// `writers` threads making `rounds` writes each in a loop, pausing 1 ms
    /// between writes (making the next operation); each transaction takes
    /// 40 ms, so a leader waits up to 20 ms for the writers it expects (a
    /// margin for a loaded machine). Returns the queue's counters.
    fn in_a_loop(group: &Arc<GroupCommit<u64, u64>>, writers: usize, rounds: usize) -> GroupStats {
        let commit = Duration::from_millis(40);
        let start = Arc::new(Barrier::new(writers));
        let handles: Vec<_> = (0..writers as u64)
            .map(|n| {
                let (group, start) = (group.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    for round in 0..rounds as u64 {
                        let op = n * 1000 + round;
                        let out = group.submit(
                            || op,
                            || {
                                thread::sleep(commit);
                                Ok(op)
                            },
                            |ops| {
                                thread::sleep(commit);
                                Ok(ops.iter().map(|&&op| Ok(op)).collect())
                            },
                        );
                        assert_eq!(out.unwrap(), op, "each writer gets its own result");
                        thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        group.stats()
    }

    /// Writers in a loop share one commit per round: the leader waits (at
    /// most half a commit here) for the writers just released to queue
    /// again, instead of committing without them and leaving them for the
    /// next commit (two groups taking turns, two commits per round).
    #[test]
    fn writers_in_a_loop_share_one_commit_per_round() {
        let (writers, rounds) = (8, 6);
        let waiting: Arc<GroupCommit<u64, u64>> =
            Arc::new(GroupCommit::new().with_commit_delay(Duration::from_secs(1)));
        let stats = in_a_loop(&waiting, writers, rounds);
        assert_eq!(stats.ops, (writers * rounds) as u64);
        // One alone (the first write), then one group per round. Without
        // the wait (`Duration::ZERO`, the queue before this change) the
        // writers released by a commit queue behind the next one, which the
        // queued writers already began: 12 commits here, two per round. That
        // count is not asserted: on a loaded machine a late wake-up of the
        // waiting leader lets some released writers in.
        assert!(stats.commits <= rounds as u64 + 3, "{stats:?}");
    }

    /// A write that finds no company where the last commit had some waits
    /// for it at most once: its commit, of one writer, sets the next
    /// writes back on the fast path.
    #[test]
    fn a_lone_writer_after_a_busy_spell_runs_alone_again() {
        let group: Arc<GroupCommit<u64, u64>> =
            Arc::new(GroupCommit::new().with_commit_delay(Duration::from_secs(1)));
        in_a_loop(&group, 4, 2);
        // Perhaps within the wait of the last commit: alone or as a leader.
        let out = group.submit(|| 7, || Ok(7), |ops| Ok(ops.iter().map(|&&op| Ok(op)).collect()));
        assert_eq!(out.unwrap(), 7);
        for n in 0..3 {
            let out = group.submit(|| unreachable!("runs alone"), || Ok(n), |_| unreachable!("alone"));
            assert_eq!(out.unwrap(), n);
        }
    }

    #[test]
    fn groups_are_bounded_by_max_batch() {
        let group: Arc<GroupCommit<u64, u64>> = Arc::new(GroupCommit::with_max_batch(2));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let first = hold_until_queued(&group, 5);
        let others: Vec<_> = (1..6u64)
            .map(|n| {
                let (group, sizes) = (group.clone(), sizes.clone());
                thread::spawn(move || {
                    group.submit(
                        || n,
                        || Ok(n),
                        |ops| {
                            sizes.lock().unwrap().push(ops.len());
                            Ok(ops.iter().map(|&&op| Ok(op)).collect())
                        },
                    )
                })
            })
            .collect();
        first.join().unwrap().unwrap();
        for (n, handle) in (1..6u64).zip(others) {
            assert_eq!(handle.join().unwrap().unwrap(), n);
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 5);
        assert!(sizes.iter().all(|&s| s <= 2), "{sizes:?}");
    }
}
