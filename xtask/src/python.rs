//! The Python library for the interop test (`tests/interop.rs`): a virtualenv
//! under `target/python-venv` with `hashstash[all]==1.2.0` from PyPI, made on
//! first use and reused while it still imports. `cargo xtask test` passes its
//! interpreter to the tests as `HASHSTASH_PYTHON`; a missing `python3` or a
//! failed install fails the task (CI never skips the interop test).

use std::path::PathBuf;
use std::process::Command;

use crate::{Result, run};

/// The variable that names the interpreter to the tests.
pub const PYTHON_ENV: &str = "HASHSTASH_PYTHON";

/// What the interop test installs: the Python library with the extras for lmdb, lz4, pandas...
const PACKAGE: &str = "hashstash[all]==1.2.0";

/// What must import for the virtualenv to count as ready.
const CHECK: &str =
    "import hashstash, lz4, lmdb, pandas; assert hashstash.__version__ == '1.2.0', hashstash.__version__";

/// The virtualenv's interpreter, creating the virtualenv and installing the library if needed.
pub fn ensure_venv() -> Result<PathBuf> {
    let venv = crate::workspace_root().join("target").join("python-venv");
    let python = venv.join("bin").join("python");
    if ready(&python) {
        return Ok(python);
    }
    if !python.exists() {
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status();
        if !made.is_ok_and(|s| s.success()) {
            // Debian splits venv out of python3: install it, then try again.
            install_python()?;
            let _ = std::fs::remove_dir_all(&venv);
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
                .map_err(|e| format!("cannot create the Python virtualenv for the interop test: {e}"))?;
        }
    }
    eprintln!("xtask: installing {PACKAGE} into {}", venv.display());
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        PACKAGE,
    ]))
    .map_err(|e| format!("cannot install {PACKAGE} for the interop test: {e}"))?;
    if !ready(&python) {
        return Err(format!("{PACKAGE} is installed in {} but does not import", venv.display()));
    }
    Ok(python)
}

fn ready(python: &std::path::Path) -> bool {
    Command::new(python).args(["-c", CHECK]).output().is_ok_and(|o| o.status.success())
}

/// `apt-get install python3 python3-venv` (Debian), for a machine without them.
fn install_python() -> Result {
    crate::apt_install(&["python3", "python3-venv", "python3-pip"])
}
