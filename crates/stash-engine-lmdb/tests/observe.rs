//! With logs on (`tracing`), growing a full map shows as `retry` events of the
//! lmdb engine, without any key or value contents.

use std::path::Path;
use std::sync::Arc;

use stash_core::Stash;
use stash_core::testkit::logs::capture;
use stash_engine_lmdb::LmdbOptions;

mod common;

#[test]
fn growing_the_map_is_logged_as_retries() {
    let dir = tempfile::tempdir().unwrap();
    let ((), events) = capture(|| {
        let tiny = LmdbOptions::new().map_size(64 << 10);
        let s = Stash::open(common::raw_config(Path::new(dir.path())), Arc::new(tiny)).unwrap();
        for i in 0..200 {
            s.set(&format!("key-{i}"), &format!("secret-{}", "x".repeat(2_000))).unwrap();
        }
    });
    let retries: Vec<_> = events.iter().filter(|e| e.message() == "retry").collect();
    assert!(!retries.is_empty(), "no retry event: {events:#?}");
    assert!(retries.iter().all(|e| e.field("engine") == "lmdb" && e.target == "hashstash"), "{retries:#?}");
    assert!(retries.iter().any(|e| e.field("op") == "write after the map grew"), "{retries:#?}");
    assert!(events.iter().all(|e| !format!("{:?}", e.fields).contains("secret")), "contents in a log event");
}
