//! Telling a failed result from a successful one without knowing its type,
//! by the rule of the sync `run`: a value whose outermost type serializes as
//! serde's `Result` enum with the variant `Err` is an error (not stored with
//! the results).

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Whether `value` serializes as `Result::Err`. Costs one call: nothing is serialized.
pub(crate) fn is_err<T: Serialize + ?Sized>(value: &T) -> bool {
    value.serialize(Probe).unwrap_or(false)
}

/// The serializer of [`is_err`]: answers at the first call.
struct Probe;

/// Returned for compound values (never an `Err`): stops at once.
#[derive(Debug)]
struct NotAResult;

impl fmt::Display for NotAResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a Result")
    }
}

impl std::error::Error for NotAResult {}

impl ser::Error for NotAResult {
    fn custom<M: fmt::Display>(_: M) -> Self {
        NotAResult
    }
}

type Answer = Result<bool, NotAResult>;

macro_rules! not_a_result {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $name(self, $(_: $arg),*) -> Answer { Ok(false) })*
    };
}

impl ser::Serializer for Probe {
    type Ok = bool;
    type Error = NotAResult;
    type SerializeSeq = Impossible<bool, NotAResult>;
    type SerializeTuple = Impossible<bool, NotAResult>;
    type SerializeTupleStruct = Impossible<bool, NotAResult>;
    type SerializeTupleVariant = Impossible<bool, NotAResult>;
    type SerializeMap = Impossible<bool, NotAResult>;
    type SerializeStruct = Impossible<bool, NotAResult>;
    type SerializeStructVariant = Impossible<bool, NotAResult>;

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Answer {
        Ok(name == "Result" && variant == "Err")
    }

    not_a_result!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Answer {
        Ok(false)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, _: &T) -> Answer {
        Ok(false)
    }
    fn collect_str<T: ?Sized + fmt::Display>(self, _: &T) -> Answer {
        Ok(false)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAResult> {
        Err(NotAResult)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAResult> {
        Err(NotAResult)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotAResult> {
        Err(NotAResult)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAResult> {
        Err(NotAResult)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAResult> {
        Err(NotAResult)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotAResult> {
        Err(NotAResult)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotAResult> {
        Err(NotAResult)
    }
}

#[cfg(test)]
mod tests {
    use super::is_err;

    #[derive(serde::Serialize)]
    struct Wrapper(Result<u8, u8>);

    #[derive(serde::Serialize)]
    enum Other {
        Err(u8),
    }

    #[test]
    fn only_an_outermost_result_err_is_an_error() {
        assert!(is_err(&Err::<u32, String>("bad".into())));
        assert!(is_err(&Err::<(), ()>(())));
        assert!(!is_err(&Ok::<u32, String>(1)));
        assert!(!is_err(&Some(Err::<u8, u8>(1))));
        assert!(!is_err(&vec![Err::<u8, u8>(1)]));
        assert!(!is_err(&Wrapper(Err(1))));
        assert!(!is_err(&Other::Err(1)));
        assert!(!is_err(&(1, "x")));
        assert!(!is_err("text"));
    }
}
