//! What the LMDB tests share.

use std::path::Path;

use stash_core::StashConfig;

/// An LMDB stash under `root` with raw compression: stored bytes are the serialized
/// ones, so padding reaches the map and damage lands where the test puts it, whatever
/// compressors the workspace build turns on.
pub fn raw_config(root: &Path) -> StashConfig {
    StashConfig {
        engine: "lmdb".into(),
        root_dir: root.to_path_buf(),
        compress: stash_core::Compression::Raw,
        ..StashConfig::default()
    }
}
