#![no_main]
//! Fuzz target `serial_msgpack`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("serial_msgpack").expect("a known target")(data);
});
