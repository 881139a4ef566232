//! Native async I/O for engines that talk to a server: [`AsyncEngine`].
//!
//! An engine whose storage is across a network (redis, mongo) can offer its
//! dictionary operations as futures, so an async caller (the `stash-async`
//! crate's `AsyncStash`) awaits the server's reply on its own task instead of
//! parking a thread of a blocking pool on it. An engine opts in by returning
//! `Some` from [`Engine::as_async`](crate::Engine::as_async); callers that get
//! `None` (the embedded engines, whose calls take microseconds and block on a
//! disk) run the sync method on a blocking pool instead.
//!
//! The trait names no runtime: its futures are std futures, and an engine that
//! needs one (a tokio-based client) documents it. It is object safe, so a stash
//! reaches it through its `Arc<dyn Engine>`.
//!
//! Same semantics as the sync [`Engine`](crate::Engine): the same records, the
//! same expiry rules, the same key checks. A value written by one API is read
//! by the other, and an engine must never block the thread polling its futures
//! (no sync socket read, no `block_on`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::digest::Digest;
use crate::engine::{Put, WriteOptions};
use crate::error::Result;

/// A boxed, `Send` future borrowing for `'a`: what every [`AsyncEngine`] method
/// returns (object safe, unlike `async fn` in a trait).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The dictionary operations of an [`Engine`](crate::Engine) as futures, for an
/// engine whose I/O is natively async. Reached through
/// [`Engine::as_async`](crate::Engine::as_async); each method has the
/// semantics, arguments and errors of the sync method of the same name (a
/// digest and the encoded key it must match, encoded values, [`WriteOptions`]).
///
/// A future may be dropped before it completes (a cancelled task): the
/// operation then either happened or did not, as for a sync call that failed
/// half way, and the engine stays usable.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::task::{Context, Poll, Waker};
/// use stash_engine_api::asynchronous::{AsyncEngine, BoxFuture};
/// use stash_engine_api::{Digest, DigestAlgo, Result, WriteOptions};
///
/// /// A map behind a lock: every future is ready at once.
/// #[derive(Debug, Default)]
/// struct Map(Mutex<HashMap<Digest, (Vec<u8>, Vec<u8>)>>);
///
/// impl AsyncEngine for Map {
///     fn get<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
///         Box::pin(async move {
///             let map = self.0.lock().unwrap();
///             Ok(map.get(digest).filter(|(k, _)| k == key).map(|(_, v)| v.clone()))
///         })
///     }
///     fn put<'a>(
///         &'a self,
///         digest: &'a Digest,
///         key: &'a [u8],
///         value: &'a [u8],
///         _options: WriteOptions,
///     ) -> BoxFuture<'a, Result<()>> {
///         Box::pin(async move {
///             self.0.lock().unwrap().insert(*digest, (key.to_vec(), value.to_vec()));
///             Ok(())
///         })
///     }
///     fn delete<'a>(&'a self, digest: &'a Digest, _key: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
///         Box::pin(async move { Ok(self.0.lock().unwrap().remove(digest).is_some()) })
///     }
///     fn len(&self) -> BoxFuture<'_, Result<usize>> {
///         Box::pin(async move { Ok(self.0.lock().unwrap().len()) })
///     }
/// }
///
/// // Any executor polls these futures; this one's are always ready.
/// fn ready<T>(mut future: BoxFuture<'_, T>) -> T {
///     match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
///         Poll::Ready(out) => out,
///         Poll::Pending => unreachable!("the map never waits"),
///     }
/// }
///
/// let engine: &dyn AsyncEngine = &Map::default();
/// let digest = DigestAlgo::Md5.digest(b"k");
/// ready(engine.put(&digest, b"k", b"v", WriteOptions::REPLACE))?;
/// assert_eq!(ready(engine.get(&digest, b"k"))?, Some(b"v".to_vec()));
/// assert!(ready(engine.contains(&digest, b"k"))?); // the default, through get
/// assert_eq!(ready(engine.len())?, 1);
/// # Ok::<(), stash_engine_api::Error>(())
/// ```
pub trait AsyncEngine: Send + Sync + fmt::Debug + 'static {
    /// The newest value stored for `key`, or `None`: [`Engine::get`](crate::Engine::get).
    fn get<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;

    /// Stores `value` for `key`: [`Engine::put`](crate::Engine::put).
    fn put<'a>(
        &'a self,
        digest: &'a Digest,
        key: &'a [u8],
        value: &'a [u8],
        options: WriteOptions,
    ) -> BoxFuture<'a, Result<()>>;

    /// Stores many entries: [`Engine::put_many`](crate::Engine::put_many). The
    /// default awaits one [`put`](AsyncEngine::put) after another; engines with
    /// a batch command (a pipeline, a bulk write) override it.
    fn put_many<'a>(&'a self, items: &'a [Put<'a>], options: WriteOptions) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for item in items {
                self.put(&item.digest, item.key, item.value, options).await?;
            }
            Ok(())
        })
    }

    /// Removes `key`; true if it was there: [`Engine::delete`](crate::Engine::delete).
    fn delete<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<bool>>;

    /// Whether `key` is stored: [`Engine::contains`](crate::Engine::contains).
    /// The default reads the value through [`get`](AsyncEngine::get).
    fn contains<'a>(&'a self, digest: &'a Digest, key: &'a [u8]) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { Ok(self.get(digest, key).await?.is_some()) })
    }

    /// The number of stored keys: [`Engine::len`](crate::Engine::len).
    fn len(&self) -> BoxFuture<'_, Result<usize>>;

    /// Whether nothing is stored: [`Engine::is_empty`](crate::Engine::is_empty).
    /// The default counts through [`len`](AsyncEngine::len).
    fn is_empty(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move { Ok(self.len().await? == 0) })
    }
}
