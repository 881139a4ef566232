//! SQLite through `rusqlite` directly: the floor of the `sqlite` engine. One
//! `WITHOUT ROWID` table keyed by [`key_md5_hex`], the
//! value the bytes given, WAL mode with `synchronous=NORMAL`, as in the
//! limits file's rusqlite rows.
//!
//! [`flush`](RawBaseline::flush) does the durable work the `sqlite` engine's
//! `flush()` promises at the same point: `PRAGMA wal_checkpoint(PASSIVE)`,
//! which copies the WAL into the database file and syncs both. Without it the
//! floor's `set` and `batch` rows (each ends with a `flush`) would leave that
//! copy and both `fsync`s undone while the stash pays for them, and the ratio
//! would measure the checkpoint instead of the engine. Nothing more: commits
//! stay at `synchronous=NORMAL`, as the engine's default.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{RawBaseline, Result, key_md5_hex};

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
}

/// One autocommit statement per [`put`](RawBaseline::put), one transaction
/// for all of [`put_all`](RawBaseline::put_all); cached prepared statements.
impl RawBaseline for RawSqlite {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.conn.prepare_cached(PUT)?.execute(params![key_md5_hex(key), bytes])?;
        Ok(())
    }

    /// `BEGIN DEFERRED` ... `COMMIT` (`unchecked_transaction` only because
    /// the connection is shared: nothing else runs on it meanwhile).
    fn put_all(&self, pairs: &mut dyn Iterator<Item = (&str, &[u8])>) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut put = tx.prepare_cached(PUT)?;
            for (key, bytes) in pairs {
                put.execute(params![key_md5_hex(key), bytes])?;
            }
        }
        Ok(tx.commit()?)
    }

    /// The bytes are SQLite's own, borrowed from the row.
    fn get(&self, key: &str, found: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let mut select = self.conn.prepare_cached("SELECT value FROM kv WHERE key = ?1")?;
        let hit = select
            .query_row([key_md5_hex(key)], |row| {
                found(row.get_ref(0)?.as_blob()?);
                Ok(())
            })
            .optional()?;
        Ok(hit.is_some())
    }

    fn for_each(&self, each: &mut dyn FnMut(&[u8])) -> Result<usize> {
        let mut select = self.conn.prepare_cached("SELECT value FROM kv")?;
        let mut rows = select.query([])?;
        let mut count = 0;
        while let Some(row) = rows.next()? {
            each(row.get_ref(0)?.as_blob()?);
            count += 1;
        }
        Ok(count)
    }

    /// `PRAGMA wal_checkpoint(PASSIVE)`, as the `sqlite` engine's `flush()`.
    fn flush(&self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        self.conn.execute("DELETE FROM kv", [])?;
        Ok(())
    }

    /// A scan.
    fn count(&self) -> Result<usize> {
        let rows: i64 = self.conn.query_row("SELECT count(*) FROM kv", [], |row| row.get(0))?;
        Ok(usize::try_from(rows)?)
    }
}
