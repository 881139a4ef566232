//! Flattening: one stash entry becomes one row of `(column, cell)` pairs.
//!
//! - A map with string keys spreads into dotted columns (`etc.goes_to.heaven`),
//!   at every depth (an empty map gives no column, as in Python); lists, tuples
//!   and sets inside it stay whole cells (a list value itself spreads into rows
//!   before it gets here: see `push_row`).
//! - A value that is not a map goes in `_value`.
//! - A key that is a map spreads into its fields the same way; a function
//!   stash's key (the argument tuple) gives `_arg1`, `_arg2`, ...; any other
//!   key goes in `_key`.
//! - Map keys that are not strings (Python's `{1: "x"}`) leave the map whole.

use std::fmt::Write as _;

use stash_serial::Value;

/// How keys become columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeyColumns {
    /// A map key spreads into its fields; anything else goes in `_key`.
    #[default]
    Auto,
    /// Function stashes: the argument tuple gives `_arg1`, `_arg2`, ... (a
    /// Python `(args, kwargs)` key also gives one column per keyword argument).
    Args,
    /// Always one `_key` column holding the whole key.
    Whole,
}

/// Receives the cells of one row.
pub(crate) trait RowSink {
    /// One cell: `column` is the full dotted name.
    fn cell(&mut self, column: &str, value: Value);
}

/// Flattens a key into `sink`, naming columns under the reused `path` buffer.
pub(crate) fn key_cells(key: Value, how: KeyColumns, path: &mut String, sink: &mut impl RowSink) {
    match (how, key) {
        (KeyColumns::Args, Value::Tuple(args)) => {
            // A Python function stash keys by `(args_tuple, kwargs_dict)`.
            let python_shape = args.len() == 2
                && matches!(args[0], Value::Tuple(_) | Value::List(_))
                && matches!(&args[1], Value::Map(m) if string_keys(m));
            if python_shape {
                let mut it = args.into_iter();
                if let (Some(Value::Tuple(positional) | Value::List(positional)), Some(Value::Map(kwargs))) =
                    (it.next(), it.next())
                {
                    arg_cells(positional, path, sink);
                    for (name, value) in kwargs {
                        if let Value::Str(name) = name {
                            path.clear();
                            path.push('_');
                            path.push_str(&name);
                            spread(value, path, sink, false, false);
                        }
                    }
                }
            } else {
                arg_cells(args, path, sink);
            }
        }
        (KeyColumns::Whole, key) => sink.cell("_key", key),
        (_, Value::Map(fields)) if !fields.is_empty() && string_keys(&fields) => {
            path.clear();
            spread(Value::Map(fields), path, sink, true, false);
        }
        (_, key) => sink.cell("_key", key),
    }
}

fn arg_cells(args: Vec<Value>, path: &mut String, sink: &mut impl RowSink) {
    for (i, arg) in args.into_iter().enumerate() {
        path.clear();
        // Writing into a String cannot fail.
        let _ = write!(path, "_arg{}", i + 1);
        spread(arg, path, sink, false, false);
    }
}

/// Flattens a value into `sink`: a string-keyed map spreads, anything else is `_value`.
pub(crate) fn value_cells(value: Value, path: &mut String, sink: &mut impl RowSink) {
    match value {
        Value::Map(fields) if !fields.is_empty() && string_keys(&fields) => {
            path.clear();
            spread(Value::Map(fields), path, sink, true, true);
        }
        other => sink.cell("_value", other),
    }
}

fn string_keys(fields: &[(Value, Value)]) -> bool {
    fields.iter().all(|(k, _)| matches!(k, Value::Str(_)))
}

/// Writes `value` under `path` (a map with string keys spreads into `path.field`).
/// `top` is true for the fields of a top-level map, which take no prefix; `value` is
/// true for a value (not a key), whose empty maps give no cell.
fn spread(v: Value, path: &mut String, sink: &mut impl RowSink, top: bool, value: bool) {
    match v {
        // (Python's `_flatten_dict` gives an empty dict inside a value no column)
        Value::Map(fields) if fields.is_empty() && !top && value => {}
        Value::Map(fields) if !fields.is_empty() && string_keys(&fields) => {
            let base = path.len();
            for (name, inner) in fields {
                let Value::Str(name) = name else { continue };
                path.truncate(base);
                if !(top && base == 0) {
                    path.push('.');
                }
                path.push_str(&name);
                spread(inner, path, sink, false, value);
            }
            path.truncate(base);
        }
        other => sink.cell(path, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Cells(Vec<(String, Value)>);

    impl RowSink for Cells {
        fn cell(&mut self, column: &str, value: Value) {
            self.0.push((column.to_string(), value));
        }
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn map(fields: Vec<(&str, Value)>) -> Value {
        Value::Map(fields.into_iter().map(|(k, v)| (s(k), v)).collect())
    }

    fn names(cells: &Cells) -> Vec<&str> {
        cells.0.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn nested_maps_become_dotted_columns() {
        let value = map(vec![
            ("name", s("cat")),
            ("etc", map(vec![("goes_to", map(vec![("heaven", Value::Bool(true))])), ("n", Value::Int(1))])),
            ("tags", Value::List(vec![s("a")])),
        ]);
        let mut cells = Cells::default();
        value_cells(value, &mut String::new(), &mut cells);
        assert_eq!(names(&cells), ["name", "etc.goes_to.heaven", "etc.n", "tags"]);
    }

    #[test]
    fn scalars_and_odd_maps_go_whole() {
        let mut cells = Cells::default();
        value_cells(Value::Int(3), &mut String::new(), &mut cells);
        value_cells(Value::Map(vec![(Value::Int(1), s("x"))]), &mut String::new(), &mut cells);
        value_cells(Value::Map(vec![]), &mut String::new(), &mut cells);
        assert_eq!(names(&cells), ["_value", "_value", "_value"]);
    }

    #[test]
    fn keys_by_shape() {
        let mut cells = Cells::default();
        key_cells(s("k"), KeyColumns::Auto, &mut String::new(), &mut cells);
        key_cells(map(vec![("name", s("cat"))]), KeyColumns::Auto, &mut String::new(), &mut cells);
        key_cells(
            Value::Tuple(vec![Value::Int(1), s("x")]),
            KeyColumns::Args,
            &mut String::new(),
            &mut cells,
        );
        let python =
            Value::Tuple(vec![Value::Tuple(vec![Value::Int(1)]), map(vec![("scale", Value::Float(2.0))])]);
        key_cells(python, KeyColumns::Args, &mut String::new(), &mut cells);
        key_cells(map(vec![("a", Value::Int(1))]), KeyColumns::Whole, &mut String::new(), &mut cells);
        assert_eq!(names(&cells), ["_key", "name", "_arg1", "_arg2", "_arg1", "_scale", "_key"]);
    }
}
