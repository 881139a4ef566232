//! Opening a stash from names, as the Python library's keyword arguments do.

use std::path::PathBuf;
use std::sync::Arc;

use stash_core::{
    Compression, DigestAlgo, EngineFactory, Error, Eviction, Format, Result, Stash, StashConfig,
};

use crate::HashStash;

/// A name given to the builder that did not parse, kept to be returned by `open`
/// (where the builder can fail).
#[derive(Debug, Clone)]
enum InvalidName {
    Compress(stash_codec::CodecError),
    Serializer(stash_serial::SerialError),
}

impl InvalidName {
    fn into_error(self) -> Error {
        match self {
            InvalidName::Compress(e) => stash_core::formats::codec_error(e),
            InvalidName::Serializer(e) => stash_core::formats::serial_error(e),
        }
    }
}

/// Configures and opens a [`HashStash`]; from [`HashStash::builder`].
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let stash = hashstash::HashStash::builder()
///     .root_dir(dir.path().join("project_stash"))
///     .dbname("sub_stash")
///     .engine("pairtree")
///     .serializer("hashstash")
///     .compress("lz4")
///     .b64(true)
///     .open()?;
/// assert!(stash.to_string().starts_with("PairtreeHashStash("));
/// assert!(stash.to_string().ends_with("/project_stash/sub_stash/pairtree.hashstash.lz4+b64/data.db)"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `open()`"]
pub struct Builder {
    config: StashConfig,
    factory: Option<Arc<dyn EngineFactory>>,
    /// The first name given that does not parse, returned by `open`.
    invalid: Option<InvalidName>,
}

impl Builder {
    /// Starts from `config`.
    pub fn from_config(config: StashConfig) -> Builder {
        Builder { config, factory: None, invalid: None }
    }

    /// Root directory. A bare name (`"project_stash"`) lives under `$HASHSTASH_ROOT_DIR` or
    /// `~/.cache/hashstash`; a relative path (`"./cache"`, `"data/cache"`) resolves from the
    /// working folder, as in the Python library; `~/` is the home folder.
    pub fn root_dir(mut self, root_dir: impl Into<PathBuf>) -> Self {
        self.config.root_dir = root_dir.into();
        self
    }

    /// Database (sub-folder) name; default `main`.
    pub fn dbname(mut self, dbname: impl Into<String>) -> Self {
        self.config.dbname = dbname.into();
        self
    }

    /// Engine by name (`"pairtree"`, `"memory"`, ...) or [`EngineKind`](crate::EngineKind).
    pub fn engine(mut self, engine: impl AsRef<str>) -> Self {
        self.config.engine = engine.as_ref().to_string();
        self.factory = None;
        self
    }

    /// An engine of your own, implementing [`EngineFactory`].
    pub fn engine_factory(mut self, factory: Arc<dyn EngineFactory>) -> Self {
        self.config.engine = factory.name().to_string();
        self.factory = Some(factory);
        self
    }

    /// One of the engine's own settings, as text (`.engine_option("durability",
    /// "relaxed")` for lmdb): kept in the configuration, parsed by the engine when
    /// it opens (an unknown name is a `Config` error). Each engine crate lists its
    /// names on its options type's `with_options`.
    pub fn engine_option(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.config.engine_options.insert(name.into(), value.to_string());
        self
    }

    /// Serializer by name (`"hashstash"`, `"json"`, `"msgpack"`, `"postcard"`) or
    /// [`Format`]; an unknown name is the error `open` returns.
    pub fn serializer(mut self, serializer: impl AsRef<str>) -> Self {
        match serializer.as_ref().parse::<Format>() {
            Ok(format) => self.config.serializer = format,
            Err(e) => {
                self.invalid.get_or_insert(InvalidName::Serializer(e));
            }
        }
        self
    }

    /// Compressor by name (`"raw"`, `"lz4"`, `"zstd"`, `"blosc"`, `"zlib"`, `"gzip"`,
    /// `"bz2"`) or [`Compression`]; an unknown name is the error `open` returns.
    pub fn compress(mut self, compress: impl AsRef<str>) -> Self {
        match compress.as_ref().parse::<Compression>() {
            Ok(compress) => self.config.compress = compress,
            Err(e) => {
                self.invalid.get_or_insert(InvalidName::Compress(e));
            }
        }
        self
    }

    /// Base64-encode keys and values after compression.
    pub fn b64(mut self, b64: bool) -> Self {
        self.config.b64 = b64;
        self
    }

    /// Keep every version of every key.
    pub fn append_mode(mut self, append_mode: bool) -> Self {
        self.config.append_mode = append_mode;
        self
    }

    /// Clear the stash when it opens.
    pub fn clear(mut self, clear: bool) -> Self {
        self.config.clear = clear;
        self
    }

    /// Key digest: BLAKE3 (default) or MD5 (the Python library's).
    pub fn digest(mut self, digest: DigestAlgo) -> Self {
        self.config.digest = digest;
        self
    }

    /// The server of a server engine (`redis`, `mongo`), e.g. `"redis://127.0.0.1:6379/0"`;
    /// unset, the engine reads its environment variable, then uses its default.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.config.url = Some(url.into());
        self
    }

    /// The name a server engine keeps this stash under (a Redis key prefix, a
    /// MongoDB collection), shared by every process that names it. Unset, it is
    /// derived from the root as configured, `dbname`, serializer and compressor
    /// (the same on every machine with the same settings); see
    /// [`StashConfig::logical_name`].
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.config.namespace = Some(namespace.into());
        self
    }

    /// The largest value (serialized, before compression) the stash writes or
    /// reads; larger is an error of kind `TooLarge`, and decoders stop at this
    /// size. Default 1 GiB ([`stash_core::config::DEFAULT_MAX_VALUE_BYTES`]).
    pub fn max_value_bytes(mut self, max: u64) -> Self {
        self.config.max_value_bytes = max;
        self
    }

    /// Entries expire this long after they are written (a `set` may give its own).
    /// Zero is refused when the stash opens.
    pub fn ttl(mut self, ttl: std::time::Duration) -> Self {
        self.config.ttl = Some(ttl);
        self
    }

    /// Evict entries once more than `max` are stored (zero is refused).
    pub fn max_entries(mut self, max: u64) -> Self {
        self.config.max_entries = Some(max);
        self
    }

    /// Evict entries once their values take more than `max` bytes (zero is refused).
    pub fn max_bytes(mut self, max: u64) -> Self {
        self.config.max_bytes = Some(max);
        self
    }

    /// Which entries go first when a bound is passed (least recently written by default).
    pub fn eviction(mut self, eviction: Eviction) -> Self {
        self.config.eviction = eviction;
        self
    }

    /// Share the stash with the Python library (hashstash 1.2): its exact layout,
    /// digest `md5` and serializer `hashstash` (set here; another serializer or an
    /// explicit `.digest(DigestAlgo::Blake3)` afterwards is a `Config` error at `open`).
    /// See `docs/interop.md`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let stash = hashstash::HashStash::builder()
    ///     .root_dir(dir.path())
    ///     .compress("raw")
    ///     .python_compatible(true)
    ///     .open()?;
    /// stash.set("cat", "meow")?; // Python's HashStash(..., compress="raw") finds it
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn python_compatible(mut self, on: bool) -> Self {
        self.config = if on {
            self.config.python()
        } else {
            {
                let mut config = self.config;
                config.python_compatible = false;
                config
            }
        };
        self
    }

    /// The configuration so far.
    pub fn config(&self) -> &StashConfig {
        &self.config
    }

    /// Opens the stash, creating it if needed.
    pub fn open(self) -> Result<HashStash> {
        if let Some(invalid) = self.invalid {
            return Err(invalid.into_error());
        }
        let factory = match self.factory {
            Some(f) => f,
            None => crate::engines::factory(&self.config.engine)?,
        };
        Stash::open(self.config, factory).map(HashStash::from)
    }
}
