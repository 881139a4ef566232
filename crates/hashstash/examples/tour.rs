//! A tour of hashstash, following the Python library's README section by section.
//!
//! Run it with `cargo xtask tour` (or `cargo run -p hashstash --example tour`).
//! It writes under `$HASHSTASH_ROOT_DIR` (default `~/.cache/hashstash`) and
//! clears its own stashes first, so it can run again and again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use hashstash::{HashStash, Prune, Set, SetOptions, StashRun, Value, WriteOptions, stashed_result};
use serde::{Deserialize, Serialize};

/// The seed README's expensive computation: random rows, so a stored result is visible.
fn expensive_computation(names: Vec<String>, goodnesses: Vec<String>) -> Vec<BTreeMap<String, String>> {
    println!("  (computing expensive_computation)");
    let mut seed =
        0x9E37_79B9_7F4A_7C15u64 ^ std::time::UNIX_EPOCH.elapsed().map(|d| d.as_nanos() as u64).unwrap_or(1);
    let mut pick = |items: &[String]| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items[(seed % items.len() as u64) as usize].clone()
    };
    (0..3)
        .map(|_| {
            BTreeMap::from([("name".to_string(), pick(&names)), ("goodness".to_string(), pick(&goodnesses))])
        })
        .collect()
}

#[stashed_result(root_dir = "functions_stash")]
fn expensive_computation2(names: Vec<String>, goodnesses: Vec<String>) -> Vec<BTreeMap<String, String>> {
    expensive_computation(names, goodnesses)
}

fn expensive_computation3(name: String) -> String {
    std::thread::sleep(std::time::Duration::from_millis(100));
    format!("{name} is {}", if name.len().is_multiple_of(2) { "good" } else { "bad" })
}

/// The seed README's `def func_key(x): pass`, as a key: `fn_key!(func_key)` names it by
/// its path and code fingerprint.
#[hashstash::stash_fingerprint]
fn func_key(x: u32) -> u32 {
    x
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Animal {
    name: String,
    goodness: String,
}

fn main() -> Result<(), hashstash::Error> {
    section("Creating a stash");
    let stash = HashStash::builder()
        .root_dir("project_stash") // relative: under $HASHSTASH_ROOT_DIR or ~/.cache/hashstash
        .dbname("sub_stash")
        .engine("pairtree") // or "memory"; more engines behind cargo features
        .serializer("hashstash") // or "json", "msgpack", "postcard"
        .compress("lz4") // or "raw", "zstd", "blosc", "zlib", "gzip", "bz2" (features)
        .b64(true)
        .append_mode(false)
        .clear(true)
        .open()?;
    println!("{stash}");
    println!("{}", to_json(stash.config()));
    let first_stash = stash.path().to_path_buf(); // shown at the end, for the shell

    section("Stashing objects: anything serde can serialize is a key or a value");
    stash.set("bad", "cat")?; // string key
    stash.set(&("bad", "good"), "cat")?; // tuple key
    stash.set(&BTreeMap::from([("goodness", "bad")]), "cat")?; // map key
    stash.set(&vec!["bad", "good"], "cat")?; // list key
    let set_key: HashSet<&str> = HashSet::from(["bad", "good"]);
    stash.set(&Set::from(set_key.clone()), "cat")?; // set key: wrap in `Set` (sorted, canonical)
    let struct_key = Animal { name: "cat".into(), goodness: "bad".into() };
    stash.set(&struct_key, "cat")?; // struct key
    let hits: Vec<Option<String>> = vec![
        stash.get("bad")?,
        stash.get(&("bad", "good"))?,
        stash.get(&BTreeMap::from([("goodness", "bad")]))?,
        stash.get(&vec!["bad", "good"])?,
        stash.get(&Set::from(set_key))?,
        stash.get(&struct_key)?,
    ];
    println!("{hits:?}");
    assert!(hits.iter().all(|h| h.as_deref() == Some("cat")));
    // More kinds of keys, in a sub-stash so the dictionary below keeps its six items.
    let kinds = stash.sub("more_kinds")?;
    kinds.clear()?;
    // A frozenset is another key than the set of the same items, as in Python.
    kinds.set(&hashstash::FrozenSet::from(vec!["bad", "good"]), "dog")?;
    let frozen: Option<String> = kinds.get(&hashstash::FrozenSet::from(vec!["good", "bad"]))?;
    println!("frozenset key -> {frozen:?}");
    assert_eq!(frozen.as_deref(), Some("dog"));
    // A function as a key (Python: `stash[func_key] = "cat"`), in Python's `function` form.
    kinds.set(&hashstash::fn_key!(func_key), "cat")?;
    let by_function: Option<String> = kinds.get(&hashstash::fn_key!(func_key))?;
    println!("function key {} -> {by_function:?}", hashstash::fn_key!(func_key).py());
    assert_eq!(by_function.as_deref(), Some("cat"));
    assert_eq!(func_key(1), 1);
    #[cfg(feature = "frame")]
    dataframe_key(&kinds)?;

    section("Works like a dictionary");
    assert_eq!(stash.get::<_, String>(&struct_key)?.as_deref(), Some("cat"));
    assert_eq!(stash.get::<_, String>("fake_key")?, None);
    assert!(stash.contains(&struct_key)?);
    assert_eq!(stash.len()?, 6);
    for (i, item) in stash.items::<Value, Value>()?.enumerate() {
        let (key, value) = item?;
        println!("Item #{}: {key} >>> {value}", i + 1);
    }
    assert_eq!(stash.pop::<_, String>(&struct_key)?.as_deref(), Some("cat"));
    assert!(!stash.contains(&struct_key)?);
    assert_eq!(stash.setdefault(&struct_key, &"new_cat_default".to_string())?, "new_cat_default");
    stash.update(HashMap::from([("new_key_of_badness", "cat")]))?;
    assert_eq!(stash.get::<_, String>("new_key_of_badness")?.as_deref(), Some("cat"));
    let another = HashStash::builder().engine("memory").dbname("another").clear(true).open()?;
    another.set(&[1, 2, 3], "cat")?;
    stash.update_from(&another)?;
    assert_eq!(stash.get::<_, String>(&[1, 2, 3])?.as_deref(), Some("cat"));
    println!("{} keys after pop, setdefault and two updates", stash.len()?);

    section("Typed views");
    let animals = stash.typed::<String, Animal>();
    animals.set(&"felix".to_string(), &Animal { name: "felix".into(), goodness: "good".into() })?;
    println!("typed get: {:?}", animals.get(&"felix".to_string())?);

    section("Under the hood: encoded keys and values as stored");
    if let Some(raw) = stash.raw_items()?.next() {
        let (k, v) = raw?;
        println!("{} is the serialized, compressed and encoded key for {}", lossy(&k), lossy(&v));
        let key: Value = stash.decode_key(&k)?;
        let value: Value = stash.decode_value(&v)?;
        println!("{key} is the decoded key for {value}");
    }

    section("Append mode: every version, with timestamps");
    let append_stash =
        HashStash::builder().root_dir("readme_append_mode").append_mode(true).clear(true).open()?;
    let key = BTreeMap::from([("name", "cat")]);
    append_stash.set(&key, &BTreeMap::from([("goodness", "good")]))?;
    append_stash.set(&key, &BTreeMap::from([("goodness", "bad")]))?;
    println!("Latest value: {}", append_stash.get::<_, Value>(&key)?.unwrap_or(Value::Null));
    let all: Vec<Value> = append_stash.get_all(&key)?;
    println!("All values: {}", Value::List(all));
    for v in append_stash.get_all_with_metadata::<_, Value>(&key)? {
        let secs = v.written_at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        println!("  version {} written at {secs:.6}: {}", v.version, v.value);
    }
    // Any stash can append one write explicitly:
    stash.set_with("bad", "dog", WriteOptions::APPEND)?;
    println!("versions of \"bad\": {:?}", stash.get_all::<_, String>("bad")?);

    section("Expiry, bounded size, prune, stats and temporary stashes");
    let cache = HashStash::builder()
        .root_dir("tour_lifecycle")
        .ttl(Duration::from_secs(3600))
        .max_entries(100)
        .clear(true)
        .open()?;
    for i in 0..250 {
        cache.set(&i, &format!("value {i}"))?;
    }
    println!("after 250 writes with max_entries(100): len = {}", cache.len()?);
    cache.set_with("flash", "gone in 50 ms", SetOptions::new().ttl(Duration::from_millis(50)))?;
    std::thread::sleep(Duration::from_millis(60));
    println!("\"flash\" after its TTL: {:?}", cache.get::<_, String>("flash")?);
    let report = cache.prune(Prune::expired().dry_run())?;
    println!("prune dry run: {} expired entries would go", report.len());
    let stats = cache.stats()?;
    println!(
        "stats: {} entries, {} expired, {} writes, {} evictions, {} hits, {} misses, {:?} bytes on disk",
        stats.entries,
        stats.expired,
        stats.writes,
        stats.evictions,
        stats.hits,
        stats.misses,
        stats.disk_bytes
    );
    let tmp_path = {
        let tmp = cache.tmp()?;
        tmp.set("scratch", &[1, 2, 3])?;
        tmp.path().to_path_buf()
    };
    println!("tmp stash removed on drop: {}", !tmp_path.exists());

    section("Stashing function results: run and #[stashed_result]");
    let names = vec!["cat".to_string(), "dog".to_string()];
    let goodnesses = vec!["good".to_string(), "bad".to_string()];
    let functions_stash = HashStash::builder().root_dir("functions_stash").clear(true).open()?;
    let r1 = functions_stash.run(expensive_computation, (names.clone(), goodnesses.clone()))?;
    let r2 = functions_stash.run(expensive_computation, (names.clone(), goodnesses.clone()))?;
    assert_eq!(r1, r2);
    println!("run twice, computed once: {r1:?}");
    let r3 = expensive_computation2(names.clone(), goodnesses.clone());
    let r4 = expensive_computation2(names.clone(), goodnesses.clone());
    assert_eq!(r3, r4);
    let func_stash = expensive_computation2_stash()?;
    println!("Function results cached in {}", func_stash.stash());
    for item in func_stash.items()? {
        let ((names, goodnesses), value) = item?;
        println!("  stashed key = ({names:?}, {goodnesses:?}) >>> {value:?}");
    }

    section("Mapping functions: stash.map");
    let animals = ["cat", "dog", "aardvark", "zebra"].map(String::from);
    let mut stash_map =
        functions_stash.map(expensive_computation3, animals.clone())?.threads(2).progress(true).start();
    println!("{stash_map}");
    for result in stash_map.results_iter() {
        println!("  {}", result?);
    }
    let again = functions_stash.map(expensive_computation3, animals)?.threads(2).start();
    println!("mapped again from stored results: {:?}", again.results()?.len());

    #[cfg(feature = "frame")]
    assembling_dataframes(&func_stash)?;

    section("Utilities: serialize / deserialize, encode / decode");
    let bytes = hashstash::serialize(&("bad", "good"), "hashstash")?;
    println!("serialize(('bad', 'good')) = {}", lossy(&bytes));
    let back: (String, String) = hashstash::deserialize(&bytes, "hashstash")?;
    assert_eq!(back, ("bad".to_string(), "good".to_string()));
    let encoded = hashstash::encode(b"Hello, World!", "lz4", true)?;
    println!("encode(b'Hello, World!', lz4, b64) = {}", lossy(&encoded));
    assert_eq!(hashstash::decode(&encoded, "lz4", true)?, b"Hello, World!");
    #[cfg(feature = "frame")]
    dataframe_round_trip()?;

    section("Bad input is an error, never a panic");
    match stash.get::<_, u32>("bad") {
        Err(e) => println!("reading a string as u32: {e}"),
        Ok(v) => println!("unexpected: {v:?}"),
    }
    match HashStash::builder().engine("lmdb").open() {
        Err(e) => println!("an engine not compiled in: {e}"),
        Ok(s) => println!("lmdb is compiled in: {s}"),
    }
    match HashStash::builder().dbname("../escape").open() {
        Err(e) => println!("a dbname escaping the root: {e}"),
        Ok(s) => println!("unexpected: {s}"),
    }

    section("Engines: the same dictionary on every engine compiled in");
    // Server engines (redis, mongo) join in when their URL variable is set.
    for engine in hashstash::engines::ready() {
        let s = HashStash::builder().root_dir("tour_engines").engine(engine).clear(true).open()?;
        s.update((0..100).map(|i| (format!("key{i}"), i)))?;
        let total: i64 = s.values::<i64>()?.sum::<Result<i64, _>>()?;
        println!("{s}: {} keys, values sum to {total}", s.len()?);
    }

    section("Done");
    println!("compressors in this build: {:?}", hashstash::compressors());
    println!("engines in this build: {:?}", hashstash::engines::available());
    println!("engines ready to open here (servers need their URL): {:?}", hashstash::engines::ready());

    section("Look inside, from the shell");
    // The `hashstash` command (crates/hashstash-cli) opens any stash on disk by its folder:
    // here the first stash of the tour (pairtree, lz4 + base64).
    println!("cargo install --path crates/hashstash-cli");
    println!("hashstash info {}", first_stash.display());
    println!("hashstash keys {} --limit 3", first_stash.display());
    Ok(())
}

/// The README's "Assembling DataFrames": a function stash, then 100 random
/// animals with nested fields, as tables. `--export DIR` also writes them as
/// CSV and JSON lines (and Parquet with the `parquet` feature).
#[cfg(feature = "frame")]
fn assembling_dataframes<Args, R>(
    func_stash: &hashstash::FunctionStash<Args, R>,
) -> Result<(), hashstash::Error> {
    use hashstash::frame::{self, FrameOptions, StashFrame};

    section("Assembling DataFrames (feature `frame`)");
    println!("{}", func_stash.df()?);

    let nested = HashStash::builder().engine("memory").dbname("assembling_dfs").clear(true).open()?;
    let mut rng = 0x2545_f491_4f6c_dd1d_u64; // xorshift: a reproducible "random" choice
    let mut coin = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for n in 0..100 {
        let cat_or_dog = if coin().is_multiple_of(2) { "cat" } else { "dog" };
        let goodness = if coin().is_multiple_of(2) { "good" } else { "bad" };
        let heaven = cat_or_dog == "dog" || goodness == "good";
        let animal = serde_json::json!({
            "name": cat_or_dog,
            "goodness": goodness,
            "etc": { "age": coin() % 10 + 1, "goes_to": { "heaven": heaven } },
        });
        nested.set(&format!("Animal {}", n + 1), &animal)?;
    }
    let df = nested.df()?;
    println!("{df}");
    let append_stash = HashStash::builder().root_dir("readme_append_mode").append_mode(true).open()?;
    println!("{}", append_stash.df_with(FrameOptions::new().with_metadata(true))?);

    let args: Vec<String> = std::env::args().collect();
    if let Some(dir) = args.iter().position(|a| a == "--export").and_then(|i| args.get(i + 1)) {
        let dir = std::path::Path::new(dir);
        std::fs::create_dir_all(dir).map_err(|e| hashstash::Error::io(e, "create the export folder", dir))?;
        frame::to_csv(&df, dir.join("animals.csv"))?;
        frame::write_json_lines(&nested, FrameOptions::new(), dir.join("animals.jsonl"))?;
        #[cfg(feature = "parquet")]
        frame::to_parquet(&df, dir.join("animals.parquet"))?;
        println!("exported to {}", dir.display());
    }
    Ok(())
}

/// A polars DataFrame as a key (`hashstash::Frame`): an equal DataFrame finds the entry.
#[cfg(feature = "frame")]
fn dataframe_key(stash: &HashStash) -> Result<(), hashstash::Error> {
    use hashstash::Frame;
    use hashstash::frame::polars::prelude::*;
    let frame = |df: PolarsResult<DataFrame>| {
        df.map(Frame::from).map_err(|e| hashstash::Error::new(hashstash::ErrorKind::Backend, e.to_string()))
    };
    let df_key = frame(df!("name" => ["cat", "dog"], "goodness" => ["bad", "good"]))?;
    stash.set(&df_key, "cat")?; // DataFrame key (Python's pandas form, so pandas finds it too)
    let same = frame(df!("name" => ["cat", "dog"], "goodness" => ["bad", "good"]))?;
    let hit: Option<String> = stash.get(&same)?;
    println!("DataFrame key -> {hit:?}");
    assert_eq!(hit.as_deref(), Some("cat"));
    Ok(())
}

/// `serialize` / `deserialize` of a DataFrame: `data.equals(deserialized_data)` is true.
#[cfg(feature = "frame")]
fn dataframe_round_trip() -> Result<(), hashstash::Error> {
    use hashstash::Frame;
    use hashstash::frame::polars::prelude::*;
    let data = df!("n" => [Some(1i64), None], "x" => [0.5, 2.0], "ok" => [true, false])
        .map_err(|e| hashstash::Error::new(hashstash::ErrorKind::Backend, e.to_string()))?;
    let bytes = hashstash::serialize(&Frame::from(&data), "hashstash")?;
    println!("serialize(DataFrame) = {}...", lossy(&bytes[..bytes.len().min(80)]));
    let deserialized_data: Frame = hashstash::deserialize(&bytes, "hashstash")?;
    println!("data.equals(deserialized_data) = {}", deserialized_data.equals_missing(&data));
    assert!(deserialized_data.equals_missing(&data));
    Ok(())
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("<{e}>"))
}
