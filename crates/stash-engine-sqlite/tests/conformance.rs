//! The shared conformance suite, run against the SQLite engine.

stash_core::conformance_suite!(stash_engine_sqlite::Sqlite);
