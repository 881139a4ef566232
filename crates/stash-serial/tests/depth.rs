//! One nesting limit for every serializer: a value nested `MAX_DEPTH` levels is written
//! and read back, one level more is refused at write time (so nothing written is
//! unreadable), and hostile bytes nested 100,000 levels are a clean decode error.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use stash_serial::{KNOWN, MAX_DEPTH, SerialError, Value, decode, encode_key, encode_value, serializer};

/// A list nested `n` levels (one container per level in every format).
fn lists(n: usize) -> Value {
    let mut v = Value::Int(1);
    for _ in 0..n {
        v = Value::List(vec![v]);
    }
    v
}

/// A recursive type: in msgpack and postcard each level is a newtype and a sequence.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct L(Vec<L>);

fn nest(n: usize) -> L {
    let mut v = L(Vec::new());
    for _ in 1..n {
        v = L(vec![v]);
    }
    v
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum E {
    A(Box<E>),
    B,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct P(Option<Box<P>>);

fn enc<T: Serialize + ?Sized>(name: &str, v: &T) -> Result<Vec<u8>, SerialError> {
    let mut out = Vec::new();
    encode_value(&*serializer(name)?, v, &mut out)?;
    Ok(out)
}

fn dec<T: serde::de::DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, SerialError> {
    decode(&*serializer(name).unwrap(), bytes)
}

fn assert_refused<T: std::fmt::Debug>(name: &str, r: Result<T, SerialError>) {
    match r {
        Err(SerialError::Encode { detail, .. }) => {
            assert!(detail.contains(&format!("deeper than {MAX_DEPTH} levels")), "{name}: {detail}");
            assert!(detail.contains("MAX_DEPTH"), "{name}: {detail}");
        }
        other => panic!("{name}: expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_limit_is_128() {
    assert_eq!(MAX_DEPTH, 128);
}

#[test]
fn a_value_at_the_limit_reads_back_and_one_level_more_is_refused_at_write() {
    for &name in KNOWN {
        let at = lists(MAX_DEPTH);
        let bytes = enc(name, &at).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name != "postcard" {
            assert_eq!(dec::<Value>(name, &bytes).unwrap(), at, "{name}");
        }
        assert_refused(name, enc(name, &lists(MAX_DEPTH + 1)));
        let mut key = Vec::new();
        encode_key(&*serializer(name).unwrap(), &lists(MAX_DEPTH), &mut key).unwrap();
        assert_refused(name, encode_key(&*serializer(name).unwrap(), &lists(MAX_DEPTH + 1), &mut Vec::new()));
        // the erased path too
        assert!(matches!(
            serializer(name).unwrap().serialize_value(&lists(MAX_DEPTH + 1), &mut Vec::new()),
            Err(SerialError::Encode { .. })
        ));
    }
}

#[test]
fn typed_values_at_the_limit_read_back_in_every_serializer() {
    for &name in KNOWN {
        // JSON: one array per level; msgpack/postcard: a newtype and a sequence per level.
        let (depth, over) =
            if matches!(name, "hashstash" | "json") { (MAX_DEPTH, MAX_DEPTH + 1) } else { (64, 65) };
        let bytes = enc(name, &nest(depth)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(dec::<L>(name, &bytes).unwrap(), nest(depth), "{name}");
        assert_refused(name, enc(name, &nest(over)));
        if over == 65 {
            // 1 + 2 * 64 levels
            assert_refused(name, enc(name, &vec![nest(64)]));
        }
    }
}

/// What the `hashstash` format adds around a value counts: a tuple is an object holding
/// an array, and a dict that turns out to need the `[key, value]` form (a non-string
/// key after string ones) moves what it already holds two levels down.
#[test]
fn hashstash_counts_its_tagged_forms() {
    let mut t = Value::Int(1);
    for _ in 0..MAX_DEPTH / 2 {
        t = Value::Tuple(vec![t]);
    }
    let bytes = enc("hashstash", &t).unwrap();
    assert_eq!(dec::<Value>("hashstash", &bytes).unwrap(), t);
    assert_refused("hashstash", enc("hashstash", &Value::Tuple(vec![t.clone()])));
    assert_refused("hashstash", enc("hashstash", &Value::List(vec![t])));

    // {"a": <125 lists>, 1: "x"}: 1 + 2 + 125 = 128 levels once in the `__items__` form
    let dict = |n| Value::Map(vec![("a".into(), lists(n)), (Value::Int(1), "x".into())]);
    let bytes = enc("hashstash", &dict(MAX_DEPTH - 3)).unwrap();
    assert_eq!(dec::<Value>("hashstash", &bytes).unwrap(), dict(MAX_DEPTH - 3));
    assert_refused("hashstash", enc("hashstash", &dict(MAX_DEPTH - 2)));
    let s = serializer("hashstash").unwrap();
    let mut key = Vec::new();
    encode_key(&*s, &dict(MAX_DEPTH - 3), &mut key).unwrap();
    assert!(dec::<Value>("hashstash", &key).is_ok());
    assert_refused("hashstash", encode_key(&*s, &dict(MAX_DEPTH - 2), &mut Vec::new()));
    // the same for a reserved string key
    let reserved = Value::Map(vec![("a".into(), lists(MAX_DEPTH - 2)), ("__py__".into(), "x".into())]);
    assert_refused("hashstash", enc("hashstash", &reserved));
    assert_refused("hashstash", encode_key(&*s, &reserved, &mut Vec::new()));
}

/// The issue's case: 1,200 levels used to be written and then unreadable.
#[test]
fn twelve_hundred_levels_are_refused_not_written() {
    for &name in KNOWN {
        assert_refused(name, enc(name, &lists(1200)));
    }
}

#[test]
fn hostile_deep_bytes_are_decode_errors_not_crashes() {
    const N: usize = 100_000;
    let json = "[".repeat(N);
    let objects = r#"{"a":"#.repeat(N);
    let enums = format!("{}\"B\"{}", r#"{"A":"#.repeat(N), "}".repeat(N));
    for name in ["hashstash", "json"] {
        for bytes in [json.as_bytes(), objects.as_bytes(), enums.as_bytes()] {
            assert!(matches!(dec::<Value>(name, bytes), Err(SerialError::Decode { .. })), "{name}");
            assert!(dec::<IgnoredAny>(name, bytes).is_err(), "{name}");
            assert!(dec::<L>(name, bytes).is_err(), "{name}");
            assert!(dec::<E>(name, bytes).is_err(), "{name}");
        }
        // exactly at the limit, read; one more, refused
        let at = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(dec::<Value>(name, at.as_bytes()).is_ok(), "{name}");
        assert!(dec::<IgnoredAny>(name, at.as_bytes()).is_ok(), "{name}");
        let over = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(dec::<Value>(name, over.as_bytes()).is_err(), "{name}");
        assert!(dec::<IgnoredAny>(name, over.as_bytes()).is_err(), "{name}");
    }

    // msgpack: fixarrays of one; one-entry maps {"A": ...} (an enum, which rmp-serde
    // itself does not count); a chain of `Some`s, which consume no byte at all
    let mut arrays = vec![0x91u8; N];
    arrays.push(0xc0);
    let mut maps = Vec::new();
    for _ in 0..N {
        maps.extend_from_slice(&[0x81, 0xa1, b'A']);
    }
    maps.extend_from_slice(&[0xa1, b'B']);
    for bytes in [&arrays, &maps] {
        assert!(matches!(dec::<Value>("msgpack", bytes), Err(SerialError::Decode { .. })));
        assert!(dec::<IgnoredAny>("msgpack", bytes).is_err());
        assert!(dec::<L>("msgpack", bytes).is_err());
        assert!(dec::<E>("msgpack", bytes).is_err());
    }
    assert!(dec::<P>("msgpack", &[0x01]).is_err());
    let mut at = vec![0x91u8; MAX_DEPTH];
    at.push(0xc0);
    assert!(dec::<Value>("msgpack", &at).is_ok());
    let mut over = vec![0x91u8; MAX_DEPTH + 1];
    over.push(0xc0);
    assert!(dec::<Value>("msgpack", &over).is_err());

    // postcard: sequences of one, enum variants, `Some`s
    let mut seqs = vec![1u8; N];
    seqs.push(0);
    let mut variants = vec![0u8; N];
    variants.push(1);
    match dec::<L>("postcard", &seqs) {
        Err(SerialError::Decode { detail, .. }) => assert!(detail.contains("MAX_DEPTH"), "{detail}"),
        other => panic!("{other:?}"),
    }
    assert!(dec::<E>("postcard", &variants).is_err());
    assert!(dec::<P>("postcard", &seqs).is_err());
    // through the object-safe path as well
    let s = serializer("postcard").unwrap();
    let r = s.deserialize_with(&seqs, &mut |d| erased_serde::deserialize::<L>(d).map(drop));
    assert!(matches!(r, Err(SerialError::Decode { .. })));
}
