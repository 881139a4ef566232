//! Items the macros' generated code calls. Not a public API.
#![doc(hidden)]

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
pub use stash_core::Stash;

use crate::call::folder_name;
pub use crate::error::Error;
use crate::flight::DEFAULT_WAIT;
use crate::map::MapBuilder;
// Also for `stash-async`, which stores results by the same rules.
pub use crate::outcome::is_err;
pub use crate::run::store_error;
use crate::run::{FunctionStash, RESULTS_DIR, get_or_compute, lookup, lookup_result, store, sub_stash_at};

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

/// The first pause before a failed open of a function's stash is retried;
/// each further failure doubles it, up to [`MAX_RETRY_PAUSE`].
pub const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between two tries to open a function's stash.
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// The stash a `#[stashed_result]` function's results live under: opened on
/// first use, kept once it opened. A failed open is not kept: it is returned
/// to callers until a pause has passed (100 ms after the first failure,
/// doubling to 5 s), then the next caller tries again.
#[derive(Default)]
pub struct ParentCell {
    opened: OnceLock<Stash>,
    failed: Mutex<Option<Failure>>,
}

/// The last failed open, and when the next try may run.
struct Failure {
    error: Error,
    retry_at: Instant,
    pause: Duration,
}

impl ParentCell {
    /// The opened stash, or `open()` run now (without any lock held, so
    /// opens of different functions never wait for each other and an `open`
    /// that calls another stashed function cannot deadlock), or the last
    /// error while its retry pause lasts. Callers racing on a first open may
    /// each open; the first success is kept.
    fn get(&self, now: Instant, open: impl FnOnce() -> Result<Stash, Error>) -> Result<&Stash, Error> {
        if let Some(s) = self.opened.get() {
            return Ok(s);
        }
        {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = failed.as_mut() {
                if now < f.retry_at {
                    return Err(f.error.clone());
                }
                // This caller retries; the others get the last error meanwhile.
                f.retry_at = now + f.pause;
            }
        }
        match open() {
            Ok(stash) => {
                let kept = self.opened.get_or_init(|| stash);
                *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Ok(kept)
            }
            Err(error) => {
                let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
                let pause = match failed.as_ref() {
                    Some(f) => (f.pause * 2).min(MAX_RETRY_PAUSE),
                    None => FIRST_RETRY_PAUSE,
                };
                *failed = Some(Failure { error: error.clone(), retry_at: now + pause, pause });
                Err(error)
            }
        }
    }
}

/// One cell per function, for the life of the process (a few per annotated function).
static PARENTS: LazyLock<Mutex<HashMap<&'static str, &'static ParentCell>>> = LazyLock::new(Default::default);

/// The stash a `#[stashed_result]` function's results live under, shared by
/// `f`, `try_f` and `f_stash` of the function `id` (wherever they are
/// defined: free, or associated items of an impl); `local` is the calling
/// item's own fast path to the cell. Only a successful open is kept (see
/// [`ParentCell`]); the process-wide registry is locked only to find the
/// cell, never while opening.
pub fn parent(
    local: &'static OnceLock<&'static ParentCell>,
    id: &'static str,
    open: impl FnOnce() -> Result<Stash, Error>,
) -> Result<&'static Stash, Error> {
    let cell: &'static ParentCell = local.get_or_init(|| {
        let mut parents = PARENTS.lock().unwrap_or_else(|e| e.into_inner());
        parents.entry(id).or_insert_with(|| Box::leak(Box::default()))
    });
    cell.get(Instant::now(), open)
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

/// Returns the result stored under `key`, or runs `f` once and stores it
/// (unless it is a `Result::Err`, under a return type the macro did not see
/// spelled `Result<T, E>`: an alias, say; the rule is `run`'s).
pub fn call_keyed<Args, R>(
    fs: &Result<FunctionStash<Args, R>, Error>,
    key: stash_core::EncodedKey,
    f: impl FnOnce() -> R,
) -> Result<R, Error>
where
    R: Serialize + DeserializeOwned,
{
    let fs = fs.as_ref().map_err(Clone::clone)?;
    let (name, fs) = (fs.name(), fs.stash());
    get_or_compute(
        name,
        fs,
        &key,
        false,
        true,
        DEFAULT_WAIT,
        |count| lookup_result(fs, &key, count),
        || {
            let out = f();
            if !is_err(&out) {
                store(fs, &key, &out)?;
            }
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
    let fs = fs.as_ref().map_err(Clone::clone)?;
    let (name, fs) = (fs.name(), fs.stash());
    get_or_compute(
        name,
        fs,
        &key,
        false,
        true,
        DEFAULT_WAIT,
        |count| Ok(lookup::<T>(fs, &key, count)?.map(Ok)),
        || {
            let out = f();
            if let Ok(v) = &out {
                store(fs, &key, v)?;
            }
            Ok(out)
        },
    )
}

/// A function's own settings (`#[stashed_result(ttl = .., max_entries = ..,
/// append = ..)]`), over those of the stash its results live under.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// How long a result counts.
    pub ttl: Option<Duration>,
    /// How many results are kept.
    pub max_entries: Option<u64>,
    /// Whether a recomputed result is a new version of its key.
    pub append: Option<bool>,
}

/// The stash a function's results live under: `parent` itself, or, when the
/// function has settings of its own, `parent` opened again with them (same
/// folder and engine, never cleared by this open), so its function stash
/// inherits them.
pub fn configure(parent: &Stash, settings: Settings) -> Result<Stash, Error> {
    let Settings { ttl, max_entries, append } = settings;
    if ttl.is_none() && max_entries.is_none() && append.is_none() {
        return Ok(parent.clone());
    }
    let mut config = parent.config().clone();
    config.clear = false;
    if let Some(ttl) = ttl {
        config.ttl = Some(ttl);
    }
    if let Some(max) = max_entries {
        config.max_entries = Some(max);
    }
    if let Some(append) = append {
        config.append_mode = append;
    }
    Ok(Stash::open(config, parent.engine_factory().clone())?)
}

/// `prune_old_versions = true`: deletes the folders of the function's other
/// code versions under `parent` (see [`FunctionStash::prune_old_versions`]).
pub fn prune_other_versions<Args, R>(parent: &Stash, name: &str, version: &str) -> Result<(), Error> {
    function_stash::<Args, R>(Ok(parent), name, version)?.prune_old_versions()?;
    Ok(())
}

/// A code version with its dependencies' fingerprints: `code-<16 hex>` of
/// all of them when `own` is a code fingerprint, `<own>-deps-<8 hex>` when it
/// is an explicit `v<version>`.
pub fn combine_fingerprints(own: &str, deps: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(own.as_bytes());
    for d in deps {
        h.update(b"\n");
        h.update(d.as_bytes());
    }
    let hex = h.finalize().to_hex();
    if own.starts_with("code-") {
        format!("code-{}", &hex[..16])
    } else {
        format!("{own}-deps-{}", &hex[..8])
    }
}

/// The key of a call under `store_args = false`: the digest of the encoded
/// key (32 hex characters), stored in its place.
pub fn encode_digest_key<K: Serialize + ?Sized, Args, R>(
    fs: &Result<FunctionStash<Args, R>, Error>,
    key: &K,
) -> Result<stash_core::EncodedKey, Error> {
    let fs = fs.as_ref().map_err(Clone::clone)?;
    let digest = fs.args_digest(key)?;
    Ok(fs.stash().encode_key(&digest)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::Arc;

    fn memory() -> Stash {
        let cfg = {
            let mut config = stash_core::StashConfig::default();
            config.engine = "memory".into();
            config
        };
        Stash::open(cfg, Arc::new(stash_engine_memory::Memory)).unwrap()
    }

    fn down() -> Result<Stash, Error> {
        Err(stash_core::Error::new(stash_core::ErrorKind::Unavailable, "server down").into())
    }

    #[test]
    fn a_failed_open_is_retried_after_a_growing_pause_and_success_is_kept() {
        let cell = ParentCell::default();
        let opens = Cell::new(0);
        let t0 = Instant::now();
        let failing = || {
            opens.set(opens.get() + 1);
            down()
        };
        assert!(cell.get(t0, failing).is_err());
        assert_eq!(opens.get(), 1);
        // within the first pause: the last error, no new open
        let e = cell.get(t0 + FIRST_RETRY_PAUSE / 2, failing).unwrap_err();
        assert!(e.to_string().contains("server down"), "{e}");
        assert_eq!(opens.get(), 1);
        // after it: tried again, failed again; the pause doubles
        let t1 = t0 + FIRST_RETRY_PAUSE;
        assert!(cell.get(t1, failing).is_err());
        assert_eq!(opens.get(), 2);
        assert!(cell.get(t1 + FIRST_RETRY_PAUSE, failing).is_err());
        assert_eq!(opens.get(), 2, "the second pause is twice the first");
        let t2 = t1 + FIRST_RETRY_PAUSE * 2;
        let opened = || {
            opens.set(opens.get() + 1);
            Ok(memory())
        };
        let s = cell.get(t2, opened).unwrap().clone();
        assert_eq!(opens.get(), 3);
        // kept: never opened again, whatever `open` would say now
        assert_eq!(cell.get(t2, failing).unwrap().path(), s.path());
        assert_eq!(opens.get(), 3);
    }

    #[test]
    fn the_pause_stops_growing_at_its_maximum() {
        let cell = ParentCell::default();
        let mut now = Instant::now();
        let mut pauses = vec![];
        for _ in 0..10 {
            assert!(cell.get(now, down).is_err());
            let f = cell.failed.lock().unwrap();
            let f = f.as_ref().unwrap();
            pauses.push(f.pause);
            now = f.retry_at;
        }
        assert_eq!(pauses[0], FIRST_RETRY_PAUSE);
        assert_eq!(pauses[1], FIRST_RETRY_PAUSE * 2);
        assert_eq!(*pauses.last().unwrap(), MAX_RETRY_PAUSE);
    }

    #[test]
    fn an_open_may_use_another_cell_without_deadlock() {
        // `open` runs with no lock held: it can open (or use) other functions' stashes.
        static OUTER: OnceLock<&'static ParentCell> = OnceLock::new();
        static INNER: OnceLock<&'static ParentCell> = OnceLock::new();
        let s = parent(&OUTER, "private-test::outer", || {
            Ok(parent(&INNER, "private-test::inner", || Ok(memory()))?.clone())
        })
        .unwrap();
        assert_eq!(s.path(), parent(&INNER, "private-test::inner", down).unwrap().path());
    }
}
