//! The server engines' stored layouts, read without a server: the fuzzer's
//! bytes are one Redis entry hash or one MongoDB entry document (with chunk
//! documents), handed to the engine's own decoding (its hidden `fuzzing`
//! module runs the functions the engine runs on a server's replies).
//!
//! Claims checked on every input: no panic; no allocation larger than the
//! stash's value-size limit ([`MAX_VALUE`]) or a small multiple of the input,
//! whatever number the bytes store; every read of the engine agrees with the
//! others on what it decodes (a version list that reads has its newest value
//! where `get` and the scans find it, the metadata counts it); another key
//! never reads the entry's value; and a decoded entry written again the way
//! the engine writes it reads back the same, with matching metadata.

use stash_core::{Digest, EntryMeta, Record};
use stash_engine_mongo::fuzzing::{self as mongo, Stored, StoredVersion};
use stash_engine_redis::fuzzing as redis;

use crate::alloc::largest_allocation;
use crate::engines::MAX_VALUE;

/// The time of every read (microseconds since the epoch, in 2033): seeds
/// expire before or after it.
pub const NOW: i64 = 2_000_000_000_000_000;

/// The slot every entry is read at.
const DIGEST: Digest = Digest([0x5a; 16]);

/// The most a read of an input of `len` bytes may allocate at once: the
/// value-size limit, or a few copies of the input (parsed documents and
/// version lists take more room than their bytes).
fn allocation_bound(len: usize) -> usize {
    usize::try_from(MAX_VALUE).unwrap_or(usize::MAX).max(16 * len)
}

fn check_allocation<T>(data: &[u8], f: impl FnOnce() -> T) -> T {
    let (out, largest) = largest_allocation(f);
    let bound = allocation_bound(data.len());
    assert!(
        largest <= bound,
        "reading {} stored bytes allocated {largest} bytes at once (at most {bound})",
        data.len()
    );
    out
}

/// Another key than `key`.
fn other_key(key: &[u8]) -> Vec<u8> {
    [key, b"'"].concat()
}

// ---------------------------------------------------------------------------------
// redis

/// The input of `redis_record` for the entry hash `hash`: each field as a
/// length byte and its name, then a little-endian `u16` length and its value.
/// `None` when a name or value is too long for that.
pub fn redis_input(hash: &[(Vec<u8>, Vec<u8>)]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (field, value) in hash {
        out.push(u8::try_from(field.len()).ok()?);
        out.extend_from_slice(field);
        out.extend_from_slice(&u16::try_from(value.len()).ok()?.to_le_bytes());
        out.extend_from_slice(value);
    }
    Some(out)
}

/// The entry hash of a `redis_record` input (see [`redis_input`]); an
/// incomplete last field is left out, a repeated field replaces the earlier
/// one (as `HSET` does).
fn redis_hash(mut data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut hash: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    while let Some((&name_len, rest)) = data.split_first() {
        let Some((name, rest)) = rest.split_at_checked(usize::from(name_len)) else { break };
        let Some((len, rest)) = rest.split_first_chunk::<2>() else { break };
        let Some((value, rest)) = rest.split_at_checked(usize::from(u16::from_le_bytes(*len))) else { break };
        data = rest;
        match hash.iter_mut().find(|(f, _)| f == name) {
            Some(slot) => slot.1 = value.to_vec(),
            None => hash.push((name.to_vec(), value.to_vec())),
        }
    }
    hash
}

/// The hash the engine's write script leaves for `versions` (oldest first) of
/// `key`, expiring at `expires`: `k v t n b w`, `o<i> s<i>` per older
/// version, `x` if it expires (see the layout in `stash-engine-redis`).
fn redis_written(
    key: &[u8],
    versions: &[stash_core::Version],
    expires: Option<i64>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let field = |name: &str, value: &[u8]| (name.as_bytes().to_vec(), value.to_vec());
    let number = |n: i64| n.to_string().into_bytes();
    let Some((newest, older)) = versions.split_last() else { return Vec::new() };
    let bytes: usize = versions.iter().map(|v| v.value.len()).sum();
    let mut hash = vec![
        field("k", key),
        field("v", &newest.value),
        field("t", &number(newest.written_at_micros)),
        field("n", &number(older.len() as i64)),
        field("b", &number(bytes as i64)),
        field("w", b"1.2.3"),
    ];
    for (i, v) in older.iter().enumerate() {
        hash.push(field(&format!("o{}", i + 1), &v.value));
        hash.push(field(&format!("s{}", i + 1), &number(v.written_at_micros)));
    }
    if let Some(x) = expires {
        hash.push(field("x", &number(x)));
    }
    hash
}

fn is_value<T: std::fmt::Debug>(read: &stash_core::Result<Option<T>>) -> bool {
    matches!(read, Ok(Some(_)))
}

/// Checks the reads of one entry against each other (see the module docs).
fn redis_consistent(reads: &redis::Reads, key: &[u8]) {
    let record = |value: &[u8]| Record { digest: DIGEST, key: key.to_vec(), value: value.to_vec() };
    let keys_only = Record { digest: DIGEST, key: key.to_vec(), value: Vec::new() };
    match &reads.get {
        Ok(Some(value)) => {
            assert!(
                matches!(reads.contains, Ok(true)),
                "get reads a value, contains says {:?}",
                reads.contains
            );
            assert_eq!(reads.scan.as_ref().ok(), Some(&Some(record(value))), "get and scan disagree");
            assert_eq!(
                reads.scan_keys.as_ref().ok(),
                Some(&Some(keys_only.clone())),
                "get and scan_keys disagree"
            );
        }
        Ok(None) => {
            assert!(
                matches!(reads.contains, Ok(false)),
                "get reads nothing, contains says {:?}",
                reads.contains
            );
            assert!(matches!(reads.scan, Ok(None)), "get reads nothing, scan {:?}", reads.scan);
            assert!(
                matches!(reads.scan_keys, Ok(None)),
                "get reads nothing, scan_keys {:?}",
                reads.scan_keys
            );
        }
        Err(_) => {}
    }
    match &reads.versions {
        Ok(Some(versions)) => {
            let newest = versions.last().expect("versions reads at least one version");
            for (i, v) in versions.iter().enumerate() {
                assert_eq!(v.number, i as u64 + 1, "versions are numbered from 1");
            }
            assert_eq!(
                reads.get.as_ref().ok(),
                Some(&Some(newest.value.clone())),
                "versions and get disagree"
            );
            if let Ok(Some(meta)) = &reads.scan_meta {
                assert_eq!(meta.versions, versions.len() as u64, "versions and scan_meta count differently");
                assert_eq!(
                    meta.written_at_micros, newest.written_at_micros,
                    "versions and scan_meta date differently"
                );
            }
        }
        Ok(None) => assert!(matches!(reads.get, Ok(None)), "versions reads nothing, get {:?}", reads.get),
        Err(_) => {}
    }
    if let Ok(Some(meta)) = &reads.scan_meta {
        assert_eq!((meta.digest, meta.key.as_slice()), (DIGEST, key), "scan_meta names another entry");
        assert!(meta.value_bytes <= meta.versions.saturating_mul(MAX_VALUE), "scan_meta: {meta:?}");
    }
}

/// The Redis engine's entry hash (`hs:{ns}:e:<digest>`), as fields (see
/// [`redis_input`]), read by every read of the engine for its stored key `k`
/// and for another key.
pub fn redis_record(data: &[u8]) {
    let hash = redis_hash(data);
    let key = hash.iter().find(|(f, _)| f == b"k").map_or_else(|| b"k".to_vec(), |(_, v)| v.clone());
    let other = other_key(&key);
    let (reads, others) = check_allocation(data, || {
        (
            redis::read(&hash, &DIGEST, &key, NOW, MAX_VALUE),
            redis::read(&hash, &DIGEST, &other, NOW, MAX_VALUE),
        )
    });
    assert!(!is_value(&others.get), "another key reads the entry: {:?}", others.get);
    assert!(!matches!(others.contains, Ok(true)), "another key is contained");
    assert!(!is_value(&others.versions), "another key reads versions: {:?}", others.versions);
    redis_consistent(&reads, &key);

    // Written again as the engine's script writes it, the entry reads the same.
    let (Ok(Some(versions)), Ok(Some(_))) = (&reads.versions, &reads.get) else { return };
    let expires = match hash.iter().find(|(f, _)| f == b"x") {
        None => None,
        Some((_, x)) => {
            let x = std::str::from_utf8(x).ok().and_then(|x| x.parse().ok());
            Some(x.expect("get read the entry, so its expiry is a number"))
        }
    };
    let written = redis_written(&key, versions, expires);
    let again = redis::read(&written, &DIGEST, &key, NOW, MAX_VALUE);
    redis_consistent(&again, &key);
    assert_eq!(
        again.versions.as_ref().ok(),
        Some(&Some(versions.clone())),
        "written again, the versions differ"
    );
    let newest = versions.last().expect("at least one version");
    let meta = EntryMeta {
        digest: DIGEST,
        key: key.clone(),
        written_at_micros: newest.written_at_micros,
        expires_at_micros: expires,
        versions: versions.len() as u64,
        value_bytes: versions.iter().map(|v| v.value.len() as u64).sum(),
    };
    assert_eq!(again.scan_meta.as_ref().ok(), Some(&Some(meta)), "written again, the metadata differs");
}

// ---------------------------------------------------------------------------------
// mongo

/// The next BSON document of `data` and the bytes after it; `None` when
/// `data` does not start with one (`bson::Document::from_reader` refuses it).
fn next_document(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = usize::try_from(i32::from_le_bytes(*data.first_chunk::<4>()?)).ok()?;
    let (document, rest) = data.split_at_checked(len)?;
    bson::Document::from_reader(document).ok()?;
    Some((document, rest))
}

/// The input of `mongo_document` for an entry document and chunk documents
/// (BSON bytes each).
pub fn mongo_input(entry: &[u8], chunks: &[&[u8]]) -> Vec<u8> {
    [entry].iter().chain(chunks).flat_map(|d| d.iter().copied()).collect()
}

/// The Mongo engine's entry document, followed by chunk documents (the
/// companion collection's; those the entry lists are what reading its large
/// values fetches), all BSON: read by every read of the engine, then written
/// again with the engine's encoder and read back.
pub fn mongo_document(data: &[u8]) {
    let Some((entry, mut rest)) = next_document(data) else { return };
    let mut chunks = Vec::new();
    while let Some((chunk, after)) = next_document(rest) {
        chunks.push(chunk);
        rest = after;
    }
    let reads = check_allocation(data, || mongo::read(entry, &chunks, MAX_VALUE))
        .expect("bson accepted the document, the engine reads it");

    if let Ok((digest, key)) = &reads.slot {
        assert!(matches!(mongo::holds(entry, digest, key), Ok(true)), "the entry does not hold its own key");
        assert!(
            matches!(mongo::holds(entry, digest, &other_key(key)), Ok(false)),
            "the entry holds another key"
        );
        let listed = Record { digest: *digest, key: key.clone(), value: Vec::new() };
        assert_eq!(reads.scan_keys.as_ref().ok(), Some(&listed), "scan_keys and the slot disagree");
    }
    if let Ok(meta) = &reads.scan_meta {
        let slot = reads.slot.as_ref().expect("scan_meta read the digest and key");
        assert_eq!((&meta.digest, &meta.key), (&slot.0, &slot.1), "scan_meta names another entry");
        assert_eq!(
            reads.expires_at.as_ref().ok(),
            Some(&meta.expires_at_micros),
            "scan_meta expires differently"
        );
        assert!(meta.versions >= 1, "scan_meta: {meta:?}");
    }
    if let Ok(value) = &reads.newest {
        assert!(value.len() as u64 <= MAX_VALUE.max(data.len() as u64), "a value past the limit was read");
    }
    let Ok(versions) = &reads.versions else { return };
    let newest = versions.last().expect("versions reads at least one version");
    assert_eq!(reads.newest.as_ref().ok(), Some(&newest.value), "versions and get disagree");
    for v in versions {
        match &v.stored {
            Stored::Inline => {
                assert!(v.value.len() <= entry.len(), "an inline value longer than its document")
            }
            Stored::Chunked { size, .. } => {
                assert_eq!(v.value.len(), *size, "a large value of another size than stored");
                assert!(*size as u64 <= MAX_VALUE, "a large value past the limit was read");
            }
        }
    }
    mongo_round_trip(&reads, versions, &chunks);
}

/// A decoded entry written again with the engine's encoder reads back the
/// same, with the metadata the engine's writes keep for it.
fn mongo_round_trip(reads: &mongo::Reads, versions: &[StoredVersion], chunks: &[&[u8]]) {
    let (Ok((digest, key)), Ok(expires)) = (&reads.slot, &reads.expires_at) else { return };
    let written = mongo::encode(digest, key, *expires, versions).expect("an entry encodes");
    let again = mongo::read(&written, chunks, MAX_VALUE).expect("the engine reads what it wrote");
    assert_eq!(again.slot.as_ref().ok(), Some(&(*digest, key.clone())), "written again, the slot differs");
    assert_eq!(again.expires_at.as_ref().ok(), Some(expires), "written again, the expiry differs");
    assert_eq!(again.versions.as_ref().ok(), Some(&versions.to_vec()), "written again, the versions differ");
    let sizes = versions.iter().map(|v| match &v.stored {
        Stored::Inline => (v.value.len() as u64, v.value.len() as i64),
        Stored::Chunked { size, .. } => (*size as u64, 0),
    });
    let meta = EntryMeta {
        digest: *digest,
        key: key.clone(),
        written_at_micros: versions.iter().map(|v| v.at).max().expect("at least one version"),
        expires_at_micros: *expires,
        versions: versions.len() as u64,
        value_bytes: sizes.clone().map(|(size, _)| size).sum(),
    };
    assert_eq!(again.scan_meta.as_ref().ok(), Some(&meta), "written again, the metadata differs");
    assert_eq!(
        again.inline.as_ref().ok(),
        Some(&sizes.map(|(_, inline)| inline).sum()),
        "written again, inline differs"
    );
    let ids: Vec<[u8; 12]> = versions
        .iter()
        .flat_map(|v| match &v.stored {
            Stored::Inline => Vec::new(),
            Stored::Chunked { ids, .. } => ids.clone(),
        })
        .collect();
    assert_eq!(again.chunk_ids.as_ref().ok(), Some(&ids), "written again, chunk_ids differ");
}
