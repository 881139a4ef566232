//! Single-flight: one computation per missing result at a time.
//!
//! A caller that finds no stored result for a key takes that key's turn
//! before computing, then looks the key up again and computes only if it is
//! still missing, so the function runs once and the other callers find its
//! stored result when their turn comes. The turn is per key (the key's
//! digest), never per function: a computation that calls other stashed
//! functions (or the same function with other arguments) waits only for
//! those exact keys.
//!
//! Two levels:
//! - **in the process**: a slot per (stash, key) in a process-global table
//!   (kept only while someone holds or waits for it), so threads wait on a
//!   condition variable and wake as soon as the holder is done;
//! - **across processes and machines**: the engine's lock on the key's digest,
//!   [`Engine::try_lock`](stash_core::Engine::try_lock): lock files beside the
//!   data of file engines (`<stash folder>/.locks`), locks on the server for
//!   server engines. It is polled with a growing pause (1 ms doubling to
//!   50 ms). Engines without such a lock (`memory`, or one answering
//!   `Unsupported`) get single flight within the process only.
//!
//! **No wait is unbounded.** Each caller waits at most its wait timeout
//! ([`DEFAULT_WAIT`], 60 s, unless set through
//! [`RunOptions::wait_timeout`](crate::RunOptions::wait_timeout) or
//! [`MapBuilder::wait_timeout`](crate::MapBuilder::wait_timeout)) for both
//! levels together, then computes anyway. A timeout costs a duplicate
//! computation (both store the same result; the later write wins), never a
//! hang or a wrong result. Crossed calls on the *same* keys (A holds `f(1)`
//! and calls `g(2)` while B holds `g(2)` and calls `f(1)`) are resolved this
//! way. The wait timeout (at least 1 s) is also the lease passed to the
//! engine: a server lock whose holder died is free again after it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stash_core::{Digest, HeldLock, LockAttempt, Stash};

use crate::error::Result;

/// How long a caller waits for another caller computing the same key (in
/// this process or another) before computing it too: 60 s.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// The first pause between two tries of a busy engine lock.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause between two tries of a busy engine lock.
const MAX_PAUSE: Duration = Duration::from_millis(50);
/// Waits longer than this (`Duration::MAX` for "as long as it takes") are cut to it.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Default)]
struct Slot {
    busy: Mutex<bool>,
    freed: Condvar,
}

type Key = (PathBuf, Digest);
static SLOTS: LazyLock<Mutex<HashMap<Key, Arc<Slot>>>> = LazyLock::new(Default::default);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking computation leaves these tables consistent: ignore poisoning.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held while one caller computes a key; dropping it (also on panic) lets the next in.
pub(crate) struct Flight {
    /// The engine's lock on the key, when the engine has one and we got it in time.
    held: Option<Box<dyn HeldLock>>,
    /// This process's slot for the key, and whether we hold it (false: the wait timed out).
    key: Key,
    slot: Arc<Slot>,
    holds_slot: bool,
}

impl Flight {
    /// Waits (at most `wait`) for the turn on `digest` in `stash`: first among
    /// this process's threads, then on the engine's lock shared with other
    /// processes. When the wait runs out, returns a `Flight` that holds
    /// nothing, and the caller computes anyway.
    pub(crate) fn acquire(stash: &Stash, digest: Digest, wait: Duration) -> Result<Flight> {
        let now = Instant::now();
        let deadline = now.checked_add(wait.min(LONGEST_WAIT)).unwrap_or(now);
        let mut flight = Flight::acquire_local(stash.path().to_path_buf(), digest, deadline);
        let lease = wait.clamp(Duration::from_secs(1), LONGEST_WAIT);
        let mut pause = FIRST_PAUSE;
        loop {
            let attempt = stash
                .engine()
                .try_lock(&digest, lease)
                .map_err(|e| e.with_context("stash", stash).with_context("digest", digest))?;
            match attempt {
                LockAttempt::Acquired(guard) => {
                    flight.held = Some(guard);
                    break;
                }
                LockAttempt::Busy => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        // Timed out: compute without the lock (a duplicate computation at worst).
                        break;
                    }
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                // `Unsupported` (and any kind added later): single flight in this process only.
                _ => break,
            }
        }
        Ok(flight)
    }

    /// This process's slot for `(path, digest)`, waited for until `deadline`.
    fn acquire_local(path: PathBuf, digest: Digest, deadline: Instant) -> Flight {
        let key = (path, digest);
        let slot = lock(&SLOTS).entry(key.clone()).or_default().clone();
        let mut busy = lock(&slot.busy);
        let mut holds_slot = true;
        while *busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                holds_slot = false;
                break;
            }
            busy = match slot.freed.wait_timeout(busy, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        if holds_slot {
            *busy = true;
        }
        drop(busy);
        Flight { held: None, key, slot, holds_slot }
    }

    /// Whether this caller got its turn in the process (false: the wait timed out).
    #[cfg(test)]
    pub(crate) fn holds_slot(&self) -> bool {
        self.holds_slot
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        // The engine lock first, so the caller woken next finds it free.
        drop(self.held.take());
        if self.holds_slot {
            *lock(&self.slot.busy) = false;
            self.slot.freed.notify_one();
        }
        let mut slots = lock(&SLOTS);
        // Only the table's and ours: nobody waits, so the entry can go.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.key);
        }
    }
}

#[cfg(test)]
fn in_table(path: &std::path::Path, digest: Digest) -> bool {
    lock(&SLOTS).contains_key(&(path.to_path_buf(), digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn slots_are_removed_when_free() {
        let d = Digest([7; 16]);
        let path = PathBuf::from("/x/flight-test");
        let a = Flight::acquire_local(path.clone(), d, far());
        let p = path.clone();
        let t = std::thread::spawn(move || drop(Flight::acquire_local(p, d, far())));
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(a);
        t.join().unwrap();
        assert!(!in_table(&path, d));
    }

    #[test]
    fn a_wait_for_the_slot_times_out_instead_of_hanging() {
        let d = Digest([6; 16]);
        let path = PathBuf::from("/x/flight-timeout");
        let held = Flight::acquire_local(path.clone(), d, far());
        assert!(held.holds_slot());
        // the holder never lets go while we wait: we get a flight without the slot
        let late = Flight::acquire_local(path.clone(), d, Instant::now() + Duration::from_millis(30));
        assert!(!late.holds_slot());
        drop(late);
        // the holder still holds it (the timed-out caller released nothing)
        let later = Flight::acquire_local(path.clone(), d, Instant::now());
        assert!(!later.holds_slot());
        drop(later);
        drop(held);
        let free = Flight::acquire_local(path.clone(), d, Instant::now());
        assert!(free.holds_slot());
        drop(free);
        assert!(!in_table(&path, d));
    }
}
