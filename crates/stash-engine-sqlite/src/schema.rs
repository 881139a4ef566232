//! The tables, their version, and checking a file before trusting it.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use stash_core::{Error, ErrorKind, Result};

use crate::pool::Pool;

/// The format version stored in `PRAGMA user_version`; bump it (and migrate
/// from the older versions when opening) when the tables change.
pub const FORMAT_VERSION: i64 = 1;

/// `PRAGMA application_id` of hashstash databases: `"hsst"` in ASCII.
pub const APPLICATION_ID: i64 = 0x6873_7374;

/// The schema of format version 1.
const CREATE_V1: &str = "
CREATE TABLE entries(
    digest BLOB NOT NULL PRIMARY KEY,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    written_at INTEGER NOT NULL,
    history INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE versions(
    digest BLOB NOT NULL,
    version INTEGER NOT NULL,
    written_at INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (digest, version)
) WITHOUT ROWID;
CREATE TABLE meta(name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta(name, value) VALUES ('count', 0);
";

/// Queries that must prepare against a version-1 database: they name every
/// column and table the engine uses.
const PROBES_V1: [&str; 3] = [
    "SELECT digest, key, value, written_at, history FROM entries LIMIT 0",
    "SELECT digest, version, written_at, value FROM versions LIMIT 0",
    "SELECT value FROM meta WHERE name = 'count'",
];

/// Creates the tables in a new file, or checks an existing one: its format
/// version must be one this build reads and its tables the expected ones.
pub(crate) fn prepare(pool: &Pool, conn: &mut Connection) -> Result<()> {
    let err = |e| pool.error(e, "read the SQLite schema");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
    if version == 0 {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        // Another process may have created the tables while we waited.
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
        if version == 0 {
            let tables: i64 =
                tx.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(err)?;
            if tables != 0 {
                return Err(schema_error(
                    pool,
                    "the SQLite database has tables but no hashstash format version: it belongs to something else",
                ));
            }
            tx.execute_batch(CREATE_V1).map_err(|e| pool.error(e, "create the SQLite tables"))?;
            tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(err)?;
            tx.pragma_update(None, "user_version", FORMAT_VERSION).map_err(err)?;
            tx.commit().map_err(|e| pool.error(e, "create the SQLite tables"))?;
            return Ok(());
        }
        tx.commit().map_err(err)?;
        return check(pool, conn, version);
    }
    check(pool, conn, version)
}

/// Checks an existing database of format `version`.
fn check(pool: &Pool, conn: &Connection, version: i64) -> Result<()> {
    let err = |e| pool.error(e, "read the SQLite schema");
    if version != FORMAT_VERSION {
        let why = if version > FORMAT_VERSION { "a newer" } else { "an unknown" };
        return Err(schema_error(
            pool,
            format!(
                "the SQLite database has format version {version}, {why} format than this build reads \
                 (version {FORMAT_VERSION})"
            ),
        ));
    }
    let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(err)?;
    if app != APPLICATION_ID {
        return Err(schema_error(
            pool,
            format!("the SQLite database has application id {app:#x}, not hashstash's"),
        ));
    }
    for probe in PROBES_V1 {
        if let Err(e) = conn.prepare(probe) {
            return Err(schema_error(pool, "the SQLite database lacks the hashstash tables or columns")
                .with_source(e)
                .with_context("query", probe));
        }
    }
    let count: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE name = 'count'", [], |r| r.get(0))
        .optional()
        .map_err(err)?;
    if count.is_none() {
        return Err(crate::error::corrupt("the SQLite database lacks its entry count", pool.path()));
    }
    Ok(())
}

fn schema_error(pool: &Pool, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, message).with_context("file", pool.path().display())
}
