//! Connections: where the server is, a small pool of connections shared by
//! every engine of the process that talks to the same server, and the retry
//! that reconnects after a server restart.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection, ClusterPipeline};
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisResult, Script};
use stash_core::{Error, ErrorKind, Result};

use crate::scripts;

/// How many connections a pool opens at most: a thread that finds them all
/// busy waits for one to come back rather than opening (and churning) more.
const MAX_OPEN: usize = 16;

/// Where the server is, parsed from a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// One server: a `redis://` (or `unix://`) URL as the `redis` crate reads it.
    Single(String),
    /// A cluster: the URL of each seed node.
    Cluster(Vec<String>),
}

impl Target {
    /// Parses `url`:
    ///
    /// - `redis+cluster://[user:pass@]h1:p1,h2:p2[/]` (or `rediss+cluster://`) is a cluster;
    /// - `redis://h1:p1,h2:p2` (several hosts) is a cluster too;
    /// - any other URL is one server, or a cluster seeded by it when `cluster` is true
    ///   (a cluster has only database 0: a database number in the path is ignored).
    pub(crate) fn parse(url: &str, cluster: bool) -> Result<Target> {
        let bad = |why: &str| {
            Error::new(ErrorKind::Config, format!("invalid Redis URL: {why}"))
                .with_context("url", redact(url))
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected scheme://host:port"))?;
        let (scheme, explicit_cluster) = match scheme.strip_suffix("+cluster") {
            Some(base) => (base, true),
            None => (scheme, false),
        };
        if !matches!(scheme, "redis" | "rediss" | "valkey" | "valkeys" | "unix" | "redis+unix") {
            return Err(bad("the scheme must be redis://, rediss:// or redis+cluster://"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if scheme != "unix" && scheme != "redis+unix" => rest.split_at(i),
            _ => (rest, ""),
        };
        let (credentials, hosts) = match authority.rfind('@') {
            Some(i) => (&authority[..=i], &authority[i + 1..]),
            None => ("", authority),
        };
        let several = hosts.contains(',');
        if !(explicit_cluster || several || cluster) {
            return Ok(Target::Single(url.to_string()));
        }
        let nodes: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| format!("{scheme}://{credentials}{h}"))
            .collect();
        if nodes.is_empty() {
            return Err(bad("a cluster URL needs at least one host:port"));
        }
        let _ = path; // databases do not exist in a cluster; query options are not used
        Ok(Target::Cluster(nodes))
    }
}

/// `url` with any password replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else { return url.to_string() };
    let creds = &rest[..at];
    let user = creds.split_once(':').map(|(u, _)| u);
    match user {
        Some(user) => format!("{scheme}://{user}:***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Connection settings; pools are shared per distinct settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Settings {
    pub(crate) target: Target,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
}

enum Client {
    Single(redis::Client),
    Cluster(ClusterClient),
}

/// One open connection.
pub(crate) enum Conn {
    Single(redis::Connection),
    Cluster(Box<ClusterConnection>),
}

/// A pipeline for the kind of connection it will run on.
pub(crate) enum Pipe {
    Single(Pipeline),
    Cluster(ClusterPipeline),
}

impl Pipe {
    /// Adds a command.
    pub(crate) fn add(&mut self, cmd: Cmd) -> &mut Self {
        match self {
            Pipe::Single(p) => {
                p.add_command(cmd);
            }
            Pipe::Cluster(p) => {
                p.add_command(cmd);
            }
        }
        self
    }
}

/// A borrowed connection plus the round-trip counter of the engine using it.
pub(crate) struct Session<'a> {
    conn: &'a mut Conn,
    trips: &'a AtomicU64,
}

impl Session<'_> {
    /// Sends one command and reads its reply: one round trip.
    pub(crate) fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match self.conn {
            Conn::Single(c) => cmd.query(c),
            Conn::Cluster(c) => cmd.query(&mut **c),
        }
    }

    /// A new, empty pipeline for this connection.
    pub(crate) fn pipe(&self) -> Pipe {
        match self.conn {
            Conn::Single(_) => Pipe::Single(Pipeline::new()),
            Conn::Cluster(_) => Pipe::Cluster(ClusterPipeline::new()),
        }
    }

    /// Sends every command of `pipe` and reads every reply: one round trip
    /// (per node, on a cluster; a stash's keys live on one node).
    pub(crate) fn run_pipe<T: FromRedisValue>(&mut self, pipe: &Pipe) -> RedisResult<T> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match (&mut *self.conn, pipe) {
            (Conn::Single(c), Pipe::Single(p)) => p.query(c),
            (Conn::Cluster(c), Pipe::Cluster(p)) => p.query(c),
            _ => Err(RedisError::from((
                redis::ErrorKind::Client,
                "pipeline built for another kind of connection",
            ))),
        }
    }

    /// Runs a script (loading it if the server does not have it yet).
    pub(crate) fn invoke<T: FromRedisValue>(&mut self, call: &redis::ScriptInvocation<'_>) -> RedisResult<T> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match self.conn {
            Conn::Single(c) => call.invoke(c),
            Conn::Cluster(c) => call.invoke(&mut **c),
        }
    }

    /// Loads every script of this crate (after the server reported one missing).
    fn load_scripts(&mut self) -> RedisResult<()> {
        for script in scripts::all() {
            self.trips.fetch_add(1, Ordering::Relaxed);
            match self.conn {
                Conn::Single(c) => script.load(c)?,
                Conn::Cluster(c) => script.load(&mut **c)?,
            };
        }
        Ok(())
    }
}

/// `EVALSHA` of `script`, for pipelines (where the script must already be loaded).
pub(crate) fn evalsha(script: &Script, keys: &[&[u8]]) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(keys.len());
    for key in keys {
        cmd.arg(*key);
    }
    cmd
}

/// Connections to one server or cluster, reused across threads and engines.
pub(crate) struct Pool {
    settings: Settings,
    client: Client,
    /// The URL as shown in messages (password hidden).
    pub(crate) shown: String,
    state: Mutex<PoolState>,
    returned: Condvar,
}

/// Idle connections, and how many are open (idle or lent out).
struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("url", &self.shown).field("settings", &self.settings.target).finish()
    }
}

/// Every live pool of this process, by settings.
static POOLS: LazyLock<Mutex<HashMap<Settings, Weak<Pool>>>> = LazyLock::new(Default::default);

fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || err.is_unrecoverable_error()
}

fn is_noscript(err: &RedisError) -> bool {
    err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}

impl Pool {
    /// The pool for `settings`, shared with other engines of the process.
    pub(crate) fn get(settings: Settings, shown: String) -> Result<Arc<Pool>> {
        let mut pools =
            POOLS.lock().map_err(|_| Error::new(ErrorKind::Backend, "Redis pool registry poisoned"))?;
        pools.retain(|_, pool| pool.strong_count() > 0);
        if let Some(pool) = pools.get(&settings).and_then(Weak::upgrade) {
            return Ok(pool);
        }
        let invalid = |e: RedisError| {
            Error::new(ErrorKind::Config, "invalid Redis URL").with_context("url", &shown).with_source(e)
        };
        let client = match &settings.target {
            Target::Single(url) => Client::Single(redis::Client::open(url.as_str()).map_err(invalid)?),
            Target::Cluster(nodes) => Client::Cluster(
                ClusterClient::builder(nodes.iter().map(String::as_str))
                    .connection_timeout(settings.connect_timeout)
                    .response_timeout(settings.response_timeout)
                    .retries(4)
                    .build()
                    .map_err(invalid)?,
            ),
        };
        let pool = Arc::new(Pool {
            settings: settings.clone(),
            client,
            shown,
            state: Mutex::new(PoolState { idle: Vec::new(), open: 0 }),
            returned: Condvar::new(),
        });
        pools.insert(settings, Arc::downgrade(&pool));
        Ok(pool)
    }

    fn connect(&self) -> RedisResult<Conn> {
        match &self.client {
            Client::Single(client) => {
                let conn = client.get_connection_with_timeout(self.settings.connect_timeout)?;
                conn.set_read_timeout(Some(self.settings.response_timeout))?;
                conn.set_write_timeout(Some(self.settings.response_timeout))?;
                Ok(Conn::Single(conn))
            }
            Client::Cluster(client) => Ok(Conn::Cluster(Box::new(client.get_connection()?))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // The state is a list and a count, consistent after any panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, a new one while fewer than `MAX_OPEN` are open,
    /// or else the first one another thread gives back.
    fn checkout(&self) -> RedisResult<Conn> {
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(conn);
            }
            if state.open < MAX_OPEN {
                state.open += 1;
                drop(state);
                let conn = self.connect();
                if conn.is_err() {
                    self.forget(1);
                }
                return conn;
            }
            state = self.returned.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn checkin(&self, conn: Conn) {
        self.lock().idle.push(conn);
        self.returned.notify_one();
    }

    /// Counts `n` connections as closed, so others may be opened in their place.
    fn forget(&self, n: usize) {
        let mut state = self.lock();
        state.open = state.open.saturating_sub(n);
        drop(state);
        self.returned.notify_all();
    }

    /// Closes a broken connection and every idle one (after one failed, the
    /// others are likely dead too: the server restarted).
    fn discard(&self, conn: Conn) {
        drop(conn);
        let idle = std::mem::take(&mut self.lock().idle);
        self.forget(1 + idle.len());
    }

    /// Runs `f` on a pooled connection. A missing script is loaded and `f`
    /// run again; a broken connection (the server restarted, a timeout) is
    /// dropped with every idle one and `f` run once more on a new connection.
    /// `f` must therefore be safe to repeat: every write of this crate is.
    pub(crate) fn run<T>(
        &self,
        trips: &AtomicU64,
        what: &str,
        mut f: impl FnMut(&mut Session<'_>) -> RedisResult<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = match self.checkout() {
                Ok(conn) => conn,
                Err(e) => return Err(self.error(what, e)),
            };
            let mut session = Session { conn: &mut conn, trips };
            let mut result = f(&mut session);
            if matches!(&result, Err(e) if is_noscript(e)) {
                result = session.load_scripts().and_then(|_| f(&mut session));
            }
            match result {
                Ok(value) => {
                    self.checkin(conn);
                    return Ok(value);
                }
                Err(e) if is_connection_error(&e) => {
                    self.discard(conn);
                    if attempt >= 2 {
                        return Err(self.error(what, e));
                    }
                }
                Err(e) => {
                    self.checkin(conn);
                    return Err(self.error(what, e));
                }
            }
        }
    }

    /// A `Backend` error naming the server.
    pub(crate) fn error(&self, what: &str, err: RedisError) -> Error {
        let message = if err.is_connection_refusal() {
            format!("cannot connect to the Redis server to {what} (is it running?)")
        } else if err.is_timeout() {
            format!("the Redis server did not answer in time to {what}")
        } else if err.is_io_error() || err.is_connection_dropped() {
            format!("lost the connection to the Redis server to {what}")
        } else {
            format!("the Redis server refused to {what}")
        };
        Error::new(ErrorKind::Backend, message).with_context("url", &self.shown).with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            Target::parse("redis://127.0.0.1:6379/2", false).unwrap(),
            Target::Single("redis://127.0.0.1:6379/2".into())
        );
        assert_eq!(
            Target::parse("redis+cluster://u:p@h1:7001,h2:7002/", false).unwrap(),
            Target::Cluster(vec!["redis://u:p@h1:7001".into(), "redis://u:p@h2:7002".into()])
        );
        assert_eq!(
            Target::parse("redis://h1:7001,h2:7002", false).unwrap(),
            Target::Cluster(vec!["redis://h1:7001".into(), "redis://h2:7002".into()])
        );
        assert_eq!(
            Target::parse("redis://h1:7001/0", true).unwrap(),
            Target::Cluster(vec!["redis://h1:7001".into()])
        );
        assert_eq!(Target::parse("http://x", false).unwrap_err().kind(), ErrorKind::Config);
        assert_eq!(Target::parse("nonsense", false).unwrap_err().kind(), ErrorKind::Config);
    }

    #[test]
    fn hides_passwords() {
        assert_eq!(redact("redis://user:secret@h:1/0"), "redis://user:***@h:1/0");
        assert_eq!(redact("redis://h:1/0"), "redis://h:1/0");
    }
}
