#![allow(dead_code)]
use std::sync::Arc;

use stash_core::{Stash, StashConfig};

pub fn memory(dir: &std::path::Path) -> Stash {
    let cfg = StashConfig { engine: "memory".into(), root_dir: dir.into(), ..Default::default() };
    Stash::open(cfg, Arc::new(stash_engine_memory::Memory)).unwrap()
}

pub fn pairtree(dir: &std::path::Path) -> Stash {
    let cfg = StashConfig { engine: "pairtree".into(), root_dir: dir.into(), ..Default::default() };
    Stash::open(cfg, Arc::new(stash_engine_pairtree::Pairtree)).unwrap()
}
