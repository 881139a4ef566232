//! The engine: one collection, one document per key.

use std::fmt;
use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, RawDocument, RawDocumentBuf, doc};
use mongodb::error::{ErrorKind as DriverKind, WriteFailure};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use stash_engine_api::clock::{now_micros, unique_micros};
use stash_engine_api::engine::key_mismatch;
use stash_engine_api::{
    Capabilities, Digest, Engine, EntryMeta, Error, ErrorKind, HeldLock, LockAttempt, MetaIter, Put, Record,
    RecordIter, Result, Version, WriteOptions,
};

use crate::chunks::Chunks;
use crate::client::{Connection, Reply, backend, error_code};
use crate::layout::{self, DUPLICATE_KEY, INLINE_BUDGET_BYTES, INLINE_VALUE_BYTES, MAX_KEY_BYTES, NewValue};
use crate::off_runtime::block;
use crate::scan::{Scan, ScanSpec, ValueScan};

/// Statements per `update` command in `put_many` (CongoDB scans the whole
/// collection per statement: bigger commands would block it for seconds).
const STATEMENTS_PER_COMMAND: usize = 250;
/// Payload bytes per `update` command in `put_many` (a command must stay under 16 MiB).
const BYTES_PER_COMMAND: usize = 8 * 1024 * 1024;
/// How often a write whose slot changed under it is retried before giving up.
const RETRIES: usize = 16;

/// A stash stored in one MongoDB collection.
pub struct MongoEngine {
    conn: Connection,
    database: Database,
    collection: Collection<RawDocumentBuf>,
    /// The same collection through the driver's sync API, for the scans' cursors.
    synced: mongodb::sync::Collection<RawDocumentBuf>,
    /// Values too large to live in their entry.
    chunks: Chunks,
    /// `<collection>.locks` through the driver's sync API: the documents of
    /// [`Engine::try_lock`], released by a guard's `drop`.
    locks: mongodb::sync::Collection<Document>,
    /// `<database>.<collection>`, for messages.
    namespace: String,
    /// How long one command's reply may take ([`crate::MongoOptions::reply_timeout`]).
    reply_timeout: Duration,
}

/// Whether a failed call may still have been applied: the driver error
/// behind it says the request may have reached the server and only the reply
/// was lost (a broken connection, a timeout, an interrupted operation). A
/// refusal by the server, or a failure before anything was sent (no server
/// selected), means it was not. The chunks of such a write are kept: the
/// entry the server applied may list them, and removing them would leave a
/// damaged value for good, while keeping them costs at most an orphan
/// (which `clear` drops).
fn reply_lost(err: &Error) -> bool {
    let Some(driver) = std::error::Error::source(err).and_then(|s| s.downcast_ref::<mongodb::error::Error>())
    else {
        return false;
    };
    !matches!(
        driver.kind.as_ref(),
        DriverKind::Command(_)
            | DriverKind::Write(WriteFailure::WriteError(_))
            | DriverKind::ServerSelection { .. }
            | DriverKind::InvalidArgument { .. }
            | DriverKind::Authentication { .. }
    )
}

/// Whether a write error is a duplicate `_id` (CongoDB reports it as code 1 with this message).
fn is_duplicate(code: i32, message: &str) -> bool {
    code == DUPLICATE_KEY || message.to_ascii_lowercase().contains("duplicate key")
}

/// An integer of a server reply, whatever its BSON type.
fn int(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(f) => Some(*f as i64),
        _ => None,
    }
}

impl fmt::Debug for MongoEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoEngine")
            .field("url", &self.conn.shown_url)
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// One write error reported inside an `update` reply.
#[derive(Debug)]
struct WriteError {
    index: usize,
    code: i32,
    message: String,
}

impl MongoEngine {
    /// Opens the collection `collection` of `database`, creating its index
    /// (which also checks that the server answers).
    pub(crate) fn open(
        conn: Connection,
        database: &str,
        collection: &str,
        max_value_bytes: u64,
        reply_timeout: Duration,
    ) -> Result<MongoEngine> {
        let db = conn.client.database(database);
        let synced = conn.sync.database(database);
        let namespace = format!("{database}.{collection}");
        let chunks = Chunks {
            database: db.clone(),
            collection: db.collection::<RawDocumentBuf>(&format!("{collection}.chunks")),
            url: conn.shown_url.clone(),
            namespace: format!("{namespace}.chunks"),
            max_value_bytes,
            reply_timeout,
        };
        let engine = MongoEngine {
            collection: db.collection::<RawDocumentBuf>(collection),
            synced: synced.collection::<RawDocumentBuf>(collection),
            locks: synced.collection::<Document>(&format!("{collection}.locks")),
            chunks,
            namespace,
            database: db,
            conn,
            reply_timeout,
        };
        block(engine.create_indexes())?;
        Ok(engine)
    }

    /// The collection's name.
    pub fn collection_name(&self) -> &str {
        self.collection.name()
    }

    /// The database's name.
    pub fn database_name(&self) -> &str {
        self.database.name()
    }

    /// The server URL, with any password replaced by `***`.
    pub fn url(&self) -> &str {
        &self.conn.shown_url
    }

    fn error(&self, err: mongodb::error::Error, action: &str) -> Error {
        backend(err, action, &self.conn.shown_url, &self.namespace)
    }

    fn with_place(&self, err: Error) -> Error {
        err.with_context("url", &self.conn.shown_url).with_context("collection", &self.namespace)
    }

    /// The index on `expires_at` that makes `len` and expiry scans cheap.
    async fn create_indexes(&self) -> Result<()> {
        let command = doc! {
            "createIndexes": self.collection.name(),
            "indexes": [ { "key": { "expires_at": 1 }, "name": "expires_at_1" } ],
        };
        self.database
            .run_command(command)
            .within(self.reply_timeout)
            .await
            .map_err(|e| self.error(e, "open the stash"))?;
        Ok(())
    }

    /// Sends one ordered `update` command; returns how many statements
    /// matched or upserted, and the write error that stopped it, if any.
    async fn update(&self, statements: Vec<Document>) -> Result<(usize, Option<WriteError>)> {
        let command = doc! { "update": self.collection.name(), "updates": statements, "ordered": true };
        let reply = self
            .database
            .run_command(command)
            .within(self.reply_timeout)
            .await
            .map_err(|e| self.error(e, "write entries"))?;
        if let Ok(concern) = reply.get_document("writeConcernError") {
            let message = concern.get_str("errmsg").unwrap_or("write concern not satisfied");
            return Err(self.with_place(Error::new(
                ErrorKind::Backend,
                format!("cannot write entries: the MongoDB server reported a write concern error: {message}"),
            )));
        }
        let n = reply.get("n").and_then(int).unwrap_or(0).max(0) as usize;
        let Ok(errors) = reply.get_array("writeErrors") else { return Ok((n, None)) };
        let Some(first) = errors.iter().filter_map(|e| e.as_document()).next() else { return Ok((n, None)) };
        let index = first.get("index").and_then(int).unwrap_or(0).max(0) as usize;
        let code = first.get("code").and_then(int).unwrap_or(0) as i32;
        let message = first.get_str("errmsg").unwrap_or("").to_string();
        Ok((n, Some(WriteError { index, code, message })))
    }

    fn write_failed(&self, err: WriteError, digest: &Digest) -> Error {
        self.with_place(
            Error::new(
                ErrorKind::Backend,
                format!(
                    "cannot write an entry: the MongoDB server refused it (code {}): {}",
                    err.code, err.message
                ),
            )
            .with_context("digest", digest),
        )
    }

    fn check_key(&self, digest: &Digest, key: &[u8]) -> Result<()> {
        if key.len() <= MAX_KEY_BYTES {
            return Ok(());
        }
        Err(self.with_place(
            Error::new(
                ErrorKind::Unsupported,
                format!(
                    "an encoded key of {} bytes is too long for MongoDB: at most {MAX_KEY_BYTES} bytes",
                    key.len()
                ),
            )
            .with_context("digest", digest),
        ))
    }

    /// Writes one entry on its own: a value stored in chunks, or a batched
    /// statement that met a duplicate `_id` (the slot holds another key, an
    /// expired entry, chunks to remove, an entry too large to append inline,
    /// or another writer inserted it first). Reads the slot, then replaces
    /// (with `findAndModify`, removing the chunks it replaced) or appends.
    async fn put_alone(&self, put: &Put<'_>, at: i64, options: WriteOptions) -> Result<()> {
        let mut chunks: Option<Vec<ObjectId>> = None;
        let written = self.put_alone_with(put, at, options, &mut chunks).await;
        if written.is_err()
            && let Some(ids) = chunks
        {
            self.chunks.remove(&ids).await;
        }
        written
    }

    async fn put_alone_with(
        &self,
        put: &Put<'_>,
        at: i64,
        options: WriteOptions,
        chunks: &mut Option<Vec<ObjectId>>,
    ) -> Result<()> {
        let (digest, key, value) = (&put.digest, put.key, put.value);
        for attempt in 0..RETRIES {
            if attempt > 0 {
                stash_engine_api::observe::retry("mongo", "put", Some(digest), attempt);
            }
            let now = now_micros();
            let current = self
                .collection
                .find_one(layout::id_filter(digest))
                .projection(layout::without_values())
                .within(self.reply_timeout)
                .await
                .map_err(|e| self.error(e, "read an entry"))?;
            let live = match &current {
                Some(doc) if !layout::holds(doc, digest, key)? => {
                    return Err(self.with_place(key_mismatch(digest)));
                }
                Some(doc) => !layout::is_dead(doc, now)?,
                None => false,
            };
            let appending = options.append && live;
            let inline_now = match &current {
                Some(doc) if appending => usize::try_from(layout::inline(doc)?).unwrap_or(0),
                _ => 0,
            };
            let chunked = value.len() > INLINE_VALUE_BYTES
                || (appending
                    && inline_now.saturating_add(key.len()).saturating_add(value.len())
                        > INLINE_BUDGET_BYTES);
            if chunked && chunks.is_none() {
                *chunks = Some(self.chunks.insert(layout::object_id(digest), at, value).await?);
            }
            let new_value = match chunks {
                Some(ids) if chunked => NewValue::Chunked { size: value.len(), ids },
                _ => NewValue::Inline(value),
            };
            if appending {
                let appended = self
                    .update(vec![layout::append_statement(digest, key, new_value, at, options, now)])
                    .await;
                if appended.as_ref().is_err_and(reply_lost) {
                    *chunks = None; // the append may have landed: its chunks stay
                }
                match appended? {
                    // No upsert: if the entry vanished, expired or grew meanwhile, nothing was written.
                    (0, None) => continue,
                    (_, None) => return self.keep_chunks(chunks, chunked).await,
                    (_, Some(err)) if is_duplicate(err.code, &err.message) => continue,
                    (_, Some(err)) => return Err(self.write_failed(err, digest)),
                }
            }
            let replaced = self
                .collection
                .find_one_and_update(
                    layout::slot_filter(digest, key),
                    layout::replace_update(new_value, at, options),
                )
                .upsert(true)
                .return_document(ReturnDocument::Before)
                .projection(doc! { "chunk_ids": 1 })
                .within(self.reply_timeout)
                .await;
            match replaced {
                Ok(old) => {
                    if let Some(old) = old {
                        self.chunks.remove(&layout::chunk_ids(&old)?).await;
                    }
                    return self.keep_chunks(chunks, chunked).await;
                }
                Err(e) if is_duplicate(error_code(&e).unwrap_or(0), &e.to_string()) => continue,
                Err(e) => {
                    let err = self.error(e, "write an entry");
                    if reply_lost(&err) {
                        *chunks = None; // the entry may list them now: they stay
                    }
                    return Err(err);
                }
            }
        }
        Err(self.with_place(
            Error::new(
                ErrorKind::Backend,
                "cannot write an entry: its slot kept changing under concurrent writers",
            )
            .with_context("digest", digest),
        ))
    }

    /// The atomic step of [`Engine::put_if_absent`], with `value` already
    /// stored in the chunks `ids` when it is too large to live inline:
    /// inserts the entry's document (a duplicate `_id` means the slot is
    /// taken), else takes over an expired entry of this key with a
    /// `findAndModify` conditioned on `expires_at <= now` (removing the
    /// chunks it replaced), else reads the slot to tell a live entry (false)
    /// from another key (an error) or a slot that changed meanwhile (again).
    async fn put_if_absent_with(
        &self,
        digest: &Digest,
        key: &[u8],
        value: NewValue<'_>,
        at: i64,
        options: WriteOptions,
    ) -> Result<bool> {
        let entries = self.collection.clone_with_type::<Document>();
        for attempt in 0..RETRIES {
            if attempt > 0 {
                stash_engine_api::observe::retry("mongo", "put_if_absent", Some(digest), attempt);
            }
            match entries
                .insert_one(layout::new_entry(digest, key, value, at, options))
                .within(self.reply_timeout)
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if is_duplicate(error_code(&e).unwrap_or(0), &e.to_string()) => {}
                Err(e) => return Err(self.error(e, "write an entry")),
            }
            let mut stale = layout::slot_filter(digest, key);
            stale.extend(layout::expired_clause(now_micros()));
            let replaced = self
                .collection
                .find_one_and_update(stale, layout::replace_update(value, at, options))
                .return_document(ReturnDocument::Before)
                .projection(doc! { "chunk_ids": 1 })
                .within(self.reply_timeout)
                .await
                .map_err(|e| self.error(e, "replace an expired entry"))?;
            if let Some(old) = replaced {
                // Stored: damaged old `chunk_ids` only leave chunks nothing refers to.
                if let Ok(ids) = layout::chunk_ids(&old) {
                    self.chunks.remove(&ids).await;
                }
                return Ok(true);
            }
            let current = self
                .collection
                .find_one(layout::id_filter(digest))
                .projection(layout::without_values())
                .within(self.reply_timeout)
                .await
                .map_err(|e| self.error(e, "read an entry"))?;
            match current {
                // Removed since the insert failed: insert again.
                None => continue,
                Some(doc) if !layout::holds(&doc, digest, key).map_err(|e| self.located(e, digest))? => {
                    return Err(self.with_place(key_mismatch(digest)));
                }
                Some(doc) if !layout::is_dead(&doc, now_micros()).map_err(|e| self.located(e, digest))? => {
                    return Ok(false);
                }
                // Expired since the takeover was tried: take it over now.
                Some(_) => continue,
            }
        }
        Err(self.with_place(
            Error::new(
                ErrorKind::Backend,
                "cannot write an absent entry: its slot kept changing under concurrent writers",
            )
            .with_context("digest", digest),
        ))
    }

    /// Whether the slot's document lists the chunk `id`: a write whose reply
    /// was lost (or reported as a duplicate of itself) may have stored them.
    async fn lists_chunk(&self, digest: &Digest, id: ObjectId) -> bool {
        let filter = doc! { "_id": layout::object_id(digest), "chunk_ids": id };
        matches!(
            self.collection.find_one(filter).projection(doc! { "_id": 1 }).within(self.reply_timeout).await,
            Ok(Some(_))
        )
    }

    /// After a successful write: chunks inserted for an attempt that ended up
    /// storing the value inline are removed.
    async fn keep_chunks(&self, chunks: &mut Option<Vec<ObjectId>>, used: bool) -> Result<()> {
        if !used && let Some(ids) = chunks.take() {
            self.chunks.remove(&ids).await;
        }
        *chunks = None;
        Ok(())
    }

    /// Reads the slot's document (without values when `light`), checks its
    /// key, and hides it once expired.
    async fn find(&self, digest: &Digest, key: &[u8], light: bool) -> Result<Option<RawDocumentBuf>> {
        let mut find = self.collection.find_one(layout::id_filter(digest));
        if light {
            find = find.projection(layout::without_values());
        }
        let Some(doc) = find.within(self.reply_timeout).await.map_err(|e| self.error(e, "read an entry"))?
        else {
            return Ok(None);
        };
        if !layout::holds(&doc, digest, key).map_err(|e| self.located(e, digest))? {
            return Err(self.with_place(key_mismatch(digest)));
        }
        Ok(if layout::is_dead(&doc, now_micros()).map_err(|e| self.located(e, digest))? {
            None
        } else {
            Some(doc)
        })
    }

    fn located(&self, err: Error, digest: &Digest) -> Error {
        self.with_place(err.with_context("digest", digest))
    }

    fn scan_with<T: 'static>(
        &self,
        spec: ScanSpec,
        map: impl FnMut(&RawDocument) -> Result<T> + Send + 'static,
    ) -> Box<Scan<T>> {
        Box::new(Scan::new(
            self.synced.clone(),
            spec,
            self.conn.shown_url.clone(),
            self.namespace.clone(),
            Box::new(map),
        ))
    }
}

/// The `_id` of the lock document of `name`: 12 bytes of the BLAKE3 hash of
/// the whole name (an ObjectId, as CongoDB requires; names that share a
/// prefix still get different ids).
fn lock_id(name: &Digest) -> ObjectId {
    let hash = blake3::hash(&name.0);
    let mut bytes = [0u8; 12];
    bytes.copy_from_slice(&hash.as_bytes()[..12]);
    ObjectId::from_bytes(bytes)
}

/// A lock document held by this process; deleted (only if it still holds
/// our token) when dropped.
struct MongoLock {
    locks: mongodb::sync::Collection<Document>,
    namespace: String,
    name: Digest,
    id: ObjectId,
    token: String,
}

impl fmt::Debug for MongoLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoLock").field("collection", &self.namespace).field("name", &self.name).finish()
    }
}

impl HeldLock for MongoLock {}

impl Drop for MongoLock {
    fn drop(&mut self) {
        // A holder whose lease ran out and was taken over matches nothing here.
        // A release that fails leaves the lock to expire with its lease.
        let _ = self.locks.delete_one(doc! { "_id": self.id, "token": &self.token }).run();
    }
}

/// The entry as `scan_keys` yields it.
pub(crate) fn record_key(doc: &RawDocument) -> Result<Record> {
    Ok(Record { digest: layout::digest(doc)?, key: layout::key(doc)?.to_vec(), value: Vec::new() })
}

/// The entry as `scan_meta` yields it.
pub(crate) fn meta(doc: &RawDocument) -> Result<EntryMeta> {
    let digest = layout::digest(doc)?;
    let located = |e: Error| e.with_context("digest", digest);
    Ok(EntryMeta {
        digest,
        key: layout::key(doc).map_err(located)?.to_vec(),
        written_at_micros: layout::written_at(doc).map_err(located)?,
        expires_at_micros: layout::expires_at(doc).map_err(located)?,
        versions: layout::count(doc).map_err(located)?,
        value_bytes: layout::bytes(doc).map_err(located)?,
    })
}

/// The operations, written once as futures on the driver's async API: the
/// sync [`Engine`] methods run them with [`block`], the `AsyncEngine`
/// methods (feature `async`) return them to the caller's runtime.
impl MongoEngine {
    pub(crate) async fn async_get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(doc) = self.find(digest, key, false).await? else { return Ok(None) };
        let newest = layout::newest(&doc).map_err(|e| self.located(e, digest))?;
        Ok(Some(self.chunks.load(newest).await.map_err(|e| self.located(e, digest))?))
    }

    pub(crate) async fn async_put(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<()> {
        self.async_put_many(&[Put { digest: *digest, key, value }], options).await
    }

    /// An insert that fails on the slot's existing `_id`, or an update
    /// conditioned on `expires_at <= now` that takes over an expired entry
    /// (see `put_if_absent_with`). A value too large to live inline has its
    /// chunks stored first, under fresh ids nothing else refers to, so the
    /// winner's document never names a missing chunk; a call that does not
    /// store removes its own chunks (and never another writer's). A live
    /// entry seen before any chunk is written returns at once.
    pub(crate) async fn async_put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        self.check_key(digest, key)?;
        let at = unique_micros();
        if value.len() <= INLINE_VALUE_BYTES {
            return self.put_if_absent_with(digest, key, NewValue::Inline(value), at, options).await;
        }
        if self.find(digest, key, true).await?.is_some() {
            return Ok(false);
        }
        let ids = self.chunks.insert(layout::object_id(digest), at, value).await?;
        let stored = self
            .put_if_absent_with(digest, key, NewValue::Chunked { size: value.len(), ids: &ids }, at, options)
            .await;
        let landed = match (&stored, ids.first()) {
            (Ok(true), _) | (_, None) => false,
            (_, Some(id)) => self.lists_chunk(digest, *id).await,
        };
        match stored {
            Ok(true) => Ok(true),
            // The document names our chunks: our write landed (its reply was lost).
            _ if landed => Ok(true),
            // Not there yet, but the write may still land: its chunks stay.
            Err(e) if reply_lost(&e) => Err(e),
            other => {
                self.chunks.remove(&ids).await;
                other
            }
        }
    }

    /// One `update` command per 250 entries (or 8 MiB), ordered; an entry
    /// that meets a duplicate `_id`, or whose value goes to chunks, is
    /// written alone and the rest sent on.
    pub(crate) async fn async_put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        for put in items {
            self.check_key(&put.digest, put.key)?;
        }
        let mut start = 0;
        while start < items.len() {
            if items[start].value.len() > INLINE_VALUE_BYTES {
                self.put_alone(&items[start], unique_micros(), options).await?;
                start += 1;
                continue;
            }
            let now = now_micros();
            let mut statements = Vec::new();
            let mut stamps = Vec::new();
            let mut bytes = 0;
            for put in &items[start..] {
                let size = put.key.len() + put.value.len();
                if put.value.len() > INLINE_VALUE_BYTES
                    || (!statements.is_empty()
                        && (statements.len() == STATEMENTS_PER_COMMAND || bytes + size > BYTES_PER_COMMAND))
                {
                    break;
                }
                let at = unique_micros();
                statements.push(layout::fast_statement(&put.digest, put.key, put.value, at, options, now));
                stamps.push(at);
                bytes += size;
            }
            let sent = statements.len();
            match self.update(statements).await? {
                (_, None) => start += sent,
                (_, Some(err)) if is_duplicate(err.code, &err.message) && err.index < sent => {
                    self.put_alone(&items[start + err.index], stamps[err.index], options).await?;
                    start += err.index + 1;
                }
                (_, Some(err)) => {
                    let digest = items.get(start + err.index).map_or(items[start].digest, |p| p.digest);
                    return Err(self.write_failed(err, &digest));
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn async_delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        for attempt in 0..RETRIES {
            if attempt > 0 {
                stash_engine_api::observe::retry("mongo", "delete", Some(digest), attempt);
            }
            let removed = self
                .collection
                .find_one_and_delete(layout::slot_filter(digest, key))
                .projection(layout::without_values())
                .within(self.reply_timeout)
                .await
                .map_err(|e| self.error(e, "delete an entry"))?;
            if let Some(doc) = removed {
                self.chunks.remove(&layout::chunk_ids(&doc).map_err(|e| self.located(e, digest))?).await;
                // An expired entry is removed too, but was not "there" for the caller.
                return Ok(!layout::is_dead(&doc, now_micros()).map_err(|e| self.located(e, digest))?);
            }
            // Nothing matched: absent, the slot holds another key, or it was written meanwhile.
            let other = self
                .collection
                .find_one(layout::id_filter(digest))
                .projection(layout::without_values())
                .within(self.reply_timeout)
                .await
                .map_err(|e| self.error(e, "read an entry"))?;
            match other {
                None => return Ok(false),
                Some(doc) if !layout::holds(&doc, digest, key).map_err(|e| self.located(e, digest))? => {
                    return Err(self.with_place(key_mismatch(digest)));
                }
                Some(_) => continue,
            }
        }
        Err(self.with_place(
            Error::new(
                ErrorKind::Backend,
                "cannot delete an entry: its slot kept changing under concurrent writers",
            )
            .with_context("digest", digest),
        ))
    }

    /// One `findAndModify` removing the slot's document only if it holds this
    /// key and its `written_at` is not later than `seen_written_at_micros`
    /// (expired entries included); its chunks are removed after.
    pub(crate) async fn async_delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        let mut filter = layout::slot_filter(digest, key);
        filter.insert("written_at", doc! { "$lte": seen_written_at_micros });
        let removed = self
            .collection
            .find_one_and_delete(filter)
            .projection(layout::without_values())
            .within(self.reply_timeout)
            .await
            .map_err(|e| self.error(e, "delete an entry"))?;
        if let Some(doc) = removed {
            self.chunks.remove(&layout::chunk_ids(&doc).map_err(|e| self.located(e, digest))?).await;
            return Ok(true);
        }
        // Nothing removed: absent, written again since, or the slot holds another key.
        let current = self
            .collection
            .find_one(layout::id_filter(digest))
            .projection(layout::without_values())
            .within(self.reply_timeout)
            .await
            .map_err(|e| self.error(e, "read an entry"))?;
        match current {
            Some(doc) if !layout::holds(&doc, digest, key).map_err(|e| self.located(e, digest))? => {
                Err(self.with_place(key_mismatch(digest)))
            }
            _ => Ok(false),
        }
    }

    pub(crate) async fn async_contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        Ok(self.find(digest, key, true).await?.is_some())
    }

    /// The collection's document count (from its metadata) less a count of
    /// expired documents (through the `expires_at` index).
    pub(crate) async fn async_len(&self) -> Result<usize> {
        let expired = self
            .collection
            .count_documents(layout::expired_clause(now_micros()))
            .within(self.reply_timeout)
            .await
            .map_err(|e| self.error(e, "count entries"))?;
        let total = self
            .collection
            .estimated_document_count()
            .within(self.reply_timeout)
            .await
            .map_err(|e| self.error(e, "count entries"))?;
        Ok(total.saturating_sub(expired) as usize)
    }

    /// Drops the collection (and recreates its index).
    pub(crate) async fn async_clear(&self) -> Result<()> {
        self.collection
            .drop()
            .within(self.reply_timeout)
            .await
            .map_err(|e| self.error(e, "clear the stash"))?;
        self.chunks
            .collection
            .drop()
            .within(self.reply_timeout)
            .await
            .map_err(|e| self.error(e, "clear the stash"))?;
        self.create_indexes().await
    }

    pub(crate) async fn async_versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        let Some(doc) = self.find(digest, key, false).await? else { return Ok(None) };
        let versions = layout::versions(&doc).map_err(|e| self.located(e, digest))?;
        let mut out = Vec::with_capacity(versions.len());
        for (i, (at, value)) in versions.into_iter().enumerate() {
            let value = self.chunks.load(value).await.map_err(|e| self.located(e, digest))?;
            out.push(Version { number: i as u64 + 1, written_at_micros: at, value });
        }
        Ok(Some(out))
    }
}

impl Engine for MongoEngine {
    fn name(&self) -> &'static str {
        "mongo"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_persistence().with_multi_process().with_cheap_len()
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        block(self.async_get(digest, key))
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        block(self.async_put(digest, key, value, options))
    }

    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        block(self.async_put_if_absent(digest, key, value, options))
    }

    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        block(self.async_put_many(items, options))
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        block(self.async_delete(digest, key))
    }

    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        block(self.async_delete_unless_rewritten(digest, key, seen_written_at_micros))
    }

    /// Inserts the lock document `{_id, name, token, expires_at}` into
    /// `<collection>.locks` (a duplicate `_id` means it is held), or takes
    /// over one whose `expires_at` has passed with an update conditioned on
    /// it; the guard deletes it by `_id` and token. Expiry times come from
    /// this machine's clock.
    fn try_lock(&self, name: &Digest, lease: Duration) -> Result<LockAttempt> {
        let id = lock_id(name);
        let token = ObjectId::new().to_hex();
        let now = now_micros();
        let expires = now.saturating_add(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX).max(1));
        let fail = |e, action| self.error(e, action).with_context("lock", name);
        let lock =
            doc! { "_id": id, "name": layout::binary(&name.0), "token": &token, "expires_at": expires };
        let taken = match self.locks.insert_one(lock).run() {
            Ok(_) => true,
            Err(e) if is_duplicate(error_code(&e).unwrap_or(0), &e.to_string()) => {
                let stale = doc! { "_id": id, "expires_at": { "$lt": now } };
                let update = doc! { "$set": { "name": layout::binary(&name.0), "token": &token, "expires_at": expires } };
                let done =
                    self.locks.update_one(stale, update).run().map_err(|e| fail(e, "take over a lock"))?;
                done.matched_count == 1
            }
            Err(e) => return Err(fail(e, "take a lock")),
        };
        if !taken {
            return Ok(LockAttempt::Busy);
        }
        Ok(LockAttempt::Acquired(Box::new(MongoLock {
            locks: self.locks.clone(),
            namespace: self.namespace.clone(),
            name: *name,
            id,
            token,
        })))
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        block(self.async_contains(digest, key))
    }

    fn len(&self) -> Result<usize> {
        block(self.async_len())
    }

    fn clear(&self) -> Result<()> {
        block(self.async_clear())
    }

    fn scan(&self) -> Result<RecordIter> {
        let chunks = self.chunks.clone();
        Ok(Box::new(ValueScan::new(
            self.synced.clone(),
            layout::live_clause(now_micros()),
            self.conn.shown_url.clone(),
            self.namespace.clone(),
            Box::new(move |doc| {
                let digest = layout::digest(doc)?;
                let value =
                    block(chunks.load(layout::newest(doc)?)).map_err(|e| e.with_context("digest", digest))?;
                Ok(Record { digest, key: layout::key(doc)?.to_vec(), value })
            }),
        )))
    }

    fn scan_keys(&self) -> Result<RecordIter> {
        let spec = ScanSpec {
            filter: Some(layout::live_clause(now_micros())),
            projection: Some(layout::without_values()),
            page: 1000,
            batch: 1000,
        };
        Ok(self.scan_with(spec, record_key))
    }

    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        block(self.async_versions(digest, key))
    }

    /// This engine (feature `async`): its futures on the driver's async API.
    #[cfg(feature = "async")]
    fn as_async(&self) -> Option<&dyn stash_engine_api::AsyncEngine> {
        Some(self)
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        let spec =
            ScanSpec { filter: None, projection: Some(layout::without_values()), page: 1000, batch: 1000 };
        Ok(self.scan_with(spec, meta))
    }
}
