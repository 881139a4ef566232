//! The tables, their version, and checking a file before trusting it.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use stash_engine_api::{Error, ErrorKind, Result};

use crate::pool::Pool;

/// The format version stored in `PRAGMA user_version`; bump it (and migrate
/// from the older versions when opening) when the tables change.
///
/// Version 2 added `entries.expires_at`, its partial index and the
/// `('expiring', n)` row of `meta`; a version-1 file is migrated in place.
pub const FORMAT_VERSION: i64 = 2;

/// `PRAGMA application_id` of hashstash databases: `"hsst"` in ASCII.
pub const APPLICATION_ID: i64 = 0x6873_7374;

/// The schema of the current format version (2).
const CREATE: &str = "
CREATE TABLE entries(
    digest BLOB NOT NULL PRIMARY KEY,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    written_at INTEGER NOT NULL,
    history INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX entries_expiry ON entries(expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE versions(
    digest BLOB NOT NULL,
    version INTEGER NOT NULL,
    written_at INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (digest, version)
) WITHOUT ROWID;
CREATE TABLE meta(name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta(name, value) VALUES ('count', 0), ('expiring', 0);
";

/// The schema of format version 1, kept to test the migration.
#[cfg(test)]
pub(crate) const CREATE_V1: &str = "
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

/// Turns a version-1 database into a version-2 one. Version 1 had no
/// expiry, so no entry expires and the expiring count starts at 0.
const MIGRATE_V1_TO_V2: &str = "
ALTER TABLE entries ADD COLUMN expires_at INTEGER;
CREATE INDEX entries_expiry ON entries(expires_at) WHERE expires_at IS NOT NULL;
INSERT INTO meta(name, value) VALUES ('expiring', 0);
";

/// Queries that must prepare against a version-1 database: they name every
/// column and table version 1 has.
const PROBES_V1: [&str; 3] = [
    "SELECT digest, key, value, written_at, history FROM entries LIMIT 0",
    "SELECT digest, version, written_at, value FROM versions LIMIT 0",
    "SELECT value FROM meta WHERE name = 'count'",
];

/// Queries that must prepare against a version-2 database: they name every
/// column and table the engine uses.
const PROBES_V2: [&str; 3] = [
    "SELECT digest, key, value, written_at, history, expires_at FROM entries LIMIT 0",
    "SELECT digest, version, written_at, value FROM versions LIMIT 0",
    "SELECT value FROM meta WHERE name = 'count'",
];

/// The counters of `meta` a version-2 database must hold.
const COUNTERS: [&str; 2] = ["count", "expiring"];

/// Creates the tables in a new file, or checks an existing one: its format
/// version must be one this build reads and its tables the expected ones.
/// A version-1 file is checked, then migrated to version 2 in place.
pub(crate) fn prepare(pool: &Pool, conn: &mut Connection) -> Result<()> {
    let err = |e| pool.error(e, "read the SQLite schema");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
    match version {
        0 => create(pool, conn),
        1 => migrate(pool, conn),
        _ => check(pool, conn, version),
    }
}

/// Creates the tables in a new file (unless another process just did).
fn create(pool: &Pool, conn: &mut Connection) -> Result<()> {
    let err = |e| pool.error(e, "read the SQLite schema");
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
    // Another process may have created the tables while we waited.
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
    if version != 0 {
        tx.commit().map_err(err)?;
        return prepare(pool, conn);
    }
    let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(err)?;
    if tables != 0 {
        return Err(schema_error(
            pool,
            "the SQLite database has tables but no hashstash format version: it belongs to something else",
        ));
    }
    tx.execute_batch(CREATE).map_err(|e| pool.error(e, "create the SQLite tables"))?;
    tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(err)?;
    tx.pragma_update(None, "user_version", FORMAT_VERSION).map_err(err)?;
    tx.commit().map_err(|e| pool.error(e, "create the SQLite tables"))
}

/// Migrates a version-1 database to version 2 in one write transaction,
/// after checking that it really is a hashstash version-1 database.
fn migrate(pool: &Pool, conn: &mut Connection) -> Result<()> {
    let err = |e| pool.error(e, "migrate the SQLite database to format version 2");
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
    // Another process may have migrated it while we waited.
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
    if version != 1 {
        tx.commit().map_err(err)?;
        return prepare(pool, conn);
    }
    check_tables(pool, &tx, &PROBES_V1, &COUNTERS[..1])?;
    tx.execute_batch(MIGRATE_V1_TO_V2).map_err(err)?;
    tx.pragma_update(None, "user_version", FORMAT_VERSION).map_err(err)?;
    tx.commit().map_err(err)?;
    check(pool, conn, FORMAT_VERSION)
}

/// Checks an existing database of format `version`.
fn check(pool: &Pool, conn: &Connection, version: i64) -> Result<()> {
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
    check_tables(pool, conn, &PROBES_V2, &COUNTERS)
}

/// Checks the application id, that every probe prepares and that `meta`
/// holds every counter.
fn check_tables(pool: &Pool, conn: &Connection, probes: &[&str], counters: &[&str]) -> Result<()> {
    let err = |e| pool.error(e, "read the SQLite schema");
    let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(err)?;
    if app != APPLICATION_ID {
        return Err(schema_error(
            pool,
            format!("the SQLite database has application id {app:#x}, not hashstash's"),
        ));
    }
    for probe in probes {
        if let Err(e) = conn.prepare(probe) {
            return Err(schema_error(pool, "the SQLite database lacks the hashstash tables or columns")
                .with_source(e)
                .with_context("query", probe));
        }
    }
    for name in counters {
        let value: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(err)?;
        if value.is_none() {
            return Err(crate::error::corrupt(
                format!("the SQLite database lacks its '{name}' counter"),
                pool.path(),
            ));
        }
    }
    Ok(())
}

fn schema_error(pool: &Pool, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, message).with_context("file", pool.path().display())
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, params};
    use stash_engine_api::clock::now_micros;
    use stash_engine_api::{Digest, Engine, WriteOptions};

    use super::*;
    use crate::{SqliteEngine, SqliteOptions};

    fn digest(n: u8) -> Digest {
        Digest([n; 16])
    }

    /// A version-1 file as the first format wrote it: two entries, one with
    /// an older version.
    fn version_1_file(path: &std::path::Path) {
        let db = Connection::open(path).unwrap();
        db.execute_batch(CREATE_V1).unwrap();
        db.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        db.pragma_update(None, "user_version", 1).unwrap();
        let insert =
            "INSERT INTO entries(digest, key, value, written_at, history) VALUES (?1, ?2, ?3, ?4, ?5)";
        db.execute(insert, params![&digest(1).0[..], b"k1", b"v1", 10, 0]).unwrap();
        db.execute(insert, params![&digest(2).0[..], b"k2", b"new", 30, 1]).unwrap();
        db.execute(
            "INSERT INTO versions(digest, version, written_at, value) VALUES (?1, 1, 20, ?2)",
            params![&digest(2).0[..], b"old"],
        )
        .unwrap();
        db.execute("UPDATE meta SET value = 2 WHERE name = 'count'", []).unwrap();
    }

    fn int(db: &Connection, sql: &str) -> i64 {
        db.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_version_1_file_is_migrated_in_place_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        version_1_file(&path);

        let engine = SqliteEngine::open(&path, SqliteOptions::default()).unwrap();
        let db = Connection::open(&path).unwrap();
        assert_eq!(int(&db, "PRAGMA user_version"), FORMAT_VERSION);
        assert_eq!(int(&db, "PRAGMA application_id"), APPLICATION_ID);
        assert_eq!(
            int(&db, "SELECT count(*) FROM pragma_table_info('entries') WHERE name = 'expires_at'"),
            1
        );
        assert_eq!(int(&db, "SELECT count(*) FROM sqlite_schema WHERE name = 'entries_expiry'"), 1);
        assert_eq!(int(&db, "SELECT value FROM meta WHERE name = 'expiring'"), 0);
        assert_eq!(int(&db, "SELECT count(*) FROM entries WHERE expires_at IS NOT NULL"), 0);

        // The data is all there.
        assert_eq!(engine.len().unwrap(), 2);
        assert_eq!(engine.get(&digest(1), b"k1").unwrap(), Some(b"v1".to_vec()));
        let versions = engine.versions(&digest(2), b"k2").unwrap().unwrap();
        let seen: Vec<_> =
            versions.iter().map(|v| (v.number, v.written_at_micros, v.value.clone())).collect();
        assert_eq!(seen, [(1, 20, b"old".to_vec()), (2, 30, b"new".to_vec())]);
        let meta: Vec<_> = engine.scan_meta().unwrap().map(|m| m.unwrap()).collect();
        assert_eq!(meta.len(), 2);
        assert_eq!((meta[1].versions, meta[1].value_bytes, meta[1].expires_at_micros), (2, 6, None));

        // And the new column works.
        let past = WriteOptions::REPLACE.expiring_at(Some(now_micros() - 1_000_000));
        engine.put(&digest(1), b"k1", b"gone", past).unwrap();
        assert_eq!(engine.get(&digest(1), b"k1").unwrap(), None);
        assert_eq!(engine.len().unwrap(), 1);
        assert_eq!(int(&db, "SELECT value FROM meta WHERE name = 'expiring'"), 1);

        // Opening again finds version 2 and migrates nothing.
        drop(engine);
        let again = SqliteEngine::open(&path, SqliteOptions::default()).unwrap();
        assert_eq!(again.len().unwrap(), 1);
        assert_eq!(int(&db, "PRAGMA user_version"), FORMAT_VERSION);
    }

    #[test]
    fn a_version_1_file_with_foreign_tables_is_refused_and_not_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        let db = Connection::open(&path).unwrap();
        db.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1; CREATE TABLE entries(digest BLOB);"
        ))
        .unwrap();
        let err = SqliteEngine::open(&path, SqliteOptions::default()).unwrap_err();
        assert_eq!(err.kind(), stash_engine_api::ErrorKind::Config, "{err}");
        assert_eq!(int(&db, "PRAGMA user_version"), 1);
        assert_eq!(int(&db, "SELECT count(*) FROM pragma_table_info('entries')"), 1);
    }

    #[test]
    fn a_newer_version_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        version_1_file(&path);
        let db = Connection::open(&path).unwrap();
        db.pragma_update(None, "user_version", FORMAT_VERSION + 1).unwrap();
        let err = SqliteEngine::open(&path, SqliteOptions::default()).unwrap_err();
        assert_eq!(err.kind(), stash_engine_api::ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("a newer format"), "{err}");
        assert_eq!(
            int(&db, "SELECT count(*) FROM pragma_table_info('entries') WHERE name = 'expires_at'"),
            0
        );
    }
}
