#![no_main]
//! Fuzz target `codec_lz4`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("codec_lz4").expect("a known target")(data);
});
