//! Canonical keys for formats that do not sort maps themselves.
//!
//! A key is first captured as a shape-preserving [`Content`] tree (every serde call
//! with its names and integer widths), every map's entries (and every [`Set`](crate::Set)'s
//! items) are sorted by a total structural order, and the tree is replayed into the
//! target serializer. The replay makes the same calls as the original type, so a
//! non-self-describing format decodes the key back into that type.

use std::cmp::Ordering;

use serde::ser::{
    self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant,
};

use crate::error::ValueError;
use crate::set::{FROZENSET_MAGIC, SET_MAGIC};

/// An `f64` ordered by `total_cmp`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct F64(f64);

impl PartialEq for F64 {
    fn eq(&self, o: &Self) -> bool {
        self.0.total_cmp(&o.0) == Ordering::Equal
    }
}
impl Eq for F64 {}
impl PartialOrd for F64 {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for F64 {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0)
    }
}

type Name = &'static str;

/// One serde call tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Content {
    Unit,
    None,
    Bool(bool),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    U128(u128),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    I128(i128),
    F32(F64),
    F64(F64),
    Char(char),
    Str(String),
    Bytes(Vec<u8>),
    Some(Box<Content>),
    UnitStruct(Name),
    UnitVariant(Name, u32, Name),
    NewtypeStruct(Name, Box<Content>),
    NewtypeVariant(Name, u32, Name, Box<Content>),
    Seq(Vec<Content>),
    Tuple(Vec<Content>),
    TupleStruct(Name, Vec<Content>),
    TupleVariant(Name, u32, Name, Vec<Content>),
    Map(Vec<(Content, Content)>),
    Struct(Name, Vec<(Name, Content)>),
    StructVariant(Name, u32, Name, Vec<(Name, Content)>),
}

/// Capture `v` as a canonical [`Content`] tree (maps and sets sorted).
pub(crate) fn canonical<T: Serialize + ?Sized>(v: &T) -> Result<Content, ValueError> {
    let mut c = v.serialize(Capture)?;
    c.sort();
    Ok(c)
}

impl Content {
    /// Sort every map's entries and every set's items, bottom-up.
    fn sort(&mut self) {
        match self {
            Content::Some(b) | Content::NewtypeVariant(_, _, _, b) => b.sort(),
            Content::NewtypeStruct(name, b) => {
                b.sort();
                if (*name == SET_MAGIC || *name == FROZENSET_MAGIC)
                    && let Content::Seq(items) = &mut **b
                {
                    items.sort();
                    items.dedup();
                }
            }
            Content::Seq(v)
            | Content::Tuple(v)
            | Content::TupleStruct(_, v)
            | Content::TupleVariant(_, _, _, v) => v.iter_mut().for_each(Content::sort),
            Content::Map(m) => {
                for (k, v) in m.iter_mut() {
                    k.sort();
                    v.sort();
                }
                m.sort();
            }
            Content::Struct(_, f) | Content::StructVariant(_, _, _, f) => {
                f.iter_mut().for_each(|(_, v)| v.sort())
            }
            _ => {}
        }
    }
}

impl Serialize for Content {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Unit => s.serialize_unit(),
            Content::None => s.serialize_none(),
            Content::Bool(v) => s.serialize_bool(*v),
            Content::U8(v) => s.serialize_u8(*v),
            Content::U16(v) => s.serialize_u16(*v),
            Content::U32(v) => s.serialize_u32(*v),
            Content::U64(v) => s.serialize_u64(*v),
            Content::U128(v) => s.serialize_u128(*v),
            Content::I8(v) => s.serialize_i8(*v),
            Content::I16(v) => s.serialize_i16(*v),
            Content::I32(v) => s.serialize_i32(*v),
            Content::I64(v) => s.serialize_i64(*v),
            Content::I128(v) => s.serialize_i128(*v),
            Content::F32(v) => s.serialize_f32(v.0 as f32),
            Content::F64(v) => s.serialize_f64(v.0),
            Content::Char(v) => s.serialize_char(*v),
            Content::Str(v) => s.serialize_str(v),
            Content::Bytes(v) => s.serialize_bytes(v),
            Content::Some(v) => s.serialize_some(&**v),
            Content::UnitStruct(n) => s.serialize_unit_struct(n),
            Content::UnitVariant(n, i, v) => s.serialize_unit_variant(n, *i, v),
            Content::NewtypeStruct(n, v) => s.serialize_newtype_struct(n, &**v),
            Content::NewtypeVariant(n, i, var, v) => s.serialize_newtype_variant(n, *i, var, &**v),
            Content::Seq(items) => {
                let mut x = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    x.serialize_element(i)?;
                }
                x.end()
            }
            Content::Tuple(items) => {
                let mut x = s.serialize_tuple(items.len())?;
                for i in items {
                    x.serialize_element(i)?;
                }
                x.end()
            }
            Content::TupleStruct(n, items) => {
                let mut x = s.serialize_tuple_struct(n, items.len())?;
                for i in items {
                    x.serialize_field(i)?;
                }
                x.end()
            }
            Content::TupleVariant(n, idx, var, items) => {
                let mut x = s.serialize_tuple_variant(n, *idx, var, items.len())?;
                for i in items {
                    x.serialize_field(i)?;
                }
                x.end()
            }
            Content::Map(entries) => {
                let mut x = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    x.serialize_entry(k, v)?;
                }
                x.end()
            }
            Content::Struct(n, fields) => {
                let mut x = s.serialize_struct(n, fields.len())?;
                for (k, v) in fields {
                    x.serialize_field(k, v)?;
                }
                x.end()
            }
            Content::StructVariant(n, idx, var, fields) => {
                let mut x = s.serialize_struct_variant(n, *idx, var, fields.len())?;
                for (k, v) in fields {
                    x.serialize_field(k, v)?;
                }
                x.end()
            }
        }
    }
}

/// The serializer capturing a [`Content`] tree.
struct Capture;

/// An open compound being captured.
struct Open {
    kind: OpenKind,
    items: Vec<Content>,
    entries: Vec<(Content, Content)>,
    fields: Vec<(Name, Content)>,
    key: Option<Content>,
}

enum OpenKind {
    Seq,
    Tuple,
    TupleStruct(Name),
    TupleVariant(Name, u32, Name),
    Map,
    Struct(Name),
    StructVariant(Name, u32, Name),
}

impl Open {
    fn new(kind: OpenKind, len: Option<usize>) -> Self {
        let n = len.unwrap_or(0).min(4096);
        let (items, fields) = match kind {
            OpenKind::Struct(_) | OpenKind::StructVariant(..) => (Vec::new(), Vec::with_capacity(n)),
            OpenKind::Map => (Vec::new(), Vec::new()),
            _ => (Vec::with_capacity(n), Vec::new()),
        };
        Open { kind, items, entries: Vec::new(), fields, key: None }
    }
    fn element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        self.items.push(v.serialize(Capture)?);
        Ok(())
    }
    fn field<T: ?Sized + Serialize>(&mut self, k: Name, v: &T) -> Result<(), ValueError> {
        self.fields.push((k, v.serialize(Capture)?));
        Ok(())
    }
    fn finish(self) -> Content {
        match self.kind {
            OpenKind::Seq => Content::Seq(self.items),
            OpenKind::Tuple => Content::Tuple(self.items),
            OpenKind::TupleStruct(n) => Content::TupleStruct(n, self.items),
            OpenKind::TupleVariant(n, i, v) => Content::TupleVariant(n, i, v, self.items),
            OpenKind::Map => Content::Map(self.entries),
            OpenKind::Struct(n) => Content::Struct(n, self.fields),
            OpenKind::StructVariant(n, i, v) => Content::StructVariant(n, i, v, self.fields),
        }
    }
}

macro_rules! compound {
    ($($tr:ident :: $m:ident),*) => {$(
        impl ser::$tr for Open {
            type Ok = Content;
            type Error = ValueError;
            fn $m<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
                self.element(v)
            }
            fn end(self) -> Result<Content, ValueError> {
                Ok(self.finish())
            }
        }
    )*};
}
compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Open {
    type Ok = Content;
    type Error = ValueError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, k: &T) -> Result<(), ValueError> {
        self.key = Some(k.serialize(Capture)?);
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        let k = self.key.take().ok_or_else(|| ValueError("map value without a key".into()))?;
        self.entries.push((k, v.serialize(Capture)?));
        Ok(())
    }
    fn end(self) -> Result<Content, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for Open {
    type Ok = Content;
    type Error = ValueError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, k: Name, v: &T) -> Result<(), ValueError> {
        self.field(k, v)
    }
    fn end(self) -> Result<Content, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for Open {
    type Ok = Content;
    type Error = ValueError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, k: Name, v: &T) -> Result<(), ValueError> {
        self.field(k, v)
    }
    fn end(self) -> Result<Content, ValueError> {
        Ok(self.finish())
    }
}

impl ser::Serializer for Capture {
    type Ok = Content;
    type Error = ValueError;
    type SerializeSeq = Open;
    type SerializeTuple = Open;
    type SerializeTupleStruct = Open;
    type SerializeTupleVariant = Open;
    type SerializeMap = Open;
    type SerializeStruct = Open;
    type SerializeStructVariant = Open;

    fn serialize_bool(self, v: bool) -> Result<Content, ValueError> {
        Ok(Content::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Content, ValueError> {
        Ok(Content::I8(v))
    }
    fn serialize_i16(self, v: i16) -> Result<Content, ValueError> {
        Ok(Content::I16(v))
    }
    fn serialize_i32(self, v: i32) -> Result<Content, ValueError> {
        Ok(Content::I32(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Content, ValueError> {
        Ok(Content::I64(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Content, ValueError> {
        Ok(Content::I128(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Content, ValueError> {
        Ok(Content::U8(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Content, ValueError> {
        Ok(Content::U16(v))
    }
    fn serialize_u32(self, v: u32) -> Result<Content, ValueError> {
        Ok(Content::U32(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Content, ValueError> {
        Ok(Content::U64(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Content, ValueError> {
        Ok(Content::U128(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Content, ValueError> {
        Ok(Content::F32(F64(f64::from(v))))
    }
    fn serialize_f64(self, v: f64) -> Result<Content, ValueError> {
        Ok(Content::F64(F64(v)))
    }
    fn serialize_char(self, v: char) -> Result<Content, ValueError> {
        Ok(Content::Char(v))
    }
    fn serialize_str(self, v: &str) -> Result<Content, ValueError> {
        Ok(Content::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Content, ValueError> {
        Ok(Content::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Content, ValueError> {
        Ok(Content::None)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<Content, ValueError> {
        Ok(Content::Some(Box::new(v.serialize(self)?)))
    }
    fn serialize_unit(self) -> Result<Content, ValueError> {
        Ok(Content::Unit)
    }
    fn serialize_unit_struct(self, n: Name) -> Result<Content, ValueError> {
        Ok(Content::UnitStruct(n))
    }
    fn serialize_unit_variant(self, n: Name, i: u32, v: Name) -> Result<Content, ValueError> {
        Ok(Content::UnitVariant(n, i, v))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, n: Name, v: &T) -> Result<Content, ValueError> {
        Ok(Content::NewtypeStruct(n, Box::new(v.serialize(self)?)))
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        n: Name,
        i: u32,
        var: Name,
        v: &T,
    ) -> Result<Content, ValueError> {
        Ok(Content::NewtypeVariant(n, i, var, Box::new(v.serialize(self)?)))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Open, ValueError> {
        Ok(Open::new(OpenKind::Seq, len))
    }
    fn serialize_tuple(self, len: usize) -> Result<Open, ValueError> {
        Ok(Open::new(OpenKind::Tuple, Some(len)))
    }
    fn serialize_tuple_struct(self, n: Name, len: usize) -> Result<Open, ValueError> {
        Ok(Open::new(OpenKind::TupleStruct(n), Some(len)))
    }
    fn serialize_tuple_variant(self, n: Name, i: u32, v: Name, len: usize) -> Result<Open, ValueError> {
        Ok(Open::new(OpenKind::TupleVariant(n, i, v), Some(len)))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Open, ValueError> {
        Ok(Open::new(OpenKind::Map, len))
    }
    fn serialize_struct(self, n: Name, len: usize) -> Result<Open, ValueError> {
        Ok(Open::new(OpenKind::Struct(n), Some(len)))
    }
    fn serialize_struct_variant(self, n: Name, i: u32, v: Name, len: usize) -> Result<Open, ValueError> {
        Ok(Open::new(OpenKind::StructVariant(n, i, v), Some(len)))
    }
}
