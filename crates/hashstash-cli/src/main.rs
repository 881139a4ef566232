//! `hashstash`: look inside, check, export and move any stash from the shell.
//!
//! Every command takes the stash as a path (its `data.db`, the stash folder
//! `<engine>.<serializer>.<compress>[+b64]` whose name gives the settings, or a
//! folder holding exactly one stash) or as a server URL (`redis://...`,
//! `mongodb://...`). Exit codes: 0 ok, 1 error, 2 usage. See `docs/cli.md`.

mod cli;
mod commands;
mod fail;
mod locate;
mod output;
mod transfer;
mod values;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A bug must still end as an error line and exit code 1, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("hashstash: internal error: {what}{at} (please report it)");
        std::process::exit(1);
    }));
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
