#![allow(dead_code)]
use std::sync::Arc;

use stash_core::{Stash, StashConfig};

pub fn memory(dir: &std::path::Path) -> Stash {
    let mut cfg = StashConfig::default();
    cfg.engine = "memory".into();
    cfg.root_dir = dir.into();
    Stash::open(cfg, Arc::new(stash_engine_memory::Memory)).unwrap()
}

pub fn pairtree(dir: &std::path::Path) -> Stash {
    let mut cfg = StashConfig::default();
    cfg.engine = "pairtree".into();
    cfg.root_dir = dir.into();
    Stash::open(cfg, Arc::new(stash_engine_pairtree::Pairtree)).unwrap()
}
