//! A stash on a full disk: a small tmpfs, mounted when the tests run as root
//! (the test says it skips otherwise). A write that does not fit is an `Io`
//! error naming the file and saying the disk may be full, and every write
//! acknowledged before it still reads back.

use std::path::Path;
use std::sync::Arc;

use stash_core::testkit::{Tmpfs, incompressible_text};
use stash_core::{ErrorKind, Stash};
use stash_engine_lmdb::Lmdb;

mod common;
use common::raw_config;

fn open(root: &Path) -> Stash {
    Stash::open(raw_config(root), Arc::new(Lmdb)).unwrap()
}

#[test]
fn a_write_that_does_not_fit_says_the_disk_may_be_full() {
    let Some(fs) = Tmpfs::mount("2m") else { return };
    let stash = open(fs.path());
    let mut acked = 0;
    let err = loop {
        match stash.set(&acked, &incompressible_text(acked, 16 << 10)) {
            Ok(()) => acked += 1,
            Err(e) => break e,
        }
        assert!(acked < 1_000, "1000 writes of 16 KiB fit on a 2 MiB disk");
    };
    // LMDB reports the short write of a full disk as EIO, or ENOSPC.
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.context_value("file").is_some_and(|f| f.ends_with("data.mdb")), "names the file: {err}");
    assert!(err.to_string().contains("full"), "says the disk may be full: {err}");
    for n in 0..acked {
        assert_eq!(
            stash.get::<_, String>(&n).unwrap(),
            Some(incompressible_text(n, 16 << 10)),
            "acknowledged write {n}"
        );
    }
}
