//! The shared conformance suite, run against the pairtree engine.
stash_core::conformance_suite!(stash_engine_pairtree::Pairtree);
