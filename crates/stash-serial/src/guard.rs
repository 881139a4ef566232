//! A forwarding deserializer that notices when the data's own type is asked for
//! (`deserialize_any`), so a non-self-describing format can report
//! [`SerialError::NotSelfDescribing`](crate::SerialError::NotSelfDescribing) even
//! through the erased path, where the format's own error kind is lost.

use std::cell::Cell;

use serde::de::{Deserializer, Visitor};

/// Wraps a deserializer, setting `any` when `deserialize_any` is called.
pub(crate) struct Guard<'c, D> {
    pub(crate) inner: D,
    pub(crate) any: &'c Cell<bool>,
}

macro_rules! forward {
    ($($m:ident($($a:ident: $t:ty),*);)*) => {$(
        fn $m<V: Visitor<'de>>(self, $($a: $t,)* visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$m($($a,)* visitor)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Guard<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.any.set(true);
        self.inner.deserialize_any(visitor)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.any.set(true);
        self.inner.deserialize_ignored_any(visitor)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        // A dynamic `Value` is being asked for.
        if name == crate::value::VALUE_MAGIC {
            self.any.set(true);
        }
        self.inner.deserialize_newtype_struct(name, visitor)
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
    forward! {
        deserialize_bool(); deserialize_i8(); deserialize_i16(); deserialize_i32(); deserialize_i64();
        deserialize_i128(); deserialize_u8(); deserialize_u16(); deserialize_u32(); deserialize_u64();
        deserialize_u128(); deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
        deserialize_string(); deserialize_bytes(); deserialize_byte_buf(); deserialize_option();
        deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_seq(); deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize); deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }
}
