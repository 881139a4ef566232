//! The `redis` engine: a stash kept on a Redis server (or Valkey) or a Redis
//! Cluster, shared by every process (on any machine) that opens a stash
//! configured alike against the same server.
//!
//! ```no_run
//! use std::sync::Arc;
//! use stash_core::{Stash, StashConfig};
//! use stash_engine_redis::Redis;
//!
//! let mut config = StashConfig::default();
//! config.engine = "redis".into();
//! config.url = Some("redis://127.0.0.1:6379/0".into());
//! let stash = Stash::open(config, Arc::new(Redis))?;
//! stash.set("cat", &"meow")?;
//! assert_eq!(stash.get::<_, String>("cat")?.as_deref(), Some("meow"));
//! # Ok::<(), stash_core::Error>(())
//! ```
//!
//! # Where the server is
//!
//! The URL is `StashConfig::url`, else the environment variable
//! `HASHSTASH_REDIS_URL`, else `redis://127.0.0.1:6379/0`
//! ([`DEFAULT_URL`]). A cluster is named by `redis+cluster://h1:7001,h2:7002`
//! (seed nodes, comma separated; `user:password@` before them applies to
//! all), by a `redis://` URL listing several hosts the same way, or by any
//! URL when `HASHSTASH_REDIS_CLUSTER=1` is set. A cluster has only database 0.
//! [`RedisOptions`] sets the URL, timeouts and cluster mode in code.
//!
//! # TLS
//!
//! A `rediss://` URL (`rediss+cluster://` for a cluster, `valkeys://` alike)
//! connects over TLS (rustls; TLS 1.2 and 1.3), as managed Redis services
//! require. The server's certificate must be valid for the host named in the
//! URL (a name, or an IP address listed in the certificate) and chain to a
//! trusted root: the system's trust store by default, or only the CA
//! certificates of a PEM file given as the engine option `tls_ca_file` (a
//! private CA). A server that asks for client certificates (mutual TLS,
//! `tls-auth-clients yes`) gets the PEM certificate chain of `tls_cert_file`
//! and the PEM private key of `tls_key_file` (both or neither). In code:
//! [`RedisOptions::tls_ca_file`] and [`RedisOptions::tls_client_cert`]; in a
//! saved configuration (`StashConfig::engine_options` in `stash-core`):
//!
//! ```text
//! url = "rediss://default:password@cache.example.com:6380/0"
//! engine_options = { tls_ca_file = "/etc/ssl/private-ca.pem",
//!                    tls_cert_file = "/etc/hashstash/client.pem", tls_key_file = "/etc/hashstash/client.key" }
//! ```
//!
//! The files are read when a stash first connects to the server (a pool
//! keeps what it read while it lives); a missing or unreadable file, or a
//! TLS option with a URL that is not `rediss://`, is a `Config` error naming
//! the file or option, never showing what the files hold. Certificate checks
//! cannot be turned off: the `redis` crate's `#insecure` URL fragment is
//! refused; give the server's CA as `tls_ca_file` instead. When the process
//! has no default rustls crypto provider yet, the first TLS connection
//! installs rustls' `ring` provider as the default.
//!
//! # Layout
//!
//! Each stash has a *namespace* derived from its configuration, not from
//! where it would live on this machine ([`namespace`]): its
//! `logical_name` (`StashConfig::logical_name` in `stash-core`) is the explicit
//! `config.namespace` if set (`namespace("team-cache")` on the builder), else
//! the root as configured plus the dbname (which carries the sub-stash path),
//! followed by `<engine>.<serializer>.<compress>[+b64]`. The namespace is the
//! last two parts of that name, made readable, then `~` and 16 hex digits of
//! the BLAKE3 hash of the whole name, e.g. `main/redis.hashstash.lz4~9c1e0d4a7b3f2e11`.
//! So two machines, or two users of one machine, with the same `root_dir`
//! (relative roots count as written: `default_stash` is the same everywhere,
//! whatever `$HOME`, `$HASHSTASH_ROOT_DIR` or the working folder), `dbname`,
//! serializer and compressor share entries, which is what a server cache is
//! for; an absolute `root_dir` shares only with the same absolute path.
//! Different serializers or compressors never share a namespace (their bytes
//! differ), and neither do two stashes with different names. Every key of a
//! stash starts with `hs:{<namespace>}:`:
//!
//! ```text
//! hs:{ns}:e:<16 digest bytes>   hash, one per entry:
//!     k  the encoded key (compared with the requested key on every read)
//!     v  the newest encoded value        t  its write time (µs since the epoch)
//!     n  how many older versions are kept (append mode), as o1..on / s1..sn
//!     b  value bytes over all versions   x  expiry (µs), absent if none
//!     w  the id of the last write (makes a retried write harmless)
//! hs:{ns}:all                   sorted set of every digest (raw 16 bytes), all scored 0
//! hs:{ns}:exp                   sorted set of the expiring digests, scored by expiry (µs)
//! hs:{ns}:lock:<name hex>       string: the token of the holder of a lock, expiring with its lease
//! ```
//!
//! Keys and values are stored as raw bytes. Every change of an entry
//! updates its hash and both index sets in one Lua script, so writes of one
//! key from many threads or processes never lose data and the index never
//! disagrees with the entries. Expiry is the stash's, not Redis's: an
//! expired entry stays (invisible to `get`, `contains`, `versions`, `len`
//! and the scans, but reported by `scan_meta`) until deleted or pruned;
//! no `PEXPIREAT` is set, so the index cannot point at a vanished entry.
//!
//! # Conditional deletes and locks
//!
//! Eviction and `prune` remove entries with `delete_unless_rewritten`: one
//! script that deletes the entry only if its stored newest write time `t` is
//! not later than the one their scan saw, so a write landing after the scan
//! is never removed by it. `try_lock` (function results computed once across
//! machines) is `SET hs:{ns}:lock:<name> <token> NX PX <lease>` inside a script
//! that also accepts its own token after a retried reply; the token is unique
//! to the attempt (process id, a random per-process number and a count). The
//! guard releases on drop with a compare-and-delete script, so a holder whose
//! lease ran out and was taken over never frees the new holder's lock; a
//! release that fails is ignored (the lock expires with its lease). Lease
//! expiry is the server's clock. Lock keys share the stash's hash slot;
//! `clear` does not touch them.
//!
//! `put_if_absent` (the write of `setdefault`) is one script too: it writes
//! the entry as `put` would (same fields, same index bookkeeping) only if no
//! live entry holds the key, replacing an expired one, so of many writers
//! racing on a missing key, on any machine, exactly one stores. A retry
//! after a lost reply finds its own write id and still reports it stored.
//!
//! # Cluster
//!
//! The `{ns}` hash tag puts all of a stash's keys in one hash slot, which is
//! what makes the scripts (that touch an entry and both index sets) legal on
//! a cluster. The trade-off: one stash lives on one node (and its replicas);
//! a cluster scales out across stashes (sub-stashes included, each has its
//! own namespace), not within one. Redirections and node restarts are
//! handled by the `redis` crate's cluster client.
//!
//! # Costs
//!
//! - `get`, `contains`: one `HMGET` (key, expiry, value), one round trip.
//! - `put`: one `EVALSHA`; `put_many` (and so `update`, batches): one
//!   pipeline of `EVALSHA`s per 1,024 entries (or 16 MiB, whichever comes
//!   first): an `update` of 5,000 entries takes 5 round trips instead of 5,000.
//! - `delete`, `len`: one script each; `len` is `ZCARD all - ZCOUNT exp
//!   -inf now`, never a scan of the server.
//! - scans: two round trips per page (512 keys or metadata, 128 records):
//!   `ZRANGEBYLEX` after the last digest seen, then a pipeline of `HMGET`s.
//!   Nothing stays open between pages; entries written meanwhile may or may
//!   not be seen, none is seen twice.
//! - `clear`: two round trips per 512 entries, one namespace only.
//! - `versions`: one `HGETALL`.
//!
//! # Connections and faults
//!
//! Engines of one process that use the same server share a pool of
//! connections (at most 16 open, [`RedisOptions::max_connections`]); a
//! thread finding them all busy waits for one at most 30 s
//! ([`RedisOptions::checkout_timeout`]), then fails with an error of kind
//! `Unavailable` naming the server. A connection whose operation panics is
//! closed and its place freed, so the pool never shrinks. A stash and its
//! clones are safe to use from any number of threads. (The pool is this
//! crate's own rather than `r2d2` through the `redis` crate's integration:
//! that opens standalone connections without connect or reply timeouts, and
//! makes a checkout against a server that refuses connections wait out the
//! whole checkout timeout instead of failing at once.)
//! Opening a stash pings the server: a server that is not running is a
//! `Backend` error naming the URL. Every URL this crate shows (in errors,
//! and in the `Debug` of [`RedisOptions`] and [`RedisEngine`]) goes through
//! [`stash_engine_api::redact_url`]: the password of `user:password@` and of
//! `?pass=` / `?password=` reads `***`. A connection that
//! breaks (server restarted, timeout) is dropped with every idle one and
//! the operation is tried once more on a new connection, so a restarted
//! server is picked up without restarting the program. Retrying is safe: a
//! write carries an id the script recognises if it was already applied.
//! Defaults: 5 s to connect, 30 s for a reply.
//!
//! # Async (feature `async`)
//!
//! With the feature `async`, the engine is also a
//! [`stash_engine_api::AsyncEngine`] (`Engine::as_async` returns it), which
//! `stash-async`'s `AsyncStash` awaits for `get`, `set`, `contains`,
//! `remove`, `len` and `update`/batches: the same commands, scripts and
//! layout as the sync methods (built by the same functions, sent with
//! `query_async`), so what one API writes the other reads. No thread waits
//! on the server: each tokio runtime gets one multiplexed connection (the
//! `redis` crate's `ConnectionManager`, which reconnects after a server
//! restart; on a cluster, its async cluster connection), opened on first use
//! with the pool's client (so its TLS settings) and the same timeouts: 5 s to
//! connect (a second attempt after a failed one), 30 s for a reply, and one
//! retry of a request whose connection broke. Every task of the runtime
//! shares it, pipelining their requests on one socket. Awaited outside a
//! tokio runtime, an async operation fails with `Unsupported`. The other
//! operations (scans, `clear`, `versions`, locks) stay sync: the async API
//! runs them on tokio's blocking pool.
#![deny(missing_docs)]

mod conn;
mod engine;
#[doc(hidden)]
pub mod fuzzing;
mod scripts;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use stash_engine_api::{
    Engine, EngineContext, EngineFactory, EngineOptions, Error, ErrorKind, OptionReader, OptionWriter,
    Result, redact_url,
};

pub use engine::{RedisEngine, namespace};

use conn::{Pool, Settings, Target, TlsFiles};

/// The server used when neither the configuration nor the environment names one.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379/0";
/// The environment variable naming the server when `StashConfig::url` is unset.
pub const URL_ENV: &str = "HASHSTASH_REDIS_URL";
/// The environment variable that, set to `1` (or `true`), treats the URL as a cluster seed.
pub const CLUSTER_ENV: &str = "HASHSTASH_REDIS_CLUSTER";

/// Opens Redis engines with the default options: the factory to hand to `Stash::open`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redis;

impl EngineFactory for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn display_name(&self) -> &'static str {
        "Redis"
    }

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        Ok(RedisOptions::default().open_engine(context)?)
    }
}

/// The most connections a pool opens unless [`RedisOptions::max_connections`] says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// How long an operation waits for a pooled connection unless
/// [`RedisOptions::checkout_timeout`] says otherwise.
pub const DEFAULT_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// A Redis factory with options: URL, cluster mode, timeouts, pool size,
/// TLS certificates. Engines it opens share one round-trip counter
/// ([`RedisOptions::round_trips`]).
#[derive(Clone)]
pub struct RedisOptions {
    url: Option<String>,
    cluster: Option<bool>,
    connect_timeout: Duration,
    response_timeout: Duration,
    max_connections: usize,
    checkout_timeout: Duration,
    tls_ca_file: Option<PathBuf>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    trips: Arc<AtomicU64>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            url: None,
            cluster: None,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            checkout_timeout: DEFAULT_CHECKOUT_TIMEOUT,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            trips: Arc::default(),
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("cluster", &self.cluster)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("max_connections", &self.max_connections)
            .field("checkout_timeout", &self.checkout_timeout)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .field("round_trips", &self.round_trips())
            .finish()
    }
}

impl RedisOptions {
    /// The defaults: URL from the configuration or the environment, 5 s to connect, 30 s per reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server's URL, used in place of `StashConfig::url` and the environment.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Treats the URL as the seed of a cluster (`true`), or as it reads (`false`);
    /// unset, `HASHSTASH_REDIS_CLUSTER` decides.
    pub fn cluster(mut self, cluster: bool) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// How long to wait for a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for a reply.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The most connections the pool of these options' server opens (16 by
    /// default; at least 1). Engines whose options differ only here get pools
    /// of their own.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How long an operation waits for a connection when all of them are in
    /// use (30 s by default); past it the operation fails with an error of
    /// kind `Unavailable` naming the server.
    pub fn checkout_timeout(mut self, timeout: Duration) -> Self {
        self.checkout_timeout = timeout;
        self
    }

    /// Trusts only the CA certificates of the PEM file at `path` (one or
    /// more) for the server's certificate, in place of the system's trust
    /// store: for a server whose certificate a private CA signed. Needs a
    /// `rediss://` URL.
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca_file = Some(path.into());
        self
    }

    /// Presents the PEM certificate chain at `cert` and the PEM private key
    /// (PKCS #8, PKCS #1 or SEC1) at `key` to a server that asks for client
    /// certificates (mutual TLS). Needs a `rediss://` URL.
    pub fn tls_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls_cert_file = Some(cert.into());
        self.tls_key_file = Some(key.into());
        self
    }

    /// These options with the settings of `options` over them: `cluster` (`true`,
    /// `false`), `connect_timeout_ms`, `response_timeout_ms`, `checkout_timeout_ms`,
    /// `max_connections`, and the paths `tls_ca_file`, `tls_cert_file` and
    /// `tls_key_file` (see [TLS](crate#tls)). The server's URL is not among them: it
    /// belongs in `StashConfig::url`, which hides its password when shown. An
    /// unknown name or a bad value is a `Config` error.
    pub fn with_options(&self, options: &EngineOptions) -> Result<RedisOptions> {
        let mut read = OptionReader::new("redis", options);
        let mut out = self.clone();
        out.cluster = read.get("cluster")?.or(self.cluster);
        out.connect_timeout = read.millis("connect_timeout_ms")?.unwrap_or(self.connect_timeout);
        out.response_timeout = read.millis("response_timeout_ms")?.unwrap_or(self.response_timeout);
        out.checkout_timeout = read.millis("checkout_timeout_ms")?.unwrap_or(self.checkout_timeout);
        out.max_connections = read.get("max_connections")?.unwrap_or(self.max_connections);
        out.tls_ca_file = read.get("tls_ca_file")?.or_else(|| self.tls_ca_file.clone());
        out.tls_cert_file = read.get("tls_cert_file")?.or_else(|| self.tls_cert_file.clone());
        out.tls_key_file = read.get("tls_key_file")?.or_else(|| self.tls_key_file.clone());
        read.finish()?;
        Ok(out)
    }

    /// Round trips to the server made so far by the engines these options opened.
    pub fn round_trips(&self) -> u64 {
        self.trips.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The URL an engine opened with the stash's `url` would use: these options',
    /// `url`, [`URL_ENV`], then [`DEFAULT_URL`].
    pub fn resolve_url(&self, url: Option<&str>) -> String {
        self.url
            .clone()
            .or_else(|| url.map(str::to_owned))
            .or_else(|| std::env::var(URL_ENV).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_URL.to_string())
    }

    /// Opens the engine for the stash `context` describes, checking that the
    /// server answers. Its namespace comes from the stash's logical name
    /// ([`namespace`]); the local data path is not used (a server stash has no
    /// local files).
    pub fn open_engine(&self, context: &EngineContext) -> Result<Arc<RedisEngine>> {
        let this = self.with_options(&context.options)?;
        this.open_configured(context)
    }

    fn open_configured(&self, context: &EngineContext) -> Result<Arc<RedisEngine>> {
        let url = self.resolve_url(context.url.as_deref());
        let cluster = self.cluster.unwrap_or_else(|| {
            std::env::var(CLUSTER_ENV).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
        });
        if self.max_connections == 0 {
            return Err(Error::new(ErrorKind::Config, "max_connections must be at least 1")
                .with_context("url", redact_url(&url)));
        }
        let target = Target::parse(&url, cluster)?;
        let tls = self.tls_files(&target, &url)?;
        let settings = Settings {
            target,
            tls,
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
            max_connections: self.max_connections,
            checkout_timeout: self.checkout_timeout,
        };
        let pool = Pool::get(settings, redact_url(&url))?;
        let engine = RedisEngine::new(
            pool,
            namespace(&context.logical_name),
            self.trips.clone(),
            context.max_value_bytes,
        );
        engine.ping()?;
        Ok(Arc::new(engine))
    }

    /// The TLS files to use for `target`, checked for consistency: a client
    /// certificate needs its key (and the other way round), and any TLS file
    /// needs a TLS URL.
    fn tls_files(&self, target: &Target, url: &str) -> Result<Option<TlsFiles>> {
        let client = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::new(
                    ErrorKind::Config,
                    "the redis options `tls_cert_file` and `tls_key_file` go together: set both or neither",
                )
                .with_context("url", redact_url(url)));
            }
        };
        if self.tls_ca_file.is_none() && client.is_none() {
            return Ok(None);
        }
        if !target.is_tls() {
            return Err(Error::new(
                ErrorKind::Config,
                "the redis TLS options (`tls_ca_file`, `tls_cert_file`, `tls_key_file`) need a rediss:// URL",
            )
            .with_context("url", redact_url(url)));
        }
        Ok(Some(TlsFiles { ca: self.tls_ca_file.clone(), client }))
    }
}

impl EngineFactory for RedisOptions {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn display_name(&self) -> &'static str {
        "Redis"
    }

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        Ok(self.open_engine(context)?)
    }

    fn options(&self) -> EngineOptions {
        let defaults = RedisOptions::default();
        OptionWriter::new()
            .some("cluster", self.cluster)
            .millis("connect_timeout_ms", self.connect_timeout, defaults.connect_timeout)
            .millis("response_timeout_ms", self.response_timeout, defaults.response_timeout)
            .millis("checkout_timeout_ms", self.checkout_timeout, defaults.checkout_timeout)
            .set("max_connections", self.max_connections, defaults.max_connections)
            .some("tls_ca_file", self.tls_ca_file.as_deref().map(std::path::Path::display))
            .some("tls_cert_file", self.tls_cert_file.as_deref().map(std::path::Path::display))
            .some("tls_key_file", self.tls_key_file.as_deref().map(std::path::Path::display))
            .finish()
    }
}
