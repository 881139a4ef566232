//! `stash.run(f, args)` and the function stash.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::Location;
use std::path::PathBuf;
use std::sync::{LazyLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use stash_core::{EncodedKey, Stash, WriteOptions};

use crate::call::{Call, folder_name, function_name};
use crate::error::Result;
use crate::flight::{DEFAULT_WAIT, Flight};
use crate::map::MapBuilder;

/// The folder under a stash holding function results (as in the Python library).
pub const RESULTS_DIR: &str = "stashed_result";
/// The folder under a stash holding cached errors of `try_run` with `cache_errors`.
pub const ERRORS_DIR: &str = "stashed_errors";

/// How `run_with` / `try_run_with` behave.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Recompute even when a result is stored, and overwrite it.
    pub force: bool,
    /// `try_run`: also store `Err` results (in their own stash), so a failing
    /// call is not retried until `error_ttl` has passed.
    pub cache_errors: bool,
    /// How long a cached error counts; `None`: forever.
    pub error_ttl: Option<Duration>,
    /// How long to wait for another caller (thread, process or machine)
    /// computing the same arguments before computing them too; `None`:
    /// [`DEFAULT_WAIT`](crate::DEFAULT_WAIT) (60 s). A timeout costs a
    /// duplicate computation, never a hang (see the crate docs on single flight).
    pub wait_timeout: Option<Duration>,
}

impl RunOptions {
    /// The wait timeout in effect: [`wait_timeout`](RunOptions::wait_timeout)
    /// or [`DEFAULT_WAIT`](crate::DEFAULT_WAIT).
    pub fn wait(&self) -> Duration {
        self.wait_timeout.unwrap_or(DEFAULT_WAIT)
    }
}

static SUBS: LazyLock<RwLock<HashMap<(PathBuf, String), Stash>>> = LazyLock::new(Default::default);

/// The sub-stash `dir/<name>` of `parent`, opened once per process.
pub(crate) fn sub_stash(parent: &Stash, dir: &str, name: &str) -> Result<Stash> {
    sub_stash_at(parent, format!("{dir}/{}", folder_name(name)))
}

/// The sub-stash `rel` (already a safe relative path) of `parent`, opened once per process.
pub(crate) fn sub_stash_at(parent: &Stash, rel: String) -> Result<Stash> {
    let key = (parent.path().to_path_buf(), rel);
    if let Some(s) = SUBS.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(s.clone());
    }
    let mut subs = SUBS.write().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = subs.get(&key) {
        return Ok(s.clone());
    }
    let sub = parent.sub(&key.1)?;
    subs.insert(key, sub.clone());
    Ok(sub)
}

/// Drops the process-wide handles of sub-stashes stored under `dir`.
pub(crate) fn forget_under(dir: &std::path::Path) {
    SUBS.write().unwrap_or_else(|e| e.into_inner()).retain(|_, s| !s.path().starts_with(dir));
}

/// A version folder name as the macros write them: `code-<hex>` or `v<version>`
/// (engine folders `<engine>.<serializer>.<compress>` never start so).
fn is_version_folder(name: &str) -> bool {
    name.strip_prefix("code-").is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
        || (name.len() > 1 && name.starts_with('v'))
}

pub(crate) fn write_options(stash: &Stash) -> WriteOptions {
    if stash.config().append_mode { WriteOptions::APPEND } else { WriteOptions::REPLACE }
}

pub(crate) fn lookup<V: DeserializeOwned>(stash: &Stash, key: &EncodedKey) -> Result<Option<V>> {
    let stored = stash
        .engine()
        .get(&key.digest, &key.bytes)
        .map_err(|e| e.with_context("stash", stash).with_context("digest", key.digest))?;
    match stored {
        None => Ok(None),
        Some(bytes) => Ok(Some(stash.decode_value(&bytes)?)),
    }
}

pub(crate) fn store<V: Serialize + ?Sized>(stash: &Stash, key: &EncodedKey, value: &V) -> Result<()> {
    let bytes = stash.encode_value(value)?;
    stash
        .engine()
        .put(&key.digest, &key.bytes, &bytes, write_options(stash))
        .map_err(|e| e.with_context("stash", stash).with_context("digest", key.digest))?;
    Ok(())
}

/// Returns the stored value under `key`, or computes it once (single-flight):
/// a miss waits (at most `wait`) for the key's turn, then looks again.
pub(crate) fn get_or_compute<T>(
    stash: &Stash,
    key: &EncodedKey,
    force: bool,
    wait: Duration,
    look: impl Fn() -> Result<Option<T>>,
    compute: impl FnOnce() -> Result<T>,
) -> Result<T> {
    if !force && let Some(v) = look()? {
        return Ok(v);
    }
    let _flight = Flight::acquire(stash, key.digest, wait)?;
    if !force && let Some(v) = look()? {
        return Ok(v);
    }
    compute()
}

/// Runs `f(args)` or returns its stored result, in the function stash `fs`.
pub(crate) fn run_in<F, Args>(fs: &Stash, f: &F, args: Args, opts: &RunOptions) -> Result<F::Output>
where
    F: Call<Args>,
    Args: Serialize,
    F::Output: Serialize + DeserializeOwned,
{
    let key = fs.encode_key(&args)?;
    get_or_compute(
        fs,
        &key,
        opts.force,
        opts.wait(),
        || lookup(fs, &key),
        || {
            let out = f.call(args);
            store(fs, &key, &out)?;
            Ok(out)
        },
    )
}

/// Runs a function returning `Result` in `fs`: stores `Ok` values only.
pub(crate) fn run_ok_in<F, Args, T, E>(fs: &Stash, f: &F, args: Args) -> Result<std::result::Result<T, E>>
where
    F: Call<Args, Output = std::result::Result<T, E>>,
    Args: Serialize,
    T: Serialize + DeserializeOwned,
{
    let key = fs.encode_key(&args)?;
    get_or_compute(
        fs,
        &key,
        false,
        DEFAULT_WAIT,
        || Ok(lookup::<T>(fs, &key)?.map(Ok)),
        || {
            let out = f.call(args);
            if let Ok(v) = &out {
                store(fs, &key, v)?;
            }
            Ok(out)
        },
    )
}

#[derive(Serialize, serde::Deserialize)]
struct StoredError<E> {
    error: E,
    /// Seconds since the epoch after which the error no longer counts.
    expires_at: Option<u64>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `try_run` in the function stash `fs` (errors in `errs` when cached).
pub(crate) fn try_run_in<F, Args, T, E>(
    fs: &Stash,
    errs: Option<&Stash>,
    f: &F,
    args: Args,
    opts: &RunOptions,
) -> Result<std::result::Result<T, E>>
where
    F: Call<Args, Output = std::result::Result<T, E>>,
    Args: Serialize,
    T: Serialize + DeserializeOwned,
    E: Serialize + DeserializeOwned,
{
    let key = fs.encode_key(&args)?;
    let look = || -> Result<Option<std::result::Result<T, E>>> {
        if let Some(v) = lookup::<T>(fs, &key)? {
            return Ok(Some(Ok(v)));
        }
        if let Some(errs) = errs
            && let Some(e) = lookup::<StoredError<E>>(errs, &key)?
            && e.expires_at.is_none_or(|t| t > now_secs())
        {
            return Ok(Some(Err(e.error)));
        }
        Ok(None)
    };
    get_or_compute(fs, &key, opts.force, opts.wait(), look, || {
        let out = f.call(args);
        match (&out, errs) {
            (Ok(v), _) => {
                store(fs, &key, v)?;
                if let Some(errs) = errs {
                    errs.engine().delete(&key.digest, &key.bytes)?;
                }
            }
            (Err(e), Some(errs)) => {
                let expires_at = opts.error_ttl.map(|ttl| now_secs() + ttl.as_secs().max(1));
                store(errs, &key, &StoredError { error: e, expires_at })?;
            }
            (Err(_), None) => {}
        }
        Ok(out)
    })
}

/// Stashed function calls on a stash: implemented for [`Stash`], so the
/// facade's `HashStash` has them through `Deref`.
pub trait StashRun {
    /// The stash this runs in.
    fn as_stash(&self) -> &Stash;

    /// Calls `f` with `args` (a tuple: `()`, `(a,)`, `(a, b)`, ...), or returns
    /// the result stored for the same arguments. Results live in the sub-stash
    /// `stashed_result/<module path>::<fn name>`; the key is `args`.
    #[track_caller]
    fn run<F, Args>(&self, f: F, args: Args) -> Result<F::Output>
    where
        F: Call<Args> + 'static,
        Args: Serialize,
        F::Output: Serialize + DeserializeOwned,
    {
        self.run_with(f, args, RunOptions::default())
    }

    /// [`run`](StashRun::run) with options (`force` recomputes and overwrites).
    #[track_caller]
    fn run_with<F, Args>(&self, f: F, args: Args, options: RunOptions) -> Result<F::Output>
    where
        F: Call<Args> + 'static,
        Args: Serialize,
        F::Output: Serialize + DeserializeOwned,
    {
        let name = function_name::<F>(Location::caller());
        let fs = sub_stash(self.as_stash(), RESULTS_DIR, &name)?;
        run_in(&fs, &f, args, &options)
    }

    /// [`run`](StashRun::run) with an explicit function name (the sub-stash
    /// is `stashed_result/<name>`): a durable name for closures, or a way to
    /// share results between functions on purpose.
    fn run_named<F, Args>(&self, name: &str, f: F, args: Args) -> Result<F::Output>
    where
        F: Call<Args>,
        Args: Serialize,
        F::Output: Serialize + DeserializeOwned,
    {
        let fs = sub_stash(self.as_stash(), RESULTS_DIR, name)?;
        run_in(&fs, &f, args, &RunOptions::default())
    }

    /// Runs a function returning `Result`: stores `Ok` values only, so a
    /// failed call is retried next time.
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
        let name = function_name::<F>(Location::caller());
        let fs = sub_stash(self.as_stash(), RESULTS_DIR, &name)?;
        let errs =
            if options.cache_errors { Some(sub_stash(self.as_stash(), ERRORS_DIR, &name)?) } else { None };
        try_run_in(&fs, errs.as_ref(), &f, args, &options)
    }

    /// The stash holding `f`'s results (the Python library's `func.stash`).
    /// Pass the same function (or closure) given to `run`.
    #[track_caller]
    fn function_stash<F, Args>(&self, _f: &F) -> Result<FunctionStash<Args, F::Output>>
    where
        F: Call<Args> + 'static,
    {
        let name = function_name::<F>(Location::caller());
        self.function_stash_named(&name)
    }

    /// Maps `f` over `inputs` on a thread pool: each call is `run(f, (input,))`,
    /// so only inputs without a stored result are computed. Configure the
    /// returned builder, then `start()` (returns at once) or `results()`.
    /// Inputs are kept by the map (for `keys()`, `items()`, `Display`) and
    /// cloned once for their call: wrap large inputs in `Arc`.
    #[track_caller]
    fn map<F, I, R>(&self, f: F, inputs: impl IntoIterator<Item = I>) -> Result<MapBuilder<I, R>>
    where
        F: Call<(I,), Output = R> + Send + Sync + 'static,
        I: Serialize + Clone + Send + Sync + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let name = function_name::<F>(Location::caller());
        let fs = sub_stash(self.as_stash(), RESULTS_DIR, &name)?;
        Ok(MapBuilder::new(fs, name, move |i| f.call((i,)), inputs))
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
        let name = function_name::<F>(Location::caller());
        let fs = sub_stash(self.as_stash(), RESULTS_DIR, &name)?;
        Ok(MapBuilder::with_common(fs, name, move |i, c| f.call((i, c)), inputs, common))
    }

    /// The function stash named `name` (as given to `run_named`).
    fn function_stash_named<Args, R>(&self, name: &str) -> Result<FunctionStash<Args, R>> {
        Ok(FunctionStash::new(sub_stash(self.as_stash(), RESULTS_DIR, name)?, name))
    }
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
            forget_under(&path);
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
