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

/// The cells of one column so far.
#[derive(Debug)]
enum Cells {
    /// Only nulls yet.
    Nulls(usize),
    Bool(Vec<Option<bool>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Str(Vec<Option<String>>),
    List(Vec<Option<Vec<Value>>>),
    /// Microseconds since the epoch (the `_written_at` column).
    Time(Vec<Option<i64>>),
    /// Cells that disagreed in type, as text.
    Text(Vec<Option<String>>),
}

impl Cells {
    fn len(&self) -> usize {
        match self {
            Cells::Nulls(n) => *n,
            Cells::Bool(v) => v.len(),
            Cells::Int(v) | Cells::Time(v) => v.len(),
            Cells::Float(v) => v.len(),
            Cells::Str(v) | Cells::Text(v) => v.len(),
            Cells::List(v) => v.len(),
        }
    }

    fn push_null(&mut self) {
        match self {
            Cells::Nulls(n) => *n += 1,
            Cells::Bool(v) => v.push(None),
            Cells::Int(v) | Cells::Time(v) => v.push(None),
            Cells::Float(v) => v.push(None),
            Cells::Str(v) | Cells::Text(v) => v.push(None),
            Cells::List(v) => v.push(None),
        }
    }

    /// Every cell as text, for a column that has to fall back to strings.
    fn into_text(self) -> Vec<Option<String>> {
        fn text<T>(v: Vec<Option<T>>, f: impl Fn(T) -> String) -> Vec<Option<String>> {
            v.into_iter().map(|c| c.map(&f)).collect()
        }
        match self {
            Cells::Nulls(n) => vec![None; n],
            Cells::Bool(v) => text(v, |b| Value::Bool(b).to_string()),
            Cells::Int(v) | Cells::Time(v) => text(v, |i| i.to_string()),
            Cells::Float(v) => text(v, |f| Value::Float(f).to_string()),
            Cells::Str(v) | Cells::Text(v) => v,
            Cells::List(v) => text(v, |l| Value::List(l).to_string()),
        }
    }

    fn push(&mut self, value: Value) {
        match (&mut *self, value) {
            (_, Value::Null) => self.push_null(),
            (Cells::Bool(v), Value::Bool(b)) => v.push(Some(b)),
            (Cells::Int(v), Value::Int(i)) => v.push(Some(i)),
            (Cells::Float(v), Value::Float(f)) => v.push(Some(f)),
            (Cells::Float(v), Value::Int(i)) => v.push(Some(i as f64)),
            (Cells::Float(v), Value::UInt(u)) => v.push(Some(u as f64)),
            (Cells::Str(v), Value::Str(s)) => v.push(Some(s)),
            (Cells::List(v), Value::List(l) | Value::Tuple(l) | Value::Set(l)) => v.push(Some(l)),
            (Cells::Text(v), other) => v.push(Some(text_of(other))),
            (Cells::Int(v), Value::Float(f)) => {
                let mut floats: Vec<Option<f64>> = v.iter().map(|c| c.map(|i| i as f64)).collect();
                floats.push(Some(f));
                *self = Cells::Float(floats);
            }
            (Cells::Int(v), Value::UInt(u)) => {
                let mut floats: Vec<Option<f64>> = v.iter().map(|c| c.map(|i| i as f64)).collect();
                floats.push(Some(u as f64));
                *self = Cells::Float(floats);
            }
            (Cells::Nulls(n), value) => {
                let n = *n;
                *self = Cells::typed_for(&value, n);
                self.push(value);
            }
            (_, other) => {
                let mut text = std::mem::replace(self, Cells::Nulls(0)).into_text();
                text.push(Some(text_of(other)));
                *self = Cells::Text(text);
            }
        }
    }

    /// An empty column of the type `value` starts, after `nulls` nulls.
    fn typed_for(value: &Value, nulls: usize) -> Cells {
        fn pad<T>(n: usize) -> Vec<Option<T>> {
            std::iter::repeat_with(|| None).take(n).collect()
        }
        match value {
            Value::Bool(_) => Cells::Bool(pad(nulls)),
            Value::Int(_) => Cells::Int(pad(nulls)),
            Value::Float(_) | Value::UInt(_) => Cells::Float(pad(nulls)),
            Value::Str(_) => Cells::Str(pad(nulls)),
            Value::List(_) | Value::Tuple(_) | Value::Set(_) => Cells::List(pad(nulls)),
            _ => Cells::Text(pad(nulls)),
        }
    }

    fn into_column(self, name: &str) -> PolarsResult<Column> {
        let name = PlSmallStr::from(name);
        let series = match self {
            Cells::Nulls(n) => Series::full_null(name, n, &DataType::Null),
            Cells::Bool(v) => Series::new(name, v),
            Cells::Int(v) => Series::new(name, v),
            Cells::Float(v) => Series::new(name, v),
            Cells::Str(v) | Cells::Text(v) => Series::new(name, v),
            Cells::Time(v) => Series::new(name, v).cast(&DataType::Datetime(TimeUnit::Microseconds, None))?,
            Cells::List(v) => list_series(name, v)?,
        };
        Ok(series.into())
    }
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
        let mut cells = Cells::Nulls(0);
        for item in items {
            cells.push(item);
        }
        let series = cells.into_column("")?.take_materialized_series();
        dtype = supertype(&dtype, series.dtype());
        inner.push(Some(series));
    }
    let cast: Vec<Option<Series>> = inner
        .into_iter()
        .map(|s| s.map(|s| if s.dtype() == &dtype { Ok(s) } else { cast_or_text(&s, &dtype) }).transpose())
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

fn cast_or_text(series: &Series, dtype: &DataType) -> PolarsResult<Series> {
    series.cast(dtype)
}

/// Collects rows into columns, in the order columns first appear.
#[derive(Debug, Default)]
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
        let at = self.column(column, || Cells::Time(Vec::new()));
        match &mut self.columns[at] {
            Cells::Time(v) => v.push(Some(micros)),
            other => other.push(Value::Int(micros)),
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
        while column.len() + 1 < self.rows {
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
                while cells.len() < rows {
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
        let at = self.column(column, || Cells::Nulls(0));
        let cells = &mut self.columns[at];
        if cells.len() >= self.rows {
            // The same column twice in one row (`a.b` spread and a field named
            // "a.b"): the later cell wins, as in a dict.
            cells.pop_last();
        }
        cells.push(value);
    }
}

impl Cells {
    fn pop_last(&mut self) {
        match self {
            Cells::Nulls(n) => *n = n.saturating_sub(1),
            Cells::Bool(v) => drop(v.pop()),
            Cells::Int(v) | Cells::Time(v) => drop(v.pop()),
            Cells::Float(v) => drop(v.pop()),
            Cells::Str(v) | Cells::Text(v) => drop(v.pop()),
            Cells::List(v) => drop(v.pop()),
        }
    }
}
