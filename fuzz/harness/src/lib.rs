//! The checks behind the fuzz targets of `fuzz/` (cargo-fuzz, nightly) and the stable
//! corpus-replay test `tests/fuzz_corpora.rs`: one copy, so a corpus file or a crash
//! turned regression runs the same code in both.
//!
//! Every function takes the fuzzer's bytes and panics only when a claim of the stash
//! does not hold: a decoder panics or overruns its limit, a value does not read back as
//! written, canonical key bytes depend on map order, the hashstash reader and serde_json
//! disagree on JSON, a damaged stored entry breaks another key or a later write, or
//! reading one allocates more than the value-size limit at once.

mod alloc;
mod codec;
pub mod corpus;
mod engines;
mod model;
mod serial;
mod servers;

pub use codec::{LIMIT, codec_base64, codec_decode};
pub use engines::{lmdb_python, lmdb_record, pairtree_names, pairtree_value, sled_record};
pub use model::{Record, arb_value, same};
pub use serial::{differential_json, roundtrip, serial_decode};
pub use servers::{NOW, mongo_document, mongo_input, redis_input, redis_record};

/// A fuzz target: its name (the file under `fuzz/fuzz_targets/` and the corpus folder)
/// and the check it runs on one input.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target, by name.
pub const TARGETS: &[Target] = &[
    ("serial_hashstash", |d| serial_decode("hashstash", d)),
    ("serial_json", |d| serial_decode("json", d)),
    ("serial_msgpack", |d| serial_decode("msgpack", d)),
    ("serial_postcard", |d| serial_decode("postcard", d)),
    ("codec_raw", |d| codec_decode("raw", d)),
    ("codec_lz4", |d| codec_decode("lz4", d)),
    ("codec_zstd", |d| codec_decode("zstd", d)),
    ("codec_blosc", |d| codec_decode("blosc", d)),
    ("codec_zlib", |d| codec_decode("zlib", d)),
    ("codec_gzip", |d| codec_decode("gzip", d)),
    ("codec_bz2", |d| codec_decode("bz2", d)),
    ("codec_base64", codec_base64),
    ("roundtrip", roundtrip),
    ("differential_json", differential_json),
    ("pairtree_value", pairtree_value),
    ("pairtree_names", pairtree_names),
    ("lmdb_record", lmdb_record),
    ("lmdb_python", lmdb_python),
    ("sled_record", sled_record),
    ("redis_record", redis_record),
    ("mongo_document", mongo_document),
];

/// The check of the target called `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
