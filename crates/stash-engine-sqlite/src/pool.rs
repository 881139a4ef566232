//! A small pool of connections to one database file.
//!
//! A SQLite connection may be used by one thread at a time. Each operation
//! takes a connection from the pool (opening a new one when none is idle),
//! uses it for one statement or one transaction and gives it back, so threads
//! never wait on each other in Rust: SQLite's own locking orders the writers.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags};
use stash_engine_api::{Error, ErrorKind, Result};

use crate::SqliteOptions;
use crate::error::sql_error;

/// Idle connections kept for reuse; more may be open while busy.
const MAX_IDLE: usize = 16;
/// Prepared statements kept per connection (the engine uses about a dozen).
const STATEMENT_CACHE: usize = 32;

/// Connections to one database file.
pub(crate) struct Pool {
    path: PathBuf,
    options: SqliteOptions,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("path", &self.path).field("options", &self.options).finish()
    }
}

impl Pool {
    /// A pool for the database at `path`; opens no connection yet.
    pub(crate) fn new(path: &Path, options: SqliteOptions) -> Pool {
        Pool { path: path.to_path_buf(), options, idle: Mutex::new(Vec::new()) }
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// An error from SQLite while doing `action` on this database.
    pub(crate) fn error(&self, err: rusqlite::Error, action: &str) -> Error {
        sql_error(err, action, &self.path)
    }

    /// A connection for one operation; it returns to the pool when dropped.
    pub(crate) fn get(&self) -> Result<Conn<'_>> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        Ok(Conn { pool: self, conn: Some(conn) })
    }

    /// Opens and configures a new connection: busy timeout, WAL, synchronous level.
    pub(crate) fn connect(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_EXRESCODE;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| self.error(e, "open the SQLite database"))?;
        conn.busy_timeout(self.options.busy_timeout).map_err(|e| self.error(e, "set the busy timeout"))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Switching a fresh file to WAL takes an exclusive lock for a moment;
        // several processes opening the same new file at once may see BUSY
        // here before the busy handler applies, so retry until the timeout.
        let mode: String = retry_busy(self.options.busy_timeout, || {
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        })
        .map_err(|e| self.error(e, "switch the SQLite database to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::new(
                ErrorKind::Backend,
                format!(
                    "SQLite refused WAL journal mode (it kept `{mode}`): is the file on a network filesystem?"
                ),
            )
            .with_context("file", self.path.display()));
        }
        let sync = if self.options.durable { "FULL" } else { "NORMAL" };
        conn.pragma_update(None, "synchronous", sync)
            .map_err(|e| self.error(e, "set the synchronous level"))?;
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

/// Runs `f` again while it fails with BUSY or LOCKED, for at most `timeout`.
fn retry_busy<T>(timeout: Duration, mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut waited = false;
    loop {
        match f() {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) && Instant::now() < deadline =>
            {
                waited = true;
                std::thread::sleep(Duration::from_millis(5));
            }
            other => {
                if waited {
                    stash_engine_api::observe::lock_wait("sqlite", "busy database", started.elapsed());
                }
                return other;
            }
        }
    }
}

/// A connection borrowed from the pool.
pub(crate) struct Conn<'p> {
    pool: &'p Pool,
    conn: Option<Connection>,
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !conn.is_autocommit() {
            // A transaction left open by an error path: end it, or drop the connection.
            if conn.execute_batch("ROLLBACK").is_err() || !conn.is_autocommit() {
                return;
            }
        }
        self.pool.put_back(conn);
    }
}

impl Deref for Conn<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // Always `Some` until dropped.
        self.conn.as_ref().unwrap_or_else(|| unreachable!("connection taken before drop"))
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("connection taken before drop"))
    }
}
