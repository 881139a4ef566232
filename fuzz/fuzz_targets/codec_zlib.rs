#![no_main]
//! Fuzz target `codec_zlib`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("codec_zlib").expect("a known target")(data);
});
