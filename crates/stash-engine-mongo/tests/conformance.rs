//! The shared conformance suite, run against a MongoDB(-compatible) server
//! named by `HASHSTASH_MONGO_URL` (`cargo xtask services up` starts one).

stash_core::conformance_suite!(requires "HASHSTASH_MONGO_URL", stash_engine_mongo::Mongo);
