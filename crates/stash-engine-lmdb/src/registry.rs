//! One engine per path per process.
//!
//! LMDB forbids opening one environment twice in a process (its locks are
//! per process: a second handle would corrupt them), so every stash opened
//! on a path shares one environment. The registry holds weak references:
//! the environment closes when the last handle (or iterator) is dropped.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stash_engine_api::registry::{Found, Hold, PathRegistry};
use stash_engine_api::{Error, ErrorKind, Result};

use crate::LmdbEngine;
use crate::env::LmdbEnv;
use crate::options::LmdbOptions;

/// Open environments by canonical folder path.
static OPEN: PathRegistry<LmdbEnv> = PathRegistry::new();

/// How long to wait for an environment that is being closed by another thread.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// The engine for the folder `dir` (created if missing), shared with every
/// other handle of this process on the same folder.
pub(crate) fn open(dir: &Path, options: LmdbOptions) -> Result<Arc<LmdbEngine>> {
    fs::create_dir_all(dir).map_err(|e| Error::io(e, "create the LMDB folder", dir))?;
    let canonical = fs::canonicalize(dir).map_err(|e| Error::io(e, "resolve the LMDB folder", dir))?;
    OPEN.with(|open| {
        open.prune_closed();
        if let Found::Open(env) = open.find(&canonical) {
            let durability = env.durability();
            if durability != options.durability {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "this LMDB stash is already open in this process with durability `{}`, \
                         not `{}`: open every handle of one path with the same durability",
                        durability.name(),
                        options.durability.name()
                    ),
                )
                .with_context("file", env.file().display()));
            }
            return Ok(Arc::new(LmdbEngine::from_env(env)));
        }
        // The last handle may have been dropped a moment ago and its environment
        // still be closing in another thread: wait for that, then open.
        if let Some(closing) = heed::env_closing_event(&canonical) {
            closing.wait_timeout(CLOSE_WAIT);
        }
        let env = Arc::new(LmdbEnv::open(&canonical, &options)?);
        open.insert(&canonical, &env, Hold::WhileUsed);
        Ok(Arc::new(LmdbEngine::from_env(env)))
    })
}
