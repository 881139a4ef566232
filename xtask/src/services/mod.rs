//! `cargo xtask services up|down|env`: the servers the tests need (Redis, Redis
//! over TLS with certificates made at start, a MongoDB-compatible server),
//! installed and started on loopback on non-default ports, their state under
//! `target/services/`.
//!
//! `cargo xtask test` brings them up, passes their URLs to the tests through
//! environment variables (with `HASHSTASH_REQUIRE_SERVICES=1`, so a server that
//! is gone fails the tests instead of skipping them) and stops them afterwards.

use std::path::{Path, PathBuf};

use crate::Result;

pub mod mongo;
pub mod redis;
pub mod redis_tls;

/// Environment variables a started service exports: `(name, value)`.
pub type Vars = Vec<(String, String)>;

/// One service: how to start it (returning the environment variables that
/// point the tests at it) and how to stop it.
pub struct Service {
    /// Short name used on the command line and in messages.
    pub name: &'static str,
    /// Installs what is missing, starts the server and waits until it answers.
    pub up: fn(state: &Path) -> Result<Vars>,
    /// Stops the server (no error if it is not running).
    pub down: fn(state: &Path) -> Result,
}

/// Every service, started in this order and stopped in reverse.
pub const SERVICES: &[Service] = &[
    Service { name: "redis", up: redis::up, down: redis::down },
    Service { name: "redis-tls", up: redis_tls::up, down: redis_tls::down },
    Service { name: "mongo", up: mongo::up, down: mongo::down },
];

/// The environment variable that makes server tests fail rather than skip when their URL is unset.
pub const REQUIRE_ENV: &str = "HASHSTASH_REQUIRE_SERVICES";

/// `target/services/<name>`: where a service keeps its pid file, logs and data.
pub fn state_dir(name: &str) -> Result<PathBuf> {
    let dir = crate::workspace_root().join("target").join("services").join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Starts every service; returns the variables to export.
pub fn up() -> Result<Vars> {
    up_only(None)
}

/// Starts the service called `only`, or every one; returns the variables to export.
pub(crate) fn up_only(only: Option<&str>) -> Result<Vars> {
    let mut vars = vec![(REQUIRE_ENV.to_string(), "1".to_string())];
    for service in selected(only)? {
        eprintln!("xtask: starting {}", service.name);
        let found = (service.up)(&state_dir(service.name)?).map_err(|e| format!("{}: {e}", service.name))?;
        vars.extend(found);
    }
    Ok(vars)
}

/// Stops every service, reporting the first failure after trying them all.
pub fn down() -> Result {
    down_only(None)
}

/// Stops the service called `only`, or every one (in reverse order),
/// reporting the first failure after trying them all.
pub(crate) fn down_only(only: Option<&str>) -> Result {
    let mut first = Ok(());
    for service in selected(only)?.into_iter().rev() {
        let stopped = state_dir(service.name).and_then(|dir| (service.down)(&dir));
        if let Err(e) = stopped {
            eprintln!("xtask: stopping {}: {e}", service.name);
            first = first.and(Err(format!("{}: {e}", service.name)));
        }
    }
    first
}

/// The service called `only` (an error naming the known ones if none is), or every one.
fn selected(only: Option<&str>) -> Result<Vec<&'static Service>> {
    let Some(name) = only else { return Ok(SERVICES.iter().collect()) };
    match SERVICES.iter().find(|s| s.name == name) {
        Some(service) => Ok(vec![service]),
        None => {
            let known: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
            Err(format!("no service `{name}` (there are: {})", known.join(", ")))
        }
    }
}

/// `cargo xtask services <up|down|env> [service]`: one service (`redis`,
/// `redis-tls`, `mongo`) when named, else all of them.
pub fn command(action: Option<&str>) -> Result {
    // The service's name follows the action: `cargo xtask services down redis-tls`.
    let only = std::env::args().nth(3);
    match action {
        Some("up") | Some("env") => {
            for (name, value) in up_only(only.as_deref())? {
                println!("export {name}={value}");
            }
            Ok(())
        }
        Some("down") => down_only(only.as_deref()),
        _ => Err("usage: cargo xtask services <up|down|env> [redis|redis-tls|mongo]".into()),
    }
}
