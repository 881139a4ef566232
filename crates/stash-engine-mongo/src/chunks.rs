//! Chunk documents: values too large to live inside their entry.
//!
//! A chunk is `{_id: ObjectId (fresh), owner: ObjectId (the entry's _id),
//! at: Int64 (the version's time), n: Int32 (its place), data: BinData}` in
//! the companion collection `<collection>.chunks`. A version lists its
//! chunks' ids in order; the entry also keeps every id in `chunk_ids`, so
//! the write that replaces or deletes the entry gets them back atomically
//! (from `findAndModify`) and removes exactly those.

use std::collections::HashMap;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, RawBsonRef, RawDocumentBuf, doc};
use mongodb::sync::{Collection, Database};
use stash_engine_api::{Error, ErrorKind, Result};

use crate::client::backend;
use crate::layout::{self, CHUNK_BYTES, StoredValue, corrupt};

/// Chunks per `insert` command (each command stays well under 16 MiB).
const CHUNKS_PER_COMMAND: usize = 3;

/// The chunk collection of one stash.
#[derive(Clone)]
pub(crate) struct Chunks {
    pub database: Database,
    pub collection: Collection<RawDocumentBuf>,
    pub url: String,
    pub namespace: String,
    /// The stash's `max_value_bytes`: a stored size over it is refused before anything is read.
    pub max_value_bytes: u64,
}

impl Chunks {
    fn error(&self, err: mongodb::error::Error, action: &str) -> Error {
        backend(err, action, &self.url, &self.namespace)
    }

    /// Stores `value` as new chunk documents; returns their ids in order.
    pub(crate) fn insert(&self, owner: ObjectId, at: i64, value: &[u8]) -> Result<Vec<ObjectId>> {
        let mut ids = Vec::new();
        let parts: Vec<&[u8]> = value.chunks(CHUNK_BYTES).collect();
        for (group_index, group) in parts.chunks(CHUNKS_PER_COMMAND).enumerate() {
            let mut documents = Vec::new();
            for (i, part) in group.iter().enumerate() {
                let id = ObjectId::new();
                let n = (group_index * CHUNKS_PER_COMMAND + i) as i32;
                documents
                    .push(doc! { "_id": id, "owner": owner, "at": at, "n": n, "data": layout::binary(part) });
                ids.push(id);
            }
            let command = doc! { "insert": self.collection.name(), "documents": documents, "ordered": true };
            let reply = self.database.run_command(command).run();
            let failed = match reply {
                Ok(reply) => reply.get_array("writeErrors").map(|e| !e.is_empty()).unwrap_or(false),
                Err(e) => {
                    self.remove(&ids);
                    return Err(self.error(e, "store a large value's chunks"));
                }
            };
            if failed {
                self.remove(&ids);
                return Err(Error::new(
                    ErrorKind::Backend,
                    "cannot store a large value's chunks: the MongoDB server refused them",
                )
                .with_context("url", &self.url)
                .with_context("collection", &self.namespace));
            }
        }
        Ok(ids)
    }

    /// Removes chunk documents, as far as the server lets it (a leftover chunk
    /// only wastes space: nothing refers to it).
    pub(crate) fn remove(&self, ids: &[ObjectId]) {
        let _ = self.try_remove(ids);
    }

    /// Removes chunk documents.
    pub(crate) fn try_remove(&self, ids: &[ObjectId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<Bson> = ids.iter().map(|id| Bson::ObjectId(*id)).collect();
        self.collection
            .delete_many(doc! { "_id": { "$in": ids } })
            .run()
            .map_err(|e| self.error(e, "remove a large value's chunks"))?;
        Ok(())
    }

    /// The bytes of a stored value, reading its chunks if it has any.
    ///
    /// The stored `size` never sizes anything: it is checked against the
    /// chunks the version lists and the stash's `max_value_bytes` before a
    /// chunk is read ([`check_chunked`]), and the value is assembled from
    /// what was actually read ([`assemble`]).
    pub(crate) fn load(&self, value: StoredValue<'_>) -> Result<Vec<u8>> {
        load_value(value, self.max_value_bytes, |ids| {
            let wanted: Vec<Bson> = ids.iter().map(|id| Bson::ObjectId(*id)).collect();
            let cursor = self
                .collection
                .find(doc! { "_id": { "$in": wanted } })
                .batch_size(2)
                .run()
                .map_err(|e| self.error(e, "read a large value"))?;
            Ok(cursor.map(|doc| doc.map_err(|e| self.error(e, "read a large value"))))
        })
    }
}

/// The bytes of a stored value: inline, or its chunks as `fetch` returns
/// them (the chunk documents whose `_id` is one of the ids it is given, in
/// any order), once the claimed size has passed [`check_chunked`].
pub(crate) fn load_value<I>(
    value: StoredValue<'_>,
    max_value_bytes: u64,
    fetch: impl FnOnce(&[ObjectId]) -> Result<I>,
) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = Result<RawDocumentBuf>>,
{
    let (size, ids) = match value {
        StoredValue::Inline(bytes) => return Ok(bytes.to_vec()),
        StoredValue::Chunked { size, ids } => (size, ids),
    };
    check_chunked(size, &ids, max_value_bytes)?;
    assemble(size, &ids, fetch(&ids)?)
}

/// Checks the `size` a chunked version claims before any chunk is read: no
/// more than its `ids` can hold (each chunk at most [`CHUNK_BYTES`]), and no
/// more than the stash's `max_value_bytes`.
fn check_chunked(size: usize, ids: &[ObjectId], max_value_bytes: u64) -> Result<()> {
    let most = (ids.len() as u64).saturating_mul(CHUNK_BYTES as u64);
    if size as u64 > most {
        return Err(corrupt(&format!(
            "a large value claims {size} bytes but lists {} chunks of at most {CHUNK_BYTES} bytes",
            ids.len()
        )));
    }
    if size as u64 > max_value_bytes {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("a stored value of {size} bytes is larger than max_value_bytes ({max_value_bytes})"),
        ));
    }
    Ok(())
}

/// The value of `size` bytes in the chunks `ids` (in order), from `docs`, the
/// chunk documents the server returned for them (in any order): reading and
/// assembling stop as soon as they hold more than `size` bytes (which
/// [`check_chunked`] bounded), and the value is sized by what was read, never
/// by the stored `size`.
fn assemble(
    size: usize,
    ids: &[ObjectId],
    docs: impl IntoIterator<Item = Result<RawDocumentBuf>>,
) -> Result<Vec<u8>> {
    let mut parts: HashMap<ObjectId, Vec<u8>> = HashMap::new();
    let mut read = 0usize;
    for doc in docs {
        let doc = doc?;
        let id = layout::id(&doc)?;
        let Ok(Some(RawBsonRef::Binary(data))) = doc.get("data") else {
            return Err(corrupt("a chunk has no binary `data`"));
        };
        read = read.saturating_add(data.bytes.len());
        if read > size {
            return Err(corrupt(&format!("the chunks of a large value hold more than its {size} bytes")));
        }
        parts.insert(id, data.bytes.to_vec());
    }
    let mut out = Vec::with_capacity(read);
    for id in ids {
        let part =
            parts.get(id).ok_or_else(|| corrupt(&format!("chunk {id} of a large value is missing")))?;
        // A chunk listed more than once is read once: the value stops at its claimed size.
        if out.len().saturating_add(part.len()) > size {
            return Err(corrupt(&format!("the chunks of a large value hold more than its {size} bytes")));
        }
        out.extend_from_slice(part);
    }
    if out.len() != size {
        return Err(corrupt(&format!("a large value has {} bytes in its chunks, not {size}", out.len())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{Binary, spec::BinarySubtype};

    use super::*;

    fn chunk(id: ObjectId, data: &[u8]) -> Result<RawDocumentBuf> {
        let data = Binary { subtype: BinarySubtype::Generic, bytes: data.to_vec() };
        Ok(RawDocumentBuf::from_document(&doc! { "_id": id, "data": data }).expect("a chunk encodes"))
    }

    /// A version listing one chunk many times is refused as soon as its
    /// chunks pass the size it claims: it was assembled whole first, so
    /// 1,000 listings of a 1,500-byte chunk built 1.5 MB for a value of
    /// 1,500 bytes (a 4 MiB chunk listed throughout a 16 MiB document would
    /// be terabytes; found writing the `mongo_document` fuzz target).
    #[test]
    fn repeated_chunk_ids_stop_at_the_claimed_size() {
        let id = ObjectId::from_bytes([1; 12]);
        let ids = vec![id; 1000];
        let err = assemble(1500, &ids, [chunk(id, &[7; 1500])]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("hold more than its 1500 bytes"), "{err}");
        let two = [ObjectId::from_bytes([2; 12]), ObjectId::from_bytes([3; 12])];
        let value = assemble(5, &two, [chunk(two[1], b"de"), chunk(two[0], b"abc")]).unwrap();
        assert_eq!(value, b"abcde");
    }
}
