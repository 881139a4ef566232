//! Logs a stash emits through [`tracing`](https://docs.rs/tracing), with the
//! cargo feature `tracing` (off by default; without it every function here is
//! an empty inline one, and nothing is timed).
//!
//! All events have the target `hashstash` and the fields `stash` (its display
//! form, e.g. `LMDBHashStash(~/.cache/hashstash/main/lmdb.hashstash.lz4/data.db)`)
//! and `engine`; events about one entry add `digest` (the hex slot of its
//! key). Key and value contents are never logged, nor are server credentials.
//!
//! | event (message) | level | more fields |
//! |---|---|---|
//! | span `open`, event `opened` | INFO span, DEBUG | `elapsed_us` |
//! | `hit`, `miss` | TRACE | `op` (`get`, `versions`) |
//! | `write` | TRACE | `entries`, `bytes` |
//! | `evicted` | DEBUG | `value_bytes`, `reason` (`bound`) |
//! | `expired removed` | DEBUG | `value_bytes`, `reason` (`eviction`, `prune`) |
//! | `pruned` | DEBUG | `value_bytes` (an entry older than `Prune::older_than`) |
//! | `eviction error` | WARN | `errors` |
//! | `retry` | DEBUG | `op` (`pop`, `setdefault`), `attempt` |
//! | `slow operation` | WARN | `op`, `elapsed_us`, `threshold_us` |
//!
//! An operation is slow when one engine call takes longer than
//! [`slow_threshold`] (100 ms unless [`set_slow_threshold`] says otherwise).
//!
//! ```
//! // With `tracing-subscriber`: RUST_LOG=hashstash=debug shows evictions and retries.
//! stash_core::observe::set_slow_threshold(std::time::Duration::from_millis(250));
//! assert_eq!(stash_core::observe::slow_threshold().as_millis(), 250);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::digest::Digest;

/// Microseconds an engine call may take before it is logged as slow.
static SLOW_MICROS: AtomicU64 = AtomicU64::new(100_000);

/// Sets how long one engine call may take before a `slow operation` event (process-wide).
pub fn set_slow_threshold(threshold: Duration) {
    SLOW_MICROS.store(u64::try_from(threshold.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// How long one engine call may take before a `slow operation` event.
pub fn slow_threshold() -> Duration {
    Duration::from_micros(SLOW_MICROS.load(Ordering::Relaxed))
}

/// Who an event is about: the stash's display form and its engine's name.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub stash: std::sync::Arc<str>,
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub engine: &'static str,
}

/// Times one engine call when logs are on; a zero-sized no-op otherwise.
pub(crate) struct Timer {
    #[cfg(feature = "tracing")]
    start: std::time::Instant,
}

impl Timer {
    #[inline]
    pub fn start() -> Timer {
        Timer {
            #[cfg(feature = "tracing")]
            start: std::time::Instant::now(),
        }
    }

    /// Logs `op` as slow if it took longer than the threshold.
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub fn done(self, source: &Source, op: &'static str) {
        #[cfg(feature = "tracing")]
        {
            let elapsed = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
            let threshold = SLOW_MICROS.load(Ordering::Relaxed);
            if elapsed > threshold {
                tracing::warn!(
                    target: "hashstash",
                    stash = %source.stash, engine = source.engine, op, elapsed_us = elapsed,
                    threshold_us = threshold, "slow operation"
                );
            }
        }
    }
}

/// A read that found (`hit`) or did not find (`miss`) its entry.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn read(source: &Source, op: &'static str, digest: &Digest, found: bool) {
    #[cfg(feature = "tracing")]
    if found {
        tracing::trace!(target: "hashstash", stash = %source.stash, engine = source.engine, %digest, op, "hit");
    } else {
        tracing::trace!(target: "hashstash", stash = %source.stash, engine = source.engine, %digest, op, "miss");
    }
}

/// `entries` written with `bytes` of values (`digest` when it was one entry).
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn write(source: &Source, digest: Option<&Digest>, entries: u64, bytes: u64) {
    #[cfg(feature = "tracing")]
    tracing::trace!(
        target: "hashstash",
        stash = %source.stash, engine = source.engine, digest = digest.map(tracing::field::display),
        entries, bytes, "write"
    );
}

/// Why an entry left the stash without being deleted by its user.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Removal {
    /// Evicted to keep within a bound.
    Evicted,
    /// Expired, removed while evicting.
    ExpiredByEviction,
    /// Expired, removed by `prune`.
    ExpiredByPrune,
    /// Older than `Prune::older_than`.
    Pruned,
}

/// An entry removed by the life cycle.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn removed(source: &Source, digest: &Digest, value_bytes: u64, why: Removal) {
    #[cfg(feature = "tracing")]
    {
        let (stash, engine) = (&source.stash, source.engine);
        match why {
            Removal::Evicted => tracing::debug!(
                target: "hashstash", stash = %stash, engine, %digest, value_bytes, reason = "bound", "evicted"
            ),
            Removal::ExpiredByEviction => tracing::debug!(
                target: "hashstash", stash = %stash, engine, %digest, value_bytes, reason = "eviction",
                "expired removed"
            ),
            Removal::ExpiredByPrune => tracing::debug!(
                target: "hashstash", stash = %stash, engine, %digest, value_bytes, reason = "prune",
                "expired removed"
            ),
            Removal::Pruned => {
                tracing::debug!(target: "hashstash", stash = %stash, engine, %digest, value_bytes, "pruned")
            }
        }
    }
}

/// Entries eviction could not read or remove (it went on without them).
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn eviction_errors(source: &Source, errors: u64) {
    #[cfg(feature = "tracing")]
    if errors > 0 {
        tracing::warn!(target: "hashstash", stash = %source.stash, engine = source.engine, errors, "eviction error");
    }
}

/// Another try of `op` on `digest` after a concurrent writer won the last one.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn retry(source: &Source, op: &'static str, digest: &Digest, attempt: usize) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "hashstash", stash = %source.stash, engine = source.engine, %digest, op, attempt, "retry");
}

/// The span a stash opens in, and the event once it has (with how long it took).
#[cfg(feature = "tracing")]
pub(crate) fn open_span(stash: &str, engine: &str) -> tracing::span::EnteredSpan {
    tracing::info_span!(target: "hashstash", "open", stash, engine).entered()
}

/// Logs that the stash of the current `open` span opened after `elapsed`.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn opened(elapsed: Duration) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "hashstash", elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), "opened");
}
