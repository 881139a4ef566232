//! The engine's natively async operations (feature `async`): the same
//! commands and scripts as the sync methods, built by the same functions, sent
//! with `query_async` on the current runtime's connection instead of on a
//! pooled blocking one.

use redis::{FromRedisValue, Pipeline};
use stash_engine_api::asynchronous::{AsyncEngine, BoxFuture};
use stash_engine_api::clock::now_micros;
use stash_engine_api::{Digest, Put, Result, WriteOptions};

use super::{RedisEngine, Shared, check_put, check_puts, count, deleted, write_chunks};
use crate::conn::aio::Request;

impl Shared {
    /// Sends `request` on this runtime's connection (see [`Pool::send`](crate::conn::Pool)).
    async fn send<T: FromRedisValue>(&self, what: &str, request: Request<'_>) -> Result<T> {
        self.pool
            .send(&self.trips, what, request)
            .await
            .map_err(|e| e.with_context("namespace", &self.namespace))
    }
}

/// Each future sends one request (one round trip; `put_many`, one per
/// pipeline of 1,024 writes) on a connection multiplexing every task's
/// requests: a thousand tasks awaiting reads share one socket and no thread.
/// Awaited outside a tokio runtime, an operation fails with `Unsupported`.
impl AsyncEngine for RedisEngine {
    fn get<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            let cmd = self.fields_cmd(digest, &["v"]);
            let reply = self.shared.send("read an entry", Request::Cmd(&cmd)).await?;
            Ok(self.visible(digest, key, reply, 1)?.and_then(|mut f| f.pop()))
        })
    }

    fn put<'a>(
        &'a self,
        digest: &'a Digest,
        key: &'a [u8],
        value: &'a [u8],
        options: WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // EVALSHA in a one-command pipeline, as the sync `put` sends it.
            let mut pipe = Pipeline::new();
            pipe.add_command(self.put_cmd(digest, key, value, options, now_micros()));
            let (code,): (i64,) = self.shared.send("write an entry", Request::Pipe(&pipe)).await?;
            check_put(code, digest)
        })
    }

    fn put_many<'a>(&'a self, items: &'a [Put<'a>], options: WriteOptions) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for chunk in write_chunks(items) {
                let mut pipe = Pipeline::new();
                for cmd in self.put_cmds(chunk, options) {
                    pipe.add_command(cmd);
                }
                let codes = self.shared.send("write a batch of entries", Request::Pipe(&pipe)).await?;
                check_puts(chunk, codes)?;
            }
            Ok(())
        })
    }

    fn delete<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let call = self.delete_call(digest, key);
            deleted(self.shared.send("delete an entry", Request::Script(&call)).await?, digest)
        })
    }

    fn contains<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let cmd = self.fields_cmd(digest, &[]);
            let reply = self.shared.send("read an entry", Request::Cmd(&cmd)).await?;
            Ok(self.visible(digest, key, reply, 0)?.is_some())
        })
    }

    fn len(&self) -> BoxFuture<'_, Result<usize>> {
        Box::pin(async move {
            let call = self.len_call();
            Ok(count(self.shared.send("count entries", Request::Script(&call)).await?))
        })
    }
}
