//! Which engine with which durability setting, and opening it through the facade.

use std::path::Path;
use std::sync::Arc;

use hashstash::lmdb::{Durability, LmdbOptions};
use hashstash::pairtree::PairtreeOptions;
use hashstash::sqlite::SqliteOptions;
use hashstash::{HashStash, Result};

/// The environment variables naming the servers (as `cargo xtask services up` prints them).
pub const REDIS_URL_ENV: &str = "HASHSTASH_REDIS_URL";
/// A Redis cluster, `redis+cluster://h1:p1,h2:p2`.
pub const REDIS_CLUSTER_URL_ENV: &str = "HASHSTASH_REDIS_CLUSTER_URL";
/// A MongoDB(-compatible) server.
pub const MONGO_URL_ENV: &str = "HASHSTASH_MONGO_URL";

/// What a setting promises when its process is killed (SIGKILL) mid-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promise {
    /// Every acknowledged write survives the kill (the operating system keeps
    /// what `write` handed it; the settings without fsync lose more only when
    /// the whole machine crashes, which a SIGKILL does not simulate).
    Durable,
    /// The state after the kill is the state after a prefix of the
    /// acknowledged writes: only the last writes may be lost (sled writes its
    /// log from a background thread every 500 ms).
    Prefix,
}

/// An engine and one of its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The engine's name.
    pub engine: &'static str,
    /// The setting (`fsync`, `relaxed`, ...; `default` when the engine has one setting).
    pub setting: &'static str,
}

/// Every spec either harness knows.
pub const ALL: &[Spec] = &[
    Spec { engine: "pairtree", setting: "nofsync" },
    Spec { engine: "pairtree", setting: "fsync" },
    Spec { engine: "lmdb", setting: "full" },
    Spec { engine: "lmdb", setting: "relaxed" },
    Spec { engine: "sqlite", setting: "normal" },
    Spec { engine: "sqlite", setting: "full" },
    Spec { engine: "sled", setting: "default" },
    Spec { engine: "redis", setting: "standalone" },
    Spec { engine: "redis", setting: "cluster" },
    Spec { engine: "mongo", setting: "default" },
];

/// The file engines and settings of the crash harness.
pub const CRASH: &[Spec] = &[ALL[0], ALL[1], ALL[2], ALL[3], ALL[4], ALL[5], ALL[6]];

/// The multi-process engines of the processes harness (servers only when their URL is set).
pub const PROCESSES: &[Spec] = &[ALL[0], ALL[2], ALL[4], ALL[7], ALL[8], ALL[9]];

/// One setting per file engine: the engines whose files the flips harness damages
/// and the disk harness fills (the stored bytes do not depend on the durability setting).
pub const FLIPS: &[Spec] = &[ALL[0], ALL[2], ALL[4], ALL[6]];

/// The engines of the disk harness (full disk, read-only disk).
pub const DISK: &[Spec] = FLIPS;

/// The server engines whose server the servers harness kills mid-write (each
/// harness starts its own server on a spare port; the shared ones are left alone).
pub const SERVERS: &[Spec] = &[ALL[7], ALL[9]];

impl Spec {
    /// `engine/setting`, the form the command line takes.
    pub fn label(&self) -> String {
        format!("{}/{}", self.engine, self.setting)
    }

    /// Parses `engine` (its first setting) or `engine/setting`.
    pub fn parse(s: &str) -> Option<Spec> {
        let (engine, setting) = s.split_once('/').map_or((s, None), |(e, st)| (e, Some(st)));
        ALL.iter().copied().find(|spec| spec.engine == engine && setting.is_none_or(|st| st == spec.setting))
    }

    /// Whether the engine is `engine` and any of its settings (for `--engine lmdb`).
    pub fn matches(&self, filter: &str) -> bool {
        match filter.split_once('/') {
            Some((e, st)) => self.engine == e && self.setting == st,
            None => self.engine == filter,
        }
    }

    /// The run's seed mixed with this spec's label (FNV-1a), so a spec gets
    /// the same operations whichever others run beside it.
    pub fn seed(&self, seed: u64) -> u64 {
        self.label()
            .bytes()
            .fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
    }

    /// The server URL variable this spec needs, if any.
    pub fn url_env(&self) -> Option<&'static str> {
        match (self.engine, self.setting) {
            ("redis", "cluster") => Some(REDIS_CLUSTER_URL_ENV),
            ("redis", _) => Some(REDIS_URL_ENV),
            ("mongo", _) => Some(MONGO_URL_ENV),
            _ => None,
        }
    }

    /// The server URL from the environment (`None`: not set, skip this spec).
    pub fn url(&self) -> Option<String> {
        self.url_env().and_then(|var| std::env::var(var).ok()).filter(|u| !u.is_empty())
    }

    /// What a SIGKILL may cost under this setting.
    pub fn promise(&self) -> Promise {
        if self.engine == "sled" { Promise::Prefix } else { Promise::Durable }
    }

    /// Whether a batch commits in one transaction (all or nothing after a kill).
    pub fn atomic_batches(&self) -> bool {
        matches!(self.engine, "lmdb" | "sqlite" | "sled")
    }

    /// Whether the engine's storage library trusts its own pages (no checksums), so that
    /// damage to them may crash its C code (LMDB): the flips harness reports such outcomes
    /// as the engine's limit rather than as failures.
    pub fn trusts_its_pages(&self) -> bool {
        self.engine == "lmdb"
    }

    /// The promise in words, for the table's notes.
    pub fn promise_text(&self) -> &'static str {
        match (self.engine, self.setting) {
            ("pairtree", "nofsync") => {
                "no fsync: nothing lost on a process kill (the OS has every write); an OS crash may lose recent writes"
            }
            ("pairtree", "fsync") => "fsync of each file and folder: nothing lost, also on an OS crash",
            ("lmdb", "full") => "sync at every commit: nothing lost, also on an OS crash",
            ("lmdb", "relaxed") => {
                "no sync at commit: nothing lost on a process kill; an OS crash may lose the last commits"
            }
            ("sqlite", "normal") => {
                "WAL, synchronous=NORMAL: nothing lost on a process kill; an OS crash may lose the last commits"
            }
            ("sqlite", "full") => "WAL, synchronous=FULL: nothing lost, also on an OS crash",
            ("sled", _) => "log flushed every 500 ms: a kill may lose the last writes (a prefix survives)",
            _ => "server: every acknowledged write is stored by the server",
        }
    }

    /// Opens the stash of this spec under `root` (file engines) or in the
    /// server namespace `namespace` (server engines), with the default
    /// serializer and compressor.
    pub fn open(&self, root: &Path, dbname: &str, namespace: &str, clear: bool) -> Result<HashStash> {
        let builder = HashStash::builder().root_dir(root).dbname(dbname).clear(clear);
        let builder = match (self.engine, self.setting) {
            ("pairtree", setting) => {
                builder.engine_factory(Arc::new(PairtreeOptions::new().fsync(setting == "fsync")))
            }
            ("lmdb", setting) => {
                let durability = if setting == "relaxed" { Durability::Relaxed } else { Durability::Full };
                builder.engine_factory(Arc::new(LmdbOptions::new().durability(durability)))
            }
            ("sqlite", setting) => {
                builder.engine_factory(Arc::new(SqliteOptions::new().durable(setting == "full")))
            }
            ("sled", _) => builder.engine("sled"),
            (engine, _) => {
                let url = self.url().unwrap_or_default();
                builder.engine(engine).url(url).namespace(namespace)
            }
        };
        builder.open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_back() {
        for spec in ALL {
            assert_eq!(Spec::parse(&spec.label()), Some(*spec));
        }
        assert_eq!(Spec::parse("lmdb"), Some(Spec { engine: "lmdb", setting: "full" }));
        assert_eq!(Spec::parse("nope"), None);
        assert!(CRASH.iter().all(|s| s.url_env().is_none()));
    }
}
