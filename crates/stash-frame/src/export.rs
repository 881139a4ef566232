//! Writing tables: CSV and Parquet through polars, JSON lines from rows.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use base64::Engine as _;
use polars::prelude::*;
use stash_core::Stash;
use stash_serial::Value;

use crate::error::{FrameError, Result};
use crate::{FrameOptions, Row};

fn create(path: &Path) -> Result<File> {
    File::create(path).map_err(|source| FrameError::Io { path: path.to_path_buf(), source })
}

/// Writes `df` as CSV with a header row. List columns are written as their
/// JSON text (CSV has no lists).
pub fn to_csv(df: &DataFrame, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut flat = flatten_lists(df)?;
    let mut file = create(path)?;
    CsvWriter::new(&mut file).include_header(true).finish(&mut flat)?;
    Ok(())
}

/// Writes `df` as Parquet (zstd-compressed).
#[cfg(feature = "parquet")]
pub fn to_parquet(df: &DataFrame, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut df = df.clone();
    let file = create(path)?;
    ParquetWriter::new(file).finish(&mut df)?;
    Ok(())
}

/// `df` with every list column replaced by its cells' text, for formats without lists.
fn flatten_lists(df: &DataFrame) -> Result<DataFrame> {
    let mut out = df.clone();
    for name in df.get_column_names_owned() {
        let column = df.column(&name)?;
        if let DataType::List(_) = column.dtype() {
            let list = column.list()?;
            let text: StringChunked = (0..list.len())
                .map(|i| list.get_as_series(i).map(|s| series_text(&s)))
                .collect::<StringChunked>()
                .with_name(name.clone());
            out.replace(&name, text.into_series().into_column())?;
        }
    }
    Ok(out)
}

pub(crate) fn series_text(s: &Series) -> String {
    let items: Vec<String> = s.iter().map(|v| any_text(&v)).collect();
    format!("[{}]", items.join(", "))
}

fn any_text(v: &AnyValue<'_>) -> String {
    match v {
        AnyValue::Null => "null".into(),
        AnyValue::String(s) => serde_json::Value::String((*s).to_string()).to_string(),
        AnyValue::StringOwned(s) => serde_json::Value::String(s.to_string()).to_string(),
        other => other.to_string(),
    }
}

/// Writes rows as JSON lines: one JSON object per row, columns in order.
pub fn to_json_lines<'r>(rows: impl IntoIterator<Item = &'r Row>, path: impl AsRef<Path>) -> Result<usize> {
    let path = path.as_ref();
    let mut out = BufWriter::new(create(path)?);
    let io = |source| FrameError::Io { path: path.to_path_buf(), source };
    let mut n = 0;
    for row in rows {
        let object: serde_json::Map<String, serde_json::Value> =
            row.iter().map(|(name, cell)| (name.clone(), json_of(cell))).collect();
        serde_json::to_writer(&mut out, &object).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
        n += 1;
    }
    out.flush().map_err(io)?;
    Ok(n)
}

/// Writes the flattened records of `stash` as JSON lines; returns how many.
pub fn write_json_lines(stash: &Stash, options: FrameOptions, path: impl AsRef<Path>) -> Result<usize> {
    let rows = crate::assemble_ld(stash, options)?;
    to_json_lines(&rows, path)
}

/// A cell as JSON: tuples and sets as arrays, bytes as base64, non-finite
/// floats as null, maps with non-string keys as objects keyed by the keys' text,
/// integers beyond 64 bits as their digits in a string (exact; a JSON value here
/// holds at most 64-bit integers).
fn json_of(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::UInt(u) => J::from(*u),
        Value::BigInt(b) => J::String(b.to_string()),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Str(s) => J::String(s.clone()),
        Value::Bytes(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::List(items) | Value::Tuple(items) | Value::Set(items) | Value::FrozenSet(items) => {
            J::Array(items.iter().map(json_of).collect())
        }
        Value::Map(fields) => J::Object(
            fields
                .iter()
                .map(|(k, v)| (k.as_str().map_or_else(|| k.to_string(), str::to_string), json_of(v)))
                .collect(),
        ),
        // A Python tagged object: its fields, as Python's JSON holds them.
        Value::Tagged(fields) => J::Object(fields.iter().map(|(k, v)| (k.clone(), json_of(v))).collect()),
    }
}
