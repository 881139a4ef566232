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
/// Besides the engines' names: `redis_cluster` (the test cluster) and `redis_tls`
/// (the TLS server, trusting the test CA).
pub fn open(engine: &str, root: &Path) -> Option<Stash> {
    open_with(engine, root, |_| {})
}

/// [`open`] with the configuration changed by `configure` (a bound, a time to live).
pub fn open_with(engine: &str, root: &Path, configure: impl FnOnce(&mut StashConfig)) -> Option<Stash> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut cfg = StashConfig::default();
    // `redis_cluster` and `redis_tls` are redis stashes.
    cfg.engine = engine.split('_').next().unwrap_or(engine).into();
    cfg.root_dir = root.into();
    let factory: Arc<dyn EngineFactory> = match engine {
        "memory" => Arc::new(stash_engine_memory::Memory),
        "pairtree" => Arc::new(stash_engine_pairtree::Pairtree),
        "lmdb" => Arc::new(stash_engine_lmdb::Lmdb),
        "sqlite" => Arc::new(stash_engine_sqlite::Sqlite),
        "sled" => Arc::new(stash_engine_sled::Sled),
        "redis" | "redis_cluster" | "redis_tls" | "mongo" => {
            let var = match engine {
                "redis" => "HASHSTASH_REDIS_URL",
                "redis_cluster" => "HASHSTASH_REDIS_CLUSTER_URL",
                "redis_tls" => "HASHSTASH_REDIS_TLS_URL",
                _ => "HASHSTASH_MONGO_URL",
            };
            cfg.url = Some(service_url(var)?);
            let unique = NEXT.fetch_add(1, Ordering::Relaxed);
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            cfg.dbname = format!("stash-async-test-{}-{stamp}-{unique}", std::process::id());
            cfg.clear = true;
            match engine {
                "redis" => Arc::new(stash_engine_redis::Redis),
                "redis_cluster" => Arc::new(stash_engine_redis::RedisOptions::new().cluster(true)),
                "redis_tls" => {
                    let ca =
                        std::env::var("HASHSTASH_REDIS_TLS_CA_FILE").expect("the test CA with the TLS URL");
                    Arc::new(stash_engine_redis::RedisOptions::new().tls_ca_file(ca))
                }
                _ => Arc::new(stash_engine_mongo::Mongo),
            }
        }
        other => panic!("unknown engine {other}"),
    };
    configure(&mut cfg);
    Some(Stash::open(cfg, factory).unwrap_or_else(|e| panic!("open {engine}: {e}")))
}
