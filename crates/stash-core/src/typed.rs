//! A typed view of a stash: `K` and `V` fixed once.

use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::iter::{Items, Keys, Values};
use crate::stash::{Stash, Versioned};

/// The same stash with its key and value types fixed, from [`Stash::typed`].
///
/// It shares the engine with the stash it came from; only the types differ.
pub struct TypedStash<K, V> {
    stash: Stash,
    _types: PhantomData<fn(K) -> V>,
}

impl<K, V> Clone for TypedStash<K, V> {
    fn clone(&self) -> Self {
        TypedStash::new(self.stash.clone())
    }
}

impl<K, V> fmt::Debug for TypedStash<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TypedStash<{}, {}>({})",
            std::any::type_name::<K>(),
            std::any::type_name::<V>(),
            self.stash
        )
    }
}

impl<K, V> TypedStash<K, V> {
    pub(crate) fn new(stash: Stash) -> Self {
        TypedStash { stash, _types: PhantomData }
    }

    /// The untyped stash underneath.
    pub fn untyped(&self) -> &Stash {
        &self.stash
    }

    /// The number of keys.
    pub fn len(&self) -> Result<usize> {
        self.stash.len()
    }

    /// Whether the stash holds no keys.
    pub fn is_empty(&self) -> Result<bool> {
        self.stash.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<()> {
        self.stash.clear()
    }
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> TypedStash<K, V> {
    /// Stores `value` under `key`.
    pub fn set(&self, key: &K, value: &V) -> Result<()> {
        self.stash.set(key, value)
    }

    /// The value under `key`, or `None`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.stash.get(key)
    }

    /// Whether `key` is stored.
    pub fn contains(&self, key: &K) -> Result<bool> {
        self.stash.contains(key)
    }

    /// Removes `key`; true if it was stored.
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.stash.remove(key)
    }

    /// Removes `key` and returns its value.
    pub fn pop(&self, key: &K) -> Result<Option<V>> {
        self.stash.pop(key)
    }

    /// The value under `key`, storing `default` first when absent.
    pub fn setdefault(&self, key: &K, default: &V) -> Result<V>
    where
        V: Clone,
    {
        self.stash.setdefault(key, default)
    }

    /// Stores every pair.
    pub fn update(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<usize> {
        self.stash.update(pairs)
    }

    /// Streams the keys.
    pub fn keys(&self) -> Result<Keys<K>> {
        self.stash.keys()
    }

    /// Streams the values.
    pub fn values(&self) -> Result<Values<V>> {
        self.stash.values()
    }

    /// Streams `(key, value)` pairs.
    pub fn items(&self) -> Result<Items<K, V>> {
        self.stash.items()
    }

    /// Every kept version of `key`'s value, oldest first.
    pub fn get_all(&self, key: &K) -> Result<Vec<V>> {
        self.stash.get_all(key)
    }

    /// Every kept version with metadata.
    pub fn get_all_with_metadata(&self, key: &K) -> Result<Vec<Versioned<V>>> {
        self.stash.get_all_with_metadata(key)
    }
}
