//! A stash's life cycle: time to live, bounded size and eviction, `prune`,
//! `stats`, and the counters behind them.
//!
//! Costs, engine by engine, are in the docs of [`Stash::prune`] and
//! [`Stash::stats`]; the short version: nothing here touches the hot path of a
//! stash that sets no TTL and no bound, beyond two relaxed counter increments.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::{is_expired, now_micros, unique_micros};
use crate::config::{Eviction, StashConfig, check_ttl};
use crate::digest::{BuildDigestHasher, Digest};
use crate::engine::{EntryMeta, WriteOptions};
use crate::error::Result;
use crate::stash::Stash;

/// Per-call write options: append or replace, and a time to live. Unset
/// fields take the stash's settings (`append_mode`, `ttl`).
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// # let dir = tempfile::tempdir()?;
/// # let mut cfg = stash_core::StashConfig::default();
/// # cfg.root_dir = dir.path().into();
/// # cfg.engine = "memory".into();
/// # let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
/// use stash_core::SetOptions;
/// stash.set_with("session", "abc", SetOptions::new().ttl(Duration::from_secs(3600)))?;
/// stash.set_with("log", "first", SetOptions::new().append(true))?;
/// stash.set_with("log", "second", SetOptions::new().append(true))?;
/// assert_eq!(stash.get_all::<_, String>("log")?, ["first", "second"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOptions {
    append: Option<bool>,
    ttl: Option<Duration>,
    /// An absolute expiry (microseconds since the epoch); wins over `ttl`.
    expires_at_micros: Option<i64>,
}

impl SetOptions {
    /// The stash's own settings.
    pub fn new() -> SetOptions {
        SetOptions::default()
    }

    /// Keep earlier versions (`true`) or replace them (`false`).
    pub fn append(mut self, append: bool) -> SetOptions {
        self.append = Some(append);
        self
    }

    /// This entry expires `ttl` after it is written (must be longer than zero).
    pub fn ttl(mut self, ttl: Duration) -> SetOptions {
        self.ttl = Some(ttl);
        self
    }

    /// This entry expires at `when` (a time already past makes it invisible at once);
    /// wins over a `ttl`.
    pub fn expires_at(mut self, when: SystemTime) -> SetOptions {
        self.expires_at_micros = Some(time_to_micros(when));
        self
    }
}

impl From<WriteOptions> for SetOptions {
    fn from(options: WriteOptions) -> SetOptions {
        SetOptions { append: Some(options.append), ttl: None, expires_at_micros: options.expires_at_micros }
    }
}

/// What `prune` removes; see [`Stash::prune`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prune {
    older_than: Option<Duration>,
    dry_run: bool,
}

impl Prune {
    /// Expired entries only.
    pub fn expired() -> Prune {
        Prune::default()
    }

    /// Expired entries, and entries last written more than `age` ago.
    pub fn older_than(age: Duration) -> Prune {
        Prune { older_than: Some(age), dry_run: false }
    }

    /// Report what would go, remove nothing.
    pub fn dry_run(mut self) -> Prune {
        self.dry_run = true;
        self
    }
}

/// What `prune` removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Whether this was a dry run (nothing removed).
    pub dry_run: bool,
    /// The entries concerned, as the engine describes them.
    pub entries: Vec<EntryMeta>,
    /// Their value bytes in all.
    pub value_bytes: u64,
    /// Entries whose metadata could not be read (damaged files), skipped.
    pub damaged: u64,
}

impl PruneReport {
    /// How many entries went (or would go).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing went.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A snapshot from [`Stash::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Live entries (expired ones excluded).
    pub entries: u64,
    /// Entries whose time to live has passed, not yet pruned.
    pub expired: u64,
    /// Versions kept over all live entries (more than `entries` in append mode).
    pub versions: u64,
    /// Encoded value bytes over all kept versions of live entries.
    pub value_bytes: u64,
    /// Encoded key bytes of live entries.
    pub key_bytes: u64,
    /// Bytes the engine's files take on disk (allocated), for engines with files.
    pub disk_bytes: Option<u64>,
    /// Reads that found a value, through this handle and its clones since opening.
    pub hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// Entries written.
    pub writes: u64,
    /// Entries evicted to keep within `max_entries` / `max_bytes`.
    pub evictions: u64,
    /// Entries whose metadata could not be read by this scan (damaged files):
    /// skipped, while the rest of the stash stays readable.
    pub damaged: u64,
    /// Entries eviction could not read or remove since opening (it skips them
    /// and goes on; the writes that triggered it still succeed).
    pub eviction_errors: u64,
}

/// Counters and eviction state, shared by the clones of one stash.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
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
    pub(crate) fn new(config: &StashConfig) -> Lifecycle {
        let bounded = config.max_entries.is_some() || config.max_bytes.is_some();
        let reads = (bounded && config.eviction == Eviction::LeastRecentlyRead).then(Default::default);
        Lifecycle { reads, ..Lifecycle::default() }
    }

    /// Drops this process's estimate of the stash's size (after `clear`): the
    /// next write past a bound counts exactly again.
    pub(crate) fn forget_size(&self) {
        *self.bounds.lock().unwrap_or_else(|e| e.into_inner()) = BoundsState::default();
        if let Some(reads) = &self.reads {
            reads.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    pub(crate) fn read(&self, digest: &Digest, found: bool) {
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
}

fn to_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Microseconds since the epoch of a `SystemTime` (negative before 1970).
pub(crate) fn time_to_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => to_micros(d),
        Err(e) => -to_micros(e.duration()),
    }
}

impl Stash {
    /// The engine's write options for one write: append and expiry from `options`,
    /// else from the stash's settings.
    pub(crate) fn resolve(&self, options: SetOptions) -> Result<WriteOptions> {
        let config = self.config();
        let append = options.append.unwrap_or(config.append_mode);
        let base = if append { WriteOptions::APPEND } else { WriteOptions::REPLACE };
        if let Some(at) = options.expires_at_micros {
            return Ok(base.expiring_at(Some(at)));
        }
        let Some(ttl) = options.ttl.or(config.ttl) else { return Ok(base) };
        check_ttl(ttl).map_err(|e| self.context(e))?;
        Ok(base.expiring_at(Some(now_micros().saturating_add(to_micros(ttl)))))
    }

    /// Counts `entries` written with `bytes` of values, and evicts if a bound is
    /// passed. Never fails: the write it follows has succeeded, and what eviction
    /// could not read or remove is counted in [`Stats::eviction_errors`] instead
    /// of being reported as the write's failure.
    pub(crate) fn wrote(&self, entries: u64, bytes: u64) {
        let life = self.lifecycle();
        life.writes.fetch_add(entries, Ordering::Relaxed);
        let config = self.config();
        if config.max_entries.is_none() && config.max_bytes.is_none() {
            return;
        }
        let over = {
            let mut state = life.bounds.lock().unwrap_or_else(|e| e.into_inner());
            let entries = state.entries.map(|n| n.saturating_add(entries));
            let bytes = state.bytes.map(|n| n.saturating_add(bytes));
            state.entries = entries;
            state.bytes = bytes;
            let over_entries = config.max_entries.is_some_and(|max| entries.is_none_or(|n| n > max));
            let over_bytes = config.max_bytes.is_some_and(|max| bytes.is_none_or(|n| n > max));
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
    /// ([`Engine::delete_unless_rewritten`](crate::Engine::delete_unless_rewritten)):
    /// an entry written after the scan is never evicted by it. An entry whose
    /// metadata cannot be read (a damaged file) is skipped and counted, and so is
    /// a removal that fails: neither stops the eviction of the others.
    fn evict(&self) {
        let config = self.config();
        let life = self.lifecycle();
        let now = now_micros();
        let mut live = Vec::new();
        let mut expired = Vec::new();
        let mut errors = 0u64;
        let scan = match self.engine().scan_meta() {
            Ok(scan) => scan,
            Err(_) => {
                life.eviction_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        for meta in scan {
            match meta {
                Ok(meta) if is_expired(meta.expires_at_micros, now) => expired.push(meta),
                Ok(meta) => live.push(meta),
                Err(_) => errors += 1,
            }
        }
        let mut entries = live.len() as u64;
        // Sizes come from storage: saturate rather than overflow on a lying one.
        let mut bytes: u64 = live.iter().fold(0, |sum, m| sum.saturating_add(m.value_bytes));
        let over_entries = config.max_entries.is_some_and(|max| entries > max);
        let over_bytes = config.max_bytes.is_some_and(|max| bytes > max);
        let mut gone = 0;
        // Removes `meta` unless it was written after the scan; `None` when the removal failed.
        let remove = |meta: &EntryMeta| {
            self.engine().delete_unless_rewritten(&meta.digest, &meta.key, meta.written_at_micros).ok()
        };
        if over_entries || over_bytes {
            // Expired entries cost nothing to drop once we are evicting anyway.
            for meta in &expired {
                if remove(meta).is_none() {
                    errors += 1;
                }
            }
            let low = |max: u64| max - max / 10;
            let target_entries = config.max_entries.filter(|_| over_entries).map(low).unwrap_or(u64::MAX);
            let target_bytes = config.max_bytes.filter(|_| over_bytes).map(low).unwrap_or(u64::MAX);
            let reads = life.reads.as_ref().map(|r| r.lock().unwrap_or_else(|e| e.into_inner()));
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
                    }
                    // Written again since the scan: it stays, and counts.
                    Some(false) if self.written_since(&oldest) => {}
                    // Already gone (another process, a concurrent delete).
                    Some(false) => {
                        entries -= 1;
                        bytes = bytes.saturating_sub(oldest.value_bytes);
                    }
                    None => errors += 1,
                }
                if let Some(reads) = &life.reads {
                    reads.lock().unwrap_or_else(|e| e.into_inner()).remove(&oldest.digest);
                }
            }
        }
        life.evictions.fetch_add(gone, Ordering::Relaxed);
        life.eviction_errors.fetch_add(errors, Ordering::Relaxed);
        let mut state = life.bounds.lock().unwrap_or_else(|e| e.into_inner());
        state.entries = Some(entries);
        state.bytes = Some(bytes);
    }

    /// Whether `meta`'s entry is still stored (it was written again after the
    /// scan that reported `meta`, since a conditional delete left it).
    fn written_since(&self, meta: &EntryMeta) -> bool {
        self.engine().contains(&meta.digest, &meta.key).unwrap_or(false)
    }

    /// Removes expired entries, and with [`Prune::older_than`] entries last
    /// written longer ago than that; [`Prune::dry_run`] only reports them.
    ///
    /// Cost: one metadata scan (keys and sizes, no values decoded) and one
    /// delete per entry removed.
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # let dir = tempfile::tempdir()?;
    /// # let mut cfg = stash_core::StashConfig::default();
    /// # cfg.root_dir = dir.path().into();
    /// # cfg.engine = "memory".into();
    /// # let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
    /// use stash_core::Prune;
    /// stash.set("old", &1)?;
    /// std::thread::sleep(Duration::from_millis(20));
    /// stash.set("new", &2)?;
    /// let report = stash.prune(Prune::older_than(Duration::from_millis(10)).dry_run())?;
    /// assert_eq!(report.len(), 1);
    /// assert_eq!(stash.len()?, 2); // a dry run removes nothing
    /// stash.prune(Prune::older_than(Duration::from_millis(10)))?;
    /// assert_eq!(stash.keys::<String>()?.collect::<Result<Vec<_>, _>>()?, ["new"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prune(&self, prune: Prune) -> Result<PruneReport> {
        let now = now_micros();
        let cutoff = prune.older_than.map(|age| now.saturating_sub(to_micros(age)));
        let mut report = PruneReport { dry_run: prune.dry_run, ..PruneReport::default() };
        for meta in self.engine().scan_meta().map_err(|e| self.context(e))? {
            let meta = match meta {
                Ok(meta) => meta,
                // A damaged entry does not stop the others from being pruned.
                Err(_) => {
                    report.damaged += 1;
                    continue;
                }
            };
            let old = cutoff.is_some_and(|at| meta.written_at_micros < at);
            if !(is_expired(meta.expires_at_micros, now) || old) {
                continue;
            }
            // Written again since the scan: no longer old nor expired, so it stays.
            if !prune.dry_run
                && !self
                    .engine()
                    .delete_unless_rewritten(&meta.digest, &meta.key, meta.written_at_micros)
                    .map_err(|e| self.context(e).with_context("digest", meta.digest))?
            {
                continue;
            }
            report.value_bytes = report.value_bytes.saturating_add(meta.value_bytes);
            report.entries.push(meta);
        }
        if !prune.dry_run && !report.is_empty() {
            let mut state = self.lifecycle().bounds.lock().unwrap_or_else(|e| e.into_inner());
            *state = BoundsState::default();
        }
        Ok(report)
    }

    /// Entries, sizes and this handle's counters.
    ///
    /// Cost: one metadata scan (no values read on lmdb, sqlite, pairtree; sled
    /// reads records) plus the engine's disk usage (a walk of the files for
    /// pairtree and sled, two `stat`s for lmdb and sqlite).
    pub fn stats(&self) -> Result<Stats> {
        let life = self.lifecycle();
        let mut stats = Stats {
            hits: life.hits.load(Ordering::Relaxed),
            misses: life.misses.load(Ordering::Relaxed),
            writes: life.writes.load(Ordering::Relaxed),
            evictions: life.evictions.load(Ordering::Relaxed),
            eviction_errors: life.eviction_errors.load(Ordering::Relaxed),
            disk_bytes: self.engine().disk_usage().map_err(|e| self.context(e))?,
            ..Stats::default()
        };
        let now = now_micros();
        for meta in self.engine().scan_meta().map_err(|e| self.context(e))? {
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
