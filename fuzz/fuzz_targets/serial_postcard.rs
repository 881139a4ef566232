#![no_main]
//! Fuzz target `serial_postcard`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("serial_postcard").expect("a known target")(data);
});
