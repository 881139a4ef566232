//! `cargo xtask bench [options]`: the profiling matrix (the `matrix` binary of
//! `hashstash-benches`, in release mode), optionally next to the Python
//! library (`--vs-python`), or a summary of the criterion benches (`--criterion`).
//! Tables and plots go to `target/bench/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, run, workspace_root};

/// The Python library the comparison installs, with the extras its engines need.
const PY_PACKAGE: &str = "hashstash[best,sqlite,msgpack]==1.2.0";

pub fn bench(args: &[String]) -> Result {
    let root = workspace_root();
    let out = root.join("target").join("bench");
    let criterion = args.iter().any(|a| a == "--criterion");
    let vs_python = args.iter().any(|a| a == "--vs-python");
    let mut rest: Vec<String> =
        args.iter().filter(|a| *a != "--criterion" && *a != "--vs-python").cloned().collect();
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
        let python = python_venv(&out.join("venv"))?;
        rest.extend(["--python".into(), python.display().to_string()]);
    }
    rest.extend(["--out".into(), out.display().to_string()]);
    // The scale rows also time `hashstash info` on their stashes: build the command first.
    let quick = rest.iter().any(|a| a == "--quick" || a == "--no-scale");
    let mut matrix = matrix_command(&root, &rest);
    if !quick || rest.iter().any(|a| a == "--scale") {
        run(Command::new(env!("CARGO")).current_dir(&root).args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "hashstash-cli",
        ]))?;
        matrix.env("HASHSTASH_BENCH_CLI", target_dir(&root).join("release").join("hashstash"));
    }
    run(&mut matrix)
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
