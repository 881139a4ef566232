//! Keys and values on the command line: JSON in the hashstash format (plain JSON,
//! plus the Python library's type tags for tuples, sets and bytes), and text that
//! is not JSON taken as a string.

use hashstash::Value;

use crate::fail::{Failure, Res};

/// `text` as a value: its JSON when it parses, else the string itself.
///
/// `42` is a number, `'"42"'` the string `42`, `cat` the string `cat`,
/// `'["bad","good"]'` a list, `'{"__py__":"builtins.tuple","__data__":["bad","good"]}'`
/// the tuple `('bad', 'good')`.
pub fn parse_arg(text: &str) -> Value {
    hashstash::deserialize::<Value>(text.as_bytes(), "hashstash")
        .unwrap_or_else(|_| Value::Str(text.to_string()))
}

/// `value` as one line of JSON in the hashstash format (lossless: tuples, sets,
/// bytes and big integers keep their type).
pub fn to_json(value: &Value) -> Res<String> {
    let bytes = hashstash::serialize(value, "hashstash")?;
    String::from_utf8(bytes)
        .map_err(|e| Failure::plain("encode error", format!("a value is not UTF-8 JSON: {e}")))
}

/// One JSON line of an import file as a `(key, value)` pair: `{"_key": K, "_value": V}`,
/// or `{"_key": K, field: ...}` (a record: the value is the map of its other fields).
/// `_version` and `_written_at` (from an export with metadata) are ignored.
pub fn import_pair(line: &str) -> Result<(Value, Value), String> {
    serde_json::from_str::<serde_json::Value>(line).map_err(|e| format!("not JSON: {e}"))?;
    let parsed = hashstash::deserialize::<Value>(line.as_bytes(), "hashstash")
        .map_err(|e| format!("not a hashstash JSON value: {}", e.report()))?;
    let Value::Map(fields) = parsed else {
        return Err("not a JSON object with a `_key` field".into());
    };
    let mut key = None;
    let mut value = None;
    let mut rest = Vec::new();
    for (name, cell) in fields {
        match name.as_str() {
            Some("_key") => key = Some(cell),
            Some("_value") => value = Some(cell),
            Some("_version" | "_written_at") => {}
            _ => rest.push((name, cell)),
        }
    }
    let key = key.ok_or("no `_key` field")?;
    match (value, rest.is_empty()) {
        (Some(value), true) => Ok((key, value)),
        (None, false) => Ok((key, Value::Map(rest))),
        (Some(_), false) => Err("both `_value` and other fields: expected one or the other".into()),
        (None, true) => Err("no `_value` field and no other fields".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_json_or_strings() {
        assert_eq!(parse_arg("42"), Value::Int(42));
        assert_eq!(parse_arg("\"42\""), Value::Str("42".into()));
        assert_eq!(parse_arg("cat"), Value::Str("cat".into()));
        assert_eq!(parse_arg("[1, 2"), Value::Str("[1, 2".into()));
        assert_eq!(parse_arg("null"), Value::Null);
        assert_eq!(
            parse_arg(r#"{"__py__":"builtins.tuple","__data__":["bad","good"]}"#),
            Value::Tuple(vec![Value::Str("bad".into()), Value::Str("good".into())])
        );
    }

    #[test]
    fn json_round_trips_tuples_sets_and_bytes() {
        for v in [
            Value::Tuple(vec![Value::Str("a".into()), Value::Int(1)]),
            Value::Set(vec![Value::Int(1), Value::Int(2)]),
            Value::Bytes(b"\x00\xff".to_vec()),
            Value::UInt(1 << 63),
            Value::Map(vec![(Value::Int(1), Value::Str("one".into()))]),
        ] {
            let text = to_json(&v).unwrap();
            assert_eq!(parse_arg(&text), v, "{text}");
        }
    }

    #[test]
    fn import_lines() {
        let (k, v) = import_pair(r#"{"_key": "cat", "_value": [1, 2]}"#).unwrap();
        assert_eq!((k, v), (Value::Str("cat".into()), Value::List(vec![Value::Int(1), Value::Int(2)])));
        let (_, v) = import_pair(r#"{"_key": "rex", "kind": "dog", "_version": 1}"#).unwrap();
        assert_eq!(v, Value::Map(vec![(Value::Str("kind".into()), Value::Str("dog".into()))]));
        for bad in
            ["", "[1]", "{\"_value\": 1}", "{\"_key\": 1}", "{\"_key\": 1, \"_value\": 2, \"x\": 3}", "{"]
        {
            assert!(import_pair(bad).is_err(), "{bad}");
        }
    }
}
