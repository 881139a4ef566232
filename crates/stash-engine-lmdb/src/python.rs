//! The Python library's record layout, for stashes opened with
//! `StashConfig::python_compatible`: what `hashstash` 1.2 for Python writes
//! and reads in the unnamed database of the environment.
//!
//! ```text
//! b"<md5 hex>.key"    the encoded key
//! b"<md5 hex>.value"  the encoded envelope:
//!                     {"__hs_v1__":true,"_fv":1,"_values":[<value>...],"_written_at":[<unix seconds>...]}
//! ```
//!
//! The envelope is JSON in the `hashstash` serializer's format, compressed
//! and base64-encoded like any value. Values are spliced into it as JSON
//! text: the engine decodes the encoded value it is given to its JSON text
//! and never re-serializes it; a read re-encodes the newest value's text.
//!
//! Extensions Python ignores (it reads only `_values` and `_written_at`):
//! - `"_expires_at": <unix seconds>` for an entry written with an expiry;
//!   Python does not honour it (it reads such an entry as live);
//! - a value whose decoded bytes are not JSON (only the engine API can
//!   store such a thing: the `hashstash` serializer never makes one) is kept
//!   as `{"__hs_opaque__":"<base64 of the encoded bytes>"}`.
//!
//! `len` is the entry count of the database over two (Python's way, no scan)
//! while no entry was ever written with an expiry, else a scan.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use heed::{RoTxn, RwTxn};
use serde::Deserialize;
use serde_json::value::RawValue;
use stash_engine_api::clock::{is_expired, now_micros, unique_micros};
use stash_engine_api::engine::key_mismatch;
use stash_engine_api::group_commit::WriteOp;
use stash_engine_api::{
    ByteEncoding, Capabilities, Digest, DigestAlgo, Engine, EntryMeta, Error, ErrorKind, LockAttempt,
    MetaIter, Put, Record, RecordIter, Result, Version, WriteOptions,
};

use crate::LmdbEngine;
use crate::env::{Db, LmdbEnv};
use crate::error::{Fail, damaged};
use crate::group::Layout;
use crate::scan::Scan;

const KEY_SUFFIX: &[u8] = b".key";
const VALUE_SUFFIX: &[u8] = b".value";
const OPAQUE: &str = "__hs_opaque__";

/// An LMDB stash in the Python library's layout.
pub struct PythonLmdbEngine {
    inner: LmdbEngine,
    encoding: Arc<dyn ByteEncoding>,
}

impl fmt::Debug for PythonLmdbEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PythonLmdbEngine")
            .field("env", &self.inner.env)
            .field("encoding", &self.encoding.label())
            .finish()
    }
}

/// The LMDB record names of a slot: `<hex>.key` and `<hex>.value`.
fn names(digest: &Digest) -> (Vec<u8>, Vec<u8>) {
    let hex = digest.to_hex();
    let mut key = Vec::with_capacity(38);
    key.extend_from_slice(hex.as_bytes());
    let mut value = key.clone();
    key.extend_from_slice(KEY_SUFFIX);
    value.extend_from_slice(VALUE_SUFFIX);
    (key, value)
}

/// A parsed envelope, borrowing the decoded JSON text.
struct Envelope<'a> {
    values: Vec<&'a RawValue>,
    /// Microseconds since the epoch, one per value.
    written_at: Vec<i64>,
    expires: Option<i64>,
}

#[derive(Deserialize)]
struct EnvelopeJson<'a> {
    #[serde(rename = "__hs_v1__", default)]
    marker: bool,
    #[serde(rename = "_values", borrow, default)]
    values: Vec<&'a RawValue>,
    #[serde(rename = "_written_at", default)]
    written_at: Vec<f64>,
    #[serde(rename = "_expires_at", default)]
    expires_at: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpaqueJson {
    #[serde(rename = "__hs_opaque__")]
    data: String,
}

fn secs_to_micros(secs: f64) -> i64 {
    (secs * 1e6).round() as i64
}

fn push_secs(out: &mut String, micros: i64) {
    use fmt::Write as _;
    // `{:?}` keeps a `.0` on whole seconds and round-trips exactly (microseconds
    // near today's epoch fit a double's 53 bits).
    let _ = write!(out, "{:?}", micros as f64 / 1e6);
}

impl<'a> Envelope<'a> {
    /// Parses decoded envelope text; a bare value (no envelope, as Python's
    /// oldest versions wrote) is one version written at the epoch, as Python reads it.
    fn parse(text: &'a [u8]) -> Result<Envelope<'a>, &'static str> {
        if let Ok(env) = serde_json::from_slice::<EnvelopeJson<'a>>(text)
            && env.marker
        {
            let mut written_at: Vec<i64> = env.written_at.into_iter().map(secs_to_micros).collect();
            written_at.resize(env.values.len(), 0);
            if env.values.is_empty() {
                return Err("envelope holds no value");
            }
            return Ok(Envelope {
                values: env.values,
                written_at,
                expires: env.expires_at.map(secs_to_micros),
            });
        }
        let bare: &RawValue = serde_json::from_slice(text).map_err(|_| "value record is not JSON")?;
        Ok(Envelope { values: vec![bare], written_at: vec![0], expires: None })
    }

    fn newest(&self) -> (i64, &'a RawValue) {
        let last = self.values.len() - 1;
        (self.written_at[last], self.values[last])
    }
}

/// Envelope text from `(micros, value JSON)` pairs.
fn build<'v>(versions: impl Iterator<Item = (i64, &'v str)> + Clone, expires: Option<i64>) -> String {
    let mut out = String::from(r#"{"__hs_v1__":true,"_fv":1,"_values":["#);
    for (i, (_, v)) in versions.clone().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(v);
    }
    out.push_str(r#"],"_written_at":["#);
    for (i, (at, _)) in versions.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_secs(&mut out, at);
    }
    out.push(']');
    if let Some(at) = expires {
        out.push_str(r#","_expires_at":"#);
        push_secs(&mut out, at);
    }
    out.push('}');
    out
}

impl PythonLmdbEngine {
    /// The Python layout on the environment of `engine`, with the stash's encoding.
    pub(crate) fn new(engine: Arc<LmdbEngine>, encoding: Arc<dyn ByteEncoding>) -> PythonLmdbEngine {
        Self::on(&engine, encoding)
    }

    /// The Python layout on the environment of `engine` (a handle, not a
    /// new environment): how a group commit's leader stores another handle's
    /// queued write.
    pub(crate) fn on(engine: &LmdbEngine, encoding: Arc<dyn ByteEncoding>) -> PythonLmdbEngine {
        PythonLmdbEngine { inner: LmdbEngine::from_env(engine.env.clone()), encoding }
    }

    /// Runs `op` through the environment's group-commit queue, in this layout.
    fn submit(&self, op: WriteOp<'_>) -> Result<bool> {
        self.inner.submit(Layout::Python(self.encoding.clone()), op)
    }

    /// Runs `op` (its digests and keys canonical) in `wtxn`: what the
    /// operation returns (`put`s: false). Every single-key operation checks
    /// the slot (its key, its envelope) before it writes.
    pub(crate) fn apply(&self, wtxn: &mut RwTxn<'_>, db: Db, op: &WriteOp<'_>) -> Result<bool, Fail> {
        match op {
            WriteOp::Put(item, options) => {
                self.insert(wtxn, db, &item.digest, &item.key, &item.value, *options).map(|()| false)
            }
            WriteOp::PutMany(items, options) => {
                items
                    .iter()
                    .try_for_each(|i| self.insert(wtxn, db, &i.digest, &i.key, &i.value, *options))?;
                Ok(false)
            }
            WriteOp::PutIfAbsent(item, options) => {
                if self.read_slot(wtxn, db, &item.digest, &item.key, |_| Ok(()))?.is_some() {
                    return Ok(false);
                }
                self.insert(wtxn, db, &item.digest, &item.key, &item.value, *options)?;
                Ok(true)
            }
            WriteOp::Delete(digest, key) => self.remove(wtxn, db, digest, key),
            WriteOp::DeleteUnlessRewritten(digest, key, seen) => {
                self.remove_unless_rewritten(wtxn, db, digest, key, *seen)
            }
        }
    }

    /// Deletes both records of `key` inside `wtxn`; true if it was there and live.
    fn remove(&self, wtxn: &mut RwTxn<'_>, db: Db, digest: &Digest, key: &[u8]) -> Result<bool, Fail> {
        let (key_name, value_name) = names(digest);
        let Some(stored_key) = db.get(wtxn, &key_name)? else {
            // A value without its key is removed too, but was not there.
            db.delete(wtxn, &value_name)?;
            return Ok(false);
        };
        self.check_key(stored_key, key, digest)?;
        // A damaged value may be deleted; an expired one was not there to the caller.
        let live = match db.get(wtxn, &value_name)? {
            None => false,
            Some(stored) => match self.encoding.decode(stored) {
                Ok(plain) => Envelope::parse(&plain).map_or(true, |e| !is_expired(e.expires, now_micros())),
                Err(_) => true,
            },
        };
        db.delete(wtxn, &key_name)?;
        db.delete(wtxn, &value_name)?;
        Ok(live)
    }

    /// Deletes both records of `key` inside `wtxn` unless its envelope's
    /// newest write time is after `seen`; true if an entry was deleted.
    fn remove_unless_rewritten(
        &self,
        wtxn: &mut RwTxn<'_>,
        db: Db,
        digest: &Digest,
        key: &[u8],
        seen: i64,
    ) -> Result<bool, Fail> {
        let (key_name, value_name) = names(digest);
        let Some(stored_key) = db.get(wtxn, &key_name)? else { return Ok(false) };
        self.check_key(stored_key, key, digest)?;
        let newest = match db.get(wtxn, &value_name)? {
            None => None,
            Some(stored) => {
                let plain = self.plain(stored, digest)?;
                let envelope = Envelope::parse(&plain).map_err(|reason| self.damaged(reason, digest))?;
                Some(envelope.newest().0)
            }
        };
        if newest.is_some_and(|at| at > seen) {
            return Ok(false);
        }
        db.delete(wtxn, &key_name)?;
        db.delete(wtxn, &value_name)?;
        Ok(newest.is_some())
    }

    fn env(&self) -> &Arc<LmdbEnv> {
        &self.inner.env
    }

    /// Refuses a slot whose `.key` record holds `stored` instead of `key`
    /// (a damaged record), naming the data file.
    fn check_key(&self, stored: &[u8], key: &[u8], digest: &Digest) -> Result<(), Fail> {
        if stored == key {
            return Ok(());
        }
        Err(key_mismatch(digest).with_context("file", self.env().file().display()).into())
    }

    fn damaged(&self, reason: &str, digest: &Digest) -> Error {
        damaged(reason, self.env().file()).with_context("digest", digest)
    }

    /// The slot and key bytes the Python library uses for `key`: lz4 keys are
    /// recompressed as Python's LZ4 1.9.4 does. A caller's digest that is not the md5
    /// of its key (a deliberate slot) is kept.
    fn canon<'k>(&self, digest: &Digest, key: &'k [u8]) -> Result<(Digest, Cow<'k, [u8]>)> {
        match self.encoding.python_key(key)? {
            None => Ok((*digest, Cow::Borrowed(key))),
            Some(python) if python == key => Ok((*digest, Cow::Borrowed(key))),
            Some(python) => {
                let slot = if DigestAlgo::Md5.digest(key) == *digest {
                    DigestAlgo::Md5.digest(&python)
                } else {
                    *digest
                };
                Ok((slot, Cow::Owned(python)))
            }
        }
    }

    /// Decodes stored envelope bytes to their JSON text.
    fn plain(&self, stored: &[u8], digest: &Digest) -> Result<Vec<u8>, Fail> {
        self.encoding
            .decode(stored)
            .map_err(|e| Fail::from(self.damaged(&format!("the value record does not decode: {e}"), digest)))
    }

    /// The encoded bytes of one value of an envelope.
    fn encode_value(&self, value: &RawValue) -> Result<Vec<u8>> {
        let text = value.get();
        if text.starts_with(r#"{"__hs_opaque__""#)
            && let Ok(opaque) = serde_json::from_str::<OpaqueJson>(text)
            && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(opaque.data)
        {
            return Ok(bytes);
        }
        self.encoding.encode(text.as_bytes())
    }

    /// The JSON text an encoded value is spliced in as.
    fn value_text(&self, encoded: &[u8]) -> String {
        if let Ok(plain) = self.encoding.decode(encoded)
            && let Ok(text) = String::from_utf8(plain)
            && serde_json::from_str::<&RawValue>(&text).is_ok()
        {
            return text;
        }
        let data = base64::engine::general_purpose::STANDARD.encode(encoded);
        format!(r#"{{"{OPAQUE}":"{data}"}}"#)
    }

    /// Reads the slot of a canonical digest: `None` if absent; checks the key.
    fn read_slot<R>(
        &self,
        rtxn: &RoTxn<'_>,
        db: Db,
        digest: &Digest,
        key: &[u8],
        then: impl FnOnce(&Envelope<'_>) -> Result<R, Fail>,
    ) -> Result<Option<R>, Fail> {
        let (key_name, value_name) = names(digest);
        let Some(stored_key) = db.get(rtxn, &key_name)? else { return Ok(None) };
        self.check_key(stored_key, key, digest)?;
        let Some(stored) = db.get(rtxn, &value_name)? else { return Ok(None) };
        let plain = self.plain(stored, digest)?;
        let envelope = Envelope::parse(&plain).map_err(|reason| self.damaged(reason, digest))?;
        if is_expired(envelope.expires, now_micros()) {
            return Ok(None);
        }
        then(&envelope).map(Some)
    }

    /// Writes one item inside `wtxn` (its key already canonical).
    fn insert(
        &self,
        wtxn: &mut RwTxn<'_>,
        db: Db,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<(), Fail> {
        let (key_name, value_name) = names(digest);
        let text = self.value_text(value);
        let stored_key = db.get(wtxn, &key_name)?.map(<[u8]>::to_vec);
        if let Some(stored) = &stored_key {
            self.check_key(stored, key, digest)?;
        }
        let old = match &stored_key {
            Some(_) if options.append => db.get(wtxn, &value_name)?.map(<[u8]>::to_vec),
            _ => None,
        };
        let envelope = match old {
            Some(old) => {
                let plain = self.plain(&old, digest)?;
                let env = Envelope::parse(&plain).map_err(|reason| self.damaged(reason, digest))?;
                if is_expired(env.expires, now_micros()) {
                    // An expired entry is gone: the append starts a new history.
                    build(std::iter::once((unique_micros(), text.as_str())), options.expires_at_micros)
                } else {
                    let (last, _) = env.newest();
                    let micros = unique_micros().max(last.saturating_add(1));
                    let versions = env
                        .written_at
                        .iter()
                        .copied()
                        .zip(env.values.iter().map(|v| v.get()))
                        .chain(std::iter::once((micros, text.as_str())));
                    build(versions, options.expires_at_micros)
                }
            }
            None => build(std::iter::once((unique_micros(), text.as_str())), options.expires_at_micros),
        };
        let encoded = self.encoding.encode(envelope.as_bytes())?;
        if stored_key.is_none() {
            db.put(wtxn, &key_name, key)?;
        }
        db.put(wtxn, &value_name, &encoded)?;
        Ok(())
    }

    fn scan_with<T: 'static>(
        &self,
        convert: impl Fn(&Self, &RoTxn<'_>, Db, Digest, &[u8], i64) -> Result<Option<T>> + Send + Sync + 'static,
    ) -> Scan<T> {
        let this = PythonLmdbEngine {
            inner: LmdbEngine::from_env(self.env().clone()),
            encoding: self.encoding.clone(),
        };
        Scan::with(
            self.env().clone(),
            Box::new(move |env, rtxn, db, lmdb_key, stored, now| {
                let hex = lmdb_key.strip_suffix(KEY_SUFFIX);
                if hex.is_none()
                    && lmdb_key.ends_with(VALUE_SUFFIX)
                    && lmdb_key.len() == 32 + VALUE_SUFFIX.len()
                {
                    return None; // read with its key record
                }
                let digest = hex.and_then(|h| std::str::from_utf8(h).ok()).and_then(Digest::from_hex);
                let Some(digest) = digest else {
                    return Some(Err(Error::new(
                        ErrorKind::Corrupt,
                        "an LMDB record that is not `<md5 hex>.key` or `<md5 hex>.value`: \
                         not written in the Python layout",
                    )
                    .with_context("file", env.file().display())));
                };
                convert(&this, rtxn, db, digest, stored, now)
                    .map_err(|e| e.with_context("digest", digest))
                    .transpose()
            }),
        )
    }

    /// The envelope of a slot while scanning (`None`: half-written, skipped).
    fn scan_envelope<R>(
        &self,
        rtxn: &RoTxn<'_>,
        db: Db,
        digest: &Digest,
        then: impl FnOnce(&Envelope<'_>, usize) -> Result<R>,
    ) -> Result<Option<R>> {
        let (_, value_name) = names(digest);
        let stored = db
            .get(rtxn, &value_name)
            .map_err(|e| crate::error::heed_error(e, "read a value", self.env().file()))?;
        let Some(stored) = stored else { return Ok(None) };
        let plain = self
            .plain(stored, digest)
            .map_err(|f| crate::error::to_error(f, "read a value", self.env().file()))?;
        let envelope = Envelope::parse(&plain).map_err(|reason| self.damaged(reason, digest))?;
        then(&envelope, stored.len()).map(Some)
    }
}

impl Engine for PythonLmdbEngine {
    fn name(&self) -> &'static str {
        "lmdb"
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (digest, key) = self.canon(digest, key)?;
        self.env().read("read a value", |rtxn, db| {
            let found =
                self.read_slot(rtxn, db, &digest, &key, |env| Ok(self.encode_value(env.newest().1)?))?;
            Ok(found)
        })
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        if options.expires_at_micros.is_some() {
            self.inner.note_expiring()?;
        }
        let (digest, key) = self.canon(digest, key)?;
        self.submit(WriteOp::put(&digest, &key, value, options)).map(|_| ())
    }

    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        if options.expires_at_micros.is_some() {
            self.inner.note_expiring()?;
        }
        let canon = items
            .iter()
            .map(|p| self.canon(&p.digest, p.key).map(|(d, k)| (d, k, p.value)))
            .collect::<Result<Vec<_>>>()?;
        let puts: Vec<Put<'_>> =
            canon.iter().map(|(digest, key, value)| Put { digest: *digest, key, value }).collect();
        self.submit(WriteOp::put_many(&puts, options)).map(|_| ())
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let (digest, key) = self.canon(digest, key)?;
        self.submit(WriteOp::delete(&digest, &key))
    }

    /// In one write transaction (perhaps shared: group commit): decodes the
    /// envelope's newest write time and deletes both records only if it is
    /// not after `seen_written_at_micros` (the time `scan_meta` reads from
    /// the same envelope). An envelope that
    /// does not decode is a `Corrupt` error, left in place (`delete` removes it);
    /// a key record without its value record is removed, as `delete` does, but
    /// was not an entry (false).
    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        let (digest, key) = self.canon(digest, key)?;
        self.submit(WriteOp::delete_unless_rewritten(&digest, &key, seen_written_at_micros))
    }

    /// In one write transaction (perhaps shared: group commit): reads the slot
    /// (its key checked, its envelope decoded for the expiry) and writes only
    /// if it holds no live entry. LMDB serialises write transactions across threads and processes, so of many
    /// racing callers exactly one stores.
    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        if options.expires_at_micros.is_some() {
            self.inner.note_expiring()?;
        }
        let (digest, key) = self.canon(digest, key)?;
        self.submit(WriteOp::put_if_absent(&digest, &key, value, options))
    }

    fn try_lock(&self, name: &Digest, lease: Duration) -> Result<LockAttempt> {
        self.inner.try_lock(name, lease)
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let (digest, key) = self.canon(digest, key)?;
        if !self.inner.may_expire() {
            let (key_name, value_name) = names(&digest);
            return self.env().read("look a key up", |rtxn, db| {
                let Some(stored_key) = db.get(rtxn, &key_name)? else { return Ok(false) };
                self.check_key(stored_key, &key, &digest)?;
                Ok(db.get(rtxn, &value_name)?.is_some())
            });
        }
        self.env().read("look a key up", |rtxn, db| {
            Ok(self.read_slot(rtxn, db, &digest, &key, |_| Ok(()))?.is_some())
        })
    }

    /// Records over two, as the Python library counts (no scan), while no entry
    /// was ever written with an expiry; then a scan of the live entries.
    fn len(&self) -> Result<usize> {
        if self.inner.may_expire() {
            return self.scan_keys()?.try_fold(0, |n, r| r.map(|_| n + 1));
        }
        self.env().read("count the keys", |rtxn, db| Ok(db.len(rtxn)? as usize / 2))
    }

    fn is_empty(&self) -> Result<bool> {
        if self.inner.may_expire() {
            return Ok(self.scan_keys()?.next().is_none());
        }
        self.env().read("count the keys", |rtxn, db| Ok(db.len(rtxn)? < 2))
    }

    fn clear(&self) -> Result<()> {
        self.inner.clear()
    }

    fn scan(&self) -> Result<RecordIter> {
        Ok(Box::new(self.scan_with(|this, rtxn, db, digest, stored_key, now| {
            let value = this.scan_envelope(rtxn, db, &digest, |env, _| {
                if is_expired(env.expires, now) {
                    return Ok(None);
                }
                this.encode_value(env.newest().1).map(Some)
            })?;
            Ok(value.flatten().map(|value| Record { digest, key: stored_key.to_vec(), value }))
        })))
    }

    fn scan_keys(&self) -> Result<RecordIter> {
        let check_expiry = self.inner.may_expire();
        Ok(Box::new(self.scan_with(move |this, rtxn, db, digest, stored_key, now| {
            let live = if check_expiry {
                this.scan_envelope(rtxn, db, &digest, |env, _| Ok(!is_expired(env.expires, now)))?
            } else {
                let (_, value_name) = names(&digest);
                db.get(rtxn, &value_name)
                    .map_err(|e| crate::error::heed_error(e, "read a value", this.env().file()))?
                    .map(|_| true)
            };
            Ok(live.filter(|l| *l).map(|_| Record { digest, key: stored_key.to_vec(), value: Vec::new() }))
        })))
    }

    /// Metadata of every entry (expired ones too); `value_bytes` re-encodes each version.
    fn scan_meta(&self) -> Result<MetaIter> {
        Ok(Box::new(self.scan_with(|this, rtxn, db, digest, stored_key, _now| {
            this.scan_envelope(rtxn, db, &digest, |env, _| {
                let mut value_bytes = 0;
                for v in &env.values {
                    value_bytes += this.encode_value(v)?.len() as u64;
                }
                Ok(EntryMeta {
                    digest,
                    key: stored_key.to_vec(),
                    written_at_micros: env.newest().0,
                    expires_at_micros: env.expires,
                    versions: env.values.len() as u64,
                    value_bytes,
                })
            })
        })))
    }

    fn disk_usage(&self) -> Result<Option<u64>> {
        self.inner.disk_usage()
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let (digest, key) = self.canon(digest, key)?;
        self.env().read("read the versions of a value", |rtxn, db| {
            self.read_slot(rtxn, db, &digest, &key, |env| {
                env.values
                    .iter()
                    .zip(&env.written_at)
                    .enumerate()
                    .map(|(i, (v, at))| {
                        Ok(Version {
                            number: i as u64 + 1,
                            written_at_micros: *at,
                            value: self.encode_value(v)?,
                        })
                    })
                    .collect::<Result<Vec<_>, Fail>>()
            })
        })
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
}
