//! The dictionary: serde types in, engine bytes out.

use std::cell::RefCell;
use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;
use stash_codec::Encoding;
use stash_serial::{Serializer, Value};

use crate::config::{StashConfig, TildePath};
use crate::cursor::OwnedCursor;
use crate::digest::Digest;
use crate::engine::{Engine, EngineFactory, Put};
use crate::error::{Error, ErrorKind, Result};
use crate::iter::{Items, Keys, RawItems, Values};
use crate::lifecycle::{Lifecycle, Policy, SetOptions, time_to_micros};
use crate::typed::TypedStash;

/// How many entries a batch write (`update`) hands the engine at once.
const BATCH: usize = 1024;

/// A persistent dictionary in which anything serde can serialize is a key or a value.
///
/// Keys are serialized canonically, encoded (compressed, optionally base64) and
/// digested; values are serialized, encoded and stored by the engine. Handles are
/// cheap to clone and safe to share across threads: clones share one engine.
///
/// Most users open one through the `hashstash` facade (`HashStash::builder()`),
/// which picks the engine by name; [`Stash::open`] takes an engine factory directly.
#[derive(Clone)]
pub struct Stash {
    inner: Arc<Inner>,
}

struct Inner {
    config: StashConfig,
    data_path: PathBuf,
    serializer: Arc<dyn Serializer>,
    encoding: Encoding,
    /// `raw` without base64: encoded bytes are the serialized bytes.
    identity_encoding: bool,
    /// The engine seen through `life`: every read and write is counted and bounded.
    engine: Arc<dyn Engine>,
    factory: Arc<dyn EngineFactory>,
    /// The life cycle layer over the factory's engine (the same object as `engine`).
    life: Arc<Lifecycle>,
    /// For [`Stash::tmp`]: the folder removed (after the entries) when the last handle goes.
    tmp_dir: Option<tempfile::TempDir>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(dir) = &self.tmp_dir {
            // Engines that keep data outside the folder (memory, servers) lose it here;
            // the folder itself goes when `tmp_dir` drops. Nothing to report to in a drop.
            let _ = self.engine.clear();
            crate::functions::clear_and_forget_under(dir.path());
            self.factory.forget_under(dir.path());
        }
    }
}

/// A key after serialization, encoding and digesting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedKey {
    /// Encoded key bytes, as stored.
    pub bytes: Vec<u8>,
    /// Their digest: the slot.
    pub digest: Digest,
}

/// One version of a value with its metadata (append mode keeps them all).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<V> {
    /// 1 for the oldest kept version.
    pub version: u64,
    /// When it was written.
    pub written_at: SystemTime,
    /// The value.
    pub value: V,
}

thread_local! {
    /// Scratch space for serialized bytes before encoding and decoded bytes
    /// before deserializing: saves an allocation per operation.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a cleared scratch buffer (re-entrant: a nested call gets a fresh one).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    buf.clear();
    let out = f(&mut buf);
    if buf.capacity() <= 1 << 20 {
        SCRATCH.with(|s| *s.borrow_mut() = buf);
    }
    out
}

impl Stash {
    /// Opens the stash `config` describes with engines made by `factory`.
    pub fn open(config: StashConfig, factory: Arc<dyn EngineFactory>) -> Result<Stash> {
        Stash::open_in(config, factory, None)
    }

    fn open_in(
        mut config: StashConfig,
        factory: Arc<dyn EngineFactory>,
        tmp_dir: Option<tempfile::TempDir>,
    ) -> Result<Stash> {
        config.validate()?;
        // The factory's own settings go into the configuration (over those it
        // had), so `config()` saved and reopened opens the engine alike.
        config.engine_options.extend(factory.options());
        if config.engine != factory.name() {
            return Err(Error::new(
                ErrorKind::Config,
                format!("config names engine `{}` but the factory opens `{}`", config.engine, factory.name()),
            ));
        }
        let serializer = config.serializer.serializer();
        // Decoders stop at the value-size limit.
        let encoding = config.encoding()?;
        let data_path = config.data_path()?;
        let shown = format!("{}HashStash({})", factory.display_name(), TildePath(&data_path));
        #[cfg(feature = "tracing")]
        let _span = crate::observe::open_span(&shown, factory.name());
        let started = std::time::Instant::now();
        let context = config.engine_context(&*factory).map_err(|e| e.with_context("stash", &shown))?;
        let opened = factory.open(&context).map_err(|e| e.with_context("stash", &shown))?;
        crate::observe::opened(started.elapsed());
        let life = Lifecycle::wrap_as(opened, Policy::of(&config), shown);
        let engine: Arc<dyn Engine> = life.clone();
        let identity_encoding = !config.b64 && encoding.codec().name() == "raw";
        let stash = Stash {
            inner: Arc::new(Inner {
                config,
                data_path,
                serializer,
                encoding,
                identity_encoding,
                engine,
                factory,
                life,
                tmp_dir,
            }),
        };
        if stash.inner.config.clear {
            stash.clear()?;
        }
        Ok(stash)
    }

    /// The configuration this stash was opened with (Python's `to_dict()`).
    pub fn config(&self) -> &StashConfig {
        &self.inner.config
    }

    /// Where the engine keeps its data (`.../data.db`).
    pub fn path(&self) -> &Path {
        &self.inner.data_path
    }

    /// The engine, for raw access: the factory's engine wrapped in this
    /// stash's [`Lifecycle`] layer (its default time to live, counters and
    /// bounds apply to what goes through it).
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.inner.engine
    }

    /// The factory that opened the engine (opens sub-stashes of the same kind).
    pub fn engine_factory(&self) -> &Arc<dyn EngineFactory> {
        &self.inner.factory
    }

    /// The serializer.
    pub fn serializer(&self) -> &dyn Serializer {
        &*self.inner.serializer
    }

    /// The compressor and base64 setting.
    pub fn encoding(&self) -> &Encoding {
        &self.inner.encoding
    }

    /// The life cycle layer: counters, bounds, `prune` and `stats`.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.life
    }

    pub(crate) fn context(&self, err: Error) -> Error {
        err.with_context("stash", self)
    }

    fn key_context(&self, err: Error, digest: &Digest) -> Error {
        self.context(err).with_context("digest", digest)
    }

    /// Checks that a record read by a scan holds a key that hashes to its
    /// slot. A `get` is checked by the engine (the stored key must be the one
    /// asked for), but a scan takes the key from the record: stored key bytes
    /// damaged into another valid key (one flipped bit turns `"key-5"` into
    /// `"key-4"`) would list that key with the damaged slot's value.
    pub(crate) fn check_slot(&self, digest: &Digest, key: &[u8]) -> Result<()> {
        if self.inner.config.digest.digest(key) == *digest {
            return Ok(());
        }
        Err(self.key_context(
            Error::new(
                ErrorKind::Corrupt,
                "the key stored in this slot does not hash to the slot: the stored key is damaged",
            ),
            digest,
        ))
    }

    /// Runs `f` over the plain (decompressed, base64-decoded) form of `bytes`.
    /// Stored bytes that decode to more than `max_value_bytes` are refused
    /// (the codecs stop decoding at that size).
    fn with_plain<R>(&self, bytes: &[u8], f: impl FnOnce(&[u8]) -> Result<R>) -> Result<R> {
        if self.inner.identity_encoding {
            let max = self.inner.config.max_value_bytes;
            if bytes.len() as u64 > max {
                return Err(Error::new(
                    ErrorKind::TooLarge,
                    format!("a stored value of {} bytes is larger than max_value_bytes ({max})", bytes.len()),
                ));
            }
            return f(bytes);
        }
        with_scratch(|buf| {
            self.inner.encoding.decode(bytes, buf).map_err(crate::formats::codec_error)?;
            f(buf)
        })
    }

    /// Serializes `plain` with `serialize` and encodes it into a new buffer.
    fn encode_with(&self, serialize: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> Result<Vec<u8>> {
        if self.inner.identity_encoding {
            let mut out = Vec::with_capacity(64);
            serialize(&mut out)?;
            return Ok(out);
        }
        with_scratch(|plain| {
            serialize(plain)?;
            let mut out = Vec::with_capacity(plain.len() / 2 + 32);
            self.inner.encoding.encode(plain, &mut out).map_err(crate::formats::codec_error)?;
            Ok(out)
        })
    }

    /// Serializes (canonically), encodes and digests a key.
    pub fn encode_key<K: Serialize + ?Sized>(&self, key: &K) -> Result<EncodedKey> {
        let ser = &*self.inner.serializer;
        let bytes = self
            .encode_with(|out| stash_serial::encode_key(ser, key, out).map_err(crate::formats::serial_error))
            .map_err(|e| self.context(e))?;
        let digest = self.inner.config.digest.digest(&bytes);
        Ok(EncodedKey { bytes, digest })
    }

    /// Serializes and encodes a value into the bytes the engine stores.
    ///
    /// A value whose serialized form is larger than
    /// [`max_value_bytes`](StashConfig::max_value_bytes) is refused (kind
    /// [`ErrorKind::TooLarge`]): the stash would refuse to read it back.
    pub fn encode_value<V: Serialize + ?Sized>(&self, value: &V) -> Result<Vec<u8>> {
        let ser = &*self.inner.serializer;
        let max = self.inner.config.max_value_bytes;
        self.encode_with(|out| {
            stash_serial::encode_value(ser, value, out).map_err(crate::formats::serial_error)?;
            if out.len() as u64 > max {
                return Err(Error::new(
                    ErrorKind::TooLarge,
                    format!(
                        "the value serializes to {} bytes, more than max_value_bytes ({max}): \
                         the stash would refuse to read it back",
                        out.len()
                    ),
                ));
            }
            Ok(())
        })
        .map_err(|e| self.context(e))
    }

    /// Decodes stored key bytes (as `raw_keys` yields them) into `K`.
    pub fn decode_key<K: DeserializeOwned>(&self, bytes: &[u8]) -> Result<K> {
        self.decode(bytes).map_err(|e| self.context(e))
    }

    /// Decodes stored value bytes (as `raw_values` yields them) into `V`.
    pub fn decode_value<V: DeserializeOwned>(&self, bytes: &[u8]) -> Result<V> {
        self.decode(bytes).map_err(|e| self.context(e))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let ser = &*self.inner.serializer;
        self.with_plain(bytes, |plain| {
            stash_serial::decode::<T>(ser, plain).map_err(crate::formats::serial_error)
        })
    }

    /// Stores `value` under `key` (in append mode, as a new version; with a
    /// `ttl`, expiring then).
    pub fn set<K: Serialize + ?Sized, V: Serialize + ?Sized>(&self, key: &K, value: &V) -> Result<()> {
        self.set_with(key, value, SetOptions::new())
    }

    /// Stores `value` under `key` with per-call options ([`SetOptions`]: append,
    /// time to live; an engine-level [`WriteOptions`](crate::WriteOptions) also converts).
    pub fn set_with<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        options: impl Into<SetOptions>,
    ) -> Result<()> {
        let k = self.encode_key(key)?;
        self.set_encoded(&k, value, options)
    }

    /// [`set_with`](Stash::set_with) under a key already encoded by this stash's
    /// [`encode_key`](Stash::encode_key): the same write path (the stash's time
    /// to live and append mode unless `options` say otherwise, the write
    /// counters of [`stats`](Stash::stats), eviction past `max_entries` /
    /// `max_bytes`). What function results are written through.
    pub fn set_encoded<V: Serialize + ?Sized>(
        &self,
        key: &EncodedKey,
        value: &V,
        options: impl Into<SetOptions>,
    ) -> Result<()> {
        let options = self.resolve(options.into())?;
        let v = self.encode_value(value)?;
        self.inner
            .engine
            .put(&key.digest, &key.bytes, &v, options)
            .map_err(|e| self.key_context(e, &key.digest))
    }

    /// Stores values already encoded by [`encode_value`](Stash::encode_value)
    /// under keys encoded by [`encode_key`](Stash::encode_key), handing the
    /// engine one batch (one transaction where it has them), with the stash's
    /// own write options, counters and bounds. Returns how many were written.
    pub fn set_encoded_many<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a EncodedKey, &'a [u8])>,
    ) -> Result<usize> {
        let puts: Vec<Put<'_>> =
            items.into_iter().map(|(k, v)| Put { digest: k.digest, key: &k.bytes, value: v }).collect();
        if puts.is_empty() {
            return Ok(0);
        }
        let options = self.resolve(SetOptions::new())?;
        self.inner.engine.put_many(&puts, options).map_err(|e| self.context(e))?;
        Ok(puts.len())
    }

    /// The value stored under `key`, or `None`. Reading a value as the wrong
    /// type is an error of kind [`ErrorKind::Decode`].
    pub fn get<K: Serialize + ?Sized, V: DeserializeOwned>(&self, key: &K) -> Result<Option<V>> {
        let k = self.encode_key(key)?;
        self.get_encoded(&k)
    }

    /// [`get`](Stash::get) under a key already encoded by this stash's
    /// [`encode_key`](Stash::encode_key), counted in [`stats`](Stash::stats)
    /// (a hit or a miss) like `get`.
    pub fn get_encoded<V: DeserializeOwned>(&self, key: &EncodedKey) -> Result<Option<V>> {
        self.read_encoded(key, true)
    }

    /// [`get_encoded`](Stash::get_encoded) without counting the read in
    /// [`stats`](Stash::stats) or in the read recency of
    /// [`Eviction::LeastRecentlyRead`](crate::Eviction): a second look at a key
    /// the caller has just counted a read of.
    pub fn peek_encoded<V: DeserializeOwned>(&self, key: &EncodedKey) -> Result<Option<V>> {
        self.read_encoded(key, false)
    }

    fn read_encoded<V: DeserializeOwned>(&self, key: &EncodedKey, count: bool) -> Result<Option<V>> {
        // Past the life cycle layer when not counted.
        let engine = if count { &self.inner.engine } else { self.inner.life.inner() };
        let stored = engine.get(&key.digest, &key.bytes).map_err(|e| self.key_context(e, &key.digest))?;
        match stored {
            None => Ok(None),
            Some(bytes) => self.decode(&bytes).map(Some).map_err(|e| self.key_context(e, &key.digest)),
        }
    }

    /// [`remove`](Stash::remove) of a key already encoded by this stash's
    /// [`encode_key`](Stash::encode_key); true if it was stored.
    pub fn remove_encoded(&self, key: &EncodedKey) -> Result<bool> {
        self.inner.engine.delete(&key.digest, &key.bytes).map_err(|e| self.key_context(e, &key.digest))
    }

    /// Whether `key` is stored.
    pub fn contains<K: Serialize + ?Sized>(&self, key: &K) -> Result<bool> {
        let k = self.encode_key(key)?;
        self.inner.engine.contains(&k.digest, &k.bytes).map_err(|e| self.key_context(e, &k.digest))
    }

    /// The number of keys.
    pub fn len(&self) -> Result<usize> {
        self.inner.engine.len().map_err(|e| self.context(e))
    }

    /// Whether the stash holds no keys.
    pub fn is_empty(&self) -> Result<bool> {
        self.inner.engine.is_empty().map_err(|e| self.context(e))
    }

    /// Removes `key`; true if it was stored.
    pub fn remove<K: Serialize + ?Sized>(&self, key: &K) -> Result<bool> {
        let k = self.encode_key(key)?;
        self.remove_encoded(&k)
    }

    /// Removes and returns some entry (which one is up to the engine), or
    /// `None` when the stash is empty.
    pub fn popitem<K: DeserializeOwned, V: DeserializeOwned>(&self) -> Result<Option<(K, V)>> {
        for record in self.inner.engine.scan().map_err(|e| self.context(e))? {
            let record = record.map_err(|e| self.context(e))?;
            self.check_slot(&record.digest, &record.key)?;
            let key = self.decode(&record.key).map_err(|e| self.key_context(e, &record.digest))?;
            let value = self.decode(&record.value).map_err(|e| self.key_context(e, &record.digest))?;
            // Another handle may have taken it since the scan saw it: try the next.
            if self.inner.engine.delete(&record.digest, &record.key).map_err(|e| self.context(e))? {
                return Ok(Some((key, value)));
            }
        }
        Ok(None)
    }

    /// Removes `key` and returns its value, if it was stored.
    ///
    /// The value is returned only to the caller whose removal took it out: of
    /// two concurrent `pop`s of one entry, one gets the value and the other
    /// `None`; a value written while a `pop` runs is not removed by it.
    pub fn pop<K: Serialize + ?Sized, V: DeserializeOwned>(&self, key: &K) -> Result<Option<V>> {
        /// Rewrites racing one `pop` before it gives up (each is another writer's success).
        const TRIES: usize = 16;
        let k = self.encode_key(key)?;
        let engine = &self.inner.engine;
        for attempt in 0..TRIES {
            if attempt > 0 {
                crate::observe::retry(self.inner.life.source(), "pop", &k.digest, attempt);
            }
            let versions =
                engine.versions(&k.digest, &k.bytes).map_err(|e| self.key_context(e, &k.digest))?;
            let Some(newest) = versions.and_then(|mut v| v.pop()) else { return Ok(None) };
            let value = self.decode(&newest.value).map_err(|e| self.key_context(e, &k.digest))?;
            if engine
                .delete_unless_rewritten(&k.digest, &k.bytes, newest.written_at_micros)
                .map_err(|e| self.key_context(e, &k.digest))?
            {
                return Ok(Some(value));
            }
            // Removed by another caller (the next look finds nothing) or written
            // again (the next look finds the new value).
        }
        Err(self.key_context(
            Error::new(ErrorKind::Locked, "pop gave up: the entry was rewritten by others on every try"),
            &k.digest,
        ))
    }

    /// The value under `key`; when absent, stores `default` and returns it.
    ///
    /// Atomic on every engine ([`Engine::put_if_absent`]): of many callers
    /// racing on a missing key, in any process, exactly one stores its
    /// default, and every other returns that stored value.
    pub fn setdefault<K, V>(&self, key: &K, default: &V) -> Result<V>
    where
        K: Serialize + ?Sized,
        V: Serialize + DeserializeOwned + Clone,
    {
        /// Removals racing one `setdefault` before it gives up (each lets it try to store again).
        const TRIES: usize = 16;
        if let Some(v) = self.get(key)? {
            return Ok(v);
        }
        let k = self.encode_key(key)?;
        let v = self.encode_value(default)?;
        let options = self.resolve(SetOptions::new())?;
        for attempt in 0..TRIES {
            if attempt > 0 {
                crate::observe::retry(self.inner.life.source(), "setdefault", &k.digest, attempt);
            }
            let stored = self
                .inner
                .engine
                .put_if_absent(&k.digest, &k.bytes, &v, options)
                .map_err(|e| self.key_context(e, &k.digest))?;
            if stored {
                return Ok(default.clone());
            }
            // Someone else's value is there: return it (unless it was removed since).
            if let Some(existing) = self.get(key)? {
                return Ok(existing);
            }
        }
        Err(self.key_context(
            Error::new(ErrorKind::Locked, "setdefault gave up: the entry was removed by others on every try"),
            &k.digest,
        ))
    }

    /// Stores every pair (from a `Vec`, a map, an iterator...), handing the
    /// engine batches so engines with transactions commit once per batch.
    /// Returns how many pairs were written.
    pub fn update<I, K, V>(&self, pairs: I) -> Result<usize>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Serialize,
        V: Serialize,
    {
        self.write_in_batches(
            pairs.into_iter().map(|(key, value)| Ok((self.encode_key(&key)?, self.encode_value(&value)?))),
        )
    }

    /// Writes encoded entries in engine batches of [`BATCH`], stopping at the first
    /// error (the batches before it are written); returns how many were written.
    fn write_in_batches(&self, items: impl Iterator<Item = Result<(EncodedKey, Vec<u8>)>>) -> Result<usize> {
        let mut batch: Vec<(EncodedKey, Vec<u8>)> = Vec::new();
        let mut written = 0;
        for item in items {
            batch.push(item?);
            if batch.len() == BATCH {
                written += self.put_batch(&mut batch)?;
            }
        }
        written += self.put_batch(&mut batch)?;
        Ok(written)
    }

    fn put_batch(&self, batch: &mut Vec<(EncodedKey, Vec<u8>)>) -> Result<usize> {
        if batch.is_empty() {
            return Ok(0);
        }
        let n = self.set_encoded_many(batch.iter().map(|(k, v)| (k, v.as_slice())))?;
        batch.clear();
        Ok(n)
    }

    /// A child stash with the same settings, living under this stash's folder
    /// (`<stash dir>/<name>/<engine>.<serializer>.<compress>/data.db`, the
    /// Python library's layout for function stashes). It is isolated from
    /// its parent and its siblings: `clear()` of one never touches another
    /// (a parent's `clear()` does empty its own function results, the
    /// reserved subs of [`functions`](crate::functions)).
    /// `name` may contain `/` to nest; `..` is refused.
    ///
    /// The child keeps the parent's `root_dir` as configured and extends its
    /// `dbname` (`<dbname>/<engine>.<serializer>.<compress>/<name>`), so its
    /// [`logical_name`](StashConfig::logical_name), which names server-side
    /// storage, is the same on every machine. A name with a component the layout
    /// uses itself (`data.db`, `.locks`) is a `Config` error.
    ///
    /// The names in [`FUNCTION_DIRS`](crate::functions::FUNCTION_DIRS)
    /// (`stashed_result`, `stashed_errors`, `stashed_map`) are reserved for
    /// function results: such a sub-stash is a [`function_sub`](Stash::function_sub),
    /// emptied by this stash's `clear()`. Every other sub-stash survives it.
    pub fn sub(&self, name: &str) -> Result<Stash> {
        if crate::functions::is_function_name(name) {
            return self.function_sub(name);
        }
        self.open_sub(name)
    }

    /// Opens the sub-stash `name` (see [`Stash::sub`]), without the registry of function stashes.
    pub(crate) fn open_sub(&self, name: &str) -> Result<Stash> {
        let parent = &self.inner.config;
        let name = name.trim_matches('/');
        if name.is_empty() {
            return Err(self.context(Error::new(ErrorKind::Config, "a sub-stash name is empty")));
        }
        let dir = parent.dir_name();
        let config = StashConfig {
            dbname: format!("{}/{dir}/{name}", parent.dbname),
            namespace: parent.namespace.as_ref().map(|ns| format!("{ns}/{dir}/{name}")),
            clear: false,
            ..parent.clone()
        };
        Stash::open(config, self.inner.factory.clone())
    }

    /// A stash with the same settings in a fresh temporary folder, emptied and
    /// removed when its last handle is dropped (also when a panic unwinds
    /// through it).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let dir = tempfile::tempdir()?;
    /// # let mut cfg = stash_core::StashConfig::default();
    /// # cfg.root_dir = dir.path().into();
    /// # cfg.engine = "memory".into();
    /// # let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
    /// let (path, results) = {
    ///     let tmp = stash.tmp()?;
    ///     tmp.set("key", "value")?;
    ///     let results = tmp.function_sub("stashed_result/f")?; // function results go too
    ///     results.set("args", "result")?;
    ///     (tmp.path().to_path_buf(), results.config().clone())
    /// };
    /// assert!(!path.exists());
    /// let reopened = stash_core::Stash::open(results, Arc::new(stash_engine_memory::Memory))?;
    /// assert!(reopened.is_empty()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tmp(&self) -> Result<Stash> {
        let dir = tempfile::Builder::new()
            .prefix("hashstash-tmp-")
            .tempdir()
            .map_err(|e| Error::io(e, "create a temporary folder", &std::env::temp_dir()))?;
        let config = StashConfig {
            root_dir: dir.path().to_path_buf(),
            dbname: "tmp".into(),
            clear: false,
            ..self.inner.config.clone()
        };
        Stash::open_in(config, self.inner.factory.clone(), Some(dir))
    }

    /// Whether this stash was made by [`Stash::tmp`] (and goes away with its last handle).
    pub fn is_temporary(&self) -> bool {
        self.inner.tmp_dir.is_some()
    }

    /// Starts a batch: writes collected in memory and handed to the engine at
    /// once by [`Batch::commit`], in one transaction on engines that have them.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let dir = tempfile::tempdir()?;
    /// # let mut cfg = stash_core::StashConfig::default();
    /// # cfg.root_dir = dir.path().into();
    /// # cfg.engine = "memory".into();
    /// # let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
    /// let mut batch = stash.batch();
    /// batch.set("a", &1)?.set("b", &2)?;
    /// assert_eq!(batch.commit()?, 2);
    /// assert_eq!(stash.get::<_, i32>("b")?, Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch(&self) -> Batch<'_> {
        Batch { stash: self, items: Vec::new() }
    }

    /// Copies every entry of `other` into this stash. Stashes with the same
    /// serializer and encoding copy bytes as stored; otherwise entries are
    /// decoded as [`Value`] and re-encoded, which needs a self-describing
    /// serializer on `other`.
    pub fn update_from(&self, other: &Stash) -> Result<usize> {
        let same_bytes = self.inner.config.serializer == other.inner.config.serializer
            && self.inner.encoding.label() == other.inner.encoding.label();
        if same_bytes {
            let records = other.inner.engine.scan().map_err(|e| other.context(e))?;
            return self.write_in_batches(records.map(|record| {
                let record = record.map_err(|e| other.context(e))?;
                other.check_slot(&record.digest, &record.key)?;
                let key =
                    other.key_for(self, &record.key).map_err(|e| e.with_context("digest", record.digest))?;
                Ok((key, record.value))
            }));
        }
        self.write_in_batches(other.items::<Value, Value>()?.map(|item| {
            let (k, v) = item?;
            Ok((self.encode_key(&k)?, self.encode_value(&v)?))
        }))
    }

    /// Removes every entry of this stash, and empties the function results
    /// stored under it (`stashed_result/...`, `stashed_errors/...`,
    /// `stashed_map/...`: see [`functions`](crate::functions)), as the Python
    /// library does: a cleared cache never serves an old memoized result. It
    /// does so from any handle: function stashes are found on disk (file
    /// engines, whichever process wrote them) and among those this process has
    /// open (every engine). Sub-stashes made with [`Stash::sub`] under other
    /// names are left untouched.
    ///
    /// On server engines (`redis`, `mongo`), function stashes only another
    /// process has used are not found (nothing lists them): clear them from a
    /// process that used them, or through their own stash.
    pub fn clear(&self) -> Result<()> {
        self.clear_own()?;
        self.clear_function_stashes()
    }

    /// Removes this stash's own entries, nothing else.
    pub(crate) fn clear_own(&self) -> Result<()> {
        self.inner.engine.clear().map_err(|e| self.context(e))
    }

    /// Makes written data durable where the engine buffers writes.
    pub fn flush(&self) -> Result<()> {
        self.inner.engine.flush().map_err(|e| self.context(e))
    }

    /// Streams the keys, decoded as `K` (use [`Value`] for any self-describing key).
    pub fn keys<K: DeserializeOwned>(&self) -> Result<Keys<K>> {
        let records = self.inner.engine.scan_keys().map_err(|e| self.context(e))?;
        Ok(Keys::new(self.clone(), Box::new(OwnedCursor::new(records))))
    }

    /// Streams the values, decoded as `V`.
    pub fn values<V: DeserializeOwned>(&self) -> Result<Values<V>> {
        let records = self.inner.engine.scan_lent().map_err(|e| self.context(e))?;
        Ok(Values::new(self.clone(), records))
    }

    /// Streams `(key, value)` pairs, decoded as `K` and `V`.
    pub fn items<K: DeserializeOwned, V: DeserializeOwned>(&self) -> Result<Items<K, V>> {
        let records = self.inner.engine.scan_lent().map_err(|e| self.context(e))?;
        Ok(Items::new(self.clone(), records))
    }

    /// Streams `(encoded key, encoded value)` pairs exactly as stored.
    pub fn raw_items(&self) -> Result<RawItems> {
        let records = self.inner.engine.scan().map_err(|e| self.context(e))?;
        Ok(RawItems::new(self.clone(), records))
    }

    /// Streams encoded keys exactly as stored.
    pub fn raw_keys(&self) -> Result<impl Iterator<Item = Result<Vec<u8>>> + Send + use<>> {
        let records = self.inner.engine.scan_keys().map_err(|e| self.context(e))?;
        let this = self.clone();
        Ok(records.map(move |r| {
            let rec = r.map_err(|e| this.context(e))?;
            this.check_slot(&rec.digest, &rec.key)?;
            Ok(rec.key)
        }))
    }

    /// Streams encoded values exactly as stored.
    pub fn raw_values(&self) -> Result<impl Iterator<Item = Result<Vec<u8>>> + Send + use<>> {
        Ok(self.raw_items()?.map(|r| r.map(|(_, v)| v)))
    }

    /// A typed view: the same stash with `K` and `V` fixed, so calls need no annotations.
    pub fn typed<K, V>(&self) -> TypedStash<K, V> {
        TypedStash::new(self.clone())
    }

    /// Every kept version of `key`'s value, oldest first (one outside append mode).
    pub fn get_all<K: Serialize + ?Sized, V: DeserializeOwned>(&self, key: &K) -> Result<Vec<V>> {
        Ok(self.get_all_with_metadata(key)?.into_iter().map(|v| v.value).collect())
    }

    /// The kept versions written within `range` (of write times), oldest first:
    /// `stash.get_all_in::<_, V>(&key, since..)`, `..until`, `t0..t1`.
    pub fn get_all_in<K, V>(&self, key: &K, range: impl RangeBounds<SystemTime>) -> Result<Vec<Versioned<V>>>
    where
        K: Serialize + ?Sized,
        V: DeserializeOwned,
    {
        let within = |at: i64| {
            let after = match range.start_bound() {
                Bound::Included(t) => at >= time_to_micros(*t),
                Bound::Excluded(t) => at > time_to_micros(*t),
                Bound::Unbounded => true,
            };
            let before = match range.end_bound() {
                Bound::Included(t) => at <= time_to_micros(*t),
                Bound::Excluded(t) => at < time_to_micros(*t),
                Bound::Unbounded => true,
            };
            after && before
        };
        self.versions_where(key, within)?.into_iter().collect()
    }

    /// Every kept version, each decoded on its own: a version that fails to
    /// decode is an `Err` in its place and never hides the others.
    pub fn try_get_all_with_metadata<K: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        key: &K,
    ) -> Result<Vec<Result<Versioned<V>>>> {
        self.versions_where(key, |_| true)
    }

    fn versions_where<K: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        key: &K,
        keep: impl Fn(i64) -> bool,
    ) -> Result<Vec<Result<Versioned<V>>>> {
        let k = self.encode_key(key)?;
        let versions = self
            .inner
            .engine
            .versions(&k.digest, &k.bytes)
            .map_err(|e| self.key_context(e, &k.digest))?
            .unwrap_or_default();
        Ok(versions
            .into_iter()
            .filter(|v| keep(v.written_at_micros))
            .map(|v| {
                Ok(Versioned {
                    version: v.number,
                    written_at: v.written_at(),
                    value: self
                        .decode(&v.value)
                        .map_err(|e| self.key_context(e, &k.digest).with_context("version", v.number))?,
                })
            })
            .collect())
    }

    /// Every kept version with its number and write time, oldest first; a version
    /// that does not decode fails the call, naming its number.
    pub fn get_all_with_metadata<K: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        key: &K,
    ) -> Result<Vec<Versioned<V>>> {
        self.versions_where(key, |_| true)?.into_iter().collect()
    }
}

/// Writes collected for one commit; from [`Stash::batch`]. Dropping a batch
/// without committing discards it.
#[must_use = "a batch writes nothing until `commit()`"]
pub struct Batch<'s> {
    stash: &'s Stash,
    items: Vec<(EncodedKey, Vec<u8>)>,
}

impl Batch<'_> {
    /// Adds a write (encoded now, stored at commit).
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

    /// Hands every write to the engine in one call; returns how many.
    pub fn commit(mut self) -> Result<usize> {
        self.stash.put_batch(&mut self.items)
    }
}

impl fmt::Display for Stash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}HashStash({})", self.inner.factory.display_name(), TildePath(&self.inner.data_path))
    }
}

impl fmt::Debug for Stash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stash")
            .field("config", &self.inner.config)
            .field("path", &self.inner.data_path)
            .finish()
    }
}
