//! The one line every engine adds: the conformance suite, on this engine.

stash_core::conformance_suite!(stash_engine_files::Files);
