//! Byte-exact agreement with Python hashstash 1.2.0 (goldens recorded from the real library:
//! keys from `serialize(obj, "hashstash", sort_keys=True)`, values with orjson installed).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use stash_serial::{Hashstash, Set, Value, decode, encode_key, encode_value};

fn key<T: Serialize + ?Sized>(v: &T) -> String {
    let mut out = Vec::new();
    encode_key(&Hashstash, v, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn val<T: Serialize + ?Sized>(v: &T) -> String {
    let mut out = Vec::new();
    encode_value(&Hashstash, v, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[derive(Serialize)]
struct Bytes<'a>(#[serde(with = "bytes_ser")] &'a [u8]);

mod bytes_ser {
    pub fn serialize<S: serde::Serializer>(b: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }
}

#[test]
fn reference_table_keys_and_values() {
    assert_eq!(key("cat"), r#""cat""#);
    assert_eq!(val("cat"), r#""cat""#);
    assert_eq!(key(&("bad", "good")), r#"{"__data__": ["bad", "good"], "__py__": "builtins.tuple"}"#);
    assert_eq!(val(&("bad", "good")), r#"{"__py__":"builtins.tuple","__data__":["bad","good"]}"#);
    assert_eq!(key(&HashMap::from([("goodness", "bad")])), r#"{"goodness": "bad"}"#);
    assert_eq!(val(&HashMap::from([("goodness", "bad")])), r#"{"goodness":"bad"}"#);
    let set = Set::from(HashSet::from([2, 1]));
    assert_eq!(key(&set), r#"{"__data__": [1, 2], "__py__": "builtins.set"}"#);
    assert_eq!(val(&set), r#"{"__py__":"builtins.set","__data__":[1,2]}"#);
    assert_eq!(key(&Set::from(vec!["b", "a"])), r#"{"__data__": ["a", "b"], "__py__": "builtins.set"}"#);
    assert_eq!(
        key(&Bytes(b"ab")),
        r#"{"__data__": "YWI=", "__py__": "builtins.bytes", "__pytype__": "bytes"}"#
    );
    assert_eq!(val(&Bytes(b"ab")), r#"{"__py__":"builtins.bytes","__pytype__":"bytes","__data__":"YWI="}"#);
    assert_eq!(key(&Value::Bytes(b"ab".to_vec())), key(&Bytes(b"ab")));
    assert_eq!(key(&HashMap::from([(1, "x")])), r#"{"__items__": [[1, "x"]], "__pytype__": "dict"}"#);
    assert_eq!(val(&HashMap::from([(1, "x")])), r#"{"__pytype__":"dict","__items__":[[1,"x"]]}"#);
    assert_eq!(key(&1.5), "1.5");
    assert_eq!(val(&1.5), "1.5");
    assert_eq!(key(&f64::NAN), r#"{"__pytype__": "float", "__val__": "nan"}"#);
    assert_eq!(val(&f64::NAN), r#"{"__pytype__":"float","__val__":"nan"}"#);
    assert_eq!(key(&f64::INFINITY), r#"{"__pytype__": "float", "__val__": "inf"}"#);
    assert_eq!(key(&f64::NEG_INFINITY), r#"{"__pytype__": "float", "__val__": "-inf"}"#);
    assert_eq!(key(&None::<i32>), "null");
    assert_eq!(key(&()), "null");
    assert_eq!(key(&vec![1, 2]), "[1, 2]");
    assert_eq!(val(&vec![1, 2]), "[1,2]");
    assert_eq!(key(&true), "true");
}

#[test]
fn key_details() {
    assert_eq!(
        key("é😀\u{7f}\u{0}\u{1f}\"\\\n\r\t\u{8}\u{c}/"),
        r#""\u00e9\ud83d\ude00\u007f\u0000\u001f\"\\\n\r\t\b\f/""#
    );
    for (x, s) in [
        (1e16, "1e+16"),
        (1e15, "1000000000000000.0"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (-0.0, "-0.0"),
        (2.0, "2.0"),
        (0.1, "0.1"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (123456789012345678.0, "1.2345678901234568e+17"),
        (1e22, "1e+22"),
    ] {
        assert_eq!(key(&x), s);
    }
    assert_eq!(key(&(1u128 << 70)), "1180591620717411303424");
    assert_eq!(key(&-(1i128 << 70)), "-1180591620717411303424");
    assert_eq!(
        key(&HashMap::from([("x", (1, 2))])),
        r#"{"x": {"__data__": [1, 2], "__py__": "builtins.tuple"}}"#
    );
    assert_eq!(val(&HashMap::from([("x", (1, 2))])), r#"{"x":{"__py__":"builtins.tuple","__data__":[1,2]}}"#);
    assert_eq!(key(&vec![(1, 2)]), r#"[{"__data__": [1, 2], "__py__": "builtins.tuple"}]"#);
    assert_eq!(val(&vec![(1, 2)]), r#"[{"__py__":"builtins.tuple","__data__":[1,2]}]"#);
}

#[test]
fn extra_python_verified_cases() {
    // {2: "y", 1: "x"}: pairs sorted by their JSON in keys, insertion order in values.
    let m = Value::Map(vec![(2.into(), "y".into()), (1.into(), "x".into())]);
    assert_eq!(key(&m), r#"{"__items__": [[1, "x"], [2, "y"]], "__pytype__": "dict"}"#);
    assert_eq!(val(&m), r#"{"__pytype__":"dict","__items__":[[2,"y"],[1,"x"]]}"#);
    let tk = BTreeMap::from([((2, 1), "a"), ((1, 2), "b")]);
    assert_eq!(
        key(&tk),
        r#"{"__items__": [[{"__data__": [1, 2], "__py__": "builtins.tuple"}, "b"], [{"__data__": [2, 1], "__py__": "builtins.tuple"}, "a"]], "__pytype__": "dict"}"#
    );
    // {1: "a", "b": 2, (1,): 3}
    let mixed = Value::Map(vec![
        (1.into(), "a".into()),
        ("b".into(), 2.into()),
        (Value::Tuple(vec![1.into()]), 3.into()),
    ]);
    assert_eq!(
        key(&mixed),
        r#"{"__items__": [["b", 2], [1, "a"], [{"__data__": [1], "__py__": "builtins.tuple"}, 3]], "__pytype__": "dict"}"#
    );
    assert_eq!(
        val(&mixed),
        r#"{"__pytype__":"dict","__items__":[[1,"a"],["b",2],[{"__py__":"builtins.tuple","__data__":[1]},3]]}"#
    );
    // a reserved key forces the __items__ form
    let reserved = Value::Map(vec![("__py__".into(), 1.into()), ("a".into(), 2.into())]);
    assert_eq!(key(&reserved), r#"{"__items__": [["__py__", 1], ["a", 2]], "__pytype__": "dict"}"#);
    assert_eq!(val(&reserved), r#"{"__pytype__":"dict","__items__":[["__py__",1],["a",2]]}"#);
    let late_reserved = Value::Map(vec![("a".into(), 2.into()), ("__data__".into(), 1.into())]);
    assert_eq!(val(&late_reserved), r#"{"__pytype__":"dict","__items__":[["a",2],["__data__",1]]}"#);
    // key order is code point order of the raw strings, nested maps sorted too
    let ko = Value::Map(vec![
        ("b".into(), 1.into()),
        ("a".into(), Value::Map(vec![("d".into(), 1.into()), ("c".into(), 2.into())])),
        ("é".into(), 3.into()),
        ("z".into(), 4.into()),
        ("A".into(), 5.into()),
    ]);
    assert_eq!(key(&ko), r#"{"A": 5, "a": {"c": 2, "d": 1}, "b": 1, "z": 4, "\u00e9": 3}"#);
    assert_eq!(val(&ko), r#"{"b":1,"a":{"d":1,"c":2},"é":3,"z":4,"A":5}"#);
    assert_eq!(key(&HashMap::from([("ü", 1), ("u", 2), ("z", 3)])), r#"{"u": 2, "z": 3, "\u00fc": 1}"#);
    let numkeys = Value::Map(vec![
        (10.into(), "a".into()),
        (1.into(), "b".into()),
        (2.into(), "c".into()),
        ((-1).into(), "d".into()),
        (1.5.into(), "e".into()),
    ]);
    assert_eq!(
        key(&numkeys),
        r#"{"__items__": [[-1, "d"], [1, "b"], [1.5, "e"], [10, "a"], [2, "c"]], "__pytype__": "dict"}"#
    );
    // a set of mixed items sorted by JSON text: "a" < 1 < 10 < 2 < {...}
    let setmix =
        Value::Set(vec![1.into(), "a".into(), Value::Tuple(vec![1.into(), 2.into()]), 10.into(), 2.into()]);
    assert_eq!(
        key(&setmix),
        r#"{"__data__": ["a", 1, 10, 2, {"__data__": [1, 2], "__py__": "builtins.tuple"}], "__py__": "builtins.set"}"#
    );
    assert_eq!(key(&HashMap::<String, i32>::new()), "{}");
    assert_eq!(key(&()), "null");
    assert_eq!(key(&Value::Tuple(vec![])), r#"{"__data__": [], "__py__": "builtins.tuple"}"#);
    assert_eq!(val(&Value::Tuple(vec![])), r#"{"__py__":"builtins.tuple","__data__":[]}"#);
    assert_eq!(key(&Set::<i32>::new()), r#"{"__data__": [], "__py__": "builtins.set"}"#);
    assert_eq!(key(&vec![Set::from(vec![3, 1])]), r#"[{"__data__": [1, 3], "__py__": "builtins.set"}]"#);
    assert_eq!(key(&(1,)), r#"{"__data__": [1], "__py__": "builtins.tuple"}"#);
    assert_eq!(
        key(&HashMap::from([(true, 1), (false, 0)])),
        r#"{"__items__": [[false, 0], [true, 1]], "__pytype__": "dict"}"#
    );
    assert_eq!(
        key(&HashMap::from([(None::<i32>, 1)])),
        r#"{"__items__": [[null, 1]], "__pytype__": "dict"}"#
    );
    assert_eq!(
        key(&Value::Set(vec![Value::Bytes(b"b".to_vec()), Value::Bytes(b"a".to_vec())])),
        r#"{"__data__": [{"__data__": "YQ==", "__py__": "builtins.bytes", "__pytype__": "bytes"}, {"__data__": "Yg==", "__py__": "builtins.bytes", "__pytype__": "bytes"}], "__py__": "builtins.set"}"#
    );
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Rec {
    b: i32,
    a: (u8, String),
}

#[test]
fn structs_sort_fields_in_keys_only() {
    let r = Rec { b: 1, a: (2, "x".into()) };
    assert_eq!(key(&r), r#"{"a": {"__data__": [2, "x"], "__py__": "builtins.tuple"}, "b": 1}"#);
    assert_eq!(val(&r), r#"{"b":1,"a":{"__py__":"builtins.tuple","__data__":[2,"x"]}}"#);
}

fn dec_value(s: &str) -> Value {
    decode(&Hashstash, s.as_bytes()).unwrap()
}

#[test]
fn decode_python_values_into_value() {
    assert_eq!(dec_value(r#""cat""#), Value::from("cat"));
    assert_eq!(
        dec_value(r#"{"__py__":"builtins.tuple","__data__":["bad","good"]}"#),
        Value::Tuple(vec!["bad".into(), "good".into()])
    );
    assert_eq!(
        dec_value(r#"{"__py__":"builtins.set","__data__":[1,2]}"#),
        Value::Set(vec![1.into(), 2.into()])
    );
    assert_eq!(
        dec_value(r#"{"__data__": [3], "__py__": "builtins.frozenset"}"#),
        Value::FrozenSet(vec![3.into()])
    );
    assert_eq!(
        dec_value(r#"{"__py__":"builtins.bytes","__pytype__":"bytes","__data__":"YWI="}"#),
        Value::Bytes(b"ab".to_vec())
    );
    assert_eq!(
        dec_value(r#"{"__pytype__":"dict","__items__":[[2,"y"],[1,"x"]]}"#),
        Value::Map(vec![(2.into(), "y".into()), (1.into(), "x".into())])
    );
    let nan = dec_value(r#"{"__pytype__":"float","__val__":"nan"}"#);
    assert!(nan.as_f64().unwrap().is_nan());
    assert_eq!(dec_value(r#"{"__pytype__": "float", "__val__": "-inf"}"#), Value::Float(f64::NEG_INFINITY));
    assert_eq!(dec_value("null"), Value::Null);
    assert_eq!(dec_value("[1,2]"), Value::List(vec![1.into(), 2.into()]));
    assert_eq!(dec_value("0.00001"), Value::Float(0.00001));
    assert_eq!(
        dec_value(r#"{"x":{"__py__":"builtins.tuple","__data__":[1,2]}}"#).to_string(),
        "{'x': (1, 2)}"
    );
    // unknown tagged objects stay plain maps (nothing lost)
    let dec = dec_value(r#"{"__args__": ["1.5"], "__py__": "decimal.Decimal", "__pytype__": "reducer"}"#);
    assert_eq!(dec.get("__py__"), Some(&Value::from("decimal.Decimal")));
    let path = dec_value(r#"{"__data__": "/tmp/x", "__py__": "pathlib.PosixPath"}"#);
    assert_eq!(path.get("__data__").and_then(Value::as_str), Some("/tmp/x"));
}

#[test]
fn decode_python_values_into_types() {
    let t: (String, String) =
        decode(&Hashstash, br#"{"__py__":"builtins.tuple","__data__":["bad","good"]}"#).unwrap();
    assert_eq!(t, ("bad".to_string(), "good".to_string()));
    let s: Set<i64> = decode(&Hashstash, br#"{"__py__":"builtins.set","__data__":[2,1]}"#).unwrap();
    assert_eq!(s.into_inner(), vec![1, 2]);
    let hs: HashSet<i64> = decode(&Hashstash, br#"{"__py__":"builtins.frozenset","__data__":[3]}"#).unwrap();
    assert_eq!(hs, HashSet::from([3]));
    let m: HashMap<i64, String> =
        decode(&Hashstash, br#"{"__pytype__":"dict","__items__":[[2,"y"],[1,"x"]]}"#).unwrap();
    assert_eq!(m, HashMap::from([(1, "x".into()), (2, "y".into())]));
    let b: Vec<u8> =
        decode(&Hashstash, br#"{"__py__":"builtins.bytes","__pytype__":"bytes","__data__":"YWI="}"#).unwrap();
    assert_eq!(b, b"ab");
    let f: f64 = decode(&Hashstash, br#"{"__pytype__":"float","__val__":"inf"}"#).unwrap();
    assert_eq!(f, f64::INFINITY);
    let r: Rec =
        decode(&Hashstash, br#"{"a": {"__data__": [2, "x"], "__py__": "builtins.tuple"}, "b": 1}"#).unwrap();
    assert_eq!(r, Rec { b: 1, a: (2, "x".into()) });
    let o: Option<i32> = decode(&Hashstash, b"null").unwrap();
    assert_eq!(o, None);
}

#[test]
fn display_is_python_repr() {
    let v = Value::Map(vec![("goodness".into(), "bad".into())]);
    assert_eq!(v.to_string(), "{'goodness': 'bad'}");
    assert_eq!(Value::Tuple(vec!["bad".into(), "good".into()]).to_string(), "('bad', 'good')");
    assert_eq!(Value::Tuple(vec![1.into()]).to_string(), "(1,)");
    assert_eq!(Value::List(vec!["a".into(), 1.into()]).to_string(), "['a', 1]");
    assert_eq!(Value::Set(vec!["good".into(), "bad".into()]).to_string(), "{'good', 'bad'}");
    assert_eq!(Value::Set(vec![]).to_string(), "set()");
    assert_eq!(Value::Bytes(b"ab".to_vec()).to_string(), "b'ab'");
    assert_eq!(Value::Null.to_string(), "None");
    assert_eq!(Value::Bool(true).to_string(), "True");
    assert_eq!(Value::Float(2.0).to_string(), "2.0");
    assert_eq!(Value::Float(1e16).to_string(), "1e+16");
    assert_eq!(Value::Float(f64::NAN).to_string(), "nan");
    assert_eq!(Value::from("it's").to_string(), "\"it's\"");
}

/// Python tagged objects as `Value::Tagged`, and function keys (`FnKey`).
///
/// The goldens are the bytes Python hashstash 1.2.0 wrote into a raw pairtree stash
/// (`.key` files: keys, with `", "`; version files: values, compact) for
/// `def my_fn(x): """doc"""; return x + 1` in `__main__`, `lambda y: y * 2`, a closure
/// over `k = 3`, `Decimal("1.5")` and the tuple `(my_fn, 1)`, each as a key and as a value.
mod tagged_objects {
    use stash_serial::{FnKey, Hashstash, Value, decode, deserialize, encode_key, serialize, serializer};

    use super::{key, val};

    const FN_KEY: &str = r#"{"__py__": "__main__.my_fn", "__pytype__": "function", "__source__": "def my_fn(x):\n    \"\"\"doc\"\"\"\n    return x + 1"}"#;
    const FN_VALUE: &str = r#"{"__py__":"__main__.my_fn","__pytype__":"function","__source__":"def my_fn(x):\n    \"\"\"doc\"\"\"\n    return x + 1"}"#;
    const LAMBDA_KEY: &str =
        r#"{"__py__": "__main__.<lambda>", "__pytype__": "function", "__source__": "lambda y: y * 2"}"#;
    const LAMBDA_VALUE: &str =
        r#"{"__py__":"__main__.<lambda>","__pytype__":"function","__source__":"lambda y: y * 2"}"#;
    const CLOSURE_KEY: &str = r#"{"__closure__": {"k": 3}, "__py__": "__main__.outer.<locals>.inner", "__pytype__": "function", "__source__": "def inner(z):\n    return z + k"}"#;
    const CLOSURE_VALUE: &str = r#"{"__py__":"__main__.outer.<locals>.inner","__pytype__":"function","__source__":"def inner(z):\n    return z + k","__closure__":{"k":3}}"#;
    const DECIMAL_KEY: &str =
        r#"{"__args__": ["1.5"], "__py__": "decimal.Decimal", "__pytype__": "reducer"}"#;
    const DECIMAL_VALUE: &str = r#"{"__py__":"decimal.Decimal","__pytype__":"reducer","__args__":["1.5"]}"#;
    const TUPLE_KEY: &str = r#"{"__data__": [{"__py__": "__main__.my_fn", "__pytype__": "function", "__source__": "def my_fn(x):\n    \"\"\"doc\"\"\"\n    return x + 1"}, 1], "__py__": "builtins.tuple"}"#;
    const TUPLE_VALUE: &str = r#"{"__py__":"builtins.tuple","__data__":[{"__py__":"__main__.my_fn","__pytype__":"function","__source__":"def my_fn(x):\n    \"\"\"doc\"\"\"\n    return x + 1"},1]}"#;

    fn read(bytes: &str) -> Value {
        decode(&Hashstash, bytes.as_bytes()).unwrap()
    }

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    #[test]
    fn python_tagged_keys_and_values_write_back_byte_exactly() {
        for (k, v) in [
            (FN_KEY, FN_VALUE),
            (LAMBDA_KEY, LAMBDA_VALUE),
            (CLOSURE_KEY, CLOSURE_VALUE),
            (DECIMAL_KEY, DECIMAL_VALUE),
            (TUPLE_KEY, TUPLE_VALUE),
        ] {
            // A key read back (from `keys()`) is written to the same key bytes, so `get` finds it.
            let from_key = read(k);
            assert_eq!(key(&from_key), k);
            // A value read back writes the same value bytes, Python's field order kept.
            let from_value = read(v);
            assert_eq!(val(&from_value), v);
            // Both are one value: the value read back is the same key.
            assert_eq!(key(&from_value), k);
        }
    }

    #[test]
    fn tagged_objects_read_as_tagged_values() {
        let f = read(FN_VALUE);
        assert_eq!(
            f,
            Value::Tagged(vec![
                ("__py__".into(), s("__main__.my_fn")),
                ("__pytype__".into(), s("function")),
                ("__source__".into(), s("def my_fn(x):\n    \"\"\"doc\"\"\"\n    return x + 1")),
            ])
        );
        assert_eq!(f.get("__py__"), Some(&s("__main__.my_fn")));
        assert_eq!(f.to_string(), "<function __main__.my_fn>");
        let closure = read(CLOSURE_VALUE);
        assert_eq!(closure.get("__closure__"), Some(&Value::Map(vec![(s("k"), Value::Int(3))])));
        let decimal = read(DECIMAL_VALUE);
        assert_eq!(decimal.to_string(), "decimal.Decimal({'__pytype__': 'reducer', '__args__': ['1.5']})");
        let Value::Tuple(items) = read(TUPLE_VALUE) else { panic!("not a tuple") };
        assert!(matches!(&items[0], Value::Tagged(fields) if fields.len() == 3));
        // The resolved forms are not tagged objects.
        assert_eq!(read(r#"{"__py__":"builtins.tuple","__data__":[1]}"#), Value::Tuple(vec![Value::Int(1)]));
        assert_eq!(read(r#"{"__pytype__":"float","__val__":"nan"}"#).to_string(), "nan");
        // A dict holding reserved keys (Python escapes it) stays a map, and is escaped again.
        let dict = read(r#"{"__pytype__":"dict","__items__":[["__py__","x"]]}"#);
        assert_eq!(dict, Value::Map(vec![(s("__py__"), s("x"))]));
        assert_eq!(val(&dict), r#"{"__pytype__":"dict","__items__":[["__py__","x"]]}"#);
        // A tagged object with malformed payload stays as it was written.
        let odd = r#"{"__py__":"builtins.tuple","__data__":"not a list"}"#;
        assert_eq!(val(&read(odd)), odd);
    }

    #[test]
    fn tagged_values_survive_value_round_trips_and_typed_reads() {
        let f = read(FN_VALUE);
        // Value -> Value keeps the variant (the path `stash.get::<_, Value>` takes).
        let again: Value = stash_serial::from_value(f.clone()).unwrap();
        assert_eq!(again, f);
        assert_eq!(stash_serial::to_value(&f).unwrap(), f);
        // A typed read sees a map of its fields.
        let fields: std::collections::BTreeMap<String, String> = stash_serial::from_value(f.clone()).unwrap();
        assert_eq!(fields["__pytype__"], "function");
        // Through the other self-describing serializers it is a plain map, read back as one,
        // whose bytes are the same again (so such a key still finds its entry).
        for name in ["json", "msgpack"] {
            let ser = serializer(name).unwrap();
            let mut bytes = Vec::new();
            encode_key(&*ser, &f, &mut bytes).unwrap();
            let back: Value = decode(&*ser, &bytes).unwrap();
            assert!(matches!(back, Value::Map(_)), "{name}: {back:?}");
            let mut again = Vec::new();
            encode_key(&*ser, &back, &mut again).unwrap();
            assert_eq!(bytes, again, "{name}");
        }
    }

    #[test]
    fn python_function_keys_read_as_fn_keys() {
        let f: FnKey = deserialize(FN_KEY.as_bytes(), "hashstash").unwrap();
        assert_eq!(f.py(), "__main__.my_fn");
        assert_eq!(f.name(), "my_fn");
        assert_eq!(f.source(), Some("def my_fn(x):\n    \"\"\"doc\"\"\"\n    return x + 1"));
        assert_eq!(key(&f), FN_KEY);
        assert_eq!(val(&f), FN_VALUE);
        let lambda: FnKey = deserialize(LAMBDA_VALUE.as_bytes(), "hashstash").unwrap();
        assert_eq!(lambda, FnKey::python("__main__.<lambda>", Some("lambda y: y * 2".into())));
        assert_eq!(key(&lambda), LAMBDA_KEY);
        // An importable function has no source.
        let imported = FnKey::python("json.dumps", None);
        assert_eq!(val(&imported), r#"{"__py__":"json.dumps","__pytype__":"function"}"#);
        assert_eq!(
            deserialize::<FnKey>(&serialize(&imported, "hashstash").unwrap(), "hashstash").unwrap(),
            imported
        );
        // A closure, or another tagged object, is no FnKey: a clear error, not a wrong key.
        let err = deserialize::<FnKey>(CLOSURE_VALUE.as_bytes(), "hashstash").unwrap_err().to_string();
        assert!(err.contains("__closure__"), "{err}");
        let err = deserialize::<FnKey>(DECIMAL_VALUE.as_bytes(), "hashstash").unwrap_err().to_string();
        assert!(err.contains("reducer"), "{err}");
    }

    #[test]
    fn rust_function_keys_name_path_and_code_version() {
        let a = FnKey::new("tour::keys::my_fn", "code-0123456789abcdef");
        assert_eq!(a.py(), "tour::keys.my_fn");
        let source = a.source().unwrap();
        assert!(source.starts_with("def my_fn(*args, **kwargs):\n"), "{source}");
        assert!(source.contains("tour::keys::my_fn") && source.contains("code-0123456789abcdef"), "{source}");
        let bytes = key(&a);
        assert!(
            bytes.starts_with(
                r#"{"__py__": "tour::keys.my_fn", "__pytype__": "function", "__source__": "def my_fn("#
            ),
            "{bytes}"
        );
        // Another code version, or the same name in another module, is another key.
        assert_ne!(key(&FnKey::new("tour::keys::my_fn", "code-fedcba9876543210")), bytes);
        assert_ne!(key(&FnKey::new("tour::other::my_fn", "code-0123456789abcdef")), bytes);
        assert_eq!(key(&FnKey::new("tour::keys::my_fn", "code-0123456789abcdef")), bytes);
        // Every serializer stores and reads it back.
        for name in ["hashstash", "json", "msgpack", "postcard"] {
            let back: FnKey = deserialize(&serialize(&a, name).unwrap(), name).unwrap();
            assert_eq!(back, a, "{name}");
        }
        // As a Value it is the tagged object a Python function key reads as.
        let v = stash_serial::to_value(&a).unwrap();
        assert!(matches!(&v, Value::Tagged(f) if f.len() == 3), "{v:?}");
        assert_eq!(key(&v), bytes);
        assert_eq!(v.to_string(), "<function tour::keys.my_fn>");
        assert_eq!(stash_serial::from_value::<FnKey>(v).unwrap(), a);
    }

    #[test]
    fn rust_function_names_python_cannot_spell_get_a_stub_binding_them() {
        // `lambda` and `pass` are Rust identifiers but Python keywords; a version string may
        // hold quotes and backslashes.
        let k = FnKey::new("m::lambda", "v1 \"quoted\" \\ back");
        let source = k.source().unwrap();
        assert!(source.starts_with("def _rust_function(*args, **kwargs):\n"), "{source}");
        assert!(source.contains(r#"globals()["lambda"] = _rust_function"#), "{source}");
        assert!(source.contains(r#"v1 \"quoted\" \\ back"#), "{source}");
        assert_eq!(k.name(), "lambda");
        let plain = FnKey::new("m::lambda_", "v1");
        assert!(plain.source().unwrap().starts_with("def lambda_("));
    }
}
