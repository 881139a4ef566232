stash_core::conformance_suite!(stash_engine_sled::Sled);
