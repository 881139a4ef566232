//! The `mongo` engine: a stash kept on a MongoDB server, one collection per
//! stash and one document per key, shared by every process that reaches the
//! server.
//!
//! ```no_run
//! use std::sync::Arc;
//! use stash_core::{Stash, StashConfig};
//! use stash_engine_mongo::Mongo;
//!
//! let mut config = StashConfig::default();
//! config.engine = "mongo".into();
//! config.url = Some("mongodb://127.0.0.1:27017".into()); // else $HASHSTASH_MONGO_URL, else this default
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
//! collection, named from its configuration, not from where it would live on
//! this machine ([`collection_name`]): its
//! `logical_name` (`StashConfig::logical_name` in `stash-core`) is the explicit
//! `config.namespace` if set (`namespace("team-cache")` on the builder), else
//! the root as configured plus the dbname (which carries the sub-stash path),
//! followed by `<engine>.<serializer>.<compress>[+b64]`. The collection is
//! `hs_`, the last two parts of that name made safe (at most 64 bytes), `_`,
//! and 24 hex digits of the name's BLAKE3 hash, e.g.
//! `hs_db3.mongo.hashstash.lz4_5f0c…`, at most 92 bytes, within every server
//! version's name limits (large values also use `<collection>.chunks`, locks
//! `<collection>.locks`). So two machines, or two users of one machine, with
//! the same `root_dir` (relative roots count as written: `default_stash` is
//! the same everywhere, whatever `$HOME`, `$HASHSTASH_ROOT_DIR` or the
//! working folder), `dbname`, serializer and compressor share a collection,
//! which is how a server cache is shared; an absolute `root_dir` shares only
//! with the same absolute path. Different serializers or compressors never
//! share one, nor do stashes with different names; `clear()` drops only its
//! own.
//!
//! # Document layout
//!
//! ```text
//! {
//!   _id:        ObjectId(digest[0..12]),     // the slot
//!   digest:     BinData(0, 16 bytes),        // the full key digest
//!   key:        BinData(0, encoded key),
//!   versions:   [ { at: Int64 micros, value: BinData(0, encoded value) }         // inline
//!               | { at: Int64 micros, size: Int64, chunks: [ObjectId, ...] },    // in chunks
//!               ... ],                       // oldest first; one unless in append mode
//!   written_at: Int64,                       // the newest version's time (micros since the epoch)
//!   expires_at: Int64 | null,                // set by the newest write
//!   count:      Int64,                       // how many versions
//!   bytes:      Int64,                       // value bytes over all versions
//!   inline:     Int64,                       // value bytes stored in this document
//!   chunk_ids:  [ObjectId, ...]              // every chunk the versions use
//! }
//! ```
//!
//! Keys and values are stored as BSON binary, never base64. Every read
//! compares the stored `digest` and `key` with the ones asked for: a slot
//! holding another key (a damaged document, or two digests sharing their
//! first 12 bytes) is a `Corrupt` error ([`stash_engine_api::engine::key_mismatch`]),
//! never another key's value; so is a write or delete aimed at it. Times
//! come from [`stash_engine_api::clock::unique_micros`] on the writing machine.
//! Integers may come back from a server as Int32, Int64 or integral
//! doubles; all are read.
//!
//! Writes are `update` statements that upsert by `_id` with the filter
//! `{_id, digest, key}`: a replace `$set`s the one version (only while the
//! entry has no chunks), an append `$push`es onto `versions` (kept sorted by
//! `at`) and `$inc`s `count`, `bytes` and `inline` (only while the entry is
//! live and stays within its inline budget), so concurrent appends from many
//! threads or processes lose nothing. When the filter does not match an
//! existing `_id` the server reports a duplicate key, and the entry is
//! written on its own: the engine reads the slot and tells apart another
//! key (an error), an expired entry (append mode restarts its history, as
//! the other engines do), chunks to remove, and a concurrent first insert
//! (retried). Replacing such an entry is a `findAndModify` that returns the
//! chunk ids it replaced, which are then removed.
//!
//! # The 16 MiB rule
//!
//! A MongoDB document (and a server reply batch) holds at most 16 MiB, so:
//!
//! - values over [`INLINE_VALUE_BYTES`] (4 MiB) go to chunk documents of
//!   [`CHUNK_BYTES`] (4 MiB) in the companion collection `<collection>.chunks`
//!   (`{_id, owner, at, n, data: BinData}`), written before the entry that
//!   lists them and removed by the write or delete that drops the version;
//!   a value of any size fits;
//! - an entry keeps at most [`INLINE_BUDGET_BYTES`] (12 MiB) of key and
//!   inline values: an append past it stores its value in chunks, however small;
//! - keys are stored whole, at most [`MAX_KEY_BYTES`] (1 MiB): a longer one is
//!   an `Unsupported` error giving its size, and nothing is written.
//!
//! A process that dies between writing chunks and writing their entry
//! leaves unreferenced chunks; `clear` drops them with the rest. So may a
//! write that fails with its reply lost (a broken connection, a timeout):
//! its chunks stay, since the entry the server applied (or will apply, if
//! the request lands late) may list them. Very many
//! appended versions can still outgrow a document (about 100 bytes per
//! chunked version); a real server then refuses the write (`Backend` error).
//!
//! # Costs
//!
//! One round trip each for `get`, `contains` (without values), `versions`
//! and `put` of a value up to 4 MiB, plus one per 12 MiB of chunks written
//! or read for larger values. An entry written alone (see above) costs a
//! read and a write. `delete` is one `findAndModify` (plus a read when
//! nothing matched, to report a key mismatch, and a delete of its chunks if
//! it had any). `put_many` sends ordered `update` commands of up to 250
//! statements or 8 MiB each: 5,000 entries take 20 round trips instead of
//! 5,000 (about 200 times fewer, measured with command monitoring).
//! `len` is an estimated document count (from the collection's metadata, no
//! scan) less a count of expired documents through the `expires_at` index
//! (the two are not one snapshot under concurrent writes). `scan_keys` and
//! `scan_meta` read pages of 1,000 documents without values in `_id` order;
//! `scan` reads such a page of ids and sizes, then the documents by `_id` in
//! groups of about 8 MiB; each page is a new `find` after the last `_id`, so
//! no server cursor stays open between pages and the caller may write while
//! it iterates. `get` and `versions` read every kept version of the key.
//! Opening a stash creates the `expires_at` index (one round trip, which
//! also checks that the server answers); `clear` drops both collections and
//! recreates the index.
//!
//! # Connections and errors
//!
//! One driver client (a connection pool) per URL is shared by every stash of
//! the process. Unless the URL sets its own, the server selection timeout
//! is 5 s ([`MongoOptions::timeout`]) and the connect timeout 10 s, so a
//! server that is down fails `open` (and any later operation) within about
//! 5 s with a `Backend` error whose message names the URL (any password
//! shown as `***`: every URL this crate shows, in errors and in the `Debug`
//! of [`MongoOptions`] and [`MongoEngine`], goes through
//! [`stash_engine_api::redact_url`]). A server that takes a command and
//! never answers fails it after the reply timeout, 60 s
//! ([`MongoOptions::reply_timeout`]; all but the scans' cursors and the
//! locks). A malformed URL is a `Config` error. `mongodb+srv://`
//! URLs need this crate's `srv` feature. TLS (`tls=true`) uses rustls.
//!
//! # Async I/O (feature `async`)
//!
//! The engine's operations are written once, as futures on the driver's
//! async API. Its sync methods run them to completion on a small runtime of
//! this crate (two threads, started on first use); with the feature `async`,
//! `Engine::as_async` returns them as a `stash_engine_api::AsyncEngine`
//! (`get`, `put`, `put_many`, `delete`, `contains`, `len`) that the async
//! stash (`stash-async`: `stash.asynchronous()`) awaits on its own tokio
//! runtime, without a blocking thread: the same documents, chunks, index,
//! errors and costs, through the same client (one pool, the same options
//! and timeouts), so each API reads what the other writes. Scans, locks,
//! `clear` and the other methods stay sync (the async stash runs them on
//! its blocking pool).
//!
//! The driver spawns a client's monitors and connection pools on the tokio
//! runtime current where the client is made, so a client made inside a
//! caller's runtime would stop working when that runtime shuts down. This
//! crate makes its clients when a stash is opened, inside its own runtime,
//! which lives as long as the process: the futures may then be polled by
//! any runtime, multi-thread or current-thread, including runtimes started
//! after the one that opened the stash has gone. The caller's runtime needs
//! its time driver (`enable_all` or `enable_time`): the driver's timeouts
//! are tokio timers. Nothing the async methods await waits without a
//! timeout: selecting a server and connecting have the driver's (above),
//! and every command's reply the engine's own
//! ([`MongoOptions::reply_timeout`], 60 s by default), since the driver has
//! none (it does not support `socketTimeoutMS`). The sync methods written
//! as the same futures have it too; the scans' cursors and the locks, on
//! the driver's sync API, do not.
//!
//! Measured with `cargo run --release -p stash-engine-mongo --features async
//! --example async_gets 12800 16` against CongoDB on a 2-core machine shared
//! with other builds (load 11 to 13, so the figures vary by half from run
//! to run; six runs): 64 tasks on the native futures did 6,300 to 12,900
//! gets/s, 64 threads on the sync API 4,800 to 11,200 (in each run the
//! tasks did 1.0 to 1.4 times the threads' gets), and 64 tasks handing each
//! get to tokio's blocking pool 2,600 to 4,200 (the native tasks did 1.8 to
//! 3.8 times theirs). CongoDB, one Node.js process, is the limit here: with
//! 1,000 keys (it scans the collection for every query) native tasks and
//! sync threads both do about 1,600 gets/s, the hand-off 950.
//!
//! # Conditional deletes and locks
//!
//! Eviction and `prune` remove entries with `delete_unless_rewritten`: one
//! `findAndModify` deleting the document only if it holds the key and its
//! `written_at` is not later than the one their scan saw (then its chunks),
//! so a write landing after the scan is never removed by it. `try_lock`
//! (function results computed once across machines) inserts
//! `{_id, name, token, expires_at}` into `<collection>.locks` (`_id`: 12 bytes
//! of the BLAKE3 hash of the name; `token`: a fresh ObjectId); a duplicate
//! `_id` means the lock is held, unless its `expires_at` has passed, when an
//! update conditioned on `expires_at < now` takes it over (only one of several
//! takers matches). The guard deletes `{_id, token}` on drop, so a holder
//! whose lease ran out and was taken over never frees the new holder's lock;
//! a release that fails is ignored (the lock expires with its lease). Lease
//! times come from each machine's clock: machines sharing a stash should keep
//! their clocks synchronised (a clock ahead by more than a lease takes locks
//! over early). `clear` does not touch locks.
//!
//! `put_if_absent` (the write of `setdefault`) inserts the whole document,
//! which fails on the slot's existing `_id`; if the slot holds an expired
//! entry of the key, a `findAndModify` conditioned on `expires_at <= now`
//! takes it over (only one of several takers matches) and removes its chunks.
//! A value stored in chunks has them written first under fresh ids, so the
//! winner's document never names a missing chunk; a racer that does not
//! store removes only its own chunks (a process killed in between leaves
//! unreferenced chunks, as `put` can).
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
//! services up` starts CongoDB 2.2.0 (from the npm package
//! `@push.rocks/smartmongo`), a MongoDB wire-protocol server in TypeScript
//! keeping data in memory. What this engine relies on works there, with
//! caveats:
//!
//! - `_id`s must be ObjectIds (hence the digest-derived ObjectId), and unique
//!   indexes other than `_id` are not enforced (this engine needs none).
//! - Its update engine turns BSON binary into plain objects when it copies a
//!   document, corrupting every binary field an update touches; xtask
//!   patches that copy at install so binary survives, as on MongoDB.
//! - Every query, update and count scans the whole collection: a statement
//!   costs O(entries) on the server, so `put_many` into a large collection
//!   is slow there (hence 250 statements per command: longer commands block
//!   the server past the driver's monitor timeout).
//! - A reply over about 16 MiB fails on the server (`offset is out of
//!   bounds`), and documents are not limited to 16 MiB: the engine keeps both
//!   limits itself, so behaviour is the same as on MongoDB.
//! - A duplicate `_id` is reported as code 1 with the message "Duplicate key
//!   error" (the engine accepts either that or code 11000). Integers come
//!   back as doubles or Int32. No persistence, authentication or transactions.
//! - The tests cover what this engine uses, on CongoDB only; a real MongoDB
//!   was not available to run them against.
#![deny(missing_docs)]

#[cfg(feature = "async")]
mod asynchronous;
mod chunks;
mod client;
mod engine;
#[doc(hidden)]
pub mod fuzzing;
mod layout;
mod off_runtime;
mod scan;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use stash_engine_api::{
    Engine, EngineContext, EngineFactory, EngineOptions, OptionReader, OptionWriter, Result,
};

pub use engine::MongoEngine;
pub use layout::{CHUNK_BYTES, INLINE_BUDGET_BYTES, INLINE_VALUE_BYTES, MAX_DOCUMENT_BYTES, MAX_KEY_BYTES};

/// The environment variable naming the server when the configuration does not.
pub const URL_ENV: &str = "HASHSTASH_MONGO_URL";

/// The server used when neither the configuration nor [`URL_ENV`] names one.
pub const DEFAULT_URL: &str = "mongodb://127.0.0.1:27017";

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "hashstash";

/// Server selection timeout, unless the URL sets its own (the connect timeout is at least 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the engine waits for the reply to one command once it is sent
/// ([`MongoOptions::reply_timeout`]): the driver has no such timeout of its own.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(60);

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

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        MongoOptions::default().open(context)
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
/// let mut config = StashConfig::default();
/// config.engine = "mongo".into();
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
    reply_timeout: Option<Duration>,
    commands: Option<Arc<AtomicU64>>,
}

impl fmt::Debug for MongoOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoOptions")
            .field("url", &self.url.as_deref().map(stash_engine_api::redact_url))
            .field("database", &self.database)
            .field("timeout", &self.timeout)
            .field("reply_timeout", &self.reply_timeout)
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

    /// Server selection timeout (5 s by default) unless the URL sets
    /// `serverSelectionTimeoutMS`; the connect timeout is the larger of this
    /// and 10 s unless the URL sets `connectTimeoutMS`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long to wait for the reply to one command once it is sent (60 s
    /// by default; a large write or value takes one command per 250 entries
    /// or 12 MiB of chunks, each with this time). A server that takes a
    /// request and never answers (frozen, or cut off without the connection
    /// closing) fails the call with a `Backend` error after it, in the sync
    /// and async APIs alike; the request may still have landed, as when a
    /// connection breaks. The driver's own timeouts cover only selecting a
    /// server and connecting.
    pub fn reply_timeout(mut self, timeout: Duration) -> Self {
        self.reply_timeout = Some(timeout);
        self
    }

    /// Counts every command sent to the server (round trips) into `counter`.
    /// Stashes opened with this option get a client of their own instead of
    /// the shared one, so the count is theirs alone.
    pub fn count_commands(mut self, counter: Arc<AtomicU64>) -> Self {
        self.commands = Some(counter);
        self
    }

    /// The URL a stash given `url` uses: these options', `url`, [`URL_ENV`],
    /// then [`DEFAULT_URL`].
    pub fn resolve_url(&self, url: Option<&str>) -> String {
        self.url
            .clone()
            .or_else(|| url.map(str::to_owned))
            .or_else(|| std::env::var(URL_ENV).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_URL.to_string())
    }

    /// Opens the engine for the stash `context` describes (its typed form, for
    /// callers that want the collection's name). The collection comes from the
    /// stash's logical name ([`collection_name`]); the local data path is not
    /// used (a server stash has no local files).
    pub fn open_engine(&self, context: &EngineContext) -> Result<MongoEngine> {
        self.with_options(&context.options)?.open_configured(context)
    }

    /// These options with the settings of `options` over them: `database`,
    /// `timeout_ms` and `reply_timeout_ms`. The server's URL is not among them: it belongs in
    /// `StashConfig::url`, which hides its password when shown. An unknown name or a
    /// bad value is a `Config` error.
    pub fn with_options(&self, options: &EngineOptions) -> Result<MongoOptions> {
        let mut read = OptionReader::new("mongo", options);
        let mut out = self.clone();
        out.database = read.get("database")?.or_else(|| self.database.clone());
        out.timeout = read.millis("timeout_ms")?.or(self.timeout);
        out.reply_timeout = read.millis("reply_timeout_ms")?.or(self.reply_timeout);
        read.finish()?;
        Ok(out)
    }

    fn open_configured(&self, context: &EngineContext) -> Result<MongoEngine> {
        let url = self.resolve_url(context.url.as_deref());
        let conn = client::connect(&url, self.timeout.unwrap_or(DEFAULT_TIMEOUT), self.commands.clone())?;
        let database = self
            .database
            .clone()
            .or_else(|| conn.url_database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let reply_timeout = self.reply_timeout.unwrap_or(DEFAULT_REPLY_TIMEOUT);
        MongoEngine::open(
            conn,
            &database,
            &collection_name(&context.logical_name),
            context.max_value_bytes,
            reply_timeout,
        )
    }
}

impl EngineFactory for MongoOptions {
    fn name(&self) -> &'static str {
        "mongo"
    }

    fn display_name(&self) -> &'static str {
        "Mongo"
    }

    fn open(&self, context: &EngineContext) -> Result<Arc<dyn Engine>> {
        // Callable from a tokio runtime's thread too (see `off_runtime`).
        Ok(Arc::new(off_runtime::OffRuntime(off_runtime::call(|| self.open_engine(context))?)))
    }

    fn options(&self) -> EngineOptions {
        OptionWriter::new()
            .some("database", self.database.as_ref())
            .some("timeout_ms", self.timeout.map(|t| t.as_millis()))
            .some("reply_timeout_ms", self.reply_timeout.map(|t| t.as_millis()))
            .finish()
    }
}

/// The collection of the stash whose logical name is `logical` (see
/// `StashConfig::logical_name` in `stash-core`), the same on every machine that configures
/// it alike: `hs_`, the last two parts of the logical name (the dbname's last folder, or
/// the explicit namespace, then `<engine>.<serializer>.<compress>`) joined
/// by `.`, made safe and cut to 64 bytes, `_`, and 24 hex digits of the
/// BLAKE3 hash of the whole logical name. At most 92 bytes of `[A-Za-z0-9._+-]`,
/// so within MongoDB's rules (no `$`, no NUL, not `system.`, and with the
/// database and the `.chunks` / `.locks` suffixes far under the 120 bytes
/// of the oldest servers' limit).
///
/// ```
/// use stash_core::StashConfig;
/// let mut config = StashConfig::default();
/// config.engine = "mongo".into();
/// config.dbname = "db3".into();
/// config.compress = stash_core::Compression::Lz4;
/// let name = stash_engine_mongo::collection_name(&config.logical_name());
/// assert!(name.starts_with("hs_db3.mongo.hashstash.lz4_"), "{name}");
/// assert_eq!(name.len(), "hs_db3.mongo.hashstash.lz4_".len() + 24);
/// let mut team = config;
/// team.namespace = Some("team-cache".into());
/// assert!(stash_engine_mongo::collection_name(&team.logical_name()).starts_with("hs_team-cache.mongo.hashstash.lz4_"));
/// ```
pub fn collection_name(logical: &str) -> String {
    let mut tail: Vec<&str> = logical.rsplit('/').filter(|p| !p.is_empty()).take(2).collect();
    tail.reverse();
    let mut readable: String = tail
        .join(".")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') { c } else { '_' })
        .collect();
    readable.truncate(64);
    let hash = blake3::hash(logical.as_bytes());
    let mut hex = String::with_capacity(24);
    for b in &hash.as_bytes()[..12] {
        hex.push_str(&format!("{b:02x}"));
    }
    if readable.is_empty() { format!("hs_{hex}") } else { format!("hs_{readable}_{hex}") }
}
