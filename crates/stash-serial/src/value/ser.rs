//! Serializing any `Serialize` type into a [`Value`].

use serde::ser::{self, Serialize};

use super::Value;
use crate::bigint::{BIGINT_MAGIC, Digits};
use crate::error::ValueError;
use crate::set::{FROZENSET_MAGIC, SET_MAGIC};
use crate::tagged::TAGGED_MAGIC;

/// A serde serializer producing a [`Value`].
pub(crate) struct ValueSerializer;

/// An open compound being collected.
pub(crate) struct Collect {
    items: Vec<Value>,
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
    /// `Some(variant)` when the compound is an enum variant's payload.
    variant: Option<&'static str>,
    tuple: bool,
}

impl Collect {
    fn new(len: Option<usize>, variant: Option<&'static str>, tuple: bool) -> Self {
        Collect {
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            entries: Vec::new(),
            key: None,
            variant,
            tuple,
        }
    }
    fn wrap(variant: Option<&'static str>, v: Value) -> Value {
        match variant {
            Some(name) => Value::Map(vec![(Value::Str(name.to_owned()), v)]),
            None => v,
        }
    }
    fn end_seq(self) -> Value {
        let v = if self.tuple { Value::Tuple(self.items) } else { Value::List(self.items) };
        Collect::wrap(self.variant, v)
    }
    fn end_map(self) -> Value {
        Collect::wrap(self.variant, Value::Map(self.entries))
    }
}

impl ser::SerializeSeq for Collect {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        self.items.push(v.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.end_seq())
    }
}
impl ser::SerializeTuple for Collect {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.end_seq())
    }
}
impl ser::SerializeTupleStruct for Collect {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.end_seq())
    }
}
impl ser::SerializeTupleVariant for Collect {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.end_seq())
    }
}
impl ser::SerializeMap for Collect {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, k: &T) -> Result<(), ValueError> {
        self.key = Some(k.serialize(ValueSerializer)?);
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        let k = self.key.take().ok_or_else(|| ValueError("map value without a key".into()))?;
        self.entries.push((k, v.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.end_map())
    }
}
impl ser::SerializeStruct for Collect {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), ValueError> {
        self.entries.push((Value::Str(name.to_owned()), v.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.end_map())
    }
}
impl ser::SerializeStructVariant for Collect {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), ValueError> {
        ser::SerializeStruct::serialize_field(self, name, v)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.end_map())
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = Collect;
    type SerializeTuple = Collect;
    type SerializeTupleStruct = Collect;
    type SerializeTupleVariant = Collect;
    type SerializeMap = Collect;
    type SerializeStruct = Collect;
    type SerializeStructVariant = Collect;

    fn serialize_bool(self, v: bool) -> Result<Value, ValueError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ValueError> {
        Ok(Value::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ValueError> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ValueError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ValueError> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ValueError> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<Value, ValueError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, ValueError> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<Value, ValueError> {
        if name == BIGINT_MAGIC {
            return v.serialize(Digits).map(Value::from).map_err(|e| ValueError(e.to_string()));
        }
        let inner = v.serialize(self)?;
        if name == TAGGED_MAGIC {
            return Ok(super::tagged_value(inner));
        }
        if name == SET_MAGIC || name == FROZENSET_MAGIC {
            return match inner {
                Value::List(items) | Value::Tuple(items) | Value::Set(items) | Value::FrozenSet(items) => {
                    Ok(if name == SET_MAGIC { Value::Set(items) } else { Value::FrozenSet(items) })
                }
                other => Ok(other),
            };
        }
        Ok(inner)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Value, ValueError> {
        Ok(Collect::wrap(Some(variant), v.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Collect, ValueError> {
        Ok(Collect::new(len, None, false))
    }
    fn serialize_tuple(self, len: usize) -> Result<Collect, ValueError> {
        Ok(Collect::new(Some(len), None, true))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Collect, ValueError> {
        Ok(Collect::new(Some(len), None, true))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Collect, ValueError> {
        Ok(Collect::new(Some(len), Some(variant), false))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Collect, ValueError> {
        Ok(Collect::new(None, None, false))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Collect, ValueError> {
        Ok(Collect::new(None, None, false))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Collect, ValueError> {
        Ok(Collect::new(None, Some(variant), false))
    }
}
