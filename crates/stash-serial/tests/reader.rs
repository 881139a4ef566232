//! The direct hashstash reader through the public API: Python's tags in every key
//! order, nesting, strings, numbers and bad input.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use stash_serial::{Hashstash, SerialError, Set, Value, decode, encode_key, encode_value, to_value};

fn value(json: &str) -> Value {
    decode(&Hashstash, json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn typed<T: serde::de::DeserializeOwned>(json: &str) -> T {
    decode(&Hashstash, json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// Every order of an object's entries.
fn orders(entries: &[&str]) -> Vec<String> {
    fn perms(items: &[&str]) -> Vec<Vec<String>> {
        if items.len() <= 1 {
            return vec![items.iter().map(|s| s.to_string()).collect()];
        }
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.to_vec();
            let first = rest.remove(i);
            for mut p in perms(&rest) {
                p.insert(0, first.to_string());
                out.push(p);
            }
        }
        out
    }
    perms(entries)
        .into_iter()
        .flat_map(|p| [format!("{{{}}}", p.join(",")), format!("{{ {} }}", p.join(", "))])
        .collect()
}

#[derive(Debug, PartialEq)]
struct Bytes(Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[test]
fn every_tag_in_every_key_order() {
    for json in orders(&[r#""__py__": "builtins.tuple""#, r#""__data__": [1, "x"]"#]) {
        assert_eq!(value(&json), Value::Tuple(vec![1.into(), "x".into()]), "{json}");
        assert_eq!(typed::<(i32, String)>(&json), (1, "x".to_string()), "{json}");
        assert_eq!(typed::<Vec<Value>>(&json), vec![Value::from(1), "x".into()], "{json}");
    }
    for py in ["builtins.set", "builtins.frozenset"] {
        for json in orders(&[&format!(r#""__py__": "{py}""#), r#""__data__": [2, 1]"#]) {
            let items = vec![2.into(), 1.into()];
            let want = if py == "builtins.set" { Value::Set(items) } else { Value::FrozenSet(items) };
            assert_eq!(value(&json), want, "{json}");
            assert_eq!(typed::<BTreeSet<i32>>(&json), BTreeSet::from([1, 2]), "{json}");
            assert_eq!(typed::<Set<i32>>(&json).into_inner(), vec![1, 2], "{json}");
        }
    }
    for json in
        orders(&[r#""__py__": "builtins.bytes""#, r#""__pytype__": "bytes""#, r#""__data__": "AAH/""#])
    {
        assert_eq!(value(&json), Value::Bytes(vec![0, 1, 255]), "{json}");
        assert_eq!(typed::<Bytes>(&json), Bytes(vec![0, 1, 255]), "{json}");
        assert_eq!(typed::<Vec<u8>>(&json), vec![0, 1, 255], "{json}");
    }
    for json in orders(&[r#""__pytype__": "dict""#, r#""__items__": [[2, "y"], [1, "x"]]"#]) {
        assert_eq!(value(&json), Value::Map(vec![(2.into(), "y".into()), (1.into(), "x".into())]), "{json}");
        assert_eq!(typed::<BTreeMap<i64, String>>(&json), BTreeMap::from([(1, "x".into()), (2, "y".into())]));
    }
    for (name, want) in [("nan", f64::NAN), ("inf", f64::INFINITY), ("-inf", f64::NEG_INFINITY)] {
        for json in orders(&[r#""__pytype__": "float""#, &format!(r#""__val__": "{name}""#)]) {
            let got = typed::<f64>(&json);
            assert_eq!(got.to_bits(), want.to_bits(), "{json}");
            assert_eq!(value(&json).as_f64().map(f64::to_bits), Some(want.to_bits()), "{json}");
            assert_eq!(typed::<Option<f32>>(&json).map(f64::from).map(f64::is_nan), Some(want.is_nan()));
        }
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Deep {
    name: String,
    pairs: Vec<(i32, (String, Option<f64>))>,
    by_tuple: BTreeMap<(i32, i32), Vec<Set<String>>>,
    nested: Option<Box<Deep>>,
    floats: Vec<f64>,
}

fn deep(depth: u32) -> Deep {
    Deep {
        name: format!("d{depth} \"é\" 😀\n"),
        pairs: vec![(1, ("a".into(), None)), (-2, ("b".into(), Some(f64::INFINITY)))],
        by_tuple: BTreeMap::from([(
            (depth as i32, -1),
            vec![Set::from(vec!["z".to_string(), "a".to_string()])],
        )]),
        nested: (depth > 0).then(|| Box::new(deep(depth - 1))),
        floats: vec![1e-5, 1e16, -0.0, 0.1, 123456.789, 5e-324],
    }
}

fn bits(d: &Deep) -> String {
    // Debug text, with float bits kept (-0.0 and NaN compare as text)
    format!("{d:?}")
}

#[test]
fn nested_tags_at_depth_round_trip_as_key_and_value() {
    let d = deep(6);
    for key in [false, true] {
        let mut bytes = Vec::new();
        if key {
            encode_key(&Hashstash, &d, &mut bytes).unwrap();
        } else {
            encode_value(&Hashstash, &d, &mut bytes).unwrap();
        }
        let back: Deep = decode(&Hashstash, &bytes).unwrap();
        assert_eq!(bits(&back), bits(&d), "key={key}");
        // Value and typed decoding agree
        let v: Value = decode(&Hashstash, &bytes).unwrap();
        if !key {
            // (keys sort struct fields)
            assert_eq!(v, to_value(&d).unwrap());
        }
        let again: Deep = stash_serial::from_value(v).unwrap();
        assert_eq!(bits(&again), bits(&d));
    }
    let json = r#"{"x": [{"__data__": [1, {"__py__": "builtins.tuple", "__data__": [{"__pytype__": "float", "__val__": "-inf"}, {"__py__":"builtins.bytes","__pytype__":"bytes","__data__":"YQ=="}]}], "__py__": "builtins.tuple"}]}"#;
    type Nested = BTreeMap<String, Vec<(i32, (f64, Bytes))>>;
    let t: Nested = typed(json);
    assert_eq!(t["x"][0].0, 1);
    assert_eq!(t["x"][0].1.0, f64::NEG_INFINITY);
    assert_eq!(t["x"][0].1.1, Bytes(b"a".to_vec()));
    assert_eq!(value(json).to_string(), "{'x': [(1, (-inf, b'a'))]}");
}

#[test]
fn strings_escapes_and_surrogates() {
    assert_eq!(
        typed::<String>(r#""\u00e9\ud83d\ude00 \" \\ \/ \b\f\n\r\t""#),
        "é😀 \" \\ / \u{8}\u{c}\n\r\t"
    );
    assert_eq!(typed::<String>("\"é😀 raw\""), "é😀 raw");
    assert_eq!(typed::<char>(r#""\u00e9""#), 'é');
    let m: BTreeMap<String, i32> = typed(r#"{"k\u00e9y": 1, "a\"b": 2}"#);
    assert_eq!(m, BTreeMap::from([("kéy".into(), 1), ("a\"b".into(), 2)]));
    for bad in
        [r#""\ud800""#, r#""\ud800\u0041""#, r#""\udc00""#, r#""\q""#, r#""\u12""#, "\"a\u{1}b\"", "\"abc"]
    {
        assert!(decode::<String>(&Hashstash, bad.as_bytes()).is_err(), "{bad}");
        assert!(decode::<Value>(&Hashstash, bad.as_bytes()).is_err(), "{bad}");
    }
    assert!(decode::<String>(&Hashstash, b"\"\xff\"").is_err());
    // a key spelled with escapes is still a tag
    assert_eq!(value(r#"{"\u005f_py__": "builtins.tuple", "__data__": [1]}"#), Value::Tuple(vec![1.into()]));
}

#[test]
fn numbers() {
    assert_eq!(typed::<u64>("18446744073709551615"), u64::MAX);
    assert_eq!(typed::<i64>("-9223372036854775808"), i64::MIN);
    assert_eq!(value("18446744073709551615"), Value::UInt(u64::MAX));
    assert_eq!(value("-9223372036854775808"), Value::Int(i64::MIN));
    // beyond 64 bits: exact, as Python wrote it (a float only for a float request)
    assert_eq!(value("1180591620717411303424"), Value::from(1i128 << 70));
    assert_eq!(value("-1180591620717411303424"), Value::from(-(1i128 << 70)));
    assert_eq!(typed::<i128>("-1180591620717411303424"), -(1i128 << 70));
    assert_eq!(typed::<f64>("1180591620717411303424"), 1180591620717411303424.0);
    assert!(decode::<u64>(&Hashstash, b"18446744073709551616").is_err());
    for (json, want) in
        [("1e-05", 1e-5), ("1e+16", 1e16), ("-0.0", -0.0), ("-0", -0.0), ("0.1", 0.1), ("1.5E3", 1500.0)]
    {
        assert_eq!(typed::<f64>(json).to_bits(), f64::to_bits(want), "{json}");
    }
    assert_eq!(typed::<i8>("-128"), -128);
    assert!(decode::<i8>(&Hashstash, b"128").is_err());
    for bad in ["01", "1.", ".5", "-", "1e", "+1", "1e400", "--1", "0x10", "NaN", "Infinity"] {
        assert!(decode::<f64>(&Hashstash, bad.as_bytes()).is_err(), "{bad}");
        assert!(decode::<Value>(&Hashstash, bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn trailing_garbage_and_truncation_are_decode_errors() {
    for bad in ["1 2", "[1] x", r#"{"a":1}}"#, "null,", "\"a\"\"b\""] {
        match decode::<Value>(&Hashstash, bad.as_bytes()) {
            Err(SerialError::Decode { serializer: "hashstash", .. }) => {}
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert_eq!(value(" [1] \n\t"), Value::List(vec![1.into()]));
    let mut bytes = Vec::new();
    encode_value(&Hashstash, &deep(2), &mut bytes).unwrap();
    for cut in 0..bytes.len() {
        match decode::<Deep>(&Hashstash, &bytes[..cut]) {
            Err(e @ SerialError::Decode { .. }) => assert!(e.to_string().contains("Deep"), "{e}"),
            other => panic!("prefix {cut}: {other:?}"),
        }
        assert!(decode::<Value>(&Hashstash, &bytes[..cut]).is_err(), "prefix {cut}");
    }
}

#[test]
fn errors_name_the_expected_type() {
    let e =
        decode::<Vec<i32>>(&Hashstash, br#"{"__py__":"builtins.bytes","__pytype__":"bytes","__data__":"!"}"#)
            .unwrap_err();
    assert!(matches!(e, SerialError::Decode { .. }) && e.to_string().contains("Vec<i32>"), "{e}");
    let e = decode::<BTreeMap<String, i32>>(&Hashstash, br#"{"__py__":"builtins.tuple","__data__":[1]}"#)
        .unwrap_err();
    assert!(e.to_string().contains("BTreeMap"), "{e}");
    let e = decode::<(i32, i32)>(&Hashstash, b"[1, 2, 3]").unwrap_err();
    assert!(e.to_string().contains("(i32, i32)"), "{e}");
    // the erased path reads the same way
    let s = stash_serial::serializer("hashstash").unwrap();
    let mut out = None;
    s.deserialize_with(br#"{"__data__": [1, 2], "__py__": "builtins.tuple"}"#, &mut |d| {
        out = Some(erased_serde::deserialize::<(u8, u8)>(d)?);
        Ok(())
    })
    .unwrap();
    assert_eq!(out, Some((1, 2)));
    assert!(s.deserialize_with(b"[1] x", &mut |d| erased_serde::deserialize::<Value>(d).map(drop)).is_err());
}

#[test]
fn value_and_typed_decoding_agree_on_a_corpus() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Rec {
        id: u64,
        name: String,
        score: f64,
        tags: Set<String>,
        pair: (i32, String),
        map: BTreeMap<i32, Vec<bool>>,
        opt: Option<String>,
    }
    for i in 0..50u64 {
        let r = Rec {
            id: i * 1_000_000_007,
            name: format!("n{i}\u{1F600}\u{7}"),
            score: i as f64 / 7.0 - 3.0,
            tags: (0..i % 4).map(|t| format!("t{t}")).collect(),
            pair: (-(i as i32), "p".repeat(i as usize % 3)),
            map: (0..i % 3).map(|k| (k as i32 - 1, vec![k % 2 == 0; k as usize])).collect(),
            opt: (i % 2 == 0).then(|| "o".into()),
        };
        for key in [false, true] {
            let mut bytes = Vec::new();
            if key {
                encode_key(&Hashstash, &r, &mut bytes).unwrap();
            } else {
                encode_value(&Hashstash, &r, &mut bytes).unwrap();
            }
            let t: Rec = decode(&Hashstash, &bytes).unwrap();
            assert_eq!(t, r);
            let v: Value = decode(&Hashstash, &bytes).unwrap();
            let mut expect = to_value(&t).unwrap();
            if key {
                // keys sort struct fields
                if let Value::Map(m) = &mut expect {
                    m.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
                }
            }
            assert_eq!(v, expect, "{}", String::from_utf8_lossy(&bytes));
        }
    }
}
