//! Items the macros' generated code calls. Not a public API.
#![doc(hidden)]

use serde::Serialize;
use serde::de::DeserializeOwned;
pub use stash_core::Stash;

use crate::call::{Call, folder_name};
pub use crate::error::Error;
use crate::flight::DEFAULT_WAIT;
use crate::map::MapBuilder;
use crate::run::{
    FunctionStash, RESULTS_DIR, RunOptions, get_or_compute, lookup, run_in, run_ok_in, store, sub_stash_at,
};

/// Opens the function stash `stashed_result/<name>/<version>` under `parent`.
pub fn function_stash<Args, R>(
    parent: Result<&Stash, Error>,
    name: &str,
    version: &str,
) -> Result<FunctionStash<Args, R>, Error> {
    let parent = parent?;
    let rel = format!("{RESULTS_DIR}/{}/{}", folder_name(name), folder_name(version));
    Ok(FunctionStash::new(sub_stash_at(parent, rel)?, name).with_version(version))
}

/// Calls through the function stash (the `try_` form: stash errors are returned).
pub fn call<F, Args, R>(fs: &Result<FunctionStash<Args, R>, Error>, f: F, args: Args) -> Result<R, Error>
where
    F: Call<Args, Output = R>,
    Args: Serialize,
    R: Serialize + DeserializeOwned,
{
    let fs = fs.as_ref().map_err(Clone::clone)?;
    run_in(fs.stash(), &f, args, &RunOptions::default())
}

/// Calls a function returning `Result<T, E>`: `Ok` values are stored, errors
/// are not; a stash error comes back as the outer `Err`.
pub fn call_result<F, Args, T, E>(
    fs: &Result<FunctionStash<Args, T>, Error>,
    f: F,
    args: Args,
) -> Result<Result<T, E>, Error>
where
    F: Call<Args, Output = Result<T, E>>,
    Args: Serialize,
    T: Serialize + DeserializeOwned,
{
    let fs = fs.as_ref().map_err(Clone::clone)?;
    run_ok_in(fs.stash(), &f, args)
}

/// The panicking form's failure: names the function, its stash and the cause.
#[cold]
#[track_caller]
pub fn fail<Args, R>(name: &str, fs: &Result<FunctionStash<Args, R>, Error>, e: Error) -> ! {
    match fs {
        Ok(fs) => panic!(
            "#[stashed_result] `{name}`: stash {} failed: {e} (call `try_{}` to handle the error)",
            fs.stash(),
            short(name)
        ),
        Err(_) => panic!(
            "#[stashed_result] `{name}`: cannot open its stash: {e} (call `try_{}` to handle the error)",
            short(name)
        ),
    }
}

fn short(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

/// The accessor's value: the function stash, or why it could not be opened.
pub fn accessor<Args, R>(
    fs: &Result<FunctionStash<Args, R>, Error>,
) -> Result<FunctionStash<Args, R>, Error> {
    fs.clone()
}

/// `#[stash_mapped]`: a map over the function stash (`common` is part of every key).
pub fn map<F, I, C, R>(
    fs: &Result<FunctionStash<(I, C), R>, Error>,
    f: F,
    inputs: impl IntoIterator<Item = I>,
    common: C,
) -> Result<MapBuilder<I, R>, Error>
where
    F: Fn(I, C) -> R + Send + Sync + 'static,
    I: Serialize + Clone + Send + Sync + 'static,
    C: Serialize + Clone + std::fmt::Debug + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let fs = fs.as_ref().map_err(Clone::clone)?;
    Ok(MapBuilder::with_common(fs.stash().clone(), fs.name().to_string(), f, inputs, common))
}

/// `#[stash_mapped]` of a one-argument function.
pub fn map1<F, I, R>(
    fs: &Result<FunctionStash<(I,), R>, Error>,
    f: F,
    inputs: impl IntoIterator<Item = I>,
) -> Result<MapBuilder<I, R>, Error>
where
    F: Fn(I) -> R + Send + Sync + 'static,
    I: Serialize + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let fs = fs.as_ref().map_err(Clone::clone)?;
    Ok(MapBuilder::new(fs.stash().clone(), fs.name().to_string(), f, inputs))
}

type ParentCell = Result<Stash, Error>;

static PARENTS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<&'static str, &'static ParentCell>>,
> = std::sync::LazyLock::new(Default::default);

/// The stash a `#[stashed_result]` function's results live under, opened once
/// per process for the function `id` (shared by `f`, `try_f` and `f_stash`,
/// wherever they are defined: free, or associated items of an impl).
pub fn parent(id: &'static str, open: impl FnOnce() -> Result<Stash, Error>) -> &'static ParentCell {
    let mut parents = PARENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = parents.get(id) {
        return p;
    }
    let cell: &'static ParentCell = Box::leak(Box::new(open()));
    parents.insert(id, cell);
    cell
}

/// Opens the function stash under a parent cell (see [`parent`]).
pub fn function_stash_in<Args, R>(
    parent: &ParentCell,
    name: &str,
    version: &str,
) -> Result<FunctionStash<Args, R>, Error> {
    function_stash(parent.as_ref().map_err(Clone::clone), name, version)
}

/// The key of a call, encoded before the call so the arguments (and `self`)
/// can be moved into it afterwards.
pub fn encode_key<K: Serialize + ?Sized, Args, R>(
    fs: &Result<FunctionStash<Args, R>, Error>,
    key: &K,
) -> Result<stash_core::EncodedKey, Error> {
    let fs = fs.as_ref().map_err(Clone::clone)?;
    Ok(fs.stash().encode_key(key)?)
}

/// Returns the result stored under `key`, or runs `f` once and stores it.
pub fn call_keyed<Args, R>(
    fs: &Result<FunctionStash<Args, R>, Error>,
    key: stash_core::EncodedKey,
    f: impl FnOnce() -> R,
) -> Result<R, Error>
where
    R: Serialize + DeserializeOwned,
{
    let fs = fs.as_ref().map_err(Clone::clone)?.stash();
    get_or_compute(
        fs,
        &key,
        false,
        DEFAULT_WAIT,
        || lookup(fs, &key),
        || {
            let out = f();
            store(fs, &key, &out)?;
            Ok(out)
        },
    )
}

/// [`call_keyed`] of a function returning `Result<T, E>`: stores `Ok` values only.
pub fn call_keyed_ok<Args, T, E>(
    fs: &Result<FunctionStash<Args, T>, Error>,
    key: stash_core::EncodedKey,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<Result<T, E>, Error>
where
    T: Serialize + DeserializeOwned,
{
    let fs = fs.as_ref().map_err(Clone::clone)?.stash();
    get_or_compute(
        fs,
        &key,
        false,
        DEFAULT_WAIT,
        || Ok(lookup::<T>(fs, &key)?.map(Ok)),
        || {
            let out = f();
            if let Ok(v) = &out {
                store(fs, &key, v)?;
            }
            Ok(out)
        },
    )
}
