#![no_main]
//! Fuzz target `differential_json`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("differential_json").expect("a known target")(data);
});
