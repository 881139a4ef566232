//! `Display` for [`Value`] in Python `repr` style.

use std::fmt::{self, Write as _};

use super::Value;

fn write_float(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    if x.is_nan() {
        return f.write_str("nan");
    }
    if x.is_infinite() {
        return f.write_str(if x > 0.0 { "inf" } else { "-inf" });
    }
    let mut buf = Vec::with_capacity(24);
    crate::hashstash::write_repr(&mut buf, x);
    f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
}

fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    f.write_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == quote => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char(quote)
}

fn write_bytes(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') { b'"' } else { b'\'' };
    f.write_char('b')?;
    f.write_char(char::from(quote))?;
    for &c in b {
        match c {
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b'\t' => f.write_str("\\t")?,
            c if c == quote => {
                f.write_char('\\')?;
                f.write_char(char::from(c))?;
            }
            0x20..=0x7e => f.write_char(char::from(c))?,
            c => write!(f, "\\x{c:02x}")?,
        }
    }
    f.write_char(char::from(quote))
}

fn write_items(f: &mut fmt::Formatter<'_>, items: &[Value]) -> fmt::Result {
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    Ok(())
}

/// A tagged object: `<function __main__.f>` for a function (Python shows
/// `<function f at 0x...>`), else its `__py__` (or `__pytype__`) and the other fields,
/// `decimal.Decimal({'__pytype__': 'reducer', '__args__': ['1.5']})`.
fn write_tagged(f: &mut fmt::Formatter<'_>, fields: &[(String, Value)]) -> fmt::Result {
    let text = |name: &str| fields.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_str());
    let (py, pytype) = (text("__py__"), text("__pytype__"));
    if let (Some(py), Some(kind @ ("function" | "classmethod" | "instancemethod"))) = (py, pytype) {
        return write!(f, "<{kind} {py}>");
    }
    let (name, skip) = match (py, pytype) {
        (Some(py), _) => (py, "__py__"),
        (None, Some(t)) => (t, "__pytype__"),
        (None, None) => ("object", ""),
    };
    f.write_str(name)?;
    f.write_str("({")?;
    for (i, (k, v)) in fields.iter().filter(|(k, _)| k != skip).enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_str(f, k)?;
        write!(f, ": {v}")?;
    }
    f.write_str("})")
}

/// Python `repr` style: `{'a': 1}`, `('x', 'y')`, `[1, 2.0]`, `{1, 2}`, `b'ab'`, `None`, `True`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::BigInt(b) => f.write_str(b.as_str()),
            Value::Float(x) => write_float(f, *x),
            Value::Str(s) => write_str(f, s),
            Value::Bytes(b) => write_bytes(f, b),
            Value::List(items) => {
                f.write_char('[')?;
                write_items(f, items)?;
                f.write_char(']')
            }
            Value::Tuple(items) => {
                f.write_char('(')?;
                write_items(f, items)?;
                if items.len() == 1 {
                    f.write_char(',')?;
                }
                f.write_char(')')
            }
            Value::Set(items) if items.is_empty() => f.write_str("set()"),
            Value::Set(items) => {
                f.write_char('{')?;
                write_items(f, items)?;
                f.write_char('}')
            }
            Value::FrozenSet(items) if items.is_empty() => f.write_str("frozenset()"),
            Value::FrozenSet(items) => {
                f.write_str("frozenset({")?;
                write_items(f, items)?;
                f.write_str("})")
            }
            Value::Map(entries) => {
                f.write_char('{')?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_char('}')
            }
            Value::Tagged(fields) => write_tagged(f, fields),
        }
    }
}
