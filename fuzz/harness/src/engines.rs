//! The engines' stored layouts, fuzzed through the public stash API: the fuzzer's bytes
//! are written where the engine keeps an entry (a pairtree value file or version file
//! name, an LMDB record through heed, a sled tree entry), then the stash reads them.
//!
//! Claims checked on every input: no panic; another key's entry still reads as written
//! (a damaged entry is never another key's value and does not hide one); a write of the
//! damaged key is acknowledged and then read back (a write repairs).
//!
//! Each call works in a fresh temporary folder (see `tempdir`), so an input's outcome
//! never depends on the inputs before it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvOpenOptions};
use stash_codec::Encoding;
use stash_core::{EngineFactory, Stash, StashConfig};
use stash_serial::Value;
use tempfile::TempDir;

/// The value-size limit of the fuzzed stashes: a stored size above it must be refused
/// before anything that big is allocated.
pub(crate) const MAX_VALUE: u64 = 1 << 20;
const OTHER: &str = "other";
const OTHER_VALUE: &str = "another key's value";

fn config(engine: &str, root: &Path, serializer: &str, compress: &str, b64: bool) -> StashConfig {
    StashConfig {
        engine: engine.into(),
        root_dir: root.into(),
        serializer: serializer.into(),
        compress: compress.into(),
        b64,
        max_value_bytes: MAX_VALUE,
        ..StashConfig::default()
    }
}

/// A fresh folder, in memory (`/dev/shm`) where there is one: the engines sync their
/// writes, and a disk would make every input take milliseconds.
fn tempdir() -> TempDir {
    let builder = tempfile::Builder::new().prefix("stash-fuzz").clone();
    let shm = Path::new("/dev/shm");
    let in_memory = if std::env::var_os("TMPDIR").is_none() && shm.is_dir() {
        builder.tempdir_in(shm).ok()
    } else {
        None
    };
    in_memory.unwrap_or_else(|| builder.tempdir().expect("a temporary folder"))
}

fn open(config: &StashConfig, factory: Arc<dyn EngineFactory>) -> Stash {
    Stash::open(config.clone(), factory)
        .unwrap_or_else(|e| panic!("opening a fresh {} stash: {e}", config.engine))
}

/// Reads everything of the stash, then checks the claims in the module docs.
fn exercise(stash: &Stash, typed: bool, check_other: bool) {
    if typed {
        let _ = stash.get::<_, String>("k");
        let _ = stash.get_all::<_, String>("k");
        if let Ok(items) = stash.items::<String, String>() {
            items.take(8).for_each(drop);
        }
    } else {
        if let Ok(Some(v)) = stash.get::<_, Value>("k") {
            let _ = v.to_string();
        }
        let _ = stash.get_all::<_, Value>("k");
        if let Ok(items) = stash.items::<Value, Value>() {
            items.take(8).for_each(drop);
        }
    }
    if let Ok(keys) = stash.keys::<Value>() {
        keys.take(8).for_each(drop);
    }
    let _ = stash.len();
    let _ = stash.stats();
    let _ = stash.contains("k");
    if check_other {
        match stash.get::<_, String>(OTHER) {
            Ok(Some(v)) if v == OTHER_VALUE => {}
            other => panic!("damage to one entry changed another key's: {other:?}"),
        }
    }
    if let Ok(()) = stash.set("k", "w") {
        match stash.get::<_, String>("k") {
            Ok(Some(v)) if v == "w" => {}
            other => panic!("an acknowledged write reads back as {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------
// pairtree

/// The stash settings `pairtree_value` picks from with its first byte.
const PAIRTREE_SETTINGS: &[(&str, &str, bool)] = &[
    ("hashstash", "raw", false),
    ("hashstash", "lz4", true),
    ("json", "zstd", false),
    ("msgpack", "raw", false),
    ("postcard", "lz4", false),
    ("hashstash", "blosc", false),
];

/// A pairtree stash holding `k` and [`OTHER`], and the folder of `k`'s slot.
fn pairtree_stash(dir: &Path, setting: (&str, &str, bool)) -> (Stash, PathBuf) {
    let (serializer, compress, b64) = setting;
    let stash =
        open(&config("pairtree", dir, serializer, compress, b64), Arc::new(stash_engine_pairtree::Pairtree));
    stash.set("k", "v").expect("a first write");
    let slot = find_slot(stash.path()).expect("the slot of the first key");
    stash.set(OTHER, OTHER_VALUE).expect("a second write");
    (stash, slot)
}

fn find_slot(dir: &Path) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.join(".key").is_file() {
            return Some(path);
        }
        if path.is_dir()
            && let Some(found) = find_slot(&path)
        {
            return Some(found);
        }
    }
    None
}

/// Removes every version file of a slot, keeping `.key`.
fn clear_versions(slot: &Path) {
    for entry in fs::read_dir(slot).expect("the slot lists").flatten() {
        if entry.file_name() != ".key" {
            let path = entry.path();
            let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
        }
    }
}

/// A pairtree value file holding the input: byte 0 picks the stash settings (and,
/// with its top bit, encodes the rest with the stash's compressor first, so the
/// serializer sees the bytes); the rest is the file.
pub fn pairtree_value(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else { return };
    let setting = PAIRTREE_SETTINGS[usize::from(head & 0x7f) % PAIRTREE_SETTINGS.len()];
    let dir = tempdir();
    let (stash, slot) = pairtree_stash(dir.path(), setting);
    let bytes = if head & 0x80 != 0 {
        let encoding = Encoding::from_names(setting.1, setting.2).expect("built in");
        encoding.encode_to_vec(body).expect("compress")
    } else {
        body.to_vec()
    };
    clear_versions(&slot);
    fs::write(slot.join("1732700000000001.4242"), bytes).expect("write the value file");
    exercise(&stash, setting.0 == "postcard", true);
}

/// Version file names: the input is up to four names, one per line, each a file in the
/// slot holding a valid value.
pub fn pairtree_names(data: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempdir();
    let (stash, slot) = pairtree_stash(dir.path(), PAIRTREE_SETTINGS[0]);
    clear_versions(&slot);
    for name in data.split(|&b| b == b'\n').take(4) {
        let name = &name[..name.len().min(200)];
        if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0) {
            continue;
        }
        let _ = fs::write(slot.join(std::ffi::OsStr::from_bytes(name)), b"\"v\"");
    }
    exercise(&stash, false, true);
}

// ---------------------------------------------------------------------------------
// lmdb

/// Opens the LMDB environment `dir` (no stash may have it open in this process).
fn heed_env(dir: &Path) -> (Env, Database<'static, Bytes, Bytes>) {
    // SAFETY: the stash on `dir` is dropped (its environment closed) before this is
    // called, and the environment is closed again before a stash reopens it.
    let env =
        unsafe { EnvOpenOptions::new().map_size(64 << 20).open(dir) }.expect("heed opens the environment");
    let rtxn = env.read_txn().expect("read txn");
    let db = env
        .open_databases_and_commit(rtxn, |opener, rtxn| {
            opener.open_database::<Bytes, Bytes>(rtxn, None).map(CommitOrAbort::<_, ()>::Commit)
        })
        .expect("open the main database")
        .commit()
        .flatten()
        .expect("the main database exists");
    (env, db)
}

fn close(env: Env) {
    env.prepare_for_closing().wait();
}

fn records(env: &Env, db: Database<'static, Bytes, Bytes>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let rtxn = env.read_txn().expect("read txn");
    let out = db
        .iter(&rtxn)
        .expect("iterate")
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("a record"))
        .collect();
    drop(rtxn);
    out
}

fn put(env: &Env, db: Database<'static, Bytes, Bytes>, key: &[u8], value: &[u8]) {
    let mut wtxn = env.write_txn().expect("write txn");
    db.put(&mut wtxn, key, value).expect("put");
    wtxn.commit().expect("commit");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Writes `k` (as `k_writes` versions) and [`OTHER`] with `config`, closes the stash,
/// and hands the environment to `damage` with the LMDB records of the stash.
fn lmdb_case(
    config: StashConfig,
    k_writes: usize,
    damage: impl FnOnce(&Env, Database<'static, Bytes, Bytes>, &[(Vec<u8>, Vec<u8>)]) -> bool,
) {
    let factory: Arc<dyn EngineFactory> = Arc::new(stash_engine_lmdb::Lmdb);
    let stash = open(&config, factory.clone());
    for i in 0..k_writes.max(1) {
        let options =
            if i == 0 { stash_core::WriteOptions::default() } else { stash_core::WriteOptions::APPEND };
        stash.set_with("k", "v", options).expect("a write");
    }
    stash.set(OTHER, OTHER_VALUE).expect("a write");
    let path = stash.path().to_path_buf();
    drop(stash);
    let (env, db) = heed_env(&path);
    let all = records(&env, db);
    let check_other = damage(&env, db, &all);
    close(env);
    let typed = false;
    let stash = open(&config, factory);
    exercise(&stash, typed, check_other);
}

/// The record of key `k` in the lmdb engine's own layout is the input (byte 0, low
/// bits: how many versions `k` had before, from 1 to 4).
pub fn lmdb_record(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else { return };
    let dir = tempdir();
    let config = config("lmdb", dir.path(), "hashstash", "raw", false);
    lmdb_case(config, usize::from(head & 3) + 1, |env, db, all| {
        let Some((key, _)) = all.iter().find(|(_, v)| contains(v, b"\"k\"")) else {
            panic!("no record holds key k: {all:?}")
        };
        put(env, db, key, body);
        true
    });
}

/// The Python library's LMDB layout (`<md5 hex>.key` / `<md5 hex>.value`): byte 0
/// picks what the rest of the input replaces: 0 `k`'s value envelope, 1 `k`'s key
/// record, 2 a stray record (name, a NUL, then its bytes).
pub fn lmdb_python(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else { return };
    let dir = tempdir();
    let config = config("lmdb", dir.path(), "hashstash", "raw", false).python();
    lmdb_case(config, usize::from(head >> 6) + 1, |env, db, all| {
        let Some((key_name, _)) = all.iter().find(|(n, v)| n.ends_with(b".key") && v == b"\"k\"") else {
            panic!("no key record holds k: {all:?}")
        };
        let hex = &key_name[..key_name.len() - 4];
        match head % 3 {
            0 => put(env, db, &[hex, b".value"].concat(), body),
            1 => put(env, db, key_name, body),
            _ => {
                let mut parts = body.splitn(2, |&b| b == 0);
                let (name, value) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                if name.is_empty() || name.len() > 511 {
                    return true;
                }
                put(env, db, name, value);
                // A stray record may name the other key's slot: only then may it change.
                let other_hex =
                    all.iter().find(|(n, v)| n.ends_with(b".key") && contains(v, OTHER.as_bytes()));
                return other_hex.is_none_or(|(n, _)| !name.starts_with(&n[..n.len() - 4]));
            }
        }
        true
    });
}

// ---------------------------------------------------------------------------------
// sled

/// Opens the sled database of a stash that was just dropped (its close may still be
/// releasing the lock: retried, bounded).
fn sled_open(path: &Path) -> Option<sled::Db> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Ok(db) => return Some(db),
            Err(_) if Instant::now() < deadline => sleep(Duration::from_millis(2)),
            Err(_) => return None,
        }
    }
}

/// sled's trees: byte 0 picks what the rest of the input replaces: 0 (and 4..) the
/// record of `k` (after 1 or 2 versions, by bit 7), 1 the meta `count`, 2 the meta
/// `expiring`, 3 the meta `format`.
pub fn sled_record(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else { return };
    let dir = tempdir();
    let config = config("sled", dir.path(), "hashstash", "raw", false);
    let factory: Arc<dyn EngineFactory> = Arc::new(stash_engine_sled::Sled);
    let stash = open(&config, factory.clone());
    stash.set("k", "v").expect("a write");
    if head & 0x80 != 0 {
        stash.set_with("k", "v2", stash_core::WriteOptions::APPEND).expect("an append");
    }
    stash.set(OTHER, OTHER_VALUE).expect("a write");
    let path = stash.path().to_path_buf();
    drop(stash);
    let db = sled_open(&path).expect("sled reopens a closed stash");
    match head & 0x7f {
        1..=3 => {
            let meta = db.open_tree("hashstash.meta").expect("the meta tree");
            let name: &[u8] = match head & 0x7f {
                1 => b"count",
                2 => b"expiring",
                _ => b"format",
            };
            meta.insert(name, body).expect("insert");
        }
        _ => {
            let key = db
                .iter()
                .filter_map(Result::ok)
                .find(|(_, v)| contains(v, b"\"k\""))
                .map(|(k, _)| k)
                .expect("a record holds key k");
            db.insert(key, body).expect("insert");
        }
    }
    db.flush().expect("flush");
    drop(db);
    // A refused database (a damaged meta `format`) is a clear error, not a panic.
    let Ok(stash) = Stash::open(config, factory) else { return };
    exercise(&stash, false, true);
}
