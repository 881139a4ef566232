//! The life cycle as an engine layer: [`Lifecycle`] wraps any [`Engine`] and is
//! an engine itself, adding a default time to live, hit/miss/write counters,
//! bounds with eviction, `prune` and `stats` (as OpenDAL's layers wrap an
//! accessor). Every [`Stash`](crate::Stash) reads and writes through one, so
//! every path to the engine (the dictionary, batches, `setdefault`, transfers,
//! function results) is counted and bounded alike, with nothing to remember at
//! the call sites.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// Named by path, not imported: with both traits in scope, `engine.get(..)` on a
// `Lifecycle` would be ambiguous.
use crate::asynchronous::{self, BoxFuture};
use crate::clock::{is_expired, now_micros, unique_micros};
use crate::config::{Eviction, StashConfig};
use crate::cursor::RecordCursor;
use crate::digest::{BuildDigestHasher, Digest};
use crate::engine::{
    Capabilities, Engine, EntryMeta, LockAttempt, MetaIter, Put, RecordIter, Version, WriteOptions,
};
use crate::error::{Error, ErrorKind, Result};
use crate::lifecycle::{Prune, PruneReport, Stats, to_micros};
use crate::observe::{self, Removal, Source, Timer};

/// What a [`Lifecycle`] layer enforces: a default time to live and size bounds.
///
/// ```
/// use std::time::Duration;
/// use stash_core::lifecycle::Policy;
/// let policy = Policy::default().ttl(Duration::from_secs(60)).max_entries(1_000);
/// assert_eq!(policy.max_entries, Some(1_000));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Writes that give no expiry expire this long after they are written.
    pub ttl: Option<Duration>,
    /// Evict once more than this many entries are stored.
    pub max_entries: Option<u64>,
    /// Evict once values take more than this many bytes.
    pub max_bytes: Option<u64>,
    /// Which entries go first.
    pub eviction: Eviction,
}

impl Policy {
    /// The policy a stash's settings ask for (`ttl`, `max_entries`, `max_bytes`, `eviction`).
    pub fn of(config: &StashConfig) -> Policy {
        Policy {
            ttl: config.ttl,
            max_entries: config.max_entries,
            max_bytes: config.max_bytes,
            eviction: config.eviction,
        }
    }

    /// A default time to live.
    pub fn ttl(mut self, ttl: Duration) -> Policy {
        self.ttl = Some(ttl);
        self
    }

    /// A bound on the number of entries.
    pub fn max_entries(mut self, max: u64) -> Policy {
        self.max_entries = Some(max);
        self
    }

    /// A bound on the bytes of values.
    pub fn max_bytes(mut self, max: u64) -> Policy {
        self.max_bytes = Some(max);
        self
    }

    /// Which entries go first when a bound is passed.
    pub fn eviction(mut self, eviction: Eviction) -> Policy {
        self.eviction = eviction;
        self
    }

    fn bounded(&self) -> bool {
        self.max_entries.is_some() || self.max_bytes.is_some()
    }
}

/// An engine with a life cycle: the [`Policy`]'s default time to live on
/// writes that give none, counters of hits, misses and writes (reads are
/// `get` and `versions`), eviction past the bounds, [`prune`](Lifecycle::prune)
/// and [`stats`](Lifecycle::stats).
///
/// Costs: with no bound set, two virtual calls and one relaxed counter
/// increment per operation; with a bound, one short lock per write, and a
/// metadata scan once per tenth of the bound (eviction goes down to 90%).
///
/// ```
/// use std::sync::Arc;
/// use stash_core::lifecycle::{Lifecycle, Policy};
/// use stash_core::{DigestAlgo, Engine, EngineContext, EngineFactory, WriteOptions};
/// # let dir = tempfile::tempdir()?;
/// let raw = stash_engine_memory::Memory.open(&EngineContext::new(dir.path()))?;
/// let engine = Lifecycle::wrap(raw, Policy::default().max_entries(10));
/// for i in 0..25u32 {
///     let key = i.to_be_bytes();
///     engine.put(&DigestAlgo::Md5.digest(&key), &key, b"v", WriteOptions::REPLACE)?;
/// }
/// assert!(engine.len()? <= 10);
/// assert_eq!(engine.stats()?.writes, 25);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Lifecycle {
    inner: Arc<dyn Engine>,
    policy: Policy,
    /// Who its log events are about.
    source: Source,
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    evictions: AtomicU64,
    eviction_errors: AtomicU64,
    bounds: Mutex<BoundsState>,
    /// Last read time per entry, kept only for [`Eviction::LeastRecentlyRead`].
    reads: Option<Mutex<HashMap<Digest, i64, BuildDigestHasher>>>,
}

/// This process's view of a bounded stash's size, corrected by an exact count
/// whenever the estimate passes a bound.
#[derive(Debug, Default)]
struct BoundsState {
    /// Entries, counting every write as new (an upper bound); `None` before the first count.
    entries: Option<u64>,
    /// Value bytes, adding every write's size (an upper bound).
    bytes: Option<u64>,
}

impl Lifecycle {
    /// Wraps `inner` with `policy` (its log events name the engine as the stash).
    pub fn wrap(inner: Arc<dyn Engine>, policy: Policy) -> Arc<Lifecycle> {
        let name = inner.name();
        Lifecycle::wrap_as(inner, policy, name)
    }

    /// Wraps `inner` with `policy`; its log events ([`observe`](crate::observe))
    /// name the stash `stash` (a display form without credentials).
    pub fn wrap_as(inner: Arc<dyn Engine>, policy: Policy, stash: impl Into<Arc<str>>) -> Arc<Lifecycle> {
        let reads =
            (policy.bounded() && policy.eviction == Eviction::LeastRecentlyRead).then(Default::default);
        let source = Source { stash: stash.into(), engine: inner.name() };
        Arc::new(Lifecycle {
            inner,
            policy,
            source,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            eviction_errors: AtomicU64::new(0),
            bounds: Mutex::new(BoundsState::default()),
            reads,
        })
    }

    /// The engine underneath: reads through it are not counted.
    pub fn inner(&self) -> &Arc<dyn Engine> {
        &self.inner
    }

    /// Who this layer's log events are about.
    pub(crate) fn source(&self) -> &Source {
        &self.source
    }

    /// The policy this layer enforces.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// `options` with the policy's time to live when they give no expiry.
    fn with_default_ttl(&self, options: WriteOptions) -> WriteOptions {
        match (options.expires_at_micros, self.policy.ttl) {
            (None, Some(ttl)) => options.expiring_at(Some(now_micros().saturating_add(to_micros(ttl)))),
            _ => options,
        }
    }

    fn read(&self, op: &'static str, digest: &Digest, found: bool) {
        observe::read(&self.source, op, digest, found);
        if found {
            self.hits.fetch_add(1, Ordering::Relaxed);
            if let Some(reads) = &self.reads
                && let Ok(mut reads) = reads.lock()
            {
                reads.insert(*digest, unique_micros());
            }
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What follows a `get` of the engine underneath, sync or async: the slow-call
    /// log, the hit or miss, the read time.
    fn got(&self, timer: Timer, digest: &Digest, found: Option<Vec<u8>>) -> Option<Vec<u8>> {
        timer.done(&self.source, "get");
        self.read("get", digest, found.is_some());
        found
    }

    /// What follows a successful write of `entries` entries holding `bytes` of
    /// values (`digest` when one): the slow-call log, the write log and counters,
    /// eviction past a bound.
    fn put_done(&self, timer: Timer, op: &'static str, digest: Option<&Digest>, entries: u64, bytes: u64) {
        timer.done(&self.source, op);
        observe::write(&self.source, digest, entries, bytes);
        self.wrote(entries, bytes);
    }

    /// What follows a successful `delete`: the entry's read time goes.
    fn deleted(&self, timer: Timer, digest: &Digest) {
        self.forget_read(digest);
        timer.done(&self.source, "delete");
    }

    /// The async engine underneath, when this layer may await it: the inner engine
    /// has one, and no bound is set. With a bound, a write may have to evict (a
    /// metadata scan and conditional deletes, sync I/O, sometimes thousands of
    /// calls), which must not run on an async task: the stash then has no async
    /// engine, and the async API runs its sync calls on a blocking pool.
    fn native(&self) -> Option<&dyn asynchronous::AsyncEngine> {
        if self.policy.bounded() { None } else { self.inner.as_async() }
    }

    /// [`native`](Lifecycle::native), or the error of a caller that awaits this
    /// layer without asking [`Engine::as_async`] first.
    fn native_or_err(&self) -> Result<&dyn asynchronous::AsyncEngine> {
        self.native().ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                "this stash has no async engine (an embedded engine, or a size bound whose eviction is sync): \
                 check Engine::as_async first",
            )
        })
    }

    /// Drops this process's estimate of the stash's size (after `clear` or a
    /// `prune`): the next write past a bound counts exactly again.
    /// Forgets the read time of an entry that is gone.
    fn forget_read(&self, digest: &Digest) {
        if let Some(reads) = &self.reads {
            reads.lock().unwrap_or_else(|e| e.into_inner()).remove(digest);
        }
    }

    fn forget_size(&self) {
        *self.bounds.lock().unwrap_or_else(|e| e.into_inner()) = BoundsState::default();
        if let Some(reads) = &self.reads {
            reads.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    /// Counts `entries` written with `bytes` of values, and evicts if a bound is
    /// passed. Never fails: the write it follows has succeeded, and what eviction
    /// could not read or remove is counted in [`Stats::eviction_errors`] instead
    /// of being reported as the write's failure.
    fn wrote(&self, entries: u64, bytes: u64) {
        self.writes.fetch_add(entries, Ordering::Relaxed);
        if !self.policy.bounded() {
            return;
        }
        let over = {
            let mut state = self.bounds.lock().unwrap_or_else(|e| e.into_inner());
            let entries = state.entries.map(|n| n.saturating_add(entries));
            let bytes = state.bytes.map(|n| n.saturating_add(bytes));
            state.entries = entries;
            state.bytes = bytes;
            let over_entries = self.policy.max_entries.is_some_and(|max| entries.is_none_or(|n| n > max));
            let over_bytes = self.policy.max_bytes.is_some_and(|max| bytes.is_none_or(|n| n > max));
            over_entries || over_bytes
        };
        if over {
            self.evict();
        }
    }

    /// Counts exactly, and evicts down to 90% of each bound passed (so the
    /// metadata scan is paid once per tenth of the bound, not once per write).
    ///
    /// Decides from a snapshot, so every removal is conditional
    /// ([`Engine::delete_unless_rewritten`]): an entry written after the scan
    /// is never evicted by it. An entry whose metadata cannot be read (a
    /// damaged file) is skipped and counted, and so is a removal that fails:
    /// neither stops the eviction of the others.
    fn evict(&self) {
        let policy = &self.policy;
        let now = now_micros();
        let mut live = Vec::new();
        let mut expired = Vec::new();
        let mut errors = 0u64;
        let Ok(scan) = self.inner.scan_meta() else {
            self.eviction_errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        for meta in scan {
            match meta {
                Ok(meta) if is_expired(meta.expires_at_micros, now) => expired.push(meta),
                Ok(meta) => live.push(meta),
                Err(_) => errors += 1,
            }
        }
        // Read times are kept for stored entries only: those removed since (by this
        // handle's deletes, by other processes, by expiry) are forgotten here, so the
        // map stays as large as the stash, whatever the churn of keys.
        if let Some(reads) = &self.reads {
            let stored: HashSet<Digest, BuildDigestHasher> = live.iter().map(|m| m.digest).collect();
            reads.lock().unwrap_or_else(|e| e.into_inner()).retain(|digest, _| stored.contains(digest));
        }
        let mut entries = live.len() as u64;
        // Sizes come from storage: saturate rather than overflow on a lying one.
        let mut bytes: u64 = live.iter().fold(0, |sum, m| sum.saturating_add(m.value_bytes));
        let over_entries = policy.max_entries.is_some_and(|max| entries > max);
        let over_bytes = policy.max_bytes.is_some_and(|max| bytes > max);
        let mut gone = 0;
        // Removes `meta` unless it was written after the scan; `None` when the removal failed.
        let remove = |meta: &EntryMeta| {
            self.inner.delete_unless_rewritten(&meta.digest, &meta.key, meta.written_at_micros).ok()
        };
        if over_entries || over_bytes {
            // Expired entries cost nothing to drop once we are evicting anyway.
            for meta in &expired {
                match remove(meta) {
                    Some(true) => observe::removed(
                        &self.source,
                        &meta.digest,
                        meta.value_bytes,
                        Removal::ExpiredByEviction,
                    ),
                    Some(false) => {}
                    None => errors += 1,
                }
            }
            let low = |max: u64| max - max / 10;
            let target_entries = policy.max_entries.filter(|_| over_entries).map(low).unwrap_or(u64::MAX);
            let target_bytes = policy.max_bytes.filter(|_| over_bytes).map(low).unwrap_or(u64::MAX);
            let reads = self.reads.as_ref().map(|r| r.lock().unwrap_or_else(|e| e.into_inner()));
            let recency = |m: &EntryMeta| {
                let read = reads.as_ref().and_then(|r| r.get(&m.digest).copied()).unwrap_or(i64::MIN);
                m.written_at_micros.max(read)
            };
            live.sort_by_cached_key(|m| std::cmp::Reverse(recency(m)));
            drop(reads);
            while entries > target_entries || bytes > target_bytes {
                let Some(oldest) = live.pop() else { break };
                match remove(&oldest) {
                    // Removed by this eviction.
                    Some(true) => {
                        entries -= 1;
                        bytes = bytes.saturating_sub(oldest.value_bytes);
                        gone += 1;
                        observe::removed(&self.source, &oldest.digest, oldest.value_bytes, Removal::Evicted);
                    }
                    // Written again since the scan (a conditional delete left it): it stays, and counts.
                    Some(false) if self.inner.contains(&oldest.digest, &oldest.key).unwrap_or(false) => {}
                    // Already gone (another process, a concurrent delete).
                    Some(false) => {
                        entries -= 1;
                        bytes = bytes.saturating_sub(oldest.value_bytes);
                    }
                    None => errors += 1,
                }
                if let Some(reads) = &self.reads {
                    reads.lock().unwrap_or_else(|e| e.into_inner()).remove(&oldest.digest);
                }
            }
        }
        self.evictions.fetch_add(gone, Ordering::Relaxed);
        self.eviction_errors.fetch_add(errors, Ordering::Relaxed);
        observe::eviction_errors(&self.source, errors);
        let mut state = self.bounds.lock().unwrap_or_else(|e| e.into_inner());
        state.entries = Some(entries);
        state.bytes = Some(bytes);
    }

    /// Removes expired entries, and with [`Prune::older_than`] entries last
    /// written longer ago than that; [`Prune::dry_run`] only reports them.
    /// An error removing one entry names its digest.
    pub fn prune(&self, prune: Prune) -> Result<PruneReport> {
        let now = now_micros();
        let cutoff = prune.older_than.map(|age| now.saturating_sub(to_micros(age)));
        let mut report = PruneReport { dry_run: prune.dry_run, ..PruneReport::default() };
        for meta in self.inner.scan_meta()? {
            let meta = match meta {
                Ok(meta) => meta,
                // A damaged entry does not stop the others from being pruned.
                Err(_) => {
                    report.damaged += 1;
                    continue;
                }
            };
            let old = cutoff.is_some_and(|at| meta.written_at_micros < at);
            let expired = is_expired(meta.expires_at_micros, now);
            if !(expired || old) {
                continue;
            }
            // Written again since the scan: no longer old nor expired, so it stays.
            if !prune.dry_run
                && !self
                    .inner
                    .delete_unless_rewritten(&meta.digest, &meta.key, meta.written_at_micros)
                    .map_err(|e| e.with_context("digest", meta.digest))?
            {
                continue;
            }
            if !prune.dry_run {
                let why = if expired { Removal::ExpiredByPrune } else { Removal::Pruned };
                observe::removed(&self.source, &meta.digest, meta.value_bytes, why);
            }
            report.value_bytes = report.value_bytes.saturating_add(meta.value_bytes);
            report.entries.push(meta);
        }
        if !prune.dry_run && !report.is_empty() {
            *self.bounds.lock().unwrap_or_else(|e| e.into_inner()) = BoundsState::default();
        }
        Ok(report)
    }

    /// Entries and sizes (one metadata scan) with this layer's counters.
    pub fn stats(&self) -> Result<Stats> {
        let mut stats = Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            eviction_errors: self.eviction_errors.load(Ordering::Relaxed),
            disk_bytes: self.inner.disk_usage()?,
            ..Stats::default()
        };
        let now = now_micros();
        for meta in self.inner.scan_meta()? {
            let Ok(meta) = meta else {
                stats.damaged += 1;
                continue;
            };
            if is_expired(meta.expires_at_micros, now) {
                stats.expired += 1;
                continue;
            }
            stats.entries += 1;
            stats.versions = stats.versions.saturating_add(meta.versions);
            stats.value_bytes = stats.value_bytes.saturating_add(meta.value_bytes);
            stats.key_bytes += meta.key.len() as u64;
        }
        Ok(stats)
    }
}

impl Engine for Lifecycle {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let timer = Timer::start();
        let found = self.inner.get(digest, key)?;
        Ok(self.got(timer, digest, found))
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        let timer = Timer::start();
        self.inner.put(digest, key, value, self.with_default_ttl(options))?;
        self.put_done(timer, "put", Some(digest), 1, value.len() as u64);
        Ok(())
    }

    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        let timer = Timer::start();
        self.inner.put_many(items, self.with_default_ttl(options))?;
        self.put_done(timer, "put_many", None, items.len() as u64, value_bytes(items));
        Ok(())
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let timer = Timer::start();
        let removed = self.inner.delete(digest, key)?;
        self.deleted(timer, digest);
        Ok(removed)
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let timer = Timer::start();
        let found = self.inner.contains(digest, key)?;
        timer.done(&self.source, "contains");
        Ok(found)
    }

    fn len(&self) -> Result<usize> {
        self.inner.len()
    }

    fn is_empty(&self) -> Result<bool> {
        self.inner.is_empty()
    }

    fn clear(&self) -> Result<()> {
        let timer = Timer::start();
        self.inner.clear()?;
        timer.done(&self.source, "clear");
        self.forget_size();
        Ok(())
    }

    fn scan(&self) -> Result<RecordIter> {
        self.inner.scan()
    }

    fn scan_lent(&self) -> Result<Box<dyn RecordCursor>> {
        self.inner.scan_lent()
    }

    fn scan_keys(&self) -> Result<RecordIter> {
        self.inner.scan_keys()
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let timer = Timer::start();
        let found = self.inner.versions(digest, key)?;
        timer.done(&self.source, "versions");
        self.read("versions", digest, found.is_some());
        Ok(found)
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        self.inner.scan_meta()
    }

    fn disk_usage(&self) -> Result<Option<u64>> {
        self.inner.disk_usage()
    }

    fn flush(&self) -> Result<()> {
        let timer = Timer::start();
        self.inner.flush()?;
        timer.done(&self.source, "flush");
        Ok(())
    }

    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        let removed = self.inner.delete_unless_rewritten(digest, key, seen_written_at_micros)?;
        if removed {
            self.forget_read(digest);
        }
        Ok(removed)
    }

    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        let timer = Timer::start();
        let stored = self.inner.put_if_absent(digest, key, value, self.with_default_ttl(options))?;
        if stored {
            self.put_done(timer, "put_if_absent", Some(digest), 1, value.len() as u64);
        } else {
            timer.done(&self.source, "put_if_absent");
        }
        Ok(stored)
    }

    fn try_lock(&self, name: &Digest, lease: Duration) -> Result<LockAttempt> {
        self.inner.try_lock(name, lease)
    }

    /// `Some(self)` when the engine underneath is natively async and no bound is
    /// set (with a bound, a write may evict through sync calls: see
    /// [`Lifecycle`]'s [`AsyncEngine`](asynchronous::AsyncEngine) implementation).
    fn as_async(&self) -> Option<&dyn asynchronous::AsyncEngine> {
        self.native().map(|_| self as &dyn asynchronous::AsyncEngine)
    }
}

/// The bytes of values a batch writes.
fn value_bytes(items: &[Put<'_>]) -> u64 {
    items.iter().map(|p| p.value.len() as u64).sum()
}

/// The same layer over the engine's natively async operations, with the same
/// bookkeeping as the sync methods (the default time to live on writes, hit,
/// miss and write counters, read times, the slow-call and write logs).
///
/// Offered ([`Engine::as_async`]) only when the engine underneath has async
/// operations and the [`Policy`] sets no bound: eviction past a bound scans and
/// deletes through sync calls, which must not run on an async task, so a bounded
/// stash's async API runs the sync layer on a blocking pool instead. Awaiting
/// these methods on a layer that does not offer them is an
/// [`ErrorKind::Unsupported`] error.
impl asynchronous::AsyncEngine for Lifecycle {
    fn get<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            let inner = self.native_or_err()?;
            let timer = Timer::start();
            let found = inner.get(digest, key).await?;
            Ok(self.got(timer, digest, found))
        })
    }

    fn put<'a>(
        &'a self,
        digest: &'a Digest,
        key: &'a [u8],
        value: &'a [u8],
        options: WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let inner = self.native_or_err()?;
            let timer = Timer::start();
            inner.put(digest, key, value, self.with_default_ttl(options)).await?;
            self.put_done(timer, "put", Some(digest), 1, value.len() as u64);
            Ok(())
        })
    }

    fn put_many<'a>(&'a self, items: &'a [Put<'a>], options: WriteOptions) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let inner = self.native_or_err()?;
            let timer = Timer::start();
            inner.put_many(items, self.with_default_ttl(options)).await?;
            self.put_done(timer, "put_many", None, items.len() as u64, value_bytes(items));
            Ok(())
        })
    }

    fn delete<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let inner = self.native_or_err()?;
            let timer = Timer::start();
            let removed = inner.delete(digest, key).await?;
            self.deleted(timer, digest);
            Ok(removed)
        })
    }

    fn contains<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let inner = self.native_or_err()?;
            let timer = Timer::start();
            let found = inner.contains(digest, key).await?;
            timer.done(&self.source, "contains");
            Ok(found)
        })
    }

    fn len(&self) -> BoxFuture<'_, Result<usize>> {
        Box::pin(async move { self.native_or_err()?.len().await })
    }

    fn is_empty(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move { self.native_or_err()?.is_empty().await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DigestAlgo, EngineContext, EngineFactory};

    fn tracked(engine: &Lifecycle) -> usize {
        engine.reads.as_ref().map_or(0, |r| r.lock().unwrap_or_else(|e| e.into_inner()).len())
    }

    /// Least-recently-read eviction keeps a read time per entry: keys written,
    /// read and removed, by this handle or by another, must not pile up in it.
    #[test]
    fn read_times_of_removed_entries_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let raw = stash_engine_memory::Memory.open(&EngineContext::new(dir.path())).unwrap();
        let policy = Policy::default().max_entries(10).eviction(Eviction::LeastRecentlyRead);
        let engine = Lifecycle::wrap(raw.clone(), policy);
        for i in 0..1_000u32 {
            let key = i.to_be_bytes();
            let digest = DigestAlgo::Md5.digest(&key);
            engine.put(&digest, &key, b"v", WriteOptions::REPLACE).unwrap();
            assert!(engine.get(&digest, &key).unwrap().is_some());
            if i % 2 == 0 {
                // Removed through this handle.
                assert!(engine.delete(&digest, &key).unwrap());
            } else {
                // Removed by someone else (the engine underneath, as another process would).
                assert!(raw.delete(&digest, &key).unwrap());
            }
        }
        assert_eq!(engine.len().unwrap(), 0);
        assert!(tracked(&engine) <= 20, "{} read times kept for an empty stash", tracked(&engine));
    }

    /// An engine whose async operations are its sync ones, ready at once.
    #[derive(Debug)]
    struct Ready(Arc<dyn Engine>);

    macro_rules! forward {
        ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {$(
            fn $name(&self, $($arg: $ty),*) -> Result<$out> { self.0.$name($($arg),*) }
        )*};
    }

    impl Engine for Ready {
        forward! {
            get(digest: &Digest, key: &[u8]) -> Option<Vec<u8>>;
            put(digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> ();
            delete(digest: &Digest, key: &[u8]) -> bool;
            len() -> usize;
            clear() -> ();
            scan() -> RecordIter;
            versions(digest: &Digest, key: &[u8]) -> Option<Vec<Version>>;
            scan_meta() -> MetaIter;
        }
        fn name(&self) -> &'static str {
            "ready"
        }
        fn capabilities(&self) -> Capabilities {
            self.0.capabilities()
        }
        fn as_async(&self) -> Option<&dyn asynchronous::AsyncEngine> {
            Some(self)
        }
    }

    impl asynchronous::AsyncEngine for Ready {
        fn get<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
            Box::pin(async move { self.0.get(digest, key) })
        }
        fn put<'a>(
            &'a self,
            digest: &'a Digest,
            key: &'a [u8],
            value: &'a [u8],
            options: WriteOptions,
        ) -> BoxFuture<'a, Result<()>> {
            Box::pin(async move { self.0.put(digest, key, value, options) })
        }
        fn delete<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
            Box::pin(async move { self.0.delete(digest, key) })
        }
        fn len(&self) -> BoxFuture<'_, Result<usize>> {
            Box::pin(async move { self.0.len() })
        }
    }

    fn ready<T>(mut future: BoxFuture<'_, T>) -> T {
        use std::task::{Context, Poll, Waker};
        match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("a Ready future waited"),
        }
    }

    /// Through the async operations, the layer counts, applies its time to live
    /// and forgets as through the sync ones; it offers them only over an async
    /// engine and without a bound.
    #[test]
    fn async_operations_keep_the_books() {
        let dir = tempfile::tempdir().unwrap();
        let raw = stash_engine_memory::Memory.open(&EngineContext::new(dir.path())).unwrap();
        assert!(Lifecycle::wrap(raw.clone(), Policy::default()).as_async().is_none(), "memory is sync");
        let engine: Arc<dyn Engine> = Arc::new(Ready(raw));
        let bounded = Lifecycle::wrap(engine.clone(), Policy::default().max_entries(10));
        assert!(bounded.as_async().is_none(), "a bound evicts through sync calls");
        let err = ready(asynchronous::AsyncEngine::len(&*bounded)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);

        let life = Lifecycle::wrap(engine, Policy::default().ttl(Duration::from_secs(3600)));
        let async_engine = life.as_async().expect("an async engine, no bound");
        let (key, other) = (b"k".as_slice(), b"other".as_slice());
        let (digest, other_digest) = (DigestAlgo::Md5.digest(key), DigestAlgo::Md5.digest(other));
        ready(async_engine.put(&digest, key, b"v", WriteOptions::REPLACE)).unwrap();
        let items = [Put { digest: other_digest, key: other, value: b"w" }];
        ready(async_engine.put_many(&items, WriteOptions::REPLACE)).unwrap();
        assert_eq!(ready(async_engine.get(&digest, key)).unwrap(), Some(b"v".to_vec()));
        assert!(ready(async_engine.contains(&other_digest, other)).unwrap());
        assert_eq!(ready(async_engine.len()).unwrap(), 2);
        assert!(ready(async_engine.delete(&other_digest, other)).unwrap());
        assert_eq!(ready(async_engine.get(&other_digest, other)).unwrap(), None);
        assert!(!ready(async_engine.is_empty()).unwrap());
        let stats = life.stats().unwrap();
        assert_eq!((stats.hits, stats.misses, stats.writes), (1, 1, 2));
        // The policy's time to live was applied to the async write.
        let meta = life.scan_meta().unwrap().next().unwrap().unwrap();
        let expires = meta.expires_at_micros.expect("the default time to live");
        assert!(expires > now_micros() + 3_000_000_000, "expires at {expires}");
    }
}
