//! Writes seed inputs for every fuzz target from real stored values:
//!
//! ```sh
//! cargo run -p stash-fuzz-harness --example seed -- <out dir> [<python root>]
//! ```
//!
//! `<out dir>/<target>/` receives values, codec outputs and engine records written by
//! this library, and, given `<python root>` (a folder `tests/python/interop.py write`
//! filled, with combos `pairtree-<compress>[-b64]` and `lmdb-raw`), the files Python
//! hashstash 1.2 wrote. `fuzz/README.md` says how the committed corpora were made.
//!
//! `redis_record` and `mongo_document` seeds are entries a stash wrote on a server:
//! set `SEED_REDIS_URL` and `SEED_MONGO_URL` to empty private servers (every entry
//! hash / document there becomes a seed). Chunked Mongo values with small chunks are
//! encoded with the engine's own encoder, without a server.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use heed::types::Bytes;
use heed::{CommitOrAbort, EnvOpenOptions};
use stash_codec::{Encoding, codec};
use stash_core::{Stash, StashConfig, WriteOptions};
use stash_fuzz_harness::{NOW, mongo_input, redis_input};
use stash_serial::{Value, encode_value, serializer};

struct Out {
    root: PathBuf,
    count: usize,
}

impl Out {
    fn put(&mut self, target: &str, data: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("create the corpus folder");
        // FNV-1a: a stable name per content (libFuzzer names files by content too).
        let hash = data
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        fs::write(dir.join(format!("seed-{hash:016x}")), data).expect("write a seed");
        self.count += 1;
    }
}

fn samples() -> Vec<Value> {
    let s = |x: &str| Value::Str(x.into());
    vec![
        s("meow"),
        Value::Int(42),
        Value::Int(-7),
        Value::UInt(1 << 63),
        Value::Float(3.5),
        Value::Float(-0.0),
        Value::Float(1e300),
        Value::Float(f64::NAN),
        Value::Float(f64::NEG_INFINITY),
        Value::Bool(true),
        Value::Null,
        Value::Bytes(b"\x00\xffbytes".to_vec()),
        Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
        Value::Tuple(vec![s("x"), Value::Int(1)]),
        Value::Set(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
        Value::Map(vec![(s("goodness"), s("bad")), (s("n"), Value::Int(1))]),
        Value::Map(vec![(Value::Int(1), s("x")), (Value::Tuple(vec![s("a"), Value::Int(2)]), Value::Null)]),
        Value::Map(vec![(
            s("nested"),
            Value::Map(vec![(
                s("deep"),
                Value::List(vec![Value::Int(1), Value::Map(vec![(s("x"), Value::Float(2.25))])]),
            )]),
        )]),
        s("ünïcødé 😀 \" \\ \n \u{1}"),
        Value::List(vec![
            Value::Tuple(vec![s("a"), Value::Int(1)]),
            Value::Map(vec![(s("s"), Value::Tuple(vec![s("b")]))]),
        ]),
    ]
}

fn encoded(format: &str, v: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    encode_value(&*serializer(format).expect("built in"), v, &mut out).ok()?;
    Some(out)
}

fn rust_seeds(out: &mut Out) {
    let values = samples();
    let records: BTreeMap<String, (u32, Vec<&str>)> =
        BTreeMap::from([("a".to_owned(), (1, vec!["x", "y"])), ("b".to_owned(), (2, vec![]))]);
    for format in ["hashstash", "json", "msgpack", "postcard"] {
        for v in &values {
            if let Some(bytes) = encoded(format, v) {
                out.put(&format!("serial_{format}"), &bytes);
            }
        }
        let mut bytes = Vec::new();
        encode_value(&*serializer(format).expect("built in"), &records, &mut bytes).expect("encode a map");
        out.put(&format!("serial_{format}"), &bytes);
    }
    for v in &values {
        if let Some(json) = encoded("json", v) {
            out.put("differential_json", &json);
        }
    }
    for text in [
        "-0",
        "1e400",
        "18446744073709551616",
        "-9223372036854775809",
        "0.1e-400",
        "[1.0, 2.5e10, {\"a\": \"\\ud83d\\ude00\"}]",
        "{\"a\":1,\"a\":2}",
        " \t\n[]\r",
    ] {
        out.put("differential_json", text.as_bytes());
    }
    let plain: Vec<Vec<u8>> = values.iter().filter_map(|v| encoded("hashstash", v)).collect();
    let mut blobs = plain.clone();
    blobs.push(vec![0; 4096]);
    blobs.push((0..2048u32).map(|i| (i * 7 % 251) as u8).collect());
    for name in ["raw", "lz4", "zstd", "blosc", "zlib", "gzip", "bz2"] {
        let c = codec(name).expect("all codecs are compiled into the harness");
        for blob in &blobs {
            let mut packed = Vec::new();
            c.compress(blob, &mut packed).expect("compress");
            out.put(&format!("codec_{name}"), &packed);
        }
    }
    for name in ["raw", "lz4"] {
        let enc = Encoding::from_names(name, true).expect("built in");
        for blob in &plain {
            out.put("codec_base64", &enc.encode_to_vec(blob).expect("encode"));
        }
    }
    for (i, v) in values.iter().enumerate() {
        // roundtrip reads its input as arbitrary choices: any bytes will do.
        let bytes = encoded("msgpack", v).unwrap_or_default();
        out.put("roundtrip", &[&[i as u8], bytes.as_slice()].concat());
    }
    for (head, format, compress, b64) in [
        (0u8, "hashstash", "raw", false),
        (0x81, "hashstash", "lz4", true),
        (2, "json", "zstd", false),
        (3, "msgpack", "raw", false),
        (0x84, "postcard", "lz4", false),
        (0x85, "hashstash", "blosc", false),
    ] {
        let enc = Encoding::from_names(compress, b64).expect("built in");
        for v in values.iter().take(6) {
            let Some(bytes) = encoded(format, v) else { continue };
            let stored = if head & 0x80 != 0 { bytes } else { enc.encode_to_vec(&bytes).expect("encode") };
            out.put("pairtree_value", &[&[head], stored.as_slice()].concat());
        }
    }
    for names in [
        "1732700000000001.4242",
        "1732700000000001.4242\n1732700000000002.17",
        "1732700000000001.4242.x1732700000000999",
        "1732700000000001.4242.x99999999999999999\n.tmp.4243.17",
        "253402300800000000.1\n1.1",
        "-5.3\n0.0\n1732700000000001.4242.x",
    ] {
        out.put("pairtree_names", names.as_bytes());
    }
    engine_seeds(out, &values);
    server_seeds(out, &values);
}

fn config(engine: &str, root: &Path) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = engine.into();
    config.root_dir = root.into();
    config.serializer = stash_core::Format::Hashstash;
    config.compress = stash_core::Compression::Raw;
    config
}

fn fill(stash: &Stash, values: &[Value]) {
    stash.set("k", &values[0]).expect("write");
    for v in &values[1..5] {
        stash.set_with("k", v, WriteOptions::APPEND).expect("append");
    }
    for (i, v) in values.iter().enumerate() {
        stash.set(&("key", i), v).expect("write");
    }
}

fn lmdb_records(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    // SAFETY: the stash on `path` is closed; nothing else opens it.
    let env = unsafe { EnvOpenOptions::new().map_size(64 << 20).open(path) }.expect("open");
    let rtxn = env.read_txn().expect("txn");
    let db = env
        .open_databases_and_commit(rtxn, |o, rtxn| {
            o.open_database::<Bytes, Bytes>(rtxn, None).map(CommitOrAbort::<_, ()>::Commit)
        })
        .expect("open db")
        .commit()
        .flatten()
        .expect("main db");
    let rtxn = env.read_txn().expect("txn");
    let all = db
        .iter(&rtxn)
        .expect("iter")
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("record"))
        .collect();
    drop(rtxn);
    env.prepare_for_closing().wait();
    all
}

fn engine_seeds(out: &mut Out, values: &[Value]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let stash = Stash::open(config("lmdb", &dir.path().join("own")), Arc::new(stash_engine_lmdb::Lmdb))
        .expect("open");
    fill(&stash, values);
    let path = stash.path().to_path_buf();
    drop(stash);
    for (i, (_, record)) in lmdb_records(&path).into_iter().take(12).enumerate() {
        out.put("lmdb_record", &[&[i as u8 & 3], record.as_slice()].concat());
    }
    let stash =
        Stash::open(config("lmdb", &dir.path().join("py")).python(), Arc::new(stash_engine_lmdb::Lmdb))
            .expect("open");
    fill(&stash, values);
    let path = stash.path().to_path_buf();
    drop(stash);
    python_lmdb(out, &lmdb_records(&path));
    let stash = Stash::open(config("sled", &dir.path().join("sled")), Arc::new(stash_engine_sled::Sled))
        .expect("open");
    fill(&stash, values);
    stash.set_with("e", "expiring", WriteOptions::default().expiring_at(Some(i64::MAX / 2))).expect("write");
    let path = stash.path().to_path_buf();
    drop(stash);
    let db = (0..5000)
        .find_map(|_| {
            sled::open(&path).ok().or_else(|| {
                std::thread::sleep(std::time::Duration::from_millis(2));
                None
            })
        })
        .expect("sled reopens");
    for (i, record) in db.iter().values().filter_map(Result::ok).take(12).enumerate() {
        let head = if i % 2 == 0 { 0 } else { 0x80 };
        out.put("sled_record", &[&[head], &record[..]].concat());
    }
    let meta = db.open_tree("hashstash.meta").expect("meta");
    for (name, head) in [(&b"count"[..], 1u8), (b"expiring", 2), (b"format", 3)] {
        let value =
            meta.get(name).expect("read").map(|v| v.to_vec()).unwrap_or_else(|| 3u64.to_le_bytes().to_vec());
        out.put("sled_record", &[&[head], value.as_slice()].concat());
    }
    out.put("sled_record", b"\x03hashstash-sled/2");
}

/// Entries of every shape on the servers: versions appended, expiring after or
/// before the harness's `NOW`, appended then expiring, a value in chunks.
fn fill_server(stash: &Stash, values: &[Value]) {
    fill(stash, values);
    // Through the engine: the stash turns write options into a relative time to live.
    let put = |key: &str, value: &Value, options: WriteOptions| {
        let k = stash.encode_key(key).expect("encode a key");
        let v = stash.encode_value(value).expect("encode a value");
        stash.engine().put(&k.digest, &k.bytes, &v, options).expect("write");
    };
    let at = |x: i64| WriteOptions::default().expiring_at(Some(x));
    put("live", &Value::Str("expires after NOW".into()), at(NOW + 3_600_000_000));
    put("dead", &Value::Str("expired at NOW".into()), at(NOW));
    put("av", &values[1], WriteOptions::APPEND);
    put("av", &values[2], WriteOptions::APPEND.expiring_at(Some(NOW + 1)));
    put("empty", &Value::Bytes(Vec::new()), WriteOptions::default());
}

fn server_config(engine: &str, url: String) -> StashConfig {
    let mut config = config(engine, Path::new("seeds"));
    config.url = Some(url);
    config
}

fn server_seeds(out: &mut Out, values: &[Value]) {
    if let Ok(url) = std::env::var("SEED_REDIS_URL") {
        let stash = Stash::open(server_config("redis", url.clone()), Arc::new(stash_engine_redis::Redis))
            .expect("open a redis stash");
        fill_server(&stash, values);
        let mut con = redis::Client::open(url).expect("a redis url").get_connection().expect("connect");
        let entries: Vec<Vec<u8>> = redis::cmd("KEYS").arg("hs:*:e:*").query(&mut con).expect("KEYS");
        for entry in entries {
            let hash: Vec<(Vec<u8>, Vec<u8>)> =
                redis::cmd("HGETALL").arg(&entry).query(&mut con).expect("HGETALL");
            out.put("redis_record", &redis_input(&hash).expect("small fields"));
        }
    }
    if let Ok(url) = std::env::var("SEED_MONGO_URL") {
        let stash = Stash::open(server_config("mongo", url.clone()), Arc::new(stash_engine_mongo::Mongo))
            .expect("open a mongo stash");
        fill_server(&stash, values);
        // Over the inline limit: its entry lists two 4 MiB chunks (too large for a
        // seed; the entry alone reads as too large for the harness's limit).
        let big = vec![7u8; stash_engine_mongo::INLINE_VALUE_BYTES + 1];
        stash.set("big", &Value::Bytes(big)).expect("write a chunked value");
        let client = mongodb::sync::Client::with_uri_str(&url).expect("connect");
        // The engine's database: the URL's, else `hashstash`.
        let db = client.default_database().unwrap_or_else(|| client.database("hashstash"));
        for name in db.list_collection_names().run().expect("list collections") {
            if name.ends_with(".chunks") || name.ends_with(".locks") {
                continue;
            }
            let docs = db.collection::<bson::RawDocumentBuf>(&name).find(bson::doc! {}).run().expect("find");
            for doc in docs {
                out.put("mongo_document", doc.expect("a document").as_bytes());
            }
        }
    }
    chunked_seeds(out);
}

/// Entries with chunked versions whose chunks are small, and their chunk documents.
fn chunked_seeds(out: &mut Out) {
    use stash_engine_mongo::fuzzing::{Stored, StoredVersion, encode};
    let digest = stash_core::Digest([0x5a; 16]);
    let owner = bson::oid::ObjectId::from_bytes([0x5a; 12]);
    let chunk = |id: [u8; 12], at: i64, n: i32, data: &[u8]| {
        let data = bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: data.to_vec() };
        let doc = bson::doc! { "_id": bson::oid::ObjectId::from_bytes(id), "owner": owner, "at": at, "n": n, "data": data };
        bson::to_vec(&doc).expect("a chunk encodes")
    };
    let chunked = |at: i64, parts: &[([u8; 12], &[u8])]| StoredVersion {
        at,
        stored: Stored::Chunked {
            size: parts.iter().map(|(_, p)| p.len()).sum(),
            ids: parts.iter().map(|(id, _)| *id).collect(),
        },
        value: parts.iter().flat_map(|(_, p)| p.iter().copied()).collect(),
    };
    let inline = |at: i64, value: &[u8]| StoredVersion { at, stored: Stored::Inline, value: value.to_vec() };
    let (a, b, c) = ([1u8; 12], [2u8; 12], [3u8; 12]);
    let t = NOW - 5_000_000;
    let cases = [
        (
            vec![chunked(t, &[(a, b"\"chunk"), (b, b"ed\"")])],
            None,
            vec![chunk(a, t, 0, b"\"chunk"), chunk(b, t, 1, b"ed\"")],
        ),
        (
            vec![inline(t, b"\"v1\""), chunked(t + 1, &[(c, b"\"v2\"")])],
            Some(NOW + 1),
            vec![chunk(c, t + 1, 0, b"\"v2\"")],
        ),
        (
            vec![chunked(t, &[(a, b"42"), (b, b"")])],
            Some(NOW),
            vec![chunk(b, t, 1, b""), chunk(a, t, 0, b"42")],
        ),
        (vec![chunked(t, &[])], None, Vec::new()),
    ];
    for (versions, expires, chunks) in cases {
        let entry = encode(&digest, b"\"k\"", expires, &versions).expect("an entry encodes");
        let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        out.put("mongo_document", &mongo_input(&entry, &chunks));
    }
}

fn python_lmdb(out: &mut Out, records: &[(Vec<u8>, Vec<u8>)]) {
    for (name, record) in records.iter().take(16) {
        let head = if name.ends_with(b".value") { 0 } else { 1 };
        out.put("lmdb_python", &[&[head], record.as_slice()].concat());
        if head == 0 {
            out.put("serial_hashstash", record);
            out.put("differential_json", record);
        }
    }
    if let Some((name, record)) = records.first() {
        out.put("lmdb_python", &[&[2u8], name.as_slice(), &[0], record.as_slice()].concat());
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
    files.sort();
}

fn python_seeds(out: &mut Out, root: &Path) {
    let combos = fs::read_dir(root).expect("the python root lists");
    for combo in combos.flatten() {
        let name = combo.file_name().to_string_lossy().into_owned();
        let mut files = Vec::new();
        walk(&combo.path(), &mut files);
        if name == "lmdb-raw" {
            for data in files.iter().filter(|f| f.file_name().is_some_and(|n| n == "data.mdb")) {
                python_lmdb(out, &lmdb_records(data.parent().expect("a folder")));
            }
            continue;
        }
        let Some(compress) = name.strip_prefix("pairtree-") else { continue };
        let (compress, b64) = match compress.strip_suffix("-b64") {
            Some(c) => (c, true),
            None => (compress, false),
        };
        for file in files.iter().take(40) {
            let bytes = fs::read(file).expect("read a python file");
            let version = file.file_name().is_some_and(|n| n != ".key");
            match (compress, b64) {
                ("raw", false) => {
                    out.put("serial_hashstash", &bytes);
                    out.put("differential_json", &bytes);
                    if version {
                        out.put("pairtree_value", &[&[0u8], bytes.as_slice()].concat());
                        out.put("pairtree_names", file.file_name().expect("a name").as_encoded_bytes());
                    }
                }
                (_, true) => out.put("codec_base64", &bytes),
                (c, false) => out.put(&format!("codec_{c}"), &bytes),
            }
        }
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let root = PathBuf::from(args.next().expect("usage: seed <out dir> [<python root>]"));
    let mut out = Out { root, count: 0 };
    rust_seeds(&mut out);
    if let Some(python) = args.next() {
        python_seeds(&mut out, Path::new(&python));
    }
    println!("{} seeds written", out.count);
}
