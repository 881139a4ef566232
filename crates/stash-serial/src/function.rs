//! [`FnKey`]: a function as a key, in the Python library's `function` tag form.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::tagged::Tagged;

/// A function as a stash key, written as the Python library writes a function:
/// `{"__py__": "<module>.<name>", "__pytype__": "function", "__source__": "..."}`.
///
/// Python's stash keys a function by its address and, for a function it cannot import
/// again (one defined in `__main__`, a lambda), its source: `stash[func_key] = "cat"`.
/// [`FnKey::new`] does the same for a Rust function: its stable path
/// (`module_path!()` and its name, `tour::keys::my_fn`, written `tour::keys.my_fn`) and
/// its code version (the `#[stash_fingerprint]` fingerprint, which changes with any
/// change of its signature or body). Both go into the key, so two functions of one name
/// in two modules are two keys, and so are two versions of one function. The source is
/// a Python stub (Rust code cannot run in Python): Python reads the key back as a
/// function named like the Rust one whose docstring names the Rust function and its
/// code version, and which raises `NotImplementedError` when called.
///
/// `hashstash::fn_key!(path::to::f)` makes the key of a function marked
/// `#[stash_fingerprint]` (or `#[stashed_result]`). Every serializer can store it (the
/// non-`hashstash` ones as the plain map of its fields), and it reads back from a key
/// listed by `keys()`, Python's own function keys included (those without a closure:
/// read those as a [`Value`](crate::Value), a [`Value::Tagged`](crate::Value::Tagged)).
///
/// ```
/// use stash_serial::{FnKey, Value, serialize, to_value};
///
/// let key = FnKey::new("tour::keys::my_fn", "code-0123456789abcdef");
/// assert_eq!(key.py(), "tour::keys.my_fn");
/// assert_eq!(key.name(), "my_fn");
/// let bytes = serialize(&key, "hashstash")?;
/// assert!(bytes.starts_with(br#"{"__py__":"tour::keys.my_fn","__pytype__":"function","__source__":"def my_fn("#));
/// assert_ne!(key, FnKey::new("tour::keys::my_fn", "code-fedcba9876543210"));
/// // As a dynamic value it is a tagged object, as a Python function key read back is.
/// assert_eq!(to_value(&key)?.get("__pytype__"), Some(&Value::from("function")));
/// # Ok::<(), stash_serial::SerialError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FnKey {
    /// `__py__`: `<module>.<name>`.
    py: String,
    /// `__source__`, when the key has one.
    source: Option<String>,
}

/// Python's keywords: a function named like one cannot be written `def <name>`.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def",
    "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
    "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

impl FnKey {
    /// The key of the Rust function at `path` (`crate::module::f`, or
    /// `crate::module::Type::f` for a method) in code version `fingerprint`.
    ///
    /// `__py__` is the path with its last `::` written `.` (Python's
    /// `<module>.<name>`: `crate::module.f`); `__source__` is a Python stub defining
    /// that name in that module, whose docstring holds `path` and `fingerprint`, so a
    /// different fingerprint is a different key. Python loads the key as that stub and
    /// writes it back as the same key, so it finds the entry too (when the module part,
    /// up to the first `.`, is not an importable Python module). A `path` without `::`
    /// is written as it is, a function Python can load but not find again.
    pub fn new(path: &str, fingerprint: &str) -> FnKey {
        let py = match path.rsplit_once("::") {
            Some((module, name)) => format!("{module}.{name}"),
            None => path.to_owned(),
        };
        let source = match py.rsplit_once('.') {
            Some((module, name)) => python_stub(Some(module), name, path, fingerprint),
            None => python_stub(None, &py, path, fingerprint),
        };
        FnKey { py, source: Some(source) }
    }

    /// A function key as the Python library writes it: `py` its address
    /// (`module.qualname`, `__main__.<lambda>` for a lambda) and `source` its source,
    /// which Python stores only for a function it could not import again.
    pub fn python(py: impl Into<String>, source: Option<String>) -> FnKey {
        FnKey { py: py.into(), source }
    }

    /// `__py__`: the function's address, `<module>.<name>`.
    pub fn py(&self) -> &str {
        &self.py
    }

    /// The function's name: what follows the last `.` of [`py`](FnKey::py), as Python
    /// reads it.
    pub fn name(&self) -> &str {
        self.py.rsplit_once('.').map_or(self.py.as_str(), |(_, name)| name)
    }

    /// `__source__`: the Python source stored with the key (a stub for a Rust function).
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
}

/// Python source defining a function called `name` that stands for the Rust function
/// `path`: its docstring names it and its code version; calling it raises. Its
/// `__module__` is `module`, so Python, writing the loaded function as a key again
/// (`<__module__>.<__qualname__>` with this source), writes the same key bytes.
fn python_stub(module: Option<&str>, name: &str, path: &str, fingerprint: &str) -> String {
    let doc =
        py_str(&format!("The Rust function {path} (code version {fingerprint}): a key, not callable here."));
    let raise = py_str(&format!("{path} is a Rust function"));
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !PYTHON_KEYWORDS.contains(&name);
    let body = format!("(*args, **kwargs):\n    {doc}\n    raise NotImplementedError({raise})\n");
    let module = module.map(py_str);
    if plain {
        let mut out = format!("def {name}{body}");
        if let Some(module) = module {
            out.push_str(&format!("{name}.__module__ = {module}\n"));
        }
        return out;
    }
    // Not a Python identifier (or a keyword): define it under another name and bind it
    // where Python's loader looks for `name` (the namespace the source runs in).
    let quoted = py_str(name);
    let mut out =
        format!("def _rust_function{body}_rust_function.__name__ = _rust_function.__qualname__ = {quoted}\n");
    if let Some(module) = module {
        out.push_str(&format!("_rust_function.__module__ = {module}\n"));
    }
    out.push_str(&format!("globals()[{quoted}] = _rust_function\ndel _rust_function\n"));
    out
}

/// A Python string literal holding `s`.
fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The fields of a function key, in Python's order.
struct Fields<'a>(&'a FnKey);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let key = self.0;
        let mut m = s.serialize_map(Some(if key.source.is_some() { 3 } else { 2 }))?;
        m.serialize_entry("__py__", &key.py)?;
        m.serialize_entry("__pytype__", "function")?;
        if let Some(source) = &key.source {
            m.serialize_entry("__source__", source)?;
        }
        m.end()
    }
}

impl Serialize for FnKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Tagged(Fields(self)).serialize(s)
    }
}

struct FnKeyVisitor;

impl<'de> Visitor<'de> for FnKeyVisitor {
    type Value = FnKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a function key ({"__py__": ..., "__pytype__": "function", ["__source__": ...]})"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FnKey, A::Error> {
        let (mut py, mut pytype, mut source) = (None::<String>, None::<String>, None::<String>);
        let mut unknown = None;
        while let Some(k) = map.next_key::<String>()? {
            let slot = match k.as_str() {
                "__py__" => &mut py,
                "__pytype__" => &mut pytype,
                "__source__" => &mut source,
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                    unknown.get_or_insert(k);
                    continue;
                }
            };
            if slot.is_some() {
                return Err(de::Error::custom(format_args!("duplicate field `{k}` in a function key")));
            }
            *slot = Some(map.next_value()?);
        }
        match (py, pytype.as_deref(), unknown) {
            (Some(py), Some("function"), None) => Ok(FnKey { py, source }),
            (_, Some(other), _) if other != "function" => Err(de::Error::custom(format_args!(
                "not a function key: `__pytype__` is {other:?}, not \"function\""
            ))),
            (_, _, Some(field)) => Err(de::Error::custom(format_args!(
                "a function key with a field `{field}` (a closure?) is not an FnKey: read it as a Value"
            ))),
            (None, _, None) => Err(de::Error::missing_field("__py__")),
            (Some(_), _, None) => Err(de::Error::missing_field("__pytype__")),
        }
    }
}

impl<'de> Deserialize<'de> for FnKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FnKey, D::Error> {
        d.deserialize_map(FnKeyVisitor)
    }
}
