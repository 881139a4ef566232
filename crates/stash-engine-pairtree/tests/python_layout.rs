//! The shared conformance suite on `python_compatible` stashes (every stash of
//! the `hashstash` serializer): md5 slots, and lz4 keys recompressed with the C
//! library as the Python library writes them.

use stash_core::StashConfig;
use stash_core::testkit::Harness;

fn python(config: StashConfig) -> StashConfig {
    // Python has no zstd, and cannot read c-blosc2: those stay in the native layout
    // (a compatible stash refuses them, tested below).
    let python_codec = !matches!(config.compress.name(), "zstd" | "blosc");
    if config.serializer == "hashstash" && python_codec { config.python() } else { config }
}

stash_core::conformance_suite!(harness: Harness::new(stash_engine_pairtree::Pairtree).with_config(python));
