//! One nesting limit for every serializer, enforced at write time and at read time.
//!
//! Readers must stop at some depth, or hostile bytes (`[[[[...`) overflow the stack.
//! A writer that went deeper would store a value no reader can read back, so every
//! writer refuses, with [`SerialError::Encode`](crate::SerialError::Encode), a value
//! nesting deeper than [`MAX_DEPTH`], and every reader accepts exactly that depth.
//!
//! The `hashstash` writer and reader count JSON arrays and objects themselves. The
//! other formats go through the wrappers here: [`Checked`] around the value being
//! written (json, msgpack, postcard) and [`Bounded`] around a msgpack or postcard
//! deserializer (`json` is read by the `hashstash` reader, without type tags).

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::ser::{self, Serialize, Serializer};

use crate::bigint::{BIGINT_MAGIC, Digits};

/// How deep containers may nest, in every serializer, as written and as read.
///
/// What counts as one level is the format's own container:
/// - `hashstash` and `json`: a JSON array or object. In `hashstash` a tuple or set is an
///   object holding an array (two levels), bytes and non-finite floats are an object
///   (one), a dict with non-string keys is an object holding a list of `[key, value]`
///   pairs (values three levels down); an enum variant with data is an object around it.
/// - `msgpack` and `postcard`: a sequence, tuple, map or struct, an enum variant (one
///   more level when it carries a tuple or struct), an `Option`'s `Some` and a
///   newtype struct (postcard reads those by recursion too).
///
/// Python's `json` module nests about 1,000 levels deep: a value nested deeper than
/// this limit that Python wrote cannot be read here.
pub const MAX_DEPTH: usize = 128;

/// The message of a refused write.
fn too_deep(format: &str) -> String {
    format!(
        "the value nests deeper than {MAX_DEPTH} levels (stash_serial::MAX_DEPTH), the most a {format} \
         reader accepts: refused, since it could not be read back"
    )
}

/// How a format nests serde's constructs (see [`MAX_DEPTH`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nesting {
    /// serde_json's output (`json`).
    Json,
    /// A `json` key being captured for sorting: as `Json`, but integers beyond 128
    /// bits stay as they are (they become JSON numbers when the sorted key is written).
    JsonKey,
    /// msgpack and postcard, as [`Bounded`] counts them when reading.
    Binary,
}

struct State {
    depth: Cell<usize>,
    nesting: Nesting,
    format: &'static str,
    /// Why this wrapper refused the value (postcard's errors drop the message).
    failure: RefCell<Option<String>>,
}

impl State {
    fn fail<E: ser::Error>(&self, msg: String) -> E {
        let e = E::custom(&msg);
        *self.failure.borrow_mut() = Some(msg);
        e
    }
    fn enter<E: ser::Error>(&self, levels: usize) -> Result<(), E> {
        let d = self.depth.get() + levels;
        if d > MAX_DEPTH {
            return Err(self.fail(too_deep(self.format)));
        }
        self.depth.set(d);
        Ok(())
    }
    fn leave(&self, levels: usize) {
        self.depth.set(self.depth.get().saturating_sub(levels));
    }
    /// A container with nothing inside (counted, then closed).
    fn leaf<E: ser::Error>(&self, levels: usize) -> Result<(), E> {
        self.enter(levels)?;
        self.leave(levels);
        Ok(())
    }
    fn binary(&self) -> usize {
        usize::from(self.nesting == Nesting::Binary)
    }
}

/// A value to write with serde_json, msgpack or postcard, refused when it nests deeper
/// than [`MAX_DEPTH`]; integers beyond 128 bits become JSON numbers (json) or are
/// refused (binary formats, which have no such integers).
pub(crate) struct Checked<'a, T: ?Sized> {
    value: &'a T,
    state: State,
}

impl<'a, T: ?Sized> Checked<'a, T> {
    pub(crate) fn new(value: &'a T, nesting: Nesting, format: &'static str) -> Self {
        Checked { value, state: State { depth: Cell::new(0), nesting, format, failure: RefCell::new(None) } }
    }

    /// The reason this wrapper refused the value, if it did: clearer than the
    /// serializer's own error, which may have lost it.
    pub(crate) fn failure(&self) -> Option<String> {
        self.state.failure.borrow_mut().take()
    }
}

impl<T: Serialize + ?Sized> Serialize for Checked<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Ser { inner: s, st: &self.state })
    }
}

/// A nested value under the same count.
struct Wrap<'s, T: ?Sized> {
    value: &'s T,
    st: &'s State,
}

impl<T: Serialize + ?Sized> Serialize for Wrap<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Ser { inner: s, st: self.st })
    }
}

struct Ser<'s, S> {
    inner: S,
    st: &'s State,
}

/// An open compound, closing `levels` levels at its end.
struct Compound<'s, C> {
    inner: C,
    st: &'s State,
    levels: usize,
}

macro_rules! leaf {
    ($($m:ident($($a:ident: $t:ty),*);)*) => {$(
        fn $m(self, $($a: $t),*) -> Result<S::Ok, S::Error> {
            self.inner.$m($($a),*)
        }
    )*};
}

impl<'s, S: Serializer> Ser<'s, S> {
    fn open<C>(
        st: &'s State,
        levels: usize,
        inner: impl FnOnce() -> Result<C, S::Error>,
    ) -> Result<Compound<'s, C>, S::Error> {
        st.enter::<S::Error>(levels)?;
        Ok(Compound { inner: inner()?, st, levels })
    }
}

impl<'s, S: Serializer> Serializer for Ser<'s, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<'s, S::SerializeSeq>;
    type SerializeTuple = Compound<'s, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<'s, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<'s, S::SerializeTupleVariant>;
    type SerializeMap = Compound<'s, S::SerializeMap>;
    type SerializeStruct = Compound<'s, S::SerializeStruct>;
    type SerializeStructVariant = Compound<'s, S::SerializeStructVariant>;

    leaf! {
        serialize_bool(v: bool); serialize_i8(v: i8); serialize_i16(v: i16); serialize_i32(v: i32);
        serialize_i64(v: i64); serialize_i128(v: i128); serialize_u8(v: u8); serialize_u16(v: u16);
        serialize_u32(v: u32); serialize_u64(v: u64); serialize_u128(v: u128); serialize_f32(v: f32);
        serialize_f64(v: f64); serialize_char(v: char); serialize_str(v: &str); serialize_none();
        serialize_unit(); serialize_unit_struct(name: &'static str);
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        // serde_json writes bytes as an array of numbers.
        if self.st.nesting != Nesting::Binary {
            self.st.leaf::<S::Error>(1)?;
        }
        self.inner.serialize_bytes(v)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        i: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.st.leaf::<S::Error>(self.st.binary())?;
        self.inner.serialize_unit_variant(name, i, variant)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<S::Ok, S::Error> {
        let levels = self.st.binary();
        self.st.enter::<S::Error>(levels)?;
        let out = self.inner.serialize_some(&Wrap { value: v, st: self.st });
        self.st.leave(levels);
        out
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        if name == BIGINT_MAGIC {
            let digits = v.serialize(Digits).map_err(ser::Error::custom)?;
            return match self.st.nesting {
                Nesting::Json => serde_json::value::RawValue::from_string(digits.to_string())
                    .map_err(ser::Error::custom)?
                    .serialize(self.inner),
                Nesting::JsonKey => self.inner.serialize_newtype_struct(name, digits.as_str()),
                Nesting::Binary => Err(self.st.fail(format!(
                    "integer {digits} is wider than 128 bits: {} has no such integer (hashstash and json write it)",
                    self.st.format
                ))),
            };
        }
        let levels = self.st.binary();
        self.st.enter::<S::Error>(levels)?;
        let out = self.inner.serialize_newtype_struct(name, &Wrap { value: v, st: self.st });
        self.st.leave(levels);
        out
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        i: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        self.st.enter::<S::Error>(1)?;
        let out = self.inner.serialize_newtype_variant(name, i, variant, &Wrap { value: v, st: self.st });
        self.st.leave(1);
        out
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let inner = self.inner;
        Self::open(self.st, 1, || inner.serialize_seq(len))
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let inner = self.inner;
        Self::open(self.st, 1, || inner.serialize_tuple(len))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let inner = self.inner;
        Self::open(self.st, 1, || inner.serialize_tuple_struct(name, len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        i: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let inner = self.inner;
        Self::open(self.st, 2, || inner.serialize_tuple_variant(name, i, variant, len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let inner = self.inner;
        Self::open(self.st, 1, || inner.serialize_map(len))
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeStruct, S::Error> {
        let inner = self.inner;
        Self::open(self.st, 1, || inner.serialize_struct(name, len))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        i: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let inner = self.inner;
        Self::open(self.st, 2, || inner.serialize_struct_variant(name, i, variant, len))
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! compound {
    ($trait:ident, $($m:ident),*) => {
        impl<C: ser::$trait> ser::$trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;
            $(fn $m<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), C::Error> {
                self.inner.$m(&Wrap { value: v, st: self.st })
            })*
            fn end(self) -> Result<C::Ok, C::Error> {
                self.st.leave(self.levels);
                self.inner.end()
            }
        }
    };
}
compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeMap, serialize_key, serialize_value);

impl<C: ser::SerializeStruct> ser::SerializeStruct for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_field(key, &Wrap { value: v, st: self.st })
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.st.leave(self.levels);
        self.inner.end()
    }
}

impl<C: ser::SerializeStructVariant> ser::SerializeStructVariant for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_field(key, &Wrap { value: v, st: self.st })
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.st.leave(self.levels);
        self.inner.end()
    }
}

// ----- reading -----

/// A msgpack or postcard deserializer that fails, instead of recursing, past
/// [`MAX_DEPTH`] levels (counted as [`Nesting::Binary`] writes them).
pub(crate) struct Bounded<'c, D> {
    inner: D,
    left: &'c Budget,
}

impl<'c, D> Bounded<'c, D> {
    /// `left` is shared by the whole read.
    pub(crate) fn new(inner: D, left: &'c Budget) -> Self {
        Bounded { inner, left }
    }
}

/// The levels still allowed for a whole read.
pub(crate) struct Budget {
    left: Cell<usize>,
    exceeded: Cell<bool>,
}

impl Budget {
    /// [`MAX_DEPTH`] levels.
    pub(crate) fn new() -> Budget {
        Budget { left: Cell::new(MAX_DEPTH), exceeded: Cell::new(false) }
    }
    /// Why the read failed, when it went too deep (postcard's errors drop the message).
    pub(crate) fn failure(&self) -> Option<String> {
        self.exceeded.get().then(too_deep_read)
    }
}

fn too_deep_read() -> String {
    format!("nesting deeper than {MAX_DEPTH} levels (stash_serial::MAX_DEPTH)")
}

fn enter<E: de::Error>(left: &Budget) -> Result<(), E> {
    match left.left.get().checked_sub(1) {
        Some(l) => {
            left.left.set(l);
            Ok(())
        }
        None => {
            left.exceeded.set(true);
            Err(E::custom(too_deep_read()))
        }
    }
}

fn leave(left: &Budget) {
    left.left.set(left.left.get() + 1);
}

/// Wraps a visitor so the accesses it is handed stay bounded.
struct BVisitor<'c, V> {
    inner: V,
    left: &'c Budget,
    /// Whether `visit_newtype_struct` is a level (not for the newtype through which
    /// a [`Value`](crate::Value) asks for itself).
    newtype: bool,
}

macro_rules! forward_de {
    ($($m:ident($($a:ident: $t:ty),*);)*) => {$(
        fn $m<V: Visitor<'de>>(self, $($a: $t,)* visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$m($($a,)* BVisitor { inner: visitor, left: self.left, newtype: true })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Bounded<'_, D> {
    type Error = D::Error;

    forward_de! {
        deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16(); deserialize_i32();
        deserialize_i64(); deserialize_i128(); deserialize_u8(); deserialize_u16(); deserialize_u32();
        deserialize_u64(); deserialize_u128(); deserialize_f32(); deserialize_f64(); deserialize_char();
        deserialize_str(); deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
        deserialize_option(); deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_seq(); deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize); deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier(); deserialize_ignored_any();
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let newtype = name != crate::value::VALUE_MAGIC;
        self.inner.deserialize_newtype_struct(name, BVisitor { inner: visitor, left: self.left, newtype })
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($m:ident($t:ty);)*) => {$(
        fn $m<E: de::Error>(self, v: $t) -> Result<V::Value, E> {
            self.inner.$m(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for BVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }
    forward_visit! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64); visit_i128(i128);
        visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64); visit_u128(u128);
        visit_f32(f32); visit_f64(f64); visit_char(char); visit_str(&str); visit_borrowed_str(&'de str);
        visit_string(String); visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        enter::<D::Error>(self.left)?;
        let out = self.inner.visit_some(Bounded { inner: d, left: self.left });
        leave(self.left);
        out
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        if !self.newtype {
            return self.inner.visit_newtype_struct(Bounded { inner: d, left: self.left });
        }
        enter::<D::Error>(self.left)?;
        let out = self.inner.visit_newtype_struct(Bounded { inner: d, left: self.left });
        leave(self.left);
        out
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        enter::<A::Error>(self.left)?;
        let out = self.inner.visit_seq(BAccess { inner: seq, left: self.left });
        leave(self.left);
        out
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        enter::<A::Error>(self.left)?;
        let out = self.inner.visit_map(BAccess { inner: map, left: self.left });
        leave(self.left);
        out
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        enter::<A::Error>(self.left)?;
        let out = self.inner.visit_enum(BAccess { inner: data, left: self.left });
        leave(self.left);
        out
    }
}

/// A bounded seed (the next value under the same count).
struct BSeed<'c, S> {
    inner: S,
    left: &'c Budget,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for BSeed<'_, S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Bounded { inner: d, left: self.left })
    }
}

/// A bounded sequence, map, enum or variant access.
struct BAccess<'c, A> {
    inner: A,
    left: &'c Budget,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for BAccess<'_, A> {
    type Error = A::Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.inner.next_element_seed(BSeed { inner: seed, left: self.left })
    }
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for BAccess<'_, A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(BSeed { inner: seed, left: self.left })
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(BSeed { inner: seed, left: self.left })
    }
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, 'c, A: EnumAccess<'de>> EnumAccess<'de> for BAccess<'c, A> {
    type Error = A::Error;
    type Variant = BAccess<'c, A::Variant>;
    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self::Variant), A::Error> {
        let (v, variant) = self.inner.variant_seed(BSeed { inner: seed, left: self.left })?;
        Ok((v, BAccess { inner: variant, left: self.left }))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for BAccess<'_, A> {
    type Error = A::Error;
    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(BSeed { inner: seed, left: self.left })
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(len, BVisitor { inner: visitor, left: self.left, newtype: true })
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.struct_variant(fields, BVisitor { inner: visitor, left: self.left, newtype: true })
    }
}
