#![no_main]
//! Fuzz target `redis_record`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("redis_record").expect("a known target")(data);
});
