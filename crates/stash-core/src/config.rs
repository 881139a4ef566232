//! Stash configuration and where a stash lives on disk.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use stash_codec::Compression;
pub use stash_codec::python_key_compressor;
use stash_serial::Format;

use crate::digest::DigestAlgo;
use crate::error::{Error, ErrorKind, Result};
use crate::options::EngineOptions;

/// The environment variable that relocates relative roots.
pub const ROOT_DIR_ENV: &str = "HASHSTASH_ROOT_DIR";

pub use stash_engine_api::redact::redact_url;
pub use stash_engine_api::{DATA_NAME, DEFAULT_MAX_VALUE_BYTES, LOCKS_NAME};

/// Everything that identifies and shapes a stash, like the Python library's
/// `to_dict()`. Serializable, so a configuration can be saved and reopened.
///
/// ```
/// use stash_core::StashConfig;
/// let cfg = StashConfig::default();
/// assert_eq!(cfg.engine, "pairtree");
/// assert_eq!(cfg.dir_name(), format!("pairtree.hashstash.{}", cfg.compress));
/// ```
///
/// `Debug` and `Serialize` show a server URL with its password replaced by
/// `***` ([`redact_url`]); [`StashConfig::with_secrets`] serializes it whole, for
/// a configuration saved to be reopened.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct StashConfig {
    /// Root directory. A bare name lives under `$HASHSTASH_ROOT_DIR` or
    /// `~/.cache/hashstash`; a relative path (`./x`, `a/b`) resolves from the
    /// working folder, as in the Python library ([`StashConfig::resolved_root`]).
    pub root_dir: PathBuf,
    /// The database (sub-folder) name under the root; may contain `/`, never `..`.
    pub dbname: String,
    /// Engine name.
    pub engine: String,
    /// The serializer (saved by name: `"hashstash"`).
    pub serializer: Format,
    /// The compressor (saved by name: `"lz4"`).
    pub compress: Compression,
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
    #[serde(serialize_with = "secret_url::serialize")]
    pub url: Option<String>,
    /// The name under which a server engine keeps this stash's entries (a Redis
    /// key prefix, a MongoDB collection), so that processes on different machines
    /// share them. `None` derives it from the stash's logical identity
    /// ([`StashConfig::logical_name`]): the root as configured (not as resolved on
    /// this machine), dbname, serializer and compressor. File engines ignore it.
    pub namespace: Option<String>,
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
    /// The largest value (serialized, before compression) this stash writes or
    /// reads: a larger write is refused and decoders stop at this size, so a
    /// damaged or hostile stored value can never make a read use more memory.
    /// Errors are of kind `TooLarge`. Default [`DEFAULT_MAX_VALUE_BYTES`] (1 GiB).
    pub max_value_bytes: u64,
    /// Use exactly the Python library's layout, so Python hashstash 1.2 reads and
    /// writes this stash too: needs serializer `hashstash` and digest `md5`
    /// ([`StashConfig::python`] sets both), and a compressor whose key bytes match
    /// Python's ([`python_key_compressor`]), on an engine that offers the Python
    /// layout ([`EngineFactory::python_layout`](crate::EngineFactory::python_layout):
    /// `pairtree` and `lmdb`, checked when the stash opens). Engines with a layout of
    /// their own (`lmdb`) switch to the Python one. See `docs/interop.md`.
    pub python_compatible: bool,
    /// The engine's own settings (`durability = "relaxed"` for lmdb,
    /// `busy_timeout_ms` for sqlite, ...), as text: each engine documents its
    /// names and parses them when it opens (an unknown name is a `Config`
    /// error). A stash opened with an options factory (`LmdbOptions`, ...)
    /// records that factory's settings here, so this configuration, saved and
    /// reopened, opens the engine alike. See [`crate::options`].
    #[serde(skip_serializing_if = "EngineOptions::is_empty")]
    pub engine_options: EngineOptions,
}

/// Which entries a bounded stash evicts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
            serializer: Format::Hashstash,
            compress: default_compress(),
            b64: false,
            append_mode: false,
            clear: false,
            digest: DigestAlgo::Blake3,
            url: None,
            namespace: None,
            ttl: None,
            max_entries: None,
            max_bytes: None,
            eviction: Eviction::LeastRecentlyWritten,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            python_compatible: false,
            engine_options: EngineOptions::new(),
        }
    }
}

/// `lz4` when it is compiled in, else `raw`: the default, never a fallback
/// for a compressor someone asked for by name.
pub fn default_compress() -> Compression {
    if Compression::Lz4.is_available() { Compression::Lz4 } else { Compression::Raw }
}

impl StashConfig {
    /// `<engine>.<serializer>.<compress>[+b64]`, the folder the Python library uses.
    pub fn dir_name(&self) -> String {
        let b64 = if self.b64 { "+b64" } else { "" };
        format!("{}.{}.{}{}", self.engine, self.serializer, self.compress, b64)
    }

    /// The inverse of [`dir_name`](StashConfig::dir_name): this configuration with
    /// the engine, serializer, compressor and `b64` a stash folder's name encodes
    /// (`lmdb.hashstash.zstd+b64`). A name of another shape, an unknown serializer
    /// or compressor is a `Config` error (a Python-only serializer such as `pickle`
    /// is `Unsupported`); whether the engine is compiled in is checked when the
    /// stash opens.
    ///
    /// ```
    /// use stash_core::{Compression, StashConfig};
    /// let cfg = StashConfig::default().with_dir_name("lmdb.json.zstd+b64")?;
    /// assert_eq!((cfg.engine.as_str(), cfg.compress, cfg.b64), ("lmdb", Compression::Zstd, true));
    /// assert_eq!(cfg.dir_name(), "lmdb.json.zstd+b64");
    /// assert!(StashConfig::default().with_dir_name("not a stash").is_err());
    /// # Ok::<(), stash_core::Error>(())
    /// ```
    pub fn with_dir_name(mut self, name: &str) -> Result<StashConfig> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "`{name}` is not a stash folder name ({why}): expected `<engine>.<serializer>.<compress>[+b64]`"
                ),
            )
        };
        let (settings, b64) = match name.strip_suffix("+b64") {
            Some(rest) => (rest, true),
            None => (name, false),
        };
        let parts: Vec<&str> = settings.split('.').collect();
        let [engine, serializer, compress] = parts[..] else {
            return Err(bad("not three names separated by dots"));
        };
        if engine.is_empty() || engine.contains(['/', '\\', '+']) {
            return Err(bad("no engine name"));
        }
        self.serializer = serializer.parse().map_err(crate::formats::serial_error)?;
        self.compress = compress.parse().map_err(crate::formats::codec_error)?;
        self.engine = engine.to_string();
        self.b64 = b64;
        Ok(self)
    }

    /// The inverse of [`data_path`](StashConfig::data_path) and
    /// [`stash_dir`](StashConfig::stash_dir): the configuration of the stash at
    /// `path`, its `data.db` or the stash folder holding it
    /// (`<root>/<dbname>/<engine>.<serializer>.<compress>[+b64]`), with the settings
    /// the folder's name encodes ([`with_dir_name`](StashConfig::with_dir_name)),
    /// `dbname` the folder above it and `root_dir` the one above that (the Python
    /// library, given no `dbname`, places a stash directly under its root: that
    /// root's name becomes `dbname`, which names the same folder). The other
    /// settings are the defaults; nothing is read from disk.
    ///
    /// ```
    /// use std::path::Path;
    /// use stash_core::StashConfig;
    /// let path = Path::new("/srv/cache/main/sqlite.msgpack.raw/data.db");
    /// let cfg = StashConfig::from_data_path(path)?;
    /// assert_eq!((cfg.engine.as_str(), cfg.dbname.as_str()), ("sqlite", "main"));
    /// assert_eq!(cfg.root_dir, Path::new("/srv/cache"));
    /// assert_eq!(cfg.data_path()?, path);
    /// # Ok::<(), stash_core::Error>(())
    /// ```
    pub fn from_data_path(path: &Path) -> Result<StashConfig> {
        let stash_dir =
            if path.file_name().is_some_and(|n| n == DATA_NAME) { path.parent() } else { Some(path) };
        let parts = stash_dir.and_then(|dir| {
            let name = dir.file_name()?.to_str()?;
            let db_dir = dir.parent()?;
            let dbname = db_dir.file_name()?.to_str()?;
            Some((name, dbname, db_dir.parent()?))
        });
        let Some((name, dbname, root)) = parts else {
            return Err(Error::new(
                ErrorKind::Config,
                "not a stash path: expected `<root>/<dbname>/<engine>.<serializer>.<compress>[+b64]/data.db`",
            )
            .with_context("path", path.display()));
        };
        let mut config =
            StashConfig::default().with_dir_name(name).map_err(|e| e.with_context("path", path.display()))?;
        config.dbname = dbname.to_string();
        // Absolute, so that a relative path is not read as a bare root name (placed
        // under `$HASHSTASH_ROOT_DIR`) by `resolved_root`.
        let root = if root.as_os_str().is_empty() { Path::new(".") } else { root };
        config.root_dir = std::path::absolute(root)
            .map_err(|e| Error::io(e, "find the working folder to place a relative stash path", root))?;
        Ok(config)
    }

    /// The absolute root, by the Python library's rule (hashstash 1.2), so one
    /// `root_dir` string names one folder in both languages:
    ///
    /// | `root_dir` | resolves to |
    /// |---|---|
    /// | absolute (`/srv/cache`) | itself |
    /// | `~` or `~/...` | under the home folder |
    /// | a relative *path*: has a `/` or starts with `.` (`./mycache`, `data/cache`) | from the working folder |
    /// | a bare *name* (`mycache`) | under `$HASHSTASH_ROOT_DIR`, else `~/.cache/hashstash` |
    ///
    /// `..` is refused anywhere in it (a `Config` error).
    pub fn resolved_root(&self) -> Result<PathBuf> {
        check_no_escape("root_dir", &self.root_dir)?;
        let root = &self.root_dir;
        if root.as_os_str().is_empty() {
            return Err(Error::new(ErrorKind::Config, "root_dir is empty"));
        }
        if root.is_absolute() {
            return Ok(root.clone());
        }
        let text = root.to_string_lossy();
        if let Ok(rest) = root.strip_prefix("~") {
            let home = home_dir().ok_or_else(|| {
                Error::new(ErrorKind::Config, "root_dir starts with `~` but $HOME is not set")
                    .with_context("root_dir", root.display())
            })?;
            return Ok(home.join(rest));
        }
        if text.contains(std::path::MAIN_SEPARATOR) || text.contains('/') || text.starts_with('.') {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::io(e, "find the working folder to place a relative root_dir", root))?;
            return Ok(cwd.join(root.strip_prefix(".").unwrap_or(root)));
        }
        Ok(base_dir()?.join(root))
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
        check_not_layout("dbname", dbname)?;
        for name in [&self.engine] {
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
    /// use stash_core::{Compression, DigestAlgo, Format, StashConfig};
    /// let cfg = {
    ///     let mut config = StashConfig::default();
    ///     config.compress = Compression::Raw;
    ///     config
    /// }.python();
    /// assert!(cfg.python_compatible);
    /// assert_eq!((cfg.serializer, cfg.digest), (Format::Hashstash, DigestAlgo::Md5));
    /// cfg.validate()?;
    /// # Ok::<(), stash_core::Error>(())
    /// ```
    pub fn python(mut self) -> StashConfig {
        self.python_compatible = true;
        self.serializer = Format::Hashstash;
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
        if self.max_value_bytes == 0 {
            return Err(Error::new(ErrorKind::Config, "max_value_bytes must be at least 1"));
        }
        if let Some(ns) = &self.namespace
            && ns.is_empty()
        {
            return Err(Error::new(ErrorKind::Config, "namespace is empty (leave it unset to derive one)"));
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
        if self.serializer != Format::Hashstash {
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
        if let Err(reason) = python_key_compressor(self.compress) {
            return refuse(format!(
                "compressor `{}` cannot be used in a python_compatible stash: {reason}",
                self.compress
            ));
        }
        Ok(())
    }

    /// `<stash_dir>/data.db`: where the engine keeps its data.
    pub fn data_path(&self) -> Result<PathBuf> {
        Ok(self.stash_dir()?.join(DATA_NAME))
    }

    /// The stash's identity independent of the machine: the explicit
    /// [`namespace`](StashConfig::namespace) when set, else the root as
    /// configured (relative roots are not resolved against this machine's home
    /// folder or working folder), then `dbname` (which carries the sub-stash
    /// path), each followed by `<engine>.<serializer>.<compress>[+b64]`. Server
    /// engines name their storage after it, so two machines configured alike
    /// share entries.
    ///
    /// ```
    /// use stash_core::StashConfig;
    /// let mut cfg = StashConfig::default();
    /// cfg.engine = "redis".into();
    /// cfg.compress = stash_core::Compression::Raw;
    /// assert_eq!(cfg.logical_name(), "default_stash/main/redis.hashstash.raw");
    /// let mut named = cfg;
    /// named.namespace = Some("team-cache".into());
    /// assert_eq!(named.logical_name(), "team-cache/redis.hashstash.raw");
    /// ```
    pub fn logical_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.dir_name()),
            None => format!("{}/{}/{}", self.root_dir.display(), self.dbname, self.dir_name()),
        }
    }

    /// The configuration with its server URL shown whole by `Serialize`
    /// (the plain configuration writes it with the password replaced by `***`).
    ///
    /// ```
    /// use stash_core::StashConfig;
    /// let mut cfg = StashConfig::default();
    /// cfg.url = Some("redis://app:s3cr3t@db:6379/0".into());
    /// let shown = serde_json::to_string(&cfg)?;
    /// assert!(shown.contains("redis://app:***@db:6379/0") && !shown.contains("s3cr3t"));
    /// let saved = serde_json::to_string(&cfg.with_secrets())?;
    /// assert!(saved.contains("s3cr3t"));
    /// let back: StashConfig = serde_json::from_str(&saved)?;
    /// assert_eq!(back, cfg);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn with_secrets(&self) -> WithSecrets<'_> {
        WithSecrets(self)
    }
}

/// A [`StashConfig`] that serializes its server URL whole; from [`StashConfig::with_secrets`].
#[derive(Debug, Clone, Copy)]
pub struct WithSecrets<'a>(&'a StashConfig);

impl Serialize for WithSecrets<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        secret_url::REVEAL.with(|reveal| {
            let before = reveal.replace(true);
            let out = self.0.serialize(s);
            reveal.set(before);
            out
        })
    }
}

mod secret_url {
    use std::cell::Cell;

    use serde::Serializer;

    thread_local! {
        /// Set while a [`WithSecrets`](super::WithSecrets) serializes.
        pub(super) static REVEAL: Cell<bool> = const { Cell::new(false) };
    }

    pub fn serialize<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match url {
            Some(url) if REVEAL.with(Cell::get) => s.serialize_some(url),
            Some(url) => s.serialize_some(&super::redact_url(url)),
            None => s.serialize_none(),
        }
    }
}

impl fmt::Debug for StashConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let StashConfig {
            root_dir,
            dbname,
            engine,
            serializer,
            compress,
            b64,
            append_mode,
            clear,
            digest,
            url,
            namespace,
            ttl,
            max_entries,
            max_bytes,
            eviction,
            max_value_bytes,
            python_compatible,
            engine_options,
        } = self;
        f.debug_struct("StashConfig")
            .field("root_dir", root_dir)
            .field("dbname", dbname)
            .field("engine", engine)
            .field("serializer", serializer)
            .field("compress", compress)
            .field("b64", b64)
            .field("append_mode", append_mode)
            .field("clear", clear)
            .field("digest", digest)
            .field("url", &url.as_deref().map(redact_url))
            .field("namespace", namespace)
            .field("ttl", ttl)
            .field("max_entries", max_entries)
            .field("max_bytes", max_bytes)
            .field("eviction", eviction)
            .field("max_value_bytes", max_value_bytes)
            .field("python_compatible", python_compatible)
            .field("engine_options", engine_options)
            .finish()
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
        .with_context(what_context(what), path.display()));
    }
    Ok(())
}

/// Refuses a path component that is one of the layout's own names, so a
/// stash can never be laid out inside another stash's data (`parent.clear()`
/// would wipe it) or its lock folder.
fn check_not_layout(what: &str, path: &Path) -> Result<()> {
    for part in path.components() {
        if let Component::Normal(name) = part
            && (name == DATA_NAME || name == LOCKS_NAME)
        {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{what} may not contain `{}`: the stash layout uses that name for its own data",
                    name.to_string_lossy()
                ),
            )
            .with_context(what_context(what), path.display()));
        }
    }
    Ok(())
}

fn what_context(what: &str) -> &'static str {
    if what == "dbname" { "dbname" } else { "root_dir" }
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
            compress: Compression::Lz4,
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
    fn relative_roots_resolve_as_in_python() {
        let cwd = std::env::current_dir().unwrap();
        let root = |r: &str| cfg(r, "main").resolved_root().unwrap();
        assert_eq!(root("./mycache"), cwd.join("mycache"));
        assert_eq!(root("data/cache"), cwd.join("data/cache"));
        assert_eq!(root(".hidden"), cwd.join(".hidden"));
        assert_eq!(root("/srv/x"), PathBuf::from("/srv/x"));
        if let Some(home) = home_dir() {
            assert_eq!(root("~/stash"), home.join("stash"));
        }
        assert_eq!(root("bare_name"), base_dir().unwrap().join("bare_name"));
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
        let lmdb = StashConfig { engine: "lmdb".into(), compress: Compression::Zlib, ..ok.clone() };
        lmdb.validate().unwrap();
        for bad in [
            StashConfig { serializer: Format::Json, ..ok.clone() },
            StashConfig { digest: DigestAlgo::Blake3, ..ok.clone() },
            StashConfig { compress: Compression::Blosc, ..ok.clone() },
            StashConfig { compress: Compression::Zstd, ..ok.clone() },
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
    fn folder_names_and_data_paths_read_back() {
        for name in
            ["pairtree.hashstash.lz4", "lmdb.json.raw+b64", "sled.postcard.raw", "my_engine.msgpack.raw"]
        {
            let c = StashConfig::default().with_dir_name(name).unwrap();
            assert_eq!(c.dir_name(), name);
        }
        for bad in ["", "lmdb", "lmdb.json", "a.b.c.d", ".json.raw", "lmdb.json.lzma", "lmdb.yaml.raw"] {
            let err = StashConfig::default().with_dir_name(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err}");
        }
        let pickle = StashConfig::default().with_dir_name("pairtree.pickle.raw").unwrap_err();
        assert_eq!(pickle.kind(), ErrorKind::Unsupported, "{pickle}");
        let c = cfg("/srv/project_stash", "sub_stash");
        let path = c.data_path().unwrap();
        for given in [path.clone(), c.stash_dir().unwrap()] {
            let back = StashConfig::from_data_path(&given).unwrap();
            assert_eq!(back.data_path().unwrap(), path);
            assert_eq!((back.engine.as_str(), back.compress, back.b64), ("pairtree", Compression::Lz4, true));
        }
        let relative = StashConfig::from_data_path(Path::new("x/main/lmdb.json.raw")).unwrap();
        assert_eq!(
            relative.stash_dir().unwrap(),
            std::env::current_dir().unwrap().join("x/main/lmdb.json.raw")
        );
        for bad in ["/", "/srv/main/data.db", "data.db", "/srv/x/not-a-stash"] {
            let err = StashConfig::from_data_path(Path::new(bad)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err}");
        }
    }

    #[test]
    fn config_serializes() {
        let c = cfg("/srv/x", "main");
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"digest\":\"blake3\""));
        let back: StashConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        // Names are saved as names and parsed on the way in.
        assert!(
            json.contains("\"serializer\":\"hashstash\"") && json.contains("\"compress\":\"lz4\""),
            "{json}"
        );
        let bad = serde_json::from_str::<StashConfig>(r#"{"compress":"lzma"}"#).unwrap_err();
        assert!(bad.to_string().contains("unknown compressor `lzma`"), "{bad}");
        let bad = serde_json::from_str::<StashConfig>(r#"{"serializer":"pickle"}"#).unwrap_err();
        assert!(bad.to_string().contains("Python-only"), "{bad}");
    }
}
