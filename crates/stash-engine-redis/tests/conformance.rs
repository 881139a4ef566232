//! The shared conformance suite, against a standalone server
//! (`HASHSTASH_REDIS_URL`) and against a cluster (`HASHSTASH_REDIS_CLUSTER_URL`).
stash_core::conformance_suite!(requires "HASHSTASH_REDIS_URL", stash_engine_redis::Redis);

/// Options pointing at the test cluster.
pub fn cluster_factory() -> stash_engine_redis::RedisOptions {
    let url = std::env::var("HASHSTASH_REDIS_CLUSTER_URL").unwrap_or_default();
    stash_engine_redis::RedisOptions::new().url(url).cluster(true)
}

mod cluster {
    stash_core::conformance_suite!(requires "HASHSTASH_REDIS_CLUSTER_URL", crate::cluster_factory());
}
