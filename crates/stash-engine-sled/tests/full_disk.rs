//! A stash on a full disk: a small tmpfs, mounted when the tests run as root
//! (each test says it skips otherwise). Whatever sled does once a write of
//! its files fails, every call must come back: iteration ends, flush and
//! close return, errors are typed and name the folder.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use stash_core::testkit::{Tmpfs, incompressible_text};
use stash_core::{ErrorKind, Stash, StashConfig};
use stash_engine_sled::Sled;

fn open(root: &Path) -> Stash {
    let config = {
        let mut config = StashConfig::default();
        config.engine = "sled".into();
        config.root_dir = root.to_path_buf();
        config
    };
    Stash::open(config, Arc::new(Sled)).unwrap()
}

/// Writes values of `size` bytes until a write fails; returns how many were acknowledged.
fn fill(stash: &Stash, size: usize) -> u64 {
    for n in 0..10_000u64 {
        if let Err(e) = stash.set(&n, &incompressible_text(n, size)) {
            assert_eq!(e.kind(), ErrorKind::Io, "{e}");
            assert!(e.to_string().contains("data.db"), "names the folder: {e}");
            return n;
        }
    }
    panic!("10000 writes of {size} bytes fit on a 2 MiB disk");
}

/// Runs `f` on another thread; fails if it does not return within `limit`.
fn returns_within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{what} did not return within {limit:?}"))
}

/// Runs `body` on a fresh tmpfs, failing if it does not return within a minute
/// (the mount goes even then: the test thread unmounts it).
fn on_full_disk(body: impl FnOnce(&Path) + Send + 'static) {
    let Some(fs) = Tmpfs::mount("2m") else { return };
    let dir = fs.path().to_path_buf();
    returns_within(Duration::from_secs(60), "the test", move || body(&dir));
}

#[test]
fn iteration_ends_after_sled_fails_to_write_its_log() {
    on_full_disk(|dir| {
        let stash = open(dir);
        let acked = fill(&stash, 16 << 10);
        // sled keeps the error of a failed log write and fails every step
        // after it; a scan must report it and end, not repeat it forever.
        let items: Vec<_> = stash.raw_items().unwrap().take(acked as usize + 1_000).collect();
        let errors = items.iter().filter(|i| i.is_err()).count();
        assert!(
            items.len() <= acked as usize + 1,
            "{} items ({errors} errors) for {acked} entries",
            items.len()
        );
        assert!(errors <= 1, "{errors} errors: the scan repeats its failed step");
        let metas: Vec<_> = stash.engine().scan_meta().unwrap().take(acked as usize + 1_000).collect();
        assert!(metas.iter().filter(|m| m.is_err()).count() <= 1, "scan_meta repeats its failed step");
    });
}

#[test]
fn flush_and_close_return_after_sled_fails_to_write_its_files() {
    on_full_disk(|dir| {
        for size in [16 << 10, 64 << 10] {
            let root = dir.join(size.to_string());
            let stash = open(&root);
            fill(&stash, size);
            // sled may wait forever for its failed write: the engine stops waiting.
            let flushed = stash.flush();
            if let Err(e) = &flushed {
                assert_eq!(e.kind(), ErrorKind::Io, "{e}");
                assert!(e.to_string().contains("data.db"), "names the folder: {e}");
            }
            let again = stash.flush();
            assert!(
                flushed.is_ok() || again.is_err(),
                "a flush that failed does not succeed later: {again:?}"
            );
            drop(stash);
            let _ = std::fs::remove_dir_all(&root);
        }
    });
}
