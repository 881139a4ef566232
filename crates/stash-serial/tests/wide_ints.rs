//! Integers wider than 64 bits: written exactly and read back exactly, typed
//! (`i128`/`u128`) by every serializer and as a [`Value`] (any size) by the JSON ones.

use serde::{Deserialize, Serialize};
use stash_serial::{BigInt, KNOWN, SerialError, Value, decode, encode_key, encode_value, serializer};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Signed {
    v: i128,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Unsigned {
    v: u128,
}

const SIGNED: [i128; 6] = [i128::MIN, i128::MAX, 1 << 70, -(1 << 70), i64::MIN as i128 - 1, -1];
const UNSIGNED: [u128; 4] = [u128::MAX, 1 << 70, u64::MAX as u128 + 1, 0];
/// A Python int of 40 digits (beyond 128 bits).
const FORTY: &str = "1234567890123456789012345678901234567890";

fn enc<T: Serialize + ?Sized>(name: &str, v: &T) -> Result<Vec<u8>, SerialError> {
    let mut out = Vec::new();
    encode_value(&*serializer(name)?, v, &mut out)?;
    Ok(out)
}

fn dec<T: serde::de::DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, SerialError> {
    decode(&*serializer(name)?, bytes)
}

#[test]
fn i128_and_u128_round_trip_exactly_in_every_serializer() {
    for name in KNOWN {
        for v in SIGNED {
            let bytes = enc(name, &Signed { v }).unwrap();
            assert_eq!(dec::<Signed>(name, &bytes).unwrap(), Signed { v }, "{name} {v}");
            // and bare, through the object-safe path
            let s = serializer(name).unwrap();
            let mut bare = Vec::new();
            s.serialize_value(&v, &mut bare).unwrap();
            let mut back = None;
            s.deserialize_with(&bare, &mut |d| {
                back = Some(erased_serde::deserialize::<i128>(d)?);
                Ok(())
            })
            .unwrap();
            assert_eq!(back, Some(v), "{name} erased {v}");
        }
        for v in UNSIGNED {
            let bytes = enc(name, &Unsigned { v }).unwrap();
            assert_eq!(dec::<Unsigned>(name, &bytes).unwrap(), Unsigned { v }, "{name} {v}");
        }
    }
}

#[test]
fn json_formats_write_the_digits_python_writes() {
    for name in ["hashstash", "json"] {
        assert_eq!(enc(name, &Signed { v: 1 << 70 }).unwrap(), br#"{"v":1180591620717411303424}"#);
        assert_eq!(
            enc(name, &Signed { v: i128::MIN }).unwrap(),
            br#"{"v":-170141183460469231731687303715884105728}"#
        );
        assert_eq!(
            enc(name, &Unsigned { v: u128::MAX }).unwrap(),
            br#"{"v":340282366920938463463374607431768211455}"#
        );
    }
    // what Python 1.2.0 wrote for {"v": 2**70} (stdlib json: orjson refuses the int)
    let py = br#"{"v": 1180591620717411303424}"#;
    for name in ["hashstash", "json"] {
        assert_eq!(dec::<Signed>(name, py).unwrap(), Signed { v: 1 << 70 });
        assert_eq!(dec::<Unsigned>(name, py).unwrap(), Unsigned { v: 1 << 70 });
        // a float when a float is asked for
        assert_eq!(dec::<std::collections::BTreeMap<String, f64>>(name, py).unwrap()["v"], 2f64.powi(70));
        // 2^128 does not fit: a clear error, not a wrapped number
        let e = dec::<Unsigned>(name, br#"{"v": 340282366920938463463374607431768211456}"#).unwrap_err();
        assert!(e.to_string().contains("does not fit in 128 bits"), "{e}");
    }
}

/// Python ints of any size (2^70, -(2^70), 40 digits, 2^200) read back as exact `Value`s,
/// and write back as the same numbers; the key bytes are Python's (goldens from hashstash 1.2.0).
#[test]
fn python_ints_of_any_size_are_exact_values() {
    let two_200 = "1606938044258990275541962092341162602522202993782792835301376";
    let py_value = format!(r#"{{"v": {FORTY}, "w": -{FORTY}, "x": 1180591620717411303424, "y": {two_200}}}"#);
    for name in ["hashstash", "json"] {
        let v: Value = dec(name, py_value.as_bytes()).unwrap();
        assert_eq!(v.get("v"), Some(&Value::BigInt(FORTY.parse().unwrap())), "{name}");
        assert_eq!(v.get("w").map(Value::to_string), Some(format!("-{FORTY}")));
        assert_eq!(v.get("x"), Some(&Value::from(1i128 << 70)));
        assert_eq!(v.get("x").and_then(Value::as_i128), Some(1 << 70));
        assert_eq!(v.get("y").map(Value::to_string).as_deref(), Some(two_200));
        // written back: the same numbers, and bytes that read back to the same Value
        let bytes = enc(name, &v).unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            format!(r#"{{"v":{FORTY},"w":-{FORTY},"x":1180591620717411303424,"y":{two_200}}}"#)
        );
        let again: Value = dec(name, &bytes).unwrap();
        assert_eq!(again, v);
        assert_eq!(enc(name, &again).unwrap(), bytes, "{name}: byte-identical the second time");
        // a Value read back into a typed i128 where it fits
        let x: Signed =
            stash_serial::from_value(Value::Map(vec![("v".into(), v.get("x").unwrap().clone())])).unwrap();
        assert_eq!(x.v, 1 << 70);
    }
    // keys: Python's canonical bytes, so a big-int key hashes as in Python
    let forty: BigInt = FORTY.parse().unwrap();
    let key =
        Value::Map(vec![(Value::from(1i128 << 70), "y".into()), (Value::BigInt(forty.clone()), "x".into())]);
    let mut k = Vec::new();
    encode_key(&*serializer("hashstash").unwrap(), &key, &mut k).unwrap();
    assert_eq!(
        String::from_utf8(k).unwrap(),
        format!(r#"{{"__items__": [[1180591620717411303424, "y"], [{FORTY}, "x"]], "__pytype__": "dict"}}"#)
    );
    let tuple = Value::Tuple(vec![Value::from(1i128 << 70), Value::from(-(1i128 << 70))]);
    let mut k = Vec::new();
    encode_key(&*serializer("hashstash").unwrap(), &tuple, &mut k).unwrap();
    assert_eq!(
        k,
        br#"{"__data__": [1180591620717411303424, -1180591620717411303424], "__py__": "builtins.tuple"}"#
    );
    let mut k = Vec::new();
    encode_key(&*serializer("json").unwrap(), &Value::List(vec![Value::BigInt(forty)]), &mut k).unwrap();
    assert_eq!(k, format!("[{FORTY}]").as_bytes());
}

/// msgpack and postcard have no integers beyond 128 bits: a `Value` holding one is
/// refused at write time, never written as something else; within 128 bits rmp-serde
/// writes 16 bytes (documented: typed reads get the number back, a `Value` sees bytes).
#[test]
fn binary_formats_refuse_integers_beyond_128_bits() {
    let forty = Value::BigInt(FORTY.parse().unwrap());
    for name in ["msgpack", "postcard"] {
        match enc(name, &vec![forty.clone()]) {
            Err(SerialError::Encode { detail, .. }) => {
                assert!(detail.contains("wider than 128 bits"), "{detail}")
            }
            other => panic!("{name}: {other:?}"),
        }
        let within = Value::from(-(1i128 << 70));
        let bytes = enc(name, &within).unwrap();
        assert_eq!(dec::<i128>(name, &bytes).unwrap(), -(1 << 70), "{name}");
    }
    let bytes = enc("msgpack", &Value::from(1u128 << 70)).unwrap();
    assert_eq!(dec::<Value>("msgpack", &bytes).unwrap(), Value::Bytes((1u128 << 70).to_be_bytes().to_vec()));
}

#[test]
fn a_value_beyond_128_bits_still_reads_into_a_float_when_asked() {
    let v: f64 = dec("hashstash", FORTY.as_bytes()).unwrap();
    assert_eq!(v, 1.2345678901234568e39);
    assert!(dec::<f64>("hashstash", format!("1{}", "0".repeat(400)).as_bytes()).is_err());
    let huge: Value = dec("hashstash", format!("-1{}", "0".repeat(400)).as_bytes()).unwrap();
    assert_eq!(huge.to_string(), format!("-1{}", "0".repeat(400)));
}
