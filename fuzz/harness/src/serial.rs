//! Serializer decoders, the round trip, and the hashstash reader against serde_json.

use std::collections::BTreeMap;

use arbitrary::Unstructured;
use stash_serial::{Value, decode, encode_key, encode_value, from_value, serializer};

use crate::model::{Record, arb_value, same, shuffled};

/// Decodes `data` with the serializer called `name` into [`Value`] (self-describing
/// formats) and into [`Record`]: errors are fine, panics are not. A `Value` the
/// `hashstash` reader accepts writes back to bytes that read as the same value.
pub fn serial_decode(name: &str, data: &[u8]) {
    let s = serializer(name).unwrap_or_else(|e| panic!("serializer {name}: {e}"));
    if s.is_self_describing()
        && let Ok(v) = decode::<Value>(&*s, data)
    {
        let _ = v.to_string();
        let mut key = Vec::new();
        let _ = encode_key(&*s, &v, &mut key);
        let mut bytes = Vec::new();
        if encode_value(&*s, &v, &mut bytes).is_ok() {
            let back = decode::<Value>(&*s, &bytes);
            if name == "hashstash" {
                let back = back
                    .unwrap_or_else(|e| panic!("{name}: a value read and written back does not read: {e}"));
                assert!(same(&v, &back), "{name}: read {v:?}, wrote it, read back {back:?}");
            }
        }
        let _ = from_value::<Record>(v);
    }
    if let Ok(r) = decode::<Record>(&*s, data) {
        let mut bytes = Vec::new();
        let _ = encode_value(&*s, &r, &mut bytes);
    }
}

/// Whether `v` survives `format` unchanged: which [`Value`] variants it can tell apart.
fn representable(format: &str, v: &Value) -> bool {
    let reserved = |k: &Value| k.as_str().is_some_and(|k| k.starts_with("__py"));
    match v {
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::Str(_) => true,
        Value::Float(f) => format != "json" || f.is_finite(),
        Value::Bytes(_) => format != "json",
        Value::Tuple(x) | Value::Set(x) => {
            format == "hashstash" && x.iter().all(|v| representable(format, v))
        }
        Value::List(x) => x.iter().all(|v| representable(format, v)),
        Value::Map(m) => m.iter().all(|(k, v)| {
            !reserved(k)
                && (format != "json" || matches!(k, Value::Str(_)))
                && representable(format, k)
                && representable(format, v)
        }),
        _ => false,
    }
}

/// An arbitrary [`Value`] serialized then deserialized is itself for every
/// self-describing serializer that can represent it; an arbitrary [`Record`] is itself
/// through every serializer; canonical key bytes do not depend on the order of map
/// and set entries.
pub fn roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(v) = arb_value(&mut u, 4) else { return };
    let record: Option<Record> = u.arbitrary().ok();
    for name in ["hashstash", "json", "msgpack"] {
        let s = serializer(name).expect("built in");
        let mut bytes = Vec::new();
        let ok = representable(name, &v);
        match encode_value(&*s, &v, &mut bytes) {
            Err(e) => assert!(!ok, "{name}: encode of {v:?} failed: {e}"),
            Ok(()) if ok => {
                let back = decode::<Value>(&*s, &bytes).unwrap_or_else(|e| {
                    panic!(
                        "{name}: {v:?} written as {:?} does not read: {e}",
                        String::from_utf8_lossy(&bytes)
                    )
                });
                assert!(
                    same(&v, &back),
                    "{name}: wrote {v:?} as {:?}, read {back:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            Ok(()) => {}
        }
    }
    // Typed values nest two serde levels per `Leaf`; deeper than MAX_DEPTH (128) is
    // refused by design.
    if let Some(r) = record.filter(|r| 2 + 2 * r.leaf_depth() < 120) {
        for name in ["hashstash", "json", "msgpack", "postcard"] {
            if name == "json" && !(r.finite() && r.fits_64()) {
                continue;
            }
            let s = serializer(name).expect("built in");
            let mut bytes = Vec::new();
            if let Err(e) = encode_value(&*s, &r, &mut bytes) {
                panic!("{name}: encode of {r:?} failed: {e}");
            }
            let back: Record =
                decode(&*s, &bytes).unwrap_or_else(|e| panic!("{name}: {r:?} does not read back: {e}"));
            assert_eq!(format!("{r:?}"), format!("{back:?}"), "{name}: typed round trip");
        }
    }
    let w = shuffled(&v, &mut u);
    for name in ["hashstash", "json", "msgpack", "postcard"] {
        let s = serializer(name).expect("built in");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ra = encode_key(&*s, &v, &mut a).map_err(|e| e.to_string());
        let rb = encode_key(&*s, &w, &mut b).map_err(|e| e.to_string());
        assert_eq!(ra.is_ok(), rb.is_ok(), "{name}: key of {v:?} vs reordered {w:?}: {ra:?} / {rb:?}");
        assert_eq!(a, b, "{name}: key bytes depend on map or set order: {v:?} vs {w:?}");
    }
}

/// Nesting depth of a JSON value.
fn depth(j: &serde_json::Value) -> usize {
    match j {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether an object key could be a hashstash type tag (those objects are read as
/// the tagged value: outside the JSON subset).
fn tagged(j: &serde_json::Value) -> bool {
    match j {
        serde_json::Value::Array(a) => a.iter().any(tagged),
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.starts_with("__") || tagged(v)),
        _ => false,
    }
}

fn agree(j: &serde_json::Value, h: &Value) -> bool {
    use serde_json::Value as J;
    match (j, h) {
        (J::Null, Value::Null) => true,
        (J::Bool(a), Value::Bool(b)) => a == b,
        (J::String(a), Value::Str(b)) => a == b,
        (J::Number(n), h) => {
            if let Some(i) = n.as_i64() {
                matches!(h, Value::Int(x) if *x == i)
            } else if let Some(u) = n.as_u64() {
                matches!(h, Value::UInt(x) if *x == u)
            } else {
                let f = n.as_f64().expect("a serde_json number is i64, u64 or f64");
                // An integer literal (`-0`, or wider than 64 bits) is a float to
                // serde_json and an int to Python: compare the numbers.
                let Some(x) = (match h {
                    Value::Float(x) => Some(*x),
                    other => other.as_f64(),
                }) else {
                    return false;
                };
                // serde_json's default float parsing is best-effort: measured, it can be
                // a few ulps off on long literals (its `float_roundtrip` feature fixes
                // that; not enabled here, it would change serde_json for the whole
                // workspace), where the hashstash reader rounds correctly, as Python
                // does. So: equal, or within 2^-48 relative.
                x == f || (x - f).abs() <= f.abs() * f64::EPSILON * 16.0
            }
        }
        (J::Array(a), Value::List(b)) => a.len() == b.len() && a.iter().zip(b).all(|(j, h)| agree(j, h)),
        (J::Object(a), Value::Map(b)) => {
            // serde_json keeps the last of duplicate keys.
            let mut last: BTreeMap<&str, &Value> = BTreeMap::new();
            for (k, v) in b {
                let Some(k) = k.as_str() else { return false };
                last.insert(k, v);
            }
            a.len() == last.len() && a.iter().all(|(k, j)| last.get(k.as_str()).is_some_and(|h| agree(j, h)))
        }
        _ => false,
    }
}

/// On JSON that serde_json accepts, without hashstash type tags, the `hashstash`
/// reader accepts it too and reads the same value.
pub fn differential_json(data: &[u8]) {
    let Ok(j) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if tagged(&j) {
        return;
    }
    let s = serializer("hashstash").expect("built in");
    let h = match decode::<Value>(&*s, data) {
        Ok(h) => h,
        // serde_json stops at 128 levels; the hashstash reader's limit may be lower.
        Err(_) if depth(&j) > 100 => return,
        Err(e) => panic!("serde_json reads {j} but the hashstash reader fails: {e}"),
    };
    assert!(agree(&j, &h), "serde_json reads {j}, the hashstash reader {h:?}");
}
