//! Clients (one pool per URL, shared by every stash of the process), URL
//! resolution and redaction, and turning driver errors into stash errors.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use mongodb::Client;
use mongodb::error::{Error as DriverError, ErrorKind as DriverKind, WriteFailure};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;
use stash_engine_api::{Error, ErrorKind, Result, redact_url};

use crate::off_runtime;

/// The least connect timeout.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Shared clients by (URL, timeout): the driver pools connections inside a client.
static CLIENTS: LazyLock<Mutex<HashMap<(String, Duration), Client>>> = LazyLock::new(Default::default);

/// A client and what the engine needs to know about where it points.
///
/// One driver client serves both APIs: `client` is the async one, `sync`
/// the driver's sync wrapper around the same client (one pool, one
/// configuration, the same timeouts).
#[derive(Clone)]
pub(crate) struct Connection {
    pub client: Client,
    pub sync: mongodb::sync::Client,
    /// The URL with any password replaced by `***`: safe for messages.
    pub shown_url: String,
    /// The database named in the URL's path, if any.
    pub url_database: Option<String>,
}

/// The client for `url`: shared with every other stash on the same URL, or a
/// dedicated one counting the commands it starts into `counter`.
pub(crate) fn connect(url: &str, timeout: Duration, counter: Option<Arc<AtomicU64>>) -> Result<Connection> {
    let shown_url = redact_url(url);
    let options = off_runtime::block(async {
        ClientOptions::parse(url).await.map_err(|e| {
            Error::new(ErrorKind::Config, format!("invalid MongoDB URL: {e}"))
                .with_context("url", &shown_url)
                .with_source(e)
        })
    })?;
    let url_database = options.default_database.clone();
    let build = |mut options: ClientOptions, counter: Option<Arc<AtomicU64>>| -> Result<Client> {
        // Short timeouts unless the URL chose its own: a server that is down
        // must fail an operation within seconds, not the driver's 30 s.
        options.server_selection_timeout.get_or_insert(timeout);
        // The connect timeout is also the monitor's socket timeout: a busy
        // server must not be taken for a dead one (which interrupts operations).
        options.connect_timeout.get_or_insert(timeout.max(CONNECT_TIMEOUT));
        if options.app_name.is_none() {
            options.app_name = Some("hashstash".into());
        }
        if let Some(counter) = counter {
            options.command_event_handler = Some(EventHandler::callback(move |event| {
                if let CommandEvent::Started(_) = event {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        // The client's monitors and pools run on the engine's runtime, which
        // lives as long as the process: a client made inside a caller's
        // runtime would stop working when that runtime shuts down.
        let _runtime = off_runtime::enter()?;
        Client::with_options(options).map_err(|e| {
            Error::new(ErrorKind::Config, format!("cannot create a MongoDB client: {e}"))
                .with_context("url", &shown_url)
                .with_source(e)
        })
    };
    let client = match counter {
        Some(counter) => build(options, Some(counter))?,
        None => {
            let mut clients = CLIENTS
                .lock()
                .map_err(|_| Error::new(ErrorKind::Backend, "MongoDB client registry poisoned by a panic"))?;
            match clients.get(&(url.to_string(), timeout)) {
                Some(client) => client.clone(),
                None => {
                    let client = build(options, None)?;
                    clients.insert((url.to_string(), timeout), client.clone());
                    client
                }
            }
        }
    };
    let sync = mongodb::sync::Client::from(client.clone());
    Ok(Connection { client, sync, shown_url, url_database })
}

/// A driver call whose reply is awaited for a bounded time.
pub(crate) trait Reply<T>: IntoFuture<Output = mongodb::error::Result<T>> + Sized {
    /// This call, failed with an I/O error of kind `TimedOut` when its reply
    /// has not come within `timeout` (the driver has no reply timeout). Like
    /// a broken connection, it counts as a reply lost: the request may
    /// still land.
    fn within(self, timeout: Duration) -> impl Future<Output = mongodb::error::Result<T>> + Send
    where
        Self::IntoFuture: Send,
    {
        let call = self.into_future();
        async move {
            tokio::time::timeout(timeout, call).await.unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no reply from the MongoDB server within {timeout:?}"),
                )
                .into())
            })
        }
    }
}

impl<T, F: IntoFuture<Output = mongodb::error::Result<T>>> Reply<T> for F {}

/// The server error code of a failed command or write, if any.
pub(crate) fn error_code(err: &DriverError) -> Option<i32> {
    match err.kind.as_ref() {
        DriverKind::Command(c) => Some(c.code),
        DriverKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        DriverKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        _ => None,
    }
}

/// A driver error met while doing `action` (a phrase: "read an entry").
///
/// Always kind `Backend`; the message says whether the server could not be
/// reached or refused the operation, and `url` and `collection` are context.
pub(crate) fn backend(err: DriverError, action: &str, url: &str, namespace: &str) -> Error {
    let message = match err.kind.as_ref() {
        DriverKind::ServerSelection { .. } => {
            format!("cannot {action}: the MongoDB server at {url} cannot be reached")
        }
        DriverKind::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            format!("cannot {action}: the MongoDB server at {url} did not answer in time")
        }
        DriverKind::Io(_) | DriverKind::ConnectionPoolCleared { .. } => {
            format!("cannot {action}: the connection to the MongoDB server at {url} failed")
        }
        DriverKind::Authentication { .. } => {
            format!("cannot {action}: the MongoDB server at {url} refused the credentials")
        }
        _ => match error_code(&err) {
            Some(code) => format!("cannot {action}: the MongoDB server refused it (code {code})"),
            None => format!("cannot {action}: MongoDB driver error"),
        },
    };
    Error::new(ErrorKind::Backend, message)
        .with_context("url", url)
        .with_context("collection", namespace)
        .with_source(err)
}
