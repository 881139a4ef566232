//! The `hashstash` command, run as a process, on stashes written by this
//! library (every embedded engine), by the Python library (pairtree and lmdb,
//! through the interop virtualenv named by `HASHSTASH_PYTHON`) and on servers
//! (`HASHSTASH_REDIS_URL`, `HASHSTASH_MONGO_URL`), with bad input of each kind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use hashstash::{HashStash, Value};
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value as Json;

const ENGINES: [&str; 4] = ["pairtree", "lmdb", "sqlite", "sled"];

fn hashstash() -> Command {
    let mut cmd = Command::cargo_bin("hashstash").expect("the hashstash binary is built");
    // Relative roots must not depend on the developer's home.
    cmd.env_remove("HASHSTASH_ROOT_DIR");
    cmd
}

/// Runs `hashstash args...` and returns its standard output, asserting success.
fn ok(args: &[&str]) -> String {
    let out = hashstash().args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "hashstash {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs `hashstash args...`, asserts the exit code and returns standard error.
fn fails(code: i32, args: &[&str]) -> String {
    let out = hashstash().args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "hashstash {args:?}: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    stderr
}

fn info_json(stash: &str) -> Json {
    serde_json::from_str(ok(&["info", stash, "--json"]).trim()).expect("info --json is JSON")
}

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

fn tuple(xs: &[&str]) -> Value {
    Value::Tuple(xs.iter().map(|x| s(x)).collect())
}

/// The entries every Rust-written stash starts with.
fn entries() -> Vec<(Value, Value)> {
    vec![
        (s("cat"), s("meow")),
        (tuple(&["bad", "good"]), Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)])),
        (Value::Map(vec![(s("goodness"), s("bad"))]), Value::Map(vec![(s("x"), Value::Int(1))])),
        (Value::Int(42), Value::Float(3.5)),
    ]
}

const TUPLE_KEY: &str = r#"{"__py__":"builtins.tuple","__data__":["bad","good"]}"#;

/// Writes `entries()` with the library into `<root>/main/<engine>.hashstash.lz4`;
/// returns the stash folder. The handle is dropped, so the command can open it (sled).
fn rust_stash(root: &Path, engine: &str, compress: &str) -> PathBuf {
    let stash = HashStash::builder()
        .root_dir(root)
        .engine(engine)
        .compress(compress)
        .open()
        .expect("opens the stash");
    for (k, v) in entries() {
        stash.set(&k, &v).expect("writes");
    }
    stash.flush().expect("flushes");
    let dir = stash.path().parent().expect("a stash folder").to_path_buf();
    drop(stash);
    dir
}

/// Stores bytes that do not decompress under the key `"broken"`, through the engine.
fn damage(root: &Path, engine: &str) {
    let stash = HashStash::builder().root_dir(root).engine(engine).compress("lz4").open().expect("opens");
    let key = stash.encode_key("broken").expect("encodes");
    stash
        .engine()
        .put(&key.digest, &key.bytes, b"\xff not lz4 at all", Default::default())
        .expect("writes bytes");
    stash.flush().expect("flushes");
}

fn every_subcommand(engine: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    let stash_dir = rust_stash(&root, engine, "lz4");
    let folder = stash_dir.to_str().expect("UTF-8 path").to_string();
    let data = stash_dir.join("data.db");
    let root_s = root.to_str().expect("UTF-8");

    // info: from the stash folder, its data.db, or the root holding it.
    for given in [folder.as_str(), data.to_str().expect("UTF-8"), root_s] {
        let info = info_json(given);
        assert_eq!(info["engine"], engine, "{info}");
        assert_eq!(
            (info["serializer"].as_str(), info["compress"].as_str()),
            (Some("hashstash"), Some("lz4"))
        );
        assert_eq!((info["entries"].as_u64(), info["layout"].as_str()), (Some(4), Some("native")), "{info}");
        assert_eq!((info["b64"].as_bool(), info["damaged"].as_u64()), (Some(false), Some(0)));
        assert!(info["newest_write"].as_str().is_some_and(|t| t.ends_with(" UTC")), "{info}");
    }
    let table = ok(&["info", root_s]);
    assert!(
        table.contains(&format!("engine        {engine}")) && table.contains("entries       4"),
        "{table}"
    );
    assert!(table.contains("layout        native, digest blake3"), "{table}");

    // keys: display form, JSON lines, a limit.
    let keys = ok(&["keys", &folder]);
    let mut lines: Vec<&str> = keys.lines().collect();
    lines.sort();
    assert_eq!(lines, ["'cat'", "('bad', 'good')", "42", "{'goodness': 'bad'}"]);
    assert_eq!(ok(&["keys", &folder, "--limit", "2"]).lines().count(), 2);
    let json_keys = ok(&["keys", &folder, "--json"]);
    assert!(json_keys.lines().any(|l| l == TUPLE_KEY), "{json_keys}");
    assert!(json_keys.lines().all(|l| serde_json::from_str::<Json>(l).is_ok()), "{json_keys}");

    // get: a string key given bare or as JSON, a tuple, a map, a number.
    assert_eq!(ok(&["get", &folder, "cat"]), "'meow'\n");
    assert_eq!(ok(&["get", &folder, "\"cat\""]), "'meow'\n");
    assert_eq!(ok(&["get", &folder, TUPLE_KEY, "--json"]), "[1,2,3]\n");
    assert_eq!(ok(&["get", &folder, r#"{"goodness": "bad"}"#]), "{'x': 1}\n");
    assert_eq!(ok(&["get", &folder, "42"]), "3.5\n");
    let missing = fails(1, &["get", &folder, "dog"]);
    assert!(
        missing.contains("not found") && missing.contains("'dog'") && missing.contains("digest: "),
        "{missing}"
    );
    assert!(missing.contains(&folder), "{missing}");

    // set, rm.
    ok(&["set", &folder, "dog", r#"{"says": ["woof", 2]}"#]);
    assert_eq!(ok(&["get", &folder, "dog", "--json"]), "{\"says\":[\"woof\",2]}\n");
    ok(&["set", &folder, "\"42\"", "a string key"]);
    assert_eq!(ok(&["get", &folder, "\"42\""]), "'a string key'\n");
    assert_eq!(ok(&["get", &folder, "42"]), "3.5\n");
    ok(&["rm", &folder, "\"42\""]);
    fails(1, &["get", &folder, "\"42\""]);
    let gone = fails(1, &["rm", &folder, "nobody"]);
    assert!(gone.contains("not found"), "{gone}");

    // append mode keeps versions.
    ok(&["set", &folder, "log", "1", "--append"]);
    ok(&["set", &folder, "log", "2", "--append"]);
    assert_eq!(ok(&["get", &folder, "log"]), "2\n");
    assert_eq!(info_json(&folder)["versions"].as_u64(), Some(7), "6 entries, log has 2 versions");

    // stats, and prune of an entry that expires.
    ok(&["set", &folder, "brief", "1", "--ttl", "1s"]);
    let stats = ok(&["stats", &folder]);
    assert!(stats.contains("entries      7"), "{stats}");
    std::thread::sleep(Duration::from_millis(1300));
    let stats: Json = serde_json::from_str(ok(&["stats", &folder, "--json"]).trim()).expect("JSON");
    assert_eq!((stats["entries"].as_u64(), stats["expired"].as_u64()), (Some(6), Some(1)), "{stats}");
    let dry = ok(&["prune", &folder, "--expired", "--dry-run"]);
    assert!(dry.contains("would remove 'brief'") && dry.contains("would remove 1 entry"), "{dry}");
    assert_eq!(info_json(&folder)["expired"].as_u64(), Some(1));
    assert!(ok(&["prune", &folder, "--expired"]).contains("removed 1 entry"));
    assert_eq!(info_json(&folder)["expired"].as_u64(), Some(0));
    let none = ok(&["prune", &folder, "--older-than", "7d"]);
    assert!(none.contains("removed 0 entries"), "{none}");
    let all_old = ok(&["prune", &folder, "--older-than", "1s", "--dry-run"]);
    assert!(all_old.contains("would remove 6 entries"), "{all_old}");
    assert_eq!(info_json(&folder)["entries"].as_u64(), Some(6), "a dry run removes nothing");

    // verify on a clean stash.
    let verified = ok(&["verify", &folder]);
    assert!(verified.contains("6 healthy entries (7 versions), 0 damaged"), "{verified}");

    // export: tables through stash-frame, pairs; then import the pairs elsewhere.
    let jsonl = ok(&["export", &folder, "--format", "jsonl"]);
    assert!(jsonl.lines().any(|l| l == r#"{"_key":"cat","_value":"meow"}"#), "{jsonl}");
    let csv = ok(&["export", &folder, "--format", "csv"]);
    assert!(csv.lines().next().is_some_and(|h| h.starts_with("_key,")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("cat,") && l.contains(",meow")), "{csv}");
    #[cfg(feature = "parquet")]
    {
        let parquet = dir.path().join("out.parquet");
        hashstash()
            .args(["export", &folder, "--format", "parquet", "-o", parquet.to_str().expect("UTF-8")])
            .assert()
            .success()
            .stderr(contains("exported"));
        let bytes = std::fs::read(&parquet).expect("parquet written");
        assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    }
    let pairs_file = dir.path().join("pairs.jsonl");
    ok(&["export", &folder, "--format", "pairs", "-o", pairs_file.to_str().expect("UTF-8")]);
    let pairs = std::fs::read_to_string(&pairs_file).expect("pairs written");
    assert_eq!(pairs.lines().count(), 6, "{pairs}");
    assert!(pairs.contains(&format!(r#"{{"_key":{TUPLE_KEY},"_value":[1,2,3]}}"#)), "{pairs}");
    let copy_dir = dir.path().join("imported/main").join(format!("{engine}.json.zstd"));
    let copy = copy_dir.to_str().expect("UTF-8");
    assert!(ok(&["import", copy, pairs_file.to_str().expect("UTF-8")]).contains("imported 6 entries"));
    assert_eq!(ok(&["get", copy, "dog", "--json"]), "{\"says\":[\"woof\",2]}\n");
    assert_eq!(info_json(copy)["serializer"], "json");

    // migrate (every version) and copy (newest values) to other engines.
    let other = if engine == "lmdb" { "sqlite" } else { "lmdb" };
    let migrated = dir.path().join("migrated");
    let summary = ok(&[
        "migrate",
        &folder,
        "--to",
        migrated.to_str().expect("UTF-8"),
        "--engine",
        other,
        "--compress",
        "zstd",
    ]);
    assert!(summary.contains("migrated 6 entries (7 versions)") && summary.contains("0 failed"), "{summary}");
    let target = migrated.join("main").join(format!("{other}.hashstash.zstd"));
    let target = target.to_str().expect("UTF-8");
    assert_eq!(info_json(target)["versions"].as_u64(), Some(7));
    assert_eq!(ok(&["get", target, TUPLE_KEY]), "[1, 2, 3]\n");
    let copied = dir.path().join("copied/main/sqlite.msgpack.raw+b64");
    let copied = copied.to_str().expect("UTF-8");
    assert!(ok(&["copy", &folder, "--to", copied]).contains("copied 6 entries"));
    let info = info_json(copied);
    assert_eq!(
        (info["entries"].as_u64(), info["versions"].as_u64(), info["b64"].as_bool()),
        (Some(6), Some(6), Some(true))
    );
    let dry = ok(&["migrate", &folder, "--to", dir.path().join("dry").to_str().expect("UTF-8"), "--dry-run"]);
    assert!(dry.contains("would migrate 6 entries"), "{dry}");

    // A damaged entry: reported with its digest, the rest still readable, repaired.
    damage(&root, engine);
    let bad = fails(1, &["get", &folder, "broken"]);
    assert!(bad.contains("corrupt data") && bad.contains("digest") && bad.contains(&folder), "{bad}");
    assert_eq!(ok(&["get", &folder, "cat"]), "'meow'\n");
    let out = hashstash().args(["verify", &folder]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("damaged: digest ") && stdout.contains("6 healthy entries"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("verify --repair"));
    assert!(ok(&["verify", &folder, "--repair"]).contains("1 removed"));
    ok(&["verify", &folder]);

    // clear needs --yes.
    let usage = fails(2, &["clear", &folder]);
    assert!(usage.contains("--yes"), "{usage}");
    assert!(ok(&["clear", &folder, "--yes"]).contains("cleared 6 entries"));
    assert_eq!(info_json(&folder)["entries"].as_u64(), Some(0));
    assert_eq!(ok(&["keys", &folder]), "");
}

#[test]
fn every_subcommand_on_pairtree() {
    every_subcommand("pairtree");
}

#[test]
fn every_subcommand_on_lmdb() {
    every_subcommand("lmdb");
}

#[test]
fn every_subcommand_on_sqlite() {
    every_subcommand("sqlite");
}

#[test]
fn every_subcommand_on_sled() {
    every_subcommand("sled");
}

#[test]
fn settings_come_from_folder_names_and_pick_among_stashes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    for engine in ENGINES {
        rust_stash(&root, engine, "raw");
    }
    let root_s = root.to_str().expect("UTF-8");
    let many = fails(1, &["info", root_s]);
    assert!(many.contains("ambiguous") && many.contains("4 stashes under"), "{many}");
    for engine in ENGINES {
        assert!(many.contains(&format!("{engine}.hashstash.raw")), "{many}");
        assert_eq!(info_json_with(root_s, &["--engine", engine])["engine"], engine);
    }
    let folder = root.join("main/sqlite.hashstash.raw");
    let folder = folder.to_str().expect("UTF-8");
    let contradiction = fails(1, &["info", folder, "--engine", "lmdb"]);
    assert!(contradiction.contains("--engine says `lmdb`"), "{contradiction}");
    let none = fails(1, &["info", root_s, "--compress", "zstd"]);
    assert!(none.contains("no stash with these settings"), "{none}");
    // set with --engine makes a stash under a root; a bare root is refused without it.
    let fresh = dir.path().join("fresh");
    let fresh_s = fresh.to_str().expect("UTF-8");
    std::fs::create_dir(&fresh).expect("mkdir");
    fails(1, &["set", fresh_s, "a", "1"]);
    ok(&["set", fresh_s, "a", "1", "--engine", "sqlite", "--compress", "zstd", "--b64"]);
    assert!(fresh.join("main/sqlite.hashstash.zstd+b64/data.db").exists());
    assert_eq!(ok(&["get", fresh_s, "a"]), "1\n");
}

fn info_json_with(stash: &str, extra: &[&str]) -> Json {
    let mut args = vec!["info", stash, "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(ok(&args).trim()).expect("JSON")
}

#[test]
fn bad_input_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |p: &str| dir.path().join(p).to_str().expect("UTF-8").to_string();

    // A path that does not exist, a file, a folder without a stash.
    let gone = fails(1, &["info", &path("nowhere")]);
    assert!(gone.contains("not a stash") && gone.contains("no such file or folder"), "{gone}");
    std::fs::write(dir.path().join("file.txt"), "hello").expect("write");
    assert!(fails(1, &["keys", &path("file.txt")]).contains("is a file, not a stash"));
    std::fs::create_dir(dir.path().join("empty")).expect("mkdir");
    assert!(fails(1, &["stats", &path("empty")]).contains("no stash under"));
    // A stash folder whose data.db is missing is not made by a reading command.
    let missing = fails(1, &["info", &path("root/main/lmdb.hashstash.raw")]);
    assert!(missing.contains("data.db does not exist"), "{missing}");
    assert!(!dir.path().join("root").exists(), "a reading command created a stash");

    // An unknown engine, serializer or compressor in the folder name.
    std::fs::create_dir_all(dir.path().join("odd/main/foo.hashstash.raw/data.db")).expect("mkdir");
    let unknown = fails(1, &["info", &path("odd/main/foo.hashstash.raw")]);
    assert!(unknown.contains("unknown engine `foo`"), "{unknown}");
    let pickle = fails(1, &["info", &path("odd/main/pairtree.pickle.raw")]);
    assert!(pickle.contains("pickle"), "{pickle}");
    let lzma = fails(1, &["set", &path("odd/main/pairtree.hashstash.lzma"), "a", "1"]);
    assert!(lzma.contains("unknown compressor `lzma`"), "{lzma}");
    let memory = fails(1, &["set", &path("odd/main/memory.hashstash.raw"), "a", "1"]);
    assert!(memory.contains("memory engine keeps its entries inside one process"), "{memory}");

    // A corrupt file: an lmdb data file that is not LMDB.
    std::fs::create_dir_all(dir.path().join("junk/main/lmdb.hashstash.raw/data.db")).expect("mkdir");
    std::fs::write(dir.path().join("junk/main/lmdb.hashstash.raw/data.db/data.mdb"), vec![7u8; 8192])
        .expect("write");
    let junk = fails(1, &["info", &path("junk")]);
    assert!(junk.contains("corrupt data") && junk.contains("data.mdb"), "{junk}");

    // A truncated pairtree version file.
    let root = dir.path().join("pt");
    let folder = rust_stash(&root, "pairtree", "lz4");
    let stash =
        HashStash::builder().root_dir(&root).engine("pairtree").compress("lz4").open().expect("opens");
    let digest = stash.encode_key("cat").expect("encodes").digest.to_string();
    drop(stash);
    let slot = walk(&folder.join("data.db")).into_iter().find(|p| p.to_string_lossy().contains(&digest[6..]));
    let slot = slot.expect("the slot of 'cat'");
    let version = std::fs::read_dir(&slot)
        .expect("slot")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n != ".key"))
        .expect("a version file");
    std::fs::write(&version, b"\x01").expect("truncate");
    let folder_s = folder.to_str().expect("UTF-8");
    let corrupt = fails(1, &["get", folder_s, "cat"]);
    assert!(corrupt.contains("corrupt data") && corrupt.contains(&digest), "{corrupt}");
    assert_eq!(ok(&["get", folder_s, "42"]), "3.5\n");

    // Bad JSON to import: the line is named and nothing is written.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"_key\": \"new\", \"_value\": 1}\n{\"_key\": oops}\n").expect("write");
    let msg = fails(1, &["import", folder_s, bad.to_str().expect("UTF-8")]);
    assert!(msg.contains("bad.jsonl:2: not JSON") && msg.contains("nothing was imported"), "{msg}");
    fails(1, &["get", folder_s, "new"]);
    std::fs::write(&bad, "[1, 2]\n").expect("write");
    assert!(fails(1, &["import", folder_s, bad.to_str().expect("UTF-8")]).contains("`_key`"));
    let no_file = fails(1, &["import", folder_s, &path("none.jsonl")]);
    assert!(
        no_file.contains("cannot open the file to import") && no_file.contains("none.jsonl"),
        "{no_file}"
    );

    // Usage: exit code 2.
    fails(2, &["prune", folder_s]);
    assert!(fails(2, &["prune", folder_s, "--older-than", "7x"]).contains("unknown unit"));
    fails(2, &["frobnicate"]);
    fails(2, &["get", folder_s]);
    assert!(fails(2, &["migrate", folder_s, "--to", folder_s]).contains("the target is the source"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push(path.clone());
            out.extend(walk(&path));
        }
    }
    out
}

#[cfg(feature = "servers")]
#[test]
fn server_urls_never_show_their_password() {
    for url in [
        "redis://app:s3cr3t@127.0.0.1:1/0",
        "mongodb://app:s3cr3t@127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
    ] {
        let err = fails(1, &["info", url, "--root", "project_stash", "--dbname", "sub"]);
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(err.contains("app:***@127.0.0.1:1"), "{err}");
    }
    let scheme = fails(1, &["info", "ftp://x:s3cr3t@host/"]);
    assert!(scheme.contains("no engine for URLs of scheme `ftp`") && !scheme.contains("s3cr3t"), "{scheme}");
}

/// A server URL from the environment, as the workspace's server tests take it.
#[cfg(feature = "servers")]
fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("HASHSTASH_REQUIRE_SERVICES").is_some() => {
            panic!(
                "{var} is not set but HASHSTASH_REQUIRE_SERVICES is: start the servers with `cargo xtask services up`"
            )
        }
        _ => {
            eprintln!("skipped: {var} is not set (run `cargo xtask services up` to start the servers)");
            None
        }
    }
}

#[cfg(feature = "servers")]
fn server_stash(var: &str) {
    let Some(url) = service_url(var) else { return };
    let namespace = format!("cli-test-{}-{}", std::process::id(), var.to_lowercase());
    let at = [url.as_str(), "--namespace", namespace.as_str()];
    let with = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = vec![args[0].to_string()];
        all.extend(at.iter().map(|s| s.to_string()));
        all.extend(args[1..].iter().map(|s| s.to_string()));
        all
    };
    // The password of the URL, if it has one: no output may show it.
    let secret = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next()?.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_string())
        .filter(|p| !p.is_empty());
    let run = |args: &[&str]| {
        let all = with(args);
        let out = ok(&all.iter().map(String::as_str).collect::<Vec<_>>());
        if let Some(secret) = &secret {
            assert!(!out.contains(secret.as_str()), "the password is shown: {out}");
        }
        out
    };
    run(&["clear", "--yes"]);
    run(&["set", "cat", "meow"]);
    run(&["set", TUPLE_KEY, "[1, 2]"]);
    assert_eq!(run(&["get", "cat"]), "'meow'\n");
    assert_eq!(run(&["keys"]).lines().count(), 2);
    let info: Json = serde_json::from_str(run(&["info", "--json"]).trim()).expect("JSON");
    assert_eq!(info["entries"].as_u64(), Some(2), "{info}");
    assert!(info["stash"].as_str().is_some_and(|s| s.contains(&namespace)), "{info}");
    assert!(run(&["verify"]).contains("2 healthy entries"));
    assert!(run(&["export", "--format", "pairs"]).contains("\"_key\":\"cat\""));
    assert!(run(&["clear", "--yes"]).contains("cleared 2 entries"));
    // A wrong password: the error shows neither it nor the right one.
    if let Some(secret) = &secret {
        let wrong = url.replacen(&format!(":{secret}@"), ":not-the-password@", 1);
        let err = fails(1, &["keys", &wrong, "--namespace", &namespace]);
        assert!(!err.contains("not-the-password") && !err.contains(secret.as_str()), "{err}");
        assert!(err.contains(":***@"), "{err}");
    }
}

#[cfg(not(feature = "servers"))]
#[test]
fn server_engines_left_out_are_named() {
    let err = fails(1, &["info", "redis://app:s3cr3t@127.0.0.1:1/0"]);
    assert!(err.contains("not compiled in") && !err.contains("s3cr3t"), "{err}");
}

#[cfg(feature = "servers")]
#[test]
fn redis_stash_by_url() {
    server_stash("HASHSTASH_REDIS_URL");
}

#[cfg(feature = "servers")]
#[test]
fn mongo_stash_by_url() {
    server_stash("HASHSTASH_MONGO_URL");
}

#[test]
fn completions_and_bench() {
    for shell in ["bash", "zsh", "fish"] {
        hashstash()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(contains("hashstash").and(contains("migrate")).and(contains("older-than")));
    }
    fails(2, &["completions", "tcsh"]);
    assert!(ok(&["bench"]).contains("cargo xtask bench"));
    assert!(ok(&["--help"]).contains("Exit codes: 0 ok, 1 error, 2 usage"));
}

/// The interop virtualenv's Python (`cargo xtask test` names it), as tests/interop.rs takes it.
fn python() -> Option<PathBuf> {
    match std::env::var("HASHSTASH_PYTHON") {
        Ok(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ if std::env::var_os("HASHSTASH_REQUIRE_SERVICES").is_some() => {
            panic!(
                "HASHSTASH_PYTHON is not set but HASHSTASH_REQUIRE_SERVICES is: run the tests through `cargo xtask test`"
            )
        }
        _ => {
            eprintln!(
                "skipped: HASHSTASH_PYTHON is not set (`cargo xtask test` makes a virtualenv with hashstash 1.2.0)"
            );
            None
        }
    }
}

fn run_python(python: &Path, code: &str, root: &Path) -> String {
    let out = std::process::Command::new(python).arg("-c").arg(code).arg(root).output().expect("runs python");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

const PY_WRITE: &str = r#"
import sys
from hashstash import HashStash
root = sys.argv[1]
for engine in ["pairtree", "lmdb"]:
    for compress, b64 in [("lz4", False), ("raw", True)]:
        s = HashStash(root_dir=f"{root}/{engine}-{compress}", dbname="main", engine=engine,
                      compress=compress, b64=b64, serializer="hashstash")
        s.clear()
        s["cat"] = "meow"
        s[("bad", "good")] = [1, 2, 3]
        s[{"goodness": "bad"}] = {"x": (1, 2)}
        s[b"ab"] = {1, 2}
# Without a dbname, Python places the stash directly under its root.
bare = HashStash(root_dir=f"{root}/no-dbname", engine="pairtree", compress="raw")
bare.clear()
bare["a"] = 1
"#;

const PY_READ: &str = r#"
import sys
from hashstash import HashStash
root = sys.argv[1]
for engine in ["pairtree", "lmdb"]:
    for compress, b64 in [("lz4", False), ("raw", True)]:
        s = HashStash(root_dir=f"{root}/{engine}-{compress}", dbname="main", engine=engine,
                      compress=compress, b64=b64, serializer="hashstash")
        assert s.get("from rust") == {"n": [1, 2]}, s.get("from rust")
        assert s.get(("t", 1)) == "tuple key", s.get(("t", 1))
        assert "cat" not in s
        assert len(s) == 5, len(s)
print("python read it")
"#;

#[test]
fn python_written_pairtree_and_lmdb_stashes() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    run_python(&python, PY_WRITE, dir.path());
    for engine in ["pairtree", "lmdb"] {
        for (compress, b64) in [("lz4", false), ("raw", true)] {
            let root = dir.path().join(format!("{engine}-{compress}"));
            let root = root.to_str().expect("UTF-8");
            let info = info_json(root);
            assert_eq!(
                (info["engine"].as_str(), info["layout"].as_str()),
                (Some(engine), Some("python")),
                "{info}"
            );
            assert_eq!((info["digest"].as_str(), info["b64"].as_bool()), (Some("md5"), Some(b64)), "{info}");
            assert_eq!(
                (info["entries"].as_u64(), info["compress"].as_str()),
                (Some(4), Some(compress)),
                "{info}"
            );
            assert!(
                ok(&["info", root]).contains("python (hashstash 1.2), digest md5 (found from the entries)")
            );
            let mut keys: Vec<String> = ok(&["keys", root]).lines().map(str::to_string).collect();
            keys.sort();
            assert_eq!(
                keys,
                ["'cat'", "('bad', 'good')", "b'ab'", "{'goodness': 'bad'}"],
                "{engine} {compress}"
            );
            assert_eq!(ok(&["get", root, TUPLE_KEY]), "[1, 2, 3]\n");
            assert_eq!(
                ok(&["get", root, r#"{"goodness":"bad"}"#, "--json"]),
                "{\"x\":{\"__py__\":\"builtins.tuple\",\"__data__\":[1,2]}}\n"
            );
            assert!(ok(&["verify", root]).contains("4 healthy entries"));
            assert!(ok(&["stats", root]).contains("entries      4"));
            let pairs = ok(&["export", root, "--format", "pairs"]);
            assert_eq!(pairs.lines().count(), 4, "{pairs}");
            let jsonl = ok(&["export", root, "--format", "jsonl"]);
            assert!(jsonl.contains(r#""_key":"cat","_value":"meow""#), "{jsonl}");
            // Written from the shell, read by Python.
            ok(&["set", root, "from rust", r#"{"n": [1, 2]}"#]);
            ok(&["set", root, r#"{"__py__":"builtins.tuple","__data__":["t",1]}"#, "tuple key"]);
            ok(&["rm", root, "cat"]);
            fails(1, &["get", root, "cat"]);
            // Moved into a native stash of another engine.
            let native = dir.path().join(format!("native-{engine}-{compress}"));
            let summary = ok(&["migrate", root, "--to", native.to_str().expect("UTF-8"), "--engine", "sled"]);
            assert!(summary.contains("migrated 5 entries"), "{summary}");
            let moved = info_json(native.to_str().expect("UTF-8"));
            assert_eq!(
                (moved["layout"].as_str(), moved["entries"].as_u64()),
                (Some("native"), Some(5)),
                "{moved}"
            );
        }
    }
    assert_eq!(run_python(&python, PY_READ, dir.path()).trim(), "python read it");
    let bare = dir.path().join("no-dbname");
    let bare = bare.to_str().expect("UTF-8");
    let info = info_json(bare);
    assert_eq!((info["layout"].as_str(), info["entries"].as_u64()), (Some("python"), Some(1)), "{info}");
    assert!(
        info["stash"].as_str().is_some_and(|p| p.ends_with("no-dbname/pairtree.hashstash.raw/data.db")),
        "{info}"
    );
    assert_eq!(ok(&["get", bare, "a"]), "1\n");
}
