//! Writing the `hashstash` JSON directly into a byte buffer.
//!
//! Two modes share one writer:
//! - *key* mode reproduces Python's `json.dumps(sort_keys=True)` byte for byte
//!   (`", "`/`": "` separators, sorted maps, `ensure_ascii`, float `repr`);
//! - *value* mode is compact JSON in serde's order, without ASCII escaping.
//!
//! Maps are buffered in place: key mode writes every entry, then sorts the entry
//! ranges and rewrites the map; value mode writes a plain JSON object optimistically
//! and rewrites it as the tagged `__items__` form on the first non-string (or
//! reserved) key.

use base64::Engine as _;
use serde::ser::{self, Serialize};

use super::float;
use crate::bigint::{BIGINT_MAGIC, Digits};
use crate::depth::MAX_DEPTH;
use crate::error::ValueError;
use crate::set::{FROZENSET_MAGIC, SET_MAGIC};
use crate::tagged::TAGGED_MAGIC;

/// Keys that force the tagged `__items__` form of a dict.
const RESERVED: [&str; 3] = ["__py__", "__pytype__", "__data__"];

fn is_reserved(s: &str) -> bool {
    s.starts_with("__") && RESERVED.contains(&s)
}

/// One buffered entry of an open key-mode map (or sorted set).
#[derive(Clone, Copy)]
struct KEntry {
    /// Raw (unescaped) key string in `strs`, when the key is a string.
    raw: Option<(usize, usize)>,
    /// Key JSON range in `out`.
    k: (usize, usize),
    /// Value JSON range in `out`.
    v: (usize, usize),
}

/// The `hashstash` JSON writer.
pub(crate) struct Writer<'a> {
    out: &'a mut Vec<u8>,
    key: bool,
    /// Value mode: (key start, value start) of each entry of open optimistic maps.
    offs: Vec<(usize, usize)>,
    /// Key mode: entries of open maps and sets.
    entries: Vec<KEntry>,
    /// Raw key strings of open maps.
    strs: Vec<u8>,
    scratch: Vec<u8>,
    /// The next sequence is a set's items: sort and deduplicate them (key mode).
    set_next: bool,
    /// The next map is a Python tagged object ([`Tagged`](crate::Tagged)): its
    /// reserved keys are written as they are.
    tagged_next: bool,
    /// JSON arrays and objects open around the current position.
    depth: usize,
    /// The deepest nesting reached inside the innermost open compound.
    peak: usize,
}

impl<'a> Writer<'a> {
    /// A writer appending to `out`; `key` selects the canonical key form.
    pub(crate) fn new(out: &'a mut Vec<u8>, key: bool) -> Self {
        Writer {
            out,
            key,
            offs: Vec::new(),
            entries: Vec::new(),
            strs: Vec::new(),
            scratch: Vec::new(),
            set_next: false,
            tagged_next: false,
            depth: 0,
            peak: 0,
        }
    }

    /// Open `levels` JSON containers; refused past [`MAX_DEPTH`], which readers stop at.
    fn enter(&mut self, levels: usize) -> Result<(), ValueError> {
        let d = self.depth + levels;
        if d > MAX_DEPTH {
            return Err(ValueError(format!(
                "the value nests deeper than {MAX_DEPTH} levels (stash_serial::MAX_DEPTH), the most a \
                 hashstash reader accepts: refused, since it could not be read back"
            )));
        }
        self.depth = d;
        self.peak = self.peak.max(d);
        Ok(())
    }

    fn leave(&mut self, levels: usize) {
        self.depth -= levels;
    }

    fn sep(&self) -> &'static [u8] {
        if self.key { b", " } else { b"," }
    }

    fn colon(&self) -> &'static [u8] {
        if self.key { b": " } else { b":" }
    }

    fn write_str(&mut self, s: &str) {
        if self.key {
            escape_ascii(self.out, s);
        } else {
            escape_utf8(self.out, s);
        }
    }

    fn write_f64(&mut self, x: f64) -> Result<(), ValueError> {
        match float::non_finite_tag(x) {
            Some(tag) => {
                self.enter(1)?;
                self.leave(1);
                let (a, b) = if self.key {
                    (&br#"{"__pytype__": "float", "__val__": ""#[..], &br#""}"#[..])
                } else {
                    (&br#"{"__pytype__":"float","__val__":""#[..], &br#""}"#[..])
                };
                self.out.extend_from_slice(a);
                self.out.extend_from_slice(tag.as_bytes());
                self.out.extend_from_slice(b);
            }
            None if self.key => float::write_repr(self.out, x),
            None => float::write_compact(self.out, x),
        }
        Ok(())
    }

    fn tuple_open(&mut self) {
        let head: &[u8] =
            if self.key { br#"{"__data__": "# } else { br#"{"__py__":"builtins.tuple","__data__":"# };
        self.out.extend_from_slice(head);
    }

    fn tuple_close(&mut self) {
        let tail: &[u8] = if self.key { br#", "__py__": "builtins.tuple"}"# } else { b"}" };
        self.out.extend_from_slice(tail);
    }

    /// `{"Variant": ` before a data-carrying enum variant.
    fn variant_open(&mut self, variant: &str) {
        self.out.push(b'{');
        self.write_str(variant);
        let c = self.colon();
        self.out.extend_from_slice(c);
    }
}

/// Escape like Python's `json.dumps(ensure_ascii=True)`.
fn escape_ascii(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        i = scan(bytes, i, true);
        let Some(&b) = bytes.get(i) else { break };
        out.extend_from_slice(&bytes[start..i]);
        if b < 0x80 {
            push_escape(out, b);
            i += 1;
        } else {
            let c = s[i..].chars().next().unwrap_or('\u{fffd}');
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                push_u(out, *u);
            }
            i += c.len_utf8();
        }
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[inline]
fn has_zero_byte(w: u64) -> u64 {
    w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080
}

/// The first index from `i` holding `"`, `\`, a control character or (when `ascii`)
/// a byte outside printable ASCII; `bytes.len()` when there is none.
#[inline]
fn scan(bytes: &[u8], mut i: usize, ascii: bool) -> usize {
    while i + 8 <= bytes.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        let w = u64::from_le_bytes(w);
        let mut m = has_zero_byte(w ^ 0x2222_2222_2222_2222)
            | has_zero_byte(w ^ 0x5c5c_5c5c_5c5c_5c5c)
            | (w.wrapping_sub(0x2020_2020_2020_2020) & !w & 0x8080_8080_8080_8080);
        if ascii {
            m |= (w & 0x8080_8080_8080_8080) | has_zero_byte(w ^ 0x7f7f_7f7f_7f7f_7f7f);
        }
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b < 0x20 || b == b'"' || b == b'\\' || (ascii && b >= 0x7f) {
            break;
        }
        i += 1;
    }
    i
}

fn item_open(out: &mut Vec<u8>, count: usize) {
    out.extend_from_slice(if count > 0 { b",[" } else { b"[" });
}

/// Escape like serde_json / orjson: only `"`, `\` and control characters.
fn escape_utf8(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        let i = scan(bytes, start, false);
        let Some(&b) = bytes.get(i) else { break };
        out.extend_from_slice(&bytes[start..i]);
        push_escape(out, b);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn push_escape(out: &mut Vec<u8>, b: u8) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => push_u(out, u16::from(b)),
    }
}

fn push_u(out: &mut Vec<u8>, u: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[usize::from((u >> shift) & 0xf)]);
    }
}

/// A cheap error for [`StrProbe`]: "this key is not a string".
#[derive(Debug)]
struct NotStr;

impl std::fmt::Display for NotStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a string")
    }
}

impl std::error::Error for NotStr {}

impl ser::Error for NotStr {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotStr
    }
}

/// Serializes a map key if it is a string (str, char, unit variant, newtype of those),
/// appending the raw string to the buffer; fails with [`NotStr`] otherwise.
struct StrProbe<'b>(&'b mut Vec<u8>);

macro_rules! not_str {
    ($($f:ident($($t:ty),*);)*) => {
        $(fn $f(self, $(_: $t),*) -> Result<(), NotStr> { Err(NotStr) })*
    };
}

impl ser::Serializer for StrProbe<'_> {
    type Ok = ();
    type Error = NotStr;
    crate::__refuse_compounds!((), NotStr, NotStr);

    fn serialize_str(self, v: &str) -> Result<(), NotStr> {
        self.0.extend_from_slice(v.as_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), NotStr> {
        self.0.extend_from_slice(v.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), NotStr> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), NotStr> {
        if name == SET_MAGIC || name == FROZENSET_MAGIC || name == BIGINT_MAGIC {
            return Err(NotStr);
        }
        value.serialize(self)
    }
    not_str! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
        serialize_i128(i128); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
        serialize_u128(u128); serialize_f32(f32); serialize_f64(f64); serialize_bytes(&[u8]);
        serialize_none(); serialize_unit(); serialize_unit_struct(&'static str);
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), NotStr> {
        Err(NotStr)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotStr> {
        Err(NotStr)
    }
}

/// What an open compound closes as.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// A plain list.
    Seq,
    /// A list of set items, sorted and deduplicated at the end (key mode).
    SortedSeq,
    /// A tagged tuple.
    Tuple,
    /// A list inside `{"Variant": [...]}`.
    TupleVariant,
    /// A map or struct.
    Map,
    /// A struct inside `{"Variant": {...}}`.
    StructVariant,
}

/// An open sequence, tuple, map or struct.
pub(crate) struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    kind: Kind,
    /// Position where the compound's own text starts (after any variant/tuple prefix).
    start: usize,
    /// Base index into `w.offs` (value mode) or `w.entries` (key mode).
    base: usize,
    strs_base: usize,
    count: usize,
    /// Value mode: rewritten into the `__items__` form. Key mode: needs the `__items__` form.
    items: bool,
    /// A Python tagged object: reserved keys do not force the `__items__` form.
    tagged: bool,
    /// JSON containers this compound opened (closed at its end).
    levels: usize,
    /// `w.peak` outside this compound.
    outer_peak: usize,
}

impl<'w, 'a> Compound<'w, 'a> {
    /// A compound whose `levels` containers the writer has entered.
    fn new(w: &'w mut Writer<'a>, kind: Kind, levels: usize) -> Self {
        let outer_peak = std::mem::replace(&mut w.peak, w.depth);
        let start = w.out.len();
        let base = if w.key { w.entries.len() } else { w.offs.len() };
        let strs_base = w.strs.len();
        match kind {
            Kind::Seq | Kind::Tuple | Kind::TupleVariant => w.out.push(b'['),
            Kind::Map | Kind::StructVariant if !w.key => w.out.push(b'{'),
            _ => {}
        }
        Compound {
            w,
            kind,
            start,
            base,
            strs_base,
            count: 0,
            items: false,
            tagged: false,
            levels,
            outer_peak,
        }
    }

    /// The map takes the `__items__` form: what it holds moves two levels down (into
    /// the list of pairs and a pair).
    fn items_form(&mut self) -> Result<(), ValueError> {
        if self.items {
            return Ok(());
        }
        self.shift()?;
        self.items = true;
        Ok(())
    }

    /// The depth bookkeeping of [`Compound::items_form`].
    fn shift(&mut self) -> Result<(), ValueError> {
        let w = &mut *self.w;
        let (depth, peak) = (w.depth, w.peak);
        w.depth = peak;
        w.enter(2)?;
        w.depth = depth + 2;
        self.levels += 2;
        Ok(())
    }

    /// Close this compound's containers.
    fn close(w: &mut Writer<'_>, levels: usize, outer_peak: usize) {
        w.leave(levels);
        w.peak = w.peak.max(outer_peak);
    }

    fn element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        if self.kind == Kind::SortedSeq {
            let s = self.w.out.len();
            v.serialize(&mut *self.w)?;
            let e = self.w.out.len();
            self.w.entries.push(KEntry { raw: None, k: (s, e), v: (e, e) });
            return Ok(());
        }
        if self.count > 0 {
            let sep = self.w.sep();
            self.w.out.extend_from_slice(sep);
        }
        self.count += 1;
        v.serialize(&mut *self.w)
    }

    fn end_seq(self) {
        let w = self.w;
        Compound::close(w, self.levels, self.outer_peak);
        match self.kind {
            Kind::SortedSeq => {
                w.scratch.clear();
                w.scratch.extend_from_slice(&w.out[self.start..]);
                w.out.truncate(self.start);
                let start = self.start;
                let scratch = &w.scratch;
                let ents = &mut w.entries[self.base..];
                let bytes = |e: &KEntry| &scratch[e.k.0 - start..e.k.1 - start];
                ents.sort_by(|a, b| bytes(a).cmp(bytes(b)));
                w.out.push(b'[');
                let mut prev: Option<&[u8]> = None;
                for e in ents.iter() {
                    let b = bytes(e);
                    if prev == Some(b) {
                        continue;
                    }
                    if prev.is_some() {
                        w.out.extend_from_slice(b", ");
                    }
                    w.out.extend_from_slice(b);
                    prev = Some(b);
                }
                w.out.push(b']');
                w.entries.truncate(self.base);
            }
            Kind::Tuple => {
                w.out.push(b']');
                w.tuple_close();
            }
            Kind::TupleVariant => w.out.extend_from_slice(b"]}"),
            _ => w.out.push(b']'),
        }
    }

    /// A key known to be a string.
    fn key_str(&mut self, s: &str) -> Result<(), ValueError> {
        if self.w.key {
            let w = &mut *self.w;
            let rs = w.strs.len();
            w.strs.extend_from_slice(s.as_bytes());
            let re = w.strs.len();
            let ks = w.out.len();
            escape_ascii(w.out, s);
            let ke = w.out.len();
            w.entries.push(KEntry { raw: Some((rs, re)), k: (ks, ke), v: (ke, ke) });
            if !self.tagged && is_reserved(s) {
                self.items_form()?;
            }
            return Ok(());
        }
        if !self.items && !self.tagged && is_reserved(s) {
            self.convert()?;
        }
        let w = &mut *self.w;
        if self.items {
            item_open(w.out, self.count);
            escape_utf8(w.out, s);
            w.out.push(b',');
        } else {
            if self.count > 0 {
                w.out.push(b',');
            }
            let ks = w.out.len();
            escape_utf8(w.out, s);
            w.out.push(b':');
            w.offs.push((ks, w.out.len()));
        }
        self.count += 1;
        Ok(())
    }

    /// A string key held in `w.strs[rs..]`.
    fn key_arena(&mut self, rs: usize) -> Result<(), ValueError> {
        let reserved =
            !self.tagged && is_reserved(std::str::from_utf8(&self.w.strs[rs..]).unwrap_or_default());
        if !self.w.key && !self.items && reserved {
            self.convert()?;
        }
        let w = &mut *self.w;
        let re = w.strs.len();
        let s = std::str::from_utf8(&w.strs[rs..re]).unwrap_or_default();
        if w.key {
            let ks = w.out.len();
            escape_ascii(w.out, s);
            let ke = w.out.len();
            w.entries.push(KEntry { raw: Some((rs, re)), k: (ks, ke), v: (ke, ke) });
            if reserved {
                self.items_form()?;
            }
            return Ok(());
        }
        if self.items {
            item_open(w.out, self.count);
            escape_utf8(w.out, s);
            w.out.push(b',');
        } else {
            if self.count > 0 {
                w.out.push(b',');
            }
            let ks = w.out.len();
            escape_utf8(w.out, s);
            w.out.push(b':');
            w.offs.push((ks, w.out.len()));
        }
        w.strs.truncate(rs);
        self.count += 1;
        Ok(())
    }

    fn key_any<T: ?Sized + Serialize>(&mut self, k: &T) -> Result<(), ValueError> {
        let mark = self.w.strs.len();
        if k.serialize(StrProbe(&mut self.w.strs)).is_ok() {
            return self.key_arena(mark);
        }
        self.w.strs.truncate(mark);
        let w = &mut *self.w;
        if w.key {
            let ks = w.out.len();
            k.serialize(&mut *w)?;
            let ke = w.out.len();
            w.entries.push(KEntry { raw: None, k: (ks, ke), v: (ke, ke) });
            self.items_form()?;
        } else {
            if !self.items {
                self.convert()?;
            }
            item_open(self.w.out, self.count);
            k.serialize(&mut *self.w)?;
            self.w.out.push(b',');
            self.count += 1;
        }
        Ok(())
    }

    fn value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        let w = &mut *self.w;
        let vs = w.out.len();
        v.serialize(&mut *w)?;
        if w.key {
            let ve = w.out.len();
            if let Some(e) = w.entries.last_mut() {
                e.v = (vs, ve);
            }
        } else if self.items {
            w.out.push(b']');
        }
        Ok(())
    }

    /// Value mode: rewrite the object written so far as `{"__pytype__":"dict","__items__":[...`.
    fn convert(&mut self) -> Result<(), ValueError> {
        self.shift()?;
        let w = &mut *self.w;
        w.scratch.clear();
        w.scratch.extend_from_slice(&w.out[self.start..]);
        w.out.truncate(self.start);
        w.out.extend_from_slice(br#"{"__pytype__":"dict","__items__":["#);
        let offs = &w.offs[self.base..];
        let rel = |p: usize| p - self.start;
        for (i, &(ks, vs)) in offs.iter().enumerate() {
            let vend = offs.get(i + 1).map_or(w.scratch.len(), |&(nk, _)| rel(nk) - 1);
            if i > 0 {
                w.out.push(b',');
            }
            w.out.push(b'[');
            w.out.extend_from_slice(&w.scratch[rel(ks)..rel(vs) - 1]);
            w.out.push(b',');
            w.out.extend_from_slice(&w.scratch[rel(vs)..vend]);
            w.out.push(b']');
        }
        w.offs.truncate(self.base);
        self.items = true;
        Ok(())
    }

    fn end_map(self) {
        let w = self.w;
        Compound::close(w, self.levels, self.outer_peak);
        if !w.key {
            w.out.extend_from_slice(if self.items { b"]}" } else { b"}" });
            w.offs.truncate(self.base);
            if self.kind == Kind::StructVariant {
                w.out.push(b'}');
            }
            return;
        }
        let start = self.start;
        w.scratch.clear();
        w.scratch.extend_from_slice(&w.out[start..]);
        w.out.truncate(start);
        let scratch = &w.scratch;
        let strs = &w.strs;
        let ents = &mut w.entries[self.base..];
        let slice = |r: (usize, usize)| &scratch[r.0 - start..r.1 - start];
        if self.items {
            ents.sort_by(|a, b| {
                let pa = slice(a.k).iter().chain(b", ").chain(slice(a.v));
                let pb = slice(b.k).iter().chain(b", ").chain(slice(b.v));
                pa.cmp(pb)
            });
            w.out.extend_from_slice(br#"{"__items__": ["#);
            for (i, e) in ents.iter().enumerate() {
                if i > 0 {
                    w.out.extend_from_slice(b", ");
                }
                w.out.push(b'[');
                w.out.extend_from_slice(slice(e.k));
                w.out.extend_from_slice(b", ");
                w.out.extend_from_slice(slice(e.v));
                w.out.push(b']');
            }
            w.out.extend_from_slice(br#"], "__pytype__": "dict"}"#);
        } else {
            let raw = |e: &KEntry| e.raw.map_or(&[][..], |(a, b)| &strs[a..b]);
            ents.sort_by(|a, b| raw(a).cmp(raw(b)));
            w.out.push(b'{');
            for (i, e) in ents.iter().enumerate() {
                if i > 0 {
                    w.out.extend_from_slice(b", ");
                }
                w.out.extend_from_slice(slice(e.k));
                w.out.extend_from_slice(b": ");
                w.out.extend_from_slice(slice(e.v));
            }
            w.out.push(b'}');
        }
        w.entries.truncate(self.base);
        w.strs.truncate(self.strs_base);
        if self.kind == Kind::StructVariant {
            w.out.push(b'}');
        }
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        self.element(v)
    }
    fn end(self) -> Result<(), ValueError> {
        self.end_seq();
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        self.element(v)
    }
    fn end(self) -> Result<(), ValueError> {
        self.end_seq();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        self.element(v)
    }
    fn end(self) -> Result<(), ValueError> {
        self.end_seq();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        self.element(v)
    }
    fn end(self) -> Result<(), ValueError> {
        self.end_seq();
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, k: &T) -> Result<(), ValueError> {
        self.key_any(k)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), ValueError> {
        self.value(v)
    }
    fn end(self) -> Result<(), ValueError> {
        self.end_map();
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), ValueError> {
        self.key_str(name)?;
        self.value(v)
    }
    fn end(self) -> Result<(), ValueError> {
        self.end_map();
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = ValueError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), ValueError> {
        self.key_str(name)?;
        self.value(v)
    }
    fn end(self) -> Result<(), ValueError> {
        self.end_map();
        Ok(())
    }
}

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = ValueError;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), ValueError> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), ValueError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), ValueError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), ValueError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), ValueError> {
        self.out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), ValueError> {
        self.out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), ValueError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), ValueError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), ValueError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), ValueError> {
        self.out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), ValueError> {
        self.out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), ValueError> {
        // Through the shortest f32 digits, so 0.1f32 writes as 0.1 (what Python would show
        // for the same decimal) rather than 0.10000000149011612.
        let x =
            if v.is_finite() { v.to_string().parse::<f64>().unwrap_or(f64::from(v)) } else { f64::from(v) };
        self.write_f64(x)
    }
    fn serialize_f64(self, v: f64) -> Result<(), ValueError> {
        self.write_f64(v)
    }
    fn serialize_char(self, v: char) -> Result<(), ValueError> {
        self.write_str(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), ValueError> {
        self.write_str(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), ValueError> {
        self.enter(1)?;
        self.leave(1);
        let (head, tail): (&[u8], &[u8]) = if self.key {
            (br#"{"__data__": ""#, br#"", "__py__": "builtins.bytes", "__pytype__": "bytes"}"#)
        } else {
            (br#"{"__py__":"builtins.bytes","__pytype__":"bytes","__data__":""#, br#""}"#)
        };
        self.out.extend_from_slice(head);
        let engine = base64::engine::general_purpose::STANDARD;
        let at = self.out.len();
        let n = base64::encoded_len(v.len(), true).unwrap_or(0);
        self.out.resize(at + n, 0);
        let written = engine.encode_slice(v, &mut self.out[at..]).map_err(|e| ValueError(e.to_string()))?;
        self.out.truncate(at + written);
        self.out.extend_from_slice(tail);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), ValueError> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<(), ValueError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), ValueError> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), ValueError> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), ValueError> {
        self.write_str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<(), ValueError> {
        if name == BIGINT_MAGIC {
            // An integer beyond 128 bits: its digits, a bare JSON number (as Python writes it).
            let digits = v.serialize(Digits).map_err(|e| ValueError(e.to_string()))?;
            self.out.extend_from_slice(digits.as_str().as_bytes());
            return Ok(());
        }
        if name == TAGGED_MAGIC {
            self.tagged_next = true;
            let out = v.serialize(&mut *self);
            self.tagged_next = false;
            return out;
        }
        let frozen = match name {
            SET_MAGIC => false,
            FROZENSET_MAGIC => true,
            _ => return v.serialize(self),
        };
        self.enter(1)?;
        if self.key {
            self.out.extend_from_slice(br#"{"__data__": "#);
            self.set_next = true;
            v.serialize(&mut *self)?;
            self.set_next = false;
            self.out.extend_from_slice(if frozen {
                br#", "__py__": "builtins.frozenset"}"#.as_slice()
            } else {
                br#", "__py__": "builtins.set"}"#.as_slice()
            });
        } else {
            self.out.extend_from_slice(if frozen {
                br#"{"__py__":"builtins.frozenset","__data__":"#.as_slice()
            } else {
                br#"{"__py__":"builtins.set","__data__":"#.as_slice()
            });
            v.serialize(&mut *self)?;
            self.out.push(b'}');
        }
        self.leave(1);
        Ok(())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), ValueError> {
        self.enter(1)?;
        self.variant_open(variant);
        v.serialize(&mut *self)?;
        self.out.push(b'}');
        self.leave(1);
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'w, 'a>, ValueError> {
        self.tagged_next = false;
        let kind = if std::mem::take(&mut self.set_next) { Kind::SortedSeq } else { Kind::Seq };
        self.enter(1)?;
        Ok(Compound::new(self, kind, 1))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'w, 'a>, ValueError> {
        self.set_next = false;
        self.tagged_next = false;
        self.enter(2)?;
        self.tuple_open();
        Ok(Compound::new(self, Kind::Tuple, 2))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'w, 'a>, ValueError> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'w, 'a>, ValueError> {
        self.enter(2)?;
        self.variant_open(variant);
        Ok(Compound::new(self, Kind::TupleVariant, 2))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'w, 'a>, ValueError> {
        self.set_next = false;
        let tagged = std::mem::take(&mut self.tagged_next);
        self.enter(1)?;
        let mut c = Compound::new(self, Kind::Map, 1);
        c.tagged = tagged;
        Ok(c)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'w, 'a>, ValueError> {
        self.set_next = false;
        let tagged = std::mem::take(&mut self.tagged_next);
        self.enter(1)?;
        let mut c = Compound::new(self, Kind::Map, 1);
        c.tagged = tagged;
        Ok(c)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'w, 'a>, ValueError> {
        self.enter(2)?;
        self.variant_open(variant);
        Ok(Compound::new(self, Kind::StructVariant, 2))
    }
}
