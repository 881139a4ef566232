//! The shared conformance suite on `python_compatible` stashes (every stash of
//! the `hashstash` serializer): md5 slots, and lz4 keys recompressed with the C
//! library as the Python library writes them.

use stash_core::StashConfig;
use stash_core::testkit::Harness;

fn python(config: StashConfig) -> StashConfig {
    if config.serializer == "hashstash" { config.python() } else { config }
}

stash_core::conformance_suite!(harness: Harness::new(stash_engine_pairtree::Pairtree).with_config(python));
