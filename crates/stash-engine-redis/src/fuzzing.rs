//! Not part of the API (hidden from the docs, no stability promise): the
//! engine's reading of one stored entry hash without a server, for the fuzz
//! target `redis_record` (`fuzz/`, crate `stash-fuzz-harness`).
//!
//! Every read goes through the same functions the engine runs on a server's
//! replies; only the replies are made here from the given hash, as the
//! server would make them (`HMGET` looks fields up, `HGETALL` lists them,
//! `HLEN` counts them).

use stash_engine_api::engine::key_mismatch;
use stash_engine_api::{Digest, EntryMeta, Error, Record, Result, Version};

use crate::engine::{Damage, Item, Mode, damaged, decode_versions, scan_item, visible_fields};

/// What each read of the engine makes of one stored entry.
#[derive(Debug)]
pub struct Reads {
    /// `get`: the newest value.
    pub get: Result<Option<Vec<u8>>>,
    /// `contains`.
    pub contains: Result<bool>,
    /// `versions`: every kept version, oldest first.
    pub versions: Result<Option<Vec<Version>>>,
    /// The entry as `scan` yields it (`None`: skipped).
    pub scan: Result<Option<Record>>,
    /// The entry as `scan_keys` yields it (`None`: skipped).
    pub scan_keys: Result<Option<Record>>,
    /// The entry as `scan_meta` yields it (`None`: skipped).
    pub scan_meta: Result<Option<EntryMeta>>,
}

fn error(digest: &Digest, damage: Damage) -> Error {
    match damage {
        Damage::KeyMismatch => key_mismatch(digest),
        Damage::Corrupt(why) => damaged(&why).with_context("digest", digest),
    }
}

/// Reads the entry hash `hash` (field, value pairs; field names unique, as a
/// hash's are) stored at `digest`, asking for `key`, at the time `now`
/// (microseconds), in a stash whose `max_value_bytes` is `max_value_bytes`.
pub fn read(
    hash: &[(Vec<u8>, Vec<u8>)],
    digest: &Digest,
    key: &[u8],
    now: i64,
    max_value_bytes: u64,
) -> Reads {
    let hmget = |fields: &[&str]| -> Vec<Option<Vec<u8>>> {
        fields
            .iter()
            .map(|name| hash.iter().rev().find(|(f, _)| f == name.as_bytes()).map(|(_, v)| v.clone()))
            .collect()
    };
    let scan = |mode: Mode| {
        let hash_fields = (mode == Mode::Meta).then_some(hash.len() as u64);
        scan_item(mode, digest.as_bytes(), (hmget(mode.fields()), hash_fields), now, max_value_bytes)
            .map_err(|why| error(digest, Damage::Corrupt(why)))
    };
    let record = |item: Result<Option<Item>>| {
        item.map(|item| match item {
            Some(Item::Record(record)) => Some(record),
            _ => None,
        })
    };
    Reads {
        get: visible_fields(hmget(&["k", "x", "v"]), 1, key, now)
            .map(|f| f.and_then(|mut f| f.pop()))
            .map_err(|d| error(digest, d)),
        contains: visible_fields(hmget(&["k", "x"]), 0, key, now)
            .map(|f| f.is_some())
            .map_err(|d| error(digest, d)),
        versions: decode_versions(hash, key, now).map_err(|d| error(digest, d)),
        scan: record(scan(Mode::Records)),
        scan_keys: record(scan(Mode::Keys)),
        scan_meta: scan(Mode::Meta).map(|item| match item {
            Some(Item::Meta(meta)) => Some(meta),
            _ => None,
        }),
    }
}
