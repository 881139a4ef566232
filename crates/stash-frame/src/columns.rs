//! Column builders: cells arrive row by row, each column keeps the narrowest
//! type that holds every cell seen so far, and turns into a polars column.
//!
//! Types per column: booleans, integers (`i64`), floats (`f64`; integers mixed
//! with floats become floats), strings, lists (of one inferred element type),
//! and, for a column whose cells disagree in any other way, strings: each
//! cell's text (strings as they are, other values as Python would print
//! them). Missing cells are nulls. Nothing here panics on odd input.

use std::collections::HashMap;

use polars::prelude::*;
use stash_serial::Value;

use crate::flatten::RowSink;

/// The builder receiving a column's cells now.
enum Current {
    /// Only nulls yet.
    Nulls(usize),
    Bool(BooleanChunkedBuilder),
    Int(PrimitiveChunkedBuilder<Int64Type>),
    Float(PrimitiveChunkedBuilder<Float64Type>),
    /// Strings, and the text of cells that disagreed in type.
    Str(StringChunkedBuilder),
    List(Vec<Option<Vec<Value>>>),
    /// Microseconds since the epoch (the `_written_at` column).
    Time(PrimitiveChunkedBuilder<Int64Type>),
}

/// The cells of one column so far: chunks of the narrower types it had
/// before a wider cell arrived, and the builder for the current type. Cells go
/// straight into polars' builders, so a column takes about the memory of the
/// finished one.
struct Cells {
    done: Vec<Series>,
    current: Current,
    len: usize,
}

impl Cells {
    fn new(current: Current) -> Cells {
        Cells { done: Vec::new(), current, len: 0 }
    }

    fn push_null(&mut self) {
        self.len += 1;
        match &mut self.current {
            Current::Nulls(n) => *n += 1,
            Current::Bool(b) => b.append_null(),
            Current::Int(b) | Current::Time(b) => b.append_null(),
            Current::Float(b) => b.append_null(),
            Current::Str(b) => b.append_null(),
            Current::List(v) => v.push(None),
        }
    }

    fn push(&mut self, value: Value) {
        if let Value::Null = value {
            return self.push_null();
        }
        self.len += 1;
        match (&mut self.current, value) {
            (Current::Bool(b), Value::Bool(v)) => b.append_value(v),
            (Current::Int(b), Value::Int(v)) => b.append_value(v),
            (Current::Float(b), Value::Float(v)) => b.append_value(v),
            (Current::Float(b), Value::Int(v)) => b.append_value(v as f64),
            (Current::Float(b), Value::UInt(v)) => b.append_value(v as f64),
            (Current::Str(b), Value::Str(v)) => b.append_value(&v),
            (Current::Str(b), other) => b.append_value(text_of(other)),
            (Current::List(rows), Value::List(v) | Value::Tuple(v) | Value::Set(v) | Value::FrozenSet(v)) => {
                rows.push(Some(v))
            }
            (Current::Time(b), Value::Int(v)) => b.append_value(v),
            (Current::Int(_), wider @ (Value::Float(_) | Value::UInt(_))) => {
                self.switch(Current::Float(PrimitiveChunkedBuilder::new(PlSmallStr::EMPTY, 0)));
                self.len -= 1;
                self.push(wider);
            }
            (Current::Nulls(n), value) => {
                let nulls = *n;
                self.current = Current::start_for(&value, nulls);
                self.len -= 1;
                self.push(value);
            }
            (_, other) => {
                // The cells disagree: the column becomes text from here on, and its
                // earlier chunks are turned into text when it is finished.
                self.switch(Current::Str(StringChunkedBuilder::new(PlSmallStr::EMPTY, 0)));
                if let Current::Str(b) = &mut self.current {
                    b.append_value(text_of(other));
                }
            }
        }
    }

    /// Finishes the current builder into a chunk and continues with `next`.
    fn switch(&mut self, next: Current) {
        let previous = std::mem::replace(&mut self.current, next);
        // A finished chunk of the old type; a failure here can only come from
        // list cells, which then go through as text.
        let chunk =
            previous.finish().unwrap_or_else(|_| Series::full_null(PlSmallStr::EMPTY, 0, &DataType::Null));
        self.done.push(chunk);
    }

    fn into_column(mut self, name: &str) -> PolarsResult<Column> {
        let name = PlSmallStr::from(name);
        let last = std::mem::replace(&mut self.current, Current::Nulls(0)).finish()?;
        let dtype = last.dtype().clone();
        let mut out: Option<Series> = None;
        for chunk in self.done.into_iter().chain([last]) {
            let chunk = if chunk.dtype() == &dtype { chunk } else { convert(&chunk, &dtype)? };
            match &mut out {
                None => out = Some(chunk),
                Some(s) => {
                    s.append(&chunk)?;
                }
            }
        }
        let mut series = out.unwrap_or_else(|| Series::full_null(PlSmallStr::EMPTY, 0, &DataType::Null));
        series.rename(name);
        Ok(series.into())
    }
}

impl Current {
    /// The builder a column starts with when its first value is `value`, after `nulls` nulls.
    fn start_for(value: &Value, nulls: usize) -> Current {
        let mut current = match value {
            Value::Bool(_) => Current::Bool(BooleanChunkedBuilder::new(PlSmallStr::EMPTY, nulls + 16)),
            Value::Int(_) => Current::Int(PrimitiveChunkedBuilder::new(PlSmallStr::EMPTY, nulls + 16)),
            Value::Float(_) | Value::UInt(_) => {
                Current::Float(PrimitiveChunkedBuilder::new(PlSmallStr::EMPTY, nulls + 16))
            }
            Value::List(_) | Value::Tuple(_) | Value::Set(_) | Value::FrozenSet(_) => {
                Current::List(Vec::new())
            }
            _ => Current::Str(StringChunkedBuilder::new(PlSmallStr::EMPTY, nulls + 16)),
        };
        for _ in 0..nulls {
            match &mut current {
                Current::Bool(b) => b.append_null(),
                Current::Int(b) | Current::Time(b) => b.append_null(),
                Current::Float(b) => b.append_null(),
                Current::Str(b) => b.append_null(),
                Current::List(v) => v.push(None),
                Current::Nulls(_) => {}
            }
        }
        current
    }

    fn finish(self) -> PolarsResult<Series> {
        Ok(match self {
            Current::Nulls(n) => Series::full_null(PlSmallStr::EMPTY, n, &DataType::Null),
            Current::Bool(b) => b.finish().into_series(),
            Current::Int(b) => b.finish().into_series(),
            Current::Float(b) => b.finish().into_series(),
            Current::Str(b) => b.finish().into_series(),
            Current::Time(b) => {
                b.finish().into_series().cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
            }
            Current::List(rows) => list_series(PlSmallStr::EMPTY, rows)?,
        })
    }
}

/// An earlier chunk in the column's final type: numbers widen, anything
/// becomes text (lists as their JSON-like text).
fn convert(chunk: &Series, dtype: &DataType) -> PolarsResult<Series> {
    if dtype == &DataType::String {
        if let DataType::List(_) = chunk.dtype() {
            let list = chunk.list()?;
            let text: StringChunked = (0..list.len())
                .map(|i| list.get_as_series(i).map(|s| crate::export::series_text(&s)))
                .collect();
            return Ok(text.into_series());
        }
        if chunk.dtype() == &DataType::Boolean {
            // As Python prints them, like the text of later cells.
            let b = chunk.bool()?;
            let text: StringChunked = b.iter().map(|v| v.map(|v| if v { "True" } else { "False" })).collect();
            return Ok(text.into_series());
        }
    }
    chunk.cast(dtype)
}

/// A cell's text in a string column: strings as they are, anything else as Python prints it.
fn text_of(value: Value) -> String {
    match value {
        Value::Str(s) => s,
        other => other.to_string(),
    }
}

/// A list column: each row's elements inferred like a column of their own,
/// then cast to one element type for the whole column.
fn list_series(name: PlSmallStr, rows: Vec<Option<Vec<Value>>>) -> PolarsResult<Series> {
    let mut inner: Vec<Option<Series>> = Vec::with_capacity(rows.len());
    let mut dtype = DataType::Null;
    for row in rows {
        let Some(items) = row else {
            inner.push(None);
            continue;
        };
        let mut cells = Cells::new(Current::Nulls(0));
        for item in items {
            cells.push(item);
        }
        let series = cells.into_column("")?.take_materialized_series();
        dtype = supertype(&dtype, series.dtype());
        inner.push(Some(series));
    }
    let cast: Vec<Option<Series>> = inner
        .into_iter()
        .map(|s| s.map(|s| if s.dtype() == &dtype { Ok(s) } else { convert(&s, &dtype) }).transpose())
        .collect::<PolarsResult<_>>()?;
    let mut list: ListChunked = cast.into_iter().collect();
    list.rename(name);
    Ok(list.into_series())
}

/// The element type that holds both: numbers widen to floats, anything else to strings.
fn supertype(a: &DataType, b: &DataType) -> DataType {
    match (a, b) {
        (DataType::Null, t) | (t, DataType::Null) => t.clone(),
        (a, b) if a == b => a.clone(),
        (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => DataType::Float64,
        _ => DataType::String,
    }
}

/// Collects rows into columns, in the order columns first appear.
#[derive(Default)]
pub(crate) struct TableBuilder {
    names: Vec<String>,
    index: HashMap<String, usize>,
    columns: Vec<Cells>,
    rows: usize,
}

impl TableBuilder {
    /// Starts the next row; cells pushed until the next call belong to it.
    pub fn start_row(&mut self) {
        self.rows += 1;
    }

    /// A write-time cell (`_written_at`), kept as a datetime column.
    pub fn time_cell(&mut self, column: &str, micros: i64) {
        let at = self.column(column, || {
            Cells::new(Current::Time(PrimitiveChunkedBuilder::new(PlSmallStr::EMPTY, 64)))
        });
        let cells = &mut self.columns[at];
        if cells.len < self.rows {
            cells.push(Value::Int(micros));
        }
    }

    fn column(&mut self, name: &str, make: impl FnOnce() -> Cells) -> usize {
        let at = match self.index.get(name) {
            Some(&at) => at,
            None => {
                let at = self.columns.len();
                self.names.push(name.to_string());
                self.index.insert(name.to_string(), at);
                let mut cells = make();
                for _ in 0..self.rows.saturating_sub(1) {
                    cells.push_null();
                }
                self.columns.push(cells);
                at
            }
        };
        // Rows that lacked this column get nulls, up to the current row.
        let column = &mut self.columns[at];
        while column.len + 1 < self.rows {
            column.push_null();
        }
        at
    }

    /// The finished columns, every one `rows()` long.
    pub fn finish(mut self) -> PolarsResult<DataFrame> {
        let rows = self.rows;
        let columns = self
            .columns
            .drain(..)
            .zip(&self.names)
            .map(|(mut cells, name)| {
                while cells.len < rows {
                    cells.push_null();
                }
                cells.into_column(name)
            })
            .collect::<PolarsResult<Vec<_>>>()?;
        DataFrame::new(rows, columns)
    }
}

impl RowSink for TableBuilder {
    fn cell(&mut self, column: &str, value: Value) {
        let at = self.column(column, || Cells::new(Current::Nulls(0)));
        let cells = &mut self.columns[at];
        // The same column twice in one row (a nested `a.b` and a field named
        // "a.b"): the first cell stays.
        if cells.len < self.rows {
            cells.push(value);
        }
    }
}
