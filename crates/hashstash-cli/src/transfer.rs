//! Moving entries in and out: export (tables through stash-frame, or key/value
//! pairs), import, migrate and copy.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::Path;

use hashstash::frame::{FrameOptions, assemble_df, assemble_ld, to_csv, to_json_lines};
use hashstash::{Error, StashConfig, Value};

use crate::cli::{ExportFormat, Settings, StashArgs, TargetArgs};
use crate::fail::{Failure, Res};
use crate::locate::{self, Need, Opened};
use crate::output;
use crate::values::{import_pair, to_json};

/// How many entries an import hands to the engine at once.
const IMPORT_CHUNK: usize = 1000;

fn frame_error(e: hashstash::frame::FrameError) -> Failure {
    Failure::Stash(Error::from(e))
}

/// `export`: writes `output`, or standard output through a temporary file.
pub fn export(
    args: &StashArgs,
    format: ExportFormat,
    output: Option<&Path>,
    with_metadata: bool,
    all_versions: bool,
) -> Res {
    let opened = locate::open(&args.path, &args.settings, Need::Existing)?;
    if format == ExportFormat::Parquet && output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::Usage(
            "Parquet is binary: give -o FILE, or send standard output to a file".into(),
        ));
    }
    let temp = match output {
        Some(_) => None,
        None => Some(tempfile::NamedTempFile::new().map_err(|e| {
            Failure::from(Error::io(e, "create a temporary file for the export", &std::env::temp_dir()))
        })?),
    };
    let path = match (&temp, output) {
        (Some(t), _) => t.path().to_path_buf(),
        (None, Some(p)) => p.to_path_buf(),
        (None, None) => return Err(Failure::Usage("no output file".into())),
    };
    let mut options = FrameOptions::new().with_metadata(with_metadata);
    if all_versions {
        options = options.all_versions(true);
    }
    let stash = opened.stash.as_stash();
    let at = |e: hashstash::frame::FrameError| frame_error(e).at(&opened.shown);
    let (rows, what) = match format {
        ExportFormat::Jsonl => {
            let rows = assemble_ld(stash, options).map_err(at)?;
            (to_json_lines(&rows, &path).map_err(at)?, "rows")
        }
        ExportFormat::Csv => {
            let df = assemble_df(stash, options).map_err(at)?;
            to_csv(&df, &path).map_err(at)?;
            (df.height(), "rows")
        }
        ExportFormat::Parquet => (parquet(stash, options, &path).map_err(|e| e.at(&opened.shown))?, "rows"),
        ExportFormat::Pairs => (pairs(&opened, &path)?, "entries"),
    };
    match (temp, output) {
        (Some(temp), _) => {
            let mut file =
                temp.reopen().map_err(|e| Failure::from(Error::io(e, "read the export back", &path)))?;
            let mut out = output::stdout();
            std::io::copy(&mut file, &mut out)?;
            out.flush()?;
        }
        (None, Some(file)) => eprintln!("exported {rows} {what} of {} to {}", opened.shown, file.display()),
        (None, None) => {}
    }
    Ok(())
}

#[cfg(feature = "parquet")]
fn parquet(stash: &hashstash::Stash, options: FrameOptions, path: &Path) -> Res<usize> {
    let df = assemble_df(stash, options).map_err(frame_error)?;
    hashstash::frame::to_parquet(&df, path).map_err(frame_error)?;
    Ok(df.height())
}

#[cfg(not(feature = "parquet"))]
fn parquet(_: &hashstash::Stash, _: FrameOptions, _: &Path) -> Res<usize> {
    Err(Failure::Stash(Error::new(
        hashstash::ErrorKind::NotCompiled,
        "Parquet export is not compiled in: build hashstash-cli with the feature `parquet`",
    )))
}

/// One `{"_key": ..., "_value": ...}` line per entry; returns how many.
fn pairs(opened: &Opened, path: &Path) -> Res<usize> {
    let file = File::create(path).map_err(|e| Failure::from(Error::io(e, "create the export file", path)))?;
    let mut out = std::io::BufWriter::new(file);
    let write_error = |e: std::io::Error| Failure::from(Error::io(e, "write the export file", path));
    let total = opened.stash.len().map_err(|e| Failure::from(e).at(&opened.shown))?;
    let bar = output::bar(total as u64, "exporting");
    let mut n = 0;
    let items = opened.stash.items::<Value, Value>().map_err(|e| Failure::from(e).at(&opened.shown))?;
    for item in items {
        let (key, value) = item.map_err(|e| Failure::from(e).at(&opened.shown))?;
        writeln!(out, "{{\"_key\":{},\"_value\":{}}}", to_json(&key)?, to_json(&value)?)
            .map_err(write_error)?;
        n += 1;
        bar.inc(1);
    }
    out.flush().map_err(write_error)?;
    bar.finish_and_clear();
    Ok(n)
}

/// `import`: reads every line first (a bad line fails the import before anything
/// is written), then writes in batches.
pub fn import(args: &StashArgs, file: &Path) -> Res {
    let reader: Box<dyn Read> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(file).map_err(|e| Failure::from(Error::io(e, "open the file to import", file)))?)
    };
    let mut entries = Vec::new();
    for (i, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(|e| Failure::from(Error::io(e, "read the file to import", file)))?;
        if line.trim().is_empty() {
            continue;
        }
        let pair = import_pair(&line).map_err(|why| {
            Failure::plain("bad input", format!("{}:{}: {why} (nothing was imported)", file.display(), i + 1))
        })?;
        entries.push(pair);
    }
    let opened = locate::open(&args.path, &args.settings, Need::MayCreate)?;
    let bar = output::bar(entries.len() as u64, "importing");
    let at = |e: Error| Failure::from(e).at(&opened.shown);
    for chunk in entries.chunks(IMPORT_CHUNK) {
        let mut batch = opened.stash.batch();
        for (key, value) in chunk {
            batch.set(key, value).map_err(at)?;
        }
        batch.commit().map_err(at)?;
        bar.inc(chunk.len() as u64);
    }
    opened.stash.flush().map_err(at)?;
    bar.finish_and_clear();
    let mut out = output::stdout();
    writeln!(out, "imported {} entries into {}", entries.len(), opened.shown)?;
    out.flush()?;
    Ok(())
}

/// The settings of a target: each one not given is the source's.
fn inherit(given: &Settings, source: &StashConfig, with_engine: bool) -> Settings {
    let mut s = given.clone();
    if with_engine && s.engine.is_none() {
        s.engine = Some(source.engine.clone());
    }
    s.serializer.get_or_insert_with(|| source.serializer.to_string());
    s.compress.get_or_insert_with(|| source.compress.to_string());
    s.b64 |= source.b64;
    s
}

/// Opens the target of `migrate` or `copy`.
fn target(source: &Opened, args: &TargetArgs) -> Res<Opened> {
    let src = source.stash.config();
    let to = args.to.as_str();
    let (config, shown) = if locate::is_url(to) {
        locate::configure(to, &inherit(&args.settings, src, false), Need::MayCreate)?
    } else if StashConfig::from_data_path(Path::new(to)).is_ok() {
        locate::configure(to, &args.settings, Need::MayCreate)?
    } else {
        // A root: <to>/<dbname>/<engine>.<serializer>.<compress>[+b64].
        let s = inherit(&args.settings, src, true);
        let dbname = s.dbname.clone().unwrap_or_else(|| src.dbname.clone());
        let name = format!(
            "{}.{}.{}{}",
            s.engine.as_deref().unwrap_or(&src.engine),
            s.serializer.as_deref().unwrap_or_default(),
            s.compress.as_deref().unwrap_or_default(),
            if s.b64 { "+b64" } else { "" }
        );
        let folder = Path::new(to).join(dbname).join(name);
        locate::configure(
            &folder.to_string_lossy(),
            &Settings { layout: s.layout, ..Settings::default() },
            Need::MayCreate,
        )?
    };
    let same = config.url == src.url
        && config.data_path().ok() == src.data_path().ok()
        && config.logical_name() == src.logical_name();
    if same {
        return Err(Failure::Usage(format!("the target is the source ({shown}): name another stash")));
    }
    locate::open_config(config, &args.settings, shown)
}

/// `migrate`: every version of every entry, with a summary.
pub fn migrate(source: &str, args: &TargetArgs, dry_run: bool) -> Res {
    let from = locate::open(source, &Settings::default(), Need::Existing)?;
    let to = target(&from, args)?;
    let total = from.stash.len().map_err(|e| Failure::from(e).at(&from.shown))?;
    let spinner = output::spinner(format!("migrating {total} entries"));
    let report = from.stash.migrate(&to.stash, dry_run).map_err(|e| Failure::from(e).at(&from.shown))?;
    spinner.finish_and_clear();
    let mut out = output::stdout();
    for failure in &report.failures {
        writeln!(out, "failed: {}", crate::fail::redact(&failure.report().to_string()))?;
    }
    writeln!(
        out,
        "{} {} entries ({} versions) from {} to {}; {} failed",
        if dry_run { "would migrate" } else { "migrated" },
        report.entries - report.failures.len(),
        report.versions,
        from.shown,
        to.shown,
        report.failures.len()
    )?;
    out.flush()?;
    if !report.failures.is_empty() {
        return Err(Failure::plain(
            "corrupt data",
            format!(
                "{} entries of {} could not be migrated (listed above)",
                report.failures.len(),
                from.shown
            ),
        ));
    }
    Ok(())
}

/// `copy`: the newest value of every entry, with a summary.
pub fn copy(source: &str, args: &TargetArgs) -> Res {
    let from = locate::open(source, &Settings::default(), Need::Existing)?;
    let to = target(&from, args)?;
    let total = from.stash.len().map_err(|e| Failure::from(e).at(&from.shown))?;
    let spinner = output::spinner(format!("copying {total} entries"));
    let n = from.stash.copy_to(&to.stash).map_err(|e| Failure::from(e).at(&from.shown))?;
    to.stash.flush().map_err(|e| Failure::from(e).at(&to.shown))?;
    spinner.finish_and_clear();
    let mut out = output::stdout();
    writeln!(out, "copied {n} entries from {} to {}", from.shown, to.shown)?;
    out.flush()?;
    Ok(())
}
