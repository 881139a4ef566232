#![no_main]
//! Fuzz target `sled_record`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("sled_record").expect("a known target")(data);
});
