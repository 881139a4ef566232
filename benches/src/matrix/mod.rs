//! The profiling matrix behind `cargo xtask bench`: engines × serializers ×
//! compressors × value sizes × operations, each cell next to its floors (the
//! raw engine with the same encoded bytes, the codec alone), the Rust crates
//! a user would pick instead (`cacache`, `cached` with redb) and, on request,
//! the Python library on the same workload.
//!
//! The `matrix` binary (`src/bin/matrix.rs`) runs every cell in a child
//! process of its own, so a cell's peak memory is its own; this module is the
//! library it is made of, and what the tests run for a tiny `n`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod async_row;
mod baseline_cell;
pub mod compare;
pub mod criterion;
pub mod measure;
pub mod payload;
pub mod python;
pub mod report;
pub mod scale;
mod stash_cell;

/// Errors of a cell: anything, with its message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The result type of the matrix.
pub type Result<T, E = BoxError> = std::result::Result<T, E>;

/// The value sizes of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SizeClass {
    /// The 10-field record of the Python benchmark (~580 B of JSON).
    #[serde(rename = "record")]
    Record,
    /// A document of 17 records (~10 KiB of JSON).
    #[serde(rename = "10k")]
    K10,
    /// A document of 1,775 records (~1 MiB of JSON).
    #[serde(rename = "1m")]
    M1,
}

impl SizeClass {
    /// Every size, small to large.
    pub const ALL: [SizeClass; 3] = [SizeClass::Record, SizeClass::K10, SizeClass::M1];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            SizeClass::Record => "record",
            SizeClass::K10 => "10k",
            SizeClass::M1 => "1m",
        }
    }
}

impl fmt::Display for SizeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SizeClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SizeClass::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown size `{s}`: expected record, 10k or 1m"))
    }
}

/// The operations of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `set` of one item (one commit each), then a `flush`.
    #[serde(rename = "set")]
    Set,
    /// `set` from [`SET_THREADS`] threads at once, each item once, then a
    /// `flush`: what group commit buys a server whose threads write durably.
    #[serde(rename = "set-8threads")]
    SetThreads,
    /// `get` of a stored item.
    #[serde(rename = "get")]
    Get,
    /// A pass of `items()`.
    #[serde(rename = "iterate")]
    Iterate,
    /// `batch()` of up to 1,000 items, one commit each batch.
    #[serde(rename = "batch")]
    Batch,
    /// `run(f, (i,))` when the result is stored.
    #[serde(rename = "run")]
    RunHit,
    /// `map(f, inputs)` over inputs not yet computed (two threads).
    #[serde(rename = "map")]
    Map,
    /// The same `map` again, every result stored.
    #[serde(rename = "map-warm")]
    MapWarm,
}

impl Op {
    /// Every operation, in table order.
    pub const ALL: [Op; 8] =
        [Op::Set, Op::SetThreads, Op::Get, Op::Iterate, Op::Batch, Op::RunHit, Op::Map, Op::MapWarm];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::SetThreads => "set-8threads",
            Op::Get => "get",
            Op::Iterate => "iterate",
            Op::Batch => "batch",
            Op::RunHit => "run",
            Op::Map => "map",
            Op::MapWarm => "map-warm",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.to_ascii_lowercase();
        let alias = match s.as_str() {
            "run-hit" | "run_hit" => "run",
            "batch-update" | "update" => "batch",
            "iter" | "items" => "iterate",
            other => other,
        };
        Op::ALL.into_iter().find(|o| o.name() == alias).ok_or_else(|| {
            format!("unknown op `{s}`: expected set, set-8threads, get, iterate, batch, run, map or map-warm")
        })
    }
}

/// The writing threads of [`Op::SetThreads`].
pub const SET_THREADS: usize = 8;

/// What a cell measures: the stash, or one of its baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// hashstash itself.
    #[serde(rename = "stash")]
    Stash,
    /// The engine's storage used directly, with the same encoded bytes.
    #[serde(rename = "raw")]
    Raw,
    /// The serializer and compressor alone (the codec floor).
    #[serde(rename = "codec")]
    Codec,
    /// The `cacache` crate (content-addressed files), with the same encoded bytes.
    #[serde(rename = "cacache")]
    Cacache,
    /// The `cached` crate's redb disk store (its own MessagePack encoding).
    #[serde(rename = "cached-redb")]
    CachedRedb,
    /// The Python library 1.2.0 on the same workload.
    #[serde(rename = "python")]
    Python,
}

impl Kind {
    /// The name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Stash => "stash",
            Kind::Raw => "raw",
            Kind::Codec => "codec",
            Kind::Cacache => "cacache",
            Kind::CachedRedb => "cached-redb",
            Kind::Python => "python",
        }
    }

    /// The operations this kind of cell can measure.
    pub fn ops(self) -> &'static [Op] {
        match self {
            Kind::Stash | Kind::Python => &Op::ALL,
            Kind::Raw => &[Op::Set, Op::Get, Op::Iterate, Op::Batch],
            Kind::Codec | Kind::CachedRedb => &[Op::Set, Op::Get],
            Kind::Cacache => &[Op::Set, Op::Get, Op::Iterate],
        }
    }
}

/// One cell of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CellSpec {
    /// The stash or a baseline.
    pub kind: Kind,
    /// The engine (for codec and peer rows: empty).
    pub engine: String,
    /// The serializer (Python rows: the Python library's name).
    pub serializer: String,
    /// The compressor.
    pub compress: String,
    /// The value size.
    pub size: SizeClass,
}

impl CellSpec {
    /// A stash cell.
    pub fn stash(engine: &str, serializer: &str, compress: &str, size: SizeClass) -> CellSpec {
        CellSpec::new(Kind::Stash, engine, serializer, compress, size)
    }

    /// A cell of any kind.
    pub fn new(kind: Kind, engine: &str, serializer: &str, compress: &str, size: SizeClass) -> CellSpec {
        CellSpec {
            kind,
            engine: engine.to_string(),
            serializer: serializer.to_string(),
            compress: compress.to_string(),
            size,
        }
    }

    /// `serializer+compress`.
    pub fn codec(&self) -> String {
        format!("{}+{}", self.serializer, self.compress)
    }

    /// The row's name in tables: `lmdb`, `raw heed`, `codec floor`, ...
    pub fn label(&self) -> String {
        match self.kind {
            Kind::Stash => self.engine.clone(),
            Kind::Raw => format!("raw {}", raw_name(&self.engine)),
            Kind::Codec => "codec floor".into(),
            Kind::Cacache => "peer cacache".into(),
            Kind::CachedRedb => "peer cached (redb)".into(),
            Kind::Python => format!("python {}", self.engine),
        }
    }
}

impl fmt::Display for CellSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.label(), self.codec(), self.size)
    }
}

/// What the raw baseline of `engine` is (`?` when it has none).
pub fn raw_name(engine: &str) -> &'static str {
    crate::baseline::raw_engine(engine).map_or("?", |raw| raw.name)
}

/// Whether the engine has a raw baseline.
pub fn has_raw(engine: &str) -> bool {
    crate::baseline::raw_engine(engine).is_some()
}

/// How hard each cell works.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// Items of the `record` size; `10k` uses a tenth (at least 10), `1m` a
    /// two-hundredth (at least 4).
    pub n: usize,
    /// Repetitions of each operation; the median is reported.
    pub reps: usize,
    /// Time after which a repetition stops early (milliseconds).
    pub budget_ms: u64,
    /// Items of `run` and `map` (at most the size's n).
    pub map_items: usize,
    /// The operations to measure.
    pub ops: Vec<Op>,
    /// Where cells create their stashes (removed afterwards).
    pub work_dir: PathBuf,
}

impl Params {
    /// The items of `size`.
    pub fn n_for(&self, size: SizeClass) -> usize {
        match size {
            SizeClass::Record => self.n.max(1),
            SizeClass::K10 => (self.n / 10).max(10),
            SizeClass::M1 => (self.n / 200).max(4),
        }
    }

    /// The time budget of one repetition.
    pub fn budget(&self) -> Duration {
        Duration::from_millis(self.budget_ms)
    }

    /// Whether `op` is measured.
    pub fn wants(&self, op: Op) -> bool {
        self.ops.contains(&op)
    }
}

/// One operation's measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpResult {
    /// The operation.
    pub op: Op,
    /// Operations per second: the median of the repetitions.
    pub ops_per_s: f64,
    /// Items in the median repetition (a repetition stops at the time budget).
    pub items: usize,
}

/// Everything measured in one cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellResult {
    /// The cell.
    pub spec: CellSpec,
    /// Items stored.
    pub n: usize,
    /// The operations measured.
    pub ops: Vec<OpResult>,
    /// Mean serialized (uncompressed) value size in bytes.
    pub value_bytes: Option<f64>,
    /// Stored value bytes / serialized value bytes (below 1: compression helps).
    pub compression: Option<f64>,
    /// Bytes on disk per item, sum of file sizes.
    pub disk_apparent: Option<f64>,
    /// Bytes on disk per item, blocks allocated (`st_blocks * 512`).
    pub disk_allocated: Option<f64>,
    /// `VmRSS` (KiB) just before the first operation, after the workload was built.
    pub rss_before_kib: Option<u64>,
    /// `VmHWM` (KiB) of the cell's process at its end.
    pub hwm_kib: Option<u64>,
    /// Notes (what was skipped or adjusted).
    pub notes: Vec<String>,
    /// The error that stopped the cell, if any.
    pub error: Option<String>,
}

impl CellResult {
    /// An empty result for `spec`.
    pub fn new(spec: CellSpec) -> CellResult {
        CellResult {
            spec,
            n: 0,
            ops: Vec::new(),
            value_bytes: None,
            compression: None,
            disk_apparent: None,
            disk_allocated: None,
            rss_before_kib: None,
            hwm_kib: None,
            notes: Vec::new(),
            error: None,
        }
    }

    /// The failed result of `spec`.
    pub fn failed(spec: CellSpec, error: impl Into<String>) -> CellResult {
        CellResult { error: Some(error.into()), ..CellResult::new(spec) }
    }

    /// The rate of `op`, if measured.
    pub fn rate(&self, op: Op) -> Option<f64> {
        self.ops.iter().find(|r| r.op == op).map(|r| r.ops_per_s)
    }

    /// Peak memory the operations added (KiB): `VmHWM` at the end minus
    /// `VmRSS` before the first operation.
    pub fn peak_extra_kib(&self) -> Option<u64> {
        Some(self.hwm_kib?.saturating_sub(self.rss_before_kib?))
    }
}

/// Runs one cell in this process. Errors stop the cell and are returned.
pub fn run_cell(spec: &CellSpec, params: &Params) -> Result<CellResult> {
    std::fs::create_dir_all(&params.work_dir)?;
    match spec.kind {
        Kind::Stash => stash_cell::run(spec, params),
        Kind::Raw | Kind::Codec | Kind::Cacache | Kind::CachedRedb => baseline_cell::run(spec, params),
        Kind::Python => Err("python cells run through python::run".into()),
    }
}

/// Runs one cell and records any error in the result instead of returning it.
pub fn run_cell_reported(spec: &CellSpec, params: &Params) -> CellResult {
    match run_cell(spec, params) {
        Ok(r) => r,
        Err(e) => CellResult::failed(spec.clone(), e.to_string()),
    }
}

/// The environment variable that points the matrix at a server engine
/// (`HASHSTASH_REDIS_URL`, `HASHSTASH_MONGO_URL`).
pub fn server_url_var(engine: &str) -> Option<&'static str> {
    hashstash::EngineKind::from_name(engine).and_then(|k| k.url_env())
}

/// The command line of the matrix.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--engine a,b`: engines to run (default: every one compiled in and reachable).
    pub engines: Option<Vec<String>>,
    /// `--serializer a,b|all`.
    pub serializers: Vec<String>,
    /// `--compress a,b|all`.
    pub compressors: Vec<String>,
    /// `--size record,10k,1m`.
    pub sizes: Vec<SizeClass>,
    /// `--op set,get,...`.
    pub ops: Vec<Op>,
    /// `--quick`: seconds, for CI.
    pub quick: bool,
    /// `--n N`.
    pub n: usize,
    /// `--reps R`.
    pub reps: usize,
    /// `--budget-ms MS`.
    pub budget_ms: u64,
    /// `--map-items M`.
    pub map_items: usize,
    /// `--no-baselines`: only the stash cells.
    pub baselines: bool,
    /// The scale rows (default on, off with `--quick` or `--no-scale`).
    pub scale: bool,
    /// `--scale-n-<engine> N`: entries of that engine's scale row, instead of
    /// [`scale::default_n`] (read through [`Options::scale_n`]).
    pub scale_n: BTreeMap<String, usize>,
    /// `--only-scale`: the scale rows and no cell.
    pub only_scale: bool,
    /// `--vs-python`: the Python interpreter to run the Python library with (`--python PATH`).
    pub python: Option<PathBuf>,
    /// `--out DIR`: where tables and plots go (default `target/bench`).
    pub out: PathBuf,
    /// `--verbose`: a line per cell.
    pub verbose: bool,
    /// `--compare PREVIOUS.tsv`: a previous run's `matrix.tsv` to compare this run with.
    pub compare: Option<PathBuf>,
}

impl Options {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
        let mut o = Options {
            engines: None,
            serializers: Vec::new(),
            compressors: Vec::new(),
            sizes: Vec::new(),
            ops: Vec::new(),
            quick: false,
            n: 0,
            reps: 0,
            budget_ms: 0,
            map_items: 0,
            baselines: true,
            scale: true,
            scale_n: BTreeMap::new(),
            only_scale: false,
            python: None,
            out: default_out_dir(),
            verbose: false,
            compare: None,
        };
        let mut vs_python = false;
        let mut scale_forced = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
            };
            let list = |v: String| -> Vec<String> {
                v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
            };
            let number = |name: &str, v: String| -> Result<usize, String> {
                v.replace('_', "").parse().map_err(|_| format!("{name}: not a number: {v}"))
            };
            match flag.as_str() {
                "--engine" | "--engines" => o.engines = Some(list(value(&flag)?)),
                "--serializer" | "--serializers" => o.serializers = list(value(&flag)?),
                "--compress" | "--compressor" => o.compressors = list(value(&flag)?),
                "--size" | "--sizes" => {
                    o.sizes = list(value(&flag)?).iter().map(|s| s.parse()).collect::<Result<_, _>>()?
                }
                "--op" | "--ops" => {
                    o.ops = list(value(&flag)?).iter().map(|s| s.parse()).collect::<Result<_, _>>()?
                }
                "--quick" => o.quick = true,
                "--n" | "-n" => o.n = number("--n", value(&flag)?)?,
                "--reps" => o.reps = number("--reps", value(&flag)?)?.max(1),
                "--budget-ms" => o.budget_ms = number("--budget-ms", value(&flag)?)? as u64,
                "--map-items" => o.map_items = number("--map-items", value(&flag)?)?.max(1),
                "--no-baselines" => o.baselines = false,
                "--no-scale" => scale_forced = Some(false),
                "--scale" => scale_forced = Some(true),
                "--only-scale" => (o.only_scale, scale_forced) = (true, Some(true)),
                f if f.starts_with("--scale-n-") => {
                    let engine = &f["--scale-n-".len()..];
                    if hashstash::EngineKind::from_name(engine).is_none() {
                        return Err(format!("{f}: unknown engine `{engine}`"));
                    }
                    o.scale_n.insert(engine.to_string(), number(&flag, value(&flag)?)?.max(1));
                }
                "--vs-python" => vs_python = true,
                "--compare" => o.compare = Some(PathBuf::from(value(&flag)?)),
                "--python" => {
                    vs_python = true;
                    o.python = Some(PathBuf::from(value(&flag)?));
                }
                "--out" => o.out = PathBuf::from(value(&flag)?),
                "--verbose" | "-v" => o.verbose = true,
                other => return Err(format!("unknown argument `{other}` (see --help)")),
            }
        }
        if vs_python && o.python.is_none() {
            o.python = Some(o.out.join("venv").join("bin").join("python"));
        }
        let quick = o.quick;
        if o.serializers.is_empty() {
            o.serializers =
                if quick { vec!["hashstash".into()] } else { vec!["hashstash".into(), "postcard".into()] };
        }
        if o.serializers.iter().any(|s| s == "all") {
            o.serializers = hashstash::serializers().iter().map(|s| s.to_string()).collect();
        }
        if o.compressors.is_empty() {
            o.compressors =
                if quick { vec!["lz4".into()] } else { vec!["raw".into(), "lz4".into(), "zstd".into()] };
        }
        if o.compressors.iter().any(|s| s == "all") {
            o.compressors = hashstash::compressors().iter().map(|s| s.to_string()).collect();
        }
        for s in &o.serializers {
            if !hashstash::serializers().contains(&s.as_str()) {
                return Err(format!(
                    "unknown serializer `{s}`: expected {}",
                    hashstash::serializers().join(", ")
                ));
            }
        }
        for c in &o.compressors {
            if !hashstash::compressors().contains(&c.as_str()) {
                return Err(format!(
                    "compressor `{c}` is not compiled in: expected {}",
                    hashstash::compressors().join(", ")
                ));
            }
        }
        if o.sizes.is_empty() {
            o.sizes = SizeClass::ALL.to_vec();
        }
        if o.ops.is_empty() {
            o.ops = Op::ALL.to_vec();
        }
        if o.n == 0 {
            o.n = if quick { 100 } else { 2000 };
        }
        if o.reps == 0 {
            o.reps = if quick { 1 } else { 3 };
        }
        if o.budget_ms == 0 {
            o.budget_ms = if quick { 100 } else { 300 };
        }
        if o.map_items == 0 {
            o.map_items = if quick { 20 } else { 200 };
        }
        o.scale = scale_forced.unwrap_or(!quick);
        Ok(o)
    }

    /// Entries of `engine`'s scale row: `--scale-n-<engine>`, else [`scale::default_n`].
    pub fn scale_n(&self, engine: &str) -> usize {
        self.scale_n.get(engine).copied().unwrap_or_else(|| scale::default_n(engine))
    }

    /// The per-cell parameters.
    pub fn params(&self) -> Params {
        Params {
            n: self.n,
            reps: self.reps,
            budget_ms: self.budget_ms,
            map_items: self.map_items,
            ops: self.ops.clone(),
            work_dir: self.out.join("work"),
        }
    }
}

/// `target/bench` of this workspace.
pub fn default_out_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest).join("target").join("bench")
}

/// The cells to run, and what was left out and why.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The cells, in run order.
    pub cells: Vec<CellSpec>,
    /// The engines that will run.
    pub engines: Vec<String>,
    /// One line per engine left out.
    pub skipped: Vec<String>,
}

/// The cells `options` asks for, among what is compiled in and reachable
/// (none with `--only-scale`: then only the engines).
pub fn plan(options: &Options) -> Result<Plan, String> {
    let mut plan = Plan::default();
    if let Some(wanted) = &options.engines {
        for e in wanted {
            if hashstash::EngineKind::from_name(e).is_none() {
                return Err(format!("unknown engine `{e}`"));
            }
        }
    }
    for kind in hashstash::EngineKind::ALL {
        let name = kind.name();
        if options.engines.as_ref().is_some_and(|w| !w.iter().any(|e| e == name)) {
            continue;
        }
        if kind.factory().is_none() {
            plan.skipped.push(format!("{name}: not compiled in (hashstash feature `{name}`)"));
            continue;
        }
        if let Some(var) = server_url_var(name)
            && std::env::var_os(var).is_none_or(|v| v.is_empty())
        {
            plan.skipped.push(format!("{name}: compiled in, but {var} is not set"));
            continue;
        }
        plan.engines.push(name.to_string());
    }
    let sizes: &[SizeClass] = if options.only_scale { &[] } else { &options.sizes };
    for &size in sizes {
        for ser in &options.serializers {
            for comp in &options.compressors {
                for engine in &plan.engines {
                    plan.cells.push(CellSpec::stash(engine, ser, comp, size));
                    if options.baselines && has_raw(engine) {
                        plan.cells.push(CellSpec::new(Kind::Raw, engine, ser, comp, size));
                    }
                }
                if options.baselines {
                    plan.cells.push(CellSpec::new(Kind::Codec, "", ser, comp, size));
                    plan.cells.push(CellSpec::new(Kind::Cacache, "", ser, comp, size));
                }
            }
        }
        if options.baselines {
            plan.cells.push(CellSpec::new(Kind::CachedRedb, "", "msgpack", "raw", size));
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Options {
        Options::parse(args.iter().map(|s| s.to_string())).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn quick_plan_covers_every_compiled_engine_once_per_size() {
        let o = opts(&["--quick"]);
        assert_eq!(o.n, 100);
        assert!(!o.scale);
        let p = plan(&o).unwrap_or_default();
        let stash_cells = p.cells.iter().filter(|c| c.kind == Kind::Stash).count();
        assert_eq!(stash_cells, p.engines.len() * 3);
        assert!(p.engines.iter().any(|e| e == "lmdb"));
        // Server engines run when their URL is set (`cargo xtask test` sets it), else are skipped with a note.
        for server in ["redis", "mongo"] {
            let planned = p.engines.iter().any(|e| e == server);
            let noted = p.skipped.iter().any(|s| s.starts_with(server));
            assert!(planned != noted, "{server}: planned {planned}, noted {noted}: {:?}", p.skipped);
        }
    }

    #[test]
    fn options_parse_lists_and_reject_unknowns() {
        let o = opts(&["--engine", "lmdb,pairtree", "--size=record", "--op", "get,run-hit", "--n", "50"]);
        assert_eq!(o.engines.as_deref(), Some(&["lmdb".to_string(), "pairtree".to_string()][..]));
        assert_eq!(o.sizes, [SizeClass::Record]);
        assert_eq!(o.ops, [Op::Get, Op::RunHit]);
        assert_eq!(o.n, 50);
        assert!(Options::parse(["--size".to_string(), "huge".to_string()]).is_err());
        assert!(Options::parse(["--compress".to_string(), "nope".to_string()]).is_err());
        let bad = Options::parse(["--engine".to_string(), "nope".to_string()]).map(|o| plan(&o));
        assert!(matches!(bad, Ok(Err(_))));
    }

    #[test]
    fn scale_rows_have_a_size_per_engine_and_can_run_alone() {
        let o = opts(&["--quick"]);
        for engine in ["memory", "lmdb", "sqlite", "sled"] {
            assert_eq!(o.scale_n(engine), 1_000_000, "{engine}");
        }
        for engine in ["pairtree", "redis", "mongo"] {
            assert_eq!(o.scale_n(engine), 100_000, "{engine}");
        }
        let o = opts(&["--only-scale", "--scale-n-sqlite", "5_000", "--scale-n-redis=7"]);
        assert!(o.scale && o.only_scale);
        assert_eq!((o.scale_n("sqlite"), o.scale_n("redis"), o.scale_n("lmdb")), (5000, 7, 1_000_000));
        let p = plan(&o).unwrap_or_default();
        assert!(p.cells.is_empty(), "{:?}", p.cells);
        assert!(p.engines.iter().any(|e| e == "sqlite"), "{:?}", p.engines);
        assert!(Options::parse(["--scale-n-nope".to_string(), "3".to_string()]).is_err());
        assert!(Options::parse(["--scale-n-lmdb".to_string(), "many".to_string()]).is_err());
    }
}
