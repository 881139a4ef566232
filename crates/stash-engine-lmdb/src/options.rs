//! The factories: [`Lmdb`] (defaults) and [`LmdbOptions`] (settings), and [`Durability`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use stash_engine_api::{
    Engine, EngineContext, EngineFactory, EngineOptions, Layout, OptionReader, OptionWriter, Result,
};

use crate::LmdbEngine;
use crate::python::PythonLmdbEngine;

/// The map size a new environment starts with: 64 MiB of address space (the
/// file grows only as data is written; it is sparse until then).
pub const DEFAULT_MAP_SIZE: usize = 64 << 20;

/// The largest map the engine grows to by default: 1 TiB (on 64-bit targets).
pub const DEFAULT_MAX_MAP_SIZE: usize = if usize::BITS >= 64 { 1 << 40 } else { 1 << 30 };

/// How hard each commit works to survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Durability {
    /// `fsync` at every commit (LMDB's default): a committed write survives
    /// a crash of the process and of the operating system.
    #[default]
    Full,
    /// No `fsync` at commit (`MDB_NOSYNC | MDB_NOMETASYNC`): commits are
    /// about a hundred times faster. A crash of the *process* loses nothing
    /// (the pages are in the OS cache); a crash of the *operating system* or
    /// a power loss may lose the last commits, but the database stays
    /// consistent (LMDB never overwrites live pages). For caches that can be
    /// rebuilt. [`Engine::flush`] (`Stash::flush`) syncs on demand.
    Relaxed,
}

impl Durability {
    /// `"full"` or `"relaxed"`.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::Relaxed => "relaxed",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Durability {
    type Err = String;

    /// `"full"` or `"relaxed"`.
    fn from_str(s: &str) -> std::result::Result<Durability, String> {
        match s {
            "full" => Ok(Durability::Full),
            "relaxed" => Ok(Durability::Relaxed),
            other => Err(format!("`{other}` is not a durability (full, relaxed)")),
        }
    }
}

/// Opens LMDB engines with the default options: the factory to hand to `Stash::open`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lmdb;

impl EngineFactory for Lmdb {
    fn name(&self) -> &'static str {
        "lmdb"
    }

    fn display_name(&self) -> &'static str {
        "Lmdb"
    }

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        LmdbOptions::default().open(context)
    }

    fn python_layout(&self) -> bool {
        true
    }
}

/// LMDB settings; also a factory, for stashes that want them.
///
/// The settings belong to the environment, which is opened once per path
/// and process: the first handle opened on a path sets them. Opening the
/// same path again with another [`Durability`] is a `Config` error; the map
/// sizes of a later handle are ignored.
///
/// ```
/// use std::sync::Arc;
/// use stash_core::{Stash, StashConfig};
/// use stash_engine_lmdb::{Durability, LmdbOptions};
///
/// let dir = tempfile::tempdir()?;
/// let mut config = StashConfig::default();
/// config.engine = "lmdb".into();
/// config.root_dir = dir.path().into();
/// let cache = Stash::open(config, Arc::new(LmdbOptions::new().durability(Durability::Relaxed)))?;
/// cache.set("rebuildable", &1)?;
/// cache.flush()?; // sync now, if wanted
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LmdbOptions {
    pub(crate) durability: Durability,
    pub(crate) map_size: usize,
    pub(crate) max_map_size: usize,
}

impl Default for LmdbOptions {
    fn default() -> Self {
        LmdbOptions::new()
    }
}

impl LmdbOptions {
    /// The defaults: full durability, a 64 MiB map growing up to 1 TiB.
    pub const fn new() -> LmdbOptions {
        LmdbOptions {
            durability: Durability::Full,
            map_size: DEFAULT_MAP_SIZE,
            max_map_size: DEFAULT_MAX_MAP_SIZE,
        }
    }

    /// Sets how hard commits work to survive a crash (see [`Durability`]).
    pub const fn durability(mut self, durability: Durability) -> LmdbOptions {
        self.durability = durability;
        self
    }

    /// Sets the map size a new environment starts with (rounded up to whole
    /// pages). The map doubles whenever it is full, so this only saves the
    /// first few resizes.
    pub const fn map_size(mut self, bytes: usize) -> LmdbOptions {
        self.map_size = bytes;
        self
    }

    /// Sets the size the map may grow to; past it, writes fail with a
    /// `Backend` error naming the file.
    pub const fn max_map_size(mut self, bytes: usize) -> LmdbOptions {
        self.max_map_size = bytes;
        self
    }

    /// The durability setting.
    pub fn durability_setting(&self) -> Durability {
        self.durability
    }

    /// These options with the settings of `options` over them: `durability`
    /// (`full`, `relaxed`), `map_size` and `max_map_size` (bytes). An unknown name
    /// or a bad value is a `Config` error.
    pub fn with_options(self, options: &EngineOptions) -> Result<LmdbOptions> {
        let mut read = OptionReader::new("lmdb", options);
        let durability = read.get("durability")?.unwrap_or(self.durability);
        let map_size = read.get("map_size")?.unwrap_or(self.map_size);
        let max_map_size = read.get("max_map_size")?.unwrap_or(self.max_map_size);
        read.finish()?;
        Ok(LmdbOptions { durability, map_size, max_map_size })
    }
}

impl EngineFactory for LmdbOptions {
    fn name(&self) -> &'static str {
        "lmdb"
    }

    fn display_name(&self) -> &'static str {
        "Lmdb"
    }

    /// Opens the native layout, or the Python library's when the context asks
    /// for it (see the crate docs).
    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        let engine = LmdbEngine::open(&context.path, self.with_options(&context.options)?)?;
        match &context.layout {
            Layout::Python(encoding) => Ok(Arc::new(PythonLmdbEngine::new(engine, encoding.clone()))),
            _ => Ok(engine),
        }
    }

    fn python_layout(&self) -> bool {
        true
    }

    fn options(&self) -> EngineOptions {
        let defaults = LmdbOptions::new();
        OptionWriter::new()
            .set("durability", self.durability, defaults.durability)
            .set("map_size", self.map_size, defaults.map_size)
            .set("max_map_size", self.max_map_size, defaults.max_map_size)
            .finish()
    }
}
