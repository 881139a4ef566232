//! [`Tagged`]: a Python hashstash tagged object written as it is.

use serde::{Serialize, Serializer};

/// The newtype-struct name through which [`Tagged`] tells the `hashstash` serializer
/// "this map is a Python tagged object".
pub(crate) const TAGGED_MAGIC: &str = "$hashstash::private::Tagged";

/// A map (or struct) that IS a Python hashstash tagged object, such as
/// `{"__py__": "pandas.DataFrame", "__pytype__": "pd_dataframe", "__data__": {...}}`.
///
/// A plain map holding a `__py__`, `__pytype__` or `__data__` key is escaped by the
/// `hashstash` serializer into the `{"__pytype__":"dict","__items__":[...]}` form (as
/// Python escapes such a dict), so that it reads back as a dict. Wrapping it in `Tagged`
/// writes its keys as they are instead: this is how a type writes the tagged form Python
/// gives one of its own objects (a DataFrame, for one). Only the outermost map is
/// affected; maps nested inside it are escaped as usual unless wrapped too. Other
/// serializers see the inner value unchanged.
///
/// ```
/// use std::collections::BTreeMap;
/// use stash_serial::{Tagged, serialize};
///
/// let obj = BTreeMap::from([("__py__", "pathlib.PosixPath"), ("__data__", "/tmp/x")]);
/// assert_eq!(serialize(&Tagged(&obj), "hashstash")?, br#"{"__data__":"/tmp/x","__py__":"pathlib.PosixPath"}"#);
/// assert_eq!(serialize(&obj, "hashstash")?, br#"{"__pytype__":"dict","__items__":[["__data__","/tmp/x"],["__py__","pathlib.PosixPath"]]}"#);
/// # Ok::<(), stash_serial::SerialError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tagged<T>(pub T);

impl<T: Serialize> Serialize for Tagged<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(TAGGED_MAGIC, &self.0)
    }
}
