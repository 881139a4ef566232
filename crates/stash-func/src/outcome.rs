//! Telling a failed result from a successful one without knowing its type.
//!
//! `run(f, args)` is generic over what `f` returns, and stable Rust cannot
//! specialize it for `Result`. But serde can tell: a `Result` serializes as
//! the enum `Result` with the variants `Ok` (index 0) and `Err` (index 1)
//! (`serialize_newtype_variant("Result", 1, "Err", e)`), so a serializer that
//! looks only at that first call (and serializes nothing) says whether a value
//! is an `Err`. Any other value (a struct, a number, an `Option<Result<..>>`)
//! is not: only the outermost type counts.

use std::fmt;

use serde::Serialize;
use serde::ser;

/// Whether `value` serializes as `Result::Err` (its outermost type is a
/// `Result` holding an error). Costs one call: nothing is serialized.
pub fn is_err<T: Serialize + ?Sized>(value: &T) -> bool {
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

impl ser::Serializer for Probe {
    type Ok = bool;
    type Error = NotAResult;
    stash_core::stash_serial::__refuse_compounds!(bool, NotAResult, NotAResult);

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Answer {
        Ok(name == "Result" && variant == "Err")
    }

    fn serialize_bool(self, _: bool) -> Answer {
        Ok(false)
    }
    fn serialize_i8(self, _: i8) -> Answer {
        Ok(false)
    }
    fn serialize_i16(self, _: i16) -> Answer {
        Ok(false)
    }
    fn serialize_i32(self, _: i32) -> Answer {
        Ok(false)
    }
    fn serialize_i64(self, _: i64) -> Answer {
        Ok(false)
    }
    fn serialize_i128(self, _: i128) -> Answer {
        Ok(false)
    }
    fn serialize_u8(self, _: u8) -> Answer {
        Ok(false)
    }
    fn serialize_u16(self, _: u16) -> Answer {
        Ok(false)
    }
    fn serialize_u32(self, _: u32) -> Answer {
        Ok(false)
    }
    fn serialize_u64(self, _: u64) -> Answer {
        Ok(false)
    }
    fn serialize_u128(self, _: u128) -> Answer {
        Ok(false)
    }
    fn serialize_f32(self, _: f32) -> Answer {
        Ok(false)
    }
    fn serialize_f64(self, _: f64) -> Answer {
        Ok(false)
    }
    fn serialize_char(self, _: char) -> Answer {
        Ok(false)
    }
    fn serialize_str(self, _: &str) -> Answer {
        Ok(false)
    }
    fn serialize_bytes(self, _: &[u8]) -> Answer {
        Ok(false)
    }
    fn serialize_none(self) -> Answer {
        Ok(false)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Answer {
        Ok(false)
    }
    fn serialize_unit(self) -> Answer {
        Ok(false)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Answer {
        Ok(false)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Answer {
        Ok(false)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, _: &T) -> Answer {
        Ok(false)
    }
    fn collect_str<T: ?Sized + fmt::Display>(self, _: &T) -> Answer {
        Ok(false)
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
        assert!(!is_err(&Other::Err(1)), "another enum's `Err` variant is not a Result");
        assert!(!is_err(&(1, "x")));
        assert!(!is_err("text"));
        assert!(!is_err(&std::collections::BTreeMap::from([(1, 2)])));
    }
}
