//! [`Frame`]: a polars DataFrame as a stash key or value, in the Python library's own
//! pandas form with the `hashstash` serializer and as Arrow IPC bytes with binary ones.

use std::fmt;
use std::io::Cursor;
use std::ops::{Deref, DerefMut};

use base64::Engine as _;
use polars::prelude::{
    Column, DataFrame, DataType, IntoColumn, IpcStreamReader, IpcStreamWriter, NamedFrom, SerReader,
    SerWriter, Series, TimeUnit,
};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};
use stash_serial::{Tagged, Value};

/// A polars [`DataFrame`] that is a stash key or value on every serializer.
///
/// ```
/// use stash_frame::Frame;
/// use stash_frame::polars::prelude::*;
///
/// let df = df!("name" => ["rex", "tom"], "age" => [3i64, 5])?;
/// let bytes = stash_serial::serialize(&Frame::from(&df), "hashstash")?;
/// assert!(bytes.starts_with(br#"{"__py__":"pandas.DataFrame","__pytype__":"pd_dataframe""#));
/// let back: Frame = stash_serial::deserialize(&bytes, "hashstash")?;
/// assert!(back.equals_missing(&df));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # How it is written
/// - **`hashstash`** (and `json`, and an untyped [`Value`]): the tagged form Python
///   hashstash 1.2 gives a pandas DataFrame (`{"__py__":"pandas.DataFrame","__pytype__":
///   "pd_dataframe","__data__":{"columns":...,"index":...,"series":[...]}}`), column by
///   column, so a frame stored by either language is read by the other: a pandas
///   DataFrame written by Python reads here as a polars DataFrame, and Python reads what
///   Rust wrote as a pandas DataFrame. As a key it gives Python's key bytes for the frames
///   both libraries build alike (pandas 3 `str`, `int64`, `float64`, `bool` and
///   `datetime64` columns with a plain `RangeIndex`), so the same table is the same key in
///   both languages.
/// - **binary serializers** (`msgpack`, `postcard`): the values are Arrow IPC stream bytes
///   (compact and fast); keys stay the tagged form above, which depends only on the
///   frame's contents, so two equal DataFrames are always the same key. A `msgpack` key
///   reads back as a `Frame`; a `postcard` key does not (postcard cannot tell a map from
///   bytes), so list `postcard` DataFrame keys by another type or not at all.
///
/// # Column types
/// | polars | pandas (written and read) |
/// |---|---|
/// | `String` | `str` (missing cells are `NaN`, as pandas 3 stores them); read also from `object`/`string` |
/// | `Int32`, `Int64`, `UInt32`, `UInt64` | `int32`..`uint64`; with nulls the nullable `Int64` etc.; pandas `int8`/`int16` (`uint8`/`uint16`) read as `Int32` (`UInt32`) |
/// | `Float32`, `Float64` | `float32`, `float64` (NaN stays NaN); with nulls the nullable `Float64` |
/// | `Boolean` | `bool`; with nulls the nullable `boolean` |
/// | `Datetime(ns/us/ms)` without time zone | `datetime64[ns/us/ms]`, null as `NaT` (`datetime64[s]` reads as ms) |
///
/// Any other column type (lists, structs, dates, time zones, categoricals, ...) is an
/// error naming the column, when writing (`Encode`) and when reading (`Decode`).
///
/// # The index
/// A polars frame has no index: Rust writes a plain `RangeIndex` (`0..height`). A pandas
/// index that is not a plain `RangeIndex` (labels, a shifted or stepped range, a
/// `MultiIndex`) becomes the first column(s), as `df.reset_index()` would make them:
/// named by the index's name, or `index` (`level_0`, `level_1`, ... for a `MultiIndex`).
/// Column labels that are not strings become their text (`0`, `1`, ...).
#[derive(Clone, Default)]
pub struct Frame(pub DataFrame);

impl Frame {
    /// The DataFrame.
    pub fn into_inner(self) -> DataFrame {
        self.0
    }
}

impl Deref for Frame {
    type Target = DataFrame;
    fn deref(&self) -> &DataFrame {
        &self.0
    }
}

impl DerefMut for Frame {
    fn deref_mut(&mut self) -> &mut DataFrame {
        &mut self.0
    }
}

impl From<DataFrame> for Frame {
    fn from(df: DataFrame) -> Self {
        Frame(df)
    }
}

/// A cheap copy: polars columns are shared, not copied.
impl From<&DataFrame> for Frame {
    fn from(df: &DataFrame) -> Self {
        Frame(df.clone())
    }
}

impl From<Frame> for DataFrame {
    fn from(f: Frame) -> Self {
        f.0
    }
}

/// Equal when the frames are equal with nulls equal to nulls (`equals_missing`).
impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.0.equals_missing(&other.0)
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

// ---------------------------------------------------------------------------------------
// Writing

/// A tagged Python object: `{"__py__": ..., ["__pytype__": ...,] "__data__": ...}`.
#[derive(Serialize)]
struct Obj<D> {
    #[serde(rename = "__py__")]
    py: &'static str,
    #[serde(rename = "__pytype__", skip_serializing_if = "Option::is_none")]
    pytype: Option<&'static str>,
    #[serde(rename = "__data__")]
    data: D,
}

fn obj<D: Serialize>(py: &'static str, pytype: Option<&'static str>, data: D) -> Tagged<Obj<D>> {
    Tagged(Obj { py, pytype, data })
}

#[derive(Serialize)]
struct RangeData {
    kind: &'static str,
    start: i64,
    stop: i64,
    step: i64,
    name: Option<String>,
}

#[derive(Serialize)]
struct ListIndexData<'a> {
    kind: &'static str,
    values: Vec<&'a str>,
    dtype: &'static str,
    name: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum IndexData<'a> {
    Range(RangeData),
    List(ListIndexData<'a>),
}

fn range_index(n: usize) -> Tagged<Obj<IndexData<'static>>> {
    let data = RangeData { kind: "range", start: 0, stop: n as i64, step: 1, name: None };
    obj("pandas.RangeIndex", Some("pd_index"), IndexData::Range(data))
}

#[derive(Serialize)]
struct NdArray {
    dtype: &'static str,
    shape: Vec<usize>,
    bytes: String,
}

/// One cell of a list-kind series.
enum Cell<'a> {
    Null,
    Nan,
    Str(&'a str),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
}

impl Serialize for Cell<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Cell::Null => s.serialize_none(),
            Cell::Nan => s.serialize_f64(f64::NAN),
            Cell::Str(x) => s.serialize_str(x),
            Cell::Int(i) => s.serialize_i64(i),
            Cell::UInt(u) => s.serialize_u64(u),
            Cell::Float(f) => s.serialize_f64(f),
            Cell::Bool(b) => s.serialize_bool(b),
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Values<'a> {
    Numpy { kind: &'static str, data: Tagged<Obj<NdArray>> },
    List { kind: &'static str, data: Vec<Cell<'a>> },
}

#[derive(Serialize)]
struct SeriesData<'a> {
    values: Values<'a>,
    dtype: String,
    name: &'a str,
    index: Tagged<Obj<IndexData<'static>>>,
}

#[derive(Serialize)]
struct FrameData<'a> {
    columns: Tagged<Obj<IndexData<'a>>>,
    index: Tagged<Obj<IndexData<'static>>>,
    series: Vec<Tagged<Obj<SeriesData<'a>>>>,
}

fn numpy(dtype: &'static str, n: usize, bytes: Vec<u8>) -> Values<'static> {
    let data =
        NdArray { dtype, shape: vec![n], bytes: base64::engine::general_purpose::STANDARD.encode(bytes) };
    Values::Numpy { kind: "numpy", data: obj("numpy.ndarray", None, data) }
}

/// The little-endian bytes of a column without nulls.
macro_rules! le_bytes {
    ($ca:expr) => {{
        let mut out = Vec::new();
        for v in $ca.into_no_null_iter() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }};
}

fn unsupported(name: &str, dtype: &DataType) -> String {
    format!(
        "column {name:?} has type {dtype}, which has no pandas form here (supported: strings, integers, \
         floats, booleans, datetimes without time zone)"
    )
}

/// A column's values and pandas dtype.
fn series_values<'a>(name: &str, s: &'a Series) -> Result<(Values<'a>, String), String> {
    let n = s.len();
    let nulls = s.null_count() > 0;
    let err = |e: polars::error::PolarsError| format!("column {name:?}: {e}");
    let list = |cells: Vec<Cell<'a>>| Values::List { kind: "list", data: cells };
    macro_rules! ints {
        ($get:ident, $np:literal, $pd:literal, $cell:expr) => {{
            let ca = s.$get().map_err(err)?;
            if nulls {
                (list(ca.iter().map(|v| v.map_or(Cell::Null, $cell)).collect()), $pd.to_string())
            } else {
                (numpy($np, n, le_bytes!(ca)), $np.to_string())
            }
        }};
    }
    Ok(match s.dtype() {
        DataType::String => {
            let ca = s.str().map_err(err)?;
            (list(ca.iter().map(|v| v.map_or(Cell::Nan, Cell::Str)).collect()), "str".to_string())
        }
        DataType::Int32 => ints!(i32, "int32", "Int32", |v| Cell::Int(i64::from(v))),
        DataType::Int64 => ints!(i64, "int64", "Int64", Cell::Int),
        DataType::UInt32 => ints!(u32, "uint32", "UInt32", |v| Cell::UInt(u64::from(v))),
        DataType::UInt64 => ints!(u64, "uint64", "UInt64", Cell::UInt),
        DataType::Float32 => ints!(f32, "float32", "Float32", |v| Cell::Float(f64::from(v))),
        DataType::Float64 => ints!(f64, "float64", "Float64", Cell::Float),
        DataType::Boolean => {
            let ca = s.bool().map_err(err)?;
            if nulls {
                (list(ca.iter().map(|v| v.map_or(Cell::Null, Cell::Bool)).collect()), "boolean".to_string())
            } else {
                (
                    numpy("bool", n, ca.iter().map(|b| u8::from(b.unwrap_or(false))).collect()),
                    "bool".to_string(),
                )
            }
        }
        DataType::Datetime(unit, None) => {
            let ca = s.datetime().map_err(err)?;
            let dtype = match unit {
                TimeUnit::Nanoseconds => "datetime64[ns]",
                TimeUnit::Microseconds => "datetime64[us]",
                TimeUnit::Milliseconds => "datetime64[ms]",
            };
            let mut bytes = Vec::with_capacity(n * 8);
            for v in ca.physical().iter() {
                bytes.extend_from_slice(&v.unwrap_or(i64::MIN).to_le_bytes());
            }
            (numpy(dtype, n, bytes), dtype.to_string())
        }
        other => return Err(unsupported(name, other)),
    })
}

/// Serializes `df` in Python's pandas tagged form.
fn write_pandas<S: Serializer>(df: &DataFrame, s: S) -> Result<S::Ok, S::Error> {
    let n = df.height();
    let columns = df.columns();
    let names: Vec<&str> = columns.iter().map(|c| c.name().as_str()).collect();
    let series: Vec<&Series> = columns.iter().map(Column::as_materialized_series).collect();
    let mut parts = Vec::with_capacity(series.len());
    for (name, s) in names.iter().zip(&series) {
        let (values, dtype) = series_values(name, s).map_err(ser::Error::custom)?;
        let data = SeriesData { values, dtype, name, index: range_index(n) };
        parts.push(obj("pandas.Series", Some("pd_series"), data));
    }
    let column_index = if names.is_empty() {
        range_index(0)
    } else {
        let data = ListIndexData { kind: "index", values: names, dtype: "str", name: None };
        obj("pandas.Index", Some("pd_index"), IndexData::List(data))
    };
    let data = FrameData { columns: column_index, index: range_index(n), series: parts };
    obj("pandas.DataFrame", Some("pd_dataframe"), data).serialize(s)
}

/// Arrow IPC stream bytes of `df`.
fn ipc_bytes(df: &DataFrame) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut df = df.clone();
    IpcStreamWriter::new(&mut out).finish(&mut df).map_err(|e| format!("cannot write Arrow IPC: {e}"))?;
    Ok(out)
}

fn read_ipc(bytes: &[u8]) -> Result<DataFrame, String> {
    IpcStreamReader::new(Cursor::new(bytes)).finish().map_err(|e| format!("cannot read Arrow IPC: {e}"))
}

impl Serialize for Frame {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            write_pandas(&self.0, s)
        } else {
            // Checked before writing: the same columns the pandas form refuses.
            for c in self.0.columns() {
                series_values(c.name(), c.as_materialized_series()).map_err(ser::Error::custom)?;
            }
            s.serialize_bytes(&ipc_bytes(&self.0).map_err(ser::Error::custom)?)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading

fn field<'v>(v: &'v Value, key: &str, what: &str) -> Result<&'v Value, String> {
    v.get(key).ok_or_else(|| format!("{what}: no `{key}`"))
}

fn text<'v>(v: &'v Value, key: &str, what: &str) -> Result<&'v str, String> {
    field(v, key, what)?.as_str().ok_or_else(|| format!("{what}: `{key}` is not a string"))
}

fn list<'v>(v: &'v Value, what: &str) -> Result<&'v [Value], String> {
    match v {
        Value::List(items) | Value::Tuple(items) => Ok(items),
        _ => Err(format!("{what}: expected a list, found {v}")),
    }
}

/// The `__data__` of a tagged object whose `__pytype__` is `pytype`.
fn tagged_data<'v>(v: &'v Value, pytype: &str, what: &str) -> Result<&'v Value, String> {
    match v.get("__pytype__").and_then(Value::as_str) {
        Some(t) if t == pytype => field(v, "__data__", what),
        _ => Err(format!("{what}: not a pandas `{pytype}` object")),
    }
}

/// Whether a cell stands for a missing value: `None`, `NaN`, `pd.NA`, `pd.NaT`.
fn is_missing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Float(f) => f.is_nan(),
        Value::Map(_) | Value::Tagged(_) => {
            let py = v.get("__py__").and_then(Value::as_str);
            let val = v.get("__val__").and_then(Value::as_str);
            matches!(py, Some("pandas.NAType" | "pandas._libs.missing.NAType" | "pandas.NaT"))
                || matches!(v.get("__pytype__").and_then(Value::as_str), Some("pd_nat"))
                || (v.get("__pytype__").and_then(Value::as_str) == Some("float") && val == Some("nan"))
        }
        _ => false,
    }
}

/// A float cell (`NaN` tagged or not).
fn float_cell(v: &Value) -> Option<f64> {
    match v {
        Value::Map(_) | Value::Tagged(_) if v.get("__pytype__").and_then(Value::as_str) == Some("float") => {
            match v.get("__val__").and_then(Value::as_str) {
                Some("nan") => Some(f64::NAN),
                Some("inf") => Some(f64::INFINITY),
                Some("-inf") => Some(f64::NEG_INFINITY),
                _ => None,
            }
        }
        other => other.as_f64(),
    }
}

fn datetime_unit(dtype: &str) -> Option<(TimeUnit, i64)> {
    match dtype {
        "datetime64[ns]" => Some((TimeUnit::Nanoseconds, 1)),
        "datetime64[us]" => Some((TimeUnit::Microseconds, 1)),
        "datetime64[ms]" => Some((TimeUnit::Milliseconds, 1)),
        "datetime64[s]" => Some((TimeUnit::Milliseconds, 1000)),
        _ => None,
    }
}

fn datetime_series(name: &str, cells: Vec<Option<i64>>, unit: TimeUnit) -> Result<Series, String> {
    Series::new(name.into(), cells)
        .cast(&DataType::Datetime(unit, None))
        .map_err(|e| format!("column {name:?}: {e}"))
}

/// A column from a numpy array (`{"dtype","shape","bytes"}`).
fn from_numpy(name: &str, nd: &Value) -> Result<Series, String> {
    let what = format!("column {name:?}");
    let data = field(nd, "__data__", &what)?;
    let dtype = text(data, "dtype", &what)?;
    let bytes = text(data, "bytes", &what)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(bytes)
        .map_err(|e| format!("{what}: bad base64 array bytes: {e}"))?;
    let n = match list(field(data, "shape", &what)?, &what)? {
        [len] => len.as_i64().and_then(|l| usize::try_from(l).ok()),
        _ => None,
    }
    .ok_or_else(|| format!("{what}: the array is not one-dimensional"))?;
    let width = |w: usize| -> Result<std::slice::ChunksExact<'_, u8>, String> {
        if bytes.len() != n * w {
            return Err(format!("{what}: {} bytes for {n} {dtype} values", bytes.len()));
        }
        Ok(bytes.chunks_exact(w))
    };
    // Arrays narrower than 32 bits widen to 32 bits (polars is built without 8- and 16-bit integers).
    macro_rules! arr {
        ($t:ty, $w:literal) => {
            arr!($t, $w, $t)
        };
        ($t:ty, $w:literal, $to:ty) => {{
            let v: Vec<$to> = width($w)?
                .map(|c| <$to>::from(<$t>::from_le_bytes(c.try_into().unwrap_or([0; $w]))))
                .collect();
            Series::new(name.into(), v)
        }};
    }
    Ok(match dtype {
        "int8" => arr!(i8, 1, i32),
        "int16" => arr!(i16, 2, i32),
        "int32" => arr!(i32, 4),
        "int64" => arr!(i64, 8),
        "uint8" => arr!(u8, 1, u32),
        "uint16" => arr!(u16, 2, u32),
        "uint32" => arr!(u32, 4),
        "uint64" => arr!(u64, 8),
        "float32" => arr!(f32, 4),
        "float64" => arr!(f64, 8),
        "bool" => Series::new(name.into(), width(1)?.map(|c| c[0] != 0).collect::<Vec<bool>>()),
        other => match datetime_unit(other) {
            Some((unit, scale)) => {
                let cells = width(8)?
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .map(|v| (v != i64::MIN).then(|| v.saturating_mul(scale)))
                    .collect();
                datetime_series(name, cells, unit)?
            }
            None => return Err(format!("{what} has the numpy type {other:?}, which is not supported here")),
        },
    })
}

/// A column from a list of cells and its pandas dtype.
fn from_list(name: &str, cells: &[Value], dtype: &str) -> Result<Series, String> {
    let what = format!("column {name:?}");
    let bad = |v: &Value| format!("{what} ({dtype}) holds {v}, which is not a {dtype} value");
    // Float columns keep NaN as NaN; everywhere else a missing cell is a null.
    let keep_nan = dtype.starts_with("Float") || dtype.starts_with("float");
    macro_rules! collect {
        ($conv:expr) => {{
            let mut out = Vec::with_capacity(cells.len());
            for c in cells {
                let missing = if keep_nan { is_missing(c) && float_cell(c).is_none() } else { is_missing(c) };
                out.push(if missing { None } else { Some($conv(c).ok_or_else(|| bad(c))?) });
            }
            out
        }};
    }
    Ok(match dtype {
        "str" | "object" | "string" | "string[python]" | "string[pyarrow]" => {
            let mut out: Vec<Option<&str>> = Vec::with_capacity(cells.len());
            for c in cells {
                out.push(match c {
                    Value::Str(s) => Some(s),
                    c if is_missing(c) => None,
                    c => return Err(format!("{what} ({dtype}) holds {c}: only strings are supported in it")),
                });
            }
            Series::new(name.into(), out)
        }
        "Int8" | "Int16" | "Int32" | "Int64" => {
            let v: Vec<Option<i64>> = collect!(Value::as_i64);
            let s = Series::new(name.into(), v);
            let to = if dtype == "Int64" { DataType::Int64 } else { DataType::Int32 };
            s.strict_cast(&to).map_err(|e| format!("{what}: {e}"))?
        }
        "UInt8" | "UInt16" | "UInt32" | "UInt64" => {
            let v: Vec<Option<u64>> = collect!(|c: &Value| c.as_i128().and_then(|i| u64::try_from(i).ok()));
            let s = Series::new(name.into(), v);
            let to = if dtype == "UInt64" { DataType::UInt64 } else { DataType::UInt32 };
            s.strict_cast(&to).map_err(|e| format!("{what}: {e}"))?
        }
        "Float32" | "Float64" | "float64" | "float32" => {
            let v: Vec<Option<f64>> = collect!(float_cell);
            let s = Series::new(name.into(), v);
            if dtype.ends_with("32") {
                s.cast(&DataType::Float32).map_err(|e| format!("{what}: {e}"))?
            } else {
                s
            }
        }
        "boolean" | "bool" => {
            let v: Vec<Option<bool>> = collect!(Value::as_bool);
            Series::new(name.into(), v)
        }
        "int64" | "int32" | "int16" | "int8" => {
            let v: Vec<Option<i64>> = collect!(Value::as_i64);
            Series::new(name.into(), v)
        }
        other => return Err(format!("{what} has the pandas type {other:?}, which is not supported here")),
    })
}

/// A datetime index or list column given as ISO strings or pd_timestamp objects is not
/// supported; everything a pandas index holds goes through `from_list`.
fn series_from(name: &str, series: &Value) -> Result<Series, String> {
    let what = format!("column {name:?}");
    let data = tagged_data(series, "pd_series", &what)?;
    let dtype = text(data, "dtype", &what)?;
    let values = field(data, "values", &what)?;
    match text(values, "kind", &what)? {
        "numpy" => from_numpy(name, field(values, "data", &what)?),
        "list" => from_list(name, list(field(values, "data", &what)?, &what)?, dtype),
        other => Err(format!(
            "{what} has pandas type {dtype:?} (stored as {other:?}), which is not supported here"
        )),
    }
}

/// The text of a column label.
fn label(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The labels of a pandas index: a range's numbers or a list's items.
fn index_labels(index: &Value, what: &str) -> Result<Vec<String>, String> {
    let data = tagged_data(index, "pd_index", what)?;
    match text(data, "kind", what)? {
        "range" => {
            let (start, stop, step) = range_of(data, what)?;
            Ok(range_values(start, stop, step).map(|i| i.to_string()).collect())
        }
        "index" => Ok(list(field(data, "values", what)?, what)?.iter().map(label).collect()),
        "multi" => Ok(list(field(data, "tuples", what)?, what)?.iter().map(label).collect()),
        other => Err(format!("{what}: unknown index kind {other:?}")),
    }
}

fn range_of(data: &Value, what: &str) -> Result<(i64, i64, i64), String> {
    let num =
        |k: &str| field(data, k, what)?.as_i64().ok_or_else(|| format!("{what}: `{k}` is not an integer"));
    let step = num("step")?;
    if step == 0 {
        return Err(format!("{what}: a range index with step 0"));
    }
    Ok((num("start")?, num("stop")?, step))
}

fn range_values(start: i64, stop: i64, step: i64) -> impl Iterator<Item = i64> {
    let mut i = start;
    std::iter::from_fn(move || {
        let more = if step > 0 { i < stop } else { i > stop };
        more.then(|| {
            let v = i;
            i = i.saturating_add(step);
            v
        })
    })
}

/// The frame's row index as columns (none for a plain `RangeIndex` over the rows).
fn index_columns(index: &Value, height: Option<usize>) -> Result<(usize, Vec<Series>), String> {
    let what = "the index";
    let data = tagged_data(index, "pd_index", what)?;
    let name_of = |v: Option<&Value>, default: String| match v {
        Some(Value::Null) | None => default,
        Some(v) => label(v),
    };
    match text(data, "kind", what)? {
        "range" => {
            let (start, stop, step) = range_of(data, what)?;
            let values: Vec<i64> = range_values(start, stop, step).collect();
            let n = values.len();
            if start == 0 && step == 1 && height.is_none_or(|h| h == n) {
                return Ok((n, Vec::new()));
            }
            let name = name_of(data.get("name"), "index".into());
            Ok((n, vec![Series::new(name.as_str().into(), values)]))
        }
        "index" => {
            let values = list(field(data, "values", what)?, what)?;
            let name = name_of(data.get("name"), "index".into());
            let dtype = text(data, "dtype", what)?;
            let s = if let Some((unit, _)) = datetime_unit(dtype) {
                // A DatetimeIndex lists pd_timestamp objects: their ISO text is not parsed here.
                return Err(format!(
                    "the index has type {dtype:?} ({unit:?}), which is not supported here: reset_index() it in Python"
                ));
            } else {
                from_list(&name, values, dtype)?
            };
            Ok((values.len(), vec![s]))
        }
        "multi" => {
            let tuples = list(field(data, "tuples", what)?, what)?;
            let names = data.get("names").map(|n| list(n, what)).transpose()?.unwrap_or_default();
            let width = tuples.first().map(|t| list(t, what).map(<[Value]>::len)).transpose()?.unwrap_or(0);
            let mut out = Vec::with_capacity(width);
            for level in 0..width {
                let name = name_of(names.get(level), format!("level_{level}"));
                let mut cells = Vec::with_capacity(tuples.len());
                for t in tuples {
                    cells.push(list(t, what)?.get(level).cloned().unwrap_or(Value::Null));
                }
                let dtype = match cells.iter().find(|c| !is_missing(c)) {
                    Some(Value::Int(_)) => "Int64",
                    Some(Value::Float(_)) => "Float64",
                    Some(Value::Bool(_)) => "boolean",
                    _ => "object",
                };
                out.push(from_list(&name, &cells, dtype)?);
            }
            Ok((tuples.len(), out))
        }
        other => Err(format!("{what}: unknown index kind {other:?}")),
    }
}

/// A polars DataFrame from Python's pandas tagged form (a [`Value`]).
fn read_pandas(v: &Value) -> Result<DataFrame, String> {
    let what = "a DataFrame";
    let data = tagged_data(v, "pd_dataframe", what)?;
    let series = list(field(data, "series", what)?, what)?;
    let labels = index_labels(field(data, "columns", what)?, "the column labels")?;
    if labels.len() != series.len() {
        return Err(format!("{what}: {} column labels for {} columns", labels.len(), series.len()));
    }
    let mut columns = Vec::with_capacity(series.len() + 1);
    let mut cols = Vec::with_capacity(series.len());
    for (name, s) in labels.iter().zip(series) {
        cols.push(series_from(name, s)?);
    }
    let height = cols.first().map(|s| s.len());
    let (n, index) = index_columns(field(data, "index", what)?, height)?;
    columns.extend(index.into_iter().map(IntoColumn::into_column));
    columns.extend(cols.into_iter().map(IntoColumn::into_column));
    DataFrame::new(height.unwrap_or(n), columns).map_err(|e| format!("cannot build the DataFrame: {e}"))
}

struct FrameVisitor;

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = Frame;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a DataFrame (a pandas tagged object or Arrow IPC bytes)")
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Frame, E> {
        read_ipc(v).map(Frame).map_err(E::custom)
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Frame, E> {
        self.visit_bytes(&v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Frame, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        self.visit_bytes(&bytes)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Frame, A::Error> {
        let v = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        read_pandas(&v).map(Frame).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Frame {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Frame, D::Error> {
        if d.is_human_readable() {
            let v = Value::deserialize(d)?;
            match &v {
                Value::Bytes(b) => read_ipc(b).map(Frame).map_err(de::Error::custom),
                v => read_pandas(v).map(Frame).map_err(de::Error::custom),
            }
        } else {
            d.deserialize_byte_buf(FrameVisitor)
        }
    }
}
