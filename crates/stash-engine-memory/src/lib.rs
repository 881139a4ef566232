//! The `memory` engine: a map in this process, shared by every stash opened
//! on the same path, so two handles with one configuration see one another's
//! writes (as the Python library's shared-memory engine does within a machine).
//!
//! ```
//! use std::sync::Arc;
//! use stash_core::{Stash, StashConfig};
//! use stash_engine_memory::Memory;
//!
//! let mut config = StashConfig::default();
//! config.engine = "memory".into();
//! config.root_dir = "/tmp/doc-memory".into();
//! let a = Stash::open(config.clone(), Arc::new(Memory))?;
//! let b = Stash::open(config, Arc::new(Memory))?;
//! a.set("answer", &42)?;
//! assert_eq!(b.get::<_, i32>("answer")?, Some(42));
//! # Ok::<(), stash_core::Error>(())
//! ```
#![deny(missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use stash_engine_api::clock::{is_expired, now_micros, unique_micros};
use stash_engine_api::digest::BuildDigestHasher;
use stash_engine_api::engine::key_mismatch;
use stash_engine_api::registry::{Found, Hold, PathRegistry};
use stash_engine_api::{
    Capabilities, Digest, Engine, EngineContext, EngineFactory, EntryMeta, Error, ErrorKind, MetaIter, Put,
    Record, RecordIter, Result, Version, WriteOptions,
};

/// Opens memory engines: the factory to hand to `Stash::open`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory;

/// Every memory store of this process, by data path. Stores live until the
/// process ends (or are emptied by `clear`), like a shared-memory cache; those of a
/// temporary stash go with it ([`EngineFactory::forget_under`]).
static STORES: PathRegistry<MemoryEngine> = PathRegistry::new();

/// How many memory stores this process holds (one per data path opened, until a
/// temporary stash's go away with it): for diagnostics and leak tests.
pub fn store_count() -> usize {
    STORES.with(|stores| stores.len())
}

impl EngineFactory for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn display_name(&self) -> &'static str {
        "Memory"
    }

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        Ok(STORES.with(|stores| match stores.find(&context.path) {
            Found::Open(engine) => engine,
            _ => {
                let engine = Arc::new(MemoryEngine::default());
                stores.insert(&context.path, &engine, Hold::Kept);
                engine
            }
        }))
    }

    fn forget_under(&self, dir: &Path) {
        STORES.with(|stores| stores.remove_under(dir));
    }
}

#[derive(Debug)]
struct Slot {
    key: Box<[u8]>,
    /// Oldest first; never empty.
    versions: Vec<(i64, Arc<[u8]>)>,
    expires_at: Option<i64>,
}

impl Slot {
    fn live(&self, now: i64) -> bool {
        !is_expired(self.expires_at, now)
    }
}

/// The slots, and how many of them carry an expiry (so `len` stays O(1) while none do).
#[derive(Debug, Default)]
struct Map {
    slots: HashMap<Digest, Slot, BuildDigestHasher>,
    expiring: usize,
}

impl Map {
    fn remove(&mut self, digest: &Digest) -> Option<Slot> {
        let slot = self.slots.remove(digest)?;
        self.expiring -= usize::from(slot.expires_at.is_some());
        Some(slot)
    }
}

/// One in-memory store.
#[derive(Debug, Default)]
pub struct MemoryEngine {
    map: Arc<RwLock<Map>>,
}

fn poisoned() -> Error {
    Error::new(ErrorKind::Backend, "memory store poisoned by a panic in another thread")
}

impl MemoryEngine {
    /// Snapshots the slots, then reads each under a short lock: the caller may
    /// write to the stash while iterating without deadlocking.
    fn scan_with<T: 'static>(
        &self,
        mut f: impl FnMut(Digest, &Slot) -> Option<T> + Send + 'static,
    ) -> Result<Box<dyn Iterator<Item = Result<T>> + Send>> {
        let digests: Vec<Digest> = self.read()?.slots.keys().copied().collect();
        let map = Arc::clone(&self.map);
        Ok(Box::new(digests.into_iter().filter_map(move |digest| {
            let map = match map.read() {
                Ok(m) => m,
                Err(_) => return Some(Err(poisoned())),
            };
            let slot = map.slots.get(&digest)?; // removed since the snapshot: skip
            f(digest, slot).map(Ok)
        })))
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Map>> {
        self.map.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Map>> {
        self.map.write().map_err(|_| poisoned())
    }
}

/// Finds `digest`, checks its key, and hides it once expired.
fn lookup<'m>(map: &'m Map, digest: &Digest, key: &[u8]) -> Result<Option<&'m Slot>> {
    match map.slots.get(digest) {
        None => Ok(None),
        Some(slot) if &*slot.key == key => Ok(Some(slot).filter(|s| s.live(now_micros()))),
        Some(_) => Err(key_mismatch(digest)),
    }
}

fn insert(map: &mut Map, digest: Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
    let version = (unique_micros(), Arc::<[u8]>::from(value));
    let expires_at = options.expires_at_micros;
    match map.slots.get_mut(&digest) {
        Some(slot) if &*slot.key != key => return Err(key_mismatch(&digest)),
        Some(slot) => {
            // An expired entry is gone: appending starts its history afresh.
            if options.append && slot.live(now_micros()) {
                slot.versions.push(version);
            } else {
                slot.versions = vec![version];
            }
            map.expiring =
                map.expiring + usize::from(expires_at.is_some()) - usize::from(slot.expires_at.is_some());
            slot.expires_at = expires_at;
        }
        None => {
            map.slots.insert(digest, Slot { key: key.into(), versions: vec![version], expires_at });
            map.expiring += usize::from(expires_at.is_some());
        }
    }
    Ok(())
}

impl Engine for MemoryEngine {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        // A read holds the map's read lock for a lookup and a copy, never across I/O.
        Capabilities::NONE.with_cheap_len().with_inline_reads()
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
        match map.slots.get(digest) {
            None => Ok(false),
            Some(slot) if &*slot.key != key => Err(key_mismatch(digest)),
            // An expired entry is removed too, but was not "there" for the caller.
            Some(slot) => {
                let live = slot.live(now_micros());
                map.remove(digest);
                Ok(live)
            }
        }
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        Ok(lookup(&*self.read()?, digest, key)?.is_some())
    }

    fn len(&self) -> Result<usize> {
        let map = self.read()?;
        if map.expiring == 0 {
            return Ok(map.slots.len());
        }
        let now = now_micros();
        Ok(map.slots.values().filter(|s| s.live(now)).count())
    }

    fn clear(&self) -> Result<()> {
        *self.write()? = Map::default();
        Ok(())
    }

    fn scan(&self) -> Result<RecordIter> {
        let now = now_micros();
        self.scan_with(move |digest, slot| {
            let (_, value) = slot.versions.last()?;
            slot.live(now).then(|| Record { digest, key: slot.key.to_vec(), value: value.to_vec() })
        })
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        self.scan_with(|digest, slot| {
            let (written_at_micros, _) = slot.versions.last()?;
            Some(EntryMeta {
                digest,
                key: slot.key.to_vec(),
                written_at_micros: *written_at_micros,
                expires_at_micros: slot.expires_at,
                versions: slot.versions.len() as u64,
                value_bytes: slot.versions.iter().map(|(_, v)| v.len() as u64).sum(),
            })
        })
    }

    /// Checks the newest version's stamp and removes the slot under one write
    /// lock, so no write can come in between.
    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        let mut map = self.write()?;
        match map.slots.get(digest) {
            None => Ok(false),
            Some(slot) if &*slot.key != key => Err(key_mismatch(digest)),
            Some(slot) if slot.versions.last().is_some_and(|(at, _)| *at > seen_written_at_micros) => {
                Ok(false)
            }
            // Expired or not: the scan saw it, nothing came after.
            Some(_) => Ok(map.remove(digest).is_some()),
        }
    }

    /// Looks the key up and writes under one write lock, so of many racing
    /// callers exactly one finds the slot empty (or expired) and stores.
    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        let mut map = self.write()?;
        if lookup(&map, digest, key)?.is_some() {
            return Ok(false);
        }
        insert(&mut map, *digest, key, value, options)?;
        Ok(true)
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
