//! The built-in [`Serializer`]s.

use erased_serde::Deserializer as ErasedDeserializer;

use crate::error::SerialError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::depth::{Bounded, Budget, Checked, Nesting};
use crate::{Format, Serializer, Visit, canonical, decode_error, hashstash};

fn erased_to_decode(name: &'static str, e: impl std::fmt::Display) -> SerialError {
    SerialError::decode(name, e)
}

/// `hashstash`: JSON with Python hashstash's type tags (interoperable with Python).
#[derive(Debug, Clone, Copy, Default)]
pub struct Hashstash;

impl Serializer for Hashstash {
    fn name(&self) -> &'static str {
        "hashstash"
    }
    fn builtin(&self) -> Option<Format> {
        Some(Format::Hashstash)
    }
    fn is_self_describing(&self) -> bool {
        true
    }
    fn serialize_value(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut Vec<u8>,
    ) -> Result<(), SerialError> {
        hashstash::write(value, out, false).map_err(|e| SerialError::encode("hashstash", e))
    }
    fn serialize_key(&self, key: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), SerialError> {
        hashstash::write(key, out, true).map_err(|e| SerialError::encode("hashstash", e))
    }
    fn deserialize_with(&self, bytes: &[u8], visit: Visit<'_>) -> Result<(), SerialError> {
        let mut r = hashstash::Reader::new(bytes);
        visit(&mut <dyn ErasedDeserializer>::erase(&mut r))
            .map_err(|e| erased_to_decode("hashstash", r.fix(serde::de::Error::custom(e))))?;
        r.end().map_err(|e| erased_to_decode("hashstash", e))
    }
}

/// `json`: plain JSON, written by serde_json (compact; keys canonical).
///
/// Non-finite floats become `null` and map keys must serialize as strings or integers,
/// as in serde_json. Bytes are read by the `hashstash` reader without its type tags, so
/// integers of any size read exactly (as `i128`/`u128` or [`Value`](crate::Value)).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Serializer for Json {
    fn name(&self) -> &'static str {
        "json"
    }
    fn builtin(&self) -> Option<Format> {
        Some(Format::Json)
    }
    fn is_self_describing(&self) -> bool {
        true
    }
    fn serialize_value(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut Vec<u8>,
    ) -> Result<(), SerialError> {
        json_write(value, out)
    }
    fn serialize_key(&self, key: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), SerialError> {
        let c = canonical::canonical(&Checked::new(key, Nesting::JsonKey, "json"))
            .map_err(|e| SerialError::encode("json", e))?;
        json_write(&c, out)
    }
    fn deserialize_with(&self, bytes: &[u8], visit: Visit<'_>) -> Result<(), SerialError> {
        let mut r = hashstash::Reader::plain(bytes);
        visit(&mut <dyn ErasedDeserializer>::erase(&mut r))
            .map_err(|e| erased_to_decode("json", r.fix(serde::de::Error::custom(e))))?;
        r.end().map_err(|e| erased_to_decode("json", e))
    }
}

/// `msgpack`: MessagePack through rmp-serde, structs written as maps (field names kept,
/// so bytes decode into [`Value`](crate::Value) and survive added fields).
#[derive(Debug, Clone, Copy, Default)]
pub struct Msgpack;

fn json_write<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), SerialError> {
    let start = out.len();
    let checked = Checked::new(v, Nesting::Json, "json");
    serde_json::to_writer(&mut *out, &checked).map_err(|e| {
        out.truncate(start);
        SerialError::encode("json", checked.failure().unwrap_or_else(|| e.to_string()))
    })
}

fn msgpack_write<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), SerialError> {
    let start = out.len();
    let mut ser = rmp_serde::Serializer::new(&mut *out).with_struct_map();
    let checked = Checked::new(v, Nesting::Binary, "msgpack");
    let r = checked.serialize(&mut ser);
    r.map_err(|e| {
        out.truncate(start);
        SerialError::encode("msgpack", checked.failure().unwrap_or_else(|| e.to_string()))
    })
}

impl Serializer for Msgpack {
    fn name(&self) -> &'static str {
        "msgpack"
    }
    fn builtin(&self) -> Option<Format> {
        Some(Format::Msgpack)
    }
    fn is_self_describing(&self) -> bool {
        true
    }
    fn serialize_value(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut Vec<u8>,
    ) -> Result<(), SerialError> {
        msgpack_write(value, out)
    }
    fn serialize_key(&self, key: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), SerialError> {
        let c = canonical::canonical(&Checked::new(key, Nesting::Binary, "msgpack"))
            .map_err(|e| SerialError::encode("msgpack", e))?;
        msgpack_write(&c, out)
    }
    fn deserialize_with(&self, bytes: &[u8], visit: Visit<'_>) -> Result<(), SerialError> {
        let mut rest = bytes;
        let mut de = rmp_serde::Deserializer::new(&mut rest);
        let left = Budget::new();
        visit(&mut <dyn ErasedDeserializer>::erase(Bounded::new(&mut de, &left)))
            .map_err(|e| erased_to_decode("msgpack", e))?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(SerialError::decode("msgpack", format!("{} trailing bytes", rest.len())))
        }
    }
}

/// `postcard`: a compact, fast, non-self-describing binary format (the role pickle
/// plays in Python). Bytes decode only into the type that wrote them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

fn postcard_write<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), SerialError> {
    /// Appends to the caller's buffer in place.
    struct Tail<'a>(&'a mut Vec<u8>);
    impl Extend<u8> for Tail<'_> {
        fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
            self.0.extend(iter);
        }
    }
    let start = out.len();
    let checked = Checked::new(v, Nesting::Binary, "postcard");
    match postcard::to_extend(&checked, Tail(&mut *out)) {
        Ok(_) => Ok(()),
        Err(e) => {
            out.truncate(start);
            Err(SerialError::encode("postcard", checked.failure().unwrap_or_else(|| e.to_string())))
        }
    }
}

impl Serializer for Postcard {
    fn name(&self) -> &'static str {
        "postcard"
    }
    fn builtin(&self) -> Option<Format> {
        Some(Format::Postcard)
    }
    fn is_self_describing(&self) -> bool {
        false
    }
    fn serialize_value(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut Vec<u8>,
    ) -> Result<(), SerialError> {
        postcard_write(value, out)
    }
    fn serialize_key(&self, key: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), SerialError> {
        let c = canonical::canonical(&Checked::new(key, Nesting::Binary, "postcard"))
            .map_err(|e| SerialError::encode("postcard", e))?;
        postcard_write(&c, out)
    }
    fn deserialize_with(&self, bytes: &[u8], visit: Visit<'_>) -> Result<(), SerialError> {
        let mut de = postcard::Deserializer::from_bytes(bytes);
        let any = std::cell::Cell::new(false);
        let left = Budget::new();
        let guard = crate::guard::Guard { inner: Bounded::new(&mut de, &left), any: &any };
        visit(&mut <dyn ErasedDeserializer>::erase(guard)).map_err(|e| {
            if any.get() {
                SerialError::NotSelfDescribing { serializer: "postcard" }
            } else {
                SerialError::decode("postcard", left.failure().unwrap_or_else(|| e.to_string()))
            }
        })?;
        let rest = de.finalize().map_err(|e| SerialError::decode("postcard", e))?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(SerialError::decode("postcard", format!("{} trailing bytes", rest.len())))
        }
    }
}

/// Serialize a value with a built-in format, without `erased-serde`.
pub(crate) fn encode_value<T: Serialize + ?Sized>(
    b: Format,
    v: &T,
    out: &mut Vec<u8>,
) -> Result<(), SerialError> {
    match b {
        Format::Hashstash => hashstash::write(v, out, false).map_err(|e| SerialError::encode("hashstash", e)),
        Format::Json => json_write(v, out),
        Format::Msgpack => msgpack_write(v, out),
        Format::Postcard => postcard_write(v, out),
    }
}

/// Serialize a key canonically with a built-in format, without `erased-serde`.
pub(crate) fn encode_key<T: Serialize + ?Sized>(
    b: Format,
    k: &T,
    out: &mut Vec<u8>,
) -> Result<(), SerialError> {
    let name = builtin_name(b);
    if b == Format::Hashstash {
        return hashstash::write(k, out, true).map_err(|e| SerialError::encode(name, e));
    }
    // Most keys are one string, which is its own canonical form: written
    // directly, without capturing (and allocating) the tree that sorting needs.
    let start = out.len();
    match k.serialize(StrKey { format: b, out: &mut *out }) {
        Ok(()) => return Ok(()),
        Err(NotStrKey::Failed(e)) => return Err(e),
        Err(NotStrKey::Other) => out.truncate(start),
    }
    let nesting = if b == Format::Json { Nesting::JsonKey } else { Nesting::Binary };
    let c =
        canonical::canonical(&Checked::new(k, nesting, name)).map_err(|e| SerialError::encode(name, e))?;
    encode_value(b, &c, out)
}

/// Why [`StrKey`] did not write a key.
#[derive(Debug)]
enum NotStrKey {
    /// The key is not a plain string (or its `Serialize` failed): the canonical path decides.
    Other,
    /// Writing the string failed.
    Failed(SerialError),
}

impl std::fmt::Display for NotStrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotStrKey::Other => f.write_str("not a plain string key"),
            NotStrKey::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for NotStrKey {}

impl serde::ser::Error for NotStrKey {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotStrKey::Other
    }
}

/// Writes a key that serializes as exactly one string (`&str`, `String`) in
/// `format`, the bytes its canonical [`Content`](canonical::Content) tree would
/// write (a string has nothing to sort); refuses anything else at its first
/// serde call, before writing.
struct StrKey<'o> {
    format: Format,
    out: &'o mut Vec<u8>,
}

macro_rules! not_str_key {
    ($($f:ident($($t:ty),*);)*) => {
        $(fn $f(self, $(_: $t),*) -> Result<(), NotStrKey> { Err(NotStrKey::Other) })*
    };
}

impl serde::Serializer for StrKey<'_> {
    type Ok = ();
    type Error = NotStrKey;
    crate::__refuse_compounds!((), NotStrKey, NotStrKey::Other);

    fn serialize_str(self, v: &str) -> Result<(), NotStrKey> {
        encode_value(self.format, v, self.out).map_err(NotStrKey::Failed)
    }
    not_str_key! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
        serialize_i128(i128); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
        serialize_u128(u128); serialize_f32(f32); serialize_f64(f64); serialize_char(char);
        serialize_bytes(&[u8]); serialize_none(); serialize_unit(); serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), NotStrKey> {
        Err(NotStrKey::Other)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotStrKey> {
        Err(NotStrKey::Other)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotStrKey> {
        Err(NotStrKey::Other)
    }
}

fn builtin_name(b: Format) -> &'static str {
    match b {
        Format::Hashstash => "hashstash",
        Format::Json => "json",
        Format::Msgpack => "msgpack",
        Format::Postcard => "postcard",
    }
}

/// Decode with a built-in format, without `erased-serde`.
pub(crate) fn decode<T: DeserializeOwned>(b: Format, bytes: &[u8]) -> Result<T, SerialError> {
    let name = builtin_name(b);
    let err = |e: &dyn std::fmt::Display| decode_error::<T>(name, e);
    match b {
        Format::Hashstash => hashstash::from_slice(bytes).map_err(|e| err(&e)),
        Format::Json => hashstash::from_plain_slice(bytes).map_err(|e| err(&e)),
        Format::Msgpack => {
            let mut rest = bytes;
            let mut de = rmp_serde::Deserializer::new(&mut rest);
            let left = Budget::new();
            let v = T::deserialize(Bounded::new(&mut de, &left)).map_err(|e| err(&e))?;
            if !rest.is_empty() {
                return Err(err(&format_args!("{} trailing bytes", rest.len())));
            }
            Ok(v)
        }
        Format::Postcard => {
            let mut de = postcard::Deserializer::from_bytes(bytes);
            let left = Budget::new();
            let v = T::deserialize(Bounded::new(&mut de, &left)).map_err(|e| match e {
                postcard::Error::WontImplement => SerialError::NotSelfDescribing { serializer: "postcard" },
                e => match left.failure() {
                    Some(why) => err(&why),
                    None => err(&e),
                },
            })?;
            let rest = de.finalize().map_err(|e| err(&e))?;
            if !rest.is_empty() {
                return Err(err(&format_args!("{} trailing bytes", rest.len())));
            }
            Ok(v)
        }
    }
}
