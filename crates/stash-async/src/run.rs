//! `run_async(f, args)`, `map_async(f, inputs, limit)` and their single flight.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use stash_core::{Digest, EncodedKey, ErrorKind, HeldLock, LockAttempt, SetOptions, Stash};
use stash_func::{Call, RunOptions, StashRun};
use tokio::sync::OwnedMutexGuard;

use crate::{AsyncStash, blocking};
use stash_func::__private::{is_err, store_error};

/// The first pause between two tries of a busy engine lock (as the sync `run`).
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause between two tries of a busy engine lock.
const MAX_PAUSE: Duration = Duration::from_millis(50);
/// Waits longer than this (`Duration::MAX` for "as long as it takes") are cut to it.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

impl AsyncStash {
    /// Awaits `f(args)` (an async fn item; `args` a tuple: `()`, `(a,)`,
    /// `(a, b)`, ...), or returns the result stored for the same arguments.
    ///
    /// The async twin of the sync `run`: results live in the same function
    /// stash (`stashed_result/<module path>::<fn name>`, keyed by `args`), a
    /// function returning `Result` has only its `Ok` values stored, and a
    /// closure is refused (use [`run_async_named`](AsyncStash::run_async_named)).
    ///
    /// **Single flight.** Tasks of this process asking for the same missing
    /// result wait for one computation and then read its stored result;
    /// processes and machines sharing the stash wait on the engine's lock on
    /// the key (as the sync `run` does, so sync and async callers exclude each
    /// other too). If the computing task is cancelled (dropped, aborted),
    /// its turn passes to one of the waiting tasks, which computes instead.
    /// No wait is longer than [`RunOptions::wait_timeout`] (60 s by default):
    /// then the waiter computes anyway (a duplicate computation, never a hang).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use stash_async::AsyncStashExt;
    ///
    /// async fn double(x: u64) -> u64 {
    ///     x * 2
    /// }
    /// # let dir = tempfile::tempdir()?;
    /// # let mut cfg = stash_core::StashConfig::default();
    /// # cfg.root_dir = dir.path().into();
    /// # cfg.engine = "memory".into();
    /// # let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let cache = stash.asynchronous();
    /// assert_eq!(cache.run_async(double, (21,)).await?, 42); // computed
    /// assert_eq!(cache.run_async(double, (21,)).await?, 42); // read back
    /// # Ok::<(), stash_func::Error>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn run_async<F, Args, Fut>(&self, f: F, args: Args) -> stash_func::Result<Fut::Output>
    where
        F: Call<Args, Output = Fut> + 'static,
        Fut: Future,
        Args: Serialize,
        Fut::Output: Serialize + DeserializeOwned + Send + 'static,
    {
        self.run_async_with(f, args, RunOptions::default()).await
    }

    /// [`run_async`](AsyncStash::run_async) with options (`force`,
    /// `cache_errors`, `error_ttl`, `wait_timeout`: as for the sync `run_with`).
    pub async fn run_async_with<F, Args, Fut>(
        &self,
        f: F,
        args: Args,
        options: RunOptions,
    ) -> stash_func::Result<Fut::Output>
    where
        F: Call<Args, Output = Fut> + 'static,
        Fut: Future,
        Args: Serialize,
        Fut::Output: Serialize + DeserializeOwned + Send + 'static,
    {
        let name = checked_name::<F>("run_async")?;
        self.run_async_named_with(&name, f, args, options).await
    }

    /// [`run_async`](AsyncStash::run_async) with an explicit function name
    /// (the results are those of the sync `run_named(name, ..)`): the way to
    /// stash a closure.
    pub async fn run_async_named<F, Args, Fut>(
        &self,
        name: &str,
        f: F,
        args: Args,
    ) -> stash_func::Result<Fut::Output>
    where
        F: Call<Args, Output = Fut>,
        Fut: Future,
        Args: Serialize,
        Fut::Output: Serialize + DeserializeOwned + Send + 'static,
    {
        self.run_async_named_with(name, f, args, RunOptions::default()).await
    }

    /// [`run_async_named`](AsyncStash::run_async_named) with options.
    pub async fn run_async_named_with<F, Args, Fut>(
        &self,
        name: &str,
        f: F,
        args: Args,
        options: RunOptions,
    ) -> stash_func::Result<Fut::Output>
    where
        F: Call<Args, Output = Fut>,
        Fut: Future,
        Args: Serialize,
        Fut::Output: Serialize + DeserializeOwned + Send + 'static,
    {
        // A function stash has its parent's settings, so the parent encodes its keys alike.
        let key = self.stash.encode_key(&args)?;
        let name = name.to_string();
        let cache_errors = options.cache_errors;
        let first_key = key.clone();
        let (fs, errs, found) = blocking(&self.stash, move |parent| {
            let fs = parent
                .function_stash_named::<(), ()>(&name)
                .map_err(stash_core::Error::from)?
                .stash()
                .clone();
            let errs = if cache_errors {
                Some(parent.error_stash_named(&name).map_err(stash_core::Error::from)?)
            } else {
                None
            };
            let found =
                if options.force { None } else { look::<Fut::Output>(&fs, errs.as_ref(), &first_key, true)? };
            Ok((fs, errs, found))
        })
        .await?;
        if let Some(found) = found {
            return Ok(found);
        }
        let _turn = Turn::acquire(&fs, key.digest, options.wait()).await?;
        if !options.force {
            let (again, look_key) = (errs.clone(), key.clone());
            let found = blocking(&fs, move |fs| look(fs, again.as_ref(), &look_key, false)).await?;
            if let Some(found) = found {
                return Ok(found);
            }
        }
        let out = f.call(args).await;
        let error_ttl = options.error_ttl;
        Ok(blocking(&fs, move |fs| {
            store(fs, errs.as_ref(), &key, &out, error_ttl)?;
            Ok(out)
        })
        .await?)
    }

    /// Maps the async function `f` over `inputs`, each call being
    /// `run_async(f, (input,))` (so only inputs without a stored result are
    /// computed, and the results are those of the sync `map` of a function of
    /// that name), at most `limit` at once. The results stream in input order.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use futures_util::StreamExt;
    /// use stash_async::AsyncStashExt;
    ///
    /// async fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    /// # let dir = tempfile::tempdir()?;
    /// # let mut cfg = stash_core::StashConfig::default();
    /// # cfg.root_dir = dir.path().into();
    /// # cfg.engine = "memory".into();
    /// # let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let cache = stash.asynchronous();
    /// let squares: Vec<u64> = cache
    ///     .map_async(square, 1..=4, 2)?
    ///     .map(|r| r.expect("stored"))
    ///     .collect()
    ///     .await;
    /// assert_eq!(squares, [1, 4, 9, 16]);
    /// # Ok::<(), stash_func::Error>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_async<F, I, Fut>(
        &self,
        f: F,
        inputs: impl IntoIterator<Item = I>,
        limit: usize,
    ) -> stash_func::Result<AsyncMap<Fut::Output>>
    where
        F: Call<(I,), Output = Fut> + Send + Sync + 'static,
        I: Serialize + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Serialize + DeserializeOwned + Send + 'static,
    {
        let name = checked_name::<F>("map_async")?;
        Ok(self.map_async_named(&name, f, inputs, limit))
    }

    /// [`map_async`](AsyncStash::map_async) with an explicit function name
    /// (each call is `run_async_named(name, f, (input,))`).
    pub fn map_async_named<F, I, Fut>(
        &self,
        name: &str,
        f: F,
        inputs: impl IntoIterator<Item = I>,
        limit: usize,
    ) -> AsyncMap<Fut::Output>
    where
        F: Call<(I,), Output = Fut> + Send + Sync + 'static,
        I: Serialize + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Serialize + DeserializeOwned + Send + 'static,
    {
        let f = Arc::new(f);
        let name: Arc<str> = name.into();
        let stash = self.clone();
        let inputs: Vec<I> = inputs.into_iter().collect();
        let len = inputs.len();
        let calls = futures_util::stream::iter(inputs).map(move |input| {
            let (f, name, stash) = (f.clone(), name.clone(), stash.clone());
            async move {
                let call = move |i: I| f.call((i,));
                stash.run_async_named(&name, call, (input,)).await
            }
        });
        AsyncMap { inner: Box::pin(calls.buffered(limit.max(1))), left: len }
    }
}

/// The results of [`AsyncStash::map_async`]: a stream of each input's result,
/// in input order, computed at most `limit` at once while it is polled.
pub struct AsyncMap<R> {
    inner: Pin<Box<dyn Stream<Item = stash_func::Result<R>> + Send>>,
    left: usize,
}

impl<R> Stream for AsyncMap<R> {
    type Item = stash_func::Result<R>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(_)) = next {
            self.left = self.left.saturating_sub(1);
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// The name `run_async` and `map_async` store `F`'s results under: its type
/// name, for a fn item (zero-sized, not a closure) only, as the sync `run`.
fn checked_name<F: 'static>(what: &str) -> stash_func::Result<String> {
    match stash_func::function_name::<F>() {
        Some(name) if size_of::<F>() == 0 => Ok(name),
        _ => Err(stash_core::Error::new(
            ErrorKind::Config,
            format!(
                "`{what}` names results by the function, and `{}` is a closure or a value with \
                 state, which has no stable name: use `{what}_named` with a name that says what \
                 it computes, or pass an async fn item",
                std::any::type_name::<F>()
            ),
        )
        .into()),
    }
}

/// A stored result for `key`: in the results (an `Err` there, which only an
/// earlier version stored, counts as missing), else a cached error in `errs`
/// (an entry that does not decode counts as missing, as in the sync `run`).
fn look<R: Serialize + DeserializeOwned>(
    fs: &Stash,
    errs: Option<&Stash>,
    key: &EncodedKey,
    count: bool,
) -> stash_core::Result<Option<R>> {
    let found: Option<R> = if count { fs.get_encoded(key)? } else { fs.peek_encoded(key)? };
    if let Some(found) = found.filter(|r| !is_err(r)) {
        return Ok(Some(found));
    }
    let Some(errs) = errs else { return Ok(None) };
    let cached: stash_core::Result<Option<R>> =
        if count { errs.get_encoded(key) } else { errs.peek_encoded(key) };
    match cached {
        Ok(found) => Ok(found.filter(|r| is_err(r))),
        Err(e) if e.kind() == ErrorKind::Decode => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stores a computed result: an `Ok` (or any non-`Result`) value with the
/// results, an `Err` in the error stash when errors are cached (expiring after
/// `error_ttl`, never later than the stash's own `ttl`).
fn store<R: Serialize>(
    fs: &Stash,
    errs: Option<&Stash>,
    key: &EncodedKey,
    out: &R,
    error_ttl: Option<Duration>,
) -> stash_core::Result<()> {
    if !is_err(out) {
        fs.set_encoded(key, out, SetOptions::new())?;
        if let Some(errs) = errs {
            errs.remove_encoded(key)?;
        }
        return Ok(());
    }
    let Some(errs) = errs else { return Ok(()) };
    Ok(store_error(errs, key, out, error_ttl)?)
}

type SlotKey = (PathBuf, Digest);
type Slot = Arc<tokio::sync::Mutex<()>>;

/// This process's turn per (function stash, key): kept only while someone holds or waits for it.
static SLOTS: LazyLock<Mutex<HashMap<SlotKey, Slot>>> = LazyLock::new(Default::default);

fn slots() -> MutexGuard<'static, HashMap<SlotKey, Slot>> {
    // Nothing panics while holding it; a poisoned table is still consistent.
    SLOTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// One caller's turn to compute a key: held while it computes; dropping it
/// (also when the task is cancelled) lets the next waiting task in.
struct Turn {
    key: SlotKey,
    slot: Slot,
    /// The turn among this process's tasks (`None`: the wait timed out).
    local: Option<OwnedMutexGuard<()>>,
    /// The engine's lock on the key, when the engine has one and we got it in time.
    held: Option<Box<dyn HeldLock>>,
}

impl Turn {
    /// Waits (at most `wait`) for the turn on `digest` in `fs`: first among
    /// this process's tasks, then on the engine's lock shared with other
    /// processes. When the wait runs out, returns a turn that holds nothing.
    async fn acquire(fs: &Stash, digest: Digest, wait: Duration) -> stash_core::Result<Turn> {
        let wait = wait.min(LONGEST_WAIT);
        let deadline = tokio::time::Instant::now() + wait;
        let key = (fs.path().to_path_buf(), digest);
        let slot = slots().entry(key.clone()).or_default().clone();
        let mut turn = Turn { key, slot: slot.clone(), local: None, held: None };
        turn.local = tokio::time::timeout_at(deadline, slot.lock_owned()).await.ok();
        let lease = wait.max(Duration::from_secs(1));
        let mut pause = FIRST_PAUSE;
        loop {
            let attempt = blocking(fs, move |s| {
                s.engine()
                    .try_lock(&digest, lease)
                    .map_err(|e| e.with_context("stash", s).with_context("digest", digest))
            })
            .await?;
            match attempt {
                LockAttempt::Acquired(guard) => {
                    turn.held = Some(guard);
                    break;
                }
                LockAttempt::Busy => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        break; // compute without the lock: a duplicate computation at worst
                    }
                    tokio::time::sleep(pause.min(left)).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                // `Unsupported` (and any kind added later): single flight in this process only.
                _ => break,
            }
        }
        Ok(turn)
    }
}

/// Releases the engine lock, then the local turn, then forgets the slot if nobody waits.
fn release(held: Option<Box<dyn HeldLock>>, local: Option<OwnedMutexGuard<()>>, key: SlotKey, slot: Slot) {
    drop(held);
    drop(local);
    let mut table = slots();
    // Only the table's and ours: nobody waits, so the entry can go.
    if Arc::strong_count(&slot) == 2 {
        table.remove(&key);
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (held, local) = (self.held.take(), self.local.take());
        // Ours is moved out (a placeholder left), so `release` counts the table's and its own.
        let (key, slot) = (self.key.clone(), std::mem::take(&mut self.slot));
        match (held, tokio::runtime::Handle::try_current()) {
            // Releasing an engine lock is I/O (a file, a server): not on a runtime worker.
            (Some(held), Ok(runtime)) => {
                runtime.spawn_blocking(move || release(Some(held), local, key, slot));
            }
            (held, _) => release(held, local, key, slot),
        }
    }
}

/// What `#[stashed_result] async fn` calls (through the facade's hidden
/// `__stash_async_call!`): the async twins of the sync macro helpers
/// `call_keyed` and `call_keyed_ok`, on the function stash the macro opened
/// (`stashed_result/<name>/<version>`, shared with a sync function of that
/// name and version) and a key it encoded. Not a public API.
#[doc(hidden)]
pub mod macro_support {
    use std::future::Future;

    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use stash_core::{EncodedKey, Stash};
    use stash_func::{DEFAULT_WAIT, FunctionStash};

    use super::{Turn, look, store};
    use crate::blocking;

    /// The stored result, or the turn to compute it (held until it is stored).
    enum Found<T> {
        Stored(T),
        Compute(Turn),
    }

    /// The result stored under `key` (a read counted as a hit or a miss), else
    /// this task's turn on the key (single flight across tasks and, through the
    /// engine's lock, processes) and a second look once it is ours.
    async fn found_or_turn<T>(fs: &Stash, key: &EncodedKey) -> stash_core::Result<Found<T>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let first = key.clone();
        if let Some(v) = blocking(fs, move |fs| look::<T>(fs, None, &first, true)).await? {
            return Ok(Found::Stored(v));
        }
        let turn = Turn::acquire(fs, key.digest, DEFAULT_WAIT).await?;
        let again = key.clone();
        Ok(match blocking(fs, move |fs| look::<T>(fs, None, &again, false)).await? {
            Some(v) => Found::Stored(v),
            None => Found::Compute(turn),
        })
    }

    /// Stores `out` under `key` (unless it is a `Result::Err`) and hands it back.
    async fn keep<T>(fs: &Stash, key: EncodedKey, out: T) -> stash_core::Result<T>
    where
        T: Serialize + Send + 'static,
    {
        blocking(fs, move |fs| {
            store(fs, None, &key, &out, None)?;
            Ok(out)
        })
        .await
    }

    /// Returns the result stored under `key`, or awaits `compute` once (among
    /// the tasks asking for that key) and stores its output, unless it is a
    /// `Result::Err` under a return type the macro did not see spelled
    /// `Result<T, E>`.
    pub async fn call_keyed<Args, R>(
        fs: &Result<FunctionStash<Args, R>, stash_func::Error>,
        key: EncodedKey,
        compute: impl Future<Output = R>,
    ) -> stash_func::Result<R>
    where
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let fs = fs.as_ref().map_err(Clone::clone)?.stash();
        let _turn = match found_or_turn::<R>(fs, &key).await? {
            Found::Stored(v) => return Ok(v),
            Found::Compute(turn) => turn,
        };
        let out = compute.await;
        Ok(keep(fs, key, out).await?)
    }

    /// [`call_keyed`] of a function returning `Result<T, E>`: only `Ok`
    /// values are stored (bare, as the sync form stores them), errors are
    /// returned and computed again next time.
    pub async fn call_keyed_ok<Args, T, E>(
        fs: &Result<FunctionStash<Args, T>, stash_func::Error>,
        key: EncodedKey,
        compute: impl Future<Output = Result<T, E>>,
    ) -> stash_func::Result<Result<T, E>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let fs = fs.as_ref().map_err(Clone::clone)?.stash();
        let _turn = match found_or_turn::<T>(fs, &key).await? {
            Found::Stored(v) => return Ok(Ok(v)),
            Found::Compute(turn) => turn,
        };
        match compute.await {
            Ok(v) => Ok(Ok(keep(fs, key, v).await?)),
            Err(e) => Ok(Err(e)),
        }
    }
}
