//! The one error type of the core layer, with a kind and context.

use std::fmt;
use std::path::Path;

/// A boxed source error.
type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, broadly: match on this, not on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system refused an I/O operation.
    Io,
    /// Stored bytes are damaged: truncated files, bad compression, a key file
    /// that does not match its slot.
    Corrupt,
    /// Stored bytes are intact but do not decode as the requested type.
    Decode,
    /// A key or value could not be serialized.
    Encode,
    /// The configuration is invalid (a bad name, a path escaping its root, ...).
    Config,
    /// The operation is not supported by this engine or serializer.
    Unsupported,
    /// The named engine, serializer or compressor is not compiled in.
    NotCompiled,
    /// Another process holds a lock the operation needs.
    Locked,
    /// The storage backend (a database or server) reported an error.
    Backend,
    /// A value is larger than the stash's `max_value_bytes` (a decoder stopped
    /// before reaching it, so memory stays bounded), or a size stored beside a
    /// value claims more than the data holds.
    TooLarge,
    /// A server could not be reached, or a wait for it (a pooled connection, a
    /// reply) ran out of time.
    Unavailable,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "I/O error",
            ErrorKind::Corrupt => "corrupt data",
            ErrorKind::Decode => "decode error",
            ErrorKind::Encode => "encode error",
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::NotCompiled => "not compiled in",
            ErrorKind::Locked => "locked",
            ErrorKind::Backend => "backend error",
            ErrorKind::TooLarge => "too large",
            ErrorKind::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every stash operation: a kind, a message, context pairs
/// (which stash, which key digest, which file) and the underlying cause.
///
/// ```
/// use stash_engine_api::{Error, ErrorKind};
/// let err = Error::new(ErrorKind::Corrupt, "value file is empty")
///     .with_context("file", "/tmp/x/data.db/ab/cd/ef/0123/17000.42");
/// assert_eq!(err.kind(), ErrorKind::Corrupt);
/// assert!(err.to_string().contains("file: /tmp/x"));
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    context: Vec<(&'static str, String)>,
    source: Option<Source>,
}

/// The result type of the core layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), context: Vec::new(), source: None }
    }

    /// An I/O error while touching `path`.
    pub fn io(err: std::io::Error, action: &str, path: &Path) -> Self {
        Error::new(ErrorKind::Io, format!("cannot {action}"))
            .with_context("file", path.display().to_string())
            .with_source(err)
    }

    /// Adds a context pair such as `("stash", ...)`, `("digest", ...)` or `("file", ...)`.
    pub fn with_context(mut self, key: &'static str, value: impl fmt::Display) -> Self {
        let value = value.to_string();
        match self.context.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.context.push((key, value)),
        }
        self
    }

    /// Sets the underlying cause.
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The context pairs, in the order they were added.
    pub fn context(&self) -> &[(&'static str, String)] {
        &self.context
    }

    /// The error and its causes on one line (`message (context): cause: cause`).
    ///
    /// ```
    /// use stash_engine_api::Error;
    /// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
    /// let err = Error::io(io, "read value file", std::path::Path::new("/x/y"));
    /// assert_eq!(err.to_string(), "cannot read value file (file: /x/y)");
    /// assert_eq!(err.report().to_string(), "cannot read value file (file: /x/y): gone");
    /// ```
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }

    /// The value of one context pair.
    pub fn context_value(&self, key: &str) -> Option<&str> {
        self.context.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Error {
    /// The message and the context. The cause is not repeated here: it is
    /// [`source`](std::error::Error::source), which `{:?}`, [`Error::report`] and
    /// error reporters (anyhow, eyre) print once.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The message says what happened; the kind is for matching, not for reading.
        f.write_str(&self.message)?;
        if !self.context.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in self.context.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: {v}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    /// What `unwrap()` and `main() -> Result` print: the error, then each cause
    /// on a line of its own.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)?;
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            write!(f, "\n  caused by: {err}")?;
            cause = err.source();
        }
        Ok(())
    }
}

/// An [`Error`] with its causes on one line, for logs: from [`Error::report`].
#[derive(Clone, Copy)]
pub struct Report<'a>(&'a Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)?;
        let mut cause = std::error::Error::source(self.0);
        while let Some(err) = cause {
            write!(f, ": {err}")?;
            cause = err.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_context_and_debug_adds_the_source() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let err = Error::io(io, "read value file", Path::new("/x/y"))
            .with_context("stash", "PairtreeHashStash(/x)")
            .with_context("digest", "abcd");
        let text = err.to_string();
        assert_eq!(text, "cannot read value file (file: /x/y, stash: PairtreeHashStash(/x), digest: abcd)");
        assert_eq!(format!("{err:?}"), format!("{text}\n  caused by: gone"));
        assert_eq!(err.report().to_string(), format!("{text}: gone"));
        assert_eq!(std::error::Error::source(&err).map(ToString::to_string).as_deref(), Some("gone"));
        assert_eq!(err.context_value("digest"), Some("abcd"));
    }

    #[test]
    fn context_keys_are_replaced_not_repeated() {
        let err = Error::new(ErrorKind::Io, "x").with_context("file", "a").with_context("file", "b");
        assert_eq!(err.context().len(), 1);
        assert_eq!(err.context_value("file"), Some("b"));
    }
}
