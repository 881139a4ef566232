//! A damaged leaf page (found by `reliability flips`): LMDB has no checksums
//! and trusts its pages, so a walk over a zeroed leaf read nodes past the
//! page's real ones and followed a garbage pointer (`SIGSEGV` in
//! `mdb_cursor_next`, or its assertion `IS_LEAF(mp)` in debug builds) during
//! `len` and iteration. The walks now check that keys come in order and have
//! the layout's length, and stop at the first that does not, with a
//! `Corrupt` error naming the file (in release builds: see the test).
//!
//! A crash would take the whole test binary down, so the reads run in a
//! child process (this binary again, with only `child_reads_the_damaged_stash`),
//! which does nothing unless the parent set `DAMAGED_CHILD_ROOT`.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stash_core::{ErrorKind, SetOptions, Stash};
use stash_engine_lmdb::Lmdb;

mod common;
use common::raw_config;

const ROOT_ENV: &str = "DAMAGED_CHILD_ROOT";
const DONE: &str = "child: every error was Corrupt; items read, errors: ";

/// The child: opens the stash and walks it (`len`, which walks because an
/// entry expires, and iteration); a no-op in a normal test run.
#[test]
fn child_reads_the_damaged_stash() {
    let Some(root) = std::env::var_os(ROOT_ENV) else { return };
    let stash = Stash::open(raw_config(Path::new(&root)), Arc::new(Lmdb)).unwrap();
    let (mut read, mut errors) = (0, 0);
    if let Err(e) = stash.len() {
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.context_value("file").is_some(), "{e}");
    }
    for item in stash.items::<String, String>().unwrap() {
        match item {
            Ok(_) => read += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
                errors += 1;
            }
        }
    }
    println!("{DONE}{read} {errors}");
}

fn u16_at(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_ne_bytes([b[at], b[at + 1]]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().unwrap())
}

/// The page numbers of the leaves under the main database's root (a branch
/// page), read from the newest meta page (LMDB's 64-bit on-disk format).
fn leaves(file: &Path) -> (u64, Vec<u64>) {
    let f = std::fs::File::open(file).unwrap();
    let mut meta = [[0u8; 160]; 2];
    f.read_exact_at(&mut meta[0], 0).unwrap();
    let psize = u64::from(u32::from_ne_bytes(meta[0][40..44].try_into().unwrap()));
    f.read_exact_at(&mut meta[1], psize).unwrap();
    let newest = if u64_at(&meta[0], 144) > u64_at(&meta[1], 144) { &meta[0] } else { &meta[1] };
    let root = u64_at(newest, 128);
    let mut page = vec![0u8; psize as usize];
    f.read_exact_at(&mut page, root * psize).unwrap();
    assert_eq!(u16_at(&page, 10) & 1, 1, "the root is not a branch page: write more keys");
    let nodes = (u16_at(&page, 12) as usize - 16) / 2;
    let children = (0..nodes)
        .map(|i| {
            let node = u16_at(&page, 16 + 2 * i) as usize;
            u16_at(&page, node) | u16_at(&page, node + 2) << 16 | u16_at(&page, node + 4) << 32
        })
        .collect();
    (psize, children)
}

/// Release builds only: LMDB's debug build (`debug_assertions`, no `NDEBUG`)
/// asserts `IS_LEAF(mp)` and aborts when its cursor steps onto the zeroed
/// page, before any check of ours can run.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "LMDB's debug build aborts on a damaged leaf before the walk sees a key"
)]
fn walks_stop_at_a_zeroed_leaf_instead_of_crashing() {
    if std::env::var_os(ROOT_ENV).is_some() {
        return;
    }
    for leaf in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let data = {
            let stash = Stash::open(raw_config(dir.path()), Arc::new(Lmdb)).unwrap();
            stash.update((0..80).map(|i| (format!("k{i}"), format!("{i:0>100}")))).unwrap();
            // An entry with an expiry: `len` then walks the records.
            stash.set_with("expiring", "soon", SetOptions::new().ttl(Duration::from_secs(3600))).unwrap();
            stash.path().join("data.mdb")
        };
        let (psize, children) = leaves(&data);
        assert!(children.len() > leaf, "{children:?}");
        OpenOptions::new()
            .write(true)
            .open(&data)
            .unwrap()
            .write_all_at(&vec![0u8; psize as usize], children[leaf] * psize)
            .unwrap();

        let out = stash_core::testkit::child_test("child_reads_the_damaged_stash")
            .env(ROOT_ENV, dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "leaf {leaf}: the child failed ({}):\n{stdout}\n{stderr}", out.status);
        let (read, errors): (usize, usize) = stdout
            .lines()
            .find_map(|l| l.split_once(DONE))
            .and_then(|(_, n)| n.trim().split_once(' '))
            .map(|(r, e)| (r.parse().unwrap(), e.parse().unwrap()))
            .unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
        // The leaves before the damaged one are read, and the damage is reported.
        assert!(read > 0 && errors > 0, "leaf {leaf}: {read} items read, {errors} errors");
    }
}
