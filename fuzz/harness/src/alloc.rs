//! The largest single allocation a check makes, so a target can claim that
//! no stored number sized one (a count or size read from damaged bytes must
//! be checked before anything is allocated for it).
//!
//! The global allocator of every program linking this crate (the fuzz
//! targets and the corpus-replay test) is the system's, wrapped to note the
//! size of each request while [`largest_allocation`] runs on that thread;
//! otherwise it only reads one thread-local flag.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // Const-initialised and without destructors: reading them never allocates.
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = TRACKING.try_with(|on| {
        if on.get() {
            let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
        }
    });
}

struct Tracking;

// SAFETY: every call is forwarded unchanged to `System`; noting a size touches
// only thread-local cells that need no allocation.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Stops tracking when the tracked call returns or panics.
struct Stop;

impl Drop for Stop {
    fn drop(&mut self) {
        TRACKING.set(false);
    }
}

/// Runs `f` and returns its result with the size in bytes of the largest
/// single allocation (or reallocation) requested on this thread meanwhile.
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.set(0);
    TRACKING.set(true);
    let stop = Stop;
    let out = f();
    drop(stop);
    (out, LARGEST.get())
}

#[cfg(test)]
mod tests {
    use super::largest_allocation;

    #[test]
    fn notes_the_largest_request() {
        let (v, largest) = largest_allocation(|| Vec::<u8>::with_capacity(3 << 20));
        assert_eq!(v.capacity(), 3 << 20);
        assert!(largest >= 3 << 20, "{largest}");
        let ((), largest) = largest_allocation(|| drop(vec![0u8; 100]));
        assert!((100..3 << 20).contains(&largest), "{largest}");
    }
}
