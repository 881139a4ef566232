//! `cargo xtask reliability [crash|processes] [options]`: the crash-consistency
//! and many-process harnesses (the `reliability` binary of
//! `hashstash-reliability`, in release mode). With neither `crash` nor
//! `processes`, both run and print one table. Options: `--quick` (CI's
//! size), `--engine E[/setting]` (repeatable), `--kills N`, `--procs P`,
//! `--ops N`, `--seed S`, `--keep` (keep the stashes and logs).
//!
//! The server engines run when their URL is set (`cargo xtask services up`
//! starts the servers and prints the variables); they are skipped otherwise.

use std::process::Command;

use crate::{Result, run, workspace_root};

pub fn reliability(args: &[String]) -> Result {
    run(Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["run", "--release", "--quiet", "-p", "hashstash-reliability", "--bin", "reliability", "--"])
        .args(args))
}
