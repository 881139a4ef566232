//! A stash's life cycle: time to live, bounded size and eviction, `prune`,
//! `stats`, and the counters behind them.
//!
//! The mechanism is an engine layer, [`Lifecycle`], which every stash reads and
//! writes through; this module holds it, the per-call options and the reports.
//! Costs, engine by engine, are in the docs of [`Stash::prune`] and
//! [`Stash::stats`]; the short version: nothing here touches the hot path of a
//! stash that sets no TTL and no bound, beyond a relaxed counter increment.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::now_micros;
use crate::config::check_ttl;
use crate::engine::{EntryMeta, WriteOptions};
use crate::error::Result;
use crate::stash::Stash;

mod layer;
pub use layer::{Lifecycle, Policy};

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

impl Stats {
    /// The snapshot as metrics, `(name, value)`, named as Prometheus names
    /// them (`_total` for counters since opening), for a metrics exporter:
    /// `hashstash_entries`, `hashstash_expired_entries`, `hashstash_versions`,
    /// `hashstash_value_bytes`, `hashstash_key_bytes`, `hashstash_disk_bytes`
    /// (when the engine has files), `hashstash_damaged_entries`,
    /// `hashstash_hits_total`, `hashstash_misses_total`, `hashstash_writes_total`,
    /// `hashstash_evictions_total`, `hashstash_eviction_errors_total`.
    ///
    /// ```
    /// let stats = stash_core::Stats::default();
    /// let metrics: std::collections::BTreeMap<_, _> = stats.metrics().collect();
    /// assert_eq!(metrics["hashstash_hits_total"], 0);
    /// assert!(!metrics.contains_key("hashstash_disk_bytes"));
    /// ```
    pub fn metrics(&self) -> impl Iterator<Item = (&'static str, u64)> + use<> {
        let gauges = [
            ("hashstash_entries", self.entries),
            ("hashstash_expired_entries", self.expired),
            ("hashstash_versions", self.versions),
            ("hashstash_value_bytes", self.value_bytes),
            ("hashstash_key_bytes", self.key_bytes),
            ("hashstash_damaged_entries", self.damaged),
            ("hashstash_hits_total", self.hits),
            ("hashstash_misses_total", self.misses),
            ("hashstash_writes_total", self.writes),
            ("hashstash_evictions_total", self.evictions),
            ("hashstash_eviction_errors_total", self.eviction_errors),
        ];
        gauges.into_iter().chain(self.disk_bytes.map(|bytes| ("hashstash_disk_bytes", bytes)))
    }
}

pub(crate) fn to_micros(d: Duration) -> i64 {
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
    /// The engine's write options for one write: append from `options`, else
    /// the stash's append mode; an expiry or time to live from `options` (the
    /// stash's own time to live is added by its [`Lifecycle`] layer to writes
    /// that give none). Public for the async API (`stash-async`), which writes
    /// through the engine's async operations with the options `set_with` would use.
    #[doc(hidden)]
    pub fn resolve(&self, options: SetOptions) -> Result<WriteOptions> {
        let append = options.append.unwrap_or(self.config().append_mode);
        let base = if append { WriteOptions::APPEND } else { WriteOptions::REPLACE };
        if let Some(at) = options.expires_at_micros {
            return Ok(base.expiring_at(Some(at)));
        }
        let Some(ttl) = options.ttl else { return Ok(base) };
        check_ttl(ttl).map_err(|e| self.context(e))?;
        Ok(base.expiring_at(Some(now_micros().saturating_add(to_micros(ttl)))))
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
        self.lifecycle().prune(prune).map_err(|e| self.context(e))
    }

    /// Entries, sizes and this handle's counters.
    ///
    /// Cost: one metadata scan (no values read on lmdb, sqlite, pairtree; sled
    /// reads records) plus the engine's disk usage (a walk of the files for
    /// pairtree and sled, two `stat`s for lmdb and sqlite).
    pub fn stats(&self) -> Result<Stats> {
        self.lifecycle().stats().map_err(|e| self.context(e))
    }
}
