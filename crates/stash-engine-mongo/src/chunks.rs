//! Chunk documents: values too large to live inside their entry.
//!
//! A chunk is `{_id: ObjectId (fresh), owner: ObjectId (the entry's _id),
//! at: Int64 (the version's time), n: Int32 (its place), data: BinData}` in
//! the companion collection `<collection>.chunks`. A version lists its
//! chunks' ids in order; the entry also keeps every id in `chunk_ids`, so
//! the write that replaces or deletes the entry gets them back atomically
//! (from `findAndModify`) and removes exactly those.

use std::collections::HashMap;
use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, RawBsonRef, RawDocument, RawDocumentBuf, doc};
use mongodb::{Collection, Database};
use stash_engine_api::{Error, ErrorKind, Result};

use crate::client::{Reply, backend};
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
    /// How long one command's reply may take.
    pub reply_timeout: Duration,
}

impl Chunks {
    fn error(&self, err: mongodb::error::Error, action: &str) -> Error {
        backend(err, action, &self.url, &self.namespace)
    }

    /// Stores `value` as new chunk documents; returns their ids in order.
    pub(crate) async fn insert(&self, owner: ObjectId, at: i64, value: &[u8]) -> Result<Vec<ObjectId>> {
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
            let reply = self.database.run_command(command).within(self.reply_timeout).await;
            let failed = match reply {
                Ok(reply) => reply.get_array("writeErrors").map(|e| !e.is_empty()).unwrap_or(false),
                Err(e) => {
                    self.remove(&ids).await;
                    return Err(self.error(e, "store a large value's chunks"));
                }
            };
            if failed {
                self.remove(&ids).await;
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
    pub(crate) async fn remove(&self, ids: &[ObjectId]) {
        let _ = self.try_remove(ids).await;
    }

    /// Removes chunk documents.
    pub(crate) async fn try_remove(&self, ids: &[ObjectId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<Bson> = ids.iter().map(|id| Bson::ObjectId(*id)).collect();
        self.collection
            .delete_many(doc! { "_id": { "$in": ids } })
            .within(self.reply_timeout)
            .await
            .map_err(|e| self.error(e, "remove a large value's chunks"))?;
        Ok(())
    }

    /// The bytes of a stored value, reading its chunks if it has any.
    ///
    /// The stored `size` never sizes anything: it is checked against the
    /// chunks the version lists and the stash's `max_value_bytes` before a
    /// chunk is read, and the value is assembled from what was actually
    /// read, reading no further once the chunks hold more than `size` bytes
    /// ([`Assembly`]).
    pub(crate) async fn load(&self, value: StoredValue<'_>) -> Result<Vec<u8>> {
        let (size, ids) = match value {
            StoredValue::Inline(bytes) => return Ok(bytes.to_vec()),
            StoredValue::Chunked { size, ids } => (size, ids),
        };
        let mut assembly = Assembly::new(size, &ids, self.max_value_bytes)?;
        let wanted: Vec<Bson> = ids.iter().map(|id| Bson::ObjectId(*id)).collect();
        let read_failed = |e| self.error(e, "read a large value");
        let mut cursor = self
            .collection
            .find(doc! { "_id": { "$in": wanted } })
            .batch_size(2)
            .within(self.reply_timeout)
            .await
            .map_err(read_failed)?;
        while cursor.advance().within(self.reply_timeout).await.map_err(read_failed)? {
            assembly.add(cursor.current())?;
        }
        assembly.finish()
    }
}

/// The bytes of a stored value: inline, or its chunks as `fetch` returns
/// them (the chunk documents whose `_id` is one of the ids it is given, in
/// any order), read as [`Chunks::load`] reads them.
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
    let mut assembly = Assembly::new(size, &ids, max_value_bytes)?;
    for doc in fetch(&ids)? {
        assembly.add(&doc?)?;
    }
    assembly.finish()
}

/// A value of `size` bytes in the chunks `ids` (in order), put together from
/// the chunk documents the server returns for them (in any order).
///
/// [`Assembly::new`] checks the `size` a version claims before any chunk is
/// read: no more than its `ids` can hold (each chunk at most
/// [`CHUNK_BYTES`]), and no more than the stash's `max_value_bytes`.
/// [`Assembly::add`] refuses a chunk as soon as the chunks hold more than
/// `size` bytes, so reading stops there, and [`Assembly::finish`] sizes the
/// value by what was read, never by the stored `size`.
struct Assembly<'a> {
    size: usize,
    ids: &'a [ObjectId],
    parts: HashMap<ObjectId, Vec<u8>>,
    read: usize,
}

impl<'a> Assembly<'a> {
    fn new(size: usize, ids: &'a [ObjectId], max_value_bytes: u64) -> Result<Self> {
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
        Ok(Assembly { size, ids, parts: HashMap::new(), read: 0 })
    }

    fn add(&mut self, doc: &RawDocument) -> Result<()> {
        let id = layout::id(doc)?;
        let Ok(Some(RawBsonRef::Binary(data))) = doc.get("data") else {
            return Err(corrupt("a chunk has no binary `data`"));
        };
        self.read = self.read.saturating_add(data.bytes.len());
        if self.read > self.size {
            return Err(self.too_much());
        }
        self.parts.insert(id, data.bytes.to_vec());
        Ok(())
    }

    fn too_much(&self) -> Error {
        corrupt(&format!("the chunks of a large value hold more than its {} bytes", self.size))
    }

    fn finish(self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.read);
        for id in self.ids {
            let part = self
                .parts
                .get(id)
                .ok_or_else(|| corrupt(&format!("chunk {id} of a large value is missing")))?;
            // A chunk listed more than once is read once: the value stops at its claimed size.
            if out.len().saturating_add(part.len()) > self.size {
                return Err(self.too_much());
            }
            out.extend_from_slice(part);
        }
        if out.len() != self.size {
            return Err(corrupt(&format!(
                "a large value has {} bytes in its chunks, not {}",
                out.len(),
                self.size
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{Binary, spec::BinarySubtype};

    use super::*;

    fn chunk(id: ObjectId, data: &[u8]) -> Result<RawDocumentBuf> {
        let data = Binary { subtype: BinarySubtype::Generic, bytes: data.to_vec() };
        Ok(RawDocumentBuf::from_document(&doc! { "_id": id, "data": data }).expect("a chunk encodes"))
    }

    fn chunked(size: usize, ids: &[ObjectId]) -> StoredValue<'static> {
        StoredValue::Chunked { size, ids: ids.to_vec() }
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
        let err = load_value(chunked(1500, &ids), u64::MAX, |_| Ok([chunk(id, &[7; 1500])])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("hold more than its 1500 bytes"), "{err}");
        let two = [ObjectId::from_bytes([2; 12]), ObjectId::from_bytes([3; 12])];
        let value =
            load_value(chunked(5, &two), u64::MAX, |_| Ok([chunk(two[1], b"de"), chunk(two[0], b"abc")]))
                .unwrap();
        assert_eq!(value, b"abcde");
    }
}
