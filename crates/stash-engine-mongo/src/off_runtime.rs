//! The engine usable from inside a tokio runtime, and the runtime its sync
//! calls run on.
//!
//! The engine's operations are written once, as futures on the driver's
//! async API ([`MongoEngine`](crate::MongoEngine)'s async methods). Its sync
//! [`Engine`] methods run them with [`block`]: `block_on` on [`RUNTIME`], a
//! small runtime of this crate that also hosts the clients' background tasks
//! (server monitors, connection pools: see `client::connect`). Its async
//! methods (feature `async`) are the same futures, polled by the caller's
//! runtime. Scans, locks and their releases use the driver's `sync` API,
//! which also runs `block_on` on a runtime of its own.
//!
//! `block_on` panics ("Cannot start a runtime from within a runtime") when
//! the calling thread is a tokio runtime's (an `async fn` calling the sync
//! stash directly). [`block`] and [`OffRuntime`] (which wraps the engine for
//! the driver's sync calls) then run the call on a short-lived helper thread
//! instead (a scoped thread: the call borrows as usual), and everywhere else
//! run in place at no cost. The helper thread costs tens of microseconds,
//! against a server round trip; async code does better to use the async
//! stash (`stash-async`), which awaits the engine's futures directly.

use std::fmt;
use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use tokio::runtime::{EnterGuard, Runtime};

use stash_engine_api::{
    AsyncEngine, Capabilities, Digest, Engine, Error, ErrorKind, HeldLock, LockAttempt, MetaIter, Put,
    RecordIter, Result, Version, WriteOptions,
};

/// The runtime of the engine's sync calls and of the clients' background
/// tasks: two worker threads (they poll the connections and monitors; the
/// calls themselves run on their callers' threads), started on first use
/// and kept for the life of the process, so a client made here outlives any
/// runtime of the caller's.
static RUNTIME: LazyLock<std::result::Result<Runtime, String>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("hashstash-mongo-io")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
});

fn runtime() -> Result<&'static Runtime> {
    RUNTIME.as_ref().map_err(|e| {
        Error::new(ErrorKind::Unavailable, format!("cannot start the mongo engine's I/O runtime: {e}"))
    })
}

/// Makes [`RUNTIME`] this thread's current runtime until the guard drops:
/// tasks the driver spawns meanwhile (a new client's monitors and pools)
/// run there, whatever runtime the caller is in.
pub(crate) fn enter() -> Result<EnterGuard<'static>> {
    Ok(runtime()?.enter())
}

/// Runs `future` to completion: on this thread, or on a helper thread when
/// this one belongs to a tokio runtime (see [`call`]).
pub(crate) fn block<T: Send>(future: impl Future<Output = Result<T>> + Send) -> Result<T> {
    let runtime = runtime()?;
    call(|| runtime.block_on(future))
}

/// Runs `f` where the driver can block: here, unless this thread belongs to a
/// tokio runtime, then on a helper thread (a panic there is resumed here).
pub(crate) fn call<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("hashstash-mongo".into())
            .spawn_scoped(scope, f)
            .map_err(|e| {
                Error::new(ErrorKind::Unavailable, format!("cannot start a thread for a mongo call: {e}"))
            })?;
        helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// An engine whose every call, iterator step and lock release goes through [`call`].
pub(crate) struct OffRuntime<E>(pub(crate) E);

impl<E: fmt::Debug> fmt::Debug for OffRuntime<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<E: Engine> Engine for OffRuntime<E> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn get(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<u8>>> {
        call(|| self.0.get(digest, key))
    }
    fn put(&self, digest: &Digest, key: &[u8], value: &[u8], options: WriteOptions) -> Result<()> {
        call(|| self.0.put(digest, key, value, options))
    }
    fn put_many(&self, items: &[Put<'_>], options: WriteOptions) -> Result<()> {
        call(|| self.0.put_many(items, options))
    }
    fn delete(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        call(|| self.0.delete(digest, key))
    }
    fn contains(&self, digest: &Digest, key: &[u8]) -> Result<bool> {
        call(|| self.0.contains(digest, key))
    }
    fn len(&self) -> Result<usize> {
        call(|| self.0.len())
    }
    fn is_empty(&self) -> Result<bool> {
        call(|| self.0.is_empty())
    }
    fn clear(&self) -> Result<()> {
        call(|| self.0.clear())
    }
    fn scan(&self) -> Result<RecordIter> {
        Ok(Box::new(Steps(Some(call(|| self.0.scan())?))))
    }
    fn scan_keys(&self) -> Result<RecordIter> {
        Ok(Box::new(Steps(Some(call(|| self.0.scan_keys())?))))
    }
    fn versions(&self, digest: &Digest, key: &[u8]) -> Result<Option<Vec<Version>>> {
        call(|| self.0.versions(digest, key))
    }
    fn scan_meta(&self) -> Result<MetaIter> {
        Ok(Box::new(Steps(Some(call(|| self.0.scan_meta())?))))
    }
    fn disk_usage(&self) -> Result<Option<u64>> {
        call(|| self.0.disk_usage())
    }
    fn flush(&self) -> Result<()> {
        call(|| self.0.flush())
    }
    fn delete_unless_rewritten(
        &self,
        digest: &Digest,
        key: &[u8],
        seen_written_at_micros: i64,
    ) -> Result<bool> {
        call(|| self.0.delete_unless_rewritten(digest, key, seen_written_at_micros))
    }
    fn put_if_absent(
        &self,
        digest: &Digest,
        key: &[u8],
        value: &[u8],
        options: WriteOptions,
    ) -> Result<bool> {
        call(|| self.0.put_if_absent(digest, key, value, options))
    }
    /// The wrapped engine's: its futures never block, so they need no helper thread.
    fn as_async(&self) -> Option<&dyn AsyncEngine> {
        self.0.as_async()
    }
    fn try_lock(&self, name: &Digest, lease: Duration) -> Result<LockAttempt> {
        Ok(match call(|| self.0.try_lock(name, lease))? {
            LockAttempt::Acquired(held) => LockAttempt::Acquired(Box::new(Released(Some(held)))),
            other => other,
        })
    }
}

/// A cursor whose steps (each may fetch a batch from the server) go through
/// [`call`]; `None` once a step could not be made (after yielding why).
struct Steps<T>(Option<Box<dyn Iterator<Item = Result<T>> + Send>>);

impl<T: Send> Iterator for Steps<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        let cursor = self.0.as_mut()?;
        call(|| Ok(cursor.next())).unwrap_or_else(|e| {
            self.0 = None;
            Some(Err(e))
        })
    }
}

/// A held lock whose release (a delete on the server) goes through [`call`].
struct Released(Option<Box<dyn HeldLock>>);

impl fmt::Debug for Released {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl HeldLock for Released {}

impl Drop for Released {
    fn drop(&mut self) {
        if let Some(held) = self.0.take() {
            // Nothing to report to in a drop: a failed release expires with its lease.
            let _ = call(move || {
                drop(held);
                Ok(())
            });
        }
    }
}
