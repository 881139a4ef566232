//! The engine's natively async operations (feature `async`): the futures its
//! sync methods run to completion, returned to the caller's runtime instead.
//!
//! The client is the one the sync methods use (one pool per URL, the same
//! options and timeouts), made when the stash was opened, not on first use:
//! the driver spawns a client's monitors and connection pools on the tokio
//! runtime current where the client is made, and a client made inside a
//! caller's runtime stops working when that runtime shuts down (a
//! `#[tokio::test]`'s, a short-lived `block_on`). This crate makes every
//! client inside a runtime of its own that lives as long as the process
//! (see `off_runtime`), so the futures here can be polled by any tokio
//! runtime, multi-thread or current-thread, one after another or at once:
//! the connections' sockets are driven by the engine's runtime, and the
//! caller's only polls the operations. The caller's runtime needs its time
//! driver (`enable_time`, or `enable_all`): the driver's timeouts are tokio
//! timers.
//!
//! A future dropped before it completes (a cancelled task) stops where it
//! is, as a process that dies there would: the entry is written or not (a
//! request already sent may still land), and chunks already stored for a
//! large value that no entry lists yet stay unreferenced until `clear`
//! (see "The 16 MiB rule" in the crate's documentation). The engine stays
//! usable.
//!
//! No future blocks the thread that polls it: every wait is on the driver's
//! async API. The waits are bounded as the sync API's are: a server that
//! cannot be selected fails within the server selection timeout (5 s unless
//! configured), a connection attempt within the connect timeout, and each
//! command's reply within the engine's reply timeout (60 s unless
//! configured: the driver has none).

use stash_engine_api::{AsyncEngine, BoxFuture, Digest, Put, Result, WriteOptions};

use crate::engine::MongoEngine;

impl AsyncEngine for MongoEngine {
    fn get<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(self.async_get(digest, key))
    }

    fn put<'a>(
        &'a self,
        digest: &'a Digest,
        key: &'a [u8],
        value: &'a [u8],
        options: WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.async_put(digest, key, value, options))
    }

    /// One `update` command per 250 entries (or 8 MiB), as the sync `put_many`.
    fn put_many<'a>(&'a self, items: &'a [Put<'a>], options: WriteOptions) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.async_put_many(items, options))
    }

    fn delete<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.async_delete(digest, key))
    }

    /// A read of the slot without its values, as the sync `contains`.
    fn contains<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.async_contains(digest, key))
    }

    fn len(&self) -> BoxFuture<'_, Result<usize>> {
        Box::pin(self.async_len())
    }
}
