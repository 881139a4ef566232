//! The profiling matrix: `cargo xtask bench [options]` runs this in release mode.
//!
//! Every cell runs in a child process of its own (this binary with `--cell`),
//! so its peak memory is its own and a crash is that cell's error. Exits
//! non-zero when any cell fails.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use hashstash_benches::matrix::async_row::{self, AsyncRow};
use hashstash_benches::matrix::measure::proc_status_kib;
use hashstash_benches::matrix::report::{self, Meta, Report, fmt_rate};
use hashstash_benches::matrix::scale::{self, ScaleResult};
use hashstash_benches::matrix::{
    self, CellResult, CellSpec, Kind, Options, Params, compare, criterion, python,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const HELP: &str = "\
cargo xtask bench [options]  (this binary: hashstash-benches --bin matrix)

  --engine a,b          engines (default: every one compiled in; redis/mongo need their URL variable)
  --serializer a,b|all  default hashstash,postcard (--quick: hashstash)
  --compress a,b|all    default raw,lz4,zstd (--quick: lz4)
  --size record,10k,1m  value sizes (default all)
  --op set,get,iterate,batch,run,map,map-warm
  --n N                 items of the record size (10k: N/10, 1m: N/200); default 2000, --quick 100
  --reps R              repetitions, median reported (default 3, --quick 1)
  --budget-ms MS        a repetition stops after this long (default 300, --quick 100)
  --map-items M         items of run and map (default 200, --quick 20)
  --quick               a run of seconds (CI)
  --no-baselines        only the stash cells
  --scale / --no-scale  the scale rows, one per engine run (default on, off with --quick)
  --only-scale          the scale rows and no cell
  --scale-n-<engine> N  entries of that engine's row (default 1000000; pairtree, redis, mongo 100000)
  --vs-python           compare with the Python library (--python PATH, default target/bench/venv/bin/python)
  --out DIR             default target/bench
  --compare PREV.tsv    this run's rates over a previous matrix.tsv's, cells >30% slower flagged
  --criterion-summary DIR   summarize criterion's output folder instead
  --verbose             a line per cell
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--cell") => return child_cell(&args[1..]),
        Some("--scale-child") => return child_scale(&args[1..]),
        Some("--criterion-summary") => {
            let dir = args.get(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/criterion"));
            let out = args
                .iter()
                .position(|a| a == "--out")
                .and_then(|i| args.get(i + 1))
                .map(PathBuf::from)
                .unwrap_or_else(matrix::default_out_dir);
            return match criterion::summarize(&dir, &out) {
                Ok(files) => {
                    for f in files {
                        eprintln!("wrote {}", f.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("matrix: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some("--help") | Some("-h") => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let options = match Options::parse(args.clone()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("matrix: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match parent(&options, &args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("matrix: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--cell <spec json> <params json>`: runs one cell, prints `CELL <result json>`.
fn child_cell(args: &[String]) -> ExitCode {
    let parsed = (|| -> matrix::Result<(CellSpec, Params)> {
        let spec = serde_json::from_str(args.first().ok_or("--cell needs a spec")?)?;
        let params = serde_json::from_str(args.get(1).ok_or("--cell needs params")?)?;
        Ok((spec, params))
    })();
    let (spec, params) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("matrix --cell: {e}");
            return ExitCode::from(2);
        }
    };
    let mut result = matrix::run_cell_reported(&spec, &params);
    result.hwm_kib = proc_status_kib("VmHWM");
    match serde_json::to_string(&result) {
        Ok(json) => {
            println!("CELL {json}");
            if result.error.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
        Err(e) => {
            eprintln!("matrix --cell: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--scale-child <engine> <n> <params json>`: runs one scale row, prints `SCALE <json>`.
fn child_scale(args: &[String]) -> ExitCode {
    let engine = args.first().cloned().unwrap_or_default();
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    let params: Option<Params> = args.get(2).and_then(|p| serde_json::from_str(p).ok());
    let Some(params) = params else {
        eprintln!("matrix --scale-child: usage: <engine> <n> <params json>");
        return ExitCode::from(2);
    };
    let result =
        scale::run(&engine, n, &params).unwrap_or_else(|e| ScaleResult::failed(&engine, n, e.to_string()));
    match serde_json::to_string(&result) {
        Ok(json) => {
            println!("SCALE {json}");
            if result.error.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
        }
        Err(e) => {
            eprintln!("matrix --scale-child: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs this binary with `args`, returning the JSON after `prefix` on its
/// stdout, or the error it reported.
fn in_child(args: &[String], prefix: &str) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let output = Command::new(exe).args(args).output().map_err(|e| format!("cannot start a child: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(json) = stdout.lines().find_map(|l| l.strip_prefix(prefix)) {
        return Ok(json.to_string());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!("child exited with {}: {}", output.status, tail.join(" | ")))
}

fn run_cell_in_child(spec: &CellSpec, params: &Params) -> CellResult {
    let args = (|| -> Result<Vec<String>, serde_json::Error> {
        Ok(vec!["--cell".into(), serde_json::to_string(spec)?, serde_json::to_string(params)?])
    })();
    let json = match args {
        Ok(args) => in_child(&args, "CELL "),
        Err(e) => Err(e.to_string()),
    };
    match json.and_then(|j| serde_json::from_str::<CellResult>(&j).map_err(|e| e.to_string())) {
        Ok(r) => r,
        Err(e) => CellResult::failed(spec.clone(), e),
    }
}

fn run_scale_in_child(engine: &str, n: usize, params: &Params) -> ScaleResult {
    let json = serde_json::to_string(params)
        .map_err(|e| e.to_string())
        .and_then(|p| in_child(&["--scale-child".into(), engine.into(), n.to_string(), p], "SCALE "));
    match json.and_then(|j| serde_json::from_str::<ScaleResult>(&j).map_err(|e| e.to_string())) {
        Ok(r) => r,
        Err(e) => ScaleResult::failed(engine, n, e),
    }
}

fn progress(len: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn one_line(r: &CellResult) -> String {
    if let Some(e) = &r.error {
        return format!("FAILED {}: {e}", r.spec);
    }
    let ops: Vec<String> = r.ops.iter().map(|o| format!("{} {}/s", o.op, fmt_rate(o.ops_per_s))).collect();
    format!("{}: {}", r.spec, ops.join(", "))
}

/// Runs everything `options` asks for; `Ok(false)` when a cell failed.
fn parent(options: &Options, args: &[String]) -> matrix::Result<bool> {
    let started = Instant::now();
    let plan = matrix::plan(options)?;
    let params = options.params();
    std::fs::create_dir_all(&params.work_dir)?;
    let scale_rows: Vec<(&str, usize)> = if options.scale {
        plan.engines.iter().map(|e| (e.as_str(), options.scale_n(e))).collect()
    } else {
        Vec::new()
    };
    eprintln!(
        "matrix: {} cells ({} engines: {}), n={} (10k: {}, 1m: {}), {} rep(s), budget {} ms{}{}",
        plan.cells.len(),
        plan.engines.len(),
        plan.engines.join(","),
        params.n,
        params.n_for(matrix::SizeClass::K10),
        params.n_for(matrix::SizeClass::M1),
        params.reps,
        params.budget_ms,
        if scale_rows.is_empty() { String::new() } else { format!(", scale rows {scale_rows:?}") },
        if options.python.is_some() { ", vs python" } else { "" },
    );
    for s in &plan.skipped {
        eprintln!("matrix: skipped {s}");
    }
    let bar = progress(plan.cells.len() + scale_rows.len());
    let mut cells = Vec::with_capacity(plan.cells.len());
    for spec in &plan.cells {
        bar.set_message(spec.to_string());
        let r = run_cell_in_child(spec, &params);
        if r.error.is_some() || options.verbose || !std::io::stderr().is_terminal() && options.quick {
            bar.println(one_line(&r));
        }
        cells.push(r);
        bar.inc(1);
    }
    let mut scale = Vec::new();
    for (engine, n) in &scale_rows {
        bar.set_message(format!("scale: {n} entries on {engine}"));
        let r = run_scale_in_child(engine, *n, &params);
        if let Some(e) = &r.error {
            bar.println(format!("FAILED scale {engine}: {e}"));
        }
        scale.push(r);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let mut notes: Vec<String> = plan.skipped.iter().map(|s| format!("skipped {s}")).collect();
    // The async row: 64 tokio tasks against 64 threads doing the same gets.
    let (async_engines, async_notes) = async_row::engines(options, &plan.engines);
    notes.extend(async_notes);
    let async_rows: Vec<AsyncRow> = async_engines
        .iter()
        .map(|engine| {
            eprintln!("matrix: async row on {engine}");
            async_row::run(engine, &params, async_row::duration(options.quick))
        })
        .collect();
    if options.scale {
        let rows: Vec<String> = scale_rows.iter().map(|(e, n)| format!("{e} {n}")).collect();
        notes.push(format!(
            "scale rows (entries): {}; set with --scale-n-<engine> (pairtree's writes create two files and \
             up to four folders per entry, a few thousand entries a second at best)",
            rows.join(", ")
        ));
        for engine in ["redis", "mongo"] {
            if let Some(var) = matrix::server_url_var(engine)
                && !plan.engines.iter().any(|e| e == engine)
                && options.engines.as_ref().is_none_or(|w| w.iter().any(|e| e == engine))
            {
                notes.push(format!("no {engine} scale row: {var} is not set (cargo xtask bench --services)"));
            }
        }
    }
    let mut python_failed = false;
    if let Some(py) = &options.python {
        eprintln!("matrix: the Python library on the same workload ({})", py.display());
        match python::run(py, options, &plan.engines, |c| {
            if c.error.is_some() || options.verbose {
                eprintln!("{}", one_line(c));
            }
        }) {
            Ok((rows, py_notes)) => {
                cells.extend(rows);
                notes.extend(py_notes);
            }
            Err(e) => {
                eprintln!("matrix: python: {e}");
                notes.push(format!("python run failed: {e}"));
                python_failed = true;
            }
        }
    }

    let failed: Vec<&CellResult> = cells.iter().filter(|c| c.error.is_some()).collect();
    let scale_failed = scale.iter().filter(|s| s.error.is_some()).count()
        + async_rows.iter().filter(|r| r.error.is_some()).count();
    let report = Report {
        ops: options.ops.clone(),
        cells: cells.clone(),
        scale,
        async_rows,
        notes,
        meta: Meta {
            date: report::today(),
            machine: report::machine(),
            command: format!("cargo xtask bench {}", shown_args(args)).trim().to_string(),
            settings: format!(
                "n={} record items (10k: {}, 1m: {}), median of {} repetition(s), {} ms budget each, \
                 run/map over {} items",
                params.n,
                params.n_for(matrix::SizeClass::K10),
                params.n_for(matrix::SizeClass::M1),
                params.reps,
                params.budget_ms,
                params.map_items
            ),
            seconds: started.elapsed().as_secs_f64(),
        },
    };
    print!("{}", report.text());
    // Read before this run's files are written: the previous one may be `out/matrix.tsv`.
    let previous = match &options.compare {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|e| format!("--compare {}: {e}", path.display()))?)
        }
        None => None,
    };
    let written = report.write(&options.out)?;
    if let Some(previous) = previous {
        let compared = compare::compare(&previous, &report.tsv())?;
        print!("\n{}", compare::table(&compared));
    }
    let _ = std::fs::remove_dir_all(&params.work_dir);
    eprintln!(
        "matrix: {} cells in {:.1} s; wrote {}",
        cells.len(),
        started.elapsed().as_secs_f64(),
        written.iter().map(|p| short(p)).collect::<Vec<_>>().join(", ")
    );
    let python_cells_failed = cells.iter().any(|c| c.spec.kind == Kind::Python && c.error.is_some());
    if !failed.is_empty() || scale_failed > 0 || python_failed {
        eprintln!(
            "matrix: {} cell(s) failed{}{}",
            failed.len() + scale_failed,
            if python_cells_failed { " (some on the Python side)" } else { "" },
            if python_failed { "; the Python run failed" } else { "" }
        );
        return Ok(false);
    }
    Ok(true)
}

/// The arguments as a user would type them (without `--out` and `--python`
/// and their values, which xtask adds).
fn shown_args(args: &[String]) -> String {
    let mut shown = Vec::new();
    let mut skip_next = false;
    for a in args {
        if skip_next {
            skip_next = false;
            continue;
        }
        match a.as_str() {
            "--out" | "--python" => skip_next = true,
            _ if a.starts_with("--out=") || a.starts_with("--python=") => {}
            _ => shown.push(a.clone()),
        }
    }
    shown.join(" ")
}

fn short(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
