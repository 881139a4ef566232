//! `cargo xtask bench [options]`: the profiling matrix (the `matrix` binary of
//! `hashstash-benches`, in release mode), optionally next to the Python
//! library (`--vs-python`), or a summary of the criterion benches (`--criterion`).
//! `--services` starts Redis and the MongoDB-compatible server first (see
//! `services`), so the matrix has redis and mongo cells and scale rows, and
//! stops them afterwards. Tables and plots go to `target/bench/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::services::{self, Vars};
use crate::{Result, run, workspace_root};

/// The services `--services` starts: the servers of the matrix's server engines
/// (redis also brings its cluster up; `redis-tls` adds no engine).
const BENCH_SERVICES: &[&str] = &["redis", "mongo"];

/// The Python library the comparison installs, with the extras its engines need.
const PY_PACKAGE: &str = "hashstash[best,sqlite,msgpack]==1.2.0";

pub fn bench(args: &[String]) -> Result {
    let root = workspace_root();
    // `--out DIR` given to the matrix wins over the default `target/bench`.
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| root.join("target").join("bench"), PathBuf::from);
    let criterion = args.iter().any(|a| a == "--criterion");
    let vs_python = args.iter().any(|a| a == "--vs-python");
    let with_services = args.iter().any(|a| a == "--services");
    let mut rest: Vec<String> = args
        .iter()
        .filter(|a| !["--criterion", "--vs-python", "--services"].contains(&a.as_str()))
        .cloned()
        .collect();
    if criterion {
        run(Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["bench", "-p", "hashstash-benches"])
            .args(&rest))?;
        let criterion_dir = target_dir(&root).join("criterion");
        return cargo_matrix(
            &root,
            &[
                "--criterion-summary".into(),
                criterion_dir.display().to_string(),
                "--out".into(),
                out.display().to_string(),
            ],
        );
    }
    if vs_python {
        let python = python_venv(&root.join("target").join("bench").join("venv"))?;
        rest.extend(["--python".into(), python.display().to_string()]);
    }
    if !rest.iter().any(|a| a == "--out") {
        rest.extend(["--out".into(), out.display().to_string()]);
    }
    // The scale rows also time `hashstash info` on their stashes: build the command first.
    let quick = rest.iter().any(|a| a == "--quick" || a == "--no-scale");
    let mut matrix = matrix_command(&root, &rest);
    if !quick || rest.iter().any(|a| a == "--scale" || a == "--only-scale") {
        run(Command::new(env!("CARGO")).current_dir(&root).args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "hashstash-cli",
        ]))?;
        matrix.env("HASHSTASH_BENCH_CLI", target_dir(&root).join("release").join("hashstash"));
    }
    if !with_services {
        return run(&mut matrix);
    }
    let (vars, started) = services_up()?;
    let ran = run(matrix.envs(vars.iter().map(|(k, v)| (k, v))));
    ran.and(services_down(&started))
}

/// Starts the [`BENCH_SERVICES`] (a running one is reused: `up` only starts
/// what does not answer) and returns their variables and the services this
/// call started. A service counts as already running, and is left running
/// afterwards, when its state folder holds the pid file of a live process
/// (someone else's `cargo xtask services up`). When one fails to start, those
/// started before it are stopped.
fn services_up() -> Result<(Vars, Vec<&'static str>)> {
    let mut vars = Vars::new();
    let mut started = Vec::new();
    for &name in BENCH_SERVICES {
        let up = services::state_dir(name).and_then(|dir| {
            if running(&dir) {
                eprintln!("xtask: {name} is already running; using it (and leaving it running)");
            } else {
                // Listed before `up` returns, so a half-started service is stopped too.
                started.push(name);
            }
            services::up_only(Some(name))
        });
        match up {
            Ok(found) => vars.extend(found),
            Err(e) => {
                let _ = services_down(&started);
                return Err(e);
            }
        }
    }
    Ok((vars, started))
}

/// Stops the services named in `started` (in reverse order), reporting the
/// first failure after trying them all.
fn services_down(started: &[&str]) -> Result {
    let mut first = Ok(());
    for name in started.iter().rev() {
        first = first.and(services::down_only(Some(name)));
    }
    first
}

/// Whether `state` (a service's folder) holds a `*.pid` file naming a live process.
fn running(state: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(state) else { return false };
    entries.flatten().any(|entry| {
        let path = entry.path();
        path.extension().is_some_and(|e| e == "pid")
            && std::fs::read_to_string(&path)
                .ok()
                .and_then(|pid| pid.trim().parse::<u32>().ok())
                .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists())
    })
}

/// `cargo run --release -p hashstash-benches --bin matrix -- args`. The
/// benches build hashstash with every feature, redis and mongo included: the
/// matrix takes those engines when `HASHSTASH_REDIS_URL` / `HASHSTASH_MONGO_URL`
/// are set, and notes that it skipped them otherwise.
fn cargo_matrix(root: &Path, args: &[String]) -> Result {
    run(&mut matrix_command(root, args))
}

/// The command [`cargo_matrix`] runs.
fn matrix_command(root: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root)
        .args(["run", "--release", "--quiet", "-p", "hashstash-benches", "--bin", "matrix", "--"])
        .args(args);
    cmd
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

/// A venv with the Python library at `venv`, created and filled on first use.
fn python_venv(venv: &Path) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    let check = "import hashstash, lz4, lmdb, sqlitedict; assert hashstash.__version__ == '1.2.0'";
    let ready =
        Command::new(&python).args(["-c", check]).output().map(|o| o.status.success()).unwrap_or(false);
    if ready {
        return Ok(python);
    }
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    }
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        PY_PACKAGE,
    ]))?;
    Ok(python)
}
