//! Serializers for hashstash, chosen at run time.
//!
//! A stash turns keys and values into bytes with a [`Serializer`] picked by name:
//!
//! | name | format | self-describing | notes |
//! |---|---|---|---|
//! | `hashstash` | JSON with Python hashstash's type tags | yes | key bytes identical to Python's |
//! | `json` | plain JSON (serde_json) | yes | |
//! | `msgpack` | MessagePack (rmp-serde, structs as maps) | yes | |
//! | `postcard` | compact binary (postcard) | no | fastest; the role pickle plays in Python |
//!
//! Keys are written *canonically*: the same logical key gives the same bytes in every
//! process (maps sorted, [`Set`] items sorted), because key bytes are hashed.
//! Use [`Set`] for set-like keys, never a bare `HashSet`.
//!
//! ```
//! use std::collections::HashMap;
//! use stash_serial::{Value, decode, encode_key, encode_value, serializer};
//!
//! let s = serializer("hashstash")?;
//! let mut key = Vec::new();
//! encode_key(&*s, &("bad", "good"), &mut key)?;
//! assert_eq!(key, br#"{"__data__": ["bad", "good"], "__py__": "builtins.tuple"}"#);
//!
//! let mut bytes = Vec::new();
//! encode_value(&*s, &HashMap::from([(1, "x")]), &mut bytes)?;
//! assert_eq!(bytes, br#"{"__pytype__":"dict","__items__":[[1,"x"]]}"#);
//! let back: HashMap<i64, String> = decode(&*s, &bytes)?;
//! assert_eq!(back[&1], "x");
//! let dynamic: Value = decode(&*s, &bytes)?;
//! assert_eq!(dynamic.to_string(), "{1: 'x'}");
//! # Ok::<(), stash_serial::SerialError>(())
//! ```
//!
//! # Integers wider than 64 bits
//! Python ints have no size limit; here they are exact at any size:
//! - `i128`/`u128` fields round-trip in every serializer. `hashstash` and `json` write
//!   the digits (what Python writes: `{"v": 1180591620717411303424}`) and read them back
//!   exactly when an `i128`/`u128` is asked for; a request for a float gets the nearest
//!   float, and a number that does not fit is an error, never a wrapped number.
//! - A [`Value`] holds them exactly: `Int` (fits `i64`), `UInt` (fits `u64`) or
//!   [`Value::BigInt`] (anything else, as its decimal [`BigInt`] digits, also beyond 128
//!   bits). Read from `hashstash` or `json`, it writes back the same JSON number, so an
//!   int Python wrote reads as the same int and the bytes Rust writes for it read back
//!   byte-identically; key bytes are Python's (`{"__items__": [[1180591620717411303424, ...`).
//! - msgpack and postcard have no integers beyond 128 bits and refuse a `BigInt` that
//!   wide ([`SerialError::Encode`]). msgpack writes `i128`/`u128` as rmp-serde does, 16
//!   big-endian bytes: read back exactly into `i128`/`u128`, but a `Value` (or Python,
//!   whose msgpack serializer refuses ints beyond 64 bits) sees bytes.
//!
//! # Nesting depth
//! Every reader stops at [`MAX_DEPTH`] (128) nested containers, so hostile bytes
//! (`[[[[...`) give a decode error instead of overflowing the stack; every writer
//! refuses, with [`SerialError::Encode`] naming the limit, a value nested deeper, so a
//! value that was written can always be read back. What counts as a level in each
//! format is listed at [`MAX_DEPTH`]. Python's `json` nests about 1,000 levels: a value
//! that deep written by Python cannot be read here (a decode error, not a crash).
#![deny(missing_docs)]

mod bigint;
mod canonical;
mod depth;
mod error;
mod formats;
mod function;
mod guard;
mod hashstash;
mod set;
mod tagged;
mod value;

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use bigint::BigInt;
pub use depth::MAX_DEPTH;
pub use error::{SerialError, ValueError};
pub use formats::{Hashstash, Json, Msgpack, Postcard};
pub use function::FnKey;
pub use set::{FrozenSet, Set};
pub use tagged::Tagged;
pub use value::{Value, from_value, to_value};

/// The callback [`Serializer::deserialize_with`] hands a deserializer to.
pub(crate) type Visit<'a> =
    &'a mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error>;

/// A serializer chosen at run time (object safe, through `erased-serde`).
pub trait Serializer: Send + Sync + fmt::Debug {
    /// The name used in stash paths and configs (`"hashstash"`, `"json"`, ...).
    fn name(&self) -> &'static str;
    /// Whether bytes can be decoded without knowing the type (into [`Value`]).
    fn is_self_describing(&self) -> bool;
    /// Serialize a value, appending to `out`.
    fn serialize_value(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut Vec<u8>,
    ) -> Result<(), SerialError>;
    /// Serialize a key canonically, appending to `out`: the same logical key gives
    /// the same bytes in every process (maps sorted), because keys are hashed.
    fn serialize_key(&self, key: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), SerialError>;
    /// Call `visit` with a deserializer reading `bytes`; fails if `bytes` has trailing data.
    fn deserialize_with(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error>,
    ) -> Result<(), SerialError>;

    /// Which built-in format this is, letting the generic helpers skip `erased-serde`
    /// (measured: decoding a 10-field record through the erased path is ~4x slower).
    #[doc(hidden)]
    fn builtin(&self) -> Option<Format> {
        None
    }
}

/// A serializer by name: what a stash's configuration holds. Parsed from its
/// name (`"postcard".parse()`), shown and serialized as its name; an unknown name
/// is [`SerialError::Unknown`], and a Python-only one (`"pickle"`)
/// [`SerialError::Unsupported`]. The generic helpers also use it for their
/// devirtualized fast path.
///
/// ```
/// use stash_serial::Format;
/// let f: Format = "postcard".parse()?;
/// assert_eq!((f, f.name()), (Format::Postcard, "postcard"));
/// assert!("pickle".parse::<Format>().is_err());
/// # Ok::<(), stash_serial::SerialError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// [`Hashstash`]: the Python library's tagged JSON.
    Hashstash,
    /// [`Json`].
    Json,
    /// [`Msgpack`].
    Msgpack,
    /// [`Postcard`].
    Postcard,
}

impl Format {
    /// Every format, in [`KNOWN`] order.
    pub const ALL: [Format; 4] = [Format::Hashstash, Format::Json, Format::Msgpack, Format::Postcard];

    /// Its name (`"hashstash"`).
    pub const fn name(self) -> &'static str {
        match self {
            Format::Hashstash => "hashstash",
            Format::Json => "json",
            Format::Msgpack => "msgpack",
            Format::Postcard => "postcard",
        }
    }

    /// The serializer itself.
    pub fn serializer(self) -> Arc<dyn Serializer> {
        match self {
            Format::Hashstash => Arc::new(Hashstash),
            Format::Json => Arc::new(Json),
            Format::Msgpack => Arc::new(Msgpack),
            Format::Postcard => Arc::new(Postcard),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = SerialError;

    /// `"pickle"` (and `"jsonpickle"`) are Python-only: [`SerialError::Unsupported`].
    fn from_str(name: &str) -> Result<Format, SerialError> {
        if let Some(format) = Format::ALL.into_iter().find(|f| f.name() == name) {
            return Ok(format);
        }
        Err(match name {
            "pickle" | "jsonpickle" => SerialError::Unsupported {
                name: name.to_owned(),
                reason: format!(
                    "{name} is Python-only (it stores Python objects); use \"postcard\" for a fast binary \
                     format or \"hashstash\" to share a stash with Python"
                ),
            },
            _ => SerialError::Unknown { name: name.to_owned() },
        })
    }
}

impl AsRef<str> for Format {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl PartialEq<str> for Format {
    fn eq(&self, name: &str) -> bool {
        self.name() == name
    }
}

impl PartialEq<&str> for Format {
    fn eq(&self, name: &&str) -> bool {
        self.name() == *name
    }
}

impl Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Format {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The names [`serializer`] accepts.
pub const KNOWN: &[&str] = &["hashstash", "json", "msgpack", "postcard"];

/// The serializer called `name` (one of [`KNOWN`]).
///
/// `"pickle"` (and `"jsonpickle"`) are Python-only and give [`SerialError::Unsupported`].
pub fn serializer(name: &str) -> Result<Arc<dyn Serializer>, SerialError> {
    Ok(name.parse::<Format>()?.serializer())
}

/// Lets unsized values (`str`, slices) go through `&dyn erased_serde::Serialize`.
struct Ref<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for Ref<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Serialize a value with `s`, appending to `out`.
pub fn encode_value<T: Serialize + ?Sized>(
    s: &dyn Serializer,
    v: &T,
    out: &mut Vec<u8>,
) -> Result<(), SerialError> {
    match s.builtin() {
        Some(b) => formats::encode_value(b, v, out),
        None => s.serialize_value(&Ref(v), out),
    }
}

/// Serialize a key canonically with `s`, appending to `out`.
pub fn encode_key<T: Serialize + ?Sized>(
    s: &dyn Serializer,
    k: &T,
    out: &mut Vec<u8>,
) -> Result<(), SerialError> {
    match s.builtin() {
        Some(b) => formats::encode_key(b, k, out),
        None => s.serialize_key(&Ref(k), out),
    }
}

pub(crate) fn decode_error<T>(serializer: &'static str, e: impl fmt::Display) -> SerialError {
    SerialError::Decode { serializer, detail: format!("expected `{}`: {e}", std::any::type_name::<T>()) }
}

/// Decode bytes written by `s` into a `T`.
///
/// Decoding into [`Value`] needs a self-describing serializer
/// ([`SerialError::NotSelfDescribing`] otherwise).
pub fn decode<T: DeserializeOwned>(s: &dyn Serializer, bytes: &[u8]) -> Result<T, SerialError> {
    if let Some(b) = s.builtin() {
        return formats::decode(b, bytes);
    }
    let mut out: Option<T> = None;
    s.deserialize_with(bytes, &mut |d| {
        out = Some(erased_serde::deserialize::<T>(d)?);
        Ok(())
    })
    .map_err(|e| match e {
        SerialError::Decode { serializer, detail } => decode_error::<T>(serializer, detail),
        other => other,
    })?;
    out.ok_or_else(|| decode_error::<T>(s.name(), "no value"))
}

/// Serialize a value with the serializer called `serializer` (Python's
/// `serialize(data, serializer="hashstash")`).
pub fn serialize<T: Serialize + ?Sized>(v: &T, serializer: &str) -> Result<Vec<u8>, SerialError> {
    let s = self::serializer(serializer)?;
    let mut out = Vec::new();
    encode_value(&*s, v, &mut out)?;
    Ok(out)
}

/// Deserialize bytes written by the serializer called `serializer`.
pub fn deserialize<T: DeserializeOwned>(bytes: &[u8], serializer: &str) -> Result<T, SerialError> {
    decode(&*self::serializer(serializer)?, bytes)
}

/// Inside an `impl serde::Serializer`: the seven compound associated types as
/// `Impossible<$ok, $err>` and the seven compound methods returning `Err($fail)`,
/// for probe serializers that only accept scalars (Python big-int digits, a
/// `Result` probe, a string probe). One copy of the boilerplate serde requires.
#[doc(hidden)]
#[macro_export]
macro_rules! __refuse_compounds {
    ($ok:ty, $err:ty, $fail:expr) => {
        type SerializeSeq = ::serde::ser::Impossible<$ok, $err>;
        type SerializeTuple = ::serde::ser::Impossible<$ok, $err>;
        type SerializeTupleStruct = ::serde::ser::Impossible<$ok, $err>;
        type SerializeTupleVariant = ::serde::ser::Impossible<$ok, $err>;
        type SerializeMap = ::serde::ser::Impossible<$ok, $err>;
        type SerializeStruct = ::serde::ser::Impossible<$ok, $err>;
        type SerializeStructVariant = ::serde::ser::Impossible<$ok, $err>;
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, $err> {
            Err($fail)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, $err> {
            Err($fail)
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, $err> {
            Err($fail)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, $err> {
            Err($fail)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, $err> {
            Err($fail)
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, $err> {
            Err($fail)
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, $err> {
            Err($fail)
        }
    };
}
