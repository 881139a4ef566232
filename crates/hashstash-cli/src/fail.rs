//! What a failed command prints: one line with the kind, the message, and the
//! stash, file and key digest involved; exit code 1 (never a panic).

use std::process::ExitCode;

use hashstash::{Error, ErrorKind};

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// A stash operation failed.
    Stash(Error),
    /// A failure of the command itself (`kind`: a short word such as `not found`).
    Plain {
        /// What kind of failure.
        kind: &'static str,
        /// What happened, with the stash, path and digest concerned.
        message: String,
    },
    /// The command line asks for something impossible (exit code 2, as clap's own errors).
    Usage(String),
    /// Standard output was closed (`hashstash keys ... | head`): stop quietly.
    ClosedPipe,
}

/// Results of the commands.
pub type Res<T = ()> = Result<T, Failure>;

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Stash(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::ClosedPipe
        } else {
            Failure::Plain { kind: "I/O error", message: format!("cannot write the output: {e}") }
        }
    }
}

impl Failure {
    /// A failure of the command itself.
    pub fn plain(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure::Plain { kind, message: message.into() }
    }

    /// Adds where it happened, unless the error already names it.
    pub fn at(self, stash: &str) -> Failure {
        match self {
            Failure::Stash(e) if e.context_value("stash").is_none() && e.context_value("file").is_none() => {
                Failure::Stash(e.with_context("stash", stash))
            }
            other => other,
        }
    }

    /// Prints the failure to standard error and returns the exit code.
    pub fn report(self) -> ExitCode {
        match self {
            Failure::ClosedPipe => return ExitCode::SUCCESS,
            Failure::Stash(e) => {
                eprintln!("hashstash: error: {}: {}", kind_name(e.kind()), redact(&e.report().to_string()))
            }
            Failure::Plain { kind, message } => eprintln!("hashstash: error: {kind}: {}", redact(&message)),
            Failure::Usage(message) => {
                eprintln!("hashstash: error: usage: {}", redact(&message));
                return ExitCode::from(2);
            }
        }
        ExitCode::FAILURE
    }
}

/// The kind as a short phrase.
fn kind_name(kind: ErrorKind) -> String {
    kind.to_string()
}

/// Every server URL in `text` with its password replaced (`redis://u:***@host`),
/// whatever printed it.
pub fn redact(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let trimmed = word.trim_end();
            match trimmed.find("://") {
                Some(at) if at > 0 => {
                    // Keep surrounding punctuation (a URL in parentheses or quotes).
                    let start = trimmed[..at]
                        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
                        .map_or(0, |i| i + 1);
                    let end = trimmed
                        .rfind(|c: char| !matches!(c, ')' | ',' | '`' | '\'' | '"'))
                        .map_or(0, |i| i + 1);
                    if end <= start {
                        return word.to_string();
                    }
                    let url = &trimmed[start..end];
                    format!(
                        "{}{}{}{}",
                        &trimmed[..start],
                        hashstash::redact_url(url),
                        &trimmed[end..],
                        &word[trimmed.len()..]
                    )
                }
                _ => word.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords_wherever_they_are() {
        let text = "cannot connect (url: redis://app:s3cr3t@db:6379/0), also `mongodb://u:pw@h/x` and /a/b";
        let shown = redact(text);
        assert!(!shown.contains("s3cr3t") && !shown.contains(":pw@"), "{shown}");
        assert!(shown.contains("redis://app:***@db:6379/0)"), "{shown}");
        assert!(shown.ends_with("and /a/b"), "{shown}");
        assert_eq!(redact("no url here\n"), "no url here\n");
    }
}
