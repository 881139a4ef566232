//! The engines' stored layouts, fuzzed through the public stash API: the fuzzer's bytes
//! are written where the engine keeps an entry (a pairtree value file or version file
//! name, an LMDB record, a sled record), then the stash reads them.
//!
//! Claims checked on every input: no panic; another key's entry still reads as written
//! (a damaged entry is never another key's value and does not hide one); a write of the
//! damaged key is acknowledged and then read back (a write repairs).
//!
//! Each target keeps one open stash per setting for the life of the process (opening a
//! stash per input made the engine targets 20 to 500 times slower than the decoders),
//! and before each input empties it and writes its entries again, so the only state an
//! input inherits from the ones before it is what any long-lived handle keeps in memory.
//! The damage goes in beside the open stash, as another process would write it: files
//! for pairtree, and for LMDB and sled (which allow one handle per process) through the
//! engines' hidden `fuzzing` modules, which use the stash's own environment.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stash_codec::Encoding;
use stash_core::{EngineFactory, Stash, StashConfig, WriteOptions};
use stash_serial::Value;
use tempfile::TempDir;

/// The value-size limit of the fuzzed stashes: a stored size above it must be refused
/// before anything that big is allocated.
pub(crate) const MAX_VALUE: u64 = 1 << 20;
const OTHER: &str = "other";
const OTHER_VALUE: &str = "another key's value";

fn config(engine: &str, root: &Path, serializer: &str, compress: &str, b64: bool) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = engine.into();
    config.root_dir = root.into();
    config.serializer = serializer.parse().expect("a serializer name");
    config.compress = compress.parse().expect("a compressor name");
    config.b64 = b64;
    config.max_value_bytes = MAX_VALUE;
    config
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

/// One kept stash: its setting's label, the stash, then its folder (dropped last).
struct Kept {
    label: String,
    stash: Stash,
    _dir: TempDir,
}

thread_local! {
    /// The stashes this thread keeps open, one per setting (libFuzzer runs every input
    /// on one thread; each test of the replay runs its target on its own).
    static KEPT: RefCell<Vec<Kept>> = const { RefCell::new(Vec::new()) };
}

/// Empties `stash` and writes `k` (`k_writes` versions, the later ones appended) and
/// [`OTHER`].
fn refill(stash: &Stash, k_writes: usize) -> stash_core::Result<()> {
    stash.clear()?;
    for i in 0..k_writes.max(1) {
        let options = if i == 0 { WriteOptions::default() } else { WriteOptions::APPEND };
        stash.set_with("k", "v", options)?;
    }
    stash.set(OTHER, OTHER_VALUE)
}

/// Runs `body` on this thread's kept stash for `label` (opened by `open` in a fresh
/// folder on first use), emptied and refilled (see [`refill`]) first. A stash that
/// cannot be refilled (what the last input left defeats `clear`) is dropped and a
/// fresh one opened, so that failure is never blamed on the next input.
fn with_stash<R>(
    label: &str,
    open: impl Fn(&Path) -> (StashConfig, Arc<dyn EngineFactory>),
    k_writes: usize,
    body: impl FnOnce(&Stash) -> R,
) -> R {
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        let index = match kept.iter().position(|k| k.label == label) {
            Some(i) if refill(&kept[i].stash, k_writes).is_ok() => i,
            found => {
                if let Some(i) = found {
                    kept.swap_remove(i);
                }
                let dir = tempdir();
                let (config, factory) = open(dir.path());
                let stash = Stash::open(config.clone(), factory)
                    .unwrap_or_else(|e| panic!("opening a fresh {} stash: {e}", config.engine));
                refill(&stash, k_writes).unwrap_or_else(|e| panic!("filling a fresh {label} stash: {e}"));
                kept.push(Kept { label: label.to_owned(), stash, _dir: dir });
                kept.len() - 1
            }
        };
        body(&kept[index].stash)
    })
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

/// Runs `body` on the kept pairtree stash of `setting` with the folder of `k`'s slot.
fn with_pairtree(setting: (&str, &str, bool), body: impl FnOnce(&Stash, &Path)) {
    let (serializer, compress, b64) = setting;
    let label = format!("pairtree.{serializer}.{compress}.{b64}");
    let open = |dir: &Path| -> (StashConfig, Arc<dyn EngineFactory>) {
        (config("pairtree", dir, serializer, compress, b64), Arc::new(stash_engine_pairtree::Pairtree))
    };
    with_stash(&label, open, 1, |stash| {
        let key = stash.encode_key("k").expect("key k encodes").bytes;
        let slot = find_slot(stash.path(), &key).expect("the slot of key k");
        body(stash, &slot)
    });
}

/// The slot folder under `dir` whose `.key` holds `key`.
fn find_slot(dir: &Path, key: &[u8]) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if fs::read(path.join(".key")).is_ok_and(|stored| stored == key) {
            return Some(path);
        }
        if path.is_dir()
            && let Some(found) = find_slot(&path, key)
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
    let bytes = if head & 0x80 != 0 {
        let encoding = Encoding::from_names(setting.1, setting.2).expect("built in");
        encoding.encode_to_vec(body).expect("compress")
    } else {
        body.to_vec()
    };
    with_pairtree(setting, |stash, slot| {
        clear_versions(slot);
        fs::write(slot.join("1732700000000001.4242"), bytes).expect("write the value file");
        exercise(stash, setting.0 == "postcard", true);
    });
}

/// Version file names: the input is up to four names, one per line, each a file in the
/// slot holding a valid value.
pub fn pairtree_names(data: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    with_pairtree(PAIRTREE_SETTINGS[0], |stash, slot| {
        clear_versions(slot);
        for name in data.split(|&b| b == b'\n').take(4) {
            let name = &name[..name.len().min(200)];
            if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0) {
                continue;
            }
            let _ = fs::write(slot.join(std::ffi::OsStr::from_bytes(name)), b"\"v\"");
        }
        exercise(stash, false, true);
    });
}

// ---------------------------------------------------------------------------------
// lmdb

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs the kept LMDB stash (`python`: in the Python library's layout) holding `k` (as
/// `k_writes` versions) and [`OTHER`]; `damage` gets its folder and records, writes
/// through `stash_engine_lmdb::fuzzing::put`, and says whether [`OTHER`] must still read.
fn lmdb_case(python: bool, k_writes: usize, damage: impl FnOnce(&Path, &[(Vec<u8>, Vec<u8>)]) -> bool) {
    let open = |dir: &Path| -> (StashConfig, Arc<dyn EngineFactory>) {
        let config = config("lmdb", dir, "hashstash", "raw", false);
        let config = if python { config.python() } else { config };
        (config, Arc::new(stash_engine_lmdb::Lmdb))
    };
    let label = if python { "lmdb.python" } else { "lmdb" };
    with_stash(label, open, k_writes, |stash| {
        let all = stash_engine_lmdb::fuzzing::records(stash.path()).expect("the records list");
        let check_other = damage(stash.path(), &all);
        exercise(stash, false, check_other);
    });
}

fn put(dir: &Path, key: &[u8], value: &[u8]) {
    stash_engine_lmdb::fuzzing::put(dir, key, value).expect("a raw record is written");
}

/// The record of key `k` in the lmdb engine's own layout is the input (byte 0, low
/// bits: how many versions `k` had before, from 1 to 4).
pub fn lmdb_record(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else { return };
    lmdb_case(false, usize::from(head & 3) + 1, |dir, all| {
        let Some((key, _)) = all.iter().find(|(_, v)| contains(v, b"\"k\"")) else {
            panic!("no record holds key k: {all:?}")
        };
        put(dir, key, body);
        true
    });
}

/// The Python library's LMDB layout (`<md5 hex>.key` / `<md5 hex>.value`): byte 0
/// picks what the rest of the input replaces: 0 `k`'s value envelope, 1 `k`'s key
/// record, 2 a stray record (name, a NUL, then its bytes).
pub fn lmdb_python(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else { return };
    lmdb_case(true, usize::from(head >> 6) + 1, |dir, all| {
        let Some((key_name, _)) = all.iter().find(|(n, v)| n.ends_with(b".key") && v == b"\"k\"") else {
            panic!("no key record holds k: {all:?}")
        };
        let hex = &key_name[..key_name.len() - 4];
        match head % 3 {
            0 => put(dir, &[hex, b".value"].concat(), body),
            1 => put(dir, key_name, body),
            _ => {
                let mut parts = body.splitn(2, |&b| b == 0);
                let (name, value) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                if name.is_empty() || name.len() > 511 {
                    return true;
                }
                put(dir, name, value);
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

/// sled's trees: byte 0 picks what the rest of the input replaces: 0 (and 4..) the
/// record of `k` (after 1 or 2 versions, by bit 7), 1 the meta `count`, 2 the meta
/// `expiring`, 3 the meta `format`. The meta entries are read only when a database
/// opens: those cases run the open's reading of them (`fuzzing::meta`), which must
/// refuse an unknown format with a `Corrupt` error.
pub fn sled_record(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else { return };
    let case = head & 0x7f;
    if (1..=3).contains(&case) {
        let field = Some(body);
        let (format, count, expiring) = match case {
            1 => stash_engine_sled::fuzzing::meta(None, field, None),
            2 => stash_engine_sled::fuzzing::meta(None, None, field),
            _ => stash_engine_sled::fuzzing::meta(field, None, None),
        };
        if let Err(e) = format {
            assert_eq!(e.kind(), stash_core::ErrorKind::Corrupt, "an unknown format: {e}");
        }
        assert_eq!(count.is_some(), case == 1 && body.len() == 8, "a saved count is 8 bytes");
        assert_eq!(expiring.is_some(), case == 2 && body.len() == 8, "a saved count is 8 bytes");
        return;
    }
    let open = |dir: &Path| -> (StashConfig, Arc<dyn EngineFactory>) {
        (config("sled", dir, "hashstash", "raw", false), Arc::new(stash_engine_sled::Sled))
    };
    let k_writes = if head & 0x80 != 0 { 2 } else { 1 };
    with_stash("sled", open, k_writes, |stash| {
        let all = stash_engine_sled::fuzzing::records(stash.path()).expect("the records list");
        let Some((key, _)) = all.iter().find(|(_, v)| contains(v, b"\"k\"")) else {
            panic!("no record holds key k: {all:?}")
        };
        stash_engine_sled::fuzzing::put(stash.path(), key, body).expect("a raw record is written");
        exercise(stash, false, true);
    });
}
