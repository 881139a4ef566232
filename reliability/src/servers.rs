//! `reliability servers` (rows `server-kill`): the server under a writer is
//! killed, frozen, or stalled mid-write; the writer's call must fail (never
//! hang, never panic), and after the restart no partial entry may be visible
//! and new writes must work.
//!
//! Each row starts its own server on a spare port with its data in a
//! temporary folder (the shared test servers are left alone):
//!
//! - `redis/standalone`: `redis-server --appendonly yes --appendfsync always`,
//!   so every reply comes after its write is in the append-only file and a
//!   restart shows what the server acknowledged. The writer `update`s 2,000
//!   keys per call (two pipelines of 1,024 scripts), each key's value naming
//!   the call.
//! - `mongo/default`: CongoDB (the MongoDB stand-in `cargo xtask services up`
//!   installs) kept in memory behind a launcher of ours that appends every
//!   storage change as BSON to a log before the command replies and replays
//!   it on start. CongoDB's own persistence (`storage: 'file'`, `persistPath`)
//!   writes JSON, which turns BSON binary into base64 strings and ObjectIds
//!   into strings: a restarted server would not hand the engine its own
//!   entries back. The writer sets values of 4 to 9 MiB (stored in 4 MiB chunk
//!   documents, see `stash_engine_mongo::CHUNK_BYTES`) and a few small ones.
//!
//! A writer child logs each call before it starts (`B`), when it returns `Ok`
//! (`A`) and the error that ends it (`E`). The parent picks a moment (seeded)
//! and does one of three faults to the server:
//!
//! - kill: SIGKILL, then a restart from the same folder;
//! - freeze: SIGSTOP until the writer's call fails (its timeouts must fire:
//!   the writer runs with short ones, see [`SHORT`]), then SIGKILL and restart;
//! - stall: SIGSTOP for a while, then SIGCONT: requests the writer gave up on
//!   reach the server late, racing the cleanup of the failed call.
//!
//! Then it reopens the stash and reads every key: each must hold the value
//! of the last acknowledged call that wrote it, or of the call in flight (or
//! be absent if no call wrote it), and read whole: a damaged entry (a
//! chunked value with a chunk missing) counts as unreadable. Finally it
//! writes two entries (one over a writer key) and reads them back.
//!
//! Found so far: a frozen Redis server made a pipelined `update` wait one
//! response timeout per command (hours; fixed in `stash-engine-redis`'s
//! pool), and, looked for while writing the stalls, a MongoDB write whose
//! reply was lost removed the chunks its entry listed (fixed in
//! `stash-engine-mongo`; a proxy test covers it, as a stall rarely lands
//! in that window).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashstash::redis::RedisOptions;
use hashstash::{ErrorKind, HashStash};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{Log, Val, now_ns};
use crate::spec::Spec;
use crate::{Args, Findings, Row, worker_command};

/// The harness's name in the table.
const HARNESS: &str = "server-kill";
/// Keys of the Redis writer (every call writes all of them).
const REDIS_KEYS: u32 = 2_000;
/// Keys of the MongoDB writer (each call writes one).
const MONGO_KEYS: u32 = 3;
/// Calls a writer makes at most (it is stopped long before).
const MAX_OPS: u64 = 1_000_000;
/// The Redis server binary.
const REDIS_SERVER: &str = "redis-server";
/// Overrides where CongoDB is installed: the `node` folder `cargo xtask services up` fills.
const CONGO_ENV: &str = "HASHSTASH_CONGODB_DIR";
/// Set to 1 (CI, `--services`): a server that cannot be started fails the row instead of skipping it.
const REQUIRE_ENV: &str = "HASHSTASH_REQUIRE_SERVICES";
/// CongoDB's package folder under the `node` folder.
const CONGO_PACKAGE: &str = "node_modules/@push.rocks/smartmongo/dist_ts/congodb";
/// Marks the install whose binary fields survive updates (xtask patches CongoDB 2.2.0).
const CONGO_PATCH: &str = "hashstash: keep BSON binary";

/// Short client timeouts for the freeze and stall faults: the engines' own
/// defaults (Redis 5 s to connect and 30 s per reply; MongoDB 10 s heartbeat
/// and connect) would make each such trial last a minute. Kills use the defaults.
const SHORT: Duration = Duration::from_secs(2);
/// How long a writer may take to fail after a kill (default timeouts: Redis
/// tries twice, 5 s to connect and 30 s for a reply each; MongoDB 5 s server selection).
const KILL_BOUND: Duration = Duration::from_secs(75);
/// How long a writer may take to fail after a freeze (short timeouts: Redis
/// twice 1 s + 2 s; MongoDB a 0.5 s heartbeat with a 2 s socket timeout, then
/// 2 s server selection for the cleanup).
const FREEZE_BOUND: Duration = Duration::from_secs(25);
/// How long a writer may take to open its stash.
const OPEN_BOUND: Duration = Duration::from_secs(60);
/// How long a server may take to answer after a (re)start.
const START_BOUND: Duration = Duration::from_secs(60);

/// A value's writer and call: `(trial, call)` for the writer, `(0, trial)` for the parent.
type Id = (u32, u64);

/// What the parent does to the server in one trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// SIGKILL, then restart.
    Kill,
    /// SIGSTOP until the writer's call fails, then SIGKILL and restart.
    Freeze,
    /// SIGSTOP for a while, then SIGCONT.
    Stall,
}

impl Fault {
    /// Trial 1 kills, 2 freezes (so the two trials of `--quick` see both), 3 kills, 4 stalls, and so on.
    fn of(trial: u32) -> Fault {
        match trial % 4 {
            1 | 3 => Fault::Kill,
            2 => Fault::Freeze,
            _ => Fault::Stall,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Freeze => "freeze",
            Fault::Stall => "stall",
        }
    }
}

/// A MongoDB writer's value: large (most are stored in chunks), its filler
/// derived from its id and key, checked byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Big {
    w: u32,
    op: u64,
    key: u32,
    pad: String,
}

/// SplitMix64: a fast, well-mixed stream for the large fillers and the seeded choices.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Big {
    fn seed(id: Id, key: u32) -> u64 {
        mix((u64::from(id.0) << 40) ^ id.1.wrapping_mul(0x1000_0001) ^ (u64::from(key) << 20) ^ 0xb16)
    }

    /// Bytes of filler: one value in five is small (inline), the others 4.25 to 9 MiB (2 or 3 chunks).
    fn len(id: Id, key: u32) -> usize {
        let h = mix(Big::seed(id, key));
        if h.is_multiple_of(5) {
            1_024 + (h >> 8) as usize % (64 << 10)
        } else {
            (17 << 18) + (h >> 8) as usize % (19 << 18)
        }
    }

    fn pad(id: Id, key: u32) -> String {
        let len = Big::len(id, key);
        let mut state = Big::seed(id, key);
        let mut bytes = Vec::with_capacity(len + 8);
        while bytes.len() < len {
            state = mix(state);
            // Printable ASCII, as random as lz4 can see: the value stays as large once compressed.
            bytes.extend(state.to_le_bytes().iter().map(|b| b'!' + b % 94));
        }
        bytes.truncate(len);
        String::from_utf8(bytes).unwrap_or_default()
    }

    fn new(id: Id, key: u32) -> Big {
        Big { w: id.0, op: id.1, key, pad: Big::pad(id, key) }
    }

    fn id(&self) -> Id {
        (self.w, self.op)
    }
}

/// The key the MongoDB writer's call `n` of `trial` sets.
fn mongo_key(seed: u64, trial: u32, n: u64) -> u32 {
    (mix(seed ^ (u64::from(trial) << 40) ^ n) % u64::from(MONGO_KEYS)) as u32
}

/// The keys a writer's call `n` sets.
fn keys_of(engine: &str, seed: u64, trial: u32, n: u64) -> Vec<u32> {
    if engine == "redis" { (0..REDIS_KEYS).collect() } else { vec![mongo_key(seed, trial, n)] }
}

/// The keys a row reads back: the writer's and the parent's probe key (the last).
fn all_keys(engine: &str) -> u32 {
    if engine == "redis" { REDIS_KEYS + 1 } else { MONGO_KEYS + 1 }
}

/// Opens the stash of the row: the server at `url`, a namespace of its own,
/// the engine's default timeouts or the [`SHORT`] ones.
fn open(spec: &Spec, root: &Path, url: &str, short: bool) -> hashstash::Result<HashStash> {
    let builder = HashStash::builder().root_dir(root).dbname("server-kill").namespace("server-kill");
    let builder = match (spec.engine, short) {
        ("redis", true) => builder
            .engine_factory(Arc::new(
                RedisOptions::new()
                    .connect_timeout(SHORT / 2)
                    .response_timeout(SHORT)
                    .checkout_timeout(SHORT),
            ))
            .url(url),
        ("mongo", true) => builder.engine("mongo").url(format!(
            "{url}/?heartbeatFrequencyMS=500&connectTimeoutMS={ms}&serverSelectionTimeoutMS={ms}",
            ms = SHORT.as_millis()
        )),
        (engine, _) => builder.engine(engine).url(url),
    };
    builder.open()
}

/// The writer's call `n`.
fn write(stash: &HashStash, engine: &str, seed: u64, trial: u32, n: u64) -> hashstash::Result<()> {
    if engine == "redis" {
        stash.update((0..REDIS_KEYS).map(|k| (k, Val::new((trial, n, 0), k, false)))).map(drop)
    } else {
        let key = mongo_key(seed, trial, n);
        stash.set(&key, &Big::new((trial, n), key))
    }
}

/// The child: opens the stash and writes until a call fails or the stop file appears.
pub fn worker(args: &Args) -> Result<(), String> {
    let spec = args.spec()?;
    let url = args.value("--url")?;
    let root = PathBuf::from(args.value("--root")?);
    let seed: u64 = args.number("--seed")?;
    let trial: u32 = args.number("--trial")?;
    let short = args.number::<u8>("--short")? == 1;
    let stop = PathBuf::from(args.value("--stop")?);
    let mut log = Log::open(Path::new(&args.value("--log")?)).map_err(|e| format!("log: {e}"))?;
    let line = |log: &mut Log, text: String| log.line(&text).map_err(|e| format!("log: {e}"));
    let stash = match open(&spec, &root, &url, short) {
        Ok(s) => s,
        Err(e) => {
            line(&mut log, format!("F open: {}", one_line(&e.to_string())))?;
            return Err(format!("open: {e}"));
        }
    };
    line(&mut log, "O".into())?;
    for n in 1..=MAX_OPS {
        if stop.exists() {
            return line(&mut log, "S".into());
        }
        line(&mut log, format!("B {n} {}", now_ns()))?;
        match write(&stash, spec.engine, seed, trial, n) {
            Ok(()) => line(&mut log, format!("A {n} {}", now_ns()))?,
            Err(e) => {
                let msg = one_line(&e.to_string());
                return line(&mut log, format!("E {n} {} {:?} {msg}", now_ns(), e.kind()));
            }
        }
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

/// What a writer's log says.
#[derive(Debug, Default)]
struct WriterLog {
    opened: bool,
    /// Calls started, and when (ns).
    begun: BTreeMap<u64, u64>,
    /// Calls that returned `Ok`, and when.
    acked: BTreeMap<u64, u64>,
    /// The call that failed: number, when, error kind and message.
    failed: Option<(u64, u64, String, String)>,
    /// It saw the stop file.
    stopped: bool,
    /// The open failed.
    fatal: Option<String>,
}

impl WriterLog {
    fn parse(text: &str) -> WriterLog {
        let mut log = WriterLog::default();
        for line in text.lines() {
            let mut parts = line.splitn(5, ' ');
            let tag = parts.next().unwrap_or("");
            let n = parts.next().and_then(|n| n.parse::<u64>().ok());
            let t = parts.next().and_then(|t| t.parse::<u64>().ok());
            match (tag, n, t) {
                ("O", _, _) => log.opened = true,
                ("S", _, _) => log.stopped = true,
                ("F", _, _) => log.fatal = Some(line.get(2..).unwrap_or("").to_string()),
                ("B", Some(n), Some(t)) => {
                    log.begun.insert(n, t);
                }
                ("A", Some(n), Some(t)) => {
                    log.acked.insert(n, t);
                }
                ("E", Some(n), Some(t)) => {
                    let kind = parts.next().unwrap_or("").to_string();
                    log.failed = Some((n, t, kind, parts.next().unwrap_or("").to_string()));
                }
                _ => {} // a torn last line
            }
        }
        log
    }

    fn read(path: &Path) -> WriterLog {
        WriterLog::parse(&std::fs::read_to_string(path).unwrap_or_default())
    }

    /// The call that may or may not have been applied: the failed one, or
    /// one begun and never finished (the writer was killed in it).
    fn in_flight(&self) -> Option<u64> {
        if let Some((n, ..)) = self.failed {
            return Some(n);
        }
        self.begun.keys().next_back().copied().filter(|n| !self.acked.contains_key(n))
    }

    /// The highest call number started.
    fn attempted(&self) -> u64 {
        self.begun.keys().chain(self.acked.keys()).copied().max().unwrap_or(0)
    }

    /// Whether a call was running at `t` (ns).
    fn in_call_at(&self, t: u64) -> bool {
        self.begun.iter().any(|(n, b)| *b <= t && self.acked.get(n).is_none_or(|a| *a >= t))
    }
}

/// How one key reads against what may be there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// One of the allowed states.
    Fine,
    /// Absent, or an older write, where an acknowledged write must be.
    Lost,
    /// A value nobody wrote under this key.
    Phantom,
}

/// `got` is the id read (`None`: absent); `allowed` the states the writes
/// permit; `written` tells whether an id was ever written under the key.
fn judge(got: Option<Id>, allowed: &[Option<Id>], written: &dyn Fn(Id) -> bool) -> Verdict {
    if allowed.contains(&got) {
        return Verdict::Fine;
    }
    match got {
        None => Verdict::Lost,
        Some(id) if written(id) => Verdict::Lost,
        Some(_) => Verdict::Phantom,
    }
}

/// Which server a row runs.
enum Kind {
    Redis { exe: PathBuf },
    Congo { node: PathBuf, package: PathBuf, launcher: PathBuf },
}

/// A private server: its process, port and data folder.
struct Server {
    kind: Kind,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Server {
    fn url(&self) -> String {
        match self.kind {
            Kind::Redis { .. } => format!("redis://127.0.0.1:{}/0", self.port),
            Kind::Congo { .. } => format!("mongodb://127.0.0.1:{}", self.port),
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("server-{}.log", self.starts))
    }

    /// Starts (or restarts) the server and waits until it answers.
    fn start(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log = self.log_path();
        let out = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let port = self.port.to_string();
        let mut cmd = match &self.kind {
            Kind::Redis { exe } => {
                let mut cmd = Command::new(exe);
                cmd.args(["--port", &port, "--bind", "127.0.0.1", "--dir"])
                    .arg(&self.dir)
                    .args(["--appendonly", "yes", "--appendfsync", "always", "--save", ""])
                    .args(["--daemonize", "no", "--logfile", ""]);
                cmd
            }
            Kind::Congo { node, package, launcher } => {
                let mut cmd = Command::new(node);
                cmd.arg(launcher).arg(&port).arg(self.dir.join("congodb.bson")).arg(package);
                cmd
            }
        };
        let child = cmd
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_BOUND;
        loop {
            if self.answers() {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("the server exited while starting ({status}): {}", tail(&log)));
            }
            if Instant::now() > deadline {
                return Err(format!("the server does not answer after {START_BOUND:?}: {}", tail(&log)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server is up: Redis answers `PING`; CongoDB's launcher said it listens.
    fn answers(&self) -> bool {
        match self.kind {
            Kind::Redis { .. } => redis_ping(self.port),
            Kind::Congo { .. } => {
                std::fs::read_to_string(self.log_path()).is_ok_and(|t| t.contains("congodb listening"))
            }
        }
    }

    fn signal(&self, signal: libc::c_int) {
        if let Some(child) = &self.child
            && let Ok(pid) = libc::pid_t::try_from(child.id())
        {
            // SAFETY: kill(2) with the pid of our own child, not yet reaped (so not reused).
            unsafe { libc::kill(pid, signal) };
        }
    }

    fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// SIGKILL (a stopped process dies too) and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `PING` answered `+PONG` (not `-LOADING`) within a second.
fn redis_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    let mut got = 0;
    while got < reply.len() {
        match stream.read(&mut reply[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        if reply[..got].ends_with(b"\r\n") {
            break;
        }
    }
    reply[..got].starts_with(b"+PONG")
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// A port nobody listens on now (the kernel's pick), for a private server.
fn spare_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a spare port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("cannot find a spare port: {e}"))
}

/// A program on the `PATH`, or at an absolute path.
fn find_program(name: &str) -> Option<PathBuf> {
    let direct = Path::new(name);
    if direct.is_absolute() {
        return direct.is_file().then(|| direct.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Where CongoDB is installed: `$HASHSTASH_CONGODB_DIR`, else the workspace's `target/services/mongo/node`.
fn congo_node_dir() -> PathBuf {
    match std::env::var_os(CONGO_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            crate_dir.parent().unwrap_or(crate_dir).join("target/services/mongo/node")
        }
    }
}

/// The server kind of `spec` with what it needs, or why it cannot run here.
fn server_kind(spec: &Spec, dir: &Path) -> Result<Kind, String> {
    if spec.engine == "redis" {
        let exe = find_program(REDIS_SERVER)
            .or_else(|| find_program("/usr/bin/redis-server"))
            .ok_or("redis-server is not installed (apt-get install redis-server)")?;
        return Ok(Kind::Redis { exe });
    }
    let node = find_program("node").ok_or("node is not installed (CongoDB needs Node.js 20+)")?;
    let package = congo_node_dir().join(CONGO_PACKAGE);
    let patched = std::fs::read_to_string(package.join("engine/UpdateEngine.js"))
        .is_ok_and(|text| text.contains(CONGO_PATCH));
    if !package.join("index.js").is_file() || !patched {
        return Err(format!(
            "CongoDB is not installed in {} (run `cargo xtask services up` once, or \
             `cargo xtask reliability servers --services`; or set {CONGO_ENV})",
            package.display()
        ));
    }
    let launcher = dir.join("congodb-aof.mjs");
    std::fs::write(&launcher, LAUNCHER).map_err(|e| format!("cannot write {}: {e}", launcher.display()))?;
    Ok(Kind::Congo { node, package, launcher })
}

/// Runs the harness over `specs`: one row per server engine.
pub fn run(specs: &[Spec], kills: u32, seed: u64, keep: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    for spec in specs {
        let started = Instant::now();
        let dir = tempfile::Builder::new().prefix("hashstash-servers-").tempdir();
        let row = match dir {
            Ok(dir) => {
                let row = match server_kind(spec, dir.path()) {
                    Ok(kind) => run_spec(spec, kind, dir.path(), kills, spec.seed(seed), started),
                    Err(why) if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") => {
                        Row::broken(HARNESS, spec, format!("{why} ({REQUIRE_ENV}=1)"), started)
                    }
                    Err(why) => {
                        let mut row = Row::new(HARNESS, spec);
                        row.skipped = Some(why);
                        row
                    }
                };
                if keep || row.failures() > 0 {
                    let kept = dir.keep();
                    eprintln!("  {}: server data and logs kept in {}", spec.label(), kept.display());
                }
                row
            }
            Err(e) => Row::broken(HARNESS, spec, format!("cannot make a temporary folder: {e}"), started),
        };
        rows.push(row);
    }
    rows
}

/// What the row saw across its trials, for the notes.
#[derive(Default)]
struct Tally {
    faults: BTreeMap<&'static str, u64>,
    during_call: u64,
    /// Error kind and message start of the writers' failed calls.
    errors: BTreeMap<String, u64>,
    /// Longest time from a fault to the writer's error, per fault (ms).
    latency: BTreeMap<&'static str, f64>,
    stall_ms: (f64, f64),
    stalls_survived: u64,
    late_acks: u64,
    orphans: Option<String>,
}

fn run_spec(spec: &Spec, kind: Kind, dir: &Path, kills: u32, seed: u64, started: Instant) -> Row {
    let mut row = Row::new(HARNESS, spec);
    let port = match spare_port() {
        Ok(p) => p,
        Err(e) => return Row::broken(HARNESS, spec, e, started),
    };
    let congo = matches!(kind, Kind::Congo { .. });
    let mut server = Server { kind, port, dir: dir.to_path_buf(), child: None, starts: 0 };
    if let Err(e) = server.start() {
        return Row::broken(HARNESS, spec, format!("cannot start the server: {e}"), started);
    }
    let url = server.url();
    let root = dir.join("root");
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Row::broken(HARNESS, spec, format!("cannot find this program: {e}"), started),
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = Tally { stall_ms: (f64::MAX, 0.0), ..Tally::default() };
    // The id each key holds (as last read and written by the parent), and how far each trial wrote.
    let mut baseline: BTreeMap<u32, Id> = BTreeMap::new();
    let mut attempted: HashMap<u32, u64> = HashMap::new();
    let probe_key = all_keys(spec.engine) - 1;
    for trial in 1..=kills {
        let fault = Fault::of(trial);
        *tally.faults.entry(fault.name()).or_default() += 1;
        let mut f = Findings::default();
        let log_path = dir.join(format!("writer-{trial}.log"));
        let err_path = dir.join(format!("writer-{trial}.stderr"));
        let stop_path = dir.join(format!("writer-{trial}.stop"));
        let short = if fault == Fault::Kill { "0" } else { "1" };
        let child = worker_command(&exe, "servers-worker", spec, &err_path)
            .args(["--url", &url, "--seed", &seed.to_string()])
            .args(["--trial", &trial.to_string(), "--short", short])
            .arg("--root")
            .arg(&root)
            .arg("--log")
            .arg(&log_path)
            .arg("--stop")
            .arg(&stop_path)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return Row::broken(HARNESS, spec, format!("cannot start the writer: {e}"), started),
        };
        let opened = wait_for(&mut child, OPEN_BOUND, || WriterLog::read(&log_path).opened);
        let mut restart = false;
        let mut fault_at = now_ns();
        let mut exit: Option<ExitStatus> = None;
        if !opened {
            let log = WriterLog::read(&log_path);
            let why = log.fatal.unwrap_or_else(|| tail(&err_path));
            f.errors.push(format!("trial {trial}: the writer did not open its stash: {why}"));
        } else {
            // A seeded moment into the writes (a Redis call takes tens of ms, a MongoDB one hundreds).
            let most = if congo { 4_000 } else { 1_500 };
            let wait = Duration::from_millis(rng.random_range(20..most));
            if wait_for(&mut child, wait, || false) {
                // Exited by itself before the fault: its log says why.
                exit = child.try_wait().ok().flatten();
            }
            fault_at = now_ns();
            match fault {
                Fault::Kill => {
                    server.kill();
                    restart = true;
                    wait_for(&mut child, KILL_BOUND, || false);
                }
                Fault::Freeze => {
                    server.freeze();
                    wait_for(&mut child, FREEZE_BOUND, || false);
                    server.kill();
                    restart = true;
                }
                Fault::Stall => {
                    // Frozen for a while around the time the short timeouts need to fire.
                    let stall = Duration::from_millis(rng.random_range(300..3 * SHORT.as_millis() as u64));
                    // The whole stall even if the writer gives up sooner: its cleanup
                    // may then race the requests it gave up on.
                    server.freeze();
                    std::thread::sleep(stall);
                    server.resume();
                    let ms = stall.as_secs_f64() * 1e3;
                    tally.stall_ms = (tally.stall_ms.0.min(ms), tally.stall_ms.1.max(ms));
                    let resumed = now_ns();
                    // The writer fails or goes on writing once the server is back.
                    let moved = wait_for(&mut child, FREEZE_BOUND, || {
                        WriterLog::read(&log_path).acked.values().any(|t| *t > resumed)
                    });
                    if !moved {
                        f.other.push(format!(
                            "trial {trial}: hang: the writer neither failed nor went on within {}s of the end of a stall",
                            FREEZE_BOUND.as_secs()
                        ));
                    } else if matches!(child.try_wait(), Ok(None)) {
                        tally.stalls_survived += 1;
                    }
                    let _ = std::fs::write(&stop_path, b"stop");
                    wait_for(&mut child, KILL_BOUND, || false);
                }
            }
        }
        let bound = if fault == Fault::Kill { KILL_BOUND } else { FREEZE_BOUND };
        let status = match child.try_wait() {
            Ok(Some(status)) => Some(status),
            _ => {
                f.other.push(format!(
                    "trial {trial}: hang: the writer's call did not return within {}s of the server's {}",
                    bound.as_secs(),
                    fault.name()
                ));
                let _ = child.kill();
                child.wait().ok()
            }
        };
        let status = exit.or(status);
        let log = WriterLog::read(&log_path);
        let stderr_text = std::fs::read_to_string(&err_path).unwrap_or_default();
        if stderr_text.contains("panicked") || status.is_some_and(|s| s.code() == Some(101)) {
            f.other.push(format!("trial {trial}: the writer panicked: {}", tail(&err_path)));
        }
        if restart && let Err(e) = server.start() {
            f.errors.push(format!("trial {trial}: the server does not restart: {e}"));
            row.trials += 1;
            row.add_findings(f);
            break;
        }
        if !restart {
            // Requests the writer gave up on may still land: let them.
            std::thread::sleep(Duration::from_millis(500));
        }
        if opened {
            judge_writer(trial, fault, fault_at, &log, &mut tally, &mut f);
        }
        row.ops += log.acked.len() as u64;
        attempted.insert(trial, log.attempted());
        // Read every key back, then write.
        verify(spec, &root, &url, seed, trial, &log, &mut baseline, &attempted, &mut f);
        probe(spec, &root, &url, trial, probe_key, &mut rng, &mut baseline, &mut f);
        if congo && restart {
            tally.orphans = orphans(&server.log_path()).or(tally.orphans.take());
        }
        row.trials += 1;
        row.add_findings(f);
    }
    notes(&mut row, congo, &tally);
    row.wall = started.elapsed();
    row
}

/// Waits until the child exits or `done()` holds (true), or `bound` passes (false).
fn wait_for(child: &mut Child, bound: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if matches!(child.try_wait(), Ok(Some(_))) || done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The writer's side of a trial: its in-flight call failed (kill, freeze)
/// and nothing was acknowledged after the fault but a call already answered.
fn judge_writer(
    trial: u32,
    fault: Fault,
    fault_at: u64,
    log: &WriterLog,
    tally: &mut Tally,
    f: &mut Findings,
) {
    if log.in_call_at(fault_at) {
        tally.during_call += 1;
    }
    if let Some((n, t, kind, msg)) = &log.failed {
        if *t < fault_at {
            f.errors.push(format!("trial {trial}: call {n} failed before the fault: {kind}: {msg}"));
        } else {
            let head: String = msg.split(['(', ':']).next().unwrap_or("").trim().chars().take(90).collect();
            *tally.errors.entry(format!("{kind}: {head}")).or_default() += 1;
            let ms = (*t - fault_at) as f64 / 1e6;
            let longest = tally.latency.entry(fault.name()).or_default();
            *longest = longest.max(ms);
        }
    } else if fault != Fault::Stall && !log.stopped {
        f.errors.push(format!(
            "trial {trial}: the writer's call in flight at the {} reported no error",
            fault.name()
        ));
    }
    // At most one call can be answered after a kill or freeze: the one whose reply was already sent.
    let late = log.acked.values().filter(|t| **t > fault_at).count();
    tally.late_acks += late as u64;
    if fault != Fault::Stall && late > 1 {
        f.errors.push(format!(
            "trial {trial}: {late} calls were acknowledged after the server's {}",
            fault.name()
        ));
    }
}

/// Decodes one read value into its id, checking that it is whole and belongs to `key`.
trait Written: DeserializeOwned {
    fn checked_id(&self, key: u32) -> Option<Id>;
}

impl Written for Val {
    fn checked_id(&self, key: u32) -> Option<Id> {
        (self.key == key && self.sub == 0 && self.intact(false)).then_some((self.w, self.op))
    }
}

impl Written for Big {
    fn checked_id(&self, key: u32) -> Option<Id> {
        (self.key == key && self.pad == Big::pad(self.id(), key)).then_some(self.id())
    }
}

/// What one key reads as.
enum Readback {
    Absent,
    Value(Id),
    /// A value that is not one anybody wrote (a wrong key, damaged filler).
    Foreign,
    Failed(hashstash::Error),
}

fn read_key<V: Written>(stash: &HashStash, key: u32) -> Readback {
    match stash.get::<_, V>(&key) {
        Ok(None) => Readback::Absent,
        Ok(Some(v)) => v.checked_id(key).map_or(Readback::Foreign, Readback::Value),
        Err(e) => Readback::Failed(e),
    }
}

/// Reads every key after a trial and checks it against the writes.
#[allow(clippy::too_many_arguments)]
fn verify(
    spec: &Spec,
    root: &Path,
    url: &str,
    seed: u64,
    trial: u32,
    log: &WriterLog,
    baseline: &mut BTreeMap<u32, Id>,
    attempted: &HashMap<u32, u64>,
    f: &mut Findings,
) {
    let stash = match open(spec, root, url, false) {
        Ok(s) => s,
        Err(e) => {
            f.errors.push(format!("trial {trial}: the stash does not open after the fault: {e}"));
            return;
        }
    };
    // What each key may hold: the last acknowledged write of this trial (else
    // what it held before), or the write in flight.
    let mut allowed: BTreeMap<u32, Vec<Option<Id>>> = BTreeMap::new();
    let mut newest: BTreeMap<u32, Id> = BTreeMap::new();
    for n in log.acked.keys() {
        for k in keys_of(spec.engine, seed, trial, *n) {
            newest.insert(k, (trial, *n));
        }
    }
    for k in 0..all_keys(spec.engine) {
        let current = newest.get(&k).or(baseline.get(&k)).copied();
        allowed.insert(k, vec![current]);
    }
    if let Some(n) = log.in_flight() {
        for k in keys_of(spec.engine, seed, trial, n) {
            allowed.entry(k).or_default().push(Some((trial, n)));
        }
    }
    let written = |key: u32| {
        move |id: Id| {
            if id.0 == 0 {
                return true; // the parent's writes: checked when written
            }
            attempted.get(&id.0).is_some_and(|most| id.1 >= 1 && id.1 <= *most)
                && keys_of(spec.engine, seed, id.0, id.1).contains(&key)
        }
    };
    let mut present = 0usize;
    let mut observed = BTreeMap::new();
    for k in 0..all_keys(spec.engine) {
        let read =
            if spec.engine == "redis" { read_key::<Val>(&stash, k) } else { read_key::<Big>(&stash, k) };
        let got = match read {
            Readback::Absent => None,
            Readback::Value(id) => Some(id),
            Readback::Foreign => {
                f.phantom.push(format!("trial {trial}: key {k} holds a value nobody wrote under it"));
                continue;
            }
            Readback::Failed(e)
                if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Decode | ErrorKind::TooLarge) =>
            {
                f.unreadable.push(format!(
                    "trial {trial}: partial entry visible: key {k}: {}",
                    one_line(&e.to_string())
                ));
                continue;
            }
            Readback::Failed(e) => {
                f.errors.push(format!(
                    "trial {trial}: key {k} cannot be read after the fault: {}",
                    one_line(&e.to_string())
                ));
                continue;
            }
        };
        let ok = allowed.get(&k).map_or(&[][..], Vec::as_slice);
        match judge(got, ok, &written(k)) {
            Verdict::Fine => {}
            Verdict::Lost => f.lost.push(format!(
                "trial {trial}: key {k} reads {}, but {} was acknowledged",
                show(got),
                show(ok.first().copied().flatten())
            )),
            Verdict::Phantom => {
                f.phantom.push(format!("trial {trial}: key {k} holds {}, never written under it", show(got)))
            }
        }
        if let Some(id) = got {
            present += 1;
            observed.insert(k, id);
        }
    }
    // The index agrees with the entries: a scan and the count see the same keys.
    match stash.raw_items() {
        Ok(items) => {
            let mut scanned = BTreeSet::new();
            for item in items {
                match item.and_then(|(kb, _)| stash.decode_key::<u32>(&kb)) {
                    Ok(k) => {
                        scanned.insert(k);
                    }
                    Err(e) => f
                        .unreadable
                        .push(format!("trial {trial}: the scan fails: {}", one_line(&e.to_string()))),
                }
            }
            let listed: BTreeSet<u32> = observed.keys().copied().collect();
            if f.unreadable.is_empty() && scanned != listed {
                f.other.push(format!(
                    "trial {trial}: a scan lists {} keys, reads find {}",
                    scanned.len(),
                    listed.len()
                ));
            }
        }
        Err(e) => f.errors.push(format!("trial {trial}: cannot scan: {}", one_line(&e.to_string()))),
    }
    match stash.len() {
        Ok(n) if n == present => {}
        Ok(n) => f.other.push(format!("trial {trial}: len() is {n} but {present} keys read")),
        Err(e) => f.errors.push(format!("trial {trial}: len fails: {}", one_line(&e.to_string()))),
    }
    *baseline = observed;
}

fn show(id: Option<Id>) -> String {
    match id {
        None => "absent".into(),
        Some((0, t)) => format!("the parent's write after trial {t}"),
        Some((w, n)) => format!("call {n} of trial {w}"),
    }
}

/// New writes work: the probe key and one writer key (a large value for MongoDB), read back whole.
#[allow(clippy::too_many_arguments)]
fn probe(
    spec: &Spec,
    root: &Path,
    url: &str,
    trial: u32,
    probe_key: u32,
    rng: &mut StdRng,
    baseline: &mut BTreeMap<u32, Id>,
    f: &mut Findings,
) {
    let stash = match open(spec, root, url, false) {
        Ok(s) => s,
        Err(e) => {
            f.errors.push(format!("trial {trial}: the stash does not open for new writes: {e}"));
            return;
        }
    };
    let id: Id = (0, u64::from(trial));
    for key in [probe_key, rng.random_range(0..probe_key)] {
        let (written, read) = if spec.engine == "redis" {
            let v = Val::new((0, u64::from(trial), 0), key, false);
            (stash.set(&key, &v), read_key::<Val>(&stash, key))
        } else {
            (stash.set(&key, &Big::new(id, key)), read_key::<Big>(&stash, key))
        };
        match (written, read) {
            (Ok(()), Readback::Value(got)) if got == id => {
                baseline.insert(key, id);
            }
            (Err(e), _) => f
                .errors
                .push(format!("trial {trial}: a new write of key {key} fails: {}", one_line(&e.to_string()))),
            (Ok(()), Readback::Failed(e)) => f.unreadable.push(format!(
                "trial {trial}: a new write of key {key} does not read back: {}",
                one_line(&e.to_string())
            )),
            (Ok(()), other) => {
                let got = match other {
                    Readback::Value(got) => show(Some(got)),
                    Readback::Absent => "absent".into(),
                    _ => "a value nobody wrote".into(),
                };
                f.lost.push(format!("trial {trial}: a new write of key {key} reads back as {got}"));
            }
        }
    }
}

/// The launcher's count of chunks after its last start.
fn orphans(log: &Path) -> Option<String> {
    let file = std::fs::File::open(log).ok()?;
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.starts_with("chunks "))
        .last()
        .map(|l| l.split_once(' ').map_or(l.clone(), |(_, rest)| rest.to_string()))
}

fn notes(row: &mut Row, congo: bool, t: &Tally) {
    row.notes.push(if congo {
        "private CongoDB (in memory) whose storage changes our launcher appends as BSON to a log before \
         each command replies, replayed at restart (CongoDB's own JSON persistence loses BSON binary): \
         every acknowledged write survives a kill; the writer sets one of 3 keys per call, 4 values in 5 \
         of 4.25-9 MiB (chunked)"
            .into()
    } else {
        "private redis-server, appendonly yes, appendfsync always: every acknowledged write survives a \
         kill; the writer updates 2,000 keys per call (two pipelines of 1,024)"
            .into()
    });
    let faults: Vec<String> = t.faults.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut line = format!(
        "faults: {} ({} landed inside a call); kill and freeze restart the server, a stall resumes it",
        faults.join(", "),
        t.during_call
    );
    if t.faults.contains_key("stall") {
        line.push_str(&format!(
            "; stalls of {:.1}-{:.1} s, {} outlived by the writer's call",
            t.stall_ms.0 / 1e3,
            t.stall_ms.1 / 1e3,
            t.stalls_survived
        ));
    }
    row.notes.push(line);
    if !t.latency.is_empty() {
        let lat: Vec<String> = t.latency.iter().map(|(k, ms)| format!("{k} {:.2} s", ms / 1e3)).collect();
        row.notes.push(format!(
            "longest wait from the fault to the writer's error: {} (freeze and stall with {} s client timeouts, \
             kill with the defaults)",
            lat.join(", "),
            SHORT.as_secs()
        ));
    }
    if !t.errors.is_empty() {
        let errs: Vec<String> = t.errors.iter().map(|(k, n)| format!("{n}x {k}")).collect();
        row.notes.push(format!("errors of the calls in flight: {}", errs.join("; ")));
    }
    row.notes.push(format!("calls answered after the fault (a reply already sent): {}", t.late_acks));
    if let Some(o) = &t.orphans {
        row.notes.push(format!("chunks at the last restart: {o} (orphans are harmless; clear() drops them)"));
    }
}

/// The CongoDB launcher (an ES module run by `node`; argv: port, log file,
/// CongoDB's `dist_ts/congodb` folder). Replays the log, compacts it (the
/// state as a fresh log, swapped in by a rename), prints what it found,
/// then logs every storage change before the command that made it replies.
const LAUNCHER: &str = r#"// Written by `reliability servers`: CongoDB in memory, every storage change
// appended as BSON to a log before the command replies, replayed on start.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [port, logPath, congo] = process.argv.slice(2);
const { CongoServer } = await import(pathToFileURL(path.join(congo, 'index.js')).href);
const plugins = await import(pathToFileURL(path.join(congo, 'congodb.plugins.js')).href);
const bson = plugins.bson;

const server = new CongoServer({ port: Number(port), host: '127.0.0.1', storage: 'memory' });
const storage = server.getStorage();
const CHANGES = ['createDatabase', 'dropDatabase', 'createCollection', 'dropCollection', 'renameCollection',
  'insertOne', 'updateById', 'deleteById', 'saveIndex', 'dropIndex'];
const original = {};
for (const name of CHANGES) original[name] = storage[name].bind(storage);

// Each record is one BSON document {m: method, a: [arguments]}; a torn last
// record (the server was killed while writing it) is cut off, as Redis does.
let good = 0;
let records = 0;
if (fs.existsSync(logPath)) {
  const data = fs.readFileSync(logPath);
  while (good + 4 <= data.length) {
    const len = data.readInt32LE(good);
    if (len < 5 || good + len > data.length) break;
    const rec = bson.deserialize(data.subarray(good, good + len));
    await original[rec.m](...rec.a);
    good += len;
    records += 1;
  }
  if (good < data.length) console.log(`dropped a torn record of ${data.length - good} bytes`);
}
console.log(`replayed ${records} records`);

const record = (m, a) => bson.serialize({ m, a }, { checkKeys: false, ignoreUndefined: true });
const write = (fd, buf) => { let at = 0; while (at < buf.length) at += fs.writeSync(fd, buf, at); };
const tmp = `${logPath}.tmp`;
const out = fs.openSync(tmp, 'w');
for (const [db, colls] of storage.databases) {
  write(out, record('createDatabase', [db]));
  for (const [coll, docs] of colls) {
    write(out, record('createCollection', [db, coll]));
    for (const index of storage.indexes.get(db)?.get(coll) ?? []) {
      if (index.name === '_id_') continue;
      const { name, ...spec } = index;
      write(out, record('saveIndex', [db, coll, name, spec]));
    }
    for (const doc of docs.values()) write(out, record('insertOne', [db, coll, doc]));
  }
}
fs.closeSync(out);
fs.renameSync(tmp, logPath);

// Chunks no entry lists (orphans) and chunks an entry lists but that are missing.
for (const [db, colls] of storage.databases) {
  for (const [coll, docs] of colls) {
    if (!coll.endsWith('.chunks')) continue;
    const listed = new Set();
    for (const doc of (colls.get(coll.slice(0, -'.chunks'.length)) ?? new Map()).values()) {
      for (const id of doc.chunk_ids ?? []) listed.add(id.toHexString());
    }
    let orphans = 0, bytes = 0, missing = 0;
    for (const [id, chunk] of docs) {
      if (!listed.has(id)) { orphans += 1; bytes += chunk.data?.length() ?? 0; }
    }
    for (const id of listed) if (!docs.has(id)) missing += 1;
    console.log(`chunks ${docs.size} chunk documents, ${orphans} orphans (${(bytes / 1048576).toFixed(1)} MiB), ${missing} listed but missing`);
  }
}

const fd = fs.openSync(logPath, 'a');
for (const name of CHANGES) {
  storage[name] = async (...a) => {
    const result = await original[name](...a);
    // The stored document (with the `_id` insertOne gave it), not the argument.
    write(fd, record(name, name === 'insertOne' ? [a[0], a[1], result] : a));
    return result;
  };
}
await server.start();
console.log(`congodb listening on 127.0.0.1:${port}`);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_cycle_and_quick_sees_kill_and_freeze() {
        let seq: Vec<Fault> = (1..=4).map(Fault::of).collect();
        assert_eq!(seq, [Fault::Kill, Fault::Freeze, Fault::Kill, Fault::Stall]);
    }

    #[test]
    fn the_writer_log_names_the_call_in_flight() {
        let log = WriterLog::parse("O\nB 1 10\nA 1 20\nB 2 30\nE 2 50 backend lost the connection (x)\n");
        assert_eq!(log.in_flight(), Some(2));
        assert_eq!(log.attempted(), 2);
        assert!(log.in_call_at(35) && !log.in_call_at(25));
        assert_eq!(log.failed.as_ref().map(|f| f.2.as_str()), Some("backend"));
        let killed = WriterLog::parse("O\nB 1 10\nA 1 20\nB 2 30\nA 2");
        assert_eq!(killed.in_flight(), Some(2), "a torn last line does not acknowledge");
        let stopped = WriterLog::parse("O\nB 1 10\nA 1 20\nS\n");
        assert_eq!(stopped.in_flight(), None);
        assert!(stopped.stopped);
    }

    #[test]
    fn judging_allows_the_acknowledged_or_the_in_flight_write_only() {
        let written = |id: Id| id.1 <= 3;
        let allowed = [Some((1, 2)), Some((1, 3))];
        assert_eq!(judge(Some((1, 2)), &allowed, &written), Verdict::Fine);
        assert_eq!(judge(Some((1, 3)), &allowed, &written), Verdict::Fine);
        assert_eq!(judge(None, &allowed, &written), Verdict::Lost);
        assert_eq!(judge(Some((1, 1)), &allowed, &written), Verdict::Lost, "an older write");
        assert_eq!(judge(Some((1, 9)), &allowed, &written), Verdict::Phantom);
        assert_eq!(judge(None, &[None, Some((1, 1))], &written), Verdict::Fine);
    }

    #[test]
    fn large_values_are_mostly_chunked_and_checked_byte_for_byte() {
        let sizes: Vec<usize> = (1..=50).map(|n| Big::len((1, n), 0)).collect();
        let chunked = sizes.iter().filter(|s| **s > hashstash::mongo::INLINE_VALUE_BYTES).count();
        assert!(chunked > 30 && chunked < 50, "{chunked} of 50");
        assert!(sizes.iter().all(|s| *s < 10 << 20));
        let v = Big::new((2, 7), 1);
        assert_eq!(v.checked_id(1), Some((2, 7)));
        assert_eq!(v.checked_id(2), None, "another key");
        let mut cut = v.clone();
        cut.pad.truncate(cut.pad.len() / 2);
        assert_eq!(cut.checked_id(1), None, "half a value");
        assert!(v.pad.bytes().all(|b| b.is_ascii_graphic()));
    }
}
