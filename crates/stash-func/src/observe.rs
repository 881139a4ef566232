//! Log events of stashed functions through [`tracing`](https://docs.rs/tracing)
//! with the cargo feature `tracing` (which also turns on `stash-core`'s, whose
//! `hit`, `miss` and `write` events name the function's stash); without it
//! these are empty inline functions. Target `hashstash`, fields `function`
//! (its name) and `digest` (the key's); never arguments or results.
//!
//! | message | level | fields |
//! |---|---|---|
//! | `compute` | DEBUG | `function`, `digest`, `took_us`: a missing result was computed |
//! | `wait` | DEBUG | `function`, `digest`, `waited_us`, `found`: a caller waited (at least 1 ms) for another computing the same key, then found its result (`found = true`) or computed it |

use std::time::Duration;

use stash_core::Digest;

/// The shortest wait that is logged: taking a free lock costs less.
#[cfg(feature = "tracing")]
const LOGGED_WAIT: Duration = Duration::from_millis(1);

#[cfg(feature = "tracing")]
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A missing result of `function` was computed in `took`.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn computed(function: &str, digest: &Digest, took: Duration) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "hashstash", function, %digest, took_us = micros(took), "compute");
}

/// A call of `function` waited `waited` for the key's turn; `found`: another
/// caller's result was there after the wait.
#[inline]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn waited(function: &str, digest: &Digest, waited: Duration, found: bool) {
    #[cfg(feature = "tracing")]
    if waited >= LOGGED_WAIT {
        tracing::debug!(target: "hashstash", function, %digest, waited_us = micros(waited), found, "wait");
    }
}
