//! One stash, two languages: the real Python library (`hashstash` 1.2.0, in the
//! virtualenv `cargo xtask test` makes and names in `HASHSTASH_PYTHON`) and
//! this crate read and write each other's pairtree and lmdb stashes, with
//! several compressors, compared item by item.
//!
//! The Python half is `tests/python/interop.py`; its `DATA` and `data()` below
//! hold the same items. Without `HASHSTASH_PYTHON` the test is skipped on a
//! developer's machine and fails when `HASHSTASH_REQUIRE_SERVICES` is set (CI).
#![cfg(all(
    feature = "pairtree",
    feature = "lmdb",
    feature = "lz4",
    feature = "zlib",
    feature = "gzip",
    feature = "bz2"
))]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use hashstash::{ErrorKind, HashStash, Set, SetOptions, StashConfig, Value};
use serde_json::{Value as Json, json};

const PYTHON_ENV: &str = "HASHSTASH_PYTHON";
const REQUIRE_ENV: &str = "HASHSTASH_REQUIRE_SERVICES";

/// The Python interpreter, as `stash_core::testkit::service_url` treats a server URL:
/// `None` (skip) on a developer's machine, a panic when CI requires it.
fn python() -> Option<PathBuf> {
    match std::env::var(PYTHON_ENV) {
        Ok(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ if std::env::var_os(REQUIRE_ENV).is_some() => {
            panic!("{PYTHON_ENV} is not set but {REQUIRE_ENV} is: run the tests through `cargo xtask test`")
        }
        _ => {
            eprintln!(
                "skipped: {PYTHON_ENV} is not set (`cargo xtask test` makes a virtualenv with hashstash 1.2.0)"
            );
            None
        }
    }
}

/// Every engine × compressor checked in both directions.
fn combos() -> Vec<(&'static str, &'static str, bool)> {
    let mut out = Vec::new();
    for engine in ["pairtree", "lmdb"] {
        for (compress, b64) in [
            ("raw", false),
            ("raw", true),
            ("lz4", false),
            ("lz4", true),
            ("zlib", false),
            ("gzip", true),
            ("bz2", false),
        ] {
            out.push((engine, compress, b64));
        }
    }
    out
}

fn combos_json() -> String {
    let all: Vec<Json> = combos()
        .into_iter()
        .map(|(engine, compress, b64)| json!({"engine": engine, "compress": compress, "b64": b64}))
        .collect();
    Json::Array(all).to_string()
}

fn folder(engine: &str, compress: &str, b64: bool) -> String {
    format!("{engine}-{compress}{}", if b64 { "-b64" } else { "" })
}

fn open(root: &Path, (engine, compress, b64): (&str, &str, bool), dbname: &str, append: bool) -> HashStash {
    HashStash::builder()
        .root_dir(root.join(folder(engine, compress, b64)))
        .dbname(dbname)
        .engine(engine)
        .compress(compress)
        .b64(b64)
        .append_mode(append)
        .python_compatible(true)
        .open()
        .unwrap_or_else(|e| panic!("open {engine}/{compress}/{b64}: {e}"))
}

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

fn ints(xs: &[i64]) -> Vec<Value> {
    xs.iter().map(|&i| Value::Int(i)).collect()
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (s(k), v)).collect())
}

/// Keep in step with `DATA` in tests/python/interop.py.
fn data() -> Vec<(Value, Value)> {
    vec![
        (s("cat"), s("meow")),
        (Value::Int(42), Value::Float(3.5)),
        (Value::Float(1.5), Value::Bool(true)),
        (Value::Bool(true), Value::Null),
        (Value::Int(-7), Value::List(ints(&[1, 2, 3]))),
        (Value::List(vec![s("bad"), s("good")]), map(vec![("goodness", s("bad")), ("n", Value::Int(1))])),
        (Value::Tuple(vec![s("bad"), s("good")]), Value::Tuple(vec![s("x"), Value::Int(1)])),
        (
            map(vec![("goodness", s("bad"))]),
            map(vec![(
                "nested",
                map(vec![("deep", Value::List(vec![Value::Int(1), map(vec![("x", Value::Float(2.25))])]))]),
            )]),
        ),
        (Value::Set(vec![s("a"), s("b")]), Value::Set(ints(&[1, 2, 3]))),
        (Value::Bytes(b"ab".to_vec()), Value::Bytes(b"\x00\xffbytes".to_vec())),
        (Value::Tuple(vec![s("t"), Value::Tuple(ints(&[1, 2]))]), s("nested tuple")),
        (s("ünïcødé 😀"), s("é")),
        (map(vec![("a", Value::List(ints(&[1, 2]))), ("b", map(vec![("c", Value::Null)]))]), Value::Int(0)),
        (s("big"), Value::UInt(1 << 63)),
        (
            s("tuple in list"),
            Value::List(vec![
                Value::Tuple(vec![s("a"), Value::Int(1)]),
                map(vec![("s", Value::Tuple(vec![s("b")]))]),
            ]),
        ),
    ]
}

fn append_key() -> Value {
    Value::Tuple(vec![s("history"), Value::Int(1)])
}

const APPEND_VALUES: [&str; 3] = ["v1", "v2", "v3"];

/// The description `describe` in interop.py makes, before sorting.
fn describe(v: &Value) -> Json {
    let all = |xs: &[Value]| Json::Array(xs.iter().map(describe).collect());
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(["bool", b]),
        Value::Int(i) => json!(["int", i.to_string()]),
        Value::UInt(u) => json!(["int", u.to_string()]),
        Value::BigInt(b) => json!(["int", b.to_string()]),
        Value::Float(f) => json!(["float", format!("{f:?}")]),
        Value::Str(x) => json!(["str", x]),
        Value::Bytes(b) => json!(["bytes", b.iter().map(|x| format!("{x:02x}")).collect::<String>()]),
        Value::List(xs) => json!(["list", all(xs)]),
        Value::Tuple(xs) => json!(["tuple", all(xs)]),
        Value::Set(xs) => json!(["set", all(xs)]),
        Value::FrozenSet(xs) => json!(["frozenset", all(xs)]),
        Value::Map(kv) => {
            json!(["dict", kv.iter().map(|(k, v)| json!([describe(k), describe(v)])).collect::<Vec<_>>()])
        }
        // No item of `data()` is a Python object; one would show as its tagged fields.
        Value::Tagged(kv) => {
            json!(["object", kv.iter().map(|(k, v)| json!([k, describe(v)])).collect::<Vec<_>>()])
        }
    }
}

/// Sorts the members of sets and dicts (by their JSON text), recursively, so
/// descriptions compare whatever order either side produced.
fn normalize(d: Json) -> Json {
    match d {
        Json::Array(items) => {
            let mut items: Vec<Json> = items.into_iter().map(normalize).collect();
            if let [Json::String(tag), Json::Array(members)] = items.as_mut_slice()
                && (tag == "set" || tag == "frozenset" || tag == "dict")
            {
                members.sort_by_cached_key(|m| m.to_string());
            }
            Json::Array(items)
        }
        other => other,
    }
}

fn sorted(items: impl IntoIterator<Item = Json>) -> Vec<String> {
    let mut out: Vec<String> = items.into_iter().map(|d| normalize(d).to_string()).collect();
    out.sort();
    out
}

fn expected_items() -> Vec<String> {
    sorted(data().iter().map(|(k, v)| json!([describe(k), describe(v)])))
}

fn run_python(python: &Path, command: &str, root: &Path) -> Json {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/interop.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(command)
        .arg(root)
        .arg(combos_json())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python interop.py {command} failed ({}):\n{stdout}\n{stderr}", out.status);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("python printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

fn near_now(t: SystemTime) -> bool {
    let now = SystemTime::now();
    let diff = now.duration_since(t).or_else(|_| t.duration_since(now)).unwrap_or_default();
    diff < Duration::from_secs(3600)
}

/// Python writes, Rust reads: keys, items, `get` with Value keys and with
/// native Rust keys, and the append history with its timestamps.
fn rust_reads(root: &Path, python_items: &Json) {
    let python_items = python_items.as_array().expect("items").iter().cloned();
    assert_eq!(sorted(python_items), expected_items(), "DATA in interop.py and data() here differ");
    for combo in combos() {
        let ctx = format!("{combo:?}");
        let stash = open(root, combo, "main", false);
        let items: Vec<(Value, Value)> = stash.items().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            sorted(items.iter().map(|(k, v)| json!([describe(k), describe(v)]))),
            expected_items(),
            "{ctx}"
        );
        let keys: Vec<Value> = stash.keys().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(keys.len(), data().len(), "{ctx}");
        assert_eq!(stash.len().unwrap(), data().len(), "{ctx}");
        for (k, v) in data() {
            let got: Option<Value> = stash.get(&k).unwrap_or_else(|e| panic!("{ctx}: get {k}: {e}"));
            let got = got.unwrap_or_else(|| panic!("{ctx}: get {k} found nothing"));
            assert_eq!(normalize(describe(&got)), normalize(describe(&v)), "{ctx}: {k}");
        }
        // Native Rust keys and values.
        assert_eq!(stash.get::<_, String>("cat").unwrap().as_deref(), Some("meow"), "{ctx}");
        assert_eq!(stash.get::<_, f64>(&42).unwrap(), Some(3.5), "{ctx}");
        assert_eq!(stash.get::<_, (String, i64)>(&("bad", "good")).unwrap(), Some(("x".into(), 1)), "{ctx}");
        assert_eq!(stash.get::<_, Vec<i64>>(&-7).unwrap(), Some(vec![1, 2, 3]), "{ctx}");
        let by_map: Option<Value> = stash.get(&BTreeMap::from([("goodness", "bad")])).unwrap();
        assert!(by_map.is_some(), "{ctx}: map key");
        let by_set: Option<Set<i64>> = stash.get(&Set::from_iter(["b", "a"])).unwrap();
        assert_eq!(by_set.map(|s| s.into_inner()), Some(vec![1, 2, 3]), "{ctx}");
        assert_eq!(stash.get::<_, String>(&("t", (1, 2))).unwrap().as_deref(), Some("nested tuple"), "{ctx}");
        let by_list: Option<BTreeMap<String, Value>> = stash.get(&vec!["bad", "good"]).unwrap();
        assert_eq!(by_list.and_then(|m| m.get("goodness").cloned()), Some(s("bad")), "{ctx}");
        assert_eq!(stash.get::<_, u64>("big").unwrap(), Some(1 << 63), "{ctx}");

        let history = open(root, combo, "append", true);
        let versions = history.get_all_with_metadata::<_, String>(&append_key()).unwrap();
        assert_eq!(versions.iter().map(|v| v.value.as_str()).collect::<Vec<_>>(), APPEND_VALUES, "{ctx}");
        assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2, 3], "{ctx}");
        assert!(versions.windows(2).all(|w| w[0].written_at < w[1].written_at), "{ctx}");
        assert!(versions.iter().all(|v| near_now(v.written_at)), "{ctx}");
        assert_eq!(history.get::<_, String>(&append_key()).unwrap().as_deref(), Some("v3"), "{ctx}");
    }
}

/// Rust writes what Python then checks (`interop.py check`).
fn rust_writes(root: &Path) {
    for combo in combos() {
        let stash = open(root, combo, "main", false);
        stash.clear().unwrap();
        for (k, v) in data() {
            stash.set(&k, &v).unwrap();
        }
        let history = open(root, combo, "append", true);
        history.clear().unwrap();
        for v in APPEND_VALUES {
            history.set_with(&append_key(), v, SetOptions::new().append(true)).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        stash.flush().unwrap();
        history.flush().unwrap();
    }
}

#[test]
fn python_and_rust_share_stashes() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let from_python = dir.path().join("python-wrote");
    let report = run_python(&python, "write", &from_python);
    rust_reads(&from_python, &report["items"]);

    let from_rust = dir.path().join("rust-wrote");
    rust_writes(&from_rust);
    let report = run_python(&python, "check", &from_rust);
    assert_eq!(report["checked"], json!(combos().len()), "{report}");
}

#[test]
fn compatible_mode_refuses_what_python_cannot_share() {
    let dir = tempfile::tempdir().unwrap();
    let base = || HashStash::builder().root_dir(dir.path()).python_compatible(true);
    for (builder, what) in [
        (base().compress("blosc"), "blosc"),
        (base().compress("zstd"), "zstd"),
        (base().serializer("json"), "json"),
        (base().digest(hashstash::DigestAlgo::Blake3), "blake3"),
        (base().engine("memory"), "memory"),
    ] {
        let err = builder.open().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{what}: {err}");
        assert!(err.to_string().contains("python_compatible"), "{what}: {err}");
    }
    let ok = base().compress("raw").open().unwrap();
    assert!(ok.config().python_compatible);
    assert_eq!(ok.config().digest, hashstash::DigestAlgo::Md5);
    let cfg: StashConfig = serde_json::from_str(r#"{"python_compatible":true,"engine":"lmdb"}"#).unwrap();
    assert!(cfg.python_compatible);
}

/// Issue 22 item 9: one `root_dir` string names one folder in both languages.
/// Python 1.2 resolves a relative *path* (`./x`, `a/b`, `.x`) from the working
/// folder and nests a bare *name* under its cache root; so does `resolved_root`.
#[test]
fn relative_roots_resolve_like_python() {
    let Some(python) = python() else { return };
    let work = tempfile::tempdir().unwrap();
    let cache_root = tempfile::tempdir().unwrap();
    let roots = ["./mycache", "data/cache", ".hidden", "bare_name"];
    let code = format!(
        "import json\nfrom hashstash import HashStash\nprint(json.dumps([HashStash(root_dir=r).root_dir for r in {roots:?}]))"
    );
    let out = Command::new(&python)
        .args(["-c", &code])
        .current_dir(work.path())
        .env("HASHSTASH_ROOT_DIR", cache_root.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let python_roots: Vec<PathBuf> = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    // The same rule, applied by Rust from its own working folder and cache root.
    let cwd = std::env::current_dir().unwrap();
    let rust_cache_root = {
        let mut config = StashConfig::default();
        config.root_dir = "x".into();
        config
    }
    .resolved_root()
    .unwrap()
    .parent()
    .unwrap()
    .to_path_buf();
    for (root, from_python) in roots.iter().zip(python_roots) {
        let rust = {
            let mut config = StashConfig::default();
            config.root_dir = root.into();
            config
        }
        .resolved_root()
        .unwrap();
        let expected_rust = if let Ok(rest) = from_python.strip_prefix(work.path()) {
            cwd.join(rest)
        } else if let Ok(rest) = from_python.strip_prefix(cache_root.path()) {
            rust_cache_root.join(rest)
        } else {
            from_python.clone()
        };
        assert_eq!(rust, expected_rust, "root_dir {root:?}: Python gave {}", from_python.display());
    }
}

/// Runs `tests/python/kinds.py <command> <root>` and returns its JSON report.
fn run_kinds(python: &Path, command: &str, root: &Path) -> Json {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/kinds.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(command)
        .arg(root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python kinds.py {command} failed ({}):\n{stdout}\n{stderr}", out.status);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("python printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

/// The stashes kinds.py uses: its `ENGINES`.
fn kinds_stashes(root: &Path) -> Vec<HashStash> {
    [("pairtree", "lz4", true), ("lmdb", "raw", false)]
        .into_iter()
        .map(|(engine, compress, b64)| {
            HashStash::builder()
                .root_dir(root.join(engine))
                .dbname("main")
                .engine(engine)
                .compress(compress)
                .b64(b64)
                .python_compatible(true)
                .open()
                .unwrap_or_else(|e| panic!("open {engine}: {e}"))
        })
        .collect()
}

/// Keep in step with `FROZEN` in tests/python/kinds.py.
fn frozen_data() -> Vec<(Value, Value)> {
    vec![
        (Value::FrozenSet(vec![]), s("empty frozenset")),
        (Value::FrozenSet(vec![s("a"), Value::Int(1), Value::Int(3)]), s("frozenset")),
        (Value::Set(vec![s("x"), s("y")]), s("set")),
        (s("frozenset value"), Value::FrozenSet(ints(&[1, 2]))),
    ]
}

/// Issue 16: `frozenset` keys both ways. A key Python wrote (empty frozenset, a
/// non-empty one, a set) finds its own entry when Rust reads it back from `keys()`,
/// native `FrozenSet`/`Set` keys find Python's entries, and what Rust writes Python
/// reads back as frozensets and sets.
#[test]
fn frozenset_keys_cross_languages() {
    use hashstash::FrozenSet;
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let from_python = dir.path().join("python-wrote");
    run_kinds(&python, "frozen-write", &from_python);
    for stash in kinds_stashes(&from_python) {
        let ctx = stash.to_string();
        let keys: Vec<Value> = stash.keys().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(keys.len(), frozen_data().len(), "{ctx}");
        for key in &keys {
            let got: Option<Value> = stash.get(key).unwrap();
            assert!(got.is_some(), "{ctx}: the key {key} read from the stash finds nothing");
        }
        for (k, v) in frozen_data() {
            assert!(keys.contains(&k), "{ctx}: {k} not among {keys:?}");
            assert_eq!(stash.get::<_, Value>(&k).unwrap(), Some(v), "{ctx}: {k}");
        }
        let empty: Option<String> = stash.get(&FrozenSet::<i64>::new()).unwrap();
        assert_eq!(empty.as_deref(), Some("empty frozenset"), "{ctx}");
        let some = FrozenSet::from(vec![Value::Int(3), s("a"), Value::Int(1)]);
        assert_eq!(stash.get::<_, String>(&some).unwrap().as_deref(), Some("frozenset"), "{ctx}");
        // A set and a frozenset of the same items are different keys, as in Python.
        assert_eq!(stash.get::<_, String>(&some.clone().into_set()).unwrap(), None, "{ctx}");
        let set = Set::from(vec!["y", "x"]);
        assert_eq!(stash.get::<_, String>(&set).unwrap().as_deref(), Some("set"), "{ctx}");
        assert_eq!(stash.get::<_, String>(&FrozenSet::from(vec!["y", "x"])).unwrap(), None, "{ctx}");
        let value: Option<FrozenSet<i64>> = stash.get("frozenset value").unwrap();
        assert_eq!(value.map(FrozenSet::into_inner), Some(vec![1, 2]), "{ctx}");
    }

    let from_rust = dir.path().join("rust-wrote");
    for stash in kinds_stashes(&from_rust) {
        stash.clear().unwrap();
        stash.set(&FrozenSet::<i64>::new(), "empty frozenset").unwrap();
        stash.set(&FrozenSet::from(vec![Value::Int(1), Value::Int(3), s("a")]), "frozenset").unwrap();
        stash.set(&Set::from(vec!["x", "y"]), "set").unwrap();
        stash.set("frozenset value", &FrozenSet::from(vec![2, 1])).unwrap();
        stash.flush().unwrap();
    }
    let report = run_kinds(&python, "frozen-check", &from_rust);
    assert_eq!(report["checked"], json!(2), "{report}");
}

/// The polars twin of `frame()` in tests/python/kinds.py.
#[cfg(feature = "frame")]
fn expected_frame() -> hashstash::frame::polars::prelude::DataFrame {
    use hashstash::frame::polars::prelude::*;
    let when =
        Series::new("when".into(), [Some(1_704_067_200_000_000i64), Some(1_704_164_645_123_456), None])
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .unwrap();
    DataFrame::new(
        3,
        vec![
            Series::new("name".into(), [Some("a"), None, Some("ünï")]).into_column(),
            Series::new("n".into(), [1i64, -2, 1 << 40]).into_column(),
            Series::new("x".into(), [1.5f64, f64::NAN, -0.25]).into_column(),
            Series::new("ok".into(), [true, false, true]).into_column(),
            when.into_column(),
        ],
    )
    .unwrap()
}

/// Issue 16: a pandas DataFrame (str, int, float, bool, datetime and missing cells) written
/// by Python reads in Rust as a polars DataFrame, equal cell by cell, and Rust's equal
/// frame finds Python's DataFrame key; the reverse, checked by pandas.
#[cfg(feature = "frame")]
#[test]
fn dataframes_cross_languages() {
    use hashstash::Frame;
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let from_python = dir.path().join("python-wrote");
    let report = run_kinds(&python, "frame-write", &from_python);
    assert_eq!(
        report["dtypes"],
        json!({"name": "str", "n": "int64", "x": "float64", "ok": "bool", "when": "datetime64[us]"}),
        "pandas made other column types than this test expects"
    );
    let want = expected_frame();
    for stash in kinds_stashes(&from_python) {
        let ctx = stash.to_string();
        let got: Frame = stash.get("frame").unwrap().unwrap_or_else(|| panic!("{ctx}: no frame"));
        assert_eq!(got.schema(), want.schema(), "{ctx}");
        assert_eq!(got.height(), 3, "{ctx}");
        let (name, n, x) = (got.column("name").unwrap(), got.column("n").unwrap(), got.column("x").unwrap());
        let (ok, when) = (got.column("ok").unwrap(), got.column("when").unwrap());
        for row in 0..3 {
            assert_eq!(
                name.str().unwrap().get(row),
                want.column("name").unwrap().str().unwrap().get(row),
                "{ctx}"
            );
            assert_eq!(n.i64().unwrap().get(row), want.column("n").unwrap().i64().unwrap().get(row), "{ctx}");
            let (a, b) = (
                x.f64().unwrap().get(row).unwrap(),
                want.column("x").unwrap().f64().unwrap().get(row).unwrap(),
            );
            assert!(a == b || (a.is_nan() && b.is_nan()), "{ctx}: x[{row}] = {a}, expected {b}");
            assert_eq!(
                ok.bool().unwrap().get(row),
                want.column("ok").unwrap().bool().unwrap().get(row),
                "{ctx}"
            );
            assert_eq!(
                when.datetime().unwrap().physical().get(row),
                want.column("when").unwrap().datetime().unwrap().physical().get(row),
                "{ctx}"
            );
        }
        // The DataFrame key Python wrote is found by Rust's equal polars frame.
        assert_eq!(stash.get::<_, String>(&Frame::from(&want)).unwrap().as_deref(), Some("cat"), "{ctx}");
    }

    let from_rust = dir.path().join("rust-wrote");
    for stash in kinds_stashes(&from_rust) {
        stash.clear().unwrap();
        stash.set("frame", &Frame::from(&want)).unwrap();
        stash.set(&Frame::from(&want), "cat").unwrap();
        stash.flush().unwrap();
    }
    let report = run_kinds(&python, "frame-check", &from_rust);
    assert_eq!(report["checked"], json!(2), "{report}");
}

/// Keep in step with `func_key` in tests/python/kinds.py: its Rust twin.
#[hashstash::stash_fingerprint]
fn func_key(x: u32) -> u32 {
    x
}

/// A Rust function named like a Python keyword: Python still loads its key.
#[hashstash::stash_fingerprint]
fn lambda(x: u32) -> u32 {
    x * 2
}

/// Issue 16: function keys both ways. Python's function and lambda keys (the seed
/// README's) list in Rust as `Value::Tagged` and each finds its own entry by that
/// value, and as `FnKey`s; the keys of Rust functions (`fn_key!`) load in Python as
/// functions of the same name (raising when called) whose values are right.
#[test]
fn function_keys_cross_languages() {
    use hashstash::{FnKey, fn_key};
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let from_python = dir.path().join("python-wrote");
    run_kinds(&python, "fn-write", &from_python);
    for stash in kinds_stashes(&from_python) {
        let ctx = stash.to_string();
        let keys: Vec<Value> = stash.keys().unwrap().collect::<Result<_, _>>().unwrap();
        let mut found = BTreeMap::new();
        for key in &keys {
            assert!(matches!(key, Value::Tagged(_)), "{ctx}: {key:?}");
            assert_eq!(key.get("__pytype__"), Some(&s("function")), "{ctx}: {key:?}");
            let value: Option<String> = stash.get(key).unwrap();
            let py = key.get("__py__").and_then(Value::as_str).unwrap_or_default().to_owned();
            found.insert(
                py,
                value.unwrap_or_else(|| panic!("{ctx}: the key {key} read from the stash finds nothing")),
            );
        }
        let want = BTreeMap::from([
            ("__main__.func_key".to_owned(), "function".to_owned()),
            ("__main__.<lambda>".to_owned(), "lambda".to_owned()),
        ]);
        assert_eq!(found, want, "{ctx}");
        // Read as function keys, they find their entries too, and Python's keys can be
        // spelled in Rust.
        let fn_keys: Vec<FnKey> = stash.keys().unwrap().collect::<Result<_, _>>().unwrap();
        for key in &fn_keys {
            assert!(stash.get::<_, String>(key).unwrap().is_some(), "{ctx}: {key:?}");
        }
        let source = fn_keys.iter().find(|k| k.name() == "func_key").and_then(FnKey::source);
        assert_eq!(source, Some("def func_key(x):\n    pass"), "{ctx}");
        let spelled = FnKey::python("__main__.func_key", Some("def func_key(x):\n    pass".into()));
        assert_eq!(stash.get::<_, String>(&spelled).unwrap().as_deref(), Some("function"), "{ctx}");
    }

    let from_rust = dir.path().join("rust-wrote");
    for stash in kinds_stashes(&from_rust) {
        stash.clear().unwrap();
        stash.set(&fn_key!(func_key), "function").unwrap();
        stash.set(&fn_key!(lambda), "lambda").unwrap();
        assert_eq!(stash.get::<_, String>(&fn_key!(func_key)).unwrap().as_deref(), Some("function"));
        stash.flush().unwrap();
    }
    assert_eq!((func_key(1), lambda(1)), (1, 2));
    let report = run_kinds(&python, "fn-check", &from_rust);
    assert_eq!(report["checked"], json!(2), "{report}");
}
