//! # stash-async
//!
//! The hashstash dictionary for tokio programs: [`AsyncStash`] has the
//! methods of [`Stash`] as `async fn`s, streams `items()`, `keys()` and
//! `values()` as [`futures_core::Stream`]s, and runs async functions once per
//! argument tuple ([`AsyncStash::run_async`], with single flight across tasks)
//! or over many inputs ([`AsyncStash::map_async`], with a concurrency limit).
//!
//! ```
//! # use std::sync::Arc;
//! use stash_async::AsyncStashExt;
//! # let dir = tempfile::tempdir()?;
//! # let mut cfg = stash_core::StashConfig::default();
//! # cfg.root_dir = dir.path().into();
//! # cfg.engine = "memory".into();
//! # let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
//! # let rt = tokio::runtime::Runtime::new()?;
//! # rt.block_on(async {
//! let cache = stash.asynchronous(); // or AsyncStash::from(stash.clone())
//! cache.set("answer", &42).await?;
//! assert_eq!(cache.get::<_, i32>("answer").await?, Some(42));
//! assert_eq!(stash.get::<_, i32>("answer")?, Some(42)); // one stash, two APIs
//! # Ok::<(), stash_core::Error>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How it works, and what it costs
//!
//! Keys and values are serialized and compressed on the calling task (CPU
//! work proportional to their size, the same work the sync API does), so keys
//! can be borrowed: `cache.get(&key)` needs no `'static` key. Then one of three
//! paths, chosen per stash by [`Engine::as_async`](stash_core::Engine::as_async)
//! and the engine's [`Capabilities`](stash_core::Capabilities):
//!
//! - **Native**, on the server engines built with async I/O (redis and mongo
//!   with the facade's `async` feature, or their own `async` features): `get`,
//!   `set`, `set_with`, `contains`, `remove`, `len`, `is_empty`, `update` and
//!   batch commits await the engine's [`AsyncEngine`] on the task itself,
//!   through the stash's life cycle layer (counters and time to live as for
//!   sync calls), and decode on the task. No thread waits on the server: on
//!   redis, every task of a runtime shares one multiplexed connection. A stash
//!   with a bound (`max_entries`, `max_bytes`) takes the blocking pool instead,
//!   because eviction after a write is sync I/O.
//! - **On the task**, for the reads of engines that serve them from memory
//!   ([`Capabilities::inline_reads`](stash_core::Capabilities::inline_reads):
//!   memory, and lmdb, whose reads are lock-free snapshots of its memory map
//!   that never wait for a writer or an fsync): `get`, `contains`, `len` and
//!   `is_empty` call the engine directly, as the sync API does. The read
//!   takes microseconds, less than a hop to the blocking pool and back, and
//!   blocks the worker no longer than the hop would have.
//! - **The blocking pool** for everything else: the other embedded engines,
//!   writes on every embedded engine, bounded server stashes, and the operations with no async form on any engine (`pop`,
//!   `setdefault`, `get_all`, the streams, `clear`, `stats`, `prune`, `sub`,
//!   `tmp`, function results) run on tokio's blocking pool through
//!   [`tokio::task::spawn_blocking`], so no runtime worker ever waits on a
//!   disk or a server.
//!
//! The hand-off costs a thread wake-up there and back per call:
//! `cargo run --release -p stash-async --example latency` prints the
//! per-operation latency of the sync and async APIs side by side on the
//! memory, lmdb and sqlite engines (and redis when `HASHSTASH_REDIS_URL` is
//! set), and the throughput of 64 concurrent callers. Measured on this
//! project's 2-core machine while other builds ran (so noisy; µs per call, one
//! caller): memory `get` 2.4 sync against 17 to 90 async, lmdb `get` 2.8
//! against 27, sqlite `get` 5.9 against 43; an lmdb `set` (a durable commit,
//! milliseconds) costs the same either way. With 64 concurrent callers doing
//! gets, 64 tasks reached 57k/s on memory, 44k/s on lmdb and 33k/s on sqlite,
//! against 439k/s, 182k/s and 51k/s for 64 threads on the sync API: for
//! microsecond engine calls the hop dominates, so a latency-critical loop over
//! an embedded stash can call the sync API inside one `spawn_blocking`
//! ([`AsyncStash::with_sync`]) rather than await each call. Throughput with
//! many tasks is bounded by the blocking pool (512 threads by default), as it
//! would be with that many OS threads.
//!
//! On redis the native path pays off under concurrency: with 64 callers
//! doing gets against a local server, 64 tasks on a 2-worker runtime reached
//! 56k to 179k gets/s (three runs) against 25k to 31k/s for 64 threads on
//! the sync API, whose pool holds 16 connections: 2.3 to 5.8 times as many,
//! with no thread per waiting call. One caller at a time, a native call
//! costs about what a sync one does (a hop to the connection's driver task
//! instead of a blocking socket read: 24 to 200 µs either way on this loaded
//! machine).
//!
//! Every call must be awaited inside a tokio runtime (any flavor: a
//! current-thread runtime works, since the blocking pool is separate).
//!
//! ## Same stash, same formats, same errors
//!
//! An `AsyncStash` is a [`Stash`] handle: what one API writes the other reads
//! (`cache.stash()` gives the sync handle, `AsyncStash::from(stash)` the async
//! one, both sharing one engine). Errors are [`stash_core::Error`]s of the
//! same kinds with the same context (stash, digest). Function results of
//! [`run_async`](AsyncStash::run_async) live in the function stashes the sync
//! `run` uses (`stashed_result/<name>`), so a sync `run_named("f", ..)` and an
//! async `run_async_named("f", ..)` share results.
//!
//! ## The sync API inside a tokio program
//!
//! The sync [`Stash`] can be called from a runtime worker without panicking,
//! on every engine: the embedded engines and redis never start a runtime of
//! their own, and the mongo engine, whose driver runs each call with
//! `block_on` on its own runtime ("Cannot start a runtime from within a
//! runtime" on a worker), moves its calls to a helper thread when called from
//! a runtime thread. But each call then blocks that worker for the engine's
//! time: inside async code prefer this crate (or `spawn_blocking`). The tests
//! of this crate call the sync API from multi-thread and current-thread
//! runtimes on every engine, the servers included when their URLs are set.
#![deny(missing_docs)]

mod run;
mod stream;

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use stash_core::{
    AsyncEngine, EncodedKey, Error, ErrorKind, Prune, PruneReport, Put, Result, SetOptions, Stash, Stats,
    Versioned, WriteOptions,
};

pub use run::AsyncMap;
/// What `#[stashed_result] async fn` calls through the facade: not a public API.
#[doc(hidden)]
pub use run::macro_support as __private;
pub use stream::StashStream;

/// How many entries an `update` hands the engine at once (as the sync `update`).
const BATCH: usize = 1024;
/// Retries of `pop` and `setdefault` racing other writers (as the sync API).
const TRIES: usize = 16;

/// A stash for async code: the dictionary API of [`Stash`] as `async fn`s.
///
/// Cheap to clone (clones share the engine); `Send + Sync`. See the crate
/// docs for how calls reach the engine and what that costs.
#[derive(Clone)]
pub struct AsyncStash {
    stash: Stash,
}

/// `stash.asynchronous()`: the async view of a sync stash (also reached
/// through the facade's `HashStash` and a `FunctionStash`, which deref to
/// [`Stash`]).
pub trait AsyncStashExt {
    /// An [`AsyncStash`] sharing this stash's engine.
    fn asynchronous(&self) -> AsyncStash;
}

impl AsyncStashExt for Stash {
    fn asynchronous(&self) -> AsyncStash {
        AsyncStash::new(self.clone())
    }
}

impl From<Stash> for AsyncStash {
    fn from(stash: Stash) -> Self {
        AsyncStash::new(stash)
    }
}

impl From<AsyncStash> for Stash {
    fn from(stash: AsyncStash) -> Self {
        stash.stash
    }
}

/// Runs `f` on tokio's blocking pool with its own handle to `stash`.
///
/// A panic in `f` is resumed on the caller (as the sync call would have
/// panicked there); a runtime shutting down before `f` ran is an
/// [`ErrorKind::Unavailable`] error.
pub(crate) async fn blocking<R, F>(stash: &Stash, f: F) -> Result<R>
where
    R: Send + 'static,
    F: FnOnce(&Stash) -> Result<R> + Send + 'static,
{
    let stash = stash.clone();
    match tokio::task::spawn_blocking(move || f(&stash)).await {
        Ok(out) => out,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => Err(Error::new(
            ErrorKind::Unavailable,
            format!("the tokio runtime shut down before the stash call ran: {join}"),
        )),
    }
}

/// The write options of a call that sets none: the stash's append mode (its
/// `ttl` is applied by the life cycle layer every write goes through).
fn default_options(stash: &Stash) -> Result<WriteOptions> {
    stash.resolve(SetOptions::new())
}

/// The stash's natively async engine (its life cycle layer over a server
/// engine with async I/O), or `None`: then the call runs on the blocking pool.
fn native(stash: &Stash) -> Option<&dyn AsyncEngine> {
    stash.engine().as_async()
}

/// Whether the stash's engine serves `get`, `contains` and `len` from memory
/// without waiting on I/O or writers ([`Capabilities::inline_reads`]: memory
/// and lmdb), so those reads run on the task: a hop to the blocking pool would
/// cost more than the read.
///
/// [`Capabilities::inline_reads`]: stash_core::Capabilities::inline_reads
fn inline_reads(stash: &Stash) -> bool {
    stash.engine().capabilities().inline_reads
}

/// Decodes a stored value read under `key`, with the sync API's error context.
fn decode_found<V: DeserializeOwned>(
    stash: &Stash,
    key: &EncodedKey,
    stored: Option<Vec<u8>>,
) -> Result<Option<V>> {
    stored
        .map(|bytes| stash.decode_value(&bytes).map_err(|e| e.with_context("digest", key.digest)))
        .transpose()
}

/// The sync API's context for an error about one key.
fn key_context(stash: &Stash, err: Error, key: &EncodedKey) -> Error {
    err.with_context("stash", stash).with_context("digest", key.digest)
}

impl AsyncStash {
    /// The async view of `stash` (sharing its engine).
    pub fn new(stash: Stash) -> AsyncStash {
        AsyncStash { stash }
    }

    /// The sync handle on the same engine.
    pub fn stash(&self) -> &Stash {
        &self.stash
    }

    /// Unwraps into the sync handle.
    pub fn into_stash(self) -> Stash {
        self.stash
    }

    /// Runs `f` with the sync stash on tokio's blocking pool: the way to reach
    /// any sync method this type does not wrap (`verify`, `migrate`, ...).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use stash_async::AsyncStashExt;
    /// # let dir = tempfile::tempdir()?;
    /// # let mut cfg = stash_core::StashConfig::default();
    /// # cfg.root_dir = dir.path().into();
    /// # cfg.engine = "memory".into();
    /// # let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?.asynchronous();
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let report = stash.with_sync(|s| s.verify()).await?;
    /// assert!(report.is_clean());
    /// # Ok::<(), stash_core::Error>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn with_sync<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Stash) -> Result<R> + Send + 'static,
    {
        blocking(&self.stash, f).await
    }

    /// Stores `value` under `key` (in append mode, as a new version; with the
    /// stash's `ttl`, expiring then): [`Stash::set`].
    pub async fn set<K, V>(&self, key: &K, value: &V) -> Result<()>
    where
        K: Serialize + ?Sized,
        V: Serialize + ?Sized,
    {
        let k = self.stash.encode_key(key)?;
        let v = self.stash.encode_value(value)?;
        // The sync `set`'s write: the stash's own options (its append mode; its
        // `ttl`, applied by the life cycle layer), through that layer.
        if let Some(engine) = native(&self.stash) {
            let options = default_options(&self.stash)?;
            return engine
                .put(&k.digest, &k.bytes, &v, options)
                .await
                .map_err(|e| key_context(&self.stash, e, &k));
        }
        blocking(&self.stash, move |s| {
            s.engine().put(&k.digest, &k.bytes, &v, default_options(s)?).map_err(|e| key_context(s, e, &k))
        })
        .await
    }

    /// Stores `value` under `key` with per-call options (append, time to
    /// live): [`Stash::set_with`]. The value may be moved to the blocking pool,
    /// so it is taken by value.
    pub async fn set_with<K, V>(&self, key: &K, value: V, options: impl Into<SetOptions>) -> Result<()>
    where
        K: Serialize + ?Sized,
        V: Serialize + Send + 'static,
    {
        let k = self.stash.encode_key(key)?;
        let options = options.into();
        if let Some(engine) = native(&self.stash) {
            let options = self.stash.resolve(options)?;
            let v = self.stash.encode_value(&value)?;
            return engine
                .put(&k.digest, &k.bytes, &v, options)
                .await
                .map_err(|e| key_context(&self.stash, e, &k));
        }
        blocking(&self.stash, move |s| s.set_encoded(&k, &value, options)).await
    }

    /// The value stored under `key`, or `None`: [`Stash::get`].
    pub async fn get<K, V>(&self, key: &K) -> Result<Option<V>>
    where
        K: Serialize + ?Sized,
        V: DeserializeOwned + Send + 'static,
    {
        let k = self.stash.encode_key(key)?;
        if let Some(engine) = native(&self.stash) {
            let stored =
                engine.get(&k.digest, &k.bytes).await.map_err(|e| key_context(&self.stash, e, &k))?;
            return decode_found(&self.stash, &k, stored);
        }
        if inline_reads(&self.stash) {
            return self.stash.get_encoded(&k);
        }
        blocking(&self.stash, move |s| s.get_encoded(&k)).await
    }

    /// Whether `key` is stored: [`Stash::contains`].
    pub async fn contains<K: Serialize + ?Sized>(&self, key: &K) -> Result<bool> {
        let k = self.stash.encode_key(key)?;
        if let Some(engine) = native(&self.stash) {
            return engine.contains(&k.digest, &k.bytes).await.map_err(|e| key_context(&self.stash, e, &k));
        }
        if inline_reads(&self.stash) {
            return self
                .stash
                .engine()
                .contains(&k.digest, &k.bytes)
                .map_err(|e| key_context(&self.stash, e, &k));
        }
        blocking(&self.stash, move |s| {
            s.engine().contains(&k.digest, &k.bytes).map_err(|e| key_context(s, e, &k))
        })
        .await
    }

    /// The number of keys: [`Stash::len`].
    pub async fn len(&self) -> Result<usize> {
        if let Some(engine) = native(&self.stash) {
            return engine.len().await.map_err(|e| e.with_context("stash", &self.stash));
        }
        if inline_reads(&self.stash) {
            return self.stash.len();
        }
        blocking(&self.stash, |s| s.len()).await
    }

    /// Whether the stash holds no keys: [`Stash::is_empty`].
    pub async fn is_empty(&self) -> Result<bool> {
        if let Some(engine) = native(&self.stash) {
            return engine.is_empty().await.map_err(|e| e.with_context("stash", &self.stash));
        }
        if inline_reads(&self.stash) {
            return self.stash.is_empty();
        }
        blocking(&self.stash, |s| s.is_empty()).await
    }

    /// Removes `key`; true if it was stored: [`Stash::remove`].
    pub async fn remove<K: Serialize + ?Sized>(&self, key: &K) -> Result<bool> {
        let k = self.stash.encode_key(key)?;
        if let Some(engine) = native(&self.stash) {
            return engine.delete(&k.digest, &k.bytes).await.map_err(|e| key_context(&self.stash, e, &k));
        }
        blocking(&self.stash, move |s| s.remove_encoded(&k)).await
    }

    /// Removes `key` and returns its value, if it was stored: [`Stash::pop`]
    /// (of two concurrent `pop`s of one entry, one gets the value).
    pub async fn pop<K, V>(&self, key: &K) -> Result<Option<V>>
    where
        K: Serialize + ?Sized,
        V: DeserializeOwned + Send + 'static,
    {
        let k = self.stash.encode_key(key)?;
        blocking(&self.stash, move |s| {
            let engine = s.engine();
            for _ in 0..TRIES {
                let versions = engine.versions(&k.digest, &k.bytes).map_err(|e| key_context(s, e, &k))?;
                let Some(newest) = versions.and_then(|mut v| v.pop()) else { return Ok(None) };
                let value = s.decode_value(&newest.value).map_err(|e| e.with_context("digest", k.digest))?;
                if engine
                    .delete_unless_rewritten(&k.digest, &k.bytes, newest.written_at_micros)
                    .map_err(|e| key_context(s, e, &k))?
                {
                    return Ok(Some(value));
                }
            }
            Err(key_context(
                s,
                Error::new(ErrorKind::Locked, "pop gave up: the entry was rewritten by others on every try"),
                &k,
            ))
        })
        .await
    }

    /// The value under `key`; when absent, stores `default` and returns it:
    /// [`Stash::setdefault`] (atomic on every engine: of many callers racing
    /// on a missing key, exactly one stores its default).
    pub async fn setdefault<K, V>(&self, key: &K, default: V) -> Result<V>
    where
        K: Serialize + ?Sized,
        V: Serialize + DeserializeOwned + Send + 'static,
    {
        let k = self.stash.encode_key(key)?;
        let v = self.stash.encode_value(&default)?;
        blocking(&self.stash, move |s| {
            if let Some(found) = s.get_encoded(&k)? {
                return Ok(found);
            }
            let options = default_options(s)?;
            for _ in 0..TRIES {
                if s.engine()
                    .put_if_absent(&k.digest, &k.bytes, &v, options)
                    .map_err(|e| key_context(s, e, &k))?
                {
                    return Ok(default);
                }
                if let Some(found) = s.peek_encoded(&k)? {
                    return Ok(found);
                }
            }
            Err(key_context(
                s,
                Error::new(
                    ErrorKind::Locked,
                    "setdefault gave up: the entry was removed by others on every try",
                ),
                &k,
            ))
        })
        .await
    }

    /// Stores every pair, handing the engine batches (one transaction per
    /// batch where the engine has them): [`Stash::update`]. Pairs are encoded
    /// on the calling task; returns how many were written.
    pub async fn update<I, K, V>(&self, pairs: I) -> Result<usize>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Serialize,
        V: Serialize,
    {
        let encoded = pairs
            .into_iter()
            .map(|(k, v)| Ok((self.stash.encode_key(&k)?, self.stash.encode_value(&v)?)))
            .collect::<Result<Vec<_>>>()?;
        write_batches(&self.stash, encoded).await
    }

    /// Every kept version of `key`'s value, oldest first: [`Stash::get_all`].
    pub async fn get_all<K, V>(&self, key: &K) -> Result<Vec<V>>
    where
        K: Serialize + ?Sized,
        V: DeserializeOwned + Send + 'static,
    {
        Ok(self.get_all_with_metadata(key).await?.into_iter().map(|v| v.value).collect())
    }

    /// Every kept version with its number and write time, oldest first:
    /// [`Stash::get_all_with_metadata`].
    pub async fn get_all_with_metadata<K, V>(&self, key: &K) -> Result<Vec<Versioned<V>>>
    where
        K: Serialize + ?Sized,
        V: DeserializeOwned + Send + 'static,
    {
        let k = self.stash.encode_key(key)?;
        blocking(&self.stash, move |s| {
            let versions = s
                .engine()
                .versions(&k.digest, &k.bytes)
                .map_err(|e| key_context(s, e, &k))?
                .unwrap_or_default();
            versions
                .into_iter()
                .map(|v| {
                    Ok(Versioned {
                        version: v.number,
                        written_at: v.written_at(),
                        value: s.decode_value(&v.value).map_err(|e| {
                            e.with_context("digest", k.digest).with_context("version", v.number)
                        })?,
                    })
                })
                .collect()
        })
        .await
    }

    /// Removes every entry, and the function results stored under this stash:
    /// [`Stash::clear`].
    pub async fn clear(&self) -> Result<()> {
        blocking(&self.stash, |s| s.clear()).await
    }

    /// Makes written data durable where the engine buffers writes: [`Stash::flush`].
    pub async fn flush(&self) -> Result<()> {
        blocking(&self.stash, |s| s.flush()).await
    }

    /// Entries, sizes and this handle's counters: [`Stash::stats`].
    pub async fn stats(&self) -> Result<Stats> {
        blocking(&self.stash, |s| s.stats()).await
    }

    /// Removes expired (or, with [`Prune::older_than`], old) entries: [`Stash::prune`].
    pub async fn prune(&self, prune: Prune) -> Result<PruneReport> {
        blocking(&self.stash, move |s| s.prune(prune)).await
    }

    /// A child stash with the same settings: [`Stash::sub`].
    pub async fn sub(&self, name: &str) -> Result<AsyncStash> {
        let name = name.to_string();
        blocking(&self.stash, move |s| s.sub(&name)).await.map(AsyncStash::new)
    }

    /// A temporary stash with the same settings, removed with its last handle: [`Stash::tmp`].
    pub async fn tmp(&self) -> Result<AsyncStash> {
        blocking(&self.stash, |s| s.tmp()).await.map(AsyncStash::new)
    }

    /// Starts a batch: writes encoded now and handed to the engine at once by
    /// [`AsyncBatch::commit`] ([`Stash::batch`]).
    pub fn batch(&self) -> AsyncBatch {
        AsyncBatch { stash: self.stash.clone(), items: Vec::new() }
    }

    /// Streams `(key, value)` pairs decoded as `K` and `V` ([`Stash::items`]):
    /// the engine's scan runs on the blocking pool, a little ahead of the
    /// consumer. A failure to start the scan is the stream's only item; an
    /// entry that fails to decode is an `Err` item and the stream goes on.
    pub fn items<K, V>(&self) -> StashStream<(K, V)>
    where
        K: DeserializeOwned + Send + 'static,
        V: DeserializeOwned + Send + 'static,
    {
        StashStream::new(self.stash.clone(), |s| s.items::<K, V>())
    }

    /// Streams the keys decoded as `K` ([`Stash::keys`]; see [`items`](AsyncStash::items)).
    pub fn keys<K: DeserializeOwned + Send + 'static>(&self) -> StashStream<K> {
        StashStream::new(self.stash.clone(), |s| s.keys::<K>())
    }

    /// Streams the values decoded as `V` ([`Stash::values`]; see [`items`](AsyncStash::items)).
    pub fn values<V: DeserializeOwned + Send + 'static>(&self) -> StashStream<V> {
        StashStream::new(self.stash.clone(), |s| s.values::<V>())
    }
}

/// Writes encoded entries in engine batches; returns how many were written.
async fn write_batches(stash: &Stash, items: Vec<(EncodedKey, Vec<u8>)>) -> Result<usize> {
    if items.is_empty() {
        return Ok(0);
    }
    if let Some(engine) = native(stash) {
        // The sync `update`'s writes: one engine batch per `BATCH` entries, with
        // the stash's own options.
        let options = default_options(stash)?;
        let mut written = 0;
        for chunk in items.chunks(BATCH) {
            let puts: Vec<Put<'_>> =
                chunk.iter().map(|(k, v)| Put { digest: k.digest, key: &k.bytes, value: v }).collect();
            engine.put_many(&puts, options).await.map_err(|e| e.with_context("stash", stash))?;
            written += puts.len();
        }
        return Ok(written);
    }
    blocking(stash, move |s| {
        let mut written = 0;
        for chunk in items.chunks(BATCH) {
            written += s.set_encoded_many(chunk.iter().map(|(k, v)| (k, v.as_slice())))?;
        }
        Ok(written)
    })
    .await
}

/// Writes collected for one commit; from [`AsyncStash::batch`]. Dropping a
/// batch without committing discards it.
#[must_use = "a batch writes nothing until `commit().await`"]
pub struct AsyncBatch {
    stash: Stash,
    items: Vec<(EncodedKey, Vec<u8>)>,
}

impl AsyncBatch {
    /// Adds a write (encoded now, on the calling task; stored at commit).
    pub fn set<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<&mut Self> {
        self.items.push((self.stash.encode_key(key)?, self.stash.encode_value(value)?));
        Ok(self)
    }

    /// How many writes are collected.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is collected.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Hands every write to the engine (in one call per 1,024); returns how many.
    pub async fn commit(self) -> Result<usize> {
        write_batches(&self.stash, self.items).await
    }
}

impl fmt::Display for AsyncStash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.stash, f)
    }
}

impl fmt::Debug for AsyncStash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncStash").field(&self.stash).finish()
    }
}

/// How long [`AsyncStash::run_async`] waits for another caller computing the
/// same arguments before computing them too (the sync `run`'s default).
pub const DEFAULT_WAIT: Duration = stash_func::DEFAULT_WAIT;
