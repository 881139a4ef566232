//! The `memory` engine: a map in this process, shared by every stash opened
//! on the same path, so two handles with one configuration see one another's
//! writes (as the Python library's shared-memory engine does within a machine).
//!
//! ```
//! use std::sync::Arc;
//! use stash_core::{Stash, StashConfig};
//! use stash_engine_memory::Memory;
//!
//! let config = StashConfig { engine: "memory".into(), root_dir: "/tmp/doc-memory".into(), ..Default::default() };
//! let a = Stash::open(config.clone(), Arc::new(Memory))?;
//! let b = Stash::open(config, Arc::new(Memory))?;
//! a.set("answer", &42)?;
//! assert_eq!(b.get::<_, i32>("answer")?, Some(42));
//! # Ok::<(), stash_core::Error>(())
//! ```
#![deny(missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use stash_core::clock::unique_micros;
use stash_core::digest::BuildDigestHasher;
use stash_core::engine::key_mismatch;
use stash_core::{
    Capabilities, Digest, Engine, EngineFactory, Error, ErrorKind, Put, Record, RecordIter, Result,
    StashConfig, Version, WriteOptions,
};

/// Opens memory engines: the factory to hand to `Stash::open`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory;

/// Every memory store of this process, by data path. Stores live until the
/// process ends (or are emptied by `clear`), like a shared-memory cache.
static STORES: LazyLock<Mutex<HashMap<PathBuf, Arc<MemoryEngine>>>> = LazyLock::new(Default::default);

impl EngineFactory for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn display_name(&self) -> &'static str {
        "Memory"
    }

    fn open(&self, path: &Path, _config: &StashConfig) -> Result<Arc<dyn Engine>> {
        let mut stores = STORES
            .lock()
            .map_err(|_| Error::new(ErrorKind::Backend, "memory store registry poisoned by a panic"))?;
        let engine = stores.entry(path.to_path_buf()).or_insert_with(|| Arc::new(MemoryEngine::default()));
        Ok(engine.clone())
    }
}

#[derive(Debug)]
struct Slot {
    key: Box<[u8]>,
    /// Oldest first; never empty.
    versions: Vec<(i64, Arc<[u8]>)>,
}

type Map = HashMap<Digest, Slot, BuildDigestHasher>;

/// One in-memory store.
#[derive(Debug, Default)]
pub struct MemoryEngine {
    map: Arc<RwLock<Map>>,
}

fn poisoned() -> Error {
    Error::new(ErrorKind::Backend, "memory store poisoned by a panic in another thread")
}

impl MemoryEngine {
    fn read(&self) -> Result<RwLockReadGuard<'_, Map>> {
        self.map.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Map>> {
        self.map.write().map_err(|_| poisoned())
    }
}

/// Finds `digest` and checks its key.
fn lookup<'m>(map: &'m Map, digest: &Digest, key: &[u8]) -> Result<Option<&'m Slot>> {
    match map.get(digest) {
        None => Ok(None),
        Some(slot) if &*slot.key == key => Ok(Some(slot)),
        Some(_) => Err(key_mismatch(digest)),
    }
}

fn insert(map: &mut Map, digest: Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
    let version = (unique_micros(), Arc::<[u8]>::from(value));
    match map.get_mut(&digest) {
        Some(slot) if &*slot.key != key => return Err(key_mismatch(&digest)),
        Some(slot) if options.append => slot.versions.push(version),
        Some(slot) => slot.versions = vec![version],
        None => {
            map.insert(digest, Slot { key: key.into(), versions: vec![version] });
        }
    }
    Ok(())
}

impl Engine for MemoryEngine {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.cheap_len = true;
        caps
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let map = self.read()?;
        Ok(lookup(&map, digest, key)?.and_then(|s| s.versions.last()).map(|(_, v)| v.to_vec()))
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        insert(&mut *self.write()?, *digest, key, value, options)
    }

    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        let mut map = self.write()?;
        items.iter().try_for_each(|p| insert(&mut map, p.digest, p.key, p.value, options))
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let mut map = self.write()?;
        if lookup(&map, digest, key)?.is_none() {
            return Ok(false);
        }
        Ok(map.remove(digest).is_some())
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        Ok(lookup(&*self.read()?, digest, key)?.is_some())
    }

    fn len(&self) -> Result<usize> {
        Ok(self.read()?.len())
    }

    fn clear(&self) -> Result<()> {
        self.write()?.clear();
        Ok(())
    }

    fn scan(&self) -> Result<RecordIter> {
        // Snapshot the slots, then read each under a short lock: the caller
        // may write to the stash while iterating without deadlocking.
        let digests: Vec<Digest> = self.read()?.keys().copied().collect();
        let map = Arc::clone(&self.map);
        Ok(Box::new(digests.into_iter().filter_map(move |digest| {
            let map = match map.read() {
                Ok(m) => m,
                Err(_) => return Some(Err(poisoned())),
            };
            let slot = map.get(&digest)?; // removed since the snapshot: skip
            let (_, value) = slot.versions.last()?;
            Some(Ok(Record { digest, key: slot.key.to_vec(), value: value.to_vec() }))
        })))
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let map = self.read()?;
        Ok(lookup(&map, digest, key)?.map(|slot| {
            slot.versions
                .iter()
                .enumerate()
                .map(|(i, (t, v))| Version { number: i as u64 + 1, written_at_micros: *t, value: v.to_vec() })
                .collect()
        }))
    }
}
