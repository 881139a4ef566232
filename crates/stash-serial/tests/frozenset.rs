//! Python `frozenset` keys and values: `FrozenSet` and `Value::FrozenSet` write exactly what
//! Python hashstash 1.2.0 writes for `frozenset(...)` (goldens from the real library), stay
//! distinct from `set`, and a frozenset read back untyped writes the same key bytes again.

use std::collections::{BTreeSet, HashSet};

use stash_serial::{
    FrozenSet, Hashstash, Json, Msgpack, Postcard, Serializer, Set, Value, decode, encode_key, encode_value,
    from_value, to_value,
};

fn key_with(s: &dyn Serializer, v: &(impl serde::Serialize + ?Sized)) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(s, v, &mut out).unwrap();
    out
}

fn key(v: &(impl serde::Serialize + ?Sized)) -> String {
    String::from_utf8(key_with(&Hashstash, v)).unwrap()
}

fn val(v: &(impl serde::Serialize + ?Sized)) -> String {
    let mut out = Vec::new();
    encode_value(&Hashstash, v, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn frozenset_bytes_are_pythons() {
    // Python: serialize(frozenset(), "hashstash", sort_keys=True) and without sort_keys.
    assert_eq!(key(&FrozenSet::<i64>::new()), r#"{"__data__": [], "__py__": "builtins.frozenset"}"#);
    assert_eq!(val(&FrozenSet::<i64>::new()), r#"{"__py__":"builtins.frozenset","__data__":[]}"#);
    let f = FrozenSet::from(HashSet::from([3, 1]));
    assert_eq!(key(&f), r#"{"__data__": [1, 3], "__py__": "builtins.frozenset"}"#);
    assert_eq!(val(&f), r#"{"__py__":"builtins.frozenset","__data__":[1,3]}"#);
    // Items sort by their JSON text, as Python sorts them: "a" < 1 < 10 < 2.
    let mixed = FrozenSet::from(vec![Value::Int(2), Value::Int(10), Value::from("a"), Value::Int(1)]);
    assert_eq!(key(&mixed), r#"{"__data__": ["a", 1, 10, 2], "__py__": "builtins.frozenset"}"#);
    // Nested: a frozenset inside a tuple, and a set inside a frozenset.
    assert_eq!(
        key(&(1, FrozenSet::from(vec!["x"]))),
        r#"{"__data__": [1, {"__data__": ["x"], "__py__": "builtins.frozenset"}], "__py__": "builtins.tuple"}"#
    );
    assert_eq!(
        key(&FrozenSet::from(vec![Set::from(vec![2, 1])])),
        r#"{"__data__": [{"__data__": [1, 2], "__py__": "builtins.set"}], "__py__": "builtins.frozenset"}"#
    );
}

#[test]
fn frozenset_and_set_are_different_keys() {
    let f = FrozenSet::from(vec![1, 2]);
    let s = Set::from(vec![1, 2]);
    assert_ne!(key(&f), key(&s));
    assert_eq!(key(&f), key(&FrozenSet::from(BTreeSet::from([2, 1]))));
    assert_eq!(key(&f.clone().into_set()), key(&s));
    // Other serializers see the same plain sorted sequence for both.
    for ser in [&Json as &dyn Serializer, &Msgpack, &Postcard] {
        assert_eq!(key_with(ser, &f), key_with(ser, &s), "{}", ser.name());
    }
}

#[test]
fn a_python_frozenset_reads_back_as_itself() {
    for bytes in [
        &br#"{"__py__":"builtins.frozenset","__data__":[1,3]}"#[..],
        br#"{"__data__": [1, 3], "__py__": "builtins.frozenset"}"#,
    ] {
        let v: Value = decode(&Hashstash, bytes).unwrap();
        assert_eq!(v, Value::FrozenSet(vec![Value::Int(1), Value::Int(3)]));
        // Written again as a key it gives Python's key bytes, so the entry is found.
        assert_eq!(key(&v), r#"{"__data__": [1, 3], "__py__": "builtins.frozenset"}"#);
        assert_eq!(val(&v), r#"{"__py__":"builtins.frozenset","__data__":[1,3]}"#);
        assert_eq!(v.to_string(), "frozenset({1, 3})");
        let typed: FrozenSet<i64> = decode(&Hashstash, bytes).unwrap();
        assert_eq!(typed.into_inner(), vec![1, 3]);
        let as_set: Set<i64> = decode(&Hashstash, bytes).unwrap();
        assert_eq!(as_set.into_inner(), vec![1, 3]);
    }
    let empty: Value = decode(&Hashstash, br#"{"__py__":"builtins.frozenset","__data__":[]}"#).unwrap();
    assert_eq!(empty, Value::FrozenSet(vec![]));
    assert_eq!(empty.to_string(), "frozenset()");
    assert_eq!(key(&empty), r#"{"__data__": [], "__py__": "builtins.frozenset"}"#);
    // A Python set stays a set.
    let set: Value = decode(&Hashstash, br#"{"__py__":"builtins.set","__data__":[1]}"#).unwrap();
    assert_eq!(set, Value::Set(vec![Value::Int(1)]));
    // A FrozenSet also reads from a tagged set and from a plain list.
    let f: FrozenSet<i64> = decode(&Hashstash, br#"{"__py__":"builtins.set","__data__":[2,1]}"#).unwrap();
    assert_eq!(f.into_inner(), vec![1, 2]);
    let f: FrozenSet<i64> = decode(&Json, br#"[2,1,2]"#).unwrap();
    assert_eq!(f.into_inner(), vec![1, 2]);
}

#[test]
fn frozenset_through_value_and_binary_formats() {
    let f = FrozenSet::from(vec!["b", "a"]);
    let v = to_value(&f).unwrap();
    assert_eq!(v, Value::FrozenSet(vec![Value::from("a"), Value::from("b")]));
    // A Value read out of a Value keeps the variant.
    let again: Value = from_value(v.clone()).unwrap();
    assert_eq!(again, v);
    let typed: FrozenSet<String> = from_value(v).unwrap();
    assert_eq!(typed.iter().map(String::as_str).collect::<Vec<_>>(), ["a", "b"]);
    for ser in [&Msgpack as &dyn Serializer, &Postcard] {
        let mut out = Vec::new();
        encode_value(ser, &f, &mut out).unwrap();
        let back: FrozenSet<String> = decode(ser, &out).unwrap();
        assert_eq!(back, FrozenSet::from(vec!["a".to_string(), "b".to_string()]), "{}", ser.name());
    }
    assert!(f.contains(&"a"));
    assert_eq!(format!("{f:?}"), r#"frozenset({"a", "b"})"#);
}
