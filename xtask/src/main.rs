//! `cargo xtask <task>`: the project's tasks, runnable on a fresh machine.
//!
//! - `tour [--lean]` — install what the build needs, then run the feature tour (`--lean`:
//!   without DataFrames, server engines and blosc, a first build of a few minutes)
//! - `examples [--services]` — run every example program of the facade that needs no server
//!   (`--services`: start the servers and the Python library, and run those too)
//! - `test`  — install what the build needs, then run every test
//! - `setup` — only install what the build needs, and the checkers CI runs (cargo-deny)
//! - `services up|down` — start or stop the servers the tests use (see `services`)
//! - `bench [options]` — the profiling matrix, tables and plots in `target/bench/` (see `bench`)
//! - `python` — make the interop test's virtualenv (hashstash 1.2.0) and print its interpreter
//! - `reliability [crash|processes] [--quick]` — crash-kill and many-process harnesses, one table (see `reliability`)

use std::path::PathBuf;
use std::process::{Command, ExitCode};

mod bench;
mod python;
mod reliability;
mod services;

/// The test command the README gives; CI runs exactly this through `cargo xtask test`.
const TEST_ARGS: &[&str] = &["test", "--workspace", "--all-features", "--all-targets"];
const DOC_TEST_ARGS: &[&str] = &["test", "--workspace", "--all-features", "--doc"];
const TOUR_ARGS: &[&str] = &["run", "--release", "-p", "hashstash", "--features", "all", "--example", "tour"];
/// `tour --lean`: every embedded engine and compressor but blosc (a C build with cmake), no
/// DataFrames (polars is most of a first build) and no server engines (their drivers and
/// rustls). The tour skips the sections of what is left out.
const LEAN_FEATURES: &str = "pairtree,memory,lmdb,sqlite,sled,func,lz4,zstd,zlib,gzip,bz2";

/// The facade's example programs, each run as `cargo run --release -p hashstash --features
/// all --example <name>`: the tour's profile and features, so after the tour only the
/// examples themselves are compiled. `servers` runs with `--services` (it needs the URLs).
const EXAMPLES: &[&str] =
    &["basic", "engines", "append", "lifecycle", "functions", "async_cache", "frames", "python_interop"];

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "setup" => setup().and_then(|_| cargo_deny()),
        "tour" => setup().and_then(|_| tour(&std::env::args().skip(2).collect::<Vec<_>>())),
        "examples" => setup().and_then(|_| examples(&std::env::args().skip(2).collect::<Vec<_>>())),
        "test" => setup().and_then(|_| test()),
        "services" => services::command(std::env::args().nth(2).as_deref()),
        // The interop test's Python: `HASHSTASH_PYTHON=$(cargo xtask python) cargo test --test interop`.
        "python" => python::ensure_venv().map(|p| println!("{}", p.display())),
        "bench" => setup().and_then(|_| bench::bench(&std::env::args().skip(2).collect::<Vec<_>>())),
        "reliability" => {
            setup().and_then(|_| reliability::reliability(&std::env::args().skip(2).collect::<Vec<_>>()))
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <setup|tour [--lean]|examples [--services]|test|services|bench|python|reliability>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, String>;

fn run(cmd: &mut Command) -> Result {
    eprintln!("+ {cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {status}")) }
}

fn cargo(args: &[&str]) -> Result {
    run(Command::new(env!("CARGO")).args(args))
}

/// `cargo xtask tour [--lean]`.
fn tour(args: &[String]) -> Result {
    match args {
        [] => cargo(TOUR_ARGS),
        [lean] if lean == "--lean" => {
            let mut lean: Vec<&str> = TOUR_ARGS.to_vec();
            let features =
                lean.iter().position(|a| *a == "all").ok_or("the tour's features are not `all`")?;
            lean[features] = LEAN_FEATURES;
            cargo(&lean)
        }
        _ => Err(format!("unknown arguments {args:?}; usage: cargo xtask tour [--lean]")),
    }
}

/// `cargo xtask examples [--services]`: every example that needs no server; with
/// `--services`, the servers (and the Python library for `python_interop`) too.
fn examples(args: &[String]) -> Result {
    let with_services = match args {
        [] => false,
        [flag] if flag == "--services" => true,
        _ => return Err(format!("unknown arguments {args:?}; usage: cargo xtask examples [--services]")),
    };
    let run_all = |vars: &[(String, String)], names: &[&str]| -> Result {
        for name in names {
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["run", "--release", "-p", "hashstash", "--features", "all", "--example", name]);
            cmd.envs(vars.iter().map(|(k, v)| (k, v)));
            run(&mut cmd)?;
        }
        Ok(())
    };
    if !with_services {
        return run_all(&[], EXAMPLES);
    }
    let mut vars = services::up()?;
    let ran = python::ensure_venv()
        .map(|python| vars.push((python::PYTHON_ENV.to_string(), python.display().to_string())))
        .and_then(|_| run_all(&vars, EXAMPLES))
        .and_then(|_| run_all(&vars, &["servers"]));
    let stopped = services::down();
    ran.and(stopped)
}

/// Installs cargo-deny (from crates.io, a pinned version) when `cargo deny` is missing: CI
/// runs `cargo deny check licenses bans` with the repository's `deny.toml`.
fn cargo_deny() -> Result {
    let installed =
        Command::new(env!("CARGO")).args(["deny", "--version"]).output().is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    cargo(&["install", "--locked", "cargo-deny@0.20.2"])
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Installs the system packages the build needs (Debian): `cmake` for blosc2.
fn setup() -> Result {
    let missing: Vec<&str> = [("cmake", "cmake")]
        .into_iter()
        .filter(|(program, _)| !have(program))
        .map(|(_, package)| package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing)
}

/// `apt-get install` of `packages` (Debian), through sudo unless root; an error
/// naming them where there is no apt-get.
pub(crate) fn apt_install(packages: &[&str]) -> Result {
    if !have("apt-get") {
        return Err(format!("please install: {} (no apt-get here)", packages.join(" ")));
    }
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let apt = |args: &[&str]| {
        let mut all: Vec<&str> = sudo.to_vec();
        all.push("apt-get");
        all.extend_from_slice(args);
        let mut cmd = Command::new(all[0]);
        cmd.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)
    };
    apt(&["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend_from_slice(packages);
    apt(&args)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The workspace root (the parent of this crate's folder).
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Starts the services, runs the tests with their URLs, and stops them whatever happened.
fn test() -> Result {
    let mut vars = match services::up() {
        Ok(vars) => vars,
        Err(e) => {
            let _ = services::down();
            return Err(e);
        }
    };
    // The Python library for tests/interop.rs (HASHSTASH_PYTHON).
    match python::ensure_venv() {
        Ok(python) => vars.push((python::PYTHON_ENV.to_string(), python.display().to_string())),
        Err(e) => {
            let _ = services::down();
            return Err(e);
        }
    }
    let with_vars = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(args).envs(vars.iter().map(|(k, v)| (k, v)));
        run(&mut cmd)
    };
    let tested = with_vars(TEST_ARGS).and_then(|_| with_vars(DOC_TEST_ARGS));
    let stopped = services::down();
    tested.and(stopped)
}
