//! The error of this layer: a stash error, or a call that panicked.
//! Converts into [`stash_core::Error`] at the boundary, so `?` works in code
//! returning `hashstash::Result`.

use std::fmt;

use stash_core::ErrorKind;

/// What went wrong while running or mapping a stashed function.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the function's stash failed.
    Stash(std::sync::Arc<stash_core::Error>),
    /// The function panicked for one input; the others were not affected.
    Panicked {
        /// The call, as `path::f(args)`.
        call: String,
        /// The panic message.
        message: String,
    },
    /// The function returned an error (in `map` over functions returning `Result`).
    Failed {
        /// The call, as `path::f(args)`.
        call: String,
        /// The error, as text.
        message: String,
    },
}

/// The result type of this layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True for a call that panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::Panicked { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Stash(e) => fmt::Display::fmt(e, f),
            Error::Panicked { call, message } => write!(f, "{call} panicked: {message}"),
            Error::Failed { call, message } => write!(f, "{call} failed: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Stash(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<stash_core::Error> for Error {
    fn from(e: stash_core::Error) -> Self {
        Error::Stash(std::sync::Arc::new(e))
    }
}

impl From<Error> for stash_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Stash(e) => std::sync::Arc::try_unwrap(e)
                .unwrap_or_else(|e| stash_core::Error::new(e.kind(), e.to_string())),
            other => stash_core::Error::new(ErrorKind::Backend, other.to_string()),
        }
    }
}

/// The text of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
