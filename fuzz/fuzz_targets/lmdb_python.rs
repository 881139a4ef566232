#![no_main]
//! Fuzz target `lmdb_python`: see `stash_fuzz_harness::TARGETS`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stash_fuzz_harness::target("lmdb_python").expect("a known target")(data);
});
