//! Opening a stash on any engine by name for the tests: the embedded engines
//! always, the servers when their URL is set (`cargo xtask services up`; with
//! `HASHSTASH_REQUIRE_SERVICES` set, a missing URL fails the test).

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use stash_core::testkit::service_url;
use stash_core::{EngineFactory, Stash, StashConfig};

/// The engines that need no server.
pub const EMBEDDED: [&str; 5] = ["memory", "pairtree", "lmdb", "sqlite", "sled"];

/// A stash on `engine` under `root`, or `None` for a server engine whose URL is unset.
/// Server stashes get a dbname of their own (server storage is named by it) and start empty.
pub fn open(engine: &str, root: &Path) -> Option<Stash> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut cfg = StashConfig::default();
    cfg.engine = engine.into();
    cfg.root_dir = root.into();
    let factory: Arc<dyn EngineFactory> = match engine {
        "memory" => Arc::new(stash_engine_memory::Memory),
        "pairtree" => Arc::new(stash_engine_pairtree::Pairtree),
        "lmdb" => Arc::new(stash_engine_lmdb::Lmdb),
        "sqlite" => Arc::new(stash_engine_sqlite::Sqlite),
        "sled" => Arc::new(stash_engine_sled::Sled),
        "redis" | "mongo" => {
            let var = if engine == "redis" { "HASHSTASH_REDIS_URL" } else { "HASHSTASH_MONGO_URL" };
            cfg.url = Some(service_url(var)?);
            let unique = NEXT.fetch_add(1, Ordering::Relaxed);
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            cfg.dbname = format!("stash-async-test-{}-{stamp}-{unique}", std::process::id());
            cfg.clear = true;
            if engine == "redis" {
                Arc::new(stash_engine_redis::Redis)
            } else {
                Arc::new(stash_engine_mongo::Mongo)
            }
        }
        other => panic!("unknown engine {other}"),
    };
    Some(Stash::open(cfg, factory).unwrap_or_else(|e| panic!("open {engine}: {e}")))
}
