//! [`Set`]: the way to use set-like keys.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

/// The newtype-struct name through which [`Set`] tells the `hashstash` serializer
/// "this sequence is a Python set".
pub(crate) const SET_MAGIC: &str = "$hashstash::private::Set";

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

impl<'de, T: Deserialize<'de> + Serialize> Deserialize<'de> for Set<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Serialize> Visitor<'de> for V<T> {
            type Value = Set<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a set (a tagged Python set or a list)")
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
                    crate::Value::Set(items) | crate::Value::List(items) | crate::Value::Tuple(items) => {
                        let items =
                            Vec::<T>::deserialize(crate::Value::List(items)).map_err(de::Error::custom)?;
                        Ok(Set::canonical(items))
                    }
                    _ => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
                }
            }
        }
        deserializer.deserialize_newtype_struct(SET_MAGIC, V(PhantomData))
    }
}
