//! The shared conformance suite, run against the LMDB engine.

stash_core::conformance_suite!(stash_engine_lmdb::Lmdb);
