//! Not part of the API (hidden from the docs, no stability promise): the
//! engine's reading of one stored entry document without a server, for the
//! fuzz target `mongo_document` (`fuzz/`, crate `stash-fuzz-harness`).
//!
//! Every read goes through the same functions the engine runs on the
//! documents a server returns; only the chunk query is answered here, as
//! the server would answer it, from the given chunk documents.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{RawDocument, RawDocumentBuf};
use stash_engine_api::{Digest, EntryMeta, Error, ErrorKind, Record, Result, WriteOptions};

use crate::chunks::load_value;
use crate::engine::{meta, record_key};
use crate::layout::{self, NewValue, StoredValue, corrupt};

/// How a version's value is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// In the entry document.
    Inline,
    /// `size` bytes in the chunk documents `ids` (ObjectId bytes), in order.
    Chunked {
        /// The size the version claims.
        size: usize,
        /// Its chunks' ids.
        ids: Vec<[u8; 12]>,
    },
}

/// One version as the engine's `versions` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// When it was written (microseconds).
    pub at: i64,
    /// How its value is stored.
    pub stored: Stored,
    /// Its value, read from the entry or its chunks.
    pub value: Vec<u8>,
}

/// What each read of the engine makes of one entry document.
#[derive(Debug)]
pub struct Reads {
    /// The stored digest and key (every read checks them first).
    pub slot: Result<(Digest, Vec<u8>)>,
    /// The expiry every read checks.
    pub expires_at: Result<Option<i64>>,
    /// `versions`: every version, oldest first, values loaded.
    pub versions: Result<Vec<StoredVersion>>,
    /// `get` and `scan`: the newest value, loaded.
    pub newest: Result<Vec<u8>>,
    /// The entry as `scan_keys` yields it.
    pub scan_keys: Result<Record>,
    /// The entry as `scan_meta` yields it.
    pub scan_meta: Result<EntryMeta>,
    /// The chunks a replace or delete of the entry removes.
    pub chunk_ids: Result<Vec<[u8; 12]>>,
    /// The inline bytes an append checks its budget against.
    pub inline: Result<i64>,
}

fn document(bytes: &[u8]) -> Result<&RawDocument> {
    RawDocument::from_bytes(bytes).map_err(|e| corrupt(&format!("not a BSON document: {e}")))
}

/// Reads the entry document `entry` (BSON bytes) with the chunk documents
/// `chunks` (BSON bytes; those that are not documents, have no ObjectId
/// `_id`, or repeat one are left out, as a collection cannot hold them), in
/// a stash whose `max_value_bytes` is `max_value_bytes`. An error only when
/// `entry` is not a BSON document.
pub fn read(entry: &[u8], chunks: &[&[u8]], max_value_bytes: u64) -> Result<Reads> {
    let doc = document(entry)?;
    let mut stored_chunks: Vec<(ObjectId, RawDocumentBuf)> = Vec::new();
    for bytes in chunks {
        let Ok(chunk) = RawDocumentBuf::from_bytes(bytes.to_vec()) else { continue };
        let Ok(id) = chunk.get_object_id("_id") else { continue };
        if stored_chunks.iter().all(|(other, _)| *other != id) {
            stored_chunks.push((id, chunk));
        }
    }
    // The server's answer to `find({_id: {$in: ids}})`.
    let fetch = |ids: &[ObjectId]| -> Result<Vec<Result<RawDocumentBuf>>> {
        Ok(stored_chunks.iter().filter(|(id, _)| ids.contains(id)).map(|(_, doc)| Ok(doc.clone())).collect())
    };
    let load = |value: StoredValue<'_>| load_value(value, max_value_bytes, fetch);
    let versions = layout::versions(doc).and_then(|all| {
        all.into_iter()
            .map(|(at, value)| {
                let stored = match &value {
                    StoredValue::Inline(_) => Stored::Inline,
                    StoredValue::Chunked { size, ids } => {
                        Stored::Chunked { size: *size, ids: ids.iter().map(|id| id.bytes()).collect() }
                    }
                };
                Ok(StoredVersion { at, stored, value: load(value)? })
            })
            .collect()
    });
    let ids = |ids: Vec<ObjectId>| ids.into_iter().map(|id| id.bytes()).collect();
    Ok(Reads {
        slot: layout::digest(doc).and_then(|digest| Ok((digest, layout::key(doc)?.to_vec()))),
        expires_at: layout::expires_at(doc),
        versions,
        newest: layout::newest(doc).and_then(load),
        scan_keys: record_key(doc),
        scan_meta: meta(doc),
        chunk_ids: layout::chunk_ids(doc).map(ids),
        inline: layout::inline(doc),
    })
}

/// Whether the entry document `entry` holds `digest` and `key`: what every
/// read checks before it uses the document.
pub fn holds(entry: &[u8], digest: &Digest, key: &[u8]) -> Result<bool> {
    layout::holds(document(entry)?, digest, key)
}

/// The entry document (BSON bytes) the engine's writes leave for `versions`
/// of `key` at `digest`, expiring at `expires_at`: one version as a replace
/// writes it, more as appends add them.
pub fn encode(
    digest: &Digest,
    key: &[u8],
    expires_at: Option<i64>,
    versions: &[StoredVersion],
) -> Result<Vec<u8>> {
    let ids: Vec<Vec<ObjectId>> = versions
        .iter()
        .map(|v| match &v.stored {
            Stored::Inline => Vec::new(),
            Stored::Chunked { ids, .. } => ids.iter().map(|id| ObjectId::from_bytes(*id)).collect(),
        })
        .collect();
    let values: Vec<(i64, NewValue<'_>)> = versions
        .iter()
        .zip(&ids)
        .map(|(v, ids)| {
            let value = match &v.stored {
                Stored::Inline => NewValue::Inline(&v.value),
                Stored::Chunked { size, .. } => NewValue::Chunked { size: *size, ids },
            };
            (v.at, value)
        })
        .collect();
    let options = WriteOptions::default().expiring_at(expires_at);
    let document = layout::entry_document(digest, key, &values, options);
    let mut out = Vec::new();
    document
        .to_writer(&mut out)
        .map_err(|e| Error::new(ErrorKind::Encode, format!("cannot encode an entry document: {e}")))?;
    Ok(out)
}
