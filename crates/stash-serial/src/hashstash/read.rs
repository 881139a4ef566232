//! A direct, tag-aware JSON reader: deserializes any `T` straight from hashstash JSON
//! bytes, with no intermediate [`Value`].
//!
//! The reader gives the same answers as the older two-step path (JSON -> tag-aware
//! [`Value`] -> `T`), which it replaces:
//!
//! - numbers: non-negative integers up to `i64::MAX` and negative ones down to
//!   `i64::MIN` are visited as `i64`, larger ones as `u64`; `-0` and anything with a
//!   fraction or exponent are floats (correctly rounded; out-of-range floats like
//!   `1e400` are errors), as serde_json reads them. Integers beyond 64 bits are exact
//!   for an `i128`/`u128` request (an error when they do not fit) and in a [`Value`]
//!   ([`Value::BigInt`], any size); any other request gets the nearest float;
//! - strings borrow from the input unless they hold escapes;
//! - an object is checked for Python's type tags only when it could matter: always when
//!   the caller asks for a sequence, bytes or "anything", and for maps and structs only
//!   when the object's first key starts with `__`. Untagged objects stream into the
//!   visitor. A tagged object is scanned once (its values skipped, but validated), then
//!   its payload (`__data__`, `__items__`, ...) is read in place;
//! - the rarely used requests (enums, units) on a tagged object, and [`Value`] itself,
//!   go through a [`Value`] built exactly as before.
//!
//! Every value, even a skipped one, is fully validated (UTF-8, escapes, surrogate
//! pairs, number ranges, nesting up to [`MAX_DEPTH`] levels), so bytes the old path
//! rejected are rejected here too (except integers too wide for a float, which are
//! valid [`Value`]s now).
//!
//! Without type tags ([`Reader::plain`]) it reads the `json` serializer's bytes.

use std::fmt;

use base64::Engine as _;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, Expected, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};

use crate::Value;
use crate::bigint::BigInt;
use crate::value::VALUE_MAGIC;

use crate::depth::MAX_DEPTH;

/// A decoding error, with its position in the input when known.
pub(crate) struct Error(Box<Inner>);

struct Inner {
    msg: String,
    /// 1-based line and column.
    at: Option<(usize, usize)>,
}

impl Error {
    fn new(msg: impl fmt::Display) -> Self {
        Error(Box::new(Inner { msg: msg.to_string(), at: None }))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.at {
            Some((line, col)) => write!(f, "{} at line {line} column {col}", self.0.msg),
            None => f.write_str(&self.0.msg),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(msg)
    }
}

type Result<T> = std::result::Result<T, Error>;

/// Deserialize a `T` from hashstash JSON; trailing non-whitespace is an error.
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    read_all(Reader::new(bytes))
}

/// Deserialize a `T` from plain JSON (no type tags); trailing non-whitespace is an error.
pub(crate) fn from_plain_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    read_all(Reader::plain(bytes))
}

fn read_all<T: DeserializeOwned>(mut r: Reader<'_>) -> Result<T> {
    let v = T::deserialize(&mut r).map_err(|e| r.fix(e))?;
    r.end()?;
    Ok(v)
}

/// Parse hashstash JSON into a [`Value`], resolving Python's type tags.
#[cfg(test)]
pub(crate) fn read_value(bytes: &[u8]) -> Result<Value> {
    let mut r = Reader::new(bytes);
    let v = r.value_tree()?;
    r.end()?;
    Ok(v)
}

/// A number token.
#[derive(Clone, Copy)]
enum Num {
    U(u64),
    I(i64),
    F(f64),
    /// An integer beyond 64 bits: the nearest float (infinite beyond the float range)
    /// and the token's place in the input, for an exact `i128`/`u128` or [`BigInt`].
    Big {
        f: f64,
        at: (usize, usize),
    },
}

impl Num {
    fn visit<'de, V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        match self {
            // As a `Value` would present it: `Int` whenever the integer fits.
            Num::U(u) => match i64::try_from(u) {
                Ok(i) => v.visit_i64(i),
                Err(_) => v.visit_u64(u),
            },
            Num::I(i) => v.visit_i64(i),
            Num::F(f) => v.visit_f64(f),
            // (as serde_json: only a request for 128 bits or a `Value` gets it exactly)
            Num::Big { f, .. } if f.is_finite() => v.visit_f64(f),
            Num::Big { .. } => Err(Error::new("number out of range")),
        }
    }
    fn unexpected(self) -> Unexpected<'static> {
        match self {
            Num::U(u) => match i64::try_from(u) {
                Ok(i) => Unexpected::Signed(i),
                Err(_) => Unexpected::Unsigned(u),
            },
            Num::I(i) => Unexpected::Signed(i),
            Num::F(f) | Num::Big { f, .. } => Unexpected::Float(f),
        }
    }
    /// The number as a [`Value`]; `input` is the text the token was read from.
    fn into_value(self, input: &[u8]) -> Value {
        match self {
            Num::U(u) => Value::from(u),
            Num::I(i) => Value::Int(i),
            Num::F(f) => Value::Float(f),
            Num::Big { f, at: (a, b) } => {
                // JSON's integer syntax is canonical (no leading zeros, `-0` is a float).
                match std::str::from_utf8(&input[a..b]).ok().and_then(BigInt::parse) {
                    Some(n) => Value::from(n),
                    None => Value::Float(f),
                }
            }
        }
    }
    /// The number for an `i128`/`u128` request: exact when it is an integer.
    fn visit_wide<'de, V: Visitor<'de>>(self, input: &[u8], v: V) -> Result<V::Value> {
        let Num::Big { at: (a, b), .. } = self else { return self.visit(v) };
        let text = std::str::from_utf8(&input[a..b]).unwrap_or_default();
        if let Ok(i) = text.parse::<i128>() {
            return v.visit_i128(i);
        }
        match text.parse::<u128>() {
            Ok(u) => v.visit_u128(u),
            Err(_) => Err(Error::new(format_args!("integer {text} does not fit in 128 bits"))),
        }
    }
}

/// A parsed string: borrowed from the input, or unescaped into the scratch buffer.
enum Str<'de, 's> {
    Input(&'de str),
    Scratch(&'s str),
}

impl Str<'_, '_> {
    fn as_str(&self) -> &str {
        match self {
            Str::Input(s) => s,
            Str::Scratch(s) => s,
        }
    }
    fn visit<'de, V: Visitor<'de>>(s: Str<'de, '_>, v: V) -> Result<V::Value> {
        match s {
            Str::Input(s) => v.visit_borrowed_str(s),
            Str::Scratch(s) => v.visit_str(s),
        }
    }
}

/// What the caller asked for, as far as objects and type tags are concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Req {
    /// `deserialize_any` and the scalar requests.
    Any,
    /// Sequences and tuples.
    Seq,
    /// Bytes (a `Value` would give `Bytes` as bytes, anything else as `any`).
    Bytes,
    /// Maps.
    Map,
    /// Structs (maps, arrays and tagged tuples).
    Struct,
}

/// The Python type an object's tags stand for (mirrors `value::untag`).
enum Tag {
    /// Not tagged (or tagged with something not resolved, like `decimal.Decimal`).
    Plain,
    /// A tuple (`set == false`) or set/frozenset: the `__data__` array at this offset.
    Seq { at: usize, set: bool },
    /// `bytes`, decoded.
    Bytes(Vec<u8>),
    /// A dict with non-string keys: the `__items__` array at this offset.
    Dict { at: usize },
    /// A non-finite float.
    Float(f64),
}

/// The key names the tag scan looks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TagKey {
    Py,
    PyType,
    Data,
    Items,
    Val,
    Other,
}

/// The JSON reader; `&mut Reader` is the [`serde::Deserializer`].
pub(crate) struct Reader<'de> {
    s: &'de [u8],
    pos: usize,
    scratch: Vec<u8>,
    /// Nesting levels still allowed.
    depth: usize,
    /// Whether Python's type tags are resolved (`hashstash`) or objects are plain maps (`json`).
    tags: bool,
}

#[inline]
fn has_zero_byte(w: u64) -> u64 {
    w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080
}

impl<'de> Reader<'de> {
    pub(crate) fn new(s: &'de [u8]) -> Self {
        Reader { s, pos: 0, scratch: Vec::new(), depth: MAX_DEPTH, tags: true }
    }

    /// A reader of plain JSON (the `json` serializer): no type tags; object keys
    /// answer number and boolean requests as serde_json's do (`{"1": ..}` into an
    /// integer-keyed map).
    pub(crate) fn plain(s: &'de [u8]) -> Self {
        Reader { tags: false, ..Reader::new(s) }
    }

    // ----- errors -----

    /// An error at the current position.
    #[cold]
    fn err(&self, msg: &str) -> Error {
        let mut e = Error::new(msg);
        e.0.at = Some(self.line_col(self.pos));
        e
    }

    fn line_col(&self, pos: usize) -> (usize, usize) {
        let upto = &self.s[..pos.min(self.s.len())];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = pos - upto.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        (line, col)
    }

    /// Give a positionless error (from a visitor) the current position.
    #[cold]
    pub(crate) fn fix(&self, mut e: Error) -> Error {
        if e.0.at.is_none() {
            e.0.at = Some(self.line_col(self.pos));
        }
        e
    }

    /// Fails unless only whitespace is left.
    pub(crate) fn end(&mut self) -> Result<()> {
        match self.ws() {
            None => Ok(()),
            Some(_) => Err(self.err("trailing characters")),
        }
    }

    // ----- lexing -----

    /// Skip whitespace; the next byte, if any.
    #[inline]
    fn ws(&mut self) -> Option<u8> {
        while let Some(&b) = self.s.get(self.pos) {
            match b {
                b' ' | b'\n' | b'\t' | b'\r' => self.pos += 1,
                _ => return Some(b),
            }
        }
        None
    }

    /// Skip whitespace and consume `b`, or fail with `what`.
    #[inline]
    fn expect(&mut self, b: u8, what: &str) -> Result<()> {
        match self.ws() {
            Some(c) if c == b => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.err(what)),
            None => Err(self.err("EOF while parsing a value")),
        }
    }

    /// Open an array or object: at most [`MAX_DEPTH`] may be open at once.
    fn enter(&mut self) -> Result<()> {
        match self.depth.checked_sub(1) {
            Some(d) => {
                self.depth = d;
                Ok(())
            }
            None => Err(self.err(&format!(
                "recursion limit exceeded: nesting deeper than {MAX_DEPTH} levels (stash_serial::MAX_DEPTH)"
            ))),
        }
    }

    fn leave(&mut self) {
        self.depth += 1;
    }

    /// Consume the literal `lit` (`null`, `true`, `false`) at the current position.
    fn literal(&mut self, lit: &[u8]) -> Result<()> {
        for &want in lit {
            match self.s.get(self.pos) {
                None => return Err(self.err("EOF while parsing a value")),
                Some(&c) if c == want => self.pos += 1,
                Some(_) => return Err(self.err("expected ident")),
            }
        }
        Ok(())
    }

    /// The first index from `i` holding `"`, `\` or a control character.
    #[inline]
    fn scan_str(&self, mut i: usize) -> usize {
        let s = self.s;
        while i + 8 <= s.len() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&s[i..i + 8]);
            let w = u64::from_le_bytes(w);
            let m = has_zero_byte(w ^ 0x2222_2222_2222_2222)
                | has_zero_byte(w ^ 0x5c5c_5c5c_5c5c_5c5c)
                | (w.wrapping_sub(0x2020_2020_2020_2020) & !w & 0x8080_8080_8080_8080);
            if m != 0 {
                return i + (m.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while i < s.len() && s[i] != b'"' && s[i] != b'\\' && s[i] >= 0x20 {
            i += 1;
        }
        i
    }

    /// Parse a string whose opening quote is at the current position.
    fn string<'s>(&'s mut self) -> Result<Str<'de, 's>> {
        let start = self.pos + 1;
        let i = self.scan_str(start);
        match self.s.get(i) {
            Some(b'"') => {
                let s: &'de [u8] = self.s;
                self.pos = i + 1;
                match std::str::from_utf8(&s[start..i]) {
                    Ok(s) => Ok(Str::Input(s)),
                    Err(e) => {
                        self.pos = start + e.valid_up_to();
                        Err(self.err("invalid unicode code point"))
                    }
                }
            }
            _ => {
                self.pos = i;
                self.string_slow(start)
            }
        }
    }

    /// The rest of a string holding escapes (or an error), unescaped into `scratch`.
    #[cold]
    fn string_slow<'s>(&'s mut self, start: usize) -> Result<Str<'de, 's>> {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.s[start..self.pos]);
        loop {
            match self.s.get(self.pos) {
                None => return Err(self.err("EOF while parsing a string")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape()?;
                }
                Some(_) => {
                    return Err(self.err("control character (\\u0000-\\u001F) found while parsing a string"));
                }
            }
            let seg = self.pos;
            self.pos = self.scan_str(seg);
            self.scratch.extend_from_slice(&self.s[seg..self.pos]);
        }
        match std::str::from_utf8(&self.scratch) {
            Ok(s) => Ok(Str::Scratch(s)),
            Err(_) => Err(self.err("invalid unicode code point")),
        }
    }

    /// One escape (after its backslash), appended to `scratch`.
    fn escape(&mut self) -> Result<()> {
        let Some(&c) = self.s.get(self.pos) else {
            return Err(self.err("EOF while parsing a string"));
        };
        self.pos += 1;
        let b = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = self.hex4()?;
                let c = match hi {
                    0xD800..=0xDBFF => {
                        if self.s.get(self.pos) != Some(&b'\\') || self.s.get(self.pos + 1) != Some(&b'u') {
                            return Err(self.err("lone leading surrogate in hex escape"));
                        }
                        self.pos += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(self.err("lone leading surrogate in hex escape"));
                        }
                        0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(self.err("lone trailing surrogate in hex escape")),
                    _ => u32::from(hi),
                };
                let c = char::from_u32(c).ok_or_else(|| self.err("invalid unicode code point"))?;
                self.scratch.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
            _ => {
                self.pos -= 1;
                return Err(self.err("invalid escape"));
            }
        };
        self.scratch.push(b);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16> {
        let mut n = 0u16;
        for _ in 0..4 {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(self.err("EOF while parsing a string"));
            };
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(self.err("invalid escape")),
            };
            n = n << 4 | u16::from(d);
            self.pos += 1;
        }
        Ok(n)
    }

    /// Parse a number starting at the current position (`-` or a digit).
    fn number(&mut self) -> Result<Num> {
        let s = self.s;
        let start = self.pos;
        let mut i = start;
        let neg = s.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        // Significand digits, accumulated without overflow checks: at most 19 digits
        // are trusted (checked below).
        let mut m: u64 = 0;
        let int_start = i;
        while let Some(&c) = s.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        let int_digits = i - int_start;
        if int_digits == 0 {
            self.pos = i;
            return Err(self.err(if i < s.len() { "invalid number" } else { "EOF while parsing a value" }));
        }
        if int_digits > 1 && s[int_start] == b'0' {
            self.pos = int_start + 1;
            return Err(self.err("invalid number"));
        }
        let mut frac_digits = 0;
        let mut float = false;
        if s.get(i) == Some(&b'.') {
            float = true;
            i += 1;
            let first = i;
            while let Some(&c) = s.get(i) {
                let d = c.wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                m = m.wrapping_mul(10).wrapping_add(u64::from(d));
                i += 1;
            }
            frac_digits = i - first;
            if frac_digits == 0 {
                self.pos = i;
                return Err(self.err(if i < s.len() {
                    "invalid number"
                } else {
                    "EOF while parsing a value"
                }));
            }
        }
        let mut exp10: i64 = -(frac_digits as i64);
        if matches!(s.get(i), Some(b'e' | b'E')) {
            float = true;
            i += 1;
            let eneg = match s.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let first = i;
            let mut e: i64 = 0;
            while let Some(&c @ b'0'..=b'9') = s.get(i) {
                e = (e * 10 + i64::from(c - b'0')).min(1 << 40);
                i += 1;
            }
            if i == first {
                self.pos = i;
                return Err(self.err(if i < s.len() {
                    "invalid number"
                } else {
                    "EOF while parsing a value"
                }));
            }
            exp10 += if eneg { -e } else { e };
        }
        self.pos = i;
        // Leading zeros (`0.000123`) do not count towards the 19 trusted digits.
        let mut digits = int_digits + frac_digits;
        let mut j = int_start;
        while digits > 19 && matches!(s[j], b'0' | b'.') {
            if s[j] == b'0' {
                digits -= 1;
            }
            j += 1;
        }
        let exact = digits <= 19;
        if !float {
            if !exact {
                // 20 digits may still fit in a u64.
                match std::str::from_utf8(&s[int_start..i]).ok().and_then(|t| t.parse::<u64>().ok()) {
                    Some(x) => m = x,
                    None => return Ok(self.big(start, i)),
                }
            }
            return Ok(if !neg {
                Num::U(m)
            } else if m == 0 {
                Num::F(-0.0)
            } else if m <= 1 << 63 {
                Num::I((m as i64).wrapping_neg())
            } else {
                self.big(start, i)
            });
        }
        if !exact {
            return self.float_slow(start, i);
        }
        // (Eisel-Lemire alone: also exact where Clinger's `m as f64 * 10^q` would be,
        // and one unpredictable branch fewer.)
        let Some(f) = super::lemire::compute(m, exp10) else {
            return self.float_slow(start, i);
        };
        if f.is_infinite() {
            return Err(self.err("number out of range"));
        }
        Ok(Num::F(if neg { -f } else { f }))
    }

    /// An integer token beyond 64 bits.
    #[cold]
    fn big(&self, start: usize, end: usize) -> Num {
        // Integer syntax is valid float syntax (beyond `f64::MAX`, infinity).
        let f = std::str::from_utf8(&self.s[start..end]).ok().and_then(|t| t.parse::<f64>().ok());
        Num::Big { f: f.unwrap_or(f64::INFINITY), at: (start, end) }
    }

    /// A float the fast paths cannot round exactly: Rust's correct parser on the token.
    #[cold]
    fn float_slow(&mut self, start: usize, end: usize) -> Result<Num> {
        // The token is ASCII in JSON number syntax, which Rust's parser accepts.
        let f = std::str::from_utf8(&self.s[start..end])
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .ok_or_else(|| self.err("invalid number"))?;
        if f.is_infinite() {
            return Err(self.err("number out of range"));
        }
        Ok(Num::F(f))
    }

    /// Skip (and fully validate) one value.
    fn skip(&mut self) -> Result<()> {
        match self.ws() {
            None => Err(self.err("EOF while parsing a value")),
            Some(b'n') => self.literal(b"null"),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            Some(b'"') => self.string().map(drop),
            Some(b'[') => {
                self.pos += 1;
                self.enter()?;
                if self.ws() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip()?;
                        match self.ws() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            Some(_) => return Err(self.err("expected `,` or `]`")),
                            None => return Err(self.err("EOF while parsing a list")),
                        }
                    }
                }
                self.leave();
                Ok(())
            }
            Some(b'{') => {
                self.pos += 1;
                self.enter()?;
                if self.ws() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.object_key()?;
                        self.skip()?;
                        match self.ws() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            Some(_) => return Err(self.err("expected `,` or `}`")),
                            None => return Err(self.err("EOF while parsing an object")),
                        }
                    }
                }
                self.leave();
                Ok(())
            }
            Some(_) => Err(self.err("expected value")),
        }
    }

    /// Parse an object key and its colon, discarding the key.
    fn object_key(&mut self) -> Result<()> {
        match self.ws() {
            Some(b'"') => {}
            Some(_) => return Err(self.err("key must be a string")),
            None => return Err(self.err("EOF while parsing an object")),
        }
        self.string()?;
        self.expect(b':', "expected `:`")
    }

    /// The kind of error a `Value` would give for the value at the current position.
    fn invalid_type(&mut self, exp: &dyn Expected) -> Error {
        let e = match self.ws() {
            Some(b'n') => de::Error::invalid_type(Unexpected::Unit, exp),
            Some(b't') => de::Error::invalid_type(Unexpected::Bool(true), exp),
            Some(b'f') => de::Error::invalid_type(Unexpected::Bool(false), exp),
            Some(b'-' | b'0'..=b'9') => match self.number() {
                Ok(n) => de::Error::invalid_type(n.unexpected(), exp),
                Err(e) => return e,
            },
            Some(b'"') => match self.string() {
                Ok(s) => de::Error::invalid_type(Unexpected::Str(s.as_str()), exp),
                Err(e) => return e,
            },
            Some(b'[') => de::Error::invalid_type(Unexpected::Seq, exp),
            Some(b'{') => de::Error::invalid_type(Unexpected::Map, exp),
            Some(_) => return self.err("expected value"),
            None => return self.err("EOF while parsing a value"),
        };
        self.fix(e)
    }

    // ----- values -----

    /// The value at the current position, for a request of kind `req`.
    fn value<V: Visitor<'de>>(&mut self, req: Req, v: V) -> Result<V::Value> {
        let Some(b) = self.ws() else {
            return Err(self.err("EOF while parsing a value"));
        };
        let scalar_ok = matches!(req, Req::Any | Req::Bytes);
        match b {
            b'"' if scalar_ok => {
                let s = self.string()?;
                Str::visit(s, v)
            }
            b'-' | b'0'..=b'9' if scalar_ok => self.number()?.visit(v),
            b'[' if req != Req::Map => self.array(v),
            b'{' => self.object(req, v),
            b'n' if scalar_ok => {
                self.literal(b"null")?;
                v.visit_unit()
            }
            b't' if scalar_ok => {
                self.literal(b"true")?;
                v.visit_bool(true)
            }
            b'f' if scalar_ok => {
                self.literal(b"false")?;
                v.visit_bool(false)
            }
            _ => Err(self.invalid_type(&v)),
        }
    }

    /// An array at the current position, as a sequence.
    fn array<V: Visitor<'de>>(&mut self, v: V) -> Result<V::Value> {
        self.pos += 1;
        self.enter()?;
        let out = v.visit_seq(Seq { r: self, first: true })?;
        self.leave();
        match self.ws() {
            Some(b']') => {
                self.pos += 1;
                Ok(out)
            }
            Some(b',') => Err(self.err("trailing elements in sequence (invalid length)")),
            Some(_) => Err(self.err("expected `,` or `]`")),
            None => Err(self.err("EOF while parsing a list")),
        }
    }

    /// An object at the current position.
    fn object<V: Visitor<'de>>(&mut self, req: Req, v: V) -> Result<V::Value> {
        let start = self.pos;
        self.pos += 1;
        self.enter()?;
        let scan = self.tags
            && match req {
                Req::Any | Req::Seq | Req::Bytes => true,
                Req::Map | Req::Struct => self.first_key_is_dunder()?,
            };
        let out = if scan { self.tagged(start, req, v)? } else { self.map(v)? };
        self.leave();
        Ok(out)
    }

    /// Whether the object's first key starts with `__` (position kept).
    fn first_key_is_dunder(&mut self) -> Result<bool> {
        if self.ws() != Some(b'"') {
            return Ok(false);
        }
        let at = self.pos;
        let raw = &self.s[at + 1..];
        let dunder = match raw {
            [b'_', b'_', ..] => true,
            [b'\\', ..] | [b'_', b'\\', ..] => {
                let d = self.string()?.as_str().starts_with("__");
                self.pos = at;
                d
            }
            _ => false,
        };
        Ok(dunder)
    }

    /// An object (just after its `{`) that may carry type tags.
    fn tagged<V: Visitor<'de>>(&mut self, start: usize, req: Req, v: V) -> Result<V::Value> {
        let (tag, end) = self.scan_tags()?;
        let invalid = |r: &mut Self, unexp: Unexpected<'_>, v: &V| {
            let e = de::Error::invalid_type(unexp, v);
            Err(r.fix(e))
        };
        let out = match tag {
            Tag::Plain => {
                self.pos = start + 1;
                return match req {
                    Req::Seq => {
                        self.pos = start;
                        invalid(self, Unexpected::Map, &v)
                    }
                    _ => self.map(v),
                };
            }
            Tag::Seq { at, set } => match req {
                Req::Map => invalid(self, Unexpected::Seq, &v),
                Req::Struct if set => invalid(self, Unexpected::Seq, &v),
                _ => {
                    self.pos = at;
                    self.array(v)
                }
            },
            Tag::Bytes(b) => match req {
                Req::Any | Req::Bytes => v.visit_byte_buf(b),
                Req::Seq => {
                    let mut seq = de::value::SeqDeserializer::new(b.into_iter());
                    let out = v.visit_seq(&mut seq)?;
                    seq.end()?;
                    Ok(out)
                }
                Req::Map | Req::Struct => invalid(self, Unexpected::Bytes(&b), &v),
            },
            Tag::Dict { at } => match req {
                Req::Seq => invalid(self, Unexpected::Map, &v),
                _ => {
                    self.pos = at + 1;
                    let out = v.visit_map(Pairs { r: self, first: true })?;
                    match self.ws() {
                        Some(b']') => Ok(out),
                        _ => Err(self.err("trailing entries in map (invalid length)")),
                    }
                }
            },
            Tag::Float(f) => match req {
                Req::Any | Req::Bytes => v.visit_f64(f),
                _ => invalid(self, Unexpected::Float(f), &v),
            },
        };
        self.pos = end;
        out
    }

    /// Scan an object (just after its `{`) for type tags, skipping its values.
    /// Gives the tag and the position after the object (meaningful unless `Plain`).
    fn scan_tags(&mut self) -> Result<(Tag, usize)> {
        // First occurrence of each tag key: the offset of its value.
        let mut at = [None::<usize>; 5];
        let mut n = 0;
        let mut marker = false;
        if self.ws() == Some(b'}') {
            return Ok((Tag::Plain, self.pos + 1));
        }
        loop {
            match self.ws() {
                Some(b'"') => {}
                Some(_) => return Err(self.err("key must be a string")),
                None => return Err(self.err("EOF while parsing an object")),
            }
            let key = match self.string()?.as_str() {
                "__py__" => TagKey::Py,
                "__pytype__" => TagKey::PyType,
                "__data__" => TagKey::Data,
                "__items__" => TagKey::Items,
                "__val__" => TagKey::Val,
                _ => TagKey::Other,
            };
            marker |= matches!(key, TagKey::Py | TagKey::PyType);
            self.expect(b':', "expected `:`")?;
            self.ws();
            let vs = self.pos;
            self.skip()?;
            if key != TagKey::Other && at[key as usize].is_none() {
                at[key as usize] = Some(vs);
            }
            n += 1;
            if n > 3 {
                return Ok((Tag::Plain, self.pos));
            }
            match self.ws() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => return Err(self.err("expected `,` or `}`")),
                None => return Err(self.err("EOF while parsing an object")),
            }
        }
        let end = self.pos;
        if !marker {
            return Ok((Tag::Plain, end));
        }
        let [py, pytype, data, items, val] = at;
        let py = self.text_at(py, |s| match s {
            "builtins.tuple" => 1,
            "builtins.set" | "builtins.frozenset" => 2,
            "builtins.bytes" => 3,
            _ => 0,
        })?;
        let pytype = self.text_at(pytype, |s| match s {
            "bytes" => 1,
            "dict" => 2,
            "float" => 3,
            _ => 0,
        })?;
        let is_array = |r: &Self, at: Option<usize>| at.filter(|&p| r.s[p] == b'[');
        let tag = match (py, pytype) {
            (Some(k @ (1 | 2)), None) if n == 2 => match is_array(self, data) {
                Some(p) => Tag::Seq { at: p, set: k == 2 },
                None => Tag::Plain,
            },
            (Some(3), Some(1)) | (None, Some(1)) => {
                let b = self.text_at(data, |s| base64::engine::general_purpose::STANDARD.decode(s).ok())?;
                match b.flatten() {
                    Some(b) => Tag::Bytes(b),
                    None => Tag::Plain,
                }
            }
            (None, Some(2)) if n == 2 => match is_array(self, items) {
                Some(p) if self.all_pairs(p)? => Tag::Dict { at: p },
                _ => Tag::Plain,
            },
            (None, Some(3)) if n == 2 => match self.text_at(val, |s| match s {
                "nan" => Some(f64::NAN),
                "inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                _ => None,
            })? {
                Some(Some(f)) => Tag::Float(f),
                _ => Tag::Plain,
            },
            _ => Tag::Plain,
        };
        Ok((tag, end))
    }

    /// `f` of the string at offset `at`, or `None` when there is no string there.
    fn text_at<R>(&mut self, at: Option<usize>, f: impl FnOnce(&str) -> R) -> Result<Option<R>> {
        let Some(at) = at.filter(|&p| self.s[p] == b'"') else {
            return Ok(None);
        };
        let back = self.pos;
        self.pos = at;
        let r = f(self.string()?.as_str());
        self.pos = back;
        Ok(Some(r))
    }

    /// Whether the array at offset `at` holds only two-element arrays.
    fn all_pairs(&mut self, at: usize) -> Result<bool> {
        let back = self.pos;
        self.pos = at + 1;
        let mut ok = true;
        if self.ws() != Some(b']') {
            loop {
                if self.ws() != Some(b'[') {
                    ok = false;
                    break;
                }
                self.pos += 1;
                let mut len = 0;
                if self.ws() != Some(b']') {
                    loop {
                        self.skip()?;
                        len += 1;
                        if self.ws() == Some(b',') {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.pos += 1; // `]`, validated by the scan
                if len != 2 {
                    ok = false;
                    break;
                }
                if self.ws() == Some(b',') {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.pos = back;
        Ok(ok)
    }

    /// An untagged object (just after its `{`), streamed as a map.
    fn map<V: Visitor<'de>>(&mut self, v: V) -> Result<V::Value> {
        let out = v.visit_map(Map { r: self, first: true })?;
        match self.ws() {
            Some(b'}') => {
                self.pos += 1;
                Ok(out)
            }
            Some(b',') => Err(self.err("trailing entries in map (invalid length)")),
            Some(_) => Err(self.err("expected `,` or `}`")),
            None => Err(self.err("EOF while parsing an object")),
        }
    }

    /// The value at the current position as a tag-aware [`Value`] (exactly what the
    /// older path built).
    fn value_tree(&mut self) -> Result<Value> {
        match self.ws() {
            None => Err(self.err("EOF while parsing a value")),
            Some(b'n') => self.literal(b"null").map(|()| Value::Null),
            Some(b't') => self.literal(b"true").map(|()| Value::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Value::Bool(false)),
            Some(b'-' | b'0'..=b'9') => {
                let n = self.number()?;
                Ok(n.into_value(self.s))
            }
            Some(b'"') => Ok(Value::Str(self.string()?.as_str().to_owned())),
            Some(b'[') => {
                self.pos += 1;
                self.enter()?;
                let mut items = Vec::new();
                if self.ws() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        items.push(self.value_tree()?);
                        match self.ws() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            Some(_) => return Err(self.err("expected `,` or `]`")),
                            None => return Err(self.err("EOF while parsing a list")),
                        }
                    }
                }
                self.leave();
                Ok(Value::List(items))
            }
            Some(b'{') => {
                self.pos += 1;
                self.enter()?;
                let mut entries = Vec::new();
                if self.ws() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        match self.ws() {
                            Some(b'"') => {}
                            Some(_) => return Err(self.err("key must be a string")),
                            None => return Err(self.err("EOF while parsing an object")),
                        }
                        let k = self.string()?.as_str().to_owned();
                        self.expect(b':', "expected `:`")?;
                        let v = self.value_tree()?;
                        entries.push((Value::Str(k), v));
                        match self.ws() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            Some(_) => return Err(self.err("expected `,` or `}`")),
                            None => return Err(self.err("EOF while parsing an object")),
                        }
                    }
                }
                self.leave();
                let map = Value::Map(entries);
                Ok(if self.tags { crate::value::untag(map) } else { map })
            }
            Some(_) => Err(self.err("expected value")),
        }
    }

    /// An `i128`/`u128` request: integers are given exactly.
    fn wide<V: Visitor<'de>>(&mut self, v: V) -> Result<V::Value> {
        match self.ws() {
            Some(b'-' | b'0'..=b'9') => {
                let n = self.number()?;
                n.visit_wide(self.s, v)
            }
            _ => self.value(Req::Any, v),
        }
    }

    /// Parse the value into a [`Value`] and let it answer a request.
    fn via_value<T>(
        &mut self,
        f: impl FnOnce(Value) -> std::result::Result<T, crate::error::ValueError>,
    ) -> Result<T> {
        let v = self.value_tree()?;
        f(v).map_err(|e| self.fix(Error::new(e)))
    }
}

/// Elements of an array.
struct Seq<'a, 'de> {
    r: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.r.ws() {
            Some(b']') => return Ok(None),
            Some(b',') if !self.first => {
                self.r.pos += 1;
            }
            Some(_) if self.first => {}
            Some(_) => return Err(self.r.err("expected `,` or `]`")),
            None => return Err(self.r.err("EOF while parsing a list")),
        }
        self.first = false;
        seed.deserialize(&mut *self.r).map(Some)
    }
}

/// Entries of an untagged object.
struct Map<'a, 'de> {
    r: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Map<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.r.ws() {
            Some(b'}') => return Ok(None),
            Some(b',') if !self.first => {
                self.r.pos += 1;
                match self.r.ws() {
                    Some(b'"') => {}
                    Some(_) => return Err(self.r.err("key must be a string")),
                    None => return Err(self.r.err("EOF while parsing an object")),
                }
            }
            Some(b'"') if self.first => {}
            Some(_) if self.first => return Err(self.r.err("key must be a string")),
            Some(_) => return Err(self.r.err("expected `,` or `}`")),
            None => return Err(self.r.err("EOF while parsing an object")),
        }
        self.first = false;
        let k = seed.deserialize(Key { r: &mut *self.r })?;
        self.r.expect(b':', "expected `:`")?;
        Ok(Some(k))
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.r)
    }
}

/// The `[key, value]` pairs of a tagged dict's `__items__` (validated by the scan).
struct Pairs<'a, 'de> {
    r: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Pairs<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.r.ws() {
            Some(b']') => return Ok(None),
            Some(b',') if !self.first => {
                self.r.pos += 1;
                self.r.ws();
            }
            _ => {}
        }
        self.first = false;
        self.r.pos += 1; // `[`
        let k = seed.deserialize(&mut *self.r)?;
        self.r.expect(b',', "expected `,`")?;
        Ok(Some(k))
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let v = seed.deserialize(&mut *self.r)?;
        self.r.expect(b']', "expected `]`")?;
        Ok(v)
    }
}

/// An object key: a string, read the way a `Value::Str` would be.
struct Key<'a, 'de> {
    r: &'a mut Reader<'de>,
}

impl<'de> Key<'_, 'de> {
    fn invalid<T>(self, exp: &dyn Expected) -> Result<T> {
        let s = self.r.string()?;
        let e = de::Error::invalid_type(Unexpected::Str(s.as_str()), exp);
        Err(self.r.fix(e))
    }

    /// A number or boolean request on a key: plain JSON reads the quoted text as one
    /// (serde_json writes integer, float and bool keys quoted); `hashstash` keys are text.
    fn scalar<V: Visitor<'de>>(
        self,
        v: V,
        read: impl FnOnce(&mut Reader<'de>, V) -> Result<V::Value>,
    ) -> Result<V::Value> {
        if self.r.tags {
            return de::Deserializer::deserialize_any(self, v);
        }
        let start = self.r.pos + 1;
        let text = match self.r.string()? {
            Str::Input(_) => &self.r.s[start..self.r.pos - 1],
            Str::Scratch(_) => return Err(self.r.err("expected a number or boolean key")),
        };
        let mut inner = Reader::plain(text);
        if !matches!(text.first(), Some(b'-' | b'0'..=b'9' | b't' | b'f')) {
            return Err(self.r.err("expected a number or boolean key"));
        }
        let out = read(&mut inner, v).map_err(|e| self.r.fix(e))?;
        if inner.pos != text.len() {
            return Err(self.r.err("expected a number or boolean key"));
        }
        Ok(out)
    }
}

macro_rules! scalar_keys {
    ($($m:ident)*) => {$(
        fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
            self.scalar(v, |r, v| de::Deserializer::$m(r, v))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Key<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let s = self.r.string()?;
        Str::visit(s, v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        v.visit_some(self)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.invalid(&v)
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value> {
        self.invalid(&v)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, v: V) -> Result<V::Value> {
        if name == VALUE_MAGIC { self.deserialize_any(v) } else { v.visit_newtype_struct(self) }
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.invalid(&v)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value> {
        self.invalid(&v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _: &'static str, _: usize, v: V) -> Result<V::Value> {
        self.invalid(&v)
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.invalid(&v)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        self.invalid(&v)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        match self.r.string()? {
            Str::Input(s) => v.visit_enum(de::value::BorrowedStrDeserializer::new(s)),
            Str::Scratch(s) => v.visit_enum(IntoDeserializer::<Error>::into_deserializer(s)),
        }
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.r.string()?;
        v.visit_unit()
    }
    scalar_keys! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }
    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf identifier
    }
}

/// A data-carrying enum variant read from a one-entry object `{variant: payload}`.
struct Enum<'a, 'de> {
    r: &'a mut Reader<'de>,
}

impl<'de> EnumAccess<'de> for Enum<'_, 'de> {
    type Error = Error;
    type Variant = Self;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self)> {
        let tag = seed.deserialize(Key { r: &mut *self.r })?;
        self.r.expect(b':', "expected `:`")?;
        Ok((tag, self))
    }
}

impl<'de> VariantAccess<'de> for Enum<'_, 'de> {
    type Error = Error;
    fn unit_variant(self) -> Result<()> {
        if self.r.ws() == Some(b'n') {
            return self.r.literal(b"null");
        }
        Err(self.r.invalid_type(&"a unit variant"))
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value> {
        seed.deserialize(&mut *self.r)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value> {
        self.r.value(Req::Seq, v)
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], v: V) -> Result<V::Value> {
        self.r.value(Req::Map, v)
    }
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.value(Req::Any, v)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.value(Req::Bytes, v)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.value(Req::Bytes, v)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.value(Req::Seq, v)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value> {
        self.value(Req::Seq, v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _: &'static str, _: usize, v: V) -> Result<V::Value> {
        self.value(Req::Seq, v)
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.value(Req::Map, v)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        self.value(Req::Struct, v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.ws() == Some(b'n') {
            self.literal(b"null")?;
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.ws() == Some(b'n') {
            self.literal(b"null")?;
            v.visit_unit()
        } else {
            Err(self.invalid_type(&v))
        }
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value> {
        self.deserialize_unit(v)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, v: V) -> Result<V::Value> {
        if name == VALUE_MAGIC {
            // A dynamic `Value`: built exactly as before (every tag resolved).
            return self.via_value(|x| de::Deserializer::deserialize_newtype_struct(x, name, v));
        }
        v.visit_newtype_struct(self)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        match self.ws() {
            Some(b'"') => match self.string()? {
                Str::Input(s) => v.visit_enum(de::value::BorrowedStrDeserializer::new(s)),
                Str::Scratch(s) => v.visit_enum(IntoDeserializer::<Error>::into_deserializer(s)),
            },
            Some(b'{') => {
                let start = self.pos;
                self.pos += 1;
                if self.ws() != Some(b'"') || (self.tags && self.first_key_is_dunder()?) {
                    // Possibly tagged (or empty): answer as a `Value` would.
                    self.pos = start;
                    return self.via_value(|x| de::Deserializer::deserialize_enum(x, name, variants, v));
                }
                self.enter()?;
                let out = v.visit_enum(Enum { r: &mut *self })?;
                self.leave();
                match self.ws() {
                    Some(b'}') => {
                        self.pos += 1;
                        Ok(out)
                    }
                    Some(_) => Err(self.err("expected an enum variant (a string or a one-entry map)")),
                    None => Err(self.err("EOF while parsing an object")),
                }
            }
            _ => Err(self.invalid_type(&"an enum variant (a string or a one-entry map)")),
        }
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.skip()?;
        v.visit_unit()
    }
    fn deserialize_i128<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.wide(v)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.wide(v)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string identifier
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Serialize};

    use super::{from_slice, read_value};
    use crate::Value;
    use crate::hashstash::reference;

    /// Values equal, floats compared by bits (NaN == NaN) or within 2 ulp (serde_json's
    /// default float parsing is not always correctly rounded).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float(x), Value::Float(y)) => {
                x.to_bits() == y.to_bits() || (x.is_finite() && (x - y).abs() <= 2.0 * f64::EPSILON * x.abs())
            }
            // Deliberate: integers beyond 64 bits are exact here, floats in the old reader.
            (Value::BigInt(n), Value::Float(_)) => same(&Value::Float(n.to_f64()), b),
            (Value::List(x), Value::List(y))
            | (Value::Tuple(x), Value::Tuple(y))
            | (Value::Set(x), Value::Set(y))
            | (Value::FrozenSet(x), Value::FrozenSet(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (Value::Map(x), Value::Map(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
            }
            (Value::Tagged(x), Value::Tagged(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
            }
            _ => a == b,
        }
    }

    /// The old path: JSON -> tag-aware `Value` -> `T`.
    fn via_old<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
        let v = reference::read_value(bytes).ok()?;
        T::deserialize(v).ok()
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum E {
        Unit,
        New(i32),
        Tup(i32, String),
        St { a: i32 },
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct S {
        a: i32,
        b: Option<String>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct P(i32, i32);

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(untagged)]
    enum Untagged {
        Num(f64),
        Text(String),
        List(Vec<Value>),
        Map(BTreeMap<String, Value>),
    }

    #[derive(Debug, PartialEq)]
    struct Bytes(Vec<u8>);

    impl<'de> Deserialize<'de> for Bytes {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                    let mut v = Vec::new();
                    while let Some(b) = seq.next_element()? {
                        v.push(b);
                    }
                    Ok(Bytes(v))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    const CORPUS: &[&str] = &[
        "null",
        "true",
        " false ",
        "0",
        "-0",
        "-0.0",
        "12",
        "-12",
        "1.5",
        "1e-05",
        "1e+16",
        "1E2",
        "0.00001",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "1180591620717411303424",
        "-1180591620717411303424",
        "123456789012345678901234567890e-10",
        "0.000000000000000000000000000001234",
        "1e400",
        "-1e400",
        "1e-400",
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "1e+",
        r#""plain""#,
        r#""\u00e9\ud83d\ude00 \" \\ \/ \b\f\n\r\t""#,
        r#""\ud800""#,
        r#""\udc00x""#,
        r#""\ud800\u0041""#,
        r#""\x""#,
        r#""\u12""#,
        "\"tab\there\"",
        "\"\u{e9}t\u{e9}\"",
        "[]",
        "[1,2,3]",
        "[1,[2,[3,[4]]]]",
        "[1,]",
        "[,1]",
        "{}",
        r#"{"a":1}"#,
        r#"{"a":1,"b":"x"}"#,
        r#"{"a":1,"b":null}"#,
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        r#"{1:2}"#,
        r#"{"a":1,"a":2}"#,
        r#"{"Unit":null}"#,
        r#""Unit""#,
        r#"{"New":5}"#,
        r#"{"Tup":[1,"x"]}"#,
        r#"{"Tup":{"__py__":"builtins.tuple","__data__":[1,"x"]}}"#,
        r#"{"St":{"a":3}}"#,
        r#"{"Unit":null,"New":1}"#,
        r#"{"__py__":"builtins.tuple","__data__":[1,2]}"#,
        r#"{"__data__":[1,2],"__py__":"builtins.tuple"}"#,
        r#"{"__data__": [1, 2], "__py__": "builtins.tuple"}"#,
        r#"{"__py__":"builtins.tuple","__data__":[1,"x"]}"#,
        r#"{"__py__":"builtins.tuple","__data__":[]}"#,
        r#"{"__py__":"builtins.tuple","__data__":"no"}"#,
        r#"{"__py__":"builtins.tuple","__data__":[1],"x":1}"#,
        r#"{"__py__":"builtins.tuple"}"#,
        r#"{"__py__":"builtins.set","__data__":[2,1]}"#,
        r#"{"__data__":[2,1],"__py__":"builtins.set"}"#,
        r#"{"__py__":"builtins.frozenset","__data__":[3]}"#,
        r#"{"__py__":"builtins.bytes","__pytype__":"bytes","__data__":"YWI="}"#,
        r#"{"__data__":"YWI=","__py__":"builtins.bytes","__pytype__":"bytes"}"#,
        r#"{"__pytype__":"bytes","__data__":"YWI=","__py__":"builtins.bytes"}"#,
        r#"{"__pytype__":"bytes","__data__":"YWI="}"#,
        r#"{"x":1,"__pytype__":"bytes","__data__":"YWI="}"#,
        r#"{"__py__":"builtins.bytes","__pytype__":"bytes","__data__":"!!"}"#,
        r#"{"__py__":5,"__pytype__":"bytes","__data__":"AAEC"}"#,
        r#"{"__pytype__":"dict","__items__":[[1,"x"],[2,"y"]]}"#,
        r#"{"__items__":[[1,"x"],[2,"y"]],"__pytype__":"dict"}"#,
        r#"{"__pytype__":"dict","__items__":[[1,"x"],[2]]}"#,
        r#"{"__pytype__":"dict","__items__":[]}"#,
        r#"{"__pytype__":"dict","__items__":[[{"__py__":"builtins.tuple","__data__":[1,2]},"t"]]}"#,
        r#"{"__pytype__":"dict","__items__":[["a",1]]}"#,
        r#"{"__pytype__":"float","__val__":"nan"}"#,
        r#"{"__val__":"inf","__pytype__":"float"}"#,
        r#"{"__pytype__": "float", "__val__": "-inf"}"#,
        r#"{"__pytype__":"float","__val__":"zero"}"#,
        r#"{"__args__":["1.5"],"__py__":"decimal.Decimal","__pytype__":"reducer"}"#,
        r#"{"__data__":"/tmp/x","__py__":"pathlib.PosixPath"}"#,
        r#"{"__x":1,"a":2}"#,
        r#"{"__x":1}"#,
        r#"{"\u005f_py__":"builtins.tuple","__data__":[1]}"#,
        r#"{"a":{"__py__":"builtins.tuple","__data__":[1,{"__py__":"builtins.set","__data__":[2]}]}}"#,
        r#"[{"__py__":"builtins.tuple","__data__":[[{"__pytype__":"float","__val__":"inf"}]]}]"#,
        r#"{"a":1,"b":2,"c":3,"__py__":"builtins.tuple"}"#,
        r#"{"__py__":"builtins.tuple","__data__":[1,2],"__py__":"builtins.set"}"#,
        r#"{"__hs_v1__":true,"_fv":1,"_values":[1],"_written_at":[1.5]}"#,
        "[1] x",
        "[1] ",
        "",
        "   ",
        "nul",
        "tru",
        "[1,2",
        r#"{"a":"#,
    ];

    /// Decode `json` into `T` both ways: both fail, or both give equal values.
    fn agree<T: DeserializeOwned + std::fmt::Debug>(json: &str) {
        let new = from_slice::<T>(json.as_bytes()).ok();
        let old = via_old::<T>(json.as_bytes());
        if json.starts_with(r#"{"x":1,"__pytype__":"bytes""#) && old.is_none() {
            // Known, deliberate: a map or struct request streams an object whose first
            // key is not a tag; the old path saw bytes there and refused.
            return;
        }
        // (Debug text, so NaN equals NaN)
        assert_eq!(format!("{new:?}"), format!("{old:?}"), "{json} as {}", std::any::type_name::<T>());
    }

    #[test]
    fn values_agree_with_the_old_reader() {
        for json in CORPUS {
            let new = read_value(json.as_bytes());
            let old = reference::read_value(json.as_bytes());
            match (&new, &old) {
                (Ok(a), Ok(b)) => assert!(same(a, b), "{json}: {a:?} vs {b:?}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{json}: new {new:?} old {old:?}"),
            }
            // `Value` through the generic `Deserialize` path too.
            let via_serde = from_slice::<Value>(json.as_bytes()).ok();
            match (&via_serde, &new) {
                (Some(a), Ok(b)) => assert!(same(a, b), "{json}"),
                (None, Err(_)) => {}
                _ => panic!("{json}: {via_serde:?} vs {new:?}"),
            }
        }
    }

    #[test]
    fn typed_decoding_agrees_with_the_old_reader() {
        for json in CORPUS {
            agree::<i64>(json);
            agree::<u64>(json);
            agree::<i32>(json);
            agree::<u8>(json);
            agree::<bool>(json);
            agree::<String>(json);
            agree::<char>(json);
            agree::<Option<i64>>(json);
            agree::<()>(json);
            agree::<Vec<i64>>(json);
            agree::<Vec<Value>>(json);
            agree::<Vec<u8>>(json);
            agree::<Bytes>(json);
            agree::<(i64, i64)>(json);
            agree::<(i64, String)>(json);
            agree::<P>(json);
            agree::<BTreeSet<i64>>(json);
            agree::<crate::Set<i64>>(json);
            agree::<BTreeMap<String, i64>>(json);
            agree::<BTreeMap<i64, String>>(json);
            agree::<BTreeMap<String, Value>>(json);
            agree::<BTreeMap<(i64, i64), String>>(json);
            agree::<S>(json);
            agree::<E>(json);
            agree::<Vec<E>>(json);
            agree::<Untagged>(json);
            agree::<Option<Vec<(i64, Value)>>>(json);
            // floats: NaN != NaN, so compare bits
            let new = from_slice::<f64>(json.as_bytes()).ok().map(f64::to_bits);
            let old = via_old::<f64>(json.as_bytes()).map(f64::to_bits);
            assert_eq!(new, old, "{json} as f64");
        }
    }

    /// A sample holding every construct, for truncation and corruption.
    const SAMPLE: &str = r#" {"a": [1, -2, 3.5e-3, true, false, null, "s\"\u00e9\ud83d\ude00"],
        "t": {"__data__": [1, {"__py__":"builtins.set","__data__":["x"]}], "__py__": "builtins.tuple"},
        "b": {"__py__":"builtins.bytes","__pytype__":"bytes","__data__":"AAEC"},
        "d": {"__pytype__":"dict","__items__":[[1,{"__pytype__":"float","__val__":"nan"}]]},
        "big": 18446744073709551616, "neg": -0.0, "e": 1e+16} "#;

    #[test]
    fn truncated_input_always_errors() {
        let bytes = SAMPLE.as_bytes();
        assert!(read_value(bytes).is_ok());
        for cut in 0..bytes.len() {
            let part = &bytes[..cut];
            // (the last byte is whitespace: every shorter prefix is incomplete)
            if cut < bytes.len() - 1 {
                assert!(read_value(part).is_err(), "prefix {cut} decoded as Value");
                assert!(from_slice::<Value>(part).is_err(), "prefix {cut}");
                assert!(from_slice::<BTreeMap<String, Value>>(part).is_err(), "prefix {cut}");
                assert!(from_slice::<Untagged>(part).is_err(), "prefix {cut}");
                assert!(from_slice::<serde::de::IgnoredAny>(part).is_err(), "prefix {cut}");
            }
        }
    }

    #[test]
    fn corrupted_input_agrees_with_the_old_reader() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"{}[],:\"\\_ 0123456789.eE+-tfnulaxyz";
        for _ in 0..3000 {
            let mut b = SAMPLE.as_bytes().to_vec();
            for _ in 0..=(next() % 3) {
                let at = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[at] = alphabet[(next() as usize) % alphabet.len()],
                    1 => {
                        b.remove(at);
                    }
                    _ => b.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            let new = read_value(&b);
            let old = reference::read_value(&b);
            let text = String::from_utf8_lossy(&b);
            match (&new, &old) {
                (Ok(x), Ok(y)) => assert!(same(x, y), "{text}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{text}: new {new:?} old {old:?}"),
            }
            let new = from_slice::<BTreeMap<String, Value>>(&b).ok();
            let old = via_old::<BTreeMap<String, Value>>(&b);
            assert_eq!(new.is_some(), old.is_some(), "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(read_value(deep.as_bytes()).is_err());
        assert!(from_slice::<Value>(deep.as_bytes()).is_err());
        assert!(from_slice::<serde::de::IgnoredAny>(deep.as_bytes()).is_err());
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(from_slice::<Value>(ok.as_bytes()).is_ok());
        let objs = r#"{"a":"#.repeat(1000);
        assert!(from_slice::<Value>(objs.as_bytes()).is_err());
    }

    #[test]
    fn numbers_are_exact() {
        for (json, want) in [
            ("1e-05", 1e-5),
            ("1e+16", 1e16),
            ("0.1", 0.1),
            ("-0.0", -0.0),
            ("0.8833108082136426", 0.8833108082136426),
            ("0.9708819781538284", 0.9708819781538284),
            ("2.2250738585072014e-308", 2.2250738585072014e-308),
            ("5e-324", 5e-324),
            ("1.7976931348623157e308", f64::MAX),
            ("123456789012345678901234567890", 1.2345678901234568e29),
            ("-0", -0.0),
        ] {
            let got = from_slice::<f64>(json.as_bytes()).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{json}");
        }
        // every float written by ryu reads back bit for bit
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = f64::from_bits(state);
            if x.is_finite() {
                let text = ryu::Buffer::new().format_finite(x).to_owned();
                let got = from_slice::<f64>(text.as_bytes()).unwrap();
                assert_eq!(got.to_bits(), x.to_bits(), "{text}");
                let mut repr = Vec::new();
                crate::hashstash::write_repr(&mut repr, x);
                assert_eq!(from_slice::<f64>(&repr).unwrap().to_bits(), x.to_bits());
            }
        }
    }
}
