//! Streaming, fallible iterators over a stash.
//!
//! Each iterator owns a handle to the stash and a snapshot-free cursor from
//! the engine, so the stash may be read and written while iterating. An entry
//! that fails to decode, or whose stored key does not hash to its slot (a
//! damaged key), yields an `Err` and iteration goes on with the next.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::engine::{Record, RecordIter};
use crate::error::Result;
use crate::stash::Stash;

fn decode_pair<K: DeserializeOwned, V: DeserializeOwned>(stash: &Stash, rec: &Record) -> Result<(K, V)> {
    let k = stash.decode_key(&rec.key).map_err(|e| e.with_context("digest", rec.digest))?;
    let v = stash.decode_value(&rec.value).map_err(|e| e.with_context("digest", rec.digest))?;
    Ok((k, v))
}

macro_rules! stash_iter {
    ($(#[$doc:meta])* $name:ident<$($t:ident),*> => $item:ty, |$stash:ident, $rec:ident| $map:expr) => {
        $(#[$doc])*
        pub struct $name<$($t),*> {
            stash: Stash,
            records: RecordIter,
            _types: PhantomData<fn() -> ($($t,)*)>,
        }

        impl<$($t),*> $name<$($t),*> {
            pub(crate) fn new(stash: Stash, records: RecordIter) -> Self {
                $name { stash, records, _types: PhantomData }
            }
        }

        impl<$($t: DeserializeOwned),*> Iterator for $name<$($t),*> {
            type Item = Result<$item>;
            fn next(&mut self) -> Option<Self::Item> {
                let $stash = &self.stash;
                Some(match self.records.next()? {
                    Ok($rec) => match $stash.check_slot(&$rec) {
                        Ok(()) => $map,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e.with_context("stash", $stash)),
                })
            }
        }
    };
}

stash_iter!(
    /// Keys decoded as `K`; from [`Stash::keys`].
    Keys<K> => K, |stash, rec| stash.decode_key(&rec.key).map_err(|e| e.with_context("digest", rec.digest))
);
stash_iter!(
    /// Values decoded as `V`; from [`Stash::values`].
    Values<V> => V, |stash, rec| stash.decode_value(&rec.value).map_err(|e| e.with_context("digest", rec.digest))
);
stash_iter!(
    /// `(key, value)` pairs; from [`Stash::items`].
    Items<K, V> => (K, V), |stash, rec| decode_pair(stash, &rec)
);
stash_iter!(
    /// `(encoded key, encoded value)` exactly as stored; from [`Stash::raw_items`].
    RawItems<> => (Vec<u8>, Vec<u8>), |_stash, rec| Ok((rec.key, rec.value))
);
