//! What the workers write: values that name their writer, a shared clock, and the append-only log.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Who wrote a value: worker (a crash trial or a process; 0 is the harness
/// itself), operation number in that worker, and the item within the operation (batches).
pub type Id = (u32, u64, u32);

/// A stored value. Every field but `pad` identifies the write; `pad` (random
/// text whose length and content follow from the id) makes values of varied
/// size, from a few bytes to tens of KiB, and is checked byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Val {
    /// Worker.
    pub w: u32,
    /// Operation number in the worker.
    pub op: u64,
    /// Item within the operation.
    pub sub: u32,
    /// The key it was written under.
    pub key: u32,
    /// Filler derived from the id.
    pub pad: String,
}

impl Val {
    /// The value the write `id` stores under `key`; `big` allows the large sizes.
    pub fn new(id: Id, key: u32, big: bool) -> Val {
        Val { w: id.0, op: id.1, sub: id.2, key, pad: pad(id, big) }
    }

    /// Its id.
    pub fn id(&self) -> Id {
        (self.w, self.op, self.sub)
    }

    /// Whether `pad` is the one its id gives (with or without the large sizes).
    pub fn intact(&self, big: bool) -> bool {
        self.pad == pad(self.id(), big)
    }
}

fn pad(id: Id, big: bool) -> String {
    let seed = (u64::from(id.0) << 40) ^ (id.1 << 8) ^ u64::from(id.2) ^ 0x9e37_79b9_7f4a_7c15;
    let mut rng = StdRng::seed_from_u64(seed);
    let roll = rng.random_range(0..100u32);
    let len = match roll {
        0..80 => rng.random_range(0..200usize),
        80..95 => rng.random_range(200..4_000usize),
        _ if big => rng.random_range(4_000..40_000usize),
        _ => rng.random_range(200..1_000usize),
    };
    (0..len).map(|_| char::from(rng.random_range(b'!'..=b'~'))).collect()
}

/// Nanoseconds of `CLOCK_MONOTONIC`: one clock for every process of the
/// machine, never stepped back (unlike the wall clock).
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// An append-only log: one `write(2)` per line on an `O_APPEND` file, so a
/// line is in the kernel (and survives a SIGKILL of the writer) once
/// [`Log::line`] returns. No fsync: the harnesses kill processes, not the
/// machine.
pub struct Log {
    file: File,
    buf: Vec<u8>,
}

impl Log {
    /// Creates (or appends to) the log at `path`.
    pub fn open(path: &Path) -> io::Result<Log> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Log { file, buf: Vec::with_capacity(256) })
    }

    /// Appends one line (a newline is added) in a single write.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(b'\n');
        self.file.write_all(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_byte_for_byte() {
        let v = Val::new((3, 17, 1), 9, true);
        assert!(v.intact(true));
        let mut bad = v.clone();
        bad.op += 1;
        assert!(!bad.intact(true), "another id gives another pad");
        let sizes: Vec<usize> = (0..400).map(|op| Val::new((1, op, 0), 0, true).pad.len()).collect();
        assert!(sizes.iter().any(|&n| n >= 4_000) && sizes.iter().any(|&n| n < 200));
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = now_ns();
        let b = now_ns();
        assert!(a > 0 && b >= a);
    }
}
