//! Stashed function results for hashstash: `stash.run(f, args)` calls `f`
//! or returns the result stored for the same arguments; `#[stashed_result]`
//! does it for every call of a function; `stash.map(f, inputs)` maps a
//! function over many inputs on a thread pool, computing only what is not
//! stored yet.
//!
//! ```
//! use std::sync::Arc;
//! use stash_func::StashRun;
//! # let dir = tempfile::tempdir()?;
//! # let mut cfg = stash_core::StashConfig::default();
//! # cfg.root_dir = dir.path().into();
//! # cfg.engine = "memory".into();
//! let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
//! fn add(a: i64, b: i64) -> i64 { a + b }
//! assert_eq!(stash.run(add, (1, 2))?, 3);   // computed
//! assert_eq!(stash.run(add, (1, 2))?, 3);   // stored
//! let fs = stash.function_stash(&add)?;
//! assert_eq!(fs.get_func(&(1, 2))?, Some(3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Life cycle, `Result` functions and closures
//!
//! - A function's results live in a sub-stash of the stash they are run on
//!   (`stashed_result/<name>`) with its settings: its `ttl` (an expired result
//!   is computed again), `max_entries` / `max_bytes` (results count toward them
//!   and are evicted like any entry), its statistics (`stats()` of the function
//!   stash counts the hits, misses and writes of `run`, `map` and the macros), and
//!   its `clear()`, which empties every function stash under it from any handle
//!   (see `stash_core::functions`). `#[stashed_result]` takes `ttl`,
//!   `max_entries`, `max_bytes` and `eviction` too.
//! - A function returning `Result` has only its `Ok` values stored, by `run`,
//!   `try_run`, `map` and the macros alike; its errors are stored only with
//!   [`RunOptions::cache_errors`] (in `stashed_errors/<name>`, each for
//!   `error_ttl`, to the microsecond). `run` needs no specialization for this: a
//!   `Result` says what it is when serialized (serde's `Result` enum, `Err`
//!   variant), and only the outermost type counts.
//! - Results are keyed by the function's name: a fn item's path (its
//!   `type_name`, see [`function_name`]). A closure has no stable name, and a
//!   function pointer or boxed `dyn Fn` cannot be told apart from another of
//!   its type, so `run`, `map` and `function_stash` refuse them with a
//!   `Config` error; `run_named` / `map_named` take them under a name that
//!   says what they compute. `#[stashed_result]` names a function
//!   `module_path!()::f`, a literal that depends on the source alone; a method
//!   `module_path!()::Type::f` when its `impl` block is marked
//!   `#[stashed_result]` too (else `type_name::<Self>()::f`). Guide:
//!   `docs/functions.md` in the repository.
//!
//! Errors: every `StashRun` method returns [`Result`]; the macros never
//! compute without caching when the stash fails. `#[stashed_result] fn f`
//! panics on a stash error (with the stash and the cause) unless it returns
//! `Result<T, E>` with `E: From<hashstash::Error>` (then the error is
//! returned); the generated `try_f` is its non-panicking form.
//!
//! `map` (and `map_with`, whose common argument is part of each key) runs
//! on worker threads: `progress`/`desc` (indicatif, drawn when stderr is a
//! terminal or `force_progress`), `preload` (stored results looked up at
//! `start()`), `precompute` (workers start at `start()` or on first demand),
//! `stash_runs`, `stash_map` (the whole result list under one key),
//! `batch(n, interval)` (file engines write results in batches).
//!
//! # Functions as keys
//!
//! [`fn_key!`]`(path::to::f)` is the key of a function marked
//! `#[stash_fingerprint]` (or `#[stashed_result]`): an [`FnKey`] naming it by
//! its path (`module_path!()::f`) and its code fingerprint, written as the
//! Python library writes a function key (`{"__py__": "<module>.f", "__pytype__":
//! "function", "__source__": ...}`), so `stash.set(&fn_key!(f), "cat")` stores
//! under the function as Python's `stash[func_key] = "cat"` does. A changed
//! signature or body, or a function of the same name in another module, is
//! another key.
//!
//! ```
//! use std::sync::Arc;
//! # let dir = tempfile::tempdir()?;
//! # let mut cfg = stash_core::StashConfig::default();
//! # cfg.root_dir = dir.path().into();
//! # cfg.engine = "memory".into();
//! #[stash_func::stash_fingerprint]
//! fn func_key(x: u32) -> u32 { x + 1 }
//!
//! let stash = stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))?;
//! stash.set(&stash_func::fn_key!(func_key), "cat")?;
//! assert_eq!(stash.get::<_, String>(&stash_func::fn_key!(func_key))?.as_deref(), Some("cat"));
//! assert!(stash_func::fn_key!(func_key).py().ends_with(".func_key"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Single flight, locks and timeouts
//!
//! A missing result is computed once even when many callers ask for it at
//! the same moment: among the threads of a process (a per-key slot), and
//! among processes and machines through the engine's per-key lock
//! ([`Engine::try_lock`](stash_core::Engine::try_lock) on the key's digest):
//! lock files in `<function stash folder>/.locks` for file engines, a lock on
//! the server for server engines. The lock rule: **one lock per key, never
//! per function**, so a computation that calls other stashed functions waits
//! only for the exact keys it needs, and the holder of a key looks it up again
//! before computing. Engines without a shared lock (`memory`, or any engine
//! answering `Unsupported`) get single flight within the process only.
//!
//! The timeout rule: **no caller waits longer than its wait timeout**
//! ([`DEFAULT_WAIT`], 60 s; [`RunOptions::wait_timeout`],
//! [`MapBuilder::wait_timeout`]); then it computes anyway. A timeout costs a
//! duplicate computation, never a hang or a wrong result (crossed calls on the
//! same keys in two processes are resolved this way). The wait timeout is
//! also the lease a server lock is taken for: the lock of a holder that died
//! is free again after it.
//!
//! `#[stashed_result]` opens its stash on the first call and keeps it once it
//! opened; a failed open is returned to callers for a short pause (100 ms
//! after the first failure, doubling up to 5 s), then retried, so a server
//! down at start-up does not break the function until a restart.
//!
//! # Logs
//!
//! With the feature `tracing` (off by default; it turns on `stash-core`'s,
//! whose `hit`, `miss` and `write` events name the function's stash), target
//! `hashstash`, never arguments or results:
//!
//! | message | level | fields |
//! |---|---|---|
//! | `compute` | DEBUG | `function`, `digest` (the key's), `took_us`: a missing result was computed |
//! | `wait` | DEBUG | `function`, `digest`, `waited_us`, `found`: a caller waited (1 ms or more) for another computing the same key, then found its result or computed it |
//!
//! The counts are in the function stash's `stats()` (hits, misses, writes).
#![deny(missing_docs)]

mod call;
mod error;
mod flight;
#[doc(hidden)]
pub mod __private {
    pub use crate::private::*;
    pub use stash_func_macros::__fn_key_parts as fn_key_parts;
}
mod map;
mod observe;
mod outcome;
mod private;
mod run;

pub use call::{Call, function_name};
pub use error::{Error, Result};
pub use flight::DEFAULT_WAIT;
pub use map::{MAPS_DIR, MapBuilder, StashMap};
pub use run::{ERRORS_DIR, FunctionStash, RESULTS_DIR, RunOptions, StashRun};
/// A function as a stash key (what [`fn_key!`] gives): see the crate docs.
pub use stash_core::stash_serial::FnKey;
pub use stash_func_macros::{stash_fingerprint, stash_mapped, stashed_result};

/// `fn_key!(path::to::f)`: the stash key of the function `f`, an [`FnKey`] naming it
/// by its path (`module_path!()::f`) and its code fingerprint, written as the Python
/// library writes a function key (see the crate docs, "Functions as keys").
///
/// `f` must be marked `#[stash_fingerprint]` or `#[stashed_result]` (not with
/// `accessors = false`): they define the hidden `__stash_fn_key_f()` this calls. Name
/// it by a path that reaches it, as `deps` does (`f`, `module::f`, `Self::f`).
#[macro_export]
macro_rules! fn_key {
    ($($function:tt)+) => {{
        let (path, version) = $crate::__private::fn_key_parts!($($function)+);
        $crate::FnKey::new(&path, version)
    }};
}
