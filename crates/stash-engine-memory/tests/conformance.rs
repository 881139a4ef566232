//! The shared conformance suite, run against the memory engine.
stash_core::conformance_suite!(stash_engine_memory::Memory);
