//! The engine: one collection, one document per key.

use std::fmt;

use mongodb::bson::{Document, RawDocument, RawDocumentBuf, doc};
use mongodb::sync::{Collection, Database};
use stash_core::clock::{now_micros, unique_micros};
use stash_core::engine::key_mismatch;
use stash_core::{
    Capabilities, Digest, Engine, EntryMeta, Error, ErrorKind, MetaIter, Put, Record, RecordIter, Result, Version,
    WriteOptions,
};

use crate::client::{Connection, backend};
use crate::layout::{self, DUPLICATE_KEY, MAX_ENTRY_BYTES};
use crate::scan::{Scan, ScanSpec};

/// Statements per `update` command in `put_many`.
const STATEMENTS_PER_COMMAND: usize = 1000;
/// Payload bytes per `update` command in `put_many` (a command must stay under 16 MiB).
const BYTES_PER_COMMAND: usize = 8 * 1024 * 1024;
/// How often a write whose slot changed under it is retried before giving up.
const RETRIES: usize = 16;

/// A stash stored in one MongoDB collection.
pub struct MongoEngine {
    conn: Connection,
    database: Database,
    collection: Collection<RawDocumentBuf>,
    /// `<database>.<collection>`, for messages.
    namespace: String,
}

impl fmt::Debug for MongoEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoEngine").field("url", &self.conn.shown_url).field("namespace", &self.namespace).finish()
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
    pub(crate) fn open(conn: Connection, database: &str, collection: &str) -> Result<MongoEngine> {
        let db = conn.client.database(database);
        let engine = MongoEngine {
            collection: db.collection::<RawDocumentBuf>(collection),
            namespace: format!("{database}.{collection}"),
            database: db,
            conn,
        };
        engine.create_indexes()?;
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
    fn create_indexes(&self) -> Result<()> {
        let command = doc! {
            "createIndexes": self.collection.name(),
            "indexes": [ { "key": { "expires_at": 1 }, "name": "expires_at_1" } ],
        };
        self.database.run_command(command).run().map_err(|e| self.error(e, "open the stash"))?;
        Ok(())
    }

    /// Sends one ordered `update` command; returns the write error that stopped it, if any.
    fn update(&self, statements: Vec<Document>) -> Result<Option<WriteError>> {
        let command = doc! { "update": self.collection.name(), "updates": statements, "ordered": true };
        let reply = self.database.run_command(command).run().map_err(|e| self.error(e, "write entries"))?;
        if let Ok(concern) = reply.get_document("writeConcernError") {
            let message = concern.get_str("errmsg").unwrap_or("write concern not satisfied");
            return Err(self.with_place(Error::new(
                ErrorKind::Backend,
                format!("cannot write entries: the MongoDB server reported a write concern error: {message}"),
            )));
        }
        let Ok(errors) = reply.get_array("writeErrors") else { return Ok(None) };
        let Some(first) = errors.iter().filter_map(|e| e.as_document()).next() else { return Ok(None) };
        let index = match first.get("index") {
            Some(mongodb::bson::Bson::Int32(i)) => *i as usize,
            Some(mongodb::bson::Bson::Int64(i)) => *i as usize,
            Some(mongodb::bson::Bson::Double(f)) => *f as usize,
            _ => 0,
        };
        let code = match first.get("code") {
            Some(mongodb::bson::Bson::Int32(c)) => *c,
            Some(mongodb::bson::Bson::Int64(c)) => *c as i32,
            Some(mongodb::bson::Bson::Double(f)) => *f as i32,
            _ => 0,
        };
        let message = first.get_str("errmsg").unwrap_or("").to_string();
        Ok(Some(WriteError { index, code, message }))
    }

    fn write_failed(&self, err: WriteError, digest: &Digest) -> Error {
        self.with_place(
            Error::new(
                ErrorKind::Backend,
                format!("cannot write an entry: the MongoDB server refused it (code {}): {}", err.code, err.message),
            )
            .with_context("digest", digest),
        )
    }

    fn too_large(&self, digest: &Digest, bytes: usize) -> Error {
        self.with_place(
            Error::new(
                ErrorKind::Unsupported,
                format!(
                    "an entry of {bytes} bytes (key and every kept value) does not fit in one MongoDB document: \
                     at most {MAX_ENTRY_BYTES} bytes (16 MiB less 64 KiB)"
                ),
            )
            .with_context("digest", digest),
        )
    }

    fn check_size(&self, digest: &Digest, key: &[u8], value: &[u8]) -> Result<()> {
        let bytes = key.len() + value.len();
        if bytes > MAX_ENTRY_BYTES { Err(self.too_large(digest, bytes)) } else { Ok(()) }
    }

    /// Writes one entry whose statement hit a duplicate `_id`: the slot holds
    /// another key, an expired entry (append mode), an entry that would grow
    /// past the size limit (append mode), or another writer inserted it first.
    fn resolve(&self, put: &Put<'_>, at: i64, options: WriteOptions) -> Result<()> {
        let (digest, key, value) = (&put.digest, put.key, put.value);
        for _ in 0..RETRIES {
            let now = now_micros();
            let current = self
                .collection
                .find_one(layout::id_filter(digest))
                .projection(layout::without_values())
                .run()
                .map_err(|e| self.error(e, "read an entry"))?;
            let attempt = match current {
                Some(doc) if !layout::holds(&doc, digest, key)? => return Err(self.with_place(key_mismatch(digest))),
                Some(doc) if options.append && layout::is_dead(&doc, now)? => {
                    layout::restart_statement(digest, key, value, at, options, now)
                }
                Some(doc) if options.append => {
                    let total = key.len() + layout::bytes(&doc)? as usize + value.len();
                    if total > MAX_ENTRY_BYTES {
                        return Err(self.too_large(digest, total));
                    }
                    layout::put_statement(digest, key, value, at, options, now)
                }
                _ => layout::put_statement(digest, key, value, at, options, now),
            };
            match self.update(vec![attempt])? {
                None => return Ok(()),
                Some(err) if err.code == DUPLICATE_KEY => continue,
                Some(err) => return Err(self.write_failed(err, digest)),
            }
        }
        Err(self.with_place(
            Error::new(ErrorKind::Backend, "cannot write an entry: its slot kept changing under concurrent writers")
                .with_context("digest", digest),
        ))
    }

    /// Reads the slot's document (without values when `light`), checks its
    /// key, and hides it once expired.
    fn find(&self, digest: &Digest, key: &[u8], light: bool) -> Result<Option<RawDocumentBuf>> {
        let mut find = self.collection.find_one(layout::id_filter(digest));
        if light {
            find = find.projection(layout::without_values());
        }
        let Some(doc) = find.run().map_err(|e| self.error(e, "read an entry"))? else { return Ok(None) };
        if !layout::holds(&doc, digest, key).map_err(|e| self.located(e, digest))? {
            return Err(self.with_place(key_mismatch(digest)));
        }
        Ok(if layout::is_dead(&doc, now_micros()).map_err(|e| self.located(e, digest))? { None } else { Some(doc) })
    }

    fn located(&self, err: Error, digest: &Digest) -> Error {
        self.with_place(err.with_context("digest", digest))
    }

    fn scan_with<T: 'static>(&self, spec: ScanSpec, map: fn(&RawDocument) -> Result<T>) -> Box<Scan<T>> {
        Box::new(Scan::new(
            self.collection.clone(),
            spec,
            self.conn.shown_url.clone(),
            self.namespace.clone(),
            map,
        ))
    }
}

fn record(doc: &RawDocument) -> Result<Record> {
    Ok(Record { digest: layout::digest(doc)?, key: layout::key(doc)?.to_vec(), value: layout::newest(doc)?.to_vec() })
}

fn record_key(doc: &RawDocument) -> Result<Record> {
    Ok(Record { digest: layout::digest(doc)?, key: layout::key(doc)?.to_vec(), value: Vec::new() })
}

fn meta(doc: &RawDocument) -> Result<EntryMeta> {
    Ok(EntryMeta {
        digest: layout::digest(doc)?,
        key: layout::key(doc)?.to_vec(),
        written_at_micros: layout::written_at(doc)?,
        expires_at_micros: layout::expires_at(doc)?,
        versions: layout::count(doc)?.max(0) as u64,
        value_bytes: layout::bytes(doc)?.max(0) as u64,
    })
}

impl Engine for MongoEngine {
    fn name(&self) -> &'static str {
        "mongo"
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.persistent = true;
        caps.multi_process = true;
        caps.cheap_len = true;
        caps
    }

    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(doc) = self.find(digest, key, false)? else { return Ok(None) };
        Ok(Some(layout::newest(&doc).map_err(|e| self.located(e, digest))?.to_vec()))
    }

    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        self.put_many(&[Put { digest: *digest, key, value }], options)
    }

    /// One `update` command per 1,000 entries (or 8 MiB), ordered; an entry
    /// that meets a duplicate `_id` is sorted out alone and the rest resent.
    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        for put in items {
            self.check_size(&put.digest, put.key, put.value)?;
        }
        let mut start = 0;
        while start < items.len() {
            let now = now_micros();
            let mut statements = Vec::new();
            let mut stamps = Vec::new();
            let mut bytes = 0;
            for put in &items[start..] {
                if !statements.is_empty()
                    && (statements.len() == STATEMENTS_PER_COMMAND || bytes + put.key.len() + put.value.len() > BYTES_PER_COMMAND)
                {
                    break;
                }
                let at = unique_micros();
                statements.push(layout::put_statement(&put.digest, put.key, put.value, at, options, now));
                stamps.push(at);
                bytes += put.key.len() + put.value.len();
            }
            let sent = statements.len();
            match self.update(statements)? {
                None => start += sent,
                Some(err) if err.code == DUPLICATE_KEY && err.index < sent => {
                    let put = &items[start + err.index];
                    self.resolve(put, stamps[err.index], options)?;
                    start += err.index + 1;
                }
                Some(err) => {
                    let digest = items.get(start + err.index).map_or(items[start].digest, |p| p.digest);
                    return Err(self.write_failed(err, &digest));
                }
            }
        }
        Ok(())
    }

    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        let removed = self
            .collection
            .find_one_and_delete(layout::slot_filter(digest, key))
            .projection(layout::without_values())
            .run()
            .map_err(|e| self.error(e, "delete an entry"))?;
        match removed {
            // An expired entry is removed too, but was not "there" for the caller.
            Some(doc) => Ok(!layout::is_dead(&doc, now_micros()).map_err(|e| self.located(e, digest))?),
            None => {
                // Nothing matched: absent, or the slot holds another key.
                let other = self
                    .collection
                    .find_one(layout::id_filter(digest))
                    .projection(doc! { "_id": 1 })
                    .run()
                    .map_err(|e| self.error(e, "read an entry"))?;
                match other {
                    Some(_) => Err(self.with_place(key_mismatch(digest))),
                    None => Ok(false),
                }
            }
        }
    }

    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        Ok(self.find(digest, key, true)?.is_some())
    }

    /// The collection's document count (from its metadata) less a count of
    /// expired documents (through the `expires_at` index).
    fn len(&self) -> Result<usize> {
        let expired = self
            .collection
            .count_documents(layout::expired_clause(now_micros()))
            .run()
            .map_err(|e| self.error(e, "count entries"))?;
        let total = self.collection.estimated_document_count().run().map_err(|e| self.error(e, "count entries"))?;
        Ok(total.saturating_sub(expired) as usize)
    }

    /// Drops the collection (and recreates its index).
    fn clear(&self) -> Result<()> {
        self.collection.drop().run().map_err(|e| self.error(e, "clear the stash"))?;
        self.create_indexes()
    }

    fn scan(&self) -> Result<RecordIter> {
        let spec = ScanSpec { filter: Some(layout::live_clause(now_micros())), projection: None, page: 256, batch: 32 };
        Ok(self.scan_with(spec, record))
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
        let Some(doc) = self.find(digest, key, false)? else { return Ok(None) };
        let versions = layout::versions(&doc).map_err(|e| self.located(e, digest))?;
        Ok(Some(
            versions
                .into_iter()
                .enumerate()
                .map(|(i, (at, value))| Version { number: i as u64 + 1, written_at_micros: at, value: value.to_vec() })
                .collect(),
        ))
    }

    fn scan_meta(&self) -> Result<MetaIter> {
        let spec = ScanSpec { filter: None, projection: Some(layout::without_values()), page: 1000, batch: 1000 };
        Ok(self.scan_with(spec, meta))
    }
}
