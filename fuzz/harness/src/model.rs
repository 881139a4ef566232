//! The typed struct the serializer targets decode into, and arbitrary [`Value`]s.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use serde::{Deserialize, Serialize};
use stash_serial::Value;

/// A typed value with the serde shapes a stash user stores: integers of several widths,
/// floats, strings, bytes, options, tuples, sequences, maps, enums and nesting.
#[derive(Debug, Clone, Serialize, Deserialize, Arbitrary)]
pub struct Record {
    id: u64,
    small: i8,
    name: String,
    score: f64,
    ratio: Option<f32>,
    flag: bool,
    tags: Vec<String>,
    counts: BTreeMap<String, i32>,
    pair: (u16, Option<String>),
    kind: Kind,
    children: Vec<Leaf>,
    blob: Vec<u8>,
    wide: i128,
}

#[derive(Debug, Clone, Serialize, Deserialize, Arbitrary)]
enum Kind {
    Unit,
    Newtype(i64),
    Tuple(u8, String),
    Struct { x: i32, y: Option<char> },
}

#[derive(Debug, Clone, Serialize, Deserialize, Arbitrary)]
struct Leaf {
    k: String,
    v: Option<i64>,
    more: Vec<Leaf>,
}

impl Record {
    /// Whether every float in it is finite (plain JSON has no NaN or infinity).
    pub fn finite(&self) -> bool {
        self.score.is_finite() && self.ratio.is_none_or(f32::is_finite)
    }
    /// How deep its `Leaf`s nest.
    pub fn leaf_depth(&self) -> usize {
        fn depth(leaf: &Leaf) -> usize {
            1 + leaf.more.iter().map(depth).max().unwrap_or(0)
        }
        self.children.iter().map(depth).max().unwrap_or(0)
    }
    /// Whether its integers fit JSON readers that stop at 64 bits.
    pub fn fits_64(&self) -> bool {
        i64::try_from(self.wide).is_ok()
    }
}

/// An arbitrary [`Value`] nested at most `depth` levels, keeping the type's invariants:
/// `UInt` only above `i64::MAX`, set items and map keys hashable and distinct.
pub fn arb_value(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let kinds = if depth == 0 { 7 } else { 11 };
    Ok(match u.int_in_range(0..=kinds - 1)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::Int(u.arbitrary()?),
        3 => Value::UInt(u.int_in_range(i64::MAX as u64 + 1..=u64::MAX)?),
        4 => Value::Float(u.arbitrary()?),
        5 => Value::Str(u.arbitrary()?),
        6 => Value::Bytes(u.arbitrary()?),
        7 => Value::List(items(u, |u| arb_value(u, depth - 1))?),
        8 => Value::Tuple(items(u, |u| arb_value(u, depth - 1))?),
        9 => Value::Set(distinct(items(u, |u| arb_hashable(u, depth - 1))?)),
        _ => {
            let keys = distinct(items(u, |u| arb_hashable(u, depth - 1))?);
            let mut map = Vec::with_capacity(keys.len());
            for k in keys {
                map.push((k, arb_value(u, depth - 1)?));
            }
            Value::Map(map)
        }
    })
}

/// A value Python could put in a set or use as a dict key (no list, set or dict).
fn arb_hashable(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let kinds = if depth == 0 { 6 } else { 7 };
    Ok(match u.int_in_range(0..=kinds - 1)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::Int(u.arbitrary()?),
        3 => Value::Float(u.arbitrary()?),
        4 => Value::Str(u.arbitrary()?),
        5 => Value::Bytes(u.arbitrary()?),
        _ => Value::Tuple(items(u, |u| arb_hashable(u, depth - 1))?),
    })
}

fn items(
    u: &mut Unstructured<'_>,
    mut one: impl FnMut(&mut Unstructured<'_>) -> arbitrary::Result<Value>,
) -> arbitrary::Result<Vec<Value>> {
    let n = u.int_in_range(0..=6)?;
    (0..n).map(|_| one(u)).collect()
}

/// Drops later items equal (by [`same`]) to an earlier one, and items equal as numbers
/// (Python's `1 == 1.0 == True` would merge them in a set or dict).
fn distinct(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let number = number_of(&item);
        if out.iter().any(|o| same(o, &item) || (number.is_some() && number_of(o) == number)) {
            continue;
        }
        out.push(item);
    }
    out
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => v.as_f64().filter(|f| !f.is_nan()),
        _ => None,
    }
}

/// Structural equality where NaN equals NaN and `-0.0` differs from `0.0` (what a
/// byte-exact round trip must keep).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (Value::List(x), Value::List(y))
        | (Value::Tuple(x), Value::Tuple(y))
        | (Value::Set(x), Value::Set(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kx, vx), (ky, vy))| same(kx, ky) && same(vx, vy))
        }
        _ => a == b,
    }
}

/// The same value with the entries of every map and set in another order, chosen by `u`.
pub fn shuffled(v: &Value, u: &mut Unstructured<'_>) -> Value {
    fn permute<T>(mut items: Vec<T>, u: &mut Unstructured<'_>) -> Vec<T> {
        let n = items.len();
        for i in (1..n).rev() {
            let j = u.int_in_range(0..=i).unwrap_or(0);
            items.swap(i, j);
        }
        if u.is_empty() {
            items.reverse();
        }
        items
    }
    match v {
        Value::List(x) => Value::List(x.iter().map(|v| shuffled(v, u)).collect()),
        Value::Tuple(x) => Value::Tuple(x.iter().map(|v| shuffled(v, u)).collect()),
        Value::Set(x) => Value::Set(permute(x.iter().map(|v| shuffled(v, u)).collect(), u)),
        Value::Map(x) => {
            Value::Map(permute(x.iter().map(|(k, v)| (shuffled(k, u), shuffled(v, u))).collect(), u))
        }
        other => other.clone(),
    }
}
