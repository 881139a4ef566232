//! Log events engines emit through [`tracing`](https://docs.rs/tracing) with
//! the cargo feature `tracing` (which `stash-core`'s, and the facade's,
//! `tracing` feature turns on); without it these are empty inline functions.
//! Target `hashstash`, fields `engine`, `op` and, where one entry is
//! concerned, `digest`; never key or value contents.

use std::time::Duration;

use crate::digest::Digest;

/// `op` is tried again (attempt `attempt`, from 1) after a race with another
/// writer or process, or after growing storage (DEBUG, message `retry`).
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub fn retry(engine: &'static str, op: &'static str, digest: Option<&Digest>, attempt: usize) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "hashstash", engine, op, digest = digest.map(tracing::field::display), attempt, "retry"
    );
}

/// `op` waited `waited` for a lock held by another handle or process (DEBUG,
/// message `lock wait`).
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub fn lock_wait(engine: &'static str, op: &'static str, waited: Duration) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "hashstash", engine, op, waited_us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX),
        "lock wait"
    );
}
