//! `stash.run(f, args)` and the function stash.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::Location;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use stash_core::{EncodedKey, ErrorKind, SetOptions, Stash};

use crate::call::{Call, checked_function_name, folder_name};
use crate::error::Result;
use crate::flight::{DEFAULT_WAIT, Flight};
use crate::map::MapBuilder;
use crate::observe;
use crate::outcome::is_err;

/// The folder under a stash holding cached errors (`cache_errors`).
pub use stash_core::functions::ERRORS_DIR;
/// The folder under a stash holding function results (as in the Python library).
pub use stash_core::functions::RESULTS_DIR;

/// How `run_with` / `try_run_with` behave: `RunOptions::new().force(true)`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunOptions {
    /// Recompute even when a result (or a cached error) is stored, and overwrite it.
    pub force: bool,
    /// For functions returning `Result`: also store `Err` results (in their own
    /// stash, `stashed_errors/<name>`), so a failing call is not retried until
    /// `error_ttl` has passed. Without it, only `Ok` values are stored.
    pub cache_errors: bool,
    /// How long a cached error counts, to the microsecond (never longer than
    /// the stash's own `ttl`); `None`: as long as the stash keeps entries.
    /// `Some(Duration::ZERO)`: errors are not cached.
    pub error_ttl: Option<Duration>,
    /// How long to wait for another caller (thread, process or machine)
    /// computing the same arguments before computing them too; `None`:
    /// [`DEFAULT_WAIT`](crate::DEFAULT_WAIT) (60 s). A timeout costs a
    /// duplicate computation, never a hang (see the crate docs on single flight).
    pub wait_timeout: Option<Duration>,
}

impl RunOptions {
    /// The defaults: use what is stored, store only `Ok` values, wait
    /// [`DEFAULT_WAIT`](crate::DEFAULT_WAIT) for another caller.
    pub fn new() -> RunOptions {
        RunOptions::default()
    }

    /// Recompute (and overwrite) even when a result is stored.
    pub fn force(mut self, on: bool) -> RunOptions {
        self.force = on;
        self
    }

    /// Store `Err` results too (see [`cache_errors`](RunOptions::cache_errors)).
    pub fn cache_errors(mut self, on: bool) -> RunOptions {
        self.cache_errors = on;
        self
    }

    /// How long a cached error counts (see [`error_ttl`](RunOptions::error_ttl)).
    pub fn error_ttl(mut self, ttl: Duration) -> RunOptions {
        self.error_ttl = Some(ttl);
        self
    }

    /// How long to wait for another caller computing the same arguments.
    pub fn wait_timeout(mut self, wait: Duration) -> RunOptions {
        self.wait_timeout = Some(wait);
        self
    }

    /// The wait timeout in effect: [`wait_timeout`](RunOptions::wait_timeout)
    /// or [`DEFAULT_WAIT`](crate::DEFAULT_WAIT).
    pub fn wait(&self) -> Duration {
        self.wait_timeout.unwrap_or(DEFAULT_WAIT)
    }
}

/// The function stash `dir/<name>` of `parent`, opened once per process
/// (and per settings of `parent`).
pub(crate) fn sub_stash(parent: &Stash, dir: &str, name: &str) -> Result<Stash> {
    sub_stash_at(parent, format!("{dir}/{}", folder_name(name)))
}

/// The function stash `rel` (already a safe relative path under a reserved
/// name) of `parent`, opened once per process and per settings of `parent`.
pub(crate) fn sub_stash_at(parent: &Stash, rel: String) -> Result<Stash> {
    Ok(parent.function_sub(&rel)?)
}

/// A version folder name as the macros write them: `code-<hex>` or `v<version>`
/// (engine folders `<engine>.<serializer>.<compress>` never start so).
fn is_version_folder(name: &str) -> bool {
    name.strip_prefix("code-").is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
        || (name.len() > 1 && name.starts_with('v'))
}

/// The value stored under `key`: a read counted in the stash's statistics
/// (`count`), or a second look that is not.
pub(crate) fn lookup<V: DeserializeOwned>(stash: &Stash, key: &EncodedKey, count: bool) -> Result<Option<V>> {
    Ok(if count { stash.get_encoded(key)? } else { stash.peek_encoded(key)? })
}

/// A stored result; an `Err` (which only an earlier version stored) counts as missing.
pub(crate) fn lookup_result<R>(stash: &Stash, key: &EncodedKey, count: bool) -> Result<Option<R>>
where
    R: Serialize + DeserializeOwned,
{
    Ok(lookup::<R>(stash, key, count)?.filter(|r| !is_err(r)))
}

/// Stores `value` through the stash's write path (its TTL, counters and bounds).
pub(crate) fn store<V: Serialize + ?Sized>(stash: &Stash, key: &EncodedKey, value: &V) -> Result<()> {
    Ok(stash.set_encoded(key, value, SetOptions::new())?)
}

/// A cached error: an `Err` stored in the error stash. An entry that does not
/// decode as one (written by an earlier version in another form) counts as
/// missing, and is overwritten by the next failure.
fn lookup_error<R>(errs: &Stash, key: &EncodedKey, count: bool) -> Result<Option<R>>
where
    R: Serialize + DeserializeOwned,
{
    match lookup::<R>(errs, key, count) {
        Ok(found) => Ok(found.filter(is_err)),
        Err(crate::Error::Stash(e)) if e.kind() == ErrorKind::Decode => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stores the `Err` result `out` in the error stash, expiring after `error_ttl`
/// (microseconds, as every entry's expiry), never later than the stash's own TTL.
pub fn store_error<R: Serialize>(
    errs: &Stash,
    key: &EncodedKey,
    out: &R,
    error_ttl: Option<Duration>,
) -> Result<()> {
    let ttl = match (error_ttl, errs.config().ttl) {
        (Some(mine), Some(stash)) => Some(mine.min(stash)),
        (mine, stash) => mine.or(stash),
    };
    let options = match ttl {
        Some(ttl) if ttl.is_zero() => return Ok(()),
        Some(ttl) => SetOptions::new().ttl(ttl),
        None => SetOptions::new(),
    };
    Ok(errs.set_encoded(key, out, options)?)
}

/// Returns the stored value under `key`, or computes it once (single-flight):
/// a miss waits (at most `wait`) for the key's turn, then looks again.
///
/// `look(count)` looks the key up; only the first look is counted in the
/// stash's statistics (and not even that one when `counted` is false: the
/// caller counted it already), so a call is one hit or one miss.
///
/// `function` names the function in log events (feature `tracing`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn get_or_compute<T>(
    function: &str,
    stash: &Stash,
    key: &EncodedKey,
    force: bool,
    counted: bool,
    wait: Duration,
    look: impl Fn(bool) -> Result<Option<T>>,
    compute: impl FnOnce() -> Result<T>,
) -> Result<T> {
    if !force && let Some(v) = look(counted)? {
        return Ok(v);
    }
    let asked = Instant::now();
    let _flight = Flight::acquire(stash, key.digest, wait)?;
    let waited = asked.elapsed();
    if !force && let Some(v) = look(false)? {
        observe::waited(function, &key.digest, waited, true);
        return Ok(v);
    }
    observe::waited(function, &key.digest, waited, false);
    let started = Instant::now();
    let out = compute();
    observe::computed(function, &key.digest, started.elapsed());
    out
}

/// Runs `f(args)` or returns its stored result, in the function stash `fs`.
///
/// One rule for every result: a value that is a `Result::Err` is not stored
/// with the results; it is stored in `errs` (when errors are cached, with
/// `opts.error_ttl`) and found there until it expires. Every read and write
/// goes through the stashes' own paths (TTL, bounds, statistics).
pub(crate) fn run_in<F, Args>(
    name: &str,
    fs: &Stash,
    errs: Option<&Stash>,
    f: &F,
    args: Args,
    opts: &RunOptions,
) -> Result<F::Output>
where
    F: Call<Args>,
    Args: Serialize,
    F::Output: Serialize + DeserializeOwned,
{
    let key = fs.encode_key(&args)?;
    let look = |count: bool| -> Result<Option<F::Output>> {
        if let Some(v) = lookup_result(fs, &key, count)? {
            return Ok(Some(v));
        }
        match errs {
            Some(errs) => lookup_error(errs, &key, count),
            None => Ok(None),
        }
    };
    get_or_compute(name, fs, &key, opts.force, true, opts.wait(), look, || {
        let out = f.call(args);
        if !is_err(&out) {
            store(fs, &key, &out)?;
            if let Some(errs) = errs {
                errs.remove_encoded(&key)?;
            }
        } else if let Some(errs) = errs {
            store_error(errs, &key, &out, opts.error_ttl)?;
        }
        Ok(out)
    })
}

/// The bytes of the files under `path` (itself included), not following links.
fn disk_bytes(path: &std::path::Path) -> Result<u64> {
    let io_err = |e: std::io::Error, p: &std::path::Path| {
        crate::Error::from(
            stash_core::Error::new(stash_core::ErrorKind::Io, format!("measuring old versions: {e}"))
                .with_context("path", p.display()),
        )
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err(e, path)),
    };
    if !meta.is_dir() {
        return Ok(if meta.is_file() { meta.len() } else { 0 });
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path).map_err(|e| io_err(e, path))? {
        let entry = entry.map_err(|e| io_err(e, path))?;
        total += disk_bytes(&entry.path())?;
    }
    Ok(total)
}

/// Stashed function calls on a stash: implemented for [`Stash`], so the
/// facade's `HashStash` has them through `Deref`.
///
/// Rules every method follows:
/// - **Lifecycle.** A function's results live in a sub-stash with the settings
///   of the stash they are run on: its `ttl` (an expired result is computed
///   again), `max_entries` / `max_bytes` (results count toward them and are
///   evicted like entries), its statistics, and its `clear()` (which empties
///   them, from any handle).
/// - **`Result`.** A function returning `Result` has its `Ok` values stored
///   and its `Err` values returned but not stored, so a failed call is retried
///   next time; errors are cached only when asked ([`RunOptions::cache_errors`]).
///   `run` tells a `Result` by how it serializes (serde's `Result` enum, `Err`
///   variant), so this holds for `run`, `try_run` and `map` alike.
/// - **Names.** Results are keyed by the function's name: for a fn item, its
///   type name (`std::any::type_name`, the item's path: see
///   [`function_name`](crate::function_name) on how stable that is). A
///   closure has no stable name (its type name is shared by every closure of
///   the function it is in, its type id changes with the build), and a value
///   with state (a function pointer, a boxed `dyn Fn`) cannot be told apart
///   from another of its type, so `run`, `map` and `function_stash` refuse them
///   (a `Config` error): use [`run_named`](StashRun::run_named) with a name
///   that says what it computes. `#[stashed_result]` names a function
///   `module_path!()::f`, a literal.
pub trait StashRun {
    /// The stash this runs in.
    fn as_stash(&self) -> &Stash;

    /// Calls `f` with `args` (a tuple: `()`, `(a,)`, `(a, b)`, ...), or returns
    /// the result stored for the same arguments. Results live in the sub-stash
    /// `stashed_result/<module path>::<fn name>`; the key is `args`. See the
    /// trait docs for `Result` functions and closures.
    #[track_caller]
    fn run<F, Args>(&self, f: F, args: Args) -> Result<F::Output>
    where
        F: Call<Args> + 'static,
        Args: Serialize,
        F::Output: Serialize + DeserializeOwned,
    {
        self.run_with(f, args, RunOptions::default())
    }

    /// [`run`](StashRun::run) with options (`force` recomputes and overwrites;
    /// `cache_errors` stores the `Err` values of a `Result` function too).
    #[track_caller]
    fn run_with<F, Args>(&self, f: F, args: Args, options: RunOptions) -> Result<F::Output>
    where
        F: Call<Args> + 'static,
        Args: Serialize,
        F::Output: Serialize + DeserializeOwned,
    {
        let name = checked_function_name::<F>(Location::caller(), "run")?;
        run_named_in(self.as_stash(), &name, &f, args, &options)
    }

    /// [`run`](StashRun::run) with an explicit function name (the sub-stash
    /// is `stashed_result/<name>`): the way to stash a closure (name it after
    /// what it computes and what it captured), a name that does not depend on
    /// the compiler, or a way to share results between functions on purpose.
    fn run_named<F, Args>(&self, name: &str, f: F, args: Args) -> Result<F::Output>
    where
        F: Call<Args>,
        Args: Serialize,
        F::Output: Serialize + DeserializeOwned,
    {
        run_named_in(self.as_stash(), name, &f, args, &RunOptions::default())
    }

    /// [`run_named`](StashRun::run_named) with options.
    fn run_named_with<F, Args>(&self, name: &str, f: F, args: Args, options: RunOptions) -> Result<F::Output>
    where
        F: Call<Args>,
        Args: Serialize,
        F::Output: Serialize + DeserializeOwned,
    {
        run_named_in(self.as_stash(), name, &f, args, &options)
    }

    /// [`run`](StashRun::run) of a function returning `Result`, with the types
    /// spelled out: stores `Ok` values only, so a failed call is retried next
    /// time. (`run` follows the same rule; this form only names `T` and `E`.)
    #[track_caller]
    fn try_run<F, Args, T, E>(&self, f: F, args: Args) -> Result<std::result::Result<T, E>>
    where
        F: Call<Args, Output = std::result::Result<T, E>> + 'static,
        Args: Serialize,
        T: Serialize + DeserializeOwned,
        E: Serialize + DeserializeOwned,
    {
        self.try_run_with(f, args, RunOptions::default())
    }

    /// [`try_run`](StashRun::try_run) with options: `cache_errors` stores
    /// errors too (in `stashed_errors/<name>`), each counting for `error_ttl`.
    #[track_caller]
    fn try_run_with<F, Args, T, E>(
        &self,
        f: F,
        args: Args,
        options: RunOptions,
    ) -> Result<std::result::Result<T, E>>
    where
        F: Call<Args, Output = std::result::Result<T, E>> + 'static,
        Args: Serialize,
        T: Serialize + DeserializeOwned,
        E: Serialize + DeserializeOwned,
    {
        let name = checked_function_name::<F>(Location::caller(), "try_run")?;
        run_named_in(self.as_stash(), &name, &f, args, &options)
    }

    /// The stash holding `f`'s results (the Python library's `func.stash`).
    /// Pass the same fn item given to `run` (closures: `function_stash_named`).
    #[track_caller]
    fn function_stash<F, Args>(&self, _f: &F) -> Result<FunctionStash<Args, F::Output>>
    where
        F: Call<Args> + 'static,
    {
        let name = checked_function_name::<F>(Location::caller(), "function_stash")?;
        self.function_stash_named(&name)
    }

    /// The stash holding the errors of `f` cached by `cache_errors`
    /// (`stashed_errors/<name>`): each entry is an argument tuple and the
    /// `Err` it returned, expiring after `error_ttl`.
    #[track_caller]
    fn error_stash<F, Args>(&self, _f: &F) -> Result<Stash>
    where
        F: Call<Args> + 'static,
    {
        let name = checked_function_name::<F>(Location::caller(), "error_stash")?;
        self.error_stash_named(&name)
    }

    /// The error stash of the function named `name` (as given to `run_named`).
    fn error_stash_named(&self, name: &str) -> Result<Stash> {
        sub_stash(self.as_stash(), ERRORS_DIR, name)
    }

    /// Maps `f` over `inputs` on a thread pool: each call is `run(f, (input,))`,
    /// so only inputs without a stored result are computed (and, for a function
    /// returning `Result`, only `Ok` values are stored). Configure the
    /// returned builder, then `start()` (returns at once) or `results()`.
    /// Inputs are kept by the map (for `keys()`, `items()`, `Display`) and
    /// cloned once for their call: wrap large inputs in `Arc`. A closure is
    /// refused as by `run`: use `map_named`.
    #[track_caller]
    fn map<F, I, R>(&self, f: F, inputs: impl IntoIterator<Item = I>) -> Result<MapBuilder<I, R>>
    where
        F: Call<(I,), Output = R> + Send + Sync + 'static,
        I: Serialize + Clone + Send + Sync + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let name = checked_function_name::<F>(Location::caller(), "map")?;
        self.map_named(&name, f, inputs)
    }

    /// [`map`](StashRun::map) with an explicit function name (the results are
    /// those of `run_named(name, f, (input,))`).
    fn map_named<F, I, R>(
        &self,
        name: &str,
        f: F,
        inputs: impl IntoIterator<Item = I>,
    ) -> Result<MapBuilder<I, R>>
    where
        F: Call<(I,), Output = R> + Send + Sync + 'static,
        I: Serialize + Clone + Send + Sync + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let fs = sub_stash(self.as_stash(), RESULTS_DIR, name)?;
        Ok(MapBuilder::new(fs, name.to_string(), move |i| f.call((i,)), inputs))
    }

    /// [`map`](StashRun::map) of a two-argument function with a common second
    /// argument: each call is `run(f, (input, common.clone()))`, so `common` is
    /// part of every result's key (the Python library's `**common_kwargs`;
    /// pass a tuple or struct for several).
    #[track_caller]
    fn map_with<F, I, C, R>(
        &self,
        f: F,
        inputs: impl IntoIterator<Item = I>,
        common: C,
    ) -> Result<MapBuilder<I, R>>
    where
        F: Call<(I, C), Output = R> + Send + Sync + 'static,
        I: Serialize + Clone + Send + Sync + 'static,
        C: Serialize + Clone + fmt::Debug + Send + Sync + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let name = checked_function_name::<F>(Location::caller(), "map_with")?;
        let fs = sub_stash(self.as_stash(), RESULTS_DIR, &name)?;
        Ok(MapBuilder::with_common(fs, name, move |i, c| f.call((i, c)), inputs, common))
    }

    /// The function stash named `name` (as given to `run_named`).
    fn function_stash_named<Args, R>(&self, name: &str) -> Result<FunctionStash<Args, R>> {
        Ok(FunctionStash::new(sub_stash(self.as_stash(), RESULTS_DIR, name)?, name))
    }
}

/// `run` of the function named `name` under `parent` (its results stash, and
/// its error stash when errors are cached).
fn run_named_in<F, Args>(
    parent: &Stash,
    name: &str,
    f: &F,
    args: Args,
    opts: &RunOptions,
) -> Result<F::Output>
where
    F: Call<Args>,
    Args: Serialize,
    F::Output: Serialize + DeserializeOwned,
{
    let fs = sub_stash(parent, RESULTS_DIR, name)?;
    let errs = if opts.cache_errors { Some(sub_stash(parent, ERRORS_DIR, name)?) } else { None };
    run_in(name, &fs, errs.as_ref(), f, args, opts)
}

impl StashRun for Stash {
    fn as_stash(&self) -> &Stash {
        self
    }
}

/// The stash of one function's results: keys are argument tuples, values
/// results. Derefs to [`Stash`] for `len`, `clear`, `raw_items`, ...
pub struct FunctionStash<Args, R> {
    stash: Stash,
    name: String,
    /// The code version folder (`code-<hex>` or `v<version>`) of macro-made stashes.
    version: Option<String>,
    _types: PhantomData<fn() -> (Args, R)>,
}

impl<Args, R> Clone for FunctionStash<Args, R> {
    fn clone(&self) -> Self {
        FunctionStash {
            stash: self.stash.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
            _types: PhantomData,
        }
    }
}

impl<Args, R> FunctionStash<Args, R> {
    /// Wraps a function's result stash.
    pub fn new(stash: Stash, name: impl Into<String>) -> Self {
        FunctionStash { stash, name: name.into(), version: None, _types: PhantomData }
    }

    /// Marks this stash as the code version `version` of its function: its
    /// folder is `stashed_result/<name>/<version>` (what the macros open).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The code version folder (`code-<hex>` or `v<version>`) of a stash made
    /// by `#[stashed_result]` / `#[stash_mapped]`; `None` for `run` stashes.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The folder holding this function's version folders, and the current
    /// version's folder name; `None` when unversioned or not on disk.
    fn versions_dir(&self) -> Option<(PathBuf, String)> {
        let version = self.version.as_deref()?;
        if !self.stash.engine().capabilities().persistent {
            return None;
        }
        // `<function>/<version>/<engine>.<serializer>.<compress>/data.db`
        let version_dir = self.stash.path().parent()?.parent()?;
        let current = version_dir.file_name()?.to_string_lossy().into_owned();
        if current != folder_name(version) {
            return None;
        }
        Some((version_dir.parent()?.to_path_buf(), current))
    }

    /// Older code versions of this function still on disk: the sibling
    /// folders (`code-<hex>` written by an earlier body, `v<version>`) of the
    /// current version's folder, sorted; never the current one. Empty for
    /// stashes not made by the macros (`run`, `function_stash_named`) and for
    /// engines that keep nothing on disk (`memory`).
    pub fn old_versions(&self) -> Result<Vec<String>> {
        let Some((dir, current)) = self.versions_dir() else { return Ok(vec![]) };
        let io_err = |e: std::io::Error, path: &std::path::Path| {
            crate::Error::from(
                stash_core::Error::new(stash_core::ErrorKind::Io, format!("listing old versions: {e}"))
                    .with_context("path", path.display()),
            )
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io_err(e, &dir)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err(e, &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().map_err(|e| io_err(e, &entry.path()))?.is_dir();
            if is_dir && name != current && is_version_folder(&name) {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The bytes the files of [`old_versions`](FunctionStash::old_versions)
    /// take on disk (every engine's data in their folders; links are not
    /// followed): what [`prune_old_versions`](FunctionStash::prune_old_versions)
    /// would free. 0 when there are none.
    pub fn old_versions_bytes(&self) -> Result<u64> {
        let Some((dir, _)) = self.versions_dir() else { return Ok(0) };
        let mut total = 0;
        for name in self.old_versions()? {
            total += disk_bytes(&dir.join(name))?;
        }
        Ok(total)
    }

    /// Deletes the folders of [`old_versions`](FunctionStash::old_versions)
    /// (every engine's data in them) and returns how many were removed; the
    /// current version is never touched. `Ok(0)` for the `memory` engine and
    /// unversioned stashes. Handles this process opened on a removed version
    /// are forgotten; other processes still using an old version lose it.
    pub fn prune_old_versions(&self) -> Result<usize> {
        let Some((dir, _)) = self.versions_dir() else { return Ok(0) };
        let old = self.old_versions()?;
        for name in &old {
            let path = dir.join(name);
            stash_core::functions::forget_under(&path);
            std::fs::remove_dir_all(&path).map_err(|e| {
                crate::Error::from(
                    stash_core::Error::new(
                        stash_core::ErrorKind::Io,
                        format!("removing an old version: {e}"),
                    )
                    .with_context("path", path.display()),
                )
            })?;
        }
        Ok(old.len())
    }

    /// The function's name (`module::path::fn`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying stash.
    pub fn stash(&self) -> &Stash {
        &self.stash
    }

    /// The stored result for `args`, if any (Python's `func.stash.get_func(*args)`).
    pub fn get_func(&self, args: &Args) -> Result<Option<R>>
    where
        Args: Serialize,
        R: DeserializeOwned,
    {
        Ok(self.stash.get(args)?)
    }

    /// The key a function with `#[stashed_result(store_args = false)]`
    /// stores for the key `args` (its arguments, or its `key = ...`): the
    /// digest of `args` encoded by this stash, 32 hex characters. Look a
    /// result up with `get_func(&fs.args_digest(&args)?)`.
    pub fn args_digest<K: Serialize + ?Sized>(&self, args: &K) -> Result<String> {
        Ok(self.stash.encode_key(args)?.digest.to_hex())
    }

    /// Streams `(args, result)` pairs.
    pub fn items(&self) -> Result<impl Iterator<Item = Result<(Args, R)>> + use<Args, R>>
    where
        Args: DeserializeOwned,
        R: DeserializeOwned,
    {
        Ok(self.stash.items::<Args, R>()?.map(|r| r.map_err(Into::into)))
    }

    /// Streams the argument tuples called so far.
    pub fn keys(&self) -> Result<impl Iterator<Item = Result<Args>> + use<Args, R>>
    where
        Args: DeserializeOwned,
    {
        Ok(self.stash.keys::<Args>()?.map(|r| r.map_err(Into::into)))
    }

    /// Streams the stored results.
    pub fn values(&self) -> Result<impl Iterator<Item = Result<R>> + use<Args, R>>
    where
        R: DeserializeOwned,
    {
        Ok(self.stash.values::<R>()?.map(|r| r.map_err(Into::into)))
    }
}

impl<Args, R> Deref for FunctionStash<Args, R> {
    type Target = Stash;
    fn deref(&self) -> &Stash {
        &self.stash
    }
}

impl<Args, R> fmt::Display for FunctionStash<Args, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.stash, f)
    }
}

impl<Args, R> fmt::Debug for FunctionStash<Args, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionStash").field("name", &self.name).field("stash", &self.stash).finish()
    }
}
