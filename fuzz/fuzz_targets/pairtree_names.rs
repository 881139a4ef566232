#![no_main]
//! Fuzz target `pairtree_names`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("pairtree_names").expect("a known target")(data);
});
