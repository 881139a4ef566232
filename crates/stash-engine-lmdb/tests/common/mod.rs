//! What the LMDB tests share.

use std::path::Path;

use stash_core::StashConfig;

/// An LMDB stash under `root` with raw compression: stored bytes are the serialized
/// ones, so padding reaches the map and damage lands where the test puts it, whatever
/// compressors the workspace build turns on.
pub fn raw_config(root: &Path) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "lmdb".into();
    config.root_dir = root.to_path_buf();
    config.compress = stash_core::Compression::Raw;
    config
}
