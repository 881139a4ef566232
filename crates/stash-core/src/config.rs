//! Stash configuration and where a stash lives on disk.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::digest::DigestAlgo;
use crate::error::{Error, ErrorKind, Result};

/// The environment variable that relocates relative roots.
pub const ROOT_DIR_ENV: &str = "HASHSTASH_ROOT_DIR";

/// Everything that identifies and shapes a stash, like the Python library's
/// `to_dict()`. Serializable, so a configuration can be saved and reopened.
///
/// ```
/// use stash_core::StashConfig;
/// let cfg = StashConfig::default();
/// assert_eq!(cfg.engine, "pairtree");
/// assert_eq!(cfg.dir_name(), format!("pairtree.hashstash.{}", cfg.compress));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StashConfig {
    /// Root directory; relative roots live under `$HASHSTASH_ROOT_DIR` or `~/.cache/hashstash`.
    pub root_dir: PathBuf,
    /// The database (sub-folder) name under the root; may contain `/`, never `..`.
    pub dbname: String,
    /// Engine name.
    pub engine: String,
    /// Serializer name.
    pub serializer: String,
    /// Compressor name.
    pub compress: String,
    /// Base64-encode keys and values after compression.
    pub b64: bool,
    /// Keep every version of every key.
    pub append_mode: bool,
    /// Clear the stash when it is opened.
    pub clear: bool,
    /// The key digest algorithm.
    pub digest: DigestAlgo,
    /// Server address for engines that talk to a server (`redis://...`, `mongodb://...`);
    /// `None` uses the engine's environment variable or its default.
    pub url: Option<String>,
    /// Entries expire this long after they are written (`None`: never). A `set`
    /// may give its own time to live.
    #[serde(with = "opt_secs")]
    pub ttl: Option<Duration>,
    /// Evict entries once more than this many are stored (`None`: unbounded).
    pub max_entries: Option<u64>,
    /// Evict entries once their values take more than this many bytes (`None`: unbounded).
    pub max_bytes: Option<u64>,
    /// Which entries go first when a bound is exceeded.
    pub eviction: Eviction,
    /// Use exactly the Python library's layout, so Python hashstash 1.2 reads and
    /// writes this stash too: needs serializer `hashstash` and digest `md5`
    /// ([`StashConfig::python`] sets both), and a compressor whose key bytes match
    /// Python's ([`python_key_compressor`]). Engines with a layout of their own
    /// (`lmdb`) switch to the Python one. See `docs/interop.md`.
    pub python_compatible: bool,
}

/// Which entries a bounded stash evicts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Eviction {
    /// The least recently written entries (the write time every engine stores).
    #[default]
    LeastRecentlyWritten,
    /// The least recently read entries, as seen by this process; entries it has
    /// not read rank by their write time.
    LeastRecentlyRead,
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let secs = Option::<f64>::deserialize(d)?;
        secs.map(|s| Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom)).transpose()
    }
}

impl Default for StashConfig {
    fn default() -> Self {
        StashConfig {
            root_dir: PathBuf::from("default_stash"),
            dbname: "main".into(),
            engine: "pairtree".into(),
            serializer: "hashstash".into(),
            compress: default_compress().into(),
            b64: false,
            append_mode: false,
            clear: false,
            digest: DigestAlgo::Blake3,
            url: None,
            ttl: None,
            max_entries: None,
            max_bytes: None,
            eviction: Eviction::LeastRecentlyWritten,
            python_compatible: false,
        }
    }
}

/// `lz4` when it is compiled in, else `raw`: the default, never a fallback
/// for a compressor someone asked for by name.
pub fn default_compress() -> &'static str {
    if stash_codec::available().contains(&"lz4") { "lz4" } else { "raw" }
}

impl StashConfig {
    /// `<engine>.<serializer>.<compress>[+b64]`, the folder the Python library uses.
    pub fn dir_name(&self) -> String {
        let b64 = if self.b64 { "+b64" } else { "" };
        format!("{}.{}.{}{}", self.engine, self.serializer, self.compress, b64)
    }

    /// The absolute root: `root_dir` itself when absolute, else under
    /// `$HASHSTASH_ROOT_DIR` or `~/.cache/hashstash`.
    pub fn resolved_root(&self) -> Result<PathBuf> {
        check_no_escape("root_dir", &self.root_dir)?;
        if self.root_dir.as_os_str().is_empty() {
            return Err(Error::new(ErrorKind::Config, "root_dir is empty"));
        }
        if self.root_dir.is_absolute() {
            return Ok(self.root_dir.clone());
        }
        Ok(base_dir()?.join(&self.root_dir))
    }

    /// `<root>/<dbname>/<engine>.<serializer>.<compress>[+b64]`.
    pub fn stash_dir(&self) -> Result<PathBuf> {
        let dbname = Path::new(&self.dbname);
        if self.dbname.is_empty() {
            return Err(Error::new(ErrorKind::Config, "dbname is empty"));
        }
        if dbname.is_absolute() || dbname.has_root() {
            return Err(Error::new(ErrorKind::Config, "dbname must be a relative name")
                .with_context("dbname", &self.dbname));
        }
        check_no_escape("dbname", dbname)?;
        for name in [&self.engine, &self.serializer, &self.compress] {
            if name.is_empty() || name.contains(['/', '\\']) || name == ".." {
                return Err(Error::new(ErrorKind::Config, format!("invalid name `{name}`")));
            }
        }
        Ok(self.resolved_root()?.join(dbname).join(self.dir_name()))
    }

    /// This configuration made Python-compatible: `python_compatible` on, serializer
    /// `hashstash`, digest `md5` (the other settings are kept).
    ///
    /// ```
    /// use stash_core::{DigestAlgo, StashConfig};
    /// let cfg = StashConfig { compress: "raw".into(), ..StashConfig::default() }.python();
    /// assert!(cfg.python_compatible);
    /// assert_eq!((cfg.serializer.as_str(), cfg.digest), ("hashstash", DigestAlgo::Md5));
    /// cfg.validate()?;
    /// # Ok::<(), stash_core::Error>(())
    /// ```
    pub fn python(mut self) -> StashConfig {
        self.python_compatible = true;
        self.serializer = "hashstash".into();
        self.digest = DigestAlgo::Md5;
        self
    }

    /// Checks the settings: a zero TTL or a zero bound is a mistake, not "no limit";
    /// a `python_compatible` stash needs the `hashstash` serializer, the `md5` digest
    /// and a compressor whose key bytes are the Python library's.
    pub fn validate(&self) -> Result<()> {
        if self.python_compatible {
            self.check_python()?;
        }
        if let Some(ttl) = self.ttl {
            check_ttl(ttl)?;
        }
        for (name, bound) in [("max_entries", self.max_entries), ("max_bytes", self.max_bytes)] {
            if bound == Some(0) {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("{name} must be at least 1 (leave it unset for no bound)"),
                ));
            }
        }
        Ok(())
    }

    fn check_python(&self) -> Result<()> {
        let refuse =
            |msg: String| Err(Error::new(ErrorKind::Config, msg).with_context("python_compatible", true));
        if !matches!(self.engine.as_str(), "pairtree" | "lmdb") {
            return refuse(format!(
                "engine `{}` has no Python-compatible layout: use `pairtree` or `lmdb`",
                self.engine
            ));
        }
        if self.serializer != "hashstash" {
            return refuse(format!(
                "a python_compatible stash needs the `hashstash` serializer, not `{}`: \
                 only its bytes are the Python library's",
                self.serializer
            ));
        }
        if self.digest != DigestAlgo::Md5 {
            return refuse(format!(
                "a python_compatible stash needs the `md5` digest (the Python library's), not `{}`",
                self.digest
            ));
        }
        if let Err(reason) = python_key_compressor(&self.compress) {
            return refuse(format!(
                "compressor `{}` cannot be used in a python_compatible stash: {reason}",
                self.compress
            ));
        }
        Ok(())
    }

    /// `<stash_dir>/data.db`: where the engine keeps its data.
    pub fn data_path(&self) -> Result<PathBuf> {
        Ok(self.stash_dir()?.join("data.db"))
    }
}

/// Whether `compress` gives the Python library's key bytes in this build (key digests
/// are taken over compressed keys, so a key written by one side is found by the other
/// only if both compress it to the same bytes); `Err` says why not.
///
/// `raw`, `zlib`, `gzip` and `bz2` are byte-identical (zlib and bzip2 are the same C
/// libraries CPython uses); `lz4` keys are recompressed by the `pairtree` and `lmdb`
/// engines with a port of Python's LZ4 1.9.4 (`stash_codec::Encoding::python_key`),
/// which is byte-identical; `blosc` is not: this build has c-blosc2, whose chunks
/// Python's c-blosc 1 cannot read; `zstd` is not offered by the Python library.
pub fn python_key_compressor(compress: &str) -> std::result::Result<(), String> {
    match compress {
        "raw" | "zlib" | "gzip" | "bz2" | "lz4" => Ok(()),
        "blosc" => Err("this build compresses with c-blosc2, whose chunks Python's c-blosc 1 cannot read, \
                        and its key bytes differ from Python's (keys would never be found)"
            .into()),
        "zstd" => Err("the Python library has no zstd compressor".into()),
        other => Err(format!("`{other}` is not a compressor of the Python library")),
    }
}

/// Refuses a zero time to live (it would expire every entry as it is written).
pub fn check_ttl(ttl: Duration) -> Result<()> {
    if ttl.is_zero() {
        return Err(Error::new(ErrorKind::Config, "a time to live must be longer than zero")
            .with_context("ttl", format!("{ttl:?}")));
    }
    Ok(())
}

fn check_no_escape(what: &str, path: &Path) -> Result<()> {
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{what} may not contain `..`: it would escape the stash root"),
        )
        .with_context(if what == "dbname" { "dbname" } else { "root_dir" }, path.display()));
    }
    Ok(())
}

fn base_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(ROOT_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    home_dir().map(|h| h.join(".cache").join("hashstash")).ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            format!("cannot place a relative root_dir: neither ${ROOT_DIR_ENV} nor $HOME is set"),
        )
    })
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// Shows `path` with the home directory abbreviated to `~`, as the Python library prints it.
pub struct TildePath<'a>(pub &'a Path);

impl fmt::Display for TildePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(home) = home_dir()
            && let Ok(rest) = self.0.strip_prefix(&home)
        {
            return write!(f, "~/{}", rest.display());
        }
        write!(f, "{}", self.0.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(root: &str, dbname: &str) -> StashConfig {
        StashConfig {
            root_dir: root.into(),
            dbname: dbname.into(),
            compress: "lz4".into(),
            b64: true,
            ..StashConfig::default()
        }
    }

    #[test]
    fn python_layout() {
        let c = cfg("/srv/project_stash", "sub_stash");
        assert_eq!(
            c.data_path().unwrap(),
            PathBuf::from("/srv/project_stash/sub_stash/pairtree.hashstash.lz4+b64/data.db")
        );
    }

    #[test]
    fn escapes_are_refused() {
        for (root, db) in [("/srv/x", "../y"), ("/srv/x", "a/../../b"), ("../x", "main"), ("/srv/x", "/etc")]
        {
            let err = cfg(root, db).data_path().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{root} {db}");
        }
    }

    #[test]
    fn python_compatible_is_checked() {
        let ok = cfg("/srv/x", "main").python();
        ok.validate().unwrap();
        let lmdb = StashConfig { engine: "lmdb".into(), compress: "zlib".into(), ..ok.clone() };
        lmdb.validate().unwrap();
        for bad in [
            StashConfig { serializer: "json".into(), ..ok.clone() },
            StashConfig { digest: DigestAlgo::Blake3, ..ok.clone() },
            StashConfig { compress: "blosc".into(), ..ok.clone() },
            StashConfig { compress: "zstd".into(), ..ok.clone() },
            StashConfig { engine: "memory".into(), ..ok.clone() },
        ] {
            let err = bad.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        }
        let json = serde_json::to_string(&StashConfig::default()).unwrap();
        assert!(json.contains("\"python_compatible\":false"), "{json}");
        let old: StashConfig = serde_json::from_str(r#"{"engine":"lmdb"}"#).unwrap();
        assert!(!old.python_compatible);
    }

    #[test]
    fn config_serializes() {
        let c = cfg("/srv/x", "main");
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"digest\":\"blake3\""));
        let back: StashConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
