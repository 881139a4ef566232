//! What a cell measures besides time: bytes on disk and memory.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes under a path: the sum of file sizes (apparent) and of the blocks
/// the files occupy (`st_blocks * 512`, allocated). Folders themselves are
/// not counted; a missing path is empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Sum of `st_size` of the files.
    pub apparent: u64,
    /// Sum of `st_blocks * 512` of the files.
    pub allocated: u64,
    /// Number of files.
    pub files: u64,
}

/// Walks `path` (a file or a folder) and sums what its files use.
pub fn disk_usage(path: &Path) -> io::Result<DiskUsage> {
    let mut usage = DiskUsage::default();
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(usage),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if meta.is_dir() {
                    stack.push(entry.path());
                } else {
                    add(&mut usage, &meta);
                }
            }
        }
    } else {
        add(&mut usage, &meta);
    }
    Ok(usage)
}

fn add(usage: &mut DiskUsage, meta: &fs::Metadata) {
    usage.apparent += meta.size();
    usage.allocated += meta.blocks() * 512;
    usage.files += 1;
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`, `RssAnon`, ...);
/// `None` off Linux or when the field is missing.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Runs `op(i)` for `i` in `0..n` until `budget` has passed (checked every
/// call for the first 16, then every 16th); returns the calls made and the
/// time they took. At least one call is made when `n > 0`.
pub fn timed_loop<E>(
    n: usize,
    budget: Duration,
    mut op: impl FnMut(usize) -> Result<(), E>,
) -> Result<(usize, Duration), E> {
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        op(done)?;
        done += 1;
        if (done < 16 || done % 16 == 0) && start.elapsed() >= budget {
            break;
        }
    }
    Ok((done, start.elapsed()))
}

/// Operations per second of `count` operations in `elapsed`.
pub fn rate(count: usize, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { f64::INFINITY }
}

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_rate() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(rate(10, Duration::from_secs(2)), 5.0);
    }

    #[test]
    fn disk_usage_counts_files() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        fs::create_dir_all(dir.path().join("a/b"))?;
        fs::write(dir.path().join("a/b/x"), vec![0u8; 5000])?;
        fs::write(dir.path().join("y"), b"hi")?;
        let u = disk_usage(dir.path())?;
        assert_eq!((u.apparent, u.files), (5002, 2));
        assert!(u.allocated >= 4096, "{u:?}");
        assert_eq!(disk_usage(&dir.path().join("missing"))?, DiskUsage::default());
        Ok(())
    }

    #[test]
    fn timed_loop_stops_at_the_budget() {
        let (done, _) = timed_loop::<()>(1_000_000, Duration::ZERO, |_| Ok(())).unwrap_or_default();
        assert_eq!(done, 1);
        let (done, _) = timed_loop::<()>(100, Duration::from_secs(60), |_| Ok(())).unwrap_or_default();
        assert_eq!(done, 100);
        if cfg!(target_os = "linux") {
            assert!(proc_status_kib("VmHWM").is_some());
        }
    }
}
