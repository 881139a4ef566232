//! The `mongo` engine: a stash kept on a MongoDB server, one collection per
//! stash and one document per key, shared by every process that reaches the
//! server.
//!
//! ```no_run
//! use std::sync::Arc;
//! use stash_core::{Stash, StashConfig};
//! use stash_engine_mongo::Mongo;
//!
//! let config = StashConfig {
//!     engine: "mongo".into(),
//!     url: Some("mongodb://127.0.0.1:27017".into()), // else $HASHSTASH_MONGO_URL, else this default
//!     ..Default::default()
//! };
//! let stash = Stash::open(config, Arc::new(Mongo))?;
//! stash.set("cat", &"meow")?;
//! assert_eq!(stash.get::<_, String>("cat")?.as_deref(), Some("meow"));
//! # Ok::<(), stash_core::Error>(())
//! ```
//!
//! # Where a stash lives
//!
//! The server is `config.url`, else the environment variable
//! `HASHSTASH_MONGO_URL`, else `mongodb://127.0.0.1:27017` ([`MongoOptions::url`]
//! overrides all three). The database is the one named in the URL's path
//! (`mongodb://host/mydb`), else `hashstash`. Each stash gets its own
//! collection, named from the stash's data path
//! (`.../<dbname>/<engine>.<serializer>.<compress>/data.db`): `hs_`, the last
//! two folder names made safe (at most 64 bytes), `_`, and 24 hex digits of
//! the path's BLAKE3 hash, e.g. `hs_db3.mongo.hashstash.lz4_5f0c…`, at most
//! 93 bytes, within every server version's name limits. Two stashes never
//! share a collection; `clear()` drops only its own. The same root and
//! `dbname` on two machines name the same collection: that is how a server
//! cache is shared.
//!
//! # Document layout
//!
//! ```text
//! {
//!   _id:        ObjectId(digest[0..12]),     // the slot
//!   digest:     BinData(0, 16 bytes),        // the full key digest
//!   key:        BinData(0, encoded key),
//!   versions:   [ { at: Int64 micros, value: BinData(0, encoded value) }, ... ],
//!                                            // oldest first; one unless in append mode
//!   written_at: Int64,                       // the newest version's time (micros since the epoch)
//!   expires_at: Int64 | null,                // set by the newest write
//!   count:      Int64,                       // how many versions
//!   bytes:      Int64                        // value bytes over all versions
//! }
//! ```
//!
//! Keys and values are stored as BSON binary, never base64. Every read
//! compares the stored `digest` and `key` with the ones asked for: a slot
//! holding another key (a damaged document, or two digests sharing their
//! first 12 bytes) is a `Corrupt` error ([`stash_core::engine::key_mismatch`]),
//! never another key's value. Times come from
//! [`stash_core::clock::unique_micros`] on the writing machine. Integers may
//! come back from a server as Int32, Int64 or integral doubles; all are read.
//!
//! Writes are `update` statements that upsert by `_id` with the filter
//! `{_id, digest, key}`: a replace `$set`s the one version, an append
//! `$push`es onto `versions` (kept sorted by `at`) and `$inc`s `count` and
//! `bytes`, so concurrent appends from many threads or processes lose
//! nothing. When the filter does not match an existing `_id` the server
//! reports a duplicate key; the engine then reads the slot and tells apart
//! another key (an error), an expired entry (append mode restarts its
//! history, as the other engines do) and a concurrent first insert (retried).
//!
//! # The 16 MiB rule
//!
//! A MongoDB document holds at most 16 MiB. An entry's key plus all its kept
//! values may take at most [`MAX_ENTRY_BYTES`] (16 MiB less 64 KiB, left for
//! the document's fields and per-version overhead). A write past it fails
//! with an `Unsupported` error giving the size, and writes nothing: a `put`
//! or `put_many` with a too-large item is refused before anything is sent,
//! and an append that would grow an entry past the limit is refused (checked
//! on the server by the append's filter). Entries are not chunked: store
//! bigger values on a file engine. (Thousands of tiny appended versions can
//! still exceed the per-version headroom; a real server then refuses the
//! write with a `Backend` error.)
//!
//! # Costs
//!
//! One round trip each for `get`, `contains` (without values), `versions`
//! and `put` (plus one read and one retry when a duplicate `_id` has to be
//! sorted out); `delete` is one `findAndModify`, plus one read when nothing
//! matched (to report a key mismatch). `put_many` sends ordered `update`
//! commands of up to 1,000 statements or 8 MiB each: 5,000 entries take 5
//! round trips instead of 5,000. `len` is an estimated document count (from
//! the collection's metadata, no scan) less a count of expired documents
//! through the `expires_at` index. `scan` reads pages of 256 documents in
//! `_id` order (replies of 32), `scan_keys` and `scan_meta` pages of 1,000
//! without the values; each page is a new `find` after the last `_id`, so
//! no server cursor stays open between pages and the caller may write while
//! it iterates. `get` and `versions` read every kept version of the key.
//! Opening a stash creates the `expires_at` index (one round trip, which
//! also checks the server answers); `clear` drops the collection and
//! recreates the index.
//!
//! # Connections and errors
//!
//! One driver client (a connection pool) per URL is shared by every stash of
//! the process. Unless the URL sets `serverSelectionTimeoutMS` and
//! `connectTimeoutMS`, both are 5 s ([`MongoOptions::timeout`]), so a server
//! that is down fails `open` (and any later operation) within seconds with a
//! `Backend` error whose message names the URL (any password shown as
//! `***`). A malformed URL is a `Config` error. `mongodb+srv://` URLs need
//! this crate's `srv` feature. TLS (`tls=true`) uses rustls.
//!
//! # Expiry
//!
//! An entry whose `expires_at` has passed is invisible to `get`, `contains`,
//! `versions`, `len`, `scan` and `scan_keys`, still reported by `scan_meta`,
//! and removed by `delete` or by being rewritten. Expired documents stay in
//! the collection until then (no TTL index: expiry is in microseconds and
//! the stash's `prune` decides when to remove them).
//!
//! # Testing against CongoDB
//!
//! The tests run against any server in `HASHSTASH_MONGO_URL`; `cargo xtask
//! services up` starts CongoDB (from the npm package
//! `@push.rocks/smartmongo`), a MongoDB wire-protocol server in TypeScript
//! keeping data in memory. What this engine relies on works there, with
//! caveats:
//!
//! - `_id`s must be ObjectIds (hence the digest-derived ObjectId), and unique
//!   indexes other than `_id` are not enforced (this engine needs none).
//! - Every query, update and count scans the whole collection (no index
//!   use): `put_many` of n entries into a collection of m costs O(n·m) on the
//!   server, fine for tests, not for production.
//! - Documents are not limited to 16 MiB and batches are not limited in
//!   bytes; the engine enforces its own limit, so behaviour is the same.
//! - Integers come back as doubles or Int32 (read transparently), and there
//!   is no persistence, authentication or transactions.
//! - Server-side checks differ from MongoDB's in details: the tests cover
//!   what this engine uses, on CongoDB only.
#![deny(missing_docs)]

mod client;
mod engine;
mod layout;
mod scan;

use std::fmt;
use std::path::{Component, Path};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use stash_core::{Engine, EngineFactory, Result, StashConfig};

pub use engine::MongoEngine;
pub use layout::{MAX_DOCUMENT_BYTES, MAX_ENTRY_BYTES};

/// The environment variable naming the server when the configuration does not.
pub const URL_ENV: &str = "HASHSTASH_MONGO_URL";

/// The server used when neither the configuration nor [`URL_ENV`] names one.
pub const DEFAULT_URL: &str = "mongodb://127.0.0.1:27017";

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "hashstash";

/// Server selection and connect timeout, unless the URL sets its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens MongoDB engines with the default options: the factory to hand to `Stash::open`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mongo;

impl EngineFactory for Mongo {
    fn name(&self) -> &'static str {
        "mongo"
    }

    fn display_name(&self) -> &'static str {
        "Mongo"
    }

    fn open(&self, path: &Path, config: &StashConfig) -> Result<Arc<dyn Engine>> {
        MongoOptions::default().open(path, config)
    }
}

/// MongoDB settings; also a factory, for stashes that want them.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use stash_core::{Stash, StashConfig};
/// use stash_engine_mongo::MongoOptions;
///
/// let commands = Arc::new(AtomicU64::new(0));
/// let options = MongoOptions::new()
///     .url("mongodb://127.0.0.1:27017")
///     .database("caches")
///     .timeout(Duration::from_secs(2))
///     .count_commands(commands.clone());
/// let config = StashConfig { engine: "mongo".into(), ..Default::default() };
/// let stash = Stash::open(config, Arc::new(options))?;
/// stash.update((0..5_000).map(|i| (i, i)))?;
/// assert!(commands.load(Ordering::Relaxed) < 20);
/// # Ok::<(), stash_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct MongoOptions {
    url: Option<String>,
    database: Option<String>,
    timeout: Option<Duration>,
    commands: Option<Arc<AtomicU64>>,
}

impl fmt::Debug for MongoOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoOptions")
            .field("url", &self.url.as_deref().map(client::redact))
            .field("database", &self.database)
            .field("timeout", &self.timeout)
            .field("count_commands", &self.commands.is_some())
            .finish()
    }
}

impl MongoOptions {
    /// The defaults: the URL from the configuration or the environment, the
    /// URL's database or `hashstash`, 5 s timeouts.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server, overriding `config.url` and [`URL_ENV`].
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The database, overriding the one in the URL.
    pub fn database(mut self, name: impl Into<String>) -> Self {
        self.database = Some(name.into());
        self
    }

    /// Server selection and connect timeout (5 s by default) unless the URL
    /// sets `serverSelectionTimeoutMS` / `connectTimeoutMS`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Counts every command sent to the server (round trips) into `counter`.
    /// Stashes opened with this option get a client of their own instead of
    /// the shared one, so the count is theirs alone.
    pub fn count_commands(mut self, counter: Arc<AtomicU64>) -> Self {
        self.commands = Some(counter);
        self
    }

    /// The URL a stash with `config` uses: these options, `config.url`,
    /// [`URL_ENV`], then [`DEFAULT_URL`].
    pub fn resolve_url(&self, config: &StashConfig) -> String {
        self.url
            .clone()
            .or_else(|| config.url.clone())
            .or_else(|| std::env::var(URL_ENV).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_URL.to_string())
    }

    /// Opens the engine for the stash at `path` (its typed form, for callers
    /// that want the collection's name).
    pub fn open_engine(&self, path: &Path, config: &StashConfig) -> Result<MongoEngine> {
        let url = self.resolve_url(config);
        let conn = client::connect(&url, self.timeout.unwrap_or(DEFAULT_TIMEOUT), self.commands.clone())?;
        let database = self
            .database
            .clone()
            .or_else(|| conn.url_database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        MongoEngine::open(conn, &database, &collection_name(path))
    }
}

impl EngineFactory for MongoOptions {
    fn name(&self) -> &'static str {
        "mongo"
    }

    fn display_name(&self) -> &'static str {
        "Mongo"
    }

    fn open(&self, path: &Path, config: &StashConfig) -> Result<Arc<dyn Engine>> {
        Ok(Arc::new(self.open_engine(path, config)?))
    }
}

/// The collection of the stash whose data path is `path`: `hs_`, the last
/// two folder names (without a final `data.db`) made safe and cut to 64
/// bytes, `_`, and 24 hex digits of the BLAKE3 hash of the whole path.
///
/// ```
/// use std::path::Path;
/// let name = stash_engine_mongo::collection_name(Path::new("/c/db3/mongo.hashstash.lz4/data.db"));
/// assert!(name.starts_with("hs_db3.mongo.hashstash.lz4_"), "{name}");
/// assert_eq!(name.len(), "hs_db3.mongo.hashstash.lz4_".len() + 24);
/// ```
pub fn collection_name(path: &Path) -> String {
    let mut names: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if names.last().is_some_and(|n| n == "data.db") {
        names.pop();
    }
    let tail = names.len().saturating_sub(2);
    let mut readable: String = names[tail..]
        .join(".")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') { c } else { '_' })
        .collect();
    readable.truncate(64);
    let hash = blake3::hash(path.as_os_str().as_encoded_bytes());
    let mut hex = String::with_capacity(24);
    for b in &hash.as_bytes()[..12] {
        hex.push_str(&format!("{b:02x}"));
    }
    if readable.is_empty() { format!("hs_{hex}") } else { format!("hs_{readable}_{hex}") }
}
