//! Python tagged objects as `Value::Tagged`, and function keys (`FnKey`).
//!
//! The goldens are the bytes Python hashstash 1.2.0 wrote into a raw pairtree stash
//! (`.key` files: keys, with `", "`; version files: values, compact) for
//! `def my_fn(x): """doc"""; return x + 1` in `__main__`, `lambda y: y * 2`, a closure
//! over `k = 3`, `Decimal("1.5")` and the tuple `(my_fn, 1)`, each as a key and as a value.

use serde::Serialize;
use stash_serial::{
    FnKey, Hashstash, Value, decode, deserialize, encode_key, encode_value, serialize, serializer,
};

const FN_KEY: &str = r#"{"__py__": "__main__.my_fn", "__pytype__": "function", "__source__": "def my_fn(x):\n    \"\"\"doc\"\"\"\n    return x + 1"}"#;
const FN_VALUE: &str = r#"{"__py__":"__main__.my_fn","__pytype__":"function","__source__":"def my_fn(x):\n    \"\"\"doc\"\"\"\n    return x + 1"}"#;
const LAMBDA_KEY: &str =
    r#"{"__py__": "__main__.<lambda>", "__pytype__": "function", "__source__": "lambda y: y * 2"}"#;
const LAMBDA_VALUE: &str =
    r#"{"__py__":"__main__.<lambda>","__pytype__":"function","__source__":"lambda y: y * 2"}"#;
const CLOSURE_KEY: &str = r#"{"__closure__": {"k": 3}, "__py__": "__main__.outer.<locals>.inner", "__pytype__": "function", "__source__": "def inner(z):\n    return z + k"}"#;
const CLOSURE_VALUE: &str = r#"{"__py__":"__main__.outer.<locals>.inner","__pytype__":"function","__source__":"def inner(z):\n    return z + k","__closure__":{"k":3}}"#;
const DECIMAL_KEY: &str = r#"{"__args__": ["1.5"], "__py__": "decimal.Decimal", "__pytype__": "reducer"}"#;
const DECIMAL_VALUE: &str = r#"{"__py__":"decimal.Decimal","__pytype__":"reducer","__args__":["1.5"]}"#;
const TUPLE_KEY: &str = r#"{"__data__": [{"__py__": "__main__.my_fn", "__pytype__": "function", "__source__": "def my_fn(x):\n    \"\"\"doc\"\"\"\n    return x + 1"}, 1], "__py__": "builtins.tuple"}"#;
const TUPLE_VALUE: &str = r#"{"__py__":"builtins.tuple","__data__":[{"__py__":"__main__.my_fn","__pytype__":"function","__source__":"def my_fn(x):\n    \"\"\"doc\"\"\"\n    return x + 1"},1]}"#;

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
