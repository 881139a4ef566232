//! What the pairtree tests share: a stash configuration with the Python
//! library's defaults (hashstash JSON, md5 digests) and where a key's slot is.
// Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use stash_core::{Compression, DigestAlgo, Stash, StashConfig};
use stash_engine_pairtree::{PairtreeEngine, PairtreeOptions};

/// A pairtree stash in `root`: hashstash JSON, md5 digests, `compress`.
pub fn config(root: &Path, compress: Compression) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "pairtree".into();
    config.serializer = stash_core::Format::Hashstash;
    config.compress = compress;
    config.digest = DigestAlgo::Md5;
    config.root_dir = root.to_path_buf();
    config
}

/// The slot folder of `key` in `stash`.
pub fn slot_of(stash: &Stash, key: &str) -> PathBuf {
    let engine = PairtreeEngine::open(stash.path(), PairtreeOptions::default()).unwrap();
    engine.slot_path(&stash.encode_key(key).unwrap().digest)
}
