//! [`Set`] and [`FrozenSet`]: the way to use set-like keys.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

/// The newtype-struct name through which [`Set`] tells the `hashstash` serializer
/// "this sequence is a Python set".
pub(crate) const SET_MAGIC: &str = "$hashstash::private::Set";
/// The newtype-struct name through which [`FrozenSet`] tells the `hashstash` serializer
/// "this sequence is a Python frozenset".
pub(crate) const FROZENSET_MAGIC: &str = "$hashstash::private::FrozenSet";

/// A set whose serialized form is canonical: items sorted by their canonical
/// `hashstash` JSON (exactly as Python hashstash sorts set items) and deduplicated.
///
/// `HashSet` iterates in a random order and serde cannot tell it from a `Vec`, so a
/// `HashSet` key would hash differently in every process. Wrap it in `Set` instead:
/// this is THE way to use set-like keys. The `hashstash` serializer writes it as
/// Python's `{"__py__":"builtins.set","__data__":[...]}`; other serializers see a
/// plain sorted sequence. A `Set` decodes from a tagged Python set or frozenset, from a
/// plain list, and from [`Value::Set`](crate::Value::Set).
///
/// ```
/// use std::collections::HashSet;
/// use stash_serial::{Set, serialize};
///
/// let s = Set::from(HashSet::from([2, 1, 2]));
/// assert_eq!(s.len(), 2);
/// assert_eq!(serialize(&s, "hashstash").unwrap(), br#"{"__py__":"builtins.set","__data__":[1,2]}"#);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Set<T> {
    items: Vec<T>,
}

impl<T> Set<T> {
    /// An empty set.
    pub fn new() -> Self {
        Set { items: Vec::new() }
    }
    /// The items, in canonical order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }
    /// The number of distinct items.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Whether the set has no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// The items, in canonical order.
    pub fn into_inner(self) -> Vec<T> {
        self.items
    }
}

impl<T: Serialize> Set<T> {
    /// Build from items in any order, sorting and deduplicating them canonically.
    fn canonical(items: Vec<T>) -> Self {
        let mut keyed: Vec<(Vec<u8>, T)> = items
            .into_iter()
            .map(|t| {
                let mut k = Vec::new();
                // An item that cannot be serialized sorts first; serializing the set reports the error.
                let _ = crate::hashstash::write(&t, &mut k, true);
                (k, t)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.dedup_by(|a, b| a.0 == b.0);
        Set { items: keyed.into_iter().map(|(_, t)| t).collect() }
    }
    /// Whether an item with the same canonical form is in the set.
    pub fn contains(&self, item: &T) -> bool {
        let mut want = Vec::new();
        let _ = crate::hashstash::write(item, &mut want, true);
        self.items.iter().any(|t| {
            let mut k = Vec::new();
            let _ = crate::hashstash::write(t, &mut k, true);
            k == want
        })
    }
}

impl<T> Default for Set<T> {
    fn default() -> Self {
        Set::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Set<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.items).finish()
    }
}

impl<T: Serialize> FromIterator<T> for Set<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Set::canonical(iter.into_iter().collect())
    }
}

impl<T: Serialize + Eq + Hash, S: BuildHasher> From<HashSet<T, S>> for Set<T> {
    fn from(s: HashSet<T, S>) -> Self {
        Set::canonical(s.into_iter().collect())
    }
}

impl<T: Serialize> From<BTreeSet<T>> for Set<T> {
    fn from(s: BTreeSet<T>) -> Self {
        Set::canonical(s.into_iter().collect())
    }
}

impl<T: Serialize> From<Vec<T>> for Set<T> {
    fn from(v: Vec<T>) -> Self {
        Set::canonical(v)
    }
}

impl<T: Serialize + Eq + Hash> From<Set<T>> for HashSet<T> {
    fn from(s: Set<T>) -> Self {
        s.items.into_iter().collect()
    }
}

impl<T> IntoIterator for Set<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Set<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<T: Serialize> Serialize for Set<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(SET_MAGIC, &self.items)
    }
}

/// Reads a set's items through the newtype `name` (the [`Set`] or [`FrozenSet`] magic):
/// a tagged Python set or frozenset, a plain list, or a [`Value`](crate::Value) set.
fn deserialize_items<'de, T, D>(deserializer: D, name: &'static str) -> Result<Set<T>, D::Error>
where
    T: Deserialize<'de> + Serialize,
    D: Deserializer<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de> + Serialize> Visitor<'de> for V<T> {
        type Value = Set<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a set (a tagged Python set or frozenset, or a list)")
        }
        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Set<T>, D::Error> {
            Vec::<T>::deserialize(d).map(Set::canonical)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Set<T>, A::Error> {
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(t) = seq.next_element()? {
                v.push(t);
            }
            Ok(Set::canonical(v))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Set<T>, A::Error> {
            // A tagged set read by a format that does not know the tags (plain JSON).
            let v = crate::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
            let v = crate::value::untag(v);
            match v {
                crate::Value::Set(items)
                | crate::Value::FrozenSet(items)
                | crate::Value::List(items)
                | crate::Value::Tuple(items) => {
                    let items =
                        Vec::<T>::deserialize(crate::Value::List(items)).map_err(de::Error::custom)?;
                    Ok(Set::canonical(items))
                }
                _ => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
            }
        }
    }
    deserializer.deserialize_newtype_struct(name, V(PhantomData))
}

impl<'de, T: Deserialize<'de> + Serialize> Deserialize<'de> for Set<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_items(deserializer, SET_MAGIC)
    }
}

/// A Python `frozenset` key: a [`Set`] (same canonical order, same API through `Deref`)
/// that the `hashstash` serializer writes as `{"__py__":"builtins.frozenset",...}`, byte
/// for byte as Python hashstash writes `frozenset(...)`.
///
/// In Python a `frozenset` and a `set` of the same items are different keys (their tags
/// differ), so a key stored by Python as a frozenset is found with a `FrozenSet` (or the
/// [`Value::FrozenSet`](crate::Value::FrozenSet) read back from the stash), not a `Set`.
/// Other serializers see a plain sorted sequence. A `FrozenSet` decodes from anything a
/// `Set` decodes from.
///
/// ```
/// use stash_serial::{FrozenSet, Value, deserialize, encode_key, serialize, serializer};
///
/// let s: FrozenSet<i32> = [3, 1, 3].into_iter().collect();
/// assert_eq!(s.len(), 2);
/// assert_eq!(serialize(&s, "hashstash").unwrap(), br#"{"__py__":"builtins.frozenset","__data__":[1,3]}"#);
/// let mut key = Vec::new();
/// encode_key(&*serializer("hashstash").unwrap(), &FrozenSet::<i32>::new(), &mut key).unwrap();
/// assert_eq!(key, br#"{"__data__": [], "__py__": "builtins.frozenset"}"#);
/// // Read back untyped, it stays a frozenset (and writes back the same bytes).
/// let v: Value = deserialize(&serialize(&s, "hashstash").unwrap(), "hashstash").unwrap();
/// assert_eq!(v, Value::FrozenSet(vec![Value::Int(1), Value::Int(3)]));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct FrozenSet<T>(Set<T>);

impl<T> FrozenSet<T> {
    /// An empty frozenset (Python's `frozenset()`).
    pub fn new() -> Self {
        FrozenSet(Set::new())
    }
    /// The items as a [`Set`] (the same items, written as `builtins.set`).
    pub fn into_set(self) -> Set<T> {
        self.0
    }
    /// The items, in canonical order.
    pub fn into_inner(self) -> Vec<T> {
        self.0.into_inner()
    }
}

impl<T> std::ops::Deref for FrozenSet<T> {
    type Target = Set<T>;
    fn deref(&self) -> &Set<T> {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for FrozenSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("frozenset(")?;
        f.debug_set().entries(self.0.iter()).finish()?;
        f.write_str(")")
    }
}

impl<T> From<Set<T>> for FrozenSet<T> {
    fn from(s: Set<T>) -> Self {
        FrozenSet(s)
    }
}

impl<T> From<FrozenSet<T>> for Set<T> {
    fn from(s: FrozenSet<T>) -> Self {
        s.0
    }
}

impl<T: Serialize> FromIterator<T> for FrozenSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        FrozenSet(iter.into_iter().collect())
    }
}

impl<T: Serialize + Eq + Hash, S: BuildHasher> From<HashSet<T, S>> for FrozenSet<T> {
    fn from(s: HashSet<T, S>) -> Self {
        FrozenSet(Set::from(s))
    }
}

impl<T: Serialize> From<BTreeSet<T>> for FrozenSet<T> {
    fn from(s: BTreeSet<T>) -> Self {
        FrozenSet(Set::from(s))
    }
}

impl<T: Serialize> From<Vec<T>> for FrozenSet<T> {
    fn from(v: Vec<T>) -> Self {
        FrozenSet(Set::from(v))
    }
}

impl<T> IntoIterator for FrozenSet<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a FrozenSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: Serialize> Serialize for FrozenSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(FROZENSET_MAGIC, &self.0.items)
    }
}

impl<'de, T: Deserialize<'de> + Serialize> Deserialize<'de> for FrozenSet<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_items(deserializer, FROZENSET_MAGIC).map(FrozenSet)
    }
}
