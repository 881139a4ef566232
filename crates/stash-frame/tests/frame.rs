//! Tables through the public API: shapes, column names and types, metadata,
//! function stashes, bad input and export.

use std::collections::BTreeMap;
use std::sync::Arc;

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use stash_core::{SetOptions, Stash, StashConfig};
use stash_frame::{FrameError, FrameOptions, KeyColumns, StashFrame};
use stash_func::StashRun;
use stash_serial::Value;

fn open(dir: &std::path::Path, serializer: &str, append: bool) -> Stash {
    let mut cfg = StashConfig::default();
    cfg.root_dir = dir.into();
    cfg.engine = "pairtree".into();
    cfg.serializer = serializer.parse().expect("a serializer name");
    cfg.compress = stash_core::Compression::Raw;
    cfg.append_mode = append;
    Stash::open(cfg, Arc::new(stash_engine_pairtree::Pairtree)).unwrap()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Animal {
    name: String,
    legs: i64,
    weight: f64,
    etc: Etc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Etc {
    goes_to: BTreeMap<String, bool>,
    tags: Vec<String>,
}

fn animal(i: i64) -> Animal {
    Animal {
        name: format!("animal{i}"),
        legs: i % 5,
        weight: i as f64 * 1.5,
        etc: Etc {
            goes_to: BTreeMap::from([("heaven".to_string(), i % 2 == 0)]),
            tags: (0..i % 3).map(|t| format!("t{t}")).collect(),
        },
    }
}

fn names(df: &DataFrame) -> Vec<String> {
    df.get_column_names().iter().map(|s| s.to_string()).collect()
}

#[test]
fn nested_values_become_dotted_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "hashstash", false);
    for i in 0..20 {
        s.set(&format!("k{i:02}"), &animal(i)).unwrap();
    }
    let df = s.df().unwrap();
    assert_eq!(df.height(), 20);
    assert_eq!(names(&df), ["_key", "name", "legs", "weight", "etc.goes_to.heaven", "etc.tags"]);
    assert_eq!(df.column("legs").unwrap().dtype(), &DataType::Int64);
    assert_eq!(df.column("weight").unwrap().dtype(), &DataType::Float64);
    assert_eq!(df.column("etc.goes_to.heaven").unwrap().dtype(), &DataType::Boolean);
    assert_eq!(df.column("etc.tags").unwrap().dtype(), &DataType::List(Box::new(DataType::String)));
    let sorted = df.sort(["_key"], Default::default()).unwrap();
    let legs = sorted.column("legs").unwrap().i64().unwrap();
    assert_eq!(legs.get(7), Some(2));
    let ld = s.ld().unwrap();
    assert_eq!(ld.len(), 20);
    assert!(ld.iter().all(|row| row[0].0 == "_key" && row.iter().any(|(c, _)| c == "etc.goes_to.heaven")));
}

#[test]
fn map_keys_spread_missing_fields_are_null_and_disagreeing_columns_become_text() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "json", false);
    s.set(&BTreeMap::from([("city", "Paris")]), &BTreeMap::from([("n", Value::Int(1))])).unwrap();
    s.set(&BTreeMap::from([("city", "Oslo")]), &BTreeMap::from([("n", Value::Float(2.5))])).unwrap();
    s.set(&BTreeMap::from([("city", "Rome")]), &BTreeMap::from([("m", Value::Bool(true))])).unwrap();
    let df = s.df().unwrap().sort(["city"], Default::default()).unwrap();
    assert_eq!(names(&df)[0], "city");
    assert_eq!(df.column("n").unwrap().dtype(), &DataType::Float64, "ints and floats widen to floats");
    assert_eq!(df.column("m").unwrap().null_count(), 2, "missing fields are nulls");

    let t = open(dir.path().join("t").as_path(), "json", false);
    t.set("a", &BTreeMap::from([("x", Value::Int(1))])).unwrap();
    t.set("b", &BTreeMap::from([("x", Value::Str("two".into()))])).unwrap();
    t.set("c", &BTreeMap::from([("x", Value::List(vec![Value::Int(3)]))])).unwrap();
    t.set("d", &7).unwrap();
    let df = t.df().unwrap().sort(["_key"], Default::default()).unwrap();
    let x = df.column("x").unwrap();
    assert_eq!(x.dtype(), &DataType::String);
    let x = x.str().unwrap();
    assert_eq!((x.get(0), x.get(1), x.get(2), x.get(3)), (Some("1"), Some("two"), Some("[3]"), None));
    assert_eq!(df.column("_value").unwrap().i64().unwrap().get(3), Some(7));
}

#[test]
fn metadata_and_every_version_in_append_mode() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "hashstash", true);
    for v in 1..=3 {
        s.set("cat", &BTreeMap::from([("mood", v)])).unwrap();
    }
    s.set("dog", &BTreeMap::from([("mood", 9)])).unwrap();
    let df = s.df_with(FrameOptions::new().with_metadata(true)).unwrap();
    assert_eq!(df.height(), 4);
    assert_eq!(names(&df), ["_key", "_version", "_written_at", "mood"]);
    assert!(matches!(
        df.column("_written_at").unwrap().dtype(),
        DataType::Datetime(TimeUnit::Microseconds, _)
    ));
    let newest = s.df_with(FrameOptions::new().with_metadata(true).all_versions(false)).unwrap();
    assert_eq!(newest.height(), 2);
    let plain = s.df().unwrap();
    assert_eq!(plain.height(), 2);
    assert_eq!(names(&plain), ["_key", "mood"]);
    let ld = s.ld_with(FrameOptions::new().with_metadata(true)).unwrap();
    assert!(ld.iter().any(|r| r.iter().any(|(c, v)| c == "_version" && *v == Value::Int(3))));
}

#[test]
fn function_stashes_give_argument_columns() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "hashstash", false);
    fn area(w: i64, h: f64) -> f64 {
        w as f64 * h
    }
    for w in 1..=4 {
        s.run(area, (w, 0.5)).unwrap();
    }
    let fs = s.function_stash(&area).unwrap();
    let df = fs.df().unwrap().sort(["_arg1"], Default::default()).unwrap();
    assert_eq!(names(&df), ["_arg1", "_arg2", "_value"]);
    assert_eq!(df.column("_value").unwrap().f64().unwrap().get(3), Some(2.0));
    let whole = fs.df_with(FrameOptions::new().keys(KeyColumns::Whole)).unwrap();
    assert_eq!(names(&whole)[0], "_key");
}

#[test]
fn binary_serializer_needs_types() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "postcard", false);
    s.set("rex", &animal(3)).unwrap();
    let err = s.df().unwrap_err();
    assert!(matches!(err, FrameError::NotSelfDescribing { .. }), "{err}");
    assert!(err.to_string().contains("df_typed"), "{err}");
    let df = s.df_typed::<String, Animal>(FrameOptions::new()).unwrap();
    assert_eq!(df.shape(), (1, 6));
    let core: stash_core::Error = err.into();
    assert_eq!(core.kind(), stash_core::ErrorKind::Unsupported);
}

#[test]
fn exports_write_files_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "hashstash", false);
    for i in 0..5 {
        s.set(&i, &animal(i)).unwrap();
    }
    let df = s.df().unwrap();
    let csv = dir.path().join("out.csv");
    stash_frame::to_csv(&df, &csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("_key,name,legs,weight,etc.goes_to.heaven,etc.tags"), "{text}");
    assert_eq!(text.lines().count(), 6);
    let jsonl = dir.path().join("out.jsonl");
    assert_eq!(stash_frame::write_json_lines(&s, FrameOptions::new(), &jsonl).unwrap(), 5);
    for line in std::fs::read_to_string(&jsonl).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(row["etc.tags"].is_array(), "{row}");
    }
    let missing = stash_frame::to_csv(&df, dir.path().join("no/such/dir/out.csv")).unwrap_err();
    assert!(matches!(missing, FrameError::Io { .. }), "{missing}");
}

#[test]
fn empty_and_expired_stashes_make_empty_frames() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "hashstash", false);
    assert_eq!(s.df().unwrap().shape(), (0, 0));
    s.set_with("x", &1, SetOptions::new().ttl(std::time::Duration::from_millis(1))).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(s.df().unwrap().height(), 0);
}

#[test]
fn a_list_of_records_gives_a_row_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "hashstash", false);
    fn pick(names: Vec<String>) -> Vec<BTreeMap<String, Value>> {
        names.into_iter().map(|n| BTreeMap::from([("name".to_string(), Value::Str(n))])).collect()
    }
    s.run(pick, (vec!["cat".to_string(), "dog".to_string()],)).unwrap();
    s.run(pick, (vec!["owl".to_string()],)).unwrap();
    let df = s.function_stash(&pick).unwrap().df().unwrap();
    assert_eq!(df.height(), 3);
    assert_eq!(names(&df), ["_arg1", "name"]);
    // A list of plain values spreads too: a `_value` row per item.
    s.set("plain", &vec![1, 2]).unwrap();
    assert_eq!(s.df().unwrap().height(), 2);
}

/// The rows Python 1.2.0's `ld` gives for these values (recorded from the library):
/// every list spreads, records become rows, other items `_value` rows, nested lists
/// spread, records without fields give no row, tuples stay whole.
#[test]
fn lists_spread_into_rows_as_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "hashstash", false);
    let rec = |fields: &[(&str, Value)]| {
        Value::Map(fields.iter().map(|(k, v)| (Value::Str(k.to_string()), v.clone())).collect())
    };
    let int = Value::Int;
    s.set("key1", &rec(&[("result", "simple_dict".into())])).unwrap();
    s.set("key2", &Value::List(vec![int(1), int(2), rec(&[("nested", "dict".into())])])).unwrap();
    s.set("mixed", &Value::List(vec![rec(&[("a", int(1))]), rec(&[("b", int(2))]), int(3), int(4)])).unwrap();
    s.set("empty_list", &Value::List(vec![])).unwrap();
    s.set("empty_dict", &rec(&[])).unwrap();
    let nested = Value::List(vec![
        Value::List(vec![int(1), int(2)]),
        Value::List(vec![int(3), rec(&[("c", rec(&[]))])]),
        rec(&[]),
    ]);
    s.set("nested_lists", &nested).unwrap();
    s.set("tup", &(1, 2)).unwrap();
    s.set("emptyfield", &rec(&[("x", rec(&[])), ("y", int(1))])).unwrap();

    let mut rows: Vec<String> = s
        .ld()
        .unwrap()
        .iter()
        .map(|row| row.iter().map(|(c, v)| format!("{c}={v}")).collect::<Vec<_>>().join(" "))
        .collect();
    rows.sort();
    let mut python = vec![
        "_key='key1' result='simple_dict'",
        "_key='key2' _value=1",
        "_key='key2' _value=2",
        "_key='key2' nested='dict'",
        "_key='mixed' a=1",
        "_key='mixed' b=2",
        "_key='mixed' _value=3",
        "_key='mixed' _value=4",
        "_key='nested_lists' _value=1",
        "_key='nested_lists' _value=2",
        "_key='nested_lists' _value=3",
        "_key='tup' _value=(1, 2)",
        "_key='emptyfield' y=1",
    ];
    python.sort();
    assert_eq!(rows, python);

    // Python's test_assemble_df: the same columns (its DataFrame value aside)
    let df = s.df().unwrap();
    assert_eq!(df.height(), 13);
    let mut cols = names(&df);
    cols.sort();
    assert_eq!(cols, ["_key", "_value", "a", "b", "nested", "result", "y"]);
}

#[test]
fn function_results_that_are_lists_spread_into_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "hashstash", false);
    fn upto(n: i64) -> Vec<i64> {
        (1..=n).collect()
    }
    for n in [0, 1, 3] {
        s.run(upto, (n,)).unwrap();
    }
    let fs = s.function_stash(&upto).unwrap();
    let df = fs.df().unwrap().sort(["_arg1", "_value"], Default::default()).unwrap();
    // upto(0) = [] gives no row; upto(1) one; upto(3) three
    assert_eq!(names(&df), ["_arg1", "_value"]);
    let ints = |c: &str| {
        let col = df.column(c).unwrap().i64().unwrap();
        (0..col.len()).map(|i| col.get(i)).collect::<Vec<_>>()
    };
    let (args, values) = (ints("_arg1"), ints("_value"));
    assert_eq!(args, [Some(1), Some(3), Some(3), Some(3)]);
    assert_eq!(values, [Some(1), Some(1), Some(2), Some(3)]);
    // typed, the same rows
    let typed = fs.df_typed::<(i64,), Vec<i64>>(FrameOptions::new()).unwrap();
    assert_eq!(typed.height(), 4);
}
