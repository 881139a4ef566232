//! [`BigInt`]: an integer of any size, kept exactly as its decimal digits.

use std::fmt;

use serde::{Serialize, Serializer};

/// The newtype-struct name through which an integer wider than 128 bits reaches a
/// serializer that can write it (`hashstash`, `json`, [`Value`](crate::Value)): the
/// payload is the digits as a string.
pub(crate) const BIGINT_MAGIC: &str = "$hashstash::private::BigInt";

/// An integer of any size (a Python `int`), kept exactly as its decimal digits.
///
/// [`Value::BigInt`](crate::Value::BigInt) holds the integers outside
/// `i64::MIN..=u64::MAX`. The digits are canonical: an optional `-`, then digits
/// without leading zeros (`0` itself, never `-0`), so equal integers are equal
/// `BigInt`s and write the same bytes.
///
/// It serializes as an integer: through serde's `i128`/`u128` when it fits in 128
/// bits (every serializer), and as the bare JSON number of its digits beyond that
/// (`hashstash` and `json` only; msgpack and postcard have no such integer and refuse it).
///
/// ```
/// use stash_serial::BigInt;
///
/// let n: BigInt = "-1180591620717411303424".parse()?;
/// assert_eq!(n.to_i128(), Some(-(1i128 << 70)));
/// assert_eq!(n.to_string(), "-1180591620717411303424");
/// assert!("007".parse::<BigInt>().is_err());
/// # Ok::<(), stash_serial::SerialError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BigInt(String);

impl BigInt {
    /// The integer written as `digits` (`-?(0|[1-9][0-9]*)`, not `-0`), if canonical.
    pub fn parse(digits: &str) -> Option<BigInt> {
        let body = digits.strip_prefix('-').unwrap_or(digits);
        let canonical = match body.as_bytes() {
            [] => false,
            [b'0'] => body.len() == digits.len(),
            [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
            _ => false,
        };
        canonical.then(|| BigInt(digits.to_owned()))
    }

    /// The decimal digits (with a leading `-` when negative).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the integer is below zero.
    pub fn is_negative(&self) -> bool {
        self.0.starts_with('-')
    }

    /// The integer, if it fits in an `i128`.
    pub fn to_i128(&self) -> Option<i128> {
        self.0.parse().ok()
    }

    /// The integer, if it fits in a `u128`.
    pub fn to_u128(&self) -> Option<u128> {
        self.0.parse().ok()
    }

    /// The nearest `f64` (infinite beyond `f64::MAX`).
    pub fn to_f64(&self) -> f64 {
        // Canonical digits are valid float syntax.
        self.0.parse().unwrap_or(f64::NAN)
    }
}

impl std::str::FromStr for BigInt {
    type Err = crate::SerialError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BigInt::parse(s).ok_or_else(|| {
            crate::SerialError::decode("value", format_args!("{s:?} is not a canonical decimal integer"))
        })
    }
}

impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! from_prim {
    ($($t:ty),*) => {$(
        impl From<$t> for BigInt {
            fn from(v: $t) -> Self {
                BigInt(v.to_string())
            }
        }
    )*};
}
from_prim!(i64, u64, i128, u128);

impl Serialize for BigInt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Some(i) = self.to_i128() {
            return s.serialize_i128(i);
        }
        if let Some(u) = self.to_u128() {
            return s.serialize_u128(u);
        }
        s.serialize_newtype_struct(BIGINT_MAGIC, self.as_str())
    }
}

/// Captures the digits a `newtype_struct(BIGINT_MAGIC, digits)` carries.
pub(crate) struct Digits;

/// The error of [`Digits`]: the payload was not a string.
#[derive(Debug)]
pub(crate) struct NotDigits;

impl fmt::Display for NotDigits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a big integer's payload is not its digits")
    }
}

impl std::error::Error for NotDigits {}

impl serde::ser::Error for NotDigits {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotDigits
    }
}

macro_rules! not_digits {
    ($($f:ident($($t:ty),*);)*) => {
        $(fn $f(self, $(_: $t),*) -> Result<BigInt, NotDigits> { Err(NotDigits) })*
    };
}

impl Serializer for Digits {
    type Ok = BigInt;
    type Error = NotDigits;
    crate::__refuse_compounds!(BigInt, NotDigits, NotDigits);

    fn serialize_str(self, v: &str) -> Result<BigInt, NotDigits> {
        BigInt::parse(v).ok_or(NotDigits)
    }
    not_digits! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
        serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
        serialize_f32(f32); serialize_f64(f64); serialize_char(char); serialize_bytes(&[u8]);
        serialize_none(); serialize_unit(); serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }
    fn serialize_i128(self, v: i128) -> Result<BigInt, NotDigits> {
        Ok(BigInt::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<BigInt, NotDigits> {
        Ok(BigInt::from(v))
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<BigInt, NotDigits> {
        Err(NotDigits)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<BigInt, NotDigits> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<BigInt, NotDigits> {
        Err(NotDigits)
    }
}

#[cfg(test)]
mod tests {
    use super::BigInt;

    #[test]
    fn only_canonical_digits_parse() {
        for ok in ["0", "7", "-7", "1180591620717411303424", "-1180591620717411303424"] {
            assert_eq!(BigInt::parse(ok).map(|b| b.to_string()).as_deref(), Some(ok));
        }
        for bad in ["", "-", "-0", "01", "+1", "1.0", "1e3", " 1", "1 ", "--1", "0x1", "١"] {
            assert!(BigInt::parse(bad).is_none(), "{bad:?}");
        }
    }
}
