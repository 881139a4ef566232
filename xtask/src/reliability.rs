//! `cargo xtask reliability [HARNESS] [options]`: the reliability harnesses (the
//! `reliability` binary of `hashstash-reliability`; in release mode, except with
//! `--quick`, which builds in the dev profile so CI reuses the test build's artifacts
//! instead of compiling every engine again). HARNESS is one of `crash` (SIGKILL
//! mid-write), `processes` (many processes against a replay of their logs), `flips`
//! (stored bytes damaged at random), `disk` (a full and a read-only disk), `servers`
//! (a server killed mid-write), `fuzz` (every fuzz corpus replayed); without one, all
//! run and print one table. Options: `--quick` (CI's size), `--engine E[/setting]`
//! (repeatable), `--kills N`, `--procs P`, `--ops N`, `--trials N`, `--seed S`,
//! `--keep` (keep the stashes and logs).
//!
//! The server engines run when their URL is set (`cargo xtask services up`
//! starts the servers and prints the variables); they are skipped otherwise.
//! `--services` starts them for this run and stops them afterwards (CI).

use std::process::Command;

use crate::{Result, run, services, workspace_root};

pub fn reliability(args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--quick");
    let with_services = args.iter().any(|a| a == "--services");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--services").collect();
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(workspace_root()).arg("run");
    if !quick {
        cargo.arg("--release");
    }
    cargo.args(["--quiet", "-p", "hashstash-reliability", "--bin", "reliability", "--"]).args(args);
    if !with_services {
        return run(&mut cargo);
    }
    let vars = match services::up() {
        Ok(vars) => vars,
        Err(e) => {
            let _ = services::down();
            return Err(e);
        }
    };
    let ran = run(cargo.envs(vars.iter().map(|(k, v)| (k, v))));
    let stopped = services::down();
    ran.and(stopped)
}
