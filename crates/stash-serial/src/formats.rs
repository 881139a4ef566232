//! The built-in [`Serializer`]s.

use erased_serde::Deserializer as ErasedDeserializer;

use crate::error::SerialError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Builtin, Serializer, Visit, canonical, decode_error, hashstash};

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
    fn builtin(&self) -> Option<Builtin> {
        Some(Builtin::Hashstash)
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

/// `json`: plain JSON through serde_json (compact; keys canonical).
///
/// Non-finite floats become `null` and map keys must serialize as strings or integers,
/// as in serde_json.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Serializer for Json {
    fn name(&self) -> &'static str {
        "json"
    }
    fn builtin(&self) -> Option<Builtin> {
        Some(Builtin::Json)
    }
    fn is_self_describing(&self) -> bool {
        true
    }
    fn serialize_value(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut Vec<u8>,
    ) -> Result<(), SerialError> {
        serde_json::to_writer(out, value).map_err(|e| SerialError::encode("json", e))
    }
    fn serialize_key(&self, key: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), SerialError> {
        let c = canonical::canonical(key).map_err(|e| SerialError::encode("json", e))?;
        serde_json::to_writer(out, &c).map_err(|e| SerialError::encode("json", e))
    }
    fn deserialize_with(&self, bytes: &[u8], visit: Visit<'_>) -> Result<(), SerialError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        visit(&mut <dyn ErasedDeserializer>::erase(&mut de)).map_err(|e| erased_to_decode("json", e))?;
        de.end().map_err(|e| erased_to_decode("json", e))
    }
}

/// `msgpack`: MessagePack through rmp-serde, structs written as maps (field names kept,
/// so bytes decode into [`Value`](crate::Value) and survive added fields).
#[derive(Debug, Clone, Copy, Default)]
pub struct Msgpack;

fn msgpack_write<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), SerialError> {
    let mut ser = rmp_serde::Serializer::new(out).with_struct_map();
    v.serialize(&mut ser).map_err(|e| SerialError::encode("msgpack", e))
}

impl Serializer for Msgpack {
    fn name(&self) -> &'static str {
        "msgpack"
    }
    fn builtin(&self) -> Option<Builtin> {
        Some(Builtin::Msgpack)
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
        let c = canonical::canonical(key).map_err(|e| SerialError::encode("msgpack", e))?;
        msgpack_write(&c, out)
    }
    fn deserialize_with(&self, bytes: &[u8], visit: Visit<'_>) -> Result<(), SerialError> {
        let mut rest = bytes;
        let mut de = rmp_serde::Deserializer::new(&mut rest);
        visit(&mut <dyn ErasedDeserializer>::erase(&mut de)).map_err(|e| erased_to_decode("msgpack", e))?;
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
    let buf = std::mem::take(out);
    match postcard::to_extend(v, buf) {
        Ok(buf) => {
            *out = buf;
            Ok(())
        }
        Err(e) => Err(SerialError::encode("postcard", e)),
    }
}

impl Serializer for Postcard {
    fn name(&self) -> &'static str {
        "postcard"
    }
    fn builtin(&self) -> Option<Builtin> {
        Some(Builtin::Postcard)
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
        let c = canonical::canonical(key).map_err(|e| SerialError::encode("postcard", e))?;
        postcard_write(&c, out)
    }
    fn deserialize_with(&self, bytes: &[u8], visit: Visit<'_>) -> Result<(), SerialError> {
        let mut de = postcard::Deserializer::from_bytes(bytes);
        let any = std::cell::Cell::new(false);
        let guard = crate::guard::Guard { inner: &mut de, any: &any };
        visit(&mut <dyn ErasedDeserializer>::erase(guard)).map_err(|e| {
            if any.get() {
                SerialError::NotSelfDescribing { serializer: "postcard" }
            } else {
                SerialError::decode("postcard", e)
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
    b: Builtin,
    v: &T,
    out: &mut Vec<u8>,
) -> Result<(), SerialError> {
    match b {
        Builtin::Hashstash => {
            hashstash::write(v, out, false).map_err(|e| SerialError::encode("hashstash", e))
        }
        Builtin::Json => serde_json::to_writer(out, v).map_err(|e| SerialError::encode("json", e)),
        Builtin::Msgpack => msgpack_write(v, out),
        Builtin::Postcard => postcard_write(v, out),
    }
}

/// Serialize a key canonically with a built-in format, without `erased-serde`.
pub(crate) fn encode_key<T: Serialize + ?Sized>(
    b: Builtin,
    k: &T,
    out: &mut Vec<u8>,
) -> Result<(), SerialError> {
    let name = builtin_name(b);
    if b == Builtin::Hashstash {
        return hashstash::write(k, out, true).map_err(|e| SerialError::encode(name, e));
    }
    let c = canonical::canonical(k).map_err(|e| SerialError::encode(name, e))?;
    encode_value(b, &c, out)
}

fn builtin_name(b: Builtin) -> &'static str {
    match b {
        Builtin::Hashstash => "hashstash",
        Builtin::Json => "json",
        Builtin::Msgpack => "msgpack",
        Builtin::Postcard => "postcard",
    }
}

/// Decode with a built-in format, without `erased-serde`.
pub(crate) fn decode<T: DeserializeOwned>(b: Builtin, bytes: &[u8]) -> Result<T, SerialError> {
    let name = builtin_name(b);
    let err = |e: &dyn std::fmt::Display| decode_error::<T>(name, e);
    match b {
        Builtin::Hashstash => hashstash::from_slice(bytes).map_err(|e| err(&e)),
        Builtin::Json => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let v = T::deserialize(&mut de).map_err(|e| err(&e))?;
            de.end().map_err(|e| err(&e))?;
            Ok(v)
        }
        Builtin::Msgpack => {
            let mut rest = bytes;
            let v = T::deserialize(&mut rmp_serde::Deserializer::new(&mut rest)).map_err(|e| err(&e))?;
            if !rest.is_empty() {
                return Err(err(&format_args!("{} trailing bytes", rest.len())));
            }
            Ok(v)
        }
        Builtin::Postcard => {
            let mut de = postcard::Deserializer::from_bytes(bytes);
            let v = T::deserialize(&mut de).map_err(|e| match e {
                postcard::Error::WontImplement => SerialError::NotSelfDescribing { serializer: "postcard" },
                e => err(&e),
            })?;
            let rest = de.finalize().map_err(|e| err(&e))?;
            if !rest.is_empty() {
                return Err(err(&format_args!("{} trailing bytes", rest.len())));
            }
            Ok(v)
        }
    }
}
