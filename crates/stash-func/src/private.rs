//! Items the macros' generated code calls. Not a public API.
#![doc(hidden)]

use serde::Serialize;
use serde::de::DeserializeOwned;
pub use stash_core::Stash;

use crate::call::{Call, folder_name};
pub use crate::error::Error;
use crate::map::MapBuilder;
use crate::run::{FunctionStash, RESULTS_DIR, run_in, run_ok_in, sub_stash_at};

/// Opens the function stash `stashed_result/<name>/<version>` under `parent`.
pub fn function_stash<Args, R>(
    parent: Result<&Stash, Error>,
    name: &str,
    version: &str,
) -> Result<FunctionStash<Args, R>, Error> {
    let parent = parent?;
    let rel = format!("{RESULTS_DIR}/{}/{}", folder_name(name), folder_name(version));
    Ok(FunctionStash::new(sub_stash_at(parent, rel)?, name))
}

/// Calls through the function stash (the `try_` form: stash errors are returned).
pub fn call<F, Args, R>(fs: &Result<FunctionStash<Args, R>, Error>, f: F, args: Args) -> Result<R, Error>
where
    F: Call<Args, Output = R>,
    Args: Serialize,
    R: Serialize + DeserializeOwned,
{
    let fs = fs.as_ref().map_err(Clone::clone)?;
    run_in(fs.stash(), &f, args, false)
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
