//! Connections: where the server is, a small pool of connections shared by
//! every engine of the process that talks to the same server, and the retry
//! that reconnects after a server restart.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, Once, PoisonError, Weak};
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterConnection, ClusterPipeline};
use redis::{
    ClientTlsConfig, Cmd, ConnectionLike, FromRedisValue, Pipeline, RedisError, RedisResult, Script,
    TlsCertificates, Value,
};
use stash_engine_api::{Error, ErrorKind, Result, redact_url};

use crate::scripts;

#[cfg(feature = "async")]
pub(crate) mod aio;

/// Where the server is, parsed from a URL. (`Debug` hides passwords.)
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// One server: a `redis://` (or `unix://`) URL as the `redis` crate reads it.
    Single(String),
    /// A cluster: the URL of each seed node.
    Cluster(Vec<String>),
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Single(url) => f.debug_tuple("Single").field(&redact_url(url)).finish(),
            Target::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(&nodes.iter().map(|n| redact_url(n)).collect::<Vec<_>>())
                .finish(),
        }
    }
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
                .with_context("url", redact_url(url))
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

    /// Whether the connections use TLS (`rediss://`, `valkeys://`).
    pub(crate) fn is_tls(&self) -> bool {
        let tls = |url: &str| url.starts_with("rediss://") || url.starts_with("valkeys://");
        match self {
            Target::Single(url) => tls(url),
            Target::Cluster(nodes) => nodes.iter().any(|n| tls(n)),
        }
    }
}

/// The files a TLS connection reads its certificates from (paths only, so
/// they can be shown; the files are read when the pool is made).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TlsFiles {
    /// PEM CA certificates trusted instead of the system's store.
    pub(crate) ca: Option<PathBuf>,
    /// PEM client certificate chain and private key, for mutual TLS.
    pub(crate) client: Option<(PathBuf, PathBuf)>,
}

impl TlsFiles {
    /// Reads the files. An error names the file and why, never its contents
    /// (the `redis` crate's own errors about them do not show contents either).
    fn load(&self, shown: &str) -> Result<TlsCertificates> {
        let read = |what: &str, path: &Path| {
            std::fs::read(path).map_err(|e| {
                Error::new(ErrorKind::Config, format!("cannot read the Redis TLS {what} file: {e}"))
                    .with_context("file", path.display().to_string())
                    .with_context("url", shown)
            })
        };
        // A file with no certificate in it (a key given for the CA, say) would
        // otherwise be read as an empty list, trusting nothing or presenting nothing.
        let certificates = |what: &str, path: &Path| {
            let pem = read(what, path)?;
            if pem.windows(CERT_BEGIN.len()).any(|w| w == CERT_BEGIN) {
                Ok(pem)
            } else {
                Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "the Redis TLS {what} file holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
                    ),
                )
                .with_context("file", path.display().to_string())
                .with_context("url", shown))
            }
        };
        let root_cert = self.ca.as_deref().map(|p| certificates("CA certificate", p)).transpose()?;
        let client_tls = match &self.client {
            Some((cert, key)) => Some(ClientTlsConfig {
                client_cert: certificates("client certificate", cert)?,
                client_key: read("client key", key)?,
            }),
            None => None,
        };
        Ok(TlsCertificates { client_tls, root_cert })
    }
}

/// How a PEM certificate starts.
const CERT_BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// Makes rustls' `ring` provider the process default unless one is set:
/// the `redis` crate builds its TLS settings with the default provider, and
/// rustls picks one by itself only when exactly one is compiled in.
fn ensure_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer leaves theirs, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

/// Connection settings; pools are shared per distinct settings. (No `Debug`:
/// the target holds the URL with its password.)
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Settings {
    pub(crate) target: Target,
    /// The certificates of a TLS target, when not only the defaults.
    pub(crate) tls: Option<TlsFiles>,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    /// How many connections the pool opens at most: a thread that finds them
    /// all busy waits for one to come back rather than opening (and churning) more.
    pub(crate) max_connections: usize,
    /// How long that wait lasts before the operation fails with `Unavailable`.
    pub(crate) checkout_timeout: Duration,
}

// One per pool, never moved: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
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
            (Conn::Single(c), Pipe::Single(p)) => p.query(&mut FailFast(c)),
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

/// A standalone connection whose pipelines stop at the first reply that
/// cannot be read. The `redis` crate (1.8) reads on after an I/O error, one
/// read per remaining command, each waiting out the whole response timeout:
/// a pipeline of 1,024 writes to a server that stopped answering failed
/// after 1,024 timeouts (8.5 hours with the default 30 s) instead of one.
/// The connection is then dropped by [`Pool::run`], so the replies left
/// unread never reach another operation. Other errors (a reply that does not
/// parse) still read every reply, as the crate does, so the connection stays in step.
struct FailFast<'a>(&'a mut redis::Connection);

impl ConnectionLike for FailFast<'_> {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands(&mut self, cmd: &[u8], offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        if offset != 0 {
            // A transaction (MULTI/EXEC): not used by this crate, left to the `redis` crate.
            return self.0.req_packed_commands(cmd, offset, count);
        }
        self.0.send_packed_command(cmd)?;
        let mut replies = Vec::with_capacity(count);
        let mut first_err = None;
        while replies.len() < count {
            match self.0.recv_response() {
                // Pushed messages (RESP3) are not replies.
                Ok(Value::Push { .. }) => continue,
                Ok(value) => replies.push(value),
                Err(e) if e.is_io_error() => return Err(e),
                Err(e) => {
                    first_err.get_or_insert(e);
                    replies.push(Value::Nil);
                }
            }
        }
        first_err.map_or(Ok(replies), Err)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }

    fn check_connection(&mut self) -> bool {
        self.0.check_connection()
    }

    fn is_open(&self) -> bool {
        self.0.is_open()
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
    /// The async connections, one per tokio runtime (feature `async`).
    #[cfg(feature = "async")]
    runtimes: aio::Runtimes,
}

/// Idle connections, and how many are open (idle or lent out).
struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("url", &self.shown)
            .field("max_connections", &self.settings.max_connections)
            .finish_non_exhaustive()
    }
}

/// Why a checkout failed.
enum Checkout {
    /// Opening a new connection failed.
    Connect(RedisError),
    /// Every connection stayed busy until the checkout timeout.
    TimedOut,
}

/// One connection's place in its pool's count of open connections, held
/// from checkout to checkin: dropped while armed (the connection was
/// discarded, failed to open, or its operation panicked) it frees the place.
struct Slot<'a> {
    pool: &'a Pool,
    armed: bool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.pool.forget(1);
        }
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
        let bad_tls = |e: RedisError| {
            Error::new(ErrorKind::Config, "invalid Redis URL or TLS certificate files")
                .with_context("url", &shown)
                .with_source(e)
        };
        if settings.target.is_tls() {
            ensure_crypto_provider();
        }
        let certs = settings.tls.as_ref().map(|files| files.load(&shown)).transpose()?;
        let client = match (&settings.target, certs) {
            (Target::Single(url), None) => {
                Client::Single(redis::Client::open(url.as_str()).map_err(invalid)?)
            }
            (Target::Single(url), Some(certs)) => {
                Client::Single(redis::Client::build_with_tls(url.as_str(), certs).map_err(bad_tls)?)
            }
            (Target::Cluster(nodes), certs) => {
                let mut builder = ClusterClient::builder(nodes.iter().map(String::as_str))
                    .connection_timeout(settings.connect_timeout)
                    .response_timeout(settings.response_timeout)
                    .retries(4);
                if let Some(certs) = certs {
                    builder = builder.certs(certs);
                }
                let tls = settings.tls.is_some();
                Client::Cluster(builder.build().map_err(|e| if tls { bad_tls(e) } else { invalid(e) })?)
            }
        };
        let pool = Arc::new(Pool {
            settings: settings.clone(),
            client,
            shown,
            state: Mutex::new(PoolState { idle: Vec::new(), open: 0 }),
            returned: Condvar::new(),
            #[cfg(feature = "async")]
            runtimes: aio::Runtimes::default(),
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

    /// An idle connection, a new one while fewer than `max_connections` are
    /// open, or else the first one another thread gives back within
    /// `checkout_timeout`. The [`Slot`] counts the connection as open until it
    /// is checked in or discarded, whatever happens in between (a panic included).
    fn checkout(&self) -> std::result::Result<(Conn, Slot<'_>), Checkout> {
        // A year stands for "very long" (an `Instant` cannot hold `Duration::MAX` from now).
        let wait = self.settings.checkout_timeout.min(Duration::from_secs(365 * 24 * 3600));
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok((conn, Slot { pool: self, armed: true }));
            }
            if state.open < self.settings.max_connections {
                state.open += 1;
                drop(state);
                // Dropped (freeing the count) if connecting fails or panics.
                let slot = Slot { pool: self, armed: true };
                return self.connect().map(|conn| (conn, slot)).map_err(Checkout::Connect);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Checkout::TimedOut);
            }
            state =
                self.returned.wait_timeout(state, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Gives a healthy connection back for the next operation.
    fn checkin(&self, conn: Conn, mut slot: Slot<'_>) {
        slot.armed = false;
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
    fn discard(&self, conn: Conn, slot: Slot<'_>) {
        drop(conn);
        drop(slot);
        let idle = std::mem::take(&mut self.lock().idle);
        self.forget(idle.len());
    }

    /// Runs `f` on a pooled connection. A missing script is loaded and `f`
    /// run again; a broken connection (the server restarted, a timeout) is
    /// dropped with every idle one and `f` run once more on a new connection.
    /// `f` must therefore be safe to repeat: every write of this crate is.
    ///
    /// If `f` panics, its connection is closed (it may be halfway through a
    /// reply) and its place in the pool freed, so the pool never shrinks.
    pub(crate) fn run<T>(
        &self,
        trips: &AtomicU64,
        what: &str,
        mut f: impl FnMut(&mut Session<'_>) -> RedisResult<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mut conn, slot) = match self.checkout() {
                Ok(leased) => leased,
                Err(Checkout::Connect(e)) => return Err(self.error(what, e)),
                Err(Checkout::TimedOut) => return Err(self.busy(what)),
            };
            let mut session = Session { conn: &mut conn, trips };
            let mut result = f(&mut session);
            if matches!(&result, Err(e) if is_noscript(e)) {
                result = session.load_scripts().and_then(|_| f(&mut session));
            }
            match result {
                Ok(value) => {
                    self.checkin(conn, slot);
                    return Ok(value);
                }
                Err(e) if is_connection_error(&e) => {
                    self.discard(conn, slot);
                    if attempt >= 2 {
                        return Err(self.error(what, e));
                    }
                }
                Err(e) => {
                    self.checkin(conn, slot);
                    return Err(self.error(what, e));
                }
            }
        }
    }

    /// The `Unavailable` error of a checkout that found every connection busy until its deadline.
    fn busy(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "all {} connections to the Redis server were in use and none came back within {:?} to {what}",
                self.settings.max_connections, self.settings.checkout_timeout
            ),
        )
        .with_context("url", &self.shown)
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
        assert!(Target::parse("rediss://h:6380/0", false).unwrap().is_tls());
        assert!(Target::parse("rediss+cluster://h1:7001,h2:7002", false).unwrap().is_tls());
        assert!(Target::parse("valkeys://h:6380", true).unwrap().is_tls());
        assert!(!Target::parse("redis://h:6379/0", false).unwrap().is_tls());
        assert!(!Target::parse("redis+cluster://h1:7001", false).unwrap().is_tls());
        assert_eq!(Target::parse("http://x", false).unwrap_err().kind(), ErrorKind::Config);
        assert_eq!(Target::parse("nonsense", false).unwrap_err().kind(), ErrorKind::Config);
    }

    /// A pool of `max` connections to the test server, of its own (the
    /// checkout timeout keeps it apart from other tests' pools).
    fn test_pool(max: usize, checkout_timeout: Duration) -> Option<Arc<Pool>> {
        let url = stash_core::testkit::service_url("HASHSTASH_REDIS_URL")?;
        let settings = Settings {
            target: Target::parse(&url, false).unwrap(),
            tls: None,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
            max_connections: max,
            checkout_timeout,
        };
        Some(Pool::get(settings, redact_url(&url)).unwrap())
    }

    fn ping(pool: &Pool, trips: &AtomicU64) -> Result<String> {
        pool.run(trips, "answer a PING", |s| s.query::<String>(&redis::cmd("PING")))
    }

    #[test]
    fn a_panic_inside_an_operation_does_not_shrink_the_pool() {
        let Some(pool) = test_pool(2, Duration::from_millis(2_001)) else { return };
        let trips = AtomicU64::new(0);
        for _ in 0..2 {
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.run(&trips, "fail", |s| -> RedisResult<()> {
                    let _: String = s.query(&redis::cmd("PING"))?;
                    panic!("a bug inside a pooled operation")
                })
            }));
            assert!(panicked.is_err());
        }
        // Both places are free again: more operations than the pool holds, at once and in turn.
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..5 {
                        assert_eq!(ping(&pool, &trips).unwrap(), "PONG");
                    }
                });
            }
        });
        assert!(pool.lock().open <= 2, "never more than the pool's size");
    }

    #[test]
    fn a_checkout_with_every_connection_held_times_out_unavailable() {
        let Some(pool) = test_pool(1, Duration::from_millis(200)) else { return };
        let trips = AtomicU64::new(0);
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let (pool, trips) = (&*pool, &trips);
            let holder = scope.spawn(move || {
                pool.run(trips, "hold a connection", |s| {
                    let _: String = s.query(&redis::cmd("PING"))?;
                    held_tx.send(()).unwrap();
                    // Holds the only connection until the main thread has timed out.
                    release_rx.recv().unwrap();
                    Ok(())
                })
            });
            held_rx.recv().unwrap();
            let err = ping(pool, trips).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
            assert_eq!(err.context_value("url"), Some(pool.shown.as_str()), "{err}");
            assert!(err.to_string().contains("in use"), "{err}");
            release_tx.send(()).unwrap();
            holder.join().unwrap().unwrap();
        });
        assert_eq!(ping(&pool, &trips).unwrap(), "PONG");
    }

    #[test]
    fn targets_hide_passwords_in_debug() {
        let target = Target::parse("redis+cluster://u:s3cr3t@h1:7001,h2:7002", false).unwrap();
        let shown = format!("{target:?}");
        assert!(!shown.contains("s3cr3t") && shown.contains("redis://u:***@h2:7002"), "{shown}");
        let target = Target::parse("redis+unix:///run/redis.sock?db=1&pass=s3cr3t", false).unwrap();
        let shown = format!("{target:?}");
        assert!(!shown.contains("s3cr3t") && shown.contains("pass=***"), "{shown}");
    }
}
