//! `reliability`: the crash-consistency and many-process harnesses of hashstash
//! (run through `cargo xtask reliability`).
//!
//! ```text
//! reliability [HARNESS|all] [--quick] [--engine E[/setting]]... [--kills N]
//!             [--procs P] [--ops N] [--trials N] [--seed S] [--keep]
//! ```
//!
//! The harnesses: `crash` (SIGKILL mid-write), `processes` (many processes
//! against a replay of their logs), `flips` (stored bytes flipped or cut in
//! every engine's files), `disk` (a full disk and a read-only one), `servers`
//! (a server killed mid-write) and `fuzz` (every fuzz corpus replayed).
//!
//! Prints one table (harness × engine × setting × trials × failures, wall
//! time) and exits non-zero when anything failed. The `*-worker` tasks are the
//! children the harnesses start.

use std::fmt::Write as _;
use std::process::{Command, ExitCode, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

mod crash;
mod disk;
mod flips;
mod fuzz;
mod model;
mod processes;
mod servers;
mod spec;

use spec::Spec;

/// Findings shown under the table per row, at most.
const DETAILS: usize = 12;

/// The command line, as `--name value` pairs and flags.
pub struct Args {
    args: Vec<String>,
}

impl Args {
    fn flag(&self, name: &str) -> bool {
        self.args.iter().any(|a| a == name)
    }

    /// Every value given to `name`.
    fn values(&self, name: &str) -> Vec<String> {
        self.args.windows(2).filter(|w| w[0] == name).map(|w| w[1].clone()).collect()
    }

    /// The value of `name`, required.
    pub fn value(&self, name: &str) -> Result<String, String> {
        self.values(name).pop().ok_or_else(|| format!("missing {name}"))
    }

    /// The value of `name` as a number, required.
    pub fn number<T: FromStr>(&self, name: &str) -> Result<T, String> {
        let v = self.value(name)?;
        v.parse().map_err(|_| format!("{name}: `{v}` is not a number"))
    }

    fn number_or<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        if self.values(name).is_empty() { Ok(default) } else { self.number(name) }
    }

    /// The `--spec` of a worker.
    pub fn spec(&self) -> Result<Spec, String> {
        let label = self.value("--spec")?;
        Spec::parse(&label).ok_or_else(|| format!("unknown engine/setting `{label}`"))
    }
}

/// One line of the table.
#[derive(Debug)]
pub struct Row {
    harness: &'static str,
    spec: Spec,
    /// Kills (crash) or processes.
    trials: u64,
    /// Acknowledged (crash) or logged (processes) operations.
    ops: u64,
    unreadable: u64,
    lost: u64,
    phantom: u64,
    errors: u64,
    /// Other violations (torn batches, disagreeing views, double pops, recomputed results, order).
    other: u64,
    wall: Duration,
    /// Why the row did not run.
    skipped: Option<String>,
    notes: Vec<String>,
    details: Vec<Detail>,
    dropped: usize,
}

/// A finding shown under the table, with how many alike were found.
#[derive(Debug)]
struct Detail {
    shape: String,
    example: String,
    count: u64,
}

impl Row {
    fn new(harness: &'static str, spec: &Spec) -> Row {
        Row {
            harness,
            spec: *spec,
            trials: 0,
            ops: 0,
            unreadable: 0,
            lost: 0,
            phantom: 0,
            errors: 0,
            other: 0,
            wall: Duration::ZERO,
            skipped: None,
            notes: Vec::new(),
            details: Vec::new(),
            dropped: 0,
        }
    }

    /// A row that could not run at all: one error.
    fn broken(harness: &'static str, spec: &Spec, why: String, started: Instant) -> Row {
        let mut row = Row::new(harness, spec);
        row.errors = 1;
        row.detail(why);
        row.wall = started.elapsed();
        row
    }

    /// Records a finding; findings that differ only in their numbers are counted together.
    fn detail(&mut self, msg: String) {
        let shape: String = msg.chars().filter(|c| !c.is_ascii_digit()).collect();
        if let Some(d) = self.details.iter_mut().find(|d| d.shape == shape) {
            d.count += 1;
        } else if self.details.len() < DETAILS {
            self.details.push(Detail { shape, example: msg, count: 1 });
        } else {
            self.dropped += 1;
        }
    }

    fn failures(&self) -> u64 {
        self.unreadable + self.lost + self.phantom + self.errors + self.other
    }
}

/// A worker child of this program (`exe`, the current executable): `task --spec <label>`,
/// with no input, its output discarded and its stderr written to `stderr_file` (read into
/// the findings when the child fails). The caller adds the task's own arguments.
pub fn worker_command(
    exe: &std::path::Path,
    task: &str,
    spec: &Spec,
    stderr_file: &std::path::Path,
) -> Command {
    let stderr = std::fs::File::create(stderr_file).map(Stdio::from).unwrap_or_else(|_| Stdio::null());
    let mut cmd = Command::new(exe);
    cmd.args([task, "--spec", &spec.label()]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
    cmd
}

/// One trial's findings, by the column they count in.
#[derive(Debug, Default)]
pub struct Findings {
    unreadable: Vec<String>,
    lost: Vec<String>,
    phantom: Vec<String>,
    errors: Vec<String>,
    other: Vec<String>,
}

impl Row {
    /// Counts `f` in this row's columns, each message a detail under the table.
    fn add_findings(&mut self, f: Findings) {
        self.unreadable += f.unreadable.len() as u64;
        self.lost += f.lost.len() as u64;
        self.phantom += f.phantom.len() as u64;
        self.errors += f.errors.len() as u64;
        self.other += f.other.len() as u64;
        for m in f.unreadable.iter().chain(&f.lost).chain(&f.phantom).chain(&f.errors).chain(&f.other) {
            self.detail(m.clone());
        }
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| harness | engine | setting | trials | ops | unreadable | lost | phantom | errors | other | wall |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        if let Some(why) = &r.skipped {
            let _ = writeln!(
                out,
                "| {} | {} | {} | skipped: {why} | | | | | | | |",
                r.harness, r.spec.engine, r.spec.setting
            );
            continue;
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s |",
            r.harness,
            r.spec.engine,
            r.spec.setting,
            r.trials,
            r.ops,
            r.unreadable,
            r.lost,
            r.phantom,
            r.errors,
            r.other,
            r.wall.as_secs_f64()
        );
    }
    for r in rows {
        if r.notes.is_empty() && r.details.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{} {}:", r.harness, r.spec.label());
        for n in &r.notes {
            let _ = writeln!(out, "  - {n}");
        }
        for d in &r.details {
            let times = if d.count > 1 { format!(" (x{}, e.g.)", d.count) } else { String::new() };
            let _ = writeln!(out, "  !{times} {}", d.example);
        }
        if r.dropped > 0 {
            let _ = writeln!(out, "  ! ... and {} more of other kinds", r.dropped);
        }
    }
    out
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: reliability [crash|processes|flips|disk|servers|fuzz|all] [--quick] \
         [--engine E[/setting]]... [--kills N] [--procs P] [--ops N] [--trials N] [--seed S] [--keep]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match all.first().map(String::as_str) {
        Some(
            t @ ("crash" | "processes" | "flips" | "disk" | "servers" | "fuzz" | "all" | "crash-worker"
            | "proc-worker" | "flips-worker" | "disk-worker" | "servers-worker"),
        ) => (t.to_string(), &all[1..]),
        Some(a) if !a.starts_with("--") => return usage(),
        _ => ("all".to_string(), &all[..]),
    };
    let args = Args { args: rest.to_vec() };
    let worker = match task.as_str() {
        "crash-worker" => Some(crash::worker(&args)),
        "proc-worker" => Some(processes::worker(&args)),
        "flips-worker" => Some(flips::worker(&args)),
        "disk-worker" => Some(disk::worker(&args)),
        "servers-worker" => Some(servers::worker(&args)),
        _ => None,
    };
    if let Some(done) = worker {
        return match done {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("worker: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match harnesses(&task, &args) {
        Ok(rows) => {
            print!("{}", table(&rows));
            let failed: u64 = rows.iter().map(Row::failures).sum();
            if failed == 0 {
                println!("\nno failures");
                ExitCode::SUCCESS
            } else {
                println!("\n{failed} failures");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("reliability: {e}");
            usage()
        }
    }
}

fn harnesses(task: &str, args: &Args) -> Result<Vec<Row>, String> {
    let quick = args.flag("--quick");
    let keep = args.flag("--keep");
    let filters = args.values("--engine");
    for f in &filters {
        if !spec::ALL.iter().any(|s| s.matches(f)) {
            return Err(format!("unknown engine `{f}`"));
        }
    }
    let pick = |specs: &[Spec]| -> Vec<Spec> {
        specs.iter().copied().filter(|s| filters.is_empty() || filters.iter().any(|f| s.matches(f))).collect()
    };
    let seed = match args.values("--seed").pop() {
        Some(s) => s.parse().map_err(|_| format!("--seed: `{s}` is not a number"))?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    let mut rerun = format!("cargo xtask reliability {task} --seed {seed}");
    if quick {
        rerun.push_str(" --quick");
    }
    println!("seed {seed} (rerun: {rerun})");
    let mut rows = Vec::new();
    if matches!(task, "crash" | "all") {
        let kills = args.number_or("--kills", if quick { 10 } else { 100 })?;
        let specs = pick(spec::CRASH);
        eprintln!("crash: {} kills on each of {} engine settings", kills, specs.len());
        rows.extend(crash::run(&specs, kills, seed, keep));
    }
    if matches!(task, "processes" | "all") {
        let procs = args.number_or("--procs", if quick { 4 } else { 8 })?;
        let ops = args.number_or("--ops", if quick { 500 } else { 10_000 })?;
        let specs = pick(spec::PROCESSES);
        eprintln!("processes: {procs} processes x {ops} operations on each of {} engines", specs.len());
        rows.extend(processes::run(&specs, procs, ops, seed, keep));
    }
    if matches!(task, "flips" | "all") {
        let trials = args.number_or("--trials", if quick { 50 } else { 1_000 })?;
        let specs = pick(spec::FLIPS);
        eprintln!("flips: {trials} damaged copies of each of {} engines", specs.len());
        rows.extend(flips::run(&specs, trials, seed, keep));
    }
    if matches!(task, "disk" | "all") {
        let specs = pick(spec::DISK);
        eprintln!("disk: a full disk and a read-only one under {} engines", specs.len());
        rows.extend(disk::run(&specs, seed, keep));
    }
    if matches!(task, "servers" | "all") {
        let kills = args.number_or("--kills", if quick { 2 } else { 20 })?;
        let specs = pick(spec::SERVERS);
        eprintln!("servers: {kills} server kills mid-write on each of {} engines", specs.len());
        rows.extend(servers::run(&specs, kills, seed, keep));
    }
    if matches!(task, "fuzz" | "all") && filters.is_empty() {
        eprintln!("fuzz: every corpus replayed through its target's checks");
        rows.extend(fuzz::run());
    }
    Ok(rows)
}
