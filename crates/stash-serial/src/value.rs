//! [`Value`]: a dynamic, Python-shaped value (what a stash holds when the type is unknown).

mod de;
mod display;
mod ser;

use base64::Engine as _;
use serde::{Serialize, de::DeserializeOwned};

use crate::bigint::BigInt;
use crate::error::SerialError;
use crate::set::{FROZENSET_MAGIC, SET_MAGIC};
use crate::tagged::TAGGED_MAGIC;

pub(crate) use de::VALUE_MAGIC;
pub(crate) use ser::ValueSerializer;

/// A dynamic value mirroring what Python hashstash stores.
///
/// Maps keep insertion order and may have non-string keys (Python dicts with int or
/// tuple keys).
///
/// Integers are exact at any size, as Python's: `Int` holds those that fit in `i64`,
/// `UInt` only those above `i64::MAX` that fit in `u64`, and `BigInt` every other one
/// (its decimal digits). An integer `Value` writes back as the same number: the same
/// digits in `hashstash` and `json`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    Null,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// An integer above `i64::MAX` that fits in `u64`.
    UInt(u64),
    /// An integer outside `i64::MIN..=u64::MAX` (a Python `int` wider than 64 bits),
    /// exactly.
    BigInt(BigInt),
    /// A float (NaN and infinities included).
    Float(f64),
    /// A string.
    Str(String),
    /// Python `bytes`.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A Python tuple.
    Tuple(Vec<Value>),
    /// A Python `set` (written `builtins.set`).
    Set(Vec<Value>),
    /// A Python `frozenset` (written `builtins.frozenset`): a different key from the
    /// [`Set`](Value::Set) of the same items, as in Python's stash.
    FrozenSet(Vec<Value>),
    /// A dict, in insertion order.
    Map(Vec<(Value, Value)>),
    /// A Python object in the library's tagged form that has no variant of its own:
    /// the fields of `{"__py__": ..., "__pytype__": ..., ...}` in their order, such as
    /// a function (`{"__py__": "__main__.f", "__pytype__": "function", "__source__":
    /// "def f(x): ..."}`, what [`FnKey`](crate::FnKey) writes), a `Decimal` or a path.
    ///
    /// It is written back as it is, not escaped as a dict holding reserved keys is, so
    /// such a key read from a Python stash (`keys()`) finds its own entry. A map read by
    /// the `hashstash` serializer becomes `Tagged` when it has a `__py__` or `__pytype__`
    /// key and is not one of the forms above (tuple, set, frozenset, bytes, a dict with
    /// non-string keys, a non-finite float). Other serializers write the fields as a
    /// plain map and read it back as a [`Map`](Value::Map). [`Value::get`] reads its
    /// fields; typed values deserialize from it as from a map.
    Tagged(Vec<(String, Value)>),
}

impl Value {
    /// The string, if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The integer, if this is an `Int` (or a `UInt`/`Bool` that fits).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }
    /// The integer, if this is an `Int`, a `UInt` or a `BigInt` that fits in `i128`.
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(i128::from(*i)),
            Value::UInt(u) => Some(i128::from(*u)),
            Value::BigInt(b) => b.to_i128(),
            _ => None,
        }
    }
    /// The number as a float, if this is a `Float`, `Int`, `UInt` or a `BigInt`
    /// within the float range (rounded to the nearest float).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            Value::BigInt(b) => Some(b.to_f64()).filter(|f| f.is_finite()),
            _ => None,
        }
    }
    /// The boolean, if this is a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    /// The value under string key `key`, if this is a map holding it (or the field
    /// `key` of a [`Tagged`](Value::Tagged) object, `"__py__"` for one).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            Value::Tagged(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    /// Whether this is `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Convert any serializable value into a [`Value`].
pub fn to_value<T: Serialize + ?Sized>(v: &T) -> Result<Value, SerialError> {
    v.serialize(ValueSerializer).map_err(|e| SerialError::encode("value", e))
}

/// Build a typed value from a [`Value`].
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, SerialError> {
    T::deserialize(v).map_err(|e| crate::decode_error::<T>("value", e))
}

/// Whether a map with these keys is a Python tagged object (it has a `__py__` or
/// `__pytype__` key).
fn is_tagged<'a>(mut keys: impl Iterator<Item = &'a str>) -> bool {
    keys.any(|k| matches!(k, "__py__" | "__pytype__"))
}

/// A tagged object's fields, when every key is a string (as in JSON).
fn tagged_fields(entries: Vec<(Value, Value)>) -> Value {
    if !entries.iter().all(|(k, _)| matches!(k, Value::Str(_))) {
        return Value::Map(entries);
    }
    Value::Tagged(
        entries
            .into_iter()
            .filter_map(|(k, v)| match k {
                Value::Str(k) => Some((k, v)),
                _ => None,
            })
            .collect(),
    )
}

/// A map written through [`Tagged`](crate::Tagged) as a [`Value`]: `Value::Tagged` when
/// it is a Python tagged object with string keys, else unchanged.
pub(crate) fn tagged_value(v: Value) -> Value {
    match v {
        Value::Map(entries) if is_tagged(entries.iter().filter_map(|(k, _)| k.as_str())) => {
            tagged_fields(entries)
        }
        other => other,
    }
}

/// Turn a map carrying Python hashstash type tags into the value it stands for
/// (tuple, set, bytes, non-string-keyed dict, non-finite float); other maps with
/// tags become [`Value::Tagged`] with their fields unchanged, so unknown tagged
/// objects (functions, Decimal, paths, ...) lose nothing and write back as they were.
pub(crate) fn untag(v: Value) -> Value {
    let Value::Map(entries) = v else { return v };
    if !is_tagged(entries.iter().filter_map(|(k, _)| k.as_str())) {
        return Value::Map(entries);
    }
    if entries.len() > 3 {
        return tagged_fields(entries);
    }
    let field = |name: &str| entries.iter().position(|(k, _)| k.as_str() == Some(name));
    let text = |i: Option<usize>| i.and_then(|i| entries[i].1.as_str());
    let py = text(field("__py__"));
    let pytype = text(field("__pytype__"));
    let data = field("__data__");
    enum Out {
        Keep,
        Tuple(usize),
        Set(usize),
        FrozenSet(usize),
        Bytes(Vec<u8>),
        Dict(usize),
        Float(f64),
    }
    let out = match (py, pytype) {
        (Some("builtins.tuple"), None) if entries.len() == 2 => match data {
            Some(i) if matches!(entries[i].1, Value::List(_)) => Out::Tuple(i),
            _ => Out::Keep,
        },
        (Some(kind @ ("builtins.set" | "builtins.frozenset")), None) if entries.len() == 2 => match data {
            Some(i) if matches!(entries[i].1, Value::List(_)) => {
                if kind == "builtins.set" {
                    Out::Set(i)
                } else {
                    Out::FrozenSet(i)
                }
            }
            _ => Out::Keep,
        },
        (Some("builtins.bytes"), Some("bytes")) | (None, Some("bytes")) => {
            match text(data).map(|s| base64::engine::general_purpose::STANDARD.decode(s)) {
                Some(Ok(b)) => Out::Bytes(b),
                _ => Out::Keep,
            }
        }
        (None, Some("dict")) if entries.len() == 2 => match field("__items__") {
            Some(i) => match &entries[i].1 {
                Value::List(items) if items.iter().all(|p| matches!(p, Value::List(kv) if kv.len() == 2)) => {
                    Out::Dict(i)
                }
                _ => Out::Keep,
            },
            None => Out::Keep,
        },
        (None, Some("float")) if entries.len() == 2 => match text(field("__val__")) {
            Some("nan") => Out::Float(f64::NAN),
            Some("inf") => Out::Float(f64::INFINITY),
            Some("-inf") => Out::Float(f64::NEG_INFINITY),
            _ => Out::Keep,
        },
        _ => Out::Keep,
    };
    let take = |mut entries: Vec<(Value, Value)>, i: usize| match entries.swap_remove(i).1 {
        Value::List(items) => items,
        _ => Vec::new(),
    };
    match out {
        Out::Keep => tagged_fields(entries),
        Out::Tuple(i) => Value::Tuple(take(entries, i)),
        Out::Set(i) => Value::Set(take(entries, i)),
        Out::FrozenSet(i) => Value::FrozenSet(take(entries, i)),
        Out::Bytes(b) => Value::Bytes(b),
        Out::Float(f) => Value::Float(f),
        Out::Dict(i) => Value::Map(
            take(entries, i)
                .into_iter()
                .filter_map(|p| match p {
                    Value::List(kv) => {
                        let mut it = kv.into_iter();
                        Some((it.next()?, it.next()?))
                    }
                    _ => None,
                })
                .collect(),
        ),
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeTuple};
        match self {
            Value::Null => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::BigInt(b) => b.serialize(s),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(x) => s.serialize_str(x),
            Value::Bytes(b) => s.serialize_bytes(b),
            Value::List(items) => s.collect_seq(items),
            Value::Tuple(items) => {
                let mut t = s.serialize_tuple(items.len())?;
                for x in items {
                    t.serialize_element(x)?;
                }
                t.end()
            }
            Value::Set(items) => s.serialize_newtype_struct(SET_MAGIC, items),
            Value::FrozenSet(items) => s.serialize_newtype_struct(FROZENSET_MAGIC, items),
            Value::Map(entries) => {
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Value::Tagged(fields) => s.serialize_newtype_struct(TAGGED_MAGIC, &Fields(fields)),
        }
    }
}

/// A tagged object's fields, serialized as a map.
struct Fields<'a>(&'a [(String, Value)]);

impl Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or(Value::UInt(v), Value::Int)
    }
}
impl From<i128> for Value {
    fn from(v: i128) -> Self {
        match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => u64::try_from(v).map_or_else(|_| Value::BigInt(BigInt::from(v)), Value::UInt),
        }
    }
}
impl From<u128> for Value {
    fn from(v: u128) -> Self {
        u64::try_from(v).map_or_else(|_| Value::BigInt(BigInt::from(v)), Value::from)
    }
}
/// An integer of any size: `Int` or `UInt` when it fits in 64 bits, else `BigInt`.
impl From<BigInt> for Value {
    fn from(v: BigInt) -> Self {
        if let Some(i) = v.to_i128() {
            return Value::from(i);
        }
        Value::BigInt(v)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::from(v as u64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(v)
    }
}
impl From<Vec<(Value, Value)>> for Value {
    fn from(v: Vec<(Value, Value)>) -> Self {
        Value::Map(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
impl From<()> for Value {
    fn from(_: ()) -> Self {
        Value::Null
    }
}
