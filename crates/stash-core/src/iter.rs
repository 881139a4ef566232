//! Streaming, fallible iterators over a stash.
//!
//! Each iterator owns a handle to the stash and a snapshot-free cursor from
//! the engine, so the stash may be read and written while iterating. An entry
//! that fails to decode, or whose stored key does not hash to its slot (a
//! damaged key), yields an `Err` and iteration goes on with the next.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::cursor::{LentRecord, RecordCursor};
use crate::engine::RecordIter;
use crate::error::Result;
use crate::stash::Stash;

fn decode_pair<K: DeserializeOwned, V: DeserializeOwned>(
    stash: &Stash,
    rec: LentRecord<'_>,
) -> Result<(K, V)> {
    let k = stash.decode_key(rec.key).map_err(|e| e.with_context("digest", rec.digest))?;
    let v = stash.decode_value(rec.value).map_err(|e| e.with_context("digest", rec.digest))?;
    Ok((k, v))
}

/// An iterator that decodes each record its engine lends, checked against its slot.
macro_rules! decoding_iter {
    ($(#[$doc:meta])* $name:ident<$($t:ident),*> => $item:ty, |$stash:ident, $rec:ident| $map:expr) => {
        $(#[$doc])*
        pub struct $name<$($t),*> {
            stash: Stash,
            records: Box<dyn RecordCursor>,
            _types: PhantomData<fn() -> ($($t,)*)>,
        }

        impl<$($t),*> $name<$($t),*> {
            pub(crate) fn new(stash: Stash, records: Box<dyn RecordCursor>) -> Self {
                $name { stash, records, _types: PhantomData }
            }
        }

        impl<$($t: DeserializeOwned),*> Iterator for $name<$($t),*> {
            type Item = Result<$item>;
            fn next(&mut self) -> Option<Self::Item> {
                let $stash = &self.stash;
                Some(match self.records.next_lent()? {
                    Ok($rec) => match $stash.check_slot(&$rec.digest, $rec.key) {
                        Ok(()) => $map,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e.with_context("stash", $stash)),
                })
            }
        }
    };
}

decoding_iter!(
    /// Keys decoded as `K`; from [`Stash::keys`].
    Keys<K> => K, |stash, rec| stash.decode_key(rec.key).map_err(|e| e.with_context("digest", rec.digest))
);
decoding_iter!(
    /// Values decoded as `V`; from [`Stash::values`].
    Values<V> => V, |stash, rec| stash.decode_value(rec.value).map_err(|e| e.with_context("digest", rec.digest))
);
decoding_iter!(
    /// `(key, value)` pairs; from [`Stash::items`].
    Items<K, V> => (K, V), |stash, rec| decode_pair(stash, rec)
);

/// `(encoded key, encoded value)` exactly as stored; from [`Stash::raw_items`].
pub struct RawItems {
    stash: Stash,
    records: RecordIter,
}

impl RawItems {
    pub(crate) fn new(stash: Stash, records: RecordIter) -> Self {
        RawItems { stash, records }
    }
}

impl Iterator for RawItems {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        let stash = &self.stash;
        Some(match self.records.next()? {
            Ok(rec) => stash.check_slot(&rec.digest, &rec.key).map(|()| (rec.key, rec.value)),
            Err(e) => Err(e.with_context("stash", stash)),
        })
    }
}
