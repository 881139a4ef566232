//! Async connections (feature `async`): per tokio runtime, one connection
//! multiplexing every task's commands (a `ConnectionManager`, which reconnects
//! after a server restart) or one async cluster connection, made on first use
//! with the pool's client (so its TLS settings) and timeouts.
//!
//! Why per runtime: a multiplexed connection is driven by a task spawned on
//! the runtime that opened it, and dies with that runtime. A process with one
//! runtime opens one; a test suite with a runtime per test opens one per test
//! (the last few are kept, older ones closed).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, ScriptInvocation, Value};
use stash_engine_api::{Error, ErrorKind, Result};
use tokio::runtime::{Handle, Id};
use tokio::sync::OnceCell;

use super::{Client, Pool, is_connection_error, is_noscript};
use crate::scripts;

/// How many runtimes' connections a pool keeps: past it, the oldest is closed.
const RUNTIMES_KEPT: usize = 8;

/// One runtime's connection.
#[derive(Clone)]
pub(crate) enum AsyncConn {
    /// A standalone server.
    Single(ConnectionManager),
    /// A cluster.
    Cluster(ClusterConnection),
}

/// The async connections of one pool, by runtime.
#[derive(Default)]
pub(crate) struct Runtimes {
    conns: Mutex<VecDeque<(Id, Arc<OnceCell<AsyncConn>>)>>,
}

impl Runtimes {
    /// The (possibly not yet opened) connection cell of runtime `id`.
    fn cell(&self, id: Id) -> Arc<OnceCell<AsyncConn>> {
        // A list of cells, consistent after any panic.
        let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, cell)) = conns.iter().find(|(rt, _)| *rt == id) {
            return cell.clone();
        }
        if conns.len() >= RUNTIMES_KEPT {
            conns.pop_front();
        }
        let cell = Arc::new(OnceCell::new());
        conns.push_back((id, cell.clone()));
        cell
    }
}

/// What one request sends: a command, a pipeline, or a script call (`EVALSHA`,
/// loading the script if the server lacks it).
#[derive(Clone, Copy)]
pub(crate) enum Request<'a> {
    /// One command, one reply.
    Cmd(&'a Cmd),
    /// Every command of the pipeline, every reply, in one round trip.
    Pipe(&'a Pipeline),
    /// One script.
    Script(&'a ScriptInvocation<'a>),
}

/// A runtime's connection and the round-trip counter of the engine using it.
struct Session<'a> {
    conn: AsyncConn,
    trips: &'a AtomicU64,
}

impl ConnectionLike for Session<'_> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match &mut self.conn {
            AsyncConn::Single(c) => c.req_packed_command(cmd),
            AsyncConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match &mut self.conn {
            AsyncConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            AsyncConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.conn {
            AsyncConn::Single(c) => c.get_db(),
            AsyncConn::Cluster(c) => c.get_db(),
        }
    }
}

impl Session<'_> {
    async fn send<T: FromRedisValue>(&mut self, request: Request<'_>) -> RedisResult<T> {
        match request {
            Request::Cmd(cmd) => cmd.query_async(self).await,
            Request::Pipe(pipe) => pipe.query_async(self).await,
            Request::Script(call) => call.invoke_async(self).await,
        }
    }

    /// Loads every script of this crate (after the server reported one missing).
    async fn load_scripts(&mut self) -> RedisResult<()> {
        for script in scripts::all() {
            script.load_async(self).await?;
        }
        Ok(())
    }
}

impl Pool {
    /// Opens the connection of the current runtime, within the connect timeout.
    async fn connect_async(&self) -> RedisResult<AsyncConn> {
        let settings = &self.settings;
        match &self.client {
            Client::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(settings.connect_timeout))
                    .set_response_timeout(Some(settings.response_timeout))
                    // One more attempt after a failed one, as the sync side's retry.
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                client.get_connection_manager_with_config(config).await.map(AsyncConn::Single)
            }
            // The client carries the connect and response timeouts of every node's connection.
            Client::Cluster(client) => client.get_async_connection().await.map(AsyncConn::Cluster),
        }
    }

    /// The connection of the runtime the caller runs on, opened on first use.
    /// Never waits longer than twice the connect timeout and a second (a
    /// connection manager's two attempts and the delay between them).
    async fn async_conn(&self, what: &str) -> Result<AsyncConn> {
        let runtime = Handle::try_current().map_err(|_| {
            Error::new(
                ErrorKind::Unsupported,
                format!("the Redis engine's async operations run on a tokio runtime: none found to {what}"),
            )
            .with_context("url", &self.shown)
        })?;
        let cell = self.runtimes.cell(runtime.id());
        let limit = self.settings.connect_timeout.saturating_mul(2).saturating_add(Duration::from_secs(1));
        let open = cell.get_or_try_init(|| async {
            match tokio::time::timeout(limit, self.connect_async()).await {
                Ok(opened) => opened.map_err(|e| self.error(what, e)),
                Err(_) => Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("no connection to the Redis server within {limit:?} to {what}"),
                )
                .with_context("url", &self.shown)),
            }
        });
        open.await.cloned()
    }

    /// Sends `request` on the current runtime's connection, counting round
    /// trips in `trips`. A missing script is loaded and the request sent again;
    /// a broken connection (the manager reconnects by itself) gets one more try.
    /// Every request of this crate is safe to repeat.
    pub(crate) async fn send<T: FromRedisValue>(
        &self,
        trips: &AtomicU64,
        what: &str,
        request: Request<'_>,
    ) -> Result<T> {
        let conn = self.async_conn(what).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut session = Session { conn: conn.clone(), trips };
            let mut result = session.send(request).await;
            if matches!(&result, Err(e) if is_noscript(e)) {
                result = match session.load_scripts().await {
                    Ok(()) => session.send(request).await,
                    Err(e) => Err(e),
                };
            }
            match result {
                Ok(value) => return Ok(value),
                Err(e) if is_connection_error(&e) && attempt < 2 => continue,
                Err(e) => return Err(self.error(what, e)),
            }
        }
    }
}
