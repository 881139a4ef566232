//! An engine's own settings, kept in the configuration as text so a saved
//! `StashConfig` (in `stash-core`) reopens with them.
//!
//! The configuration holds them as a map of names to text values
//! ([`EngineOptions`]: `durability = "relaxed"`, `busy_timeout_ms = "500"`), the
//! way OpenDAL builds each service's config from a string map: the core needs to
//! know nothing of any engine's settings, and every format that can save the
//! configuration can save them. Each engine turns the map into its typed options
//! once, when it opens ([`OptionReader`]): an unknown name or a value that does not
//! parse is a `Config` error naming the engine and the option. Its options type
//! writes back what differs from its defaults (its factory's
//! [`options`](crate::EngineFactory::options)).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

/// An engine's settings by name, as text.
pub type EngineOptions = BTreeMap<String, String>;

/// Reads an engine's typed settings out of [`EngineOptions`], once, at open.
///
/// ```
/// use stash_engine_api::options::{EngineOptions, OptionReader};
/// let mut map = EngineOptions::new();
/// map.insert("fsync".into(), "true".into());
/// let mut reader = OptionReader::new("pairtree", &map);
/// assert_eq!(reader.get::<bool>("fsync")?, Some(true));
/// reader.finish()?; // every option was known
///
/// map.insert("fsinc".into(), "true".into());
/// let mut reader = OptionReader::new("pairtree", &map);
/// reader.get::<bool>("fsync")?;
/// assert!(reader.finish().unwrap_err().to_string().contains("unknown option `fsinc`"));
/// # Ok::<(), stash_engine_api::Error>(())
/// ```
#[derive(Debug)]
pub struct OptionReader<'a> {
    engine: &'a str,
    options: &'a EngineOptions,
    known: Vec<&'static str>,
}

impl<'a> OptionReader<'a> {
    /// A reader of `options` for the engine called `engine` (named in errors).
    pub fn new(engine: &'a str, options: &'a EngineOptions) -> OptionReader<'a> {
        OptionReader { engine, options, known: Vec::new() }
    }

    /// The option `name` parsed as `T`, `None` when absent.
    pub fn get<T>(&mut self, name: &'static str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.known.push(name);
        let Some(text) = self.options.get(name) else { return Ok(None) };
        text.trim().parse().map(Some).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("engine option `{name}` of `{}` is invalid: {e}", self.engine),
            )
            .with_context("value", text)
        })
    }

    /// The option `name` (a whole number of milliseconds) as a duration.
    pub fn millis(&mut self, name: &'static str) -> Result<Option<Duration>> {
        Ok(self.get::<u64>(name)?.map(Duration::from_millis))
    }

    /// Checks that every option in the map was asked for: a misspelt name is a
    /// `Config` error listing the known ones, never silently ignored.
    pub fn finish(self) -> Result<()> {
        match self.options.keys().find(|k| !self.known.contains(&k.as_str())) {
            None => Ok(()),
            Some(unknown) => Err(Error::new(
                ErrorKind::Config,
                format!(
                    "unknown option `{unknown}` for engine `{}` (it knows: {})",
                    self.engine,
                    if self.known.is_empty() { "none".to_string() } else { self.known.join(", ") }
                ),
            )),
        }
    }
}

/// Writes typed settings into [`EngineOptions`]: what an options type's
/// [`EngineFactory::options`](crate::EngineFactory::options) returns.
#[derive(Debug, Default)]
pub struct OptionWriter(EngineOptions);

impl OptionWriter {
    /// An empty map.
    pub fn new() -> OptionWriter {
        OptionWriter::default()
    }

    /// Records `value` under `name` when it differs from `default`.
    pub fn set<T: PartialEq + Display>(mut self, name: &str, value: T, default: T) -> OptionWriter {
        if value != default {
            self.0.insert(name.to_owned(), value.to_string());
        }
        self
    }

    /// Records `value` under `name` when it is set (a setting whose default is "not set").
    pub fn some<T: Display>(mut self, name: &str, value: Option<T>) -> OptionWriter {
        if let Some(value) = value {
            self.0.insert(name.to_owned(), value.to_string());
        }
        self
    }

    /// Records a duration (whole milliseconds) when it differs from `default`.
    pub fn millis(self, name: &str, value: Duration, default: Duration) -> OptionWriter {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.set(name, ms(value), ms(default))
    }

    /// The map.
    pub fn finish(self) -> EngineOptions {
        self.0
    }
}
