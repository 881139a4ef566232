#![no_main]
//! Fuzz target `serial_hashstash`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("serial_hashstash").expect("a known target")(data);
});
