//! The command line, as clap parses it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Look inside, check, export and move any stash from the shell: stashes this
/// project writes (every embedded engine) and stashes the Python library wrote.
///
/// STASH is a stash's `data.db`, its folder (`<engine>.<serializer>.<compress>[+b64]`,
/// whose name gives the settings), a folder holding exactly one stash (a root or a
/// root/dbname), or a server URL (`redis://host:6379/0`, `mongodb://host:27017`).
/// Keys and values are JSON (tuples, sets and bytes in the hashstash type tags);
/// a key that is not valid JSON is a string. Exit codes: 0 ok, 1 error, 2 usage.
#[derive(Debug, Parser)]
#[command(name = "hashstash", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Engine, serializer, compressor, layout, entries, sizes, oldest and newest write.
    Info {
        #[command(flatten)]
        stash: StashArgs,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The keys, one a line.
    Keys {
        #[command(flatten)]
        stash: StashArgs,
        /// Stop after this many keys.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// JSON lines (for scripts) instead of the display form.
        #[arg(long)]
        json: bool,
    },
    /// The value of one key (exit code 1 when it is not there).
    Get {
        #[command(flatten)]
        stash: StashArgs,
        /// The key, as JSON (`'"cat"'`, `42`, `'["bad","good"]'`); not JSON: a string.
        key: String,
        /// Print the value as JSON instead of its display form.
        #[arg(long)]
        json: bool,
    },
    /// Stores a value under a key (creating the stash when STASH names its folder).
    Set {
        #[command(flatten)]
        stash: StashArgs,
        /// The key, as JSON; not JSON: a string.
        key: String,
        /// The value, as JSON; not JSON: a string.
        value: String,
        /// The entry expires this long after it is written (`90s`, `30m`, `12h`, `7d`).
        #[arg(long, value_parser = parse_age, value_name = "AGE")]
        ttl: Option<Duration>,
        /// Keep the older values of this key too (append mode).
        #[arg(long)]
        append: bool,
    },
    /// Removes a key (exit code 1 when it is not there).
    Rm {
        #[command(flatten)]
        stash: StashArgs,
        /// The key, as JSON; not JSON: a string.
        key: String,
    },
    /// Entries, versions, expired entries and sizes.
    Stats {
        #[command(flatten)]
        stash: StashArgs,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Removes expired entries, or entries older than an age.
    #[command(group = clap::ArgGroup::new("what").required(true).args(["expired", "older_than"]))]
    Prune {
        #[command(flatten)]
        stash: StashArgs,
        /// Expired entries only.
        #[arg(long)]
        expired: bool,
        /// Expired entries and those last written more than AGE ago (`7d`, `12h`, `30m`).
        #[arg(long, value_parser = parse_age, value_name = "AGE")]
        older_than: Option<Duration>,
        /// Tell what would go; remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Reads every entry back and lists the damaged ones (exit code 1 if any is left).
    Verify {
        #[command(flatten)]
        stash: StashArgs,
        /// Remove the damaged entries, so the rest reads cleanly.
        #[arg(long)]
        repair: bool,
    },
    /// Removes every entry.
    Clear {
        #[command(flatten)]
        stash: StashArgs,
        /// Yes, remove every entry (required).
        #[arg(long, required = true)]
        yes: bool,
    },
    /// Writes the stash as a table (JSON lines, CSV, Parquet) or as key/value pairs.
    Export {
        #[command(flatten)]
        stash: StashArgs,
        /// `jsonl`, `csv` and `parquet` are tables (records flattened into columns, as
        /// `stash.df()`); `pairs` is one `{"_key": ..., "_value": ...}` a line, exactly
        /// what `import` reads back.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The file to write (default: standard output).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Add `_version` and `_written_at` columns (tables only).
        #[arg(long)]
        with_metadata: bool,
        /// A row per kept version in append mode (tables only).
        #[arg(long)]
        all_versions: bool,
    },
    /// Reads JSON lines (`{"_key": ..., "_value": ...}`, or `_key` and fields) into the stash.
    Import {
        #[command(flatten)]
        stash: StashArgs,
        /// The JSON lines file (`-` for standard input).
        file: PathBuf,
    },
    /// Moves every version of every entry into another stash (another engine,
    /// serializer or compressor); the source is left as it is.
    Migrate {
        /// The source stash.
        source: String,
        #[command(flatten)]
        target: TargetArgs,
        /// Read and convert everything, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copies the newest value of every entry into another stash.
    Copy {
        /// The source stash.
        source: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Prints a shell completion script (`hashstash completions bash > ~/.local/share/bash-completion/completions/hashstash`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// How to measure stashes (the benchmark matrix runs from the repository).
    Bench,
}

/// Which stash a command works on.
#[derive(Debug, Args)]
pub struct StashArgs {
    /// The stash: a path (its data.db, its folder, or a folder holding one stash) or a server URL.
    #[arg(value_name = "STASH")]
    pub path: String,
    #[command(flatten)]
    pub settings: Settings,
}

/// Settings that pick or describe a stash; for a path they must agree with
/// the folder names (and choose among several stashes under one folder).
#[derive(Debug, Args, Default, Clone)]
pub struct Settings {
    /// Engine (`pairtree`, `lmdb`, `sqlite`, `sled`, `redis`, `mongo`).
    #[arg(long)]
    pub engine: Option<String>,
    /// Serializer (`hashstash`, `json`, `msgpack`, `postcard`).
    #[arg(long)]
    pub serializer: Option<String>,
    /// Compressor (`raw`, `lz4`, `zstd`, `blosc`, `zlib`, `gzip`, `bz2`).
    #[arg(long)]
    pub compress: Option<String>,
    /// Keys and values are base64-encoded (`+b64` folders).
    #[arg(long)]
    pub b64: bool,
    /// Layout: `python` (the Python library's, digest md5) or `native`; found out from the entries when not given.
    #[arg(long, value_enum)]
    pub layout: Option<LayoutArg>,
    /// The database name (the folder above the stash folder; for servers part of the namespace).
    #[arg(long)]
    pub dbname: Option<String>,
    /// Servers: the root the writing program configured (default `default_stash`), part of the namespace.
    #[arg(long, value_name = "ROOT")]
    pub root: Option<String>,
    /// Servers: an explicit namespace (Redis key prefix, MongoDB collection) instead of root/dbname.
    #[arg(long)]
    pub namespace: Option<String>,
}

/// Where `migrate` and `copy` write.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The target: a stash folder (`.../<engine>.<serializer>.<compress>`), or a root
    /// folder under which `<dbname>/<engine>.<serializer>.<compress>` is made, or a URL.
    #[arg(long = "to", value_name = "TARGET")]
    pub to: String,
    /// Target settings; each one not given is the source's.
    #[command(flatten)]
    pub settings: Settings,
}

/// `--layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// The Python library's layout (serializer hashstash, digest md5).
    Python,
    /// This library's own layout (digest blake3).
    Native,
}

/// `export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Table rows as JSON lines.
    Jsonl,
    /// Table as CSV with a header row.
    Csv,
    /// Table as Parquet.
    Parquet,
    /// One `{"_key": ..., "_value": ...}` a line, lossless (what `import` reads).
    Pairs,
}

/// An age: a number and a unit (`s`, `m`, `h`, `d`, `w`), or seconds.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| {
        format!("`{text}` is not an age: expected a number and a unit, as `7d`, `12h`, `30m`, `90s`")
    })?;
    let unit_secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        other => return Err(format!("unknown unit `{other}` in `{text}`: use s, m, h, d or w")),
    };
    let age = Duration::try_from_secs_f64(number * unit_secs).map_err(|e| format!("`{text}`: {e}"))?;
    if age.is_zero() {
        return Err(format!("`{text}`: an age must be longer than zero"));
    }
    Ok(age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_age("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_age("2w"), Ok(Duration::from_secs(14 * 86_400)));
        for bad in ["", "d", "7x", "0s", "-1d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
