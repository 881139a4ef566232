//! The `hashstash` format: JSON with Python hashstash's type tags.

mod float;
mod lemire;
mod read;
#[cfg(test)]
mod reference;
mod ser;

pub(crate) use float::write_repr;
pub(crate) use read::{Reader, from_plain_slice, from_slice};

use crate::error::ValueError;
use serde::Serialize;

/// Append `v` as hashstash JSON; `key` selects the canonical (Python `sort_keys=True`) form.
pub(crate) fn write<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>, key: bool) -> Result<(), ValueError> {
    let start = out.len();
    let r = v.serialize(&mut ser::Writer::new(out, key));
    if r.is_err() {
        out.truncate(start);
    }
    r
}
