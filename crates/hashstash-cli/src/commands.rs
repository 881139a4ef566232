//! The commands that work on one stash: info, keys, get, set, rm, stats, prune,
//! verify, clear; and dispatch.

use std::io::Write;

use clap::CommandFactory;
use hashstash::{Prune, SetOptions, Value};
use serde_json::json;
use stash_core::clock::{is_expired, now_micros};

use crate::cli::{Cli, Command, StashArgs};
use crate::fail::{Failure, Res};
use crate::locate::{self, Need, Opened};
use crate::output::{self, bytes, table, utc};
use crate::values::{parse_arg, to_json};

/// Runs one command line.
pub fn run(cli: Cli) -> Res {
    match cli.command {
        Command::Info { stash, json } => info(&stash, json),
        Command::Keys { stash, limit, json } => keys(&stash, limit, json),
        Command::Get { stash, key, json } => get(&stash, &key, json),
        Command::Set { stash, key, value, ttl, append } => set(&stash, &key, &value, ttl, append),
        Command::Rm { stash, key } => rm(&stash, &key),
        Command::Stats { stash, json } => stats(&stash, json),
        Command::Prune { stash, expired: _, older_than, dry_run } => prune(&stash, older_than, dry_run),
        Command::Verify { stash, repair } => verify(&stash, repair),
        Command::Clear { stash, yes: _ } => clear(&stash),
        Command::Export { stash, format, output, with_metadata, all_versions } => {
            crate::transfer::export(&stash, format, output.as_deref(), with_metadata, all_versions)
        }
        Command::Import { stash, file } => crate::transfer::import(&stash, &file),
        Command::Migrate { source, target, dry_run } => crate::transfer::migrate(&source, &target, dry_run),
        Command::Copy { source, target } => crate::transfer::copy(&source, &target),
        Command::Completions { shell } => {
            let mut out = output::stdout();
            clap_complete::generate(shell, &mut Cli::command(), "hashstash", &mut out);
            out.flush()?;
            Ok(())
        }
        Command::Bench => bench(),
    }
}

fn open(args: &StashArgs, need: Need) -> Res<Opened> {
    locate::open(&args.path, &args.settings, need)
}

/// What one scan of the entries' metadata finds.
#[derive(Default)]
struct Census {
    entries: u64,
    expired: u64,
    versions: u64,
    value_bytes: u64,
    key_bytes: u64,
    damaged: u64,
    oldest: Option<i64>,
    newest: Option<i64>,
}

fn census(opened: &Opened) -> Res<Census> {
    let now = now_micros();
    let mut c = Census::default();
    let metas = opened.stash.engine().scan_meta().map_err(|e| Failure::from(e).at(&opened.shown))?;
    for meta in metas {
        let Ok(meta) = meta else {
            c.damaged += 1;
            continue;
        };
        if is_expired(meta.expires_at_micros, now) {
            c.expired += 1;
            continue;
        }
        c.entries += 1;
        c.versions = c.versions.saturating_add(meta.versions);
        c.value_bytes = c.value_bytes.saturating_add(meta.value_bytes);
        c.key_bytes = c.key_bytes.saturating_add(meta.key.len() as u64);
        c.oldest = Some(c.oldest.map_or(meta.written_at_micros, |o| o.min(meta.written_at_micros)));
        c.newest = Some(c.newest.map_or(meta.written_at_micros, |n| n.max(meta.written_at_micros)));
    }
    Ok(c)
}

fn info(args: &StashArgs, as_json: bool) -> Res {
    let opened = open(args, Need::Existing)?;
    let config = opened.stash.config();
    let c = census(&opened)?;
    let disk = opened.stash.engine().disk_usage().map_err(|e| Failure::from(e).at(&opened.shown))?;
    let layout = if config.python_compatible { "python" } else { "native" };
    let mut out = output::stdout();
    if as_json {
        let shown = json!({
            "stash": opened.shown,
            "engine": config.engine,
            "serializer": config.serializer.to_string(),
            "compress": config.compress.to_string(),
            "b64": config.b64,
            "layout": layout,
            "digest": config.digest.to_string(),
            "entries": c.entries,
            "versions": c.versions,
            "expired": c.expired,
            "damaged": c.damaged,
            "key_bytes": c.key_bytes,
            "value_bytes": c.value_bytes,
            "disk_bytes": disk,
            "oldest_write": c.oldest.map(utc),
            "newest_write": c.newest.map(utc),
        });
        writeln!(out, "{shown}")?;
    } else {
        let how = if opened.layout_detected { "found from the entries" } else { "default" };
        let layout_text = match layout {
            "python" => format!("python (hashstash 1.2), digest {} ({how})", config.digest),
            _ => format!("native, digest {} ({how})", config.digest),
        };
        let rows = [
            ("stash", opened.shown.clone()),
            ("engine", config.engine.clone()),
            ("serializer", config.serializer.to_string()),
            ("compress", config.compress.to_string()),
            ("b64", config.b64.to_string()),
            ("layout", layout_text),
            ("entries", c.entries.to_string()),
            ("versions", c.versions.to_string()),
            ("expired", c.expired.to_string()),
            ("damaged", c.damaged.to_string()),
            ("key bytes", bytes(c.key_bytes)),
            ("value bytes", bytes(c.value_bytes)),
            ("disk bytes", disk.map_or_else(|| "-".into(), bytes)),
            ("oldest write", c.oldest.map_or_else(|| "-".into(), utc)),
            ("newest write", c.newest.map_or_else(|| "-".into(), utc)),
        ];
        table(&mut out, &rows)?;
    }
    out.flush()?;
    Ok(())
}

fn keys(args: &StashArgs, limit: Option<usize>, as_json: bool) -> Res {
    let opened = open(args, Need::Existing)?;
    let mut out = output::stdout();
    let keys = opened.stash.keys::<Value>().map_err(|e| Failure::from(e).at(&opened.shown))?;
    for key in keys.take(limit.unwrap_or(usize::MAX)) {
        let key = key.map_err(|e| Failure::from(e).at(&opened.shown))?;
        if as_json {
            writeln!(out, "{}", to_json(&key)?)?;
        } else {
            writeln!(out, "{key}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The error for a key that is not in the stash, naming its digest.
fn not_found(opened: &Opened, key: &Value) -> Failure {
    let digest = match opened.stash.encode_key(key) {
        Ok(encoded) => encoded.digest.to_string(),
        Err(e) => format!("(key does not encode: {e})"),
    };
    Failure::plain(
        "not found",
        format!("key {key} is not in the stash (stash: {}, digest: {digest})", opened.shown),
    )
}

fn get(args: &StashArgs, key: &str, as_json: bool) -> Res {
    let opened = open(args, Need::Existing)?;
    let key = parse_arg(key);
    let value: Option<Value> = opened.stash.get(&key).map_err(|e| Failure::from(e).at(&opened.shown))?;
    let Some(value) = value else { return Err(not_found(&opened, &key)) };
    let mut out = output::stdout();
    if as_json {
        writeln!(out, "{}", to_json(&value)?)?;
    } else {
        writeln!(out, "{value}")?;
    }
    out.flush()?;
    Ok(())
}

fn set(args: &StashArgs, key: &str, value: &str, ttl: Option<std::time::Duration>, append: bool) -> Res {
    let opened = open(args, Need::MayCreate)?;
    let (key, value) = (parse_arg(key), parse_arg(value));
    let mut options = SetOptions::new().append(append);
    if let Some(ttl) = ttl {
        options = options.ttl(ttl);
    }
    opened.stash.set_with(&key, &value, options).map_err(|e| Failure::from(e).at(&opened.shown))?;
    opened.stash.flush().map_err(|e| Failure::from(e).at(&opened.shown))?;
    Ok(())
}

fn rm(args: &StashArgs, key: &str) -> Res {
    let opened = open(args, Need::Existing)?;
    let key = parse_arg(key);
    if !opened.stash.remove(&key).map_err(|e| Failure::from(e).at(&opened.shown))? {
        return Err(not_found(&opened, &key));
    }
    opened.stash.flush().map_err(|e| Failure::from(e).at(&opened.shown))?;
    Ok(())
}

fn stats(args: &StashArgs, as_json: bool) -> Res {
    let opened = open(args, Need::Existing)?;
    let s = opened.stash.stats().map_err(|e| Failure::from(e).at(&opened.shown))?;
    let mut out = output::stdout();
    if as_json {
        let shown = json!({
            "entries": s.entries,
            "expired": s.expired,
            "versions": s.versions,
            "key_bytes": s.key_bytes,
            "value_bytes": s.value_bytes,
            "disk_bytes": s.disk_bytes,
            "damaged": s.damaged,
        });
        writeln!(out, "{shown}")?;
    } else {
        table(
            &mut out,
            &[
                ("entries", s.entries.to_string()),
                ("expired", s.expired.to_string()),
                ("versions", s.versions.to_string()),
                ("key bytes", bytes(s.key_bytes)),
                ("value bytes", bytes(s.value_bytes)),
                ("disk bytes", s.disk_bytes.map_or_else(|| "-".into(), bytes)),
                ("damaged", s.damaged.to_string()),
            ],
        )?;
    }
    out.flush()?;
    Ok(())
}

fn prune(args: &StashArgs, older_than: Option<std::time::Duration>, dry_run: bool) -> Res {
    let opened = open(args, Need::Existing)?;
    let mut what = older_than.map_or_else(Prune::expired, Prune::older_than);
    if dry_run {
        what = what.dry_run();
    }
    let report = opened.stash.prune(what).map_err(|e| Failure::from(e).at(&opened.shown))?;
    let mut out = output::stdout();
    for meta in &report.entries {
        let key = opened
            .stash
            .decode_key::<Value>(&meta.key)
            .map_or_else(|_| "(key unreadable)".into(), |k| k.to_string());
        writeln!(
            out,
            "{} {key} (digest {}, written {})",
            if dry_run { "would remove" } else { "removed" },
            meta.digest,
            utc(meta.written_at_micros)
        )?;
    }
    writeln!(
        out,
        "{} {} entr{} ({}){}",
        if dry_run { "would remove" } else { "removed" },
        report.len(),
        if report.len() == 1 { "y" } else { "ies" },
        bytes(report.value_bytes),
        if report.damaged > 0 {
            format!("; {} damaged entries skipped (see `hashstash verify`)", report.damaged)
        } else {
            String::new()
        }
    )?;
    out.flush()?;
    Ok(())
}

fn verify(args: &StashArgs, repair: bool) -> Res {
    let opened = open(args, Need::Existing)?;
    let report = if repair { opened.stash.repair() } else { opened.stash.verify() }
        .map_err(|e| Failure::from(e).at(&opened.shown))?;
    let mut out = output::stdout();
    let mut left = 0;
    for damaged in &report.damaged {
        let digest = damaged.meta.as_ref().map_or_else(|| "unknown".into(), |m| m.digest.to_string());
        let state = if damaged.removed { "removed" } else { "damaged" };
        if !damaged.removed {
            left += 1;
        }
        writeln!(
            out,
            "{state}: digest {digest}: {} ({})",
            crate::fail::redact(&damaged.error.report().to_string()),
            damaged.error.kind()
        )?;
    }
    writeln!(
        out,
        "{} healthy entr{} ({} version{}), {} damaged{}",
        report.healthy,
        if report.healthy == 1 { "y" } else { "ies" },
        report.versions,
        if report.versions == 1 { "" } else { "s" },
        report.damaged.len(),
        if repair { format!(", {} removed", report.damaged.len() - left) } else { String::new() }
    )?;
    out.flush()?;
    if left > 0 {
        let hint =
            if repair { "they could not be removed" } else { "`hashstash verify --repair` removes them" };
        return Err(Failure::plain(
            "corrupt data",
            format!(
                "{left} damaged entr{} in {} ({hint})",
                if left == 1 { "y" } else { "ies" },
                opened.shown
            ),
        ));
    }
    Ok(())
}

fn clear(args: &StashArgs) -> Res {
    let opened = open(args, Need::Existing)?;
    let before = opened.stash.len().map_err(|e| Failure::from(e).at(&opened.shown))?;
    opened.stash.clear().map_err(|e| Failure::from(e).at(&opened.shown))?;
    let mut out = output::stdout();
    writeln!(out, "cleared {before} entr{} from {}", if before == 1 { "y" } else { "ies" }, opened.shown)?;
    out.flush()?;
    Ok(())
}

fn bench() -> Res {
    let mut out = output::stdout();
    writeln!(
        out,
        "This binary does not carry the benchmark matrix. From a clone of the repository:\n\n  \
         cargo xtask bench            # every engine x serializer x compressor, with a report\n  \
         cargo xtask bench --quick    # a short run (what CI does)\n\n\
         See \"Speed\" and \"Profiling\" in README.md for what is measured and where the report goes."
    )?;
    out.flush()?;
    Ok(())
}
