//! Where function results live under a stash, and how `clear()` finds them.
//!
//! Function results (`stash.run(f, args)`, `#[stashed_result]`, `stash.map`)
//! are kept in sub-stashes under reserved names ([`FUNCTION_DIRS`]):
//! `stashed_result/<function>/...` for results, `stashed_errors/<function>` for
//! errors cached on request, `stashed_map` (under a function's stash) for whole
//! maps. They are the stash's own memoized data, so [`Stash::clear`] empties
//! them too, as the Python library does, while sub-stashes a caller made with
//! [`Stash::sub`] under any other name survive.
//!
//! How `clear()` finds them, from any handle:
//! - **on disk** (file engines): every `<engine>.<serializer>.<compress>[+b64]/data.db`
//!   below `<stash folder>/stashed_result/` (and the other reserved folders)
//!   whose folder name is this stash's own is opened with this stash's settings
//!   (through its engine factory, never by deleting files under an open
//!   database) and cleared. This is what another process, or a fresh handle,
//!   relies on;
//! - **in this process**: every function stash opened through
//!   [`Stash::function_sub`] (a process-wide registry; the only way on the
//!   `memory` engine, which has no folders) whose storage lies under this stash.
//!
//! Limitation: on server engines (`redis`, `mongo`) nothing is on disk, so
//! `clear()` reaches the function stashes this process has opened, not those
//! only another process has used (their names are not listed anywhere this
//! process can see).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, RwLock};

use crate::config::{DATA_NAME, LOCKS_NAME, StashConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::stash::Stash;

/// The sub-stash folder holding function results (the Python library's
/// `FUNCTION_STASH_DBNAME`): `stashed_result/<function name>[/<code version>]`.
pub const RESULTS_DIR: &str = "stashed_result";
/// The sub-stash folder holding errors a function returned, when asked to
/// cache them: `stashed_errors/<function name>`.
pub const ERRORS_DIR: &str = "stashed_errors";
/// The sub-stash folder, under a function's stash, holding whole maps.
pub const MAPS_DIR: &str = "stashed_map";
/// Every reserved sub-stash name: what lies under them is function data,
/// cleared with the stash it lives in.
pub const FUNCTION_DIRS: [&str; 3] = [RESULTS_DIR, ERRORS_DIR, MAPS_DIR];

/// How deep the search for function stashes on disk goes (folders below a
/// reserved folder); deeper folders are not function stashes this library made.
const MAX_DEPTH: usize = 32;

/// Whether the sub-stash name `name` lies in a reserved function namespace
/// (its first component is one of [`FUNCTION_DIRS`]).
pub fn is_function_name(name: &str) -> bool {
    let first = name.trim_matches('/').split('/').next().unwrap_or("");
    FUNCTION_DIRS.contains(&first)
}

/// A function stash opened in this process, with the settings of the stash it was opened under.
struct Entry {
    parent: StashConfig,
    stash: Stash,
}

type Registry = HashMap<(PathBuf, String), Vec<Entry>>;

/// Every function stash this process opened, by (parent data path, name).
static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(Default::default);

fn registry_read() -> std::sync::RwLockReadGuard<'static, Registry> {
    // Entries are inserted whole: a panic elsewhere never leaves one half made.
    REGISTRY.read().unwrap_or_else(|e| e.into_inner())
}

fn registry_write() -> std::sync::RwLockWriteGuard<'static, Registry> {
    REGISTRY.write().unwrap_or_else(|e| e.into_inner())
}

/// Forgets the function stashes this process opened whose data lies under
/// `dir` (after their folders were deleted): the next use opens them again.
pub fn forget_under(dir: &Path) {
    let mut registry = registry_write();
    for entries in registry.values_mut() {
        entries.retain(|e| !e.stash.path().starts_with(dir));
    }
    registry.retain(|_, entries| !entries.is_empty());
}

/// Empties and forgets the function stashes this process opened under `dir`:
/// a temporary stash going away takes its function results with it (engines
/// that keep data outside the folder: memory, servers). Nothing to report to.
pub(crate) fn clear_and_forget_under(dir: &Path) {
    let mut gone = Vec::new();
    {
        let mut registry = registry_write();
        for entries in registry.values_mut() {
            entries.retain(|e| {
                let under = e.stash.path().starts_with(dir);
                if under {
                    gone.push(e.stash.clone());
                }
                !under
            });
        }
        registry.retain(|_, entries| !entries.is_empty());
    }
    // Cleared (and the handles dropped) with no lock held.
    for stash in gone {
        let _ = stash.clear_own();
    }
}

impl Stash {
    /// The function stash `name` under this stash (`name`'s first component must
    /// be one of [`FUNCTION_DIRS`], e.g. `stashed_result/my_crate::f`), opened
    /// once per process and per settings of this stash: every call with the same
    /// name on a stash configured alike returns a handle sharing one engine and
    /// one set of counters ([`Stash::stats`]). Like [`Stash::sub`], it has this
    /// stash's settings (time to live, bounds, append mode), and [`Stash::clear`]
    /// of this stash, from any handle, empties it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let dir = tempfile::tempdir()?;
    /// # let open = || {
    /// #     let mut cfg = stash_core::StashConfig::default();
    /// #     cfg.root_dir = dir.path().into();
    /// #     cfg.engine = "memory".into();
    /// #     stash_core::Stash::open(cfg, Arc::new(stash_engine_memory::Memory))
    /// # };
    /// let stash = open()?;
    /// let results = stash.function_sub("stashed_result/my_crate::f")?;
    /// let map = results.function_sub("stashed_map")?; // nested: still the stash's results
    /// let child = stash.sub("child")?;                 // a user's sub-stash
    /// for s in [&results, &map, &child] {
    ///     s.set("k", "v")?;
    /// }
    /// // one handle per name and settings, sharing its counters
    /// stash.function_sub("stashed_result/my_crate::f")?.get::<_, String>("k")?;
    /// assert_eq!(results.stats()?.hits, 1);
    /// // clearing from another handle empties the results, never the user's sub-stash
    /// open()?.clear()?;
    /// assert!(results.is_empty()? && map.is_empty()?);
    /// assert_eq!(child.get::<_, String>("k")?.as_deref(), Some("v"));
    /// assert!(stash.function_sub("child").is_err()); // not a reserved name
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn function_sub(&self, name: &str) -> Result<Stash> {
        let name = name.trim_matches('/');
        if !is_function_name(name) {
            return Err(self.context(
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "`{name}` is not a function stash name: it must start with one of {FUNCTION_DIRS:?}"
                    ),
                )
                .with_context("sub", name),
            ));
        }
        let key = (self.path().to_path_buf(), name.to_string());
        let found = |registry: &Registry| {
            registry.get(&key)?.iter().find(|e| e.parent == *self.config()).map(|e| e.stash.clone())
        };
        if let Some(stash) = found(&registry_read()) {
            return Ok(stash);
        }
        // Opened without the lock held: an open may be slow (a server) and must
        // not hold up other functions. Of two racing opens the first kept wins.
        let sub = self.open_sub(name)?;
        let mut registry = registry_write();
        if let Some(stash) = found(&registry) {
            return Ok(stash);
        }
        registry.entry(key).or_default().push(Entry { parent: self.config().clone(), stash: sub.clone() });
        Ok(sub)
    }

    /// Whether `sub` keeps its data under one of this stash's function namespaces.
    fn holds_function_stash(&self, sub: &Stash) -> bool {
        let (mine, theirs) = (self.config(), sub.config());
        if mine.engine != theirs.engine || mine.url != theirs.url {
            return false;
        }
        let Some(dir) = self.path().parent() else { return false };
        if !FUNCTION_DIRS.iter().any(|d| sub.path().starts_with(dir.join(d))) {
            return false;
        }
        // Server engines name their storage after the logical name, which may
        // differ for one local path (a root given relative or absolute).
        if self.engine().capabilities().persistent {
            let logical = mine.logical_name();
            let theirs = theirs.logical_name();
            return FUNCTION_DIRS.iter().any(|d| theirs.starts_with(&format!("{logical}/{d}/")));
        }
        true
    }

    /// The names (for [`Stash::function_sub`]) of the function stashes found on
    /// disk under this stash's folder: folders named like this stash's own
    /// (`<engine>.<serializer>.<compress>[+b64]`) holding a `data.db`.
    fn function_stashes_on_disk(&self) -> Result<Vec<String>> {
        let mut found = Vec::new();
        let Some(base) = self.path().parent() else { return Ok(found) };
        let own = self.config().dir_name();
        for reserved in FUNCTION_DIRS {
            walk(&base.join(reserved), reserved, &own, 0, &mut found)?;
        }
        Ok(found)
    }

    /// Empties every function stash under this stash: those on disk and those
    /// this process has open. Called by [`Stash::clear`].
    pub(crate) fn clear_function_stashes(&self) -> Result<()> {
        let mut seen: HashSet<PathBuf> = HashSet::from([self.path().to_path_buf()]);
        let mut targets: Vec<Stash> = Vec::new();
        {
            let registry = registry_read();
            for entry in registry.values().flatten() {
                if self.holds_function_stash(&entry.stash) && seen.insert(entry.stash.path().to_path_buf()) {
                    targets.push(entry.stash.clone());
                }
            }
        }
        if self.engine().capabilities().persistent {
            for name in self.function_stashes_on_disk()? {
                let sub = self.function_sub(&name)?;
                if seen.insert(sub.path().to_path_buf()) {
                    targets.push(sub);
                }
            }
        }
        for target in targets {
            target.clear_own().map_err(|e| self.context(e))?;
        }
        Ok(())
    }
}

/// Collects into `found` the names (relative to the stash folder) of the stash
/// folders below `dir` (named `rel`) whose folder is `own` and holds a `data.db`.
/// Never follows links, never enters a `data.db` or `.locks`.
fn walk(dir: &Path, rel: &str, own: &str, depth: usize, found: &mut Vec<String>) -> Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(e, "list function stashes", dir)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(e, "list function stashes", dir))?;
        let path = entry.path();
        let is_dir = entry.file_type().map_err(|e| Error::io(e, "list function stashes", &path))?.is_dir();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        if !is_dir || name == DATA_NAME || name == LOCKS_NAME {
            continue;
        }
        if name == own && std::fs::symlink_metadata(path.join(DATA_NAME)).is_ok() {
            found.push(rel.to_string());
        }
        walk(&path, &format!("{rel}/{name}"), own, depth + 1, found)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_are_recognised_by_their_first_component() {
        assert!(is_function_name("stashed_result/my_crate::f"));
        assert!(is_function_name("/stashed_errors/f/"));
        assert!(is_function_name("stashed_map"));
        assert!(!is_function_name("child"));
        assert!(!is_function_name("child/stashed_result"));
        assert!(!is_function_name("stashed_results"));
    }

    #[test]
    fn the_walk_finds_nested_stash_folders_only() {
        let dir = tempfile::tempdir().unwrap();
        let own = "pairtree.hashstash.raw";
        let base = dir.path().join(RESULTS_DIR);
        for d in [
            format!("f/{own}/data.db"),
            format!("f/{own}/stashed_map/{own}/data.db"),
            format!("g/code-0123/{own}/data.db"),
            "h/lmdb.hashstash.raw/data.db".to_string(),
            format!("i/{own}/no-data"),
        ] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        let mut found = Vec::new();
        walk(&base, RESULTS_DIR, own, 0, &mut found).unwrap();
        found.sort();
        assert_eq!(
            found,
            [
                "stashed_result/f".to_string(),
                format!("stashed_result/f/{own}/stashed_map"),
                "stashed_result/g/code-0123".to_string(),
            ]
        );
        let mut none = Vec::new();
        walk(&dir.path().join("missing"), "x", own, 0, &mut none).unwrap();
        assert!(none.is_empty());
    }
}
