#![no_main]
//! Fuzz target `codec_gzip`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("codec_gzip").expect("a known target")(data);
});
