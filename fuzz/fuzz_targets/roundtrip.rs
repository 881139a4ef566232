#![no_main]
//! Fuzz target `roundtrip`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("roundtrip").expect("a known target")(data);
});
