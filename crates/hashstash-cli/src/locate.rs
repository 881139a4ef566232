//! From what the command line names (a path or a server URL, and settings) to
//! an open stash: settings read from the folder names the layout encodes
//! (`<root>/<dbname>/<engine>.<serializer>.<compress>[+b64]/data.db`), and the
//! layout (Python's or this library's) read from the entries themselves.

use std::path::{Path, PathBuf};

use hashstash::{DigestAlgo, ErrorKind, HashStash, StashConfig};
use stash_core::config::DATA_NAME;

use crate::cli::{LayoutArg, Settings};
use crate::fail::{Failure, Res};

/// Whether a command may create the stash it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The stash must exist (reading, removing, checking).
    Existing,
    /// The stash is made if missing (`set`, `import`, the target of `migrate`).
    MayCreate,
}

/// An open stash and how to name it in messages.
pub struct Opened {
    /// The stash.
    pub stash: HashStash,
    /// Its data path, or its redacted server URL and namespace.
    pub shown: String,
    /// Whether the layout was found out from the entries (not given, nor the default of an empty stash).
    pub layout_detected: bool,
}

/// Opens the stash `target` names.
pub fn open(target: &str, settings: &Settings, need: Need) -> Res<Opened> {
    let (config, shown) = configure(target, settings, need)?;
    open_config(config, settings, shown)
}

/// Opens a stash from a configuration, finding out its layout unless `--layout` says it.
pub fn open_config(config: StashConfig, settings: &Settings, shown: String) -> Res<Opened> {
    let (config, layout_detected) = layout(config, settings.layout)?;
    let stash = HashStash::open(config).map_err(|e| Failure::from(e).at(&shown))?;
    Ok(Opened { stash, shown, layout_detected })
}

/// The configuration of the stash `target` names, and how to show it.
pub fn configure(target: &str, settings: &Settings, need: Need) -> Res<(StashConfig, String)> {
    let config = if is_url(target) { server(target, settings)? } else { local(target, settings, need)? };
    if config.engine == "memory" {
        return Err(Failure::plain(
            "unsupported",
            "the memory engine keeps its entries inside one process: there is no memory stash to open from the shell",
        ));
    }
    let shown = match &config.url {
        Some(url) => format!("{} (namespace {})", hashstash::redact_url(url), config.logical_name()),
        None => config.data_path().map(|p| p.display().to_string()).unwrap_or_else(|_| target.to_string()),
    };
    Ok((config, shown))
}

/// Whether `target` is a server URL rather than a path.
pub fn is_url(target: &str) -> bool {
    target.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

fn config_error(message: impl Into<String>) -> Failure {
    Failure::Stash(hashstash::Error::new(ErrorKind::Config, message))
}

/// A server stash: the engine from the URL's scheme, the namespace from
/// `--namespace`, or `--root` and `--dbname` as the writing program configured them.
fn server(url: &str, settings: &Settings) -> Res<StashConfig> {
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    let engine = match (&settings.engine, scheme) {
        (Some(engine), _) => engine.clone(),
        (
            None,
            "redis" | "rediss" | "valkey" | "valkeys" | "redis+unix" | "unix" | "redis+cluster"
            | "rediss+cluster",
        ) => "redis".into(),
        (None, "mongodb" | "mongodb+srv") => "mongo".into(),
        (None, other) => {
            return Err(config_error(format!(
                "no engine for URLs of scheme `{other}`: give --engine (redis:// and mongodb:// URLs need none)"
            )));
        }
    };
    let mut config = StashConfig::default();
    config.url = Some(url.to_string());
    config.root_dir = PathBuf::from(settings.root.as_deref().unwrap_or("default_stash"));
    config.dbname = settings.dbname.clone().unwrap_or_else(|| "main".into());
    config.namespace = settings.namespace.clone();
    let name = dir_name(&engine, settings, &config);
    config.with_dir_name(&name).map_err(Failure::from)
}

/// `<engine>.<serializer>.<compress>[+b64]` from the settings given, the others from `base`.
fn dir_name(engine: &str, settings: &Settings, base: &StashConfig) -> String {
    let serializer = settings.serializer.clone().unwrap_or_else(|| base.serializer.to_string());
    let compress = settings.compress.clone().unwrap_or_else(|| base.compress.to_string());
    let b64 = if settings.b64 || base.b64 { "+b64" } else { "" };
    format!("{engine}.{serializer}.{compress}{b64}")
}

/// A stash on disk.
fn local(target: &str, settings: &Settings, need: Need) -> Res<StashConfig> {
    if settings.root.is_some() || settings.namespace.is_some() {
        return Err(config_error(
            "--root and --namespace name server stashes; a path names its stash by itself",
        ));
    }
    let path = Path::new(target);
    let parsed = match StashConfig::from_data_path(path) {
        // `pairtree.pickle.raw`, `lmdb.hashstash.lzma`: say what is wrong with the name.
        Err(e) if looks_like_stash_folder(path) => return Err(Failure::Stash(e)),
        parsed => parsed,
    };
    if let Ok(config) = parsed {
        agree(&config, settings, target)?;
        let data = config.data_path()?;
        if need == Need::Existing && !data.exists() {
            return Err(Failure::plain(
                "not a stash",
                format!("no stash at {target}: {} does not exist", data.display()),
            ));
        }
        return Ok(config);
    }
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Failure::plain("not a stash", format!("no such file or folder: {target}"))
        }
        _ => Failure::from(hashstash::Error::io(e, "find the stash", path)),
    })?;
    if !meta.is_dir() {
        return Err(Failure::plain(
            "not a stash",
            format!(
                "{target} is a file, not a stash: name a stash's data.db, its folder \
                 (<engine>.<serializer>.<compress>[+b64]) or a folder holding one"
            ),
        ));
    }
    let mut found: Vec<StashConfig> = stashes_under(path)?;
    found.retain(|c| agree(c, settings, target).is_ok());
    match found.len() {
        1 => Ok(found.remove(0)),
        0 if need == Need::MayCreate && settings.engine.is_some() => {
            let engine = settings.engine.as_deref().unwrap_or_default();
            let folder = path.join(settings.dbname.as_deref().unwrap_or("main"));
            let name = dir_name(engine, settings, &StashConfig::default());
            StashConfig::from_data_path(&folder.join(name)).map_err(Failure::from)
        }
        0 => Err(Failure::plain(
            "not a stash",
            format!(
                "no stash{} under {target}: expected <dbname>/<engine>.<serializer>.<compress>[+b64]/data.db \
                 (name the stash folder{} to make one)",
                if has_filters(settings) { " with these settings" } else { "" },
                if need == Need::MayCreate { ", or give --engine" } else { "" }
            ),
        )),
        _ => {
            let list: Vec<String> =
                found.iter().filter_map(|c| c.stash_dir().ok()).map(|p| p.display().to_string()).collect();
            Err(Failure::plain(
                "ambiguous",
                format!(
                    "{} stashes under {target}: name one, or pick with --engine, --serializer, --compress, --b64 or --dbname:\n  {}",
                    found.len(),
                    list.join("\n  ")
                ),
            ))
        }
    }
}

/// Whether the name of `path` (or of its folder, for a `data.db`) has the shape
/// `<a>.<b>.<c>[+b64]` of a stash folder.
fn looks_like_stash_folder(path: &Path) -> bool {
    let folder = if path.file_name().is_some_and(|n| n == DATA_NAME) { path.parent() } else { Some(path) };
    folder.and_then(Path::file_name).and_then(|n| n.to_str()).is_some_and(|name| {
        let name = name.strip_suffix("+b64").unwrap_or(name);
        name.split('.').count() == 3 && name.split('.').all(|part| !part.is_empty())
    })
}

fn has_filters(s: &Settings) -> bool {
    s.engine.is_some() || s.serializer.is_some() || s.compress.is_some() || s.b64 || s.dbname.is_some()
}

/// Refuses settings that contradict the folder names of `config`'s stash.
fn agree(config: &StashConfig, settings: &Settings, target: &str) -> Res<()> {
    let checks = [
        ("engine", settings.engine.as_deref(), config.engine.clone()),
        ("serializer", settings.serializer.as_deref(), config.serializer.to_string()),
        ("compress", settings.compress.as_deref(), config.compress.to_string()),
        ("dbname", settings.dbname.as_deref(), config.dbname.clone()),
        ("b64", settings.b64.then_some("true"), config.b64.to_string()),
    ];
    for (name, given, actual) in checks {
        if let Some(given) = given
            && given != actual
        {
            return Err(config_error(format!(
                "{target} is a stash with {name} `{actual}`, but --{name} says `{given}` \
                 (the folder names give the settings: name another stash)"
            )));
        }
    }
    Ok(())
}

/// The stashes in `dir` and up to three folders below it (`root/dbname/stash`,
/// `parent/root/dbname/stash`).
fn stashes_under(dir: &Path) -> Res<Vec<StashConfig>> {
    let mut found = Vec::new();
    let mut level = vec![dir.to_path_buf()];
    for _depth in 0..4 {
        let mut next = Vec::new();
        for folder in level {
            if let Ok(config) = StashConfig::from_data_path(&folder)
                && folder.join(DATA_NAME).exists()
            {
                found.push(config);
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&folder) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let hidden = name.to_string_lossy().starts_with('.');
                if !hidden && name != DATA_NAME && entry.file_type().is_ok_and(|t| t.is_dir()) {
                    next.push(entry.path());
                }
            }
        }
        level = next;
    }
    found.sort_by_key(|c| c.stash_dir().ok());
    Ok(found)
}

/// Whether an engine can keep the Python library's layout.
fn has_python_layout(engine: &str) -> bool {
    hashstash::engines::factory(engine).is_ok_and(|f| f.python_layout())
}

/// `config` with the layout `--layout` gives, or the one its entries show: a
/// stash whose slots are the md5 of their keys is the Python library's (or a
/// stash written with digest md5); an lmdb stash whose records are not the
/// native ones is tried in the Python layout.
fn layout(config: StashConfig, given: Option<LayoutArg>) -> Res<(StashConfig, bool)> {
    match given {
        Some(LayoutArg::Python) => return Ok((config.python(), false)),
        Some(LayoutArg::Native) => return Ok((config, false)),
        None => {}
    }
    let on_disk = config.url.is_none() && config.data_path().is_ok_and(|p| p.exists());
    if !on_disk {
        return Ok((config, false));
    }
    let python = config.clone().python();
    let python_ok = has_python_layout(&config.engine) && python.validate().is_ok();
    match first_entry(&config) {
        Probe::Entry { md5: true } if python_ok => Ok((python, true)),
        Probe::Entry { md5: true } => {
            let mut md5 = config;
            md5.digest = DigestAlgo::Md5;
            Ok((md5, true))
        }
        Probe::Entry { md5: false } => Ok((config, true)),
        Probe::Empty => Ok((config, false)),
        Probe::Unreadable if python_ok && matches!(first_entry(&python), Probe::Entry { .. }) => {
            Ok((python, true))
        }
        Probe::Unreadable => Ok((config, false)),
    }
}

enum Probe {
    Entry { md5: bool },
    Empty,
    Unreadable,
}

/// Opens the stash and reads its first entry's metadata.
fn first_entry(config: &StashConfig) -> Probe {
    let Ok(stash) = HashStash::open(config.clone()) else { return Probe::Unreadable };
    let first = match stash.engine().scan_meta() {
        Ok(mut metas) => metas.next(),
        Err(_) => return Probe::Unreadable,
    };
    match first {
        None => Probe::Empty,
        Some(Ok(meta)) => Probe::Entry {
            md5: meta.digest == DigestAlgo::Md5.digest(&meta.key)
                && meta.digest != DigestAlgo::Blake3.digest(&meta.key),
        },
        Some(Err(_)) => Probe::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_redis_scheme_the_engine_takes_opens_the_redis_engine() {
        for url in [
            "redis://h:6379/0",
            "rediss://h:6380/0",
            "valkey://h:6379",
            "valkeys://h:6380",
            "redis+cluster://h1:7001,h2:7002",
            "rediss+cluster://h1:7101,h2:7102",
            "unix:///tmp/redis.sock",
        ] {
            let config = server(url, &Settings { namespace: Some("ns".into()), ..Settings::default() });
            assert_eq!(config.map(|c| c.engine).ok().as_deref(), Some("redis"), "{url}");
        }
        let other = server("ftp://h", &Settings { namespace: Some("ns".into()), ..Settings::default() });
        assert!(other.is_err());
    }
}
