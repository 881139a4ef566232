//! Round trips, canonical keys and errors for every serializer.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use stash_serial::{KNOWN, SerialError, Set, Value, decode, encode_key, encode_value, serializer};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Shape {
    Unit,
    Newtype(i32),
    Tuple(u8, String),
    Struct { w: f64, h: f64 },
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Unit;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Meters(f64);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Pair(i64, String);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Zoo {
    a: u8,
    b: i16,
    c: u32,
    d: i64,
    e: u64,
    big: i128,
    f: f32,
    g: f64,
    ch: char,
    s: String,
    opt: Option<String>,
    none: Option<i32>,
    unit: (),
    unit_struct: Unit,
    newtype: Meters,
    pair: Pair,
    tuple: (bool, String, (i32, i32)),
    list: Vec<Shape>,
    map: BTreeMap<String, Vec<i32>>,
    int_map: BTreeMap<i32, String>,
    set: Set<String>,
    bytes: Bytes,
}

/// Bytes written with `serialize_bytes` (like `serde_bytes::ByteBuf`).
#[derive(Debug, PartialEq, Clone)]
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                let mut v = Vec::new();
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

fn zoo() -> Zoo {
    Zoo {
        a: 255,
        b: -300,
        c: 70_000,
        d: -5_000_000_000,
        e: u64::MAX,
        big: -(1 << 70),
        f: 0.5,
        g: -1.25e-7,
        ch: 'é',
        s: "hé \"quoted\"\n😀".into(),
        opt: Some("x".into()),
        none: None,
        unit: (),
        unit_struct: Unit,
        newtype: Meters(3.5),
        pair: Pair(-1, "p".into()),
        tuple: (true, "t".into(), (1, 2)),
        list: vec![
            Shape::Unit,
            Shape::Newtype(7),
            Shape::Tuple(1, "x".into()),
            Shape::Struct { w: 1.0, h: 2.0 },
        ],
        map: BTreeMap::from([("k".into(), vec![1, 2]), ("__py__".into(), vec![])]),
        int_map: BTreeMap::from([(3, "three".into()), (-1, "minus".into())]),
        set: Set::from(vec!["b".to_string(), "a".to_string()]),
        bytes: Bytes(vec![0, 1, 255]),
    }
}

#[test]
fn typed_round_trip_all_serializers() {
    for name in KNOWN {
        let s = serializer(name).unwrap();
        assert_eq!(s.name(), *name);
        let z = zoo(); // (with an i128 beyond 64 bits)
        let mut bytes = Vec::new();
        encode_value(&*s, &z, &mut bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back: Zoo = decode(&*s, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, z, "{name}");
        // also through the object-safe erased path
        let mut bytes2 = Vec::new();
        s.serialize_value(&z, &mut bytes2).unwrap();
        assert_eq!(bytes, bytes2, "{name}");
        let mut out = None;
        s.deserialize_with(&bytes, &mut |d| {
            out = Some(erased_serde::deserialize::<Zoo>(d)?);
            Ok(())
        })
        .unwrap();
        assert_eq!(out.unwrap(), z, "{name}");
    }
}

#[test]
fn value_round_trip_self_describing() {
    let v = Value::Map(vec![
        ("list".into(), Value::List(vec![1.into(), "a".into(), Value::Null, true.into(), 2.5.into()])),
        ("nested".into(), Value::Map(vec![("x".into(), Value::UInt(u64::MAX))])),
    ]);
    for name in ["hashstash", "json", "msgpack"] {
        let s = serializer(name).unwrap();
        assert!(s.is_self_describing());
        let mut bytes = Vec::new();
        encode_value(&*s, &v, &mut bytes).unwrap();
        let back: Value = decode(&*s, &bytes).unwrap();
        assert_eq!(back, v, "{name}");
    }
    // hashstash keeps Python types
    let rich = Value::Map(vec![
        (Value::Tuple(vec![1.into(), 2.into()]), Value::Set(vec!["a".into()])),
        ("b".into(), Value::Bytes(b"xy".to_vec())),
        ("nan".into(), Value::Float(f64::INFINITY)),
    ]);
    let bytes = stash_serial::serialize(&rich, "hashstash").unwrap();
    let back: Value = stash_serial::deserialize(&bytes, "hashstash").unwrap();
    assert_eq!(back, rich);
    let zoo_value: Value =
        stash_serial::deserialize(&stash_serial::serialize(&zoo(), "msgpack").unwrap(), "msgpack").unwrap();
    assert_eq!(zoo_value.get("a").and_then(Value::as_i64), Some(255));
}

#[test]
fn value_helpers() {
    let z = zoo(); // (its `big` is an i128 beyond 64 bits: a Value holds it exactly)
    let v = stash_serial::to_value(&z).unwrap();
    assert_eq!(v.get("s").and_then(Value::as_str), Some("hé \"quoted\"\n😀"));
    assert_eq!(v.get("tuple").map(|t| matches!(t, Value::Tuple(_))), Some(true));
    assert_eq!(v.get("set"), Some(&Value::Set(vec!["a".into(), "b".into()])));
    assert_eq!(v.get("bytes"), Some(&Value::Bytes(vec![0, 1, 255])));
    assert!(v.get("none").unwrap().is_null());
    let v = stash_serial::to_value(&z).unwrap();
    let back: Zoo = stash_serial::from_value(v).unwrap();
    assert_eq!(back, z);
    assert_eq!(stash_serial::to_value(&(1i128 << 70)).unwrap().to_string(), "1180591620717411303424");
}

fn big_map(order: impl Iterator<Item = usize>) -> HashMap<String, i32> {
    let mut m = HashMap::new();
    for i in order {
        m.insert(format!("key-{i}"), i as i32);
    }
    m
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Holder {
    name: String,
    inner: Vec<HashMap<String, i32>>,
    by_int: HashMap<i32, HashMap<String, i32>>,
    tags: Set<String>,
}

#[test]
fn canonical_keys_for_every_serializer() {
    let a = big_map(0..50);
    let b = big_map((0..50).rev());
    let mut c = HashMap::with_capacity(200);
    c.extend(big_map((0..50).map(|i| (i * 17) % 50)));
    let holder = |m: &HashMap<String, i32>| Holder {
        name: "h".into(),
        inner: vec![m.clone(), HashMap::new()],
        by_int: (0..10).map(|i| (i, m.clone())).collect(),
        tags: (0..20).map(|i| format!("t{i}")).collect(),
    };
    for name in KNOWN {
        let s = serializer(name).unwrap();
        let keys: Vec<Vec<u8>> = [&a, &b, &c]
            .iter()
            .map(|m| {
                let mut out = Vec::new();
                encode_key(&*s, *m, &mut out).unwrap();
                out
            })
            .collect();
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "{name}: map key bytes differ");
        let back: HashMap<String, i32> = decode(&*s, &keys[0]).unwrap();
        assert_eq!(back, a, "{name}");

        let hkeys: Vec<Vec<u8>> = [&a, &b, &c]
            .iter()
            .map(|m| {
                let mut out = Vec::new();
                encode_key(&*s, &holder(m), &mut out).unwrap();
                // the object-safe path gives the same bytes
                let mut erased = Vec::new();
                s.serialize_key(&holder(m), &mut erased).unwrap();
                assert_eq!(out, erased, "{name}");
                out
            })
            .collect();
        assert!(hkeys.windows(2).all(|w| w[0] == w[1]), "{name}: nested key bytes differ");
        let back: Holder = decode(&*s, &hkeys[0]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, holder(&a), "{name}");
    }
}

/// Plain string keys take a shorter path than other keys: their bytes are still
/// the canonical ones (those of the object-safe path, which captures and sorts
/// every key), with whatever comes before them in the buffer kept, and keys
/// that merely start like a string (a newtype, an option, a char, a tuple) are
/// written as before.
#[test]
fn string_keys_write_their_canonical_bytes() {
    #[derive(Serialize)]
    struct Name(String);
    let long = "x".repeat(300);
    for name in KNOWN {
        let s = serializer(name).unwrap();
        let check = |key: &dyn erased_serde::Serialize, direct: &dyn Fn(&mut Vec<u8>)| {
            let mut out = b"prefix".to_vec();
            direct(&mut out);
            let mut erased = b"prefix".to_vec();
            s.serialize_key(key, &mut erased).unwrap();
            assert_eq!(out, erased, "{name}");
        };
        for text in ["", "key1", "é ünïcode \"quoted\"", long.as_str()] {
            check(&text, &|out| encode_key(&*s, text, out).unwrap());
            check(&text.to_string(), &|out| encode_key(&*s, &text.to_string(), out).unwrap());
            let back: String = decode(&*s, &{
                let mut out = Vec::new();
                encode_key(&*s, text, &mut out).unwrap();
                out
            })
            .unwrap();
            assert_eq!(back, text, "{name}");
        }
        check(&Name("n".into()), &|out| encode_key(&*s, &Name("n".into()), out).unwrap());
        check(&Some("s"), &|out| encode_key(&*s, &Some("s"), out).unwrap());
        check(&'c', &|out| encode_key(&*s, &'c', out).unwrap());
        check(&("a", 1), &|out| encode_key(&*s, &("a", 1), out).unwrap());
    }
}

#[test]
fn garbage_bytes_are_decode_errors() {
    let garbage: &[&[u8]] =
        &[b"", b"\xff\xfe\x00garbage{[", b"{\"id\": ", &[0xc1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]];
    for name in KNOWN {
        let s = serializer(name).unwrap();
        for g in garbage {
            match decode::<Zoo>(&*s, g) {
                Err(SerialError::Decode { serializer, .. }) => assert_eq!(serializer, *name),
                other => panic!("{name}: {other:?}"),
            }
            let _ = decode::<Value>(&*s, g); // must not panic
        }
        // trailing bytes are rejected
        let mut ok = Vec::new();
        encode_value(&*s, &5u32, &mut ok).unwrap();
        ok.extend_from_slice(b"\x00\x00");
        assert!(decode::<u32>(&*s, &ok).is_err(), "{name}");
    }
}

#[test]
fn wrong_type_names_the_expected_type() {
    for name in ["hashstash", "json", "msgpack"] {
        let s = serializer(name).unwrap();
        let mut bytes = Vec::new();
        encode_value(&*s, "text", &mut bytes).unwrap();
        let e = decode::<u32>(&*s, &bytes).unwrap_err();
        assert!(matches!(e, SerialError::Decode { .. }), "{name}: {e:?}");
        assert!(e.to_string().contains("u32"), "{name}: {e}");
        bytes.clear();
        encode_value(&*s, &Pair(1, "x".into()), &mut bytes).unwrap();
        bytes.clear();
        encode_value(&*s, &zoo_small(), &mut bytes).unwrap();
        let e = decode::<Vec<i32>>(&*s, &bytes).unwrap_err();
        assert!(e.to_string().contains("Vec<i32>"), "{name}: {e}");
    }
    let mut bytes = Vec::new();
    encode_value(&*serializer("postcard").unwrap(), &-1i64, &mut bytes).unwrap();
    let e = decode::<String>(&*serializer("postcard").unwrap(), &bytes).unwrap_err();
    assert!(matches!(e, SerialError::Decode { .. }));
    assert!(e.to_string().contains("String"), "{e}");
}

#[derive(Serialize)]
struct Small {
    x: i32,
}

fn zoo_small() -> Small {
    Small { x: 1 }
}

#[test]
fn binary_is_not_self_describing() {
    let s = serializer("postcard").unwrap();
    assert!(!s.is_self_describing());
    let mut bytes = Vec::new();
    encode_value(&*s, &zoo(), &mut bytes).unwrap();
    assert!(matches!(
        decode::<Value>(&*s, &bytes),
        Err(SerialError::NotSelfDescribing { serializer: "postcard" })
    ));
    let mut out = None::<Value>;
    let r = s.deserialize_with(&bytes, &mut |d| {
        out = Some(erased_serde::deserialize(d)?);
        Ok(())
    });
    assert!(matches!(r, Err(SerialError::NotSelfDescribing { .. })), "{r:?}");
}

#[test]
fn names() {
    let e = serializer("pickle").unwrap_err();
    assert!(matches!(e, SerialError::Unsupported { .. }));
    assert!(e.to_string().contains("Python-only") && e.to_string().contains("postcard"), "{e}");
    let e = serializer("yaml").unwrap_err();
    assert!(matches!(e, SerialError::Unknown { .. }));
    for n in KNOWN {
        assert!(e.to_string().contains(n), "{e}");
    }
}
