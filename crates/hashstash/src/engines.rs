//! Engines by name: which exist, which are compiled in, and opening them.

use std::fmt;
use std::sync::Arc;

use stash_core::{EngineFactory, Error, ErrorKind, Result};

/// Every engine hashstash knows, whether or not this build includes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EngineKind {
    /// Plain folders and files in the Python library's layout (no dependencies).
    Pairtree,
    /// A map in this process, shared by stashes on the same path.
    Memory,
    /// LMDB through heed.
    Lmdb,
    /// SQLite through rusqlite.
    Sqlite,
    /// sled.
    Sled,
    /// A Redis server or cluster.
    Redis,
    /// A MongoDB server.
    Mongo,
}

impl EngineKind {
    /// Every engine, in documentation order.
    pub const ALL: [EngineKind; 7] = [
        EngineKind::Pairtree,
        EngineKind::Memory,
        EngineKind::Lmdb,
        EngineKind::Sqlite,
        EngineKind::Sled,
        EngineKind::Redis,
        EngineKind::Mongo,
    ];

    /// The name used in configs and paths (also the cargo feature's name).
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Pairtree => "pairtree",
            EngineKind::Memory => "memory",
            EngineKind::Lmdb => "lmdb",
            EngineKind::Sqlite => "sqlite",
            EngineKind::Sled => "sled",
            EngineKind::Redis => "redis",
            EngineKind::Mongo => "mongo",
        }
    }

    /// For engines that talk to a server, when compiled in: the environment variable
    /// naming it (used when the builder is given no `url`), as the engine crate defines it.
    // The fallback arm also takes the server engines whose feature is off.
    #[allow(unreachable_patterns)]
    pub fn url_env(self) -> Option<&'static str> {
        match self {
            #[cfg(feature = "redis")]
            EngineKind::Redis => Some(stash_engine_redis::URL_ENV),
            #[cfg(feature = "mongo")]
            EngineKind::Mongo => Some(stash_engine_mongo::URL_ENV),
            _ => None,
        }
    }

    /// Looks a name up.
    pub fn from_name(name: &str) -> Option<EngineKind> {
        EngineKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The factory for this engine, if its feature is compiled in.
    // The fallback arm is unreachable when every engine feature is on.
    #[allow(unreachable_patterns)]
    pub fn factory(self) -> Option<Arc<dyn EngineFactory>> {
        match self {
            #[cfg(feature = "pairtree")]
            EngineKind::Pairtree => Some(Arc::new(stash_engine_pairtree::Pairtree)),
            #[cfg(feature = "memory")]
            EngineKind::Memory => Some(Arc::new(stash_engine_memory::Memory)),
            #[cfg(feature = "lmdb")]
            EngineKind::Lmdb => Some(Arc::new(stash_engine_lmdb::Lmdb)),
            #[cfg(feature = "sqlite")]
            EngineKind::Sqlite => Some(Arc::new(stash_engine_sqlite::Sqlite)),
            #[cfg(feature = "sled")]
            EngineKind::Sled => Some(Arc::new(stash_engine_sled::Sled)),
            #[cfg(feature = "redis")]
            EngineKind::Redis => Some(Arc::new(stash_engine_redis::Redis)),
            #[cfg(feature = "mongo")]
            EngineKind::Mongo => Some(Arc::new(stash_engine_mongo::Mongo)),
            _ => None,
        }
    }
}

impl AsRef<str> for EngineKind {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The names of the engines compiled into this build.
pub fn available() -> Vec<&'static str> {
    EngineKind::ALL.into_iter().filter(|k| k.factory().is_some()).map(EngineKind::name).collect()
}

/// The engines compiled in that can open without further setup: every
/// embedded engine, and a server engine when its URL variable is set.
pub fn ready() -> Vec<&'static str> {
    EngineKind::ALL
        .into_iter()
        .filter(|k| k.factory().is_some())
        .filter(|k| k.url_env().is_none_or(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty())))
        .map(EngineKind::name)
        .collect()
}

/// The factory for the engine called `name`: an error naming the cargo
/// feature when it is not compiled in, or listing the engines when unknown.
pub fn factory(name: &str) -> Result<Arc<dyn EngineFactory>> {
    let kind = EngineKind::from_name(name).ok_or_else(|| {
        let known: Vec<_> = EngineKind::ALL.iter().map(|k| k.name()).collect();
        Error::new(
            ErrorKind::Config,
            format!("unknown engine `{name}`: expected one of {}", known.join(", ")),
        )
    })?;
    kind.factory().ok_or_else(|| {
        Error::new(
            ErrorKind::NotCompiled,
            format!("engine `{name}` is not compiled in: enable the cargo feature `{name}` of hashstash"),
        )
    })
}
