//! Write timestamps that never repeat within a process.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static LAST: AtomicI64 = AtomicI64::new(0);

/// Microseconds since the Unix epoch (the wall clock; may repeat).
pub fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Whether an entry with this expiry time is expired at `now` (both in microseconds).
#[inline]
pub fn is_expired(expires_at_micros: Option<i64>, now: i64) -> bool {
    matches!(expires_at_micros, Some(at) if at <= now)
}

/// Microseconds since the Unix epoch, strictly increasing within this process,
/// so two writes in the same microsecond still get distinct, ordered stamps.
pub fn unique_micros() -> i64 {
    let now = now_micros();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strictly_increasing_across_threads() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..10_000).map(|_| super::unique_micros()).collect::<Vec<_>>()))
            .collect();
        let mut all = Vec::new();
        for h in handles {
            let v = h.join().unwrap();
            assert!(v.windows(2).all(|w| w[0] < w[1]));
            all.extend(v);
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "timestamps repeated across threads");
    }
}
