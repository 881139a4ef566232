//! `Frame`: a polars DataFrame as a stash key and value. Goldens in `data/pandas-goldens.txt`
//! were written by Python hashstash 1.2.0 with pandas 3.1 (one per line):
//! 1. the value bytes of `pd.DataFrame({"s": ["a", None, "c"], "i": [1, 2, 3], "f": [1.5, nan, 3.0],
//!    "b": [True, False, True], "d": to_datetime(["2024-01-01", "2024-01-02 03:04:05.123456", None])})`;
//! 2. the key bytes of the same frame;
//! 3. a frame indexed by labels (`pd.Index(["r1", "r2"], name="row")`);
//! 4. a frame with a MultiIndex (names `["k", None]`);
//! 5. a categorical column; 6. a time-zone-aware datetime column.

use std::sync::Arc;

use polars::prelude::*;
use stash_core::{ErrorKind, Stash, StashConfig, Value};
use stash_frame::Frame;
use stash_serial::{Hashstash, SerialError, deserialize, encode_key, serialize};

const GOLDENS: &str = include_str!("data/pandas-goldens.txt");

fn golden(line: usize) -> &'static str {
    GOLDENS.lines().nth(line - 1).unwrap()
}

/// The polars twin of golden 1.
fn sample() -> DataFrame {
    let d = Series::new("d".into(), [Some(1_704_067_200_000_000i64), Some(1_704_164_645_123_456), None])
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
        .unwrap();
    DataFrame::new(
        3,
        vec![
            Series::new("s".into(), [Some("a"), None, Some("c")]).into_column(),
            Series::new("i".into(), [1i64, 2, 3]).into_column(),
            Series::new("f".into(), [1.5f64, f64::NAN, 3.0]).into_column(),
            Series::new("b".into(), [true, false, true]).into_column(),
            d.into_column(),
        ],
    )
    .unwrap()
}

fn key(v: &impl serde::Serialize) -> String {
    let mut out = Vec::new();
    encode_key(&Hashstash, v, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn writes_pythons_pandas_bytes() {
    let frame = Frame::from(sample());
    assert_eq!(String::from_utf8(serialize(&frame, "hashstash").unwrap()).unwrap(), golden(1));
    assert_eq!(key(&frame), golden(2));
}

#[test]
fn reads_pythons_pandas_frame_cell_by_cell() {
    for bytes in [golden(1), golden(2)] {
        let back: Frame = deserialize(bytes.as_bytes(), "hashstash").unwrap();
        let want = sample();
        assert_eq!(back.shape(), (3, 5));
        assert_eq!(
            back.get_column_names().iter().map(|n| n.as_str()).collect::<Vec<_>>(),
            ["s", "i", "f", "b", "d"]
        );
        assert_eq!(back.column("s").unwrap().str().unwrap().get(1), None);
        assert!(back.column("f").unwrap().f64().unwrap().get(1).unwrap().is_nan());
        assert_eq!(back.column("d").unwrap().dtype(), &DataType::Datetime(TimeUnit::Microseconds, None));
        assert_eq!(back.column("d").unwrap().null_count(), 1);
        // equals_missing treats NaN as unequal to itself: compare the other columns whole.
        for name in ["s", "i", "b", "d"] {
            assert!(back.column(name).unwrap().equals_missing(want.column(name).unwrap()), "{name}");
        }
        // And the frame Python wrote is the key Rust writes.
        assert_eq!(key(&back), golden(2));
    }
}

#[test]
fn round_trips_on_every_serializer() {
    let df = DataFrame::new(
        3,
        vec![
            Series::new("name".into(), [Some("rex"), None, Some("ünï")]).into_column(),
            Series::new("n".into(), [Some(1i64), None, Some(1 << 40)]).into_column(),
            Series::new("i32".into(), [7i32, -8, 9]).into_column(),
            Series::new("x".into(), [Some(0.5f64), None, Some(-2.25)]).into_column(),
            Series::new("ok".into(), [Some(true), None, Some(false)]).into_column(),
            Series::new("u".into(), [1u64, u64::MAX, 0]).into_column(),
            Series::new("t".into(), [Some(1i64), None, Some(-5)])
                .cast(&DataType::Datetime(TimeUnit::Nanoseconds, None))
                .unwrap()
                .into_column(),
        ],
    )
    .unwrap();
    for ser in ["hashstash", "json", "msgpack", "postcard"] {
        let bytes = serialize(&Frame::from(&df), ser).unwrap();
        let back: Frame = deserialize(&bytes, ser).unwrap();
        assert!(back.equals_missing(&df), "{ser}:\n{back}\n!=\n{df}");
        assert_eq!(back.schema(), df.schema(), "{ser}");
    }
    // Binary serializers hold Arrow IPC stream bytes (they start with the continuation marker).
    let bytes = serialize(&Frame::from(&df), "msgpack").unwrap();
    assert!(bytes.windows(4).any(|w| w == [0xff, 0xff, 0xff, 0xff]));
    // The untyped view of the hashstash form is the tagged map.
    let v: Value = deserialize(&serialize(&Frame::from(&df), "hashstash").unwrap(), "hashstash").unwrap();
    assert_eq!(v.get("__pytype__").and_then(Value::as_str), Some("pd_dataframe"));
    let back: Frame = stash_serial::from_value(v).unwrap();
    assert_eq!(back, Frame::from(df));
    // An empty frame too.
    let empty = DataFrame::empty();
    for ser in ["hashstash", "json", "msgpack", "postcard"] {
        let back: Frame = deserialize(&serialize(&Frame::from(&empty), ser).unwrap(), ser).unwrap();
        assert_eq!(back.shape(), (0, 0), "{ser}");
    }
}

#[test]
fn a_pandas_index_becomes_columns() {
    let labelled: Frame = deserialize(golden(3).as_bytes(), "hashstash").unwrap();
    assert_eq!(labelled.get_column_names().iter().map(|n| n.as_str()).collect::<Vec<_>>(), ["row", "x"]);
    assert_eq!(labelled.column("row").unwrap().str().unwrap().get(1), Some("r2"));
    assert_eq!(labelled.column("x").unwrap().f64().unwrap().get(0), Some(1.5));
    let multi: Frame = deserialize(golden(4).as_bytes(), "hashstash").unwrap();
    assert_eq!(
        multi.get_column_names().iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        ["k", "level_1", "x"]
    );
    assert_eq!(multi.column("level_1").unwrap().i64().unwrap().get(1), Some(2));
    assert_eq!(multi.column("k").unwrap().str().unwrap().get(0), Some("a"));
}

#[test]
fn unsupported_columns_are_errors_naming_them() {
    for (line, column) in [(5, "\"c\""), (6, "\"t\"")] {
        let err = deserialize::<Frame>(golden(line).as_bytes(), "hashstash").unwrap_err();
        assert!(matches!(err, SerialError::Decode { .. }), "{err}");
        assert!(err.to_string().contains(&format!("column {column}")), "{err}");
    }
    let df = DataFrame::new(
        2,
        vec![
            Series::new("ok".into(), [1i64, 2]).into_column(),
            Series::new_null("nothing".into(), 2).into_column(),
        ],
    )
    .unwrap();
    for ser in ["hashstash", "msgpack"] {
        let err = serialize(&Frame::from(&df), ser).unwrap_err();
        assert!(err.to_string().contains("column \"nothing\""), "{ser}: {err}");
    }
}

fn stash(serializer: &str) -> Stash {
    let mut cfg = StashConfig::default();
    cfg.root_dir = std::env::temp_dir();
    cfg.engine = "memory".into();
    cfg.serializer = serializer.parse().unwrap();
    Stash::open(cfg, Arc::new(stash_engine_memory::Memory)).unwrap()
}

#[test]
fn equal_frames_are_one_key_on_every_serializer() {
    for ser in ["hashstash", "json", "msgpack", "postcard"] {
        let stash = stash(ser).tmp().unwrap();
        let a = Frame::from(sample());
        // The same table built another way: in two chunks.
        let mut b = sample().slice(0, 1);
        b.vstack_mut(&sample().slice(1, 2)).unwrap();
        assert_eq!(b.first_col_n_chunks(), 2);
        stash.set(&a, "cat").unwrap();
        assert_eq!(stash.get::<_, String>(&Frame::from(b)).unwrap().as_deref(), Some("cat"), "{ser}");
        assert_eq!(stash.len().unwrap(), 1, "{ser}");
        // A different frame is a different key.
        let other = Frame::from(sample().slice(0, 2));
        assert_eq!(stash.get::<_, String>(&other).unwrap(), None, "{ser}");
        // And frames are values.
        let nulls =
            DataFrame::new(2, vec![Series::new("v".into(), [Some(1.5f64), None]).into_column()]).unwrap();
        stash.set("frame", &Frame::from(&nulls)).unwrap();
        let back: Frame = stash.get("frame").unwrap().unwrap();
        assert!(back.equals_missing(&nulls), "{ser}");
        if ser != "postcard" {
            let keys: Vec<Frame> = stash.keys::<Frame>().unwrap().filter_map(|k| k.ok()).collect();
            assert!(keys.iter().any(|k| k.height() == 3), "{ser}: DataFrame keys list back");
        }
    }
}

#[test]
fn a_value_that_is_no_frame_is_a_decode_error() {
    let stash = stash("hashstash").tmp().unwrap();
    stash.set("x", &vec![1, 2]).unwrap();
    let err = stash.get::<_, Frame>("x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
}
