//! Reading a [`Value`] from self-describing formats, and reading typed values out of a `Value`.

use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer, StringDeserializer};
use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};

use super::Value;
use crate::bigint::BigInt;
use crate::error::ValueError;

/// The newtype name through which `Value::deserialize` asks for a `Value` (so a `Value`
/// read out of a `Value` keeps its tuples and sets).
pub(crate) const VALUE_MAGIC: &str = "$hashstash::private::Value";
/// One-entry map keys carrying a tuple or set from a `Value` to a `Value`.
const TUPLE_MARK: &str = "$hashstash::private::Tuple";
const SET_MARK: &str = "$hashstash::private::Set";
const FROZENSET_MARK: &str = "$hashstash::private::FrozenSet";
/// One-entry map key carrying a [`BigInt`]'s digits from a `Value` to a `Value`.
const BIGINT_MARK: &str = "$hashstash::private::BigInt";
/// One-entry map key carrying a [`Value::Tagged`]'s fields (a map) from a `Value` to a `Value`.
const TAGGED_MARK: &str = "$hashstash::private::TaggedObject";

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::List(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut v = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(e) = map.next_entry()? {
            v.push(e);
        }
        if let [(Value::Str(mark), Value::Str(digits))] = v.as_slice()
            && mark == BIGINT_MARK
        {
            return BigInt::parse(digits)
                .map(Value::from)
                .ok_or_else(|| de::Error::custom(format_args!("{digits:?} is not an integer")));
        }
        if let [(Value::Str(mark), Value::Map(_))] = v.as_slice()
            && mark == TAGGED_MARK
            && let Some((_, Value::Map(fields))) = v.pop()
        {
            return Ok(super::tagged_value(Value::Map(fields)));
        }
        if let [(Value::Str(mark), Value::List(_))] = v.as_slice() {
            let make: Option<fn(Vec<Value>) -> Value> = match mark.as_str() {
                TUPLE_MARK => Some(Value::Tuple),
                SET_MARK => Some(Value::Set),
                FROZENSET_MARK => Some(Value::FrozenSet),
                _ => None,
            };
            if let Some(make) = make
                && let Some((_, Value::List(items))) = v.pop()
            {
                return Ok(make(items));
            }
        }
        Ok(Value::Map(v))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // Formats that report enums natively: `{variant: payload}`.
        let (name, variant): (Value, _) = data.variant()?;
        let payload: Value = variant.newtype_variant()?;
        Ok(Value::Map(vec![(name, payload)]))
    }
}

/// Reads any value from a self-describing format. Python type tags are resolved only
/// by the `hashstash` serializer (tag-aware); other formats give plain maps.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_newtype_struct(VALUE_MAGIC, ValueVisitor)
    }
}

impl Value {
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Int(i) => Unexpected::Signed(*i),
            Value::UInt(u) => Unexpected::Unsigned(*u),
            Value::BigInt(_) => Unexpected::Other("an integer wider than 64 bits"),
            Value::Float(f) => Unexpected::Float(*f),
            Value::Str(s) => Unexpected::Str(s),
            Value::Bytes(b) => Unexpected::Bytes(b),
            Value::List(_) | Value::Tuple(_) | Value::Set(_) | Value::FrozenSet(_) => Unexpected::Seq,
            Value::Map(_) | Value::Tagged(_) => Unexpected::Map,
        }
    }
}

fn visit_items<'de, V: Visitor<'de>>(items: Vec<Value>, visitor: V) -> Result<V::Value, ValueError> {
    let mut seq = SeqDeserializer::new(items.into_iter());
    let out = visitor.visit_seq(&mut seq)?;
    seq.end()?;
    Ok(out)
}

fn visit_bytes_as_seq<'de, V: Visitor<'de>>(bytes: Vec<u8>, visitor: V) -> Result<V::Value, ValueError> {
    let mut seq = SeqDeserializer::<_, ValueError>::new(bytes.into_iter());
    let out = visitor.visit_seq(&mut seq)?;
    seq.end()?;
    Ok(out)
}

impl<'de> IntoDeserializer<'de, ValueError> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

/// Reads typed values out of an owned [`Value`]: lists, tuples and sets all satisfy
/// sequence requests, bytes satisfy byte and `u8`-sequence requests, a string satisfies
/// a unit enum variant and a one-entry map a data-carrying variant.
impl<'de> Deserializer<'de> for Value {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(i) => visitor.visit_i64(i),
            Value::UInt(u) => visitor.visit_u64(u),
            // As a JSON reader presents it to a type that did not ask for 128 bits (serde's
            // buffered `Content`, floats): the nearest float. `i128`/`u128` get it exactly.
            Value::BigInt(b) => match b.to_f64() {
                f if f.is_finite() => visitor.visit_f64(f),
                _ => Err(de::Error::custom(format_args!("integer {b} is out of range"))),
            },
            Value::Float(f) => visitor.visit_f64(f),
            Value::Str(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::List(v) | Value::Tuple(v) | Value::Set(v) | Value::FrozenSet(v) => visit_items(v, visitor),
            Value::Map(m) => {
                let mut map = MapDeserializer::new(m.into_iter());
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
            Value::Tagged(fields) => {
                let mut map = MapDeserializer::new(fields.into_iter().map(|(k, v)| (Value::Str(k), v)));
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        if name != VALUE_MAGIC {
            return visitor.visit_newtype_struct(self);
        }
        let (mark, payload) = match self {
            Value::Tuple(items) => (TUPLE_MARK, Value::List(items)),
            Value::Set(items) => (SET_MARK, Value::List(items)),
            Value::FrozenSet(items) => (FROZENSET_MARK, Value::List(items)),
            Value::BigInt(b) => (BIGINT_MARK, Value::Str(b.to_string())),
            Value::Tagged(fields) => {
                (TAGGED_MARK, Value::Map(fields.into_iter().map(|(k, v)| (Value::Str(k), v)).collect()))
            }
            other => return other.deserialize_any(visitor),
        };
        let entry = (Value::Str(mark.to_owned()), payload);
        let mut map = MapDeserializer::new(std::iter::once(entry));
        let out = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(out)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Bytes(b) => visit_bytes_as_seq(b, visitor),
            Value::List(v) | Value::Tuple(v) | Value::Set(v) | Value::FrozenSet(v) => visit_items(v, visitor),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Map(_) | Value::Tagged(_) => self.deserialize_any(visitor),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::Map(_) | Value::Tagged(_) | Value::List(_) | Value::Tuple(_) => {
                self.deserialize_any(visitor)
            }
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::Str(s) => visitor.visit_enum(StringDeserializer::<ValueError>::new(s)),
            Value::Map(m) if m.len() == 1 => {
                let mut it = m.into_iter();
                match it.next() {
                    Some((tag, payload)) => visitor.visit_enum(Enum { tag, payload }),
                    None => Err(de::Error::custom("empty enum map")),
                }
            }
            other => Err(de::Error::invalid_type(
                other.unexpected(),
                &"an enum variant (a string or a one-entry map)",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_wide(visitor)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_wide(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string identifier
    }
}

impl Value {
    /// An `i128`/`u128` request: a `BigInt` within 128 bits is given exactly.
    fn deserialize_wide<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::BigInt(b) => match (b.to_i128(), b.to_u128()) {
                (Some(i), _) => visitor.visit_i128(i),
                (None, Some(u)) => visitor.visit_u128(u),
                (None, None) => Err(de::Error::custom(format_args!("integer {b} does not fit in 128 bits"))),
            },
            other => other.deserialize_any(visitor),
        }
    }
}

/// A data-carrying enum variant read from `{tag: payload}`.
struct Enum {
    tag: Value,
    payload: Value,
}

impl<'de> EnumAccess<'de> for Enum {
    type Error = ValueError;
    type Variant = Value;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Value), ValueError> {
        Ok((seed.deserialize(self.tag)?, self.payload))
    }
}

impl<'de> VariantAccess<'de> for Value {
    type Error = ValueError;
    fn unit_variant(self) -> Result<(), ValueError> {
        match self {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(other.unexpected(), &"a unit variant")),
        }
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, ValueError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_map(visitor)
    }
}
