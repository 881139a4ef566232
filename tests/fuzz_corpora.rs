//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/`) and every crash turned
//! regression (`fuzz/regressions/<target>/`) through the same checks as the fuzz
//! targets (`fuzz/harness`), on stable Rust: a fix that regresses fails here.
//!
//! The fuzzers themselves (nightly, cargo-fuzz) are described in `fuzz/README.md`.

use std::fs;

use stash_fuzz_harness::corpus::{Kind, fuzz_dir, replay};
use stash_fuzz_harness::{TARGETS, target};

/// Runs every input of `kind` for `name`; returns how many ran, panicking with the list
/// of failing files.
fn replay_all(kind: Kind, name: &str) -> usize {
    let check = target(name).expect("a known target");
    let done = replay(kind, name, check);
    let failed: Vec<String> =
        done.failed.iter().map(|(file, why)| format!("{}: {why}", file.display())).collect();
    assert!(
        failed.is_empty(),
        "{name}: {} of {} {} inputs fail:\n{}",
        failed.len(),
        done.ran,
        kind.folder(),
        failed.join("\n")
    );
    done.ran
}

macro_rules! corpus_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let ran = replay_all(Kind::Corpus, stringify!($name));
            assert!(ran > 0, "fuzz/corpus/{} is empty", stringify!($name));
            replay_all(Kind::Regressions, stringify!($name));
        }
    )*};
}

corpus_tests!(
    serial_hashstash,
    serial_json,
    serial_msgpack,
    serial_postcard,
    codec_raw,
    codec_lz4,
    codec_zstd,
    codec_blosc,
    codec_zlib,
    codec_gzip,
    codec_bz2,
    codec_base64,
    roundtrip,
    differential_json,
    pairtree_value,
    pairtree_names,
    lmdb_record,
    lmdb_python,
    sled_record,
    redis_record,
    mongo_document,
);

/// Every target has a test above, every corpus and regression folder a target.
#[test]
fn every_target_is_replayed() {
    let source = include_str!("fuzz_corpora.rs");
    for (name, _) in TARGETS {
        assert!(source.contains(&format!("    {name},\n")), "target {name} has no replay test");
        assert!(
            fuzz_dir().join("fuzz_targets").join(format!("{name}.rs")).is_file(),
            "no fuzz target file for {name}"
        );
    }
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(fuzz_dir().join(kind)) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(target(&name).is_some(), "fuzz/{kind}/{name} names no target");
        }
    }
}
