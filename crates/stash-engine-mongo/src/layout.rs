//! The document layout: what one entry looks like in its collection, the
//! update statements that write it and the checks that read it back.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, Document, RawArray, RawBsonRef, RawDocument, doc};
use stash_engine_api::clock::is_expired;
use stash_engine_api::{Digest, Error, ErrorKind, Result, WriteOptions};

/// MongoDB's limit on one document (`maxBsonObjectSize`).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// The longest encoded key: keys are stored (and sent in every write's filter) whole.
pub const MAX_KEY_BYTES: usize = 1024 * 1024;

/// Values longer than this are stored in chunk documents, not in the entry.
pub const INLINE_VALUE_BYTES: usize = 4 * 1024 * 1024;

/// The size of one chunk document's data.
pub const CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// The most key plus inline value bytes one entry document holds; an append
/// that would pass it stores its value in chunks instead.
pub const INLINE_BUDGET_BYTES: usize = 12 * 1024 * 1024;

/// The duplicate-key error code (`E11000`).
pub(crate) const DUPLICATE_KEY: i32 = 11000;

/// The `_id` of a slot: the first 12 of the digest's 16 bytes as an ObjectId.
pub(crate) fn object_id(digest: &Digest) -> ObjectId {
    let mut bytes = [0u8; 12];
    bytes.copy_from_slice(&digest.0[..12]);
    ObjectId::from_bytes(bytes)
}

/// BSON binary (generic subtype) holding a copy of `bytes`.
pub(crate) fn binary(bytes: &[u8]) -> Bson {
    Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: bytes.to_vec() })
}

fn expiry(options: WriteOptions) -> Bson {
    options.expires_at_micros.map_or(Bson::Null, Bson::Int64)
}

/// Matches the slot's document by `_id` only.
pub(crate) fn id_filter(digest: &Digest) -> Document {
    doc! { "_id": object_id(digest) }
}

/// Matches the slot's document only if it holds this digest and key. An
/// upsert with this filter copies the three fields into a new document.
pub(crate) fn slot_filter(digest: &Digest, key: &[u8]) -> Document {
    doc! { "_id": object_id(digest), "digest": binary(&digest.0), "key": binary(key) }
}

/// Entries that have not expired at `now`.
pub(crate) fn live_clause(now: i64) -> Document {
    doc! { "$or": [ { "expires_at": Bson::Null }, { "expires_at": { "$gt": now } } ] }
}

/// Entries that have expired at `now`.
pub(crate) fn expired_clause(now: i64) -> Document {
    doc! { "expires_at": { "$lte": now } }
}

/// The projection that leaves out the values.
pub(crate) fn without_values() -> Document {
    doc! { "versions": 0 }
}

/// A value as a version stores it: inline, or the ids of its chunk documents.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NewValue<'a> {
    /// The bytes themselves.
    Inline(&'a [u8]),
    /// `size` bytes in the chunk documents `ids`, in order.
    Chunked { size: usize, ids: &'a [ObjectId] },
}

impl NewValue<'_> {
    fn size(&self) -> usize {
        match self {
            NewValue::Inline(v) => v.len(),
            NewValue::Chunked { size, .. } => *size,
        }
    }

    fn inline(&self) -> usize {
        match self {
            NewValue::Inline(v) => v.len(),
            NewValue::Chunked { .. } => 0,
        }
    }

    fn ids(&self) -> &[ObjectId] {
        match self {
            NewValue::Inline(_) => &[],
            NewValue::Chunked { ids, .. } => ids,
        }
    }

    fn version(&self, at: i64) -> Document {
        match self {
            NewValue::Inline(v) => doc! { "at": at, "value": binary(v) },
            NewValue::Chunked { size, ids } => {
                doc! { "at": at, "size": *size as i64, "chunks": ids.to_vec() }
            }
        }
    }
}

/// The fields of an entry whose only version is `value`.
fn only_version(value: NewValue<'_>, at: i64, options: WriteOptions) -> Document {
    entry_fields(&[(at, value)], options)
}

/// The fields of an entry holding `versions` (time, value; oldest first) as
/// the writes leave them: one version from a replace ([`replace_update`]),
/// more from appends ([`append_update`]: each one pushed, `written_at` the
/// latest time, the counts summed).
fn entry_fields(versions: &[(i64, NewValue<'_>)], options: WriteOptions) -> Document {
    let bytes = versions.iter().fold(0i64, |sum, (_, v)| sum.saturating_add(v.size() as i64));
    let inline = versions.iter().fold(0i64, |sum, (_, v)| sum.saturating_add(v.inline() as i64));
    doc! {
        "versions": versions.iter().map(|(at, v)| v.version(*at)).collect::<Vec<_>>(),
        "written_at": versions.iter().map(|(at, _)| *at).max().unwrap_or_default(),
        "expires_at": expiry(options),
        "count": versions.len() as i64,
        "bytes": bytes,
        "inline": inline,
        "chunk_ids": versions.iter().flat_map(|(_, v)| v.ids().iter().copied()).collect::<Vec<_>>(),
    }
}

/// The update that makes `value` the only version.
pub(crate) fn replace_update(value: NewValue<'_>, at: i64, options: WriteOptions) -> Document {
    doc! { "$set": only_version(value, at, options) }
}

/// The whole document of a new entry whose only version is `value`: what an
/// upsert of [`slot_filter`] with [`replace_update`] creates, for an insert
/// that must fail on an existing `_id`.
pub(crate) fn new_entry(
    digest: &Digest,
    key: &[u8],
    value: NewValue<'_>,
    at: i64,
    options: WriteOptions,
) -> Document {
    entry_document(digest, key, &[(at, value)], options)
}

/// The whole document of an entry holding `versions` (see [`entry_fields`]).
pub(crate) fn entry_document(
    digest: &Digest,
    key: &[u8],
    versions: &[(i64, NewValue<'_>)],
    options: WriteOptions,
) -> Document {
    let mut entry = slot_filter(digest, key);
    entry.extend(entry_fields(versions, options));
    entry
}

/// The update that adds `value` as the newest version (versions stay sorted by time).
pub(crate) fn append_update(value: NewValue<'_>, at: i64, options: WriteOptions) -> Document {
    doc! {
        "$push": {
            "versions": { "$each": [value.version(at)], "$sort": { "at": 1 } },
            "chunk_ids": { "$each": value.ids().to_vec() },
        },
        "$max": { "written_at": at },
        "$set": { "expires_at": expiry(options) },
        "$inc": { "count": 1i64, "bytes": value.size() as i64, "inline": value.inline() as i64 },
    }
}

/// One statement of an `update` command.
pub(crate) fn statement(filter: Document, update: Document, upsert: bool) -> Document {
    doc! { "q": filter, "u": update, "upsert": upsert }
}

/// The batched statement for a small value: replace an entry that has no
/// chunks, or append to a live entry whose inline bytes stay within
/// [`INLINE_BUDGET_BYTES`]. Either upserts; on an existing `_id` whose
/// document does not match, the server reports a duplicate key and the
/// engine writes the entry on its own (reading the slot first).
pub(crate) fn fast_statement(
    digest: &Digest,
    key: &[u8],
    value: &[u8],
    at: i64,
    options: WriteOptions,
    now: i64,
) -> Document {
    let mut filter = slot_filter(digest, key);
    if options.append {
        let budget = INLINE_BUDGET_BYTES.saturating_sub(key.len() + value.len()) as i64;
        filter.insert("inline", doc! { "$lte": budget });
        filter.insert("$or", live_clause(now).remove("$or").unwrap_or(Bson::Null));
        statement(filter, append_update(NewValue::Inline(value), at, options), true)
    } else {
        filter.insert("chunk_ids", doc! { "$size": 0 });
        statement(filter, replace_update(NewValue::Inline(value), at, options), true)
    }
}

/// The statement appending `value` to the live entry (no upsert: the engine
/// has just seen the entry).
pub(crate) fn append_statement(
    digest: &Digest,
    key: &[u8],
    value: NewValue<'_>,
    at: i64,
    options: WriteOptions,
    now: i64,
) -> Document {
    let mut filter = slot_filter(digest, key);
    if let NewValue::Inline(v) = value {
        let budget = INLINE_BUDGET_BYTES.saturating_sub(key.len() + v.len()) as i64;
        filter.insert("inline", doc! { "$lte": budget });
    }
    filter.insert("$or", live_clause(now).remove("$or").unwrap_or(Bson::Null));
    statement(filter, append_update(value, at, options), false)
}

/// A stored document that is not shaped as this engine writes it.
pub(crate) fn corrupt(what: &str) -> Error {
    Error::new(ErrorKind::Corrupt, format!("a stored MongoDB document is damaged: {what}"))
}

fn binary_field<'a>(doc: &'a RawDocument, field: &str) -> Result<&'a [u8]> {
    match doc.get(field) {
        Ok(Some(RawBsonRef::Binary(b))) => Ok(b.bytes),
        _ => Err(corrupt(&format!("field `{field}` is missing or not binary"))),
    }
}

/// An integer field; servers may return an integer as Int32, Int64 or an integral Double.
fn number(value: RawBsonRef<'_>) -> Option<i64> {
    match value {
        RawBsonRef::Int32(n) => Some(i64::from(n)),
        RawBsonRef::Int64(n) => Some(n),
        RawBsonRef::Double(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
        _ => None,
    }
}

fn number_field(doc: &RawDocument, field: &str) -> Result<i64> {
    doc.get(field)
        .ok()
        .flatten()
        .and_then(number)
        .ok_or_else(|| corrupt(&format!("field `{field}` is missing or not an integer")))
}

/// The stored digest (all 16 bytes).
pub(crate) fn digest(doc: &RawDocument) -> Result<Digest> {
    let bytes = binary_field(doc, "digest")?;
    let array: [u8; 16] = bytes.try_into().map_err(|_| corrupt("field `digest` is not 16 bytes"))?;
    Ok(Digest(array))
}

/// The stored key bytes.
pub(crate) fn key(doc: &RawDocument) -> Result<&[u8]> {
    binary_field(doc, "key")
}

/// Whether the document holds exactly this digest and key.
pub(crate) fn holds(doc: &RawDocument, digest: &Digest, key: &[u8]) -> Result<bool> {
    Ok(binary_field(doc, "digest")? == digest.0.as_slice() && binary_field(doc, "key")? == key)
}

/// The expiry time, if any.
pub(crate) fn expires_at(doc: &RawDocument) -> Result<Option<i64>> {
    match doc.get("expires_at") {
        Ok(None) | Ok(Some(RawBsonRef::Null)) => Ok(None),
        Ok(Some(value)) => {
            number(value).map(Some).ok_or_else(|| corrupt("field `expires_at` is not an integer"))
        }
        Err(_) => Err(corrupt("field `expires_at` cannot be read")),
    }
}

/// Whether the entry has expired at `now`.
pub(crate) fn is_dead(doc: &RawDocument, now: i64) -> Result<bool> {
    Ok(is_expired(expires_at(doc)?, now))
}

/// A stored value: inline, or in chunk documents.
#[derive(Debug, Clone)]
pub(crate) enum StoredValue<'a> {
    /// The bytes themselves.
    Inline(&'a [u8]),
    /// `size` bytes in the chunk documents `ids`, in order.
    Chunked { size: usize, ids: Vec<ObjectId> },
}

fn object_ids(array: &RawArray, what: &str) -> Result<Vec<ObjectId>> {
    array
        .into_iter()
        .map(|item| match item {
            Ok(RawBsonRef::ObjectId(id)) => Ok(id),
            _ => Err(corrupt(&format!("{what} holds something other than an ObjectId"))),
        })
        .collect()
}

/// Every version as (written at, value), oldest first.
pub(crate) fn versions(doc: &RawDocument) -> Result<Vec<(i64, StoredValue<'_>)>> {
    let array =
        doc.get_array("versions").map_err(|_| corrupt("field `versions` is missing or not an array"))?;
    let mut out = Vec::new();
    for item in array {
        let Ok(RawBsonRef::Document(version)) = item else {
            return Err(corrupt("a version is not a document"));
        };
        let at = number_field(version, "at")?;
        let value = match version.get("value") {
            Ok(Some(RawBsonRef::Binary(b))) => StoredValue::Inline(b.bytes),
            _ => {
                let chunks = version
                    .get_array("chunks")
                    .map_err(|_| corrupt("a version has neither `value` nor `chunks`"))?;
                let size = number_field(version, "size")?;
                StoredValue::Chunked {
                    size: usize::try_from(size).map_err(|_| corrupt("negative `size`"))?,
                    ids: object_ids(chunks, "`chunks`")?,
                }
            }
        };
        out.push((at, value));
    }
    if out.is_empty() {
        return Err(corrupt("field `versions` is empty"));
    }
    Ok(out)
}

/// The newest value.
pub(crate) fn newest(doc: &RawDocument) -> Result<StoredValue<'_>> {
    let mut all = versions(doc)?;
    all.pop().map(|(_, v)| v).ok_or_else(|| corrupt("field `versions` is empty"))
}

/// The ids of every chunk document the entry's versions use (none if the field is absent).
pub(crate) fn chunk_ids(doc: &RawDocument) -> Result<Vec<ObjectId>> {
    match doc.get("chunk_ids") {
        Ok(None) => Ok(Vec::new()),
        Ok(Some(RawBsonRef::Array(array))) => object_ids(array, "`chunk_ids`"),
        _ => Err(corrupt("field `chunk_ids` is not an array")),
    }
}

/// Inline value bytes (0 if the field is absent).
pub(crate) fn inline(doc: &RawDocument) -> Result<i64> {
    match doc.get("inline") {
        Ok(None) => Ok(0),
        Ok(Some(value)) => number(value).ok_or_else(|| corrupt("field `inline` is not an integer")),
        Err(_) => Err(corrupt("field `inline` cannot be read")),
    }
}

/// When the newest version was written.
pub(crate) fn written_at(doc: &RawDocument) -> Result<i64> {
    number_field(doc, "written_at")
}

/// The least bytes one version takes in an entry document (`{at: Int64}` in
/// the `versions` array): a stored count is checked against it.
const MIN_VERSION_BYTES: u64 = 16;

/// How many versions are kept: at least one, and no more than a document
/// of [`MAX_DOCUMENT_BYTES`] can list.
pub(crate) fn count(doc: &RawDocument) -> Result<u64> {
    let count = number_field(doc, "count")?;
    match u64::try_from(count) {
        Ok(n) if n >= 1 && n <= MAX_DOCUMENT_BYTES as u64 / MIN_VERSION_BYTES => Ok(n),
        _ => Err(corrupt(&format!("field `count` ({count}) is not a possible number of versions"))),
    }
}

/// Value bytes over all versions: never negative, and never more than the
/// entry can hold inline ([`INLINE_BUDGET_BYTES`]) plus its listed chunks.
pub(crate) fn bytes(doc: &RawDocument) -> Result<u64> {
    let bytes = number_field(doc, "bytes")?;
    let chunks = chunk_ids(doc)?.len() as u64;
    let most = (INLINE_BUDGET_BYTES as u64).saturating_add(chunks.saturating_mul(CHUNK_BYTES as u64));
    match u64::try_from(bytes) {
        Ok(b) if b <= most => Ok(b),
        _ => Err(corrupt(&format!(
            "field `bytes` ({bytes}) is more than the entry and its {chunks} chunks hold"
        ))),
    }
}

/// The document's `_id`.
pub(crate) fn id(doc: &RawDocument) -> Result<ObjectId> {
    doc.get_object_id("_id").map_err(|_| corrupt("field `_id` is missing or not an ObjectId"))
}
