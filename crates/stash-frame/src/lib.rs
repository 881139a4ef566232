//! Tables from a stash: flattened records (`ld`, a list of dicts in the
//! Python library's words) and polars [`DataFrame`]s (`df`), with CSV, JSON
//! lines and (feature `parquet`) Parquet export.
//!
//! ```
//! # use std::sync::Arc;
//! # let dir = tempfile::tempdir()?;
//! # let mut cfg = stash_core::StashConfig::default();
//! # cfg.root_dir = dir.path().into();
//! # cfg.engine = "memory".into();
//! # let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
//! use std::collections::BTreeMap;
//! use stash_frame::StashFrame;
//!
//! stash.set("rex", &BTreeMap::from([("kind", "dog"), ("good", "very")]))?;
//! stash.set("tom", &BTreeMap::from([("kind", "cat")]))?;
//! let df = stash.df()?;
//! assert_eq!(df.shape(), (2, 3)); // _key, good, kind
//! println!("{df}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How entries become rows and columns:
//! - nested maps become dotted column names (`etc.goes_to.heaven`); a list inside
//!   a record stays one list cell; a value that is not a map goes in a `_value`
//!   column;
//! - a value that is a list spreads into rows, as in the Python library
//!   (`flatten_ld`): each record (map) in it is a row of its fields, each other
//!   item a `_value` row, nested lists spread too (`[1, 2]` gives two rows,
//!   `[{"a": 1}, {"b": 2}, 3, 4]` four, `[]` none); tuples and sets stay whole;
//! - a record without fields (`{}`, `{"a": {}}`) gives no row and an empty
//!   nested map no column, as in Python;
//! - the key goes in `_key`, or, when keys are maps, their fields become
//!   columns; a function stash gives one column per argument (`_arg1`, ...);
//! - [`FrameOptions::with_metadata`] adds `_version` and `_written_at` (every
//!   version in append mode);
//! - column types are inferred per column; mixed integers and floats become
//!   floats; any other disagreement makes a string column (documented in
//!   [`columns`](crate#column-types)); missing fields are nulls.
//!
//! # Column types
//! Booleans, `i64`, `f64`, strings, lists (one element type per column,
//! widened the same way), datetimes (`_written_at`, microseconds) and nulls.
//! A column whose cells disagree otherwise holds every cell's text: strings as
//! they are, other values as Python prints them (`True`, `[1, 2]`).
//!
//! Values written with a serializer that does not record types (`postcard`)
//! cannot be read without them: use [`StashFrame::df_typed`].
#![deny(missing_docs)]

mod columns;
mod error;
mod export;
mod flatten;
mod pandas;

use polars::prelude::DataFrame;
use serde::Serialize;
use serde::de::DeserializeOwned;
use stash_core::Stash;
use stash_func::FunctionStash;
use stash_serial::Value;

pub use error::{FrameError, Result};
#[cfg(feature = "parquet")]
pub use export::to_parquet;
pub use export::{to_csv, to_json_lines, write_json_lines};
pub use flatten::KeyColumns;
pub use pandas::Frame;
pub use polars;

use columns::TableBuilder;
use flatten::{RowSink, key_cells, value_cells};

/// One flattened record: `(column, cell)` pairs in column order.
pub type Row = Vec<(String, Value)>;

/// What goes into a table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameOptions {
    with_metadata: bool,
    all_versions: Option<bool>,
    keys: KeyColumns,
}

impl FrameOptions {
    /// Newest values, no metadata, keys by shape.
    pub fn new() -> FrameOptions {
        FrameOptions::default()
    }

    /// Add `_version` and `_written_at` columns (and, in append mode, a row
    /// per version unless [`all_versions`](Self::all_versions) says otherwise).
    pub fn with_metadata(mut self, on: bool) -> FrameOptions {
        self.with_metadata = on;
        self
    }

    /// A row per kept version (`true`) or per key (`false`).
    pub fn all_versions(mut self, on: bool) -> FrameOptions {
        self.all_versions = Some(on);
        self
    }

    /// How keys become columns.
    pub fn keys(mut self, keys: KeyColumns) -> FrameOptions {
        self.keys = keys;
        self
    }
}

/// One entry (or version) about to become a row.
struct Entry {
    key: Value,
    value: Value,
    /// `(version, written_at micros)` when metadata is asked for.
    meta: Option<(u64, i64)>,
}

/// Receives rows; the `df` and `ld` outputs.
trait Rows: RowSink {
    fn start_row(&mut self);
    fn meta(&mut self, version: u64, written_at_micros: i64);
}

impl Rows for TableBuilder {
    fn start_row(&mut self) {
        TableBuilder::start_row(self);
    }

    fn meta(&mut self, version: u64, written_at_micros: i64) {
        self.cell("_version", Value::Int(i64::try_from(version).unwrap_or(i64::MAX)));
        self.time_cell("_written_at", written_at_micros);
    }
}

/// Collects [`Row`]s.
#[derive(Default)]
struct RowList(Vec<Row>);

impl RowSink for RowList {
    fn cell(&mut self, column: &str, value: Value) {
        if let Some(row) = self.0.last_mut() {
            match row.iter_mut().find(|(name, _)| name == column) {
                Some(slot) => slot.1 = value,
                None => row.push((column.to_string(), value)),
            }
        }
    }
}

impl Rows for RowList {
    fn start_row(&mut self) {
        self.0.push(Vec::new());
    }

    fn meta(&mut self, version: u64, written_at_micros: i64) {
        self.cell("_version", Value::Int(i64::try_from(version).unwrap_or(i64::MAX)));
        self.cell("_written_at", Value::Float(written_at_micros as f64 / 1e6));
    }
}

/// Pushes the row(s) of one entry, each with the entry's key columns, by the
/// Python library's rule (`flatten_ld`): a list spreads into a row per item (nested
/// lists too), a record (a map) is one row of its fields, any other item one
/// `_value` row; a record without fields (`{}`, `{"a": {}}`) gives no row, so an
/// empty list or an empty record gives none at all.
fn push_row(out: &mut impl Rows, entry: Entry, keys: KeyColumns, path: &mut String) {
    let mut records = Vec::new();
    match entry.value {
        Value::List(items) => items.into_iter().for_each(|item| spread_rows(item, &mut records)),
        value @ Value::Map(_) => spread_rows(value, &mut records),
        value => records.push(value),
    }
    let Some(last) = records.len().checked_sub(1) else { return };
    let mut key = Some(entry.key);
    for (i, value) in records.into_iter().enumerate() {
        // The last row takes the key itself; earlier ones a copy.
        let key = if i == last { key.take() } else { key.clone() }.unwrap_or(Value::Null);
        out.start_row();
        key_cells(key, keys, path, out);
        if let Some((version, at)) = entry.meta {
            out.meta(version, at);
        }
        value_cells(value, path, out);
    }
}

/// The rows one item of a value gives (Python's `_flatten_ld`).
fn spread_rows(item: Value, rows: &mut Vec<Value>) {
    match item {
        Value::List(items) => items.into_iter().for_each(|item| spread_rows(item, rows)),
        Value::Map(fields) if no_cells(&fields) => {}
        other => rows.push(other),
    }
}

/// Whether a record flattens to no cells: no fields, or only fields that are such records.
fn no_cells(fields: &[(Value, Value)]) -> bool {
    fields
        .iter()
        .all(|(k, v)| matches!(k, Value::Str(_)) && matches!(v, Value::Map(inner) if no_cells(inner)))
}

/// Streams the entries of `stash` as `(K, V)` turned into [`Value`]s by `convert`.
fn each_entry<K, V>(
    stash: &Stash,
    options: FrameOptions,
    convert: impl Fn(K, V) -> Result<(Value, Value)>,
    mut each: impl FnMut(Entry),
) -> Result<()>
where
    K: DeserializeOwned,
    V: DeserializeOwned,
{
    let all_versions = options.all_versions.unwrap_or(options.with_metadata && stash.config().append_mode);
    if !(options.with_metadata || all_versions) {
        for item in stash.raw_items()? {
            let (key, value) = item?;
            let (key, value) = convert(stash.decode_key(&key)?, stash.decode_value(&value)?)?;
            each(Entry { key, value, meta: None });
        }
        return Ok(());
    }
    for key in stash.raw_keys()? {
        let key = key?;
        let digest = stash.config().digest.digest(&key);
        // A bulk read: past the life cycle layer (not counted, not recent use).
        let Some(versions) = stash.lifecycle().inner().versions(&digest, &key)? else { continue };
        let skip = if all_versions { 0 } else { versions.len().saturating_sub(1) };
        for v in versions.into_iter().skip(skip) {
            let (k, value) = convert(stash.decode_key(&key)?, stash.decode_value(&v.value)?)?;
            each(Entry { key: k, value, meta: Some((v.number, v.written_at_micros)) });
        }
    }
    Ok(())
}

fn untyped(stash: &Stash, options: FrameOptions, out: &mut impl Rows) -> Result<()> {
    if !stash.serializer().is_self_describing() {
        return Err(FrameError::NotSelfDescribing { serializer: stash.config().serializer.to_string() });
    }
    let mut path = String::new();
    each_entry::<Value, Value>(
        stash,
        options,
        |k, v| Ok((k, v)),
        |e| push_row(out, e, options.keys, &mut path),
    )
}

fn typed<K, V>(stash: &Stash, options: FrameOptions, out: &mut impl Rows) -> Result<()>
where
    K: DeserializeOwned + Serialize,
    V: DeserializeOwned + Serialize,
{
    let mut path = String::new();
    let convert = |k: K, v: V| Ok((stash_serial::to_value(&k)?, stash_serial::to_value(&v)?));
    each_entry::<K, V>(stash, options, convert, |e| push_row(out, e, options.keys, &mut path))
}

/// Flattened records of `stash`, one per entry (or version).
pub fn assemble_ld(stash: &Stash, options: FrameOptions) -> Result<Vec<Row>> {
    let mut rows = RowList::default();
    untyped(stash, options, &mut rows)?;
    Ok(rows.0)
}

/// A DataFrame of `stash`, one row per entry (or version).
pub fn assemble_df(stash: &Stash, options: FrameOptions) -> Result<DataFrame> {
    let mut table = TableBuilder::default();
    untyped(stash, options, &mut table)?;
    Ok(table.finish()?)
}

/// Like [`assemble_df`] for any serializer, reading keys as `K` and values as `V`.
pub fn assemble_df_typed<K, V>(stash: &Stash, options: FrameOptions) -> Result<DataFrame>
where
    K: DeserializeOwned + Serialize,
    V: DeserializeOwned + Serialize,
{
    let mut table = TableBuilder::default();
    typed::<K, V>(stash, options, &mut table)?;
    Ok(table.finish()?)
}

/// Like [`assemble_ld`] for any serializer, reading keys as `K` and values as `V`.
pub fn assemble_ld_typed<K, V>(stash: &Stash, options: FrameOptions) -> Result<Vec<Row>>
where
    K: DeserializeOwned + Serialize,
    V: DeserializeOwned + Serialize,
{
    let mut rows = RowList::default();
    typed::<K, V>(stash, options, &mut rows)?;
    Ok(rows.0)
}

/// Tables from a stash: `stash.df()`, `stash.ld()` and their options.
pub trait StashFrame {
    /// The stash rows come from.
    fn frame_stash(&self) -> &Stash;

    /// How keys become columns by default (function stashes: their arguments).
    fn default_keys(&self) -> KeyColumns {
        KeyColumns::Auto
    }

    /// Flattened records, one per entry.
    fn ld(&self) -> Result<Vec<Row>> {
        self.ld_with(FrameOptions::new())
    }

    /// Flattened records with options.
    fn ld_with(&self, options: FrameOptions) -> Result<Vec<Row>> {
        assemble_ld(self.frame_stash(), self.defaulted(options))
    }

    /// A DataFrame, one row per entry.
    fn df(&self) -> Result<DataFrame> {
        self.df_with(FrameOptions::new())
    }

    /// A DataFrame with options (metadata, versions, key columns).
    fn df_with(&self, options: FrameOptions) -> Result<DataFrame> {
        assemble_df(self.frame_stash(), self.defaulted(options))
    }

    /// A DataFrame read with known key and value types (any serializer).
    fn df_typed<K, V>(&self, options: FrameOptions) -> Result<DataFrame>
    where
        K: DeserializeOwned + Serialize,
        V: DeserializeOwned + Serialize,
    {
        assemble_df_typed::<K, V>(self.frame_stash(), self.defaulted(options))
    }

    /// `options`, with this source's key layout unless it was set.
    #[doc(hidden)]
    fn defaulted(&self, options: FrameOptions) -> FrameOptions {
        if options.keys == KeyColumns::Auto { options.keys(self.default_keys()) } else { options }
    }
}

impl StashFrame for Stash {
    fn frame_stash(&self) -> &Stash {
        self
    }
}

impl<Args, R> StashFrame for FunctionStash<Args, R> {
    fn frame_stash(&self) -> &Stash {
        self.stash()
    }

    fn default_keys(&self) -> KeyColumns {
        KeyColumns::Args
    }
}
