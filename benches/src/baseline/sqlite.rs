//! SQLite through `rusqlite` directly: the floor of the `sqlite` engine. One
//! `WITHOUT ROWID` table keyed by [`key_md5_hex`](super::key_md5_hex), the
//! value the record's compact JSON, WAL mode with `synchronous=NORMAL`, as in
//! the limits file's rusqlite rows.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::key_md5_hex;

const PUT: &str = "INSERT OR REPLACE INTO kv(key, value) VALUES (?1, ?2)";

/// One connection to a database file holding a `kv(key, value)` table.
pub struct RawSqlite {
    conn: Connection,
}

impl RawSqlite {
    /// Opens (creating) the database file `file`, in WAL mode with
    /// `synchronous=NORMAL` (no `fsync` per commit; the WAL is synced at
    /// checkpoints).
    pub fn open(file: &Path) -> rusqlite::Result<RawSqlite> {
        let conn = Connection::open(file)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        assert_eq!(mode.to_ascii_lowercase(), "wal");
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS kv(key TEXT NOT NULL PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
            [],
        )?;
        Ok(RawSqlite { conn })
    }

    /// Stores `value` as JSON: one autocommit statement.
    pub fn set<T: Serialize>(&self, key: &str, value: &T) -> rusqlite::Result<()> {
        let bytes = serde_json::to_vec(value).expect("serialize");
        self.conn.prepare_cached(PUT)?.execute(params![key_md5_hex(key), bytes])?;
        Ok(())
    }

    /// Stores every pair as JSON in one transaction.
    pub fn set_all<'a, T: Serialize + 'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a T)>,
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(PUT)?;
            for (key, value) in pairs {
                put.execute(params![key_md5_hex(key), serde_json::to_vec(value).expect("serialize")])?;
            }
        }
        tx.commit()
    }

    /// Decodes the JSON stored under `key`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> rusqlite::Result<Option<T>> {
        let mut select = self.conn.prepare_cached("SELECT value FROM kv WHERE key = ?1")?;
        select
            .query_row([key_md5_hex(key)], |row| {
                let bytes = row.get_ref(0)?.as_blob()?;
                Ok(serde_json::from_slice(bytes).expect("deserialize"))
            })
            .optional()
    }

    /// Decodes every value in one statement, handing each to `each`; returns the count.
    pub fn iterate<T: DeserializeOwned>(&self, mut each: impl FnMut(T)) -> rusqlite::Result<usize> {
        let mut select = self.conn.prepare_cached("SELECT value FROM kv")?;
        let mut rows = select.query([])?;
        let mut count = 0;
        while let Some(row) = rows.next()? {
            each(serde_json::from_slice(row.get_ref(0)?.as_blob()?).expect("deserialize"));
            count += 1;
        }
        Ok(count)
    }

    /// Stores `bytes` under `key`: one autocommit statement.
    pub fn put_bytes(&self, key: &str, bytes: &[u8]) -> rusqlite::Result<()> {
        self.conn.prepare_cached(PUT)?.execute(params![key, bytes])?;
        Ok(())
    }

    /// Stores every pair in one transaction.
    pub fn put_all_bytes<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(PUT)?;
            for (key, bytes) in pairs {
                put.execute(params![key, bytes])?;
            }
        }
        tx.commit()
    }

    /// Hands the bytes stored under `key` to `f`.
    pub fn get_bytes<R>(&self, key: &str, f: impl FnOnce(&[u8]) -> R) -> rusqlite::Result<Option<R>> {
        let mut select = self.conn.prepare_cached("SELECT value FROM kv WHERE key = ?1")?;
        select.query_row([key], |row| Ok(f(row.get_ref(0)?.as_blob()?))).optional()
    }

    /// Hands every value to `each` in one statement; returns the count.
    pub fn for_each_bytes(&self, mut each: impl FnMut(&[u8])) -> rusqlite::Result<usize> {
        let mut select = self.conn.prepare_cached("SELECT value FROM kv")?;
        let mut rows = select.query([])?;
        let mut count = 0;
        while let Some(row) = rows.next()? {
            each(row.get_ref(0)?.as_blob()?);
            count += 1;
        }
        Ok(count)
    }

    /// Empties the table.
    pub fn clear(&self) -> rusqlite::Result<()> {
        self.conn.execute("DELETE FROM kv", []).map(drop)
    }

    /// The number of rows (a scan).
    pub fn count(&self) -> rusqlite::Result<usize> {
        let rows: i64 = self.conn.query_row("SELECT count(*) FROM kv", [], |row| row.get(0))?;
        Ok(usize::try_from(rows).expect("a row count"))
    }
}
