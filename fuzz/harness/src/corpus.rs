//! The committed inputs of each target: `fuzz/corpus/<target>/` (what the fuzzer kept) and
//! `fuzz/regressions/<target>/` (crashes it found, kept after their fix). Read by the stable
//! replay test (`tests/fuzz_corpora.rs`) and by `cargo xtask reliability fuzz`.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The folder of a kind of inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `fuzz/corpus/`: inputs the fuzzer kept for their coverage.
    Corpus,
    /// `fuzz/regressions/`: inputs that once crashed a target.
    Regressions,
}

impl Kind {
    /// The folder's name under `fuzz/`.
    pub fn folder(self) -> &'static str {
        match self {
            Kind::Corpus => "corpus",
            Kind::Regressions => "regressions",
        }
    }
}

/// The `fuzz/` folder of this checkout.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (a missing folder has none).
pub fn inputs(kind: Kind, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(fuzz_dir().join(kind.folder()).join(target)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// What replaying a target's inputs of one kind gave.
#[derive(Debug, Default)]
pub struct Replay {
    /// Inputs run.
    pub ran: usize,
    /// Each input whose check failed (or could not be read), with the panic's message.
    pub failed: Vec<(PathBuf, String)>,
}

/// Runs `check` on every input of `kind` for `target`, catching the panics that report a
/// broken claim. The caller may silence the panic hook while this runs.
pub fn replay(kind: Kind, target: &str, check: fn(&[u8])) -> Replay {
    let mut out = Replay::default();
    for file in inputs(kind, target) {
        out.ran += 1;
        let data = match fs::read(&file) {
            Ok(data) => data,
            Err(e) => {
                out.failed.push((file, format!("unreadable: {e}")));
                continue;
            }
        };
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "a panic".to_string());
            out.failed.push((file, msg));
        }
    }
    out
}
