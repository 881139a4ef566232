//! Threads started together, for tests of concurrent writers (group commit,
//! locks): `on_threads(8, |t| ...)` and a distinct digest per thread and write.

use std::sync::Barrier;

use crate::Digest;

/// Runs `body(thread)` on `threads` threads released together by a barrier,
/// and returns when all have finished (a panic in one fails the caller).
pub fn on_threads(threads: usize, body: impl Fn(usize) + Sync) {
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (start, body) = (&start, &body);
            scope.spawn(move || {
                start.wait();
                body(t);
            });
        }
    });
}

/// The digest of write `i` of thread `thread`: distinct for every pair
/// (`thread` below 256).
pub fn thread_digest(thread: usize, i: usize) -> Digest {
    let mut d = [0u8; 16];
    d[0] = thread as u8;
    d[8..].copy_from_slice(&(i as u64).to_be_bytes());
    Digest(d)
}
