#![no_main]
//! Fuzz target `mongo_document`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("mongo_document").expect("a known target")(data);
});
