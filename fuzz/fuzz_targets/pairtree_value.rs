#![no_main]
//! Fuzz target `pairtree_value`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("pairtree_value").expect("a known target")(data);
});
