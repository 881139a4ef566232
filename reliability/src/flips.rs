//! `reliability flips`: stored bytes flipped, overwritten, zeroed or cut at
//! random in every engine's files; reading the damaged stash must give typed
//! errors or right values, never a panic, a crash, a hang or another key's value.
//!
//! Per engine, a pristine stash is built once: [`KEYS`] keys of varied sizes
//! (a few bytes to tens of KiB), some with several appended versions, some
//! with a time to live far in the future. Every value names its key and
//! version and carries a filler derived from them ([`Item`]), so any value
//! read is classified: the expected one, an older version of the key (damage
//! may drop the newest), *altered* (a value of this key that differs from
//! what was written: only sled checksums what it stores, SQLite only its WAL
//! frames, so a flipped byte in a value may decode to another value; counted
//! and reported, not a failure) or *foreign*, another key's value (a failure).
//!
//! Each trial copies the pristine folder, damages one file of the copy (picked
//! with a weight growing with its size, so the pages of `data.mdb`, of the
//! SQLite database and its WAL, sled's log and pairtree's key and value files
//! all get hit) in one of four ways ([`Harm`]), and hands the copy to a worker
//! process (`flips-worker`), which opens it and reads every key (`get` and
//! every version), `len`, an iteration of the items, then writes a new key and
//! reads it back, and prints one JSON line ([`Report`]). The parent gives each
//! trial [`TIMEOUT`]: past it the worker is killed (a hang); a worker killed by
//! a signal or ended by a panic is a crash. A worker serves trials until it
//! crashes or reports a caught panic; the next trial gets a new one.
//!
//! Errors of kind `Corrupt`, `Decode` and `TooLarge` are the typed answers to
//! damage (and `Io` too when opening: a file cut below its header); any other
//! kind is counted as `unreadable`. A key may be absent after the damage hit
//! its bytes: absence is counted in the notes, not as lost. `lost` counts new
//! writes that do not read back.
//!
//! LMDB keeps no checksums and trusts its pages: some damage to a leaf or a
//! free-list page still crashes the process inside LMDB's C code (see the
//! `stash-engine-lmdb` docs), more often in the dev profile (`--quick`),
//! whose LMDB build aborts on its assertions, than in release builds. Such crashes,
//! and errors of other kinds than the typed ones, are counted on the LMDB row as
//! the engine's limit (its notes), not as failures ([`Spec::trusts_its_pages`]).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hashstash::{ErrorKind, HashStash, SetOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::spec::Spec;
use crate::{Args, Row};

/// Keys of the pristine stash: `0..KEYS`.
pub const KEYS: u32 = 50;
/// The key each trial writes and reads back (not in the pristine stash).
const NEW: u32 = 1_000;
/// The stash's database name.
const DBNAME: &str = "flips";
/// How long a worker may take over one trial before it counts as hung.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Iteration steps (items and errors) past which an iteration counts as not ending.
const MAX_STEPS: u64 = 4 * (KEYS as u64 + 1);
/// Damaged copies kept under [`FINDINGS`] per engine, at most.
const KEEP_FINDINGS: usize = 10;
/// Where the damaged copies behind failures are kept.
const FINDINGS: &str = "/tmp/flips-findings";
/// A time to live that never ends within a run.
const FAR: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A stored value: its key and version, and a filler derived from both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The key id it was written under.
    pub key: u32,
    /// Its version, 1 for the first write.
    pub version: u32,
    /// Filler of varied size, derived from `(key, version)`.
    pub pad: String,
}

/// The key name of id `i`.
fn key_name(i: u32) -> String {
    format!("flips/key-{i:03}")
}

/// The id of a key name; `None` for a name no write used.
fn key_id(name: &str) -> Option<u32> {
    let id: u32 = name.strip_prefix("flips/key-")?.parse().ok()?;
    (key_name(id) == name && (id < KEYS || id == NEW)).then_some(id)
}

/// How many versions key `i` has (appended one after the other); 1 for [`NEW`].
fn versions(i: u32) -> u32 {
    if i < KEYS && i % 7 == 3 { 2 + i % 3 } else { 1 }
}

/// Whether key `i` is written with a time to live (on its last write).
fn expiring(i: u32) -> bool {
    i < KEYS && i % 11 == 5
}

/// The value of version `v` of key `i`: one key in ten holds 20–40 KiB (LMDB
/// overflow pages, SQLite overflow chains), three in ten 1–6 KiB, the rest
/// under 200 bytes; half the fillers compress well, half do not.
fn item(i: u32, v: u32) -> Item {
    let mut rng = StdRng::seed_from_u64((u64::from(i) << 32 | u64::from(v)) ^ 0xf11b_5eed);
    let len = match i % 10 {
        0 => rng.random_range(20_000..40_000usize),
        1..=3 => rng.random_range(1_000..6_000usize),
        _ => rng.random_range(5..200usize),
    };
    let pad = if rng.random_bool(0.5) {
        let word = format!("key {i} version {v}; ");
        word.chars().cycle().take(len).collect()
    } else {
        (0..len).map(|_| char::from(rng.random_range(b' '..=b'~'))).collect()
    };
    Item { key: i, version: v, pad }
}

/// Every value written (and the new key's), made once: generating the
/// fillers for every comparison would dominate the worker's time.
fn written(i: u32, v: u32) -> Option<&'static Item> {
    static ALL: std::sync::OnceLock<BTreeMap<(u32, u32), Item>> = std::sync::OnceLock::new();
    let all = ALL.get_or_init(|| {
        (0..KEYS).chain([NEW]).flat_map(|i| (1..=versions(i)).map(move |v| ((i, v), item(i, v)))).collect()
    });
    all.get(&(i, v))
}

/// What a value read under key `k` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The newest version of `k`.
    Correct,
    /// An older version of `k`.
    Older,
    /// Not a value written under `k`, nor another key's: damaged bytes that decoded.
    Altered,
    /// A value written under another key.
    Foreign(u32),
}

/// Classifies `got`, read under key `k`; `newest` says whether only the
/// newest version is right (`get`) or any version is (`get_all`).
pub fn classify(k: u32, got: &Item, newest: bool) -> Class {
    let is_written = |key: u32| written(key, got.version) == Some(got);
    if got.key == k {
        if !is_written(k) {
            Class::Altered
        } else if got.version == versions(k) || !newest {
            Class::Correct
        } else {
            Class::Older
        }
    } else if is_written(got.key) {
        Class::Foreign(got.key)
    } else {
        Class::Altered
    }
}

/// The kinds an error may have when the stash opens on damaged files.
fn fine_at_open(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Corrupt | ErrorKind::Io)
}

/// The kinds an error may have when reading (or writing to) damaged data.
fn fine_on_read(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Corrupt | ErrorKind::Decode | ErrorKind::TooLarge)
}

// ---------------------------------------------------------------------------
// The pristine stash

/// Writes the pristine stash under `root`. SQLite's is copied to `copy`
/// while open, so the copy has a database file (the first half of the keys,
/// checkpointed at a close) and a WAL (the second half); the others are
/// copied after they are closed.
fn build(spec: &Spec, root: &Path, copy: &Path) -> Result<(), String> {
    let write = |stash: &HashStash, keys: std::ops::Range<u32>| -> Result<(), String> {
        for i in keys {
            let n = versions(i);
            for v in 1..=n {
                let mut opts = SetOptions::new().append(v > 1);
                if v == n && expiring(i) {
                    opts = opts.ttl(FAR);
                }
                stash.set_with(&key_name(i), &item(i, v), opts).map_err(|e| format!("write key {i}: {e}"))?;
            }
        }
        Ok(())
    };
    let open = |clear| spec.open(root, DBNAME, "", clear).map_err(|e| format!("open: {e}"));
    let stash = open(true)?;
    if spec.engine == "sqlite" {
        write(&stash, 0..KEYS / 2)?;
        drop(stash);
        let stash = open(false)?;
        write(&stash, KEYS / 2..KEYS)?;
        copy_dir(root, copy, &|p| !p.to_string_lossy().ends_with("-shm"))
            .map_err(|e| format!("copy: {e}"))?;
        drop(stash);
    } else {
        write(&stash, 0..KEYS)?;
        drop(stash);
        copy_dir(root, copy, &|_| true).map_err(|e| format!("copy: {e}"))?;
    }
    Ok(())
}

/// Copies the folder `from` to `to` (files for which `take` holds).
fn copy_dir(from: &Path, to: &Path, take: &dyn Fn(&Path) -> bool) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&src, &dst, take)?;
        } else if kind.is_file() && take(&src) {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Every non-empty file under `dir`, relative to it, with its size.
fn files(dir: &Path) -> std::io::Result<Vec<(PathBuf, u64)>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, u64)>) -> std::io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(base, &entry.path(), out)?;
            } else if kind.is_file() {
                let len = entry.metadata()?.len();
                if len > 0 {
                    let rel = entry.path().strip_prefix(base).map(Path::to_path_buf).unwrap_or_default();
                    out.push((rel, len));
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

// ---------------------------------------------------------------------------
// Damage

/// One way of damaging a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Harm {
    /// Bits flipped: `(offset, bit)`.
    Flip(Vec<(u64, u8)>),
    /// A run of bytes overwritten with random bytes.
    Overwrite { at: u64, bytes: Vec<u8> },
    /// The file cut to `len` bytes.
    Truncate(u64),
    /// The 4 KiB-aligned page `page` zeroed (up to the end of the file).
    ZeroPage(u64),
}

impl Harm {
    /// The name of the kind of damage, for the notes.
    pub fn kind(&self) -> &'static str {
        match self {
            Harm::Flip(_) => "flip",
            Harm::Overwrite { .. } => "overwrite",
            Harm::Truncate(_) => "truncate",
            Harm::ZeroPage(_) => "zero page",
        }
    }
}

/// The damage of one trial: which file (relative to the stash root) and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    file: PathBuf,
    len: u64,
    harm: Harm,
}

/// The names of the damage kinds, in the order of the notes.
const HARMS: [&str; 4] = ["flip", "overwrite", "truncate", "zero page"];

const PAGE: u64 = 4096;

impl Damage {
    /// Picks a file of `files` (weight: its size plus 1 KiB, so small key
    /// files get hit too) and a damage of it.
    pub fn pick(rng: &mut StdRng, files: &[(PathBuf, u64)]) -> Option<Damage> {
        let total: u64 = files.iter().map(|(_, len)| len + 1024).sum();
        if total == 0 {
            return None;
        }
        let mut at = rng.random_range(0..total);
        let (file, len) = files.iter().find(|(_, len)| {
            let hit = at < len + 1024;
            at = at.saturating_sub(len + 1024);
            hit
        })?;
        let len = *len;
        let harm = match rng.random_range(0..4u32) {
            0 => Harm::Flip(
                (0..rng.random_range(1..=8))
                    .map(|_| (rng.random_range(0..len), rng.random_range(0..8u8)))
                    .collect(),
            ),
            1 => {
                let at = rng.random_range(0..len);
                let n = rng.random_range(1..=256u64).min(len - at);
                Harm::Overwrite { at, bytes: (0..n).map(|_| rng.random()).collect() }
            }
            2 => Harm::Truncate(rng.random_range(0..len)),
            _ => Harm::ZeroPage(rng.random_range(0..len.div_ceil(PAGE))),
        };
        Some(Damage { file: file.clone(), len, harm })
    }

    /// Damages the copy of the file under `root`.
    pub fn apply(&self, root: &Path) -> std::io::Result<()> {
        let path = root.join(&self.file);
        let mut f = OpenOptions::new().read(true).write(true).open(&path)?;
        match &self.harm {
            Harm::Flip(bits) => {
                for (at, bit) in bits {
                    let mut b = [0u8];
                    f.read_exact_at(&mut b, *at)?;
                    b[0] ^= 1 << bit;
                    f.write_all_at(&b, *at)?;
                }
            }
            Harm::Overwrite { at, bytes } => f.write_all_at(bytes, *at)?,
            Harm::Truncate(len) => f.set_len(*len)?,
            Harm::ZeroPage(page) => {
                let at = page * PAGE;
                let n = PAGE.min(self.len.saturating_sub(at));
                f.seek(SeekFrom::Start(at))?;
                f.write_all(&vec![0u8; n as usize])?;
            }
        }
        Ok(())
    }

    /// In words, for findings.
    pub fn describe(&self) -> String {
        let file = self.file.display();
        let len = self.len;
        match &self.harm {
            Harm::Flip(bits) => {
                let at: Vec<String> = bits.iter().map(|(o, b)| format!("{o}.{b}")).collect();
                format!("{} bit(s) flipped in {file} ({len} bytes) at byte.bit {}", bits.len(), at.join(", "))
            }
            Harm::Overwrite { at, bytes } => {
                format!("{} random bytes written over {file} ({len} bytes) at {at}", bytes.len())
            }
            Harm::Truncate(to) => format!("{file} cut from {len} to {to} bytes"),
            Harm::ZeroPage(p) => format!("4 KiB page {p} of {file} ({len} bytes) zeroed"),
        }
    }
}

/// The random numbers of trial `trial`.
fn trial_rng(seed: u64, trial: u32) -> StdRng {
    StdRng::seed_from_u64(seed ^ u64::from(trial).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xf1_1b5)
}

// ---------------------------------------------------------------------------
// The worker

/// A trial handed to the worker.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    trial: u32,
    root: PathBuf,
}

/// Which column a failure goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Column {
    /// Another key's value.
    Phantom,
    /// An error of a kind that does not say "damaged data".
    Unreadable,
    /// A new write that does not read back.
    Lost,
    /// A panic (caught in the worker) or an iteration that does not end.
    Other,
}

/// What the worker saw in one damaged copy.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// The trial.
    pub trial: u32,
    /// Outcomes by class: `correct`, `older`, `absent`, `altered`,
    /// `altered key`, `error <Kind>`, `open error <Kind>`.
    pub counts: BTreeMap<String, u64>,
    /// Reads (and the write) done.
    pub ops: u64,
    /// Failures, with what happened.
    pub findings: Vec<(Column, String)>,
    /// Typed errors that name neither a file nor a key digest.
    pub unnamed: Vec<String>,
    /// A panic was caught: the worker ends after this report.
    pub panicked: bool,
}

impl Report {
    fn count(&mut self, class: impl Into<String>) {
        *self.counts.entry(class.into()).or_default() += 1;
    }

    fn find(&mut self, column: Column, msg: String) {
        if self.findings.len() < 20 {
            self.findings.push((column, msg));
        }
    }

    /// Counts an error of `op`; checks its kind and that it names where.
    fn error(&mut self, op: &str, e: &hashstash::Error, root: &Path) {
        let kind = e.kind();
        let opening = op == "open";
        let msg = e.to_string().replace('\n', " ");
        self.count(format!("{}error {kind:?}", if opening { "open " } else { "" }));
        let fine = if opening { fine_at_open(kind) } else { fine_on_read(kind) };
        if !fine {
            self.find(Column::Unreadable, format!("{op}: {kind:?} error: {msg}"));
        }
        let named = e.context_value("file").is_some()
            || e.context_value("digest").is_some()
            || msg.contains(&*root.to_string_lossy());
        if !named && self.unnamed.len() < 5 {
            self.unnamed.push(format!("{op}: {kind:?}: {msg}"));
        }
    }

    /// Counts a value read under `k`.
    fn value(&mut self, op: &str, k: u32, got: &Item, newest: bool) {
        match classify(k, got, newest) {
            Class::Correct => self.count("correct"),
            Class::Older => self.count("older"),
            Class::Altered => self.count("altered"),
            Class::Foreign(other) => {
                self.count("foreign");
                self.find(
                    Column::Phantom,
                    format!("{op} of key {k} returned key {other}'s value (version {})", got.version),
                );
            }
        }
    }

    fn panic(&mut self, op: &str, payload: Box<dyn std::any::Any + Send>) {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        self.count("panic");
        self.find(Column::Other, format!("{op} panicked: {msg}"));
        self.panicked = true;
    }
}

/// Runs `f`, catching a panic into the report (`None` after a panic).
fn guarded<T>(r: &mut Report, op: &str, f: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(payload) => {
            r.panic(op, payload);
            None
        }
    }
}

/// The child: reads one [`Job`] per line on stdin, examines the copy, prints
/// one [`Report`] per line; ends after a caught panic (its state may be off).
pub fn worker(args: &Args) -> Result<(), String> {
    let spec = args.spec()?;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let job: Job = serde_json::from_str(&line).map_err(|e| format!("job `{line}`: {e}"))?;
        let report = examine(&spec, &job);
        let text = serde_json::to_string(&report).map_err(|e| format!("report: {e}"))?;
        writeln!(out, "{text}").and_then(|()| out.flush()).map_err(|e| format!("stdout: {e}"))?;
        if report.panicked {
            break;
        }
    }
    Ok(())
}

/// Opens the copy and reads everything, then writes and reads back a new key.
fn examine(spec: &Spec, job: &Job) -> Report {
    let mut r = Report { trial: job.trial, ..Report::default() };
    let root = job.root.as_path();
    let stash = match guarded(&mut r, "open", || spec.open(root, DBNAME, "", false)) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            r.error("open", &e, root);
            return r;
        }
        None => return r,
    };
    r.count("opened");
    read_all(&mut r, &stash, root);
    if !r.panicked {
        write_new(&mut r, &stash, root);
    }
    // Closing flushes (sled): a panic there is the library's too.
    guarded(&mut r, "close", || drop(stash));
    r
}

fn read_all(r: &mut Report, stash: &HashStash, root: &Path) {
    for k in 0..KEYS {
        let name = key_name(k);
        r.ops += 1;
        match guarded(r, "get", || stash.get::<_, Item>(&name)) {
            Some(Ok(Some(got))) => r.value("get", k, &got, true),
            Some(Ok(None)) => r.count("absent"),
            Some(Err(e)) => r.error("get", &e, root),
            None => return,
        }
        r.ops += 1;
        match guarded(r, "get_all", || stash.try_get_all_with_metadata::<_, Item>(&name)) {
            Some(Ok(all)) => {
                if all.is_empty() {
                    r.count("absent");
                }
                for v in all {
                    match v {
                        Ok(v) => r.value("get_all", k, &v.value, false),
                        Err(e) => r.error("get_all", &e, root),
                    }
                }
            }
            Some(Err(e)) => r.error("get_all", &e, root),
            None => return,
        }
    }
    r.ops += 1;
    match guarded(r, "len", || stash.len()) {
        Some(Ok(_)) => r.count("correct"),
        Some(Err(e)) => r.error("len", &e, root),
        None => return,
    }
    let items = match guarded(r, "items", || stash.items::<String, Item>()) {
        Some(Ok(items)) => items,
        Some(Err(e)) => {
            r.ops += 1;
            r.error("items", &e, root);
            return;
        }
        None => return,
    };
    let mut items = items;
    let mut steps = 0u64;
    loop {
        let Some(next) = guarded(r, "items.next", || items.next()) else { return };
        let Some(next) = next else { break };
        steps += 1;
        r.ops += 1;
        match next {
            Ok((name, got)) => match key_id(&name) {
                Some(k) => r.value("iteration", k, &got, true),
                None => r.count("altered key"),
            },
            Err(e) => r.error("iteration", &e, root),
        }
        if steps > MAX_STEPS {
            r.find(Column::Other, format!("the iteration goes on past {MAX_STEPS} steps"));
            break;
        }
    }
    guarded(r, "drop items", || drop(items));
}

fn write_new(r: &mut Report, stash: &HashStash, root: &Path) {
    let name = key_name(NEW);
    let want = item(NEW, 1);
    r.ops += 1;
    match guarded(r, "set", || stash.set(&name, &want)) {
        Some(Ok(())) => {}
        Some(Err(e)) => return r.error("set", &e, root),
        None => return,
    }
    r.ops += 1;
    match guarded(r, "get of the new key", || stash.get::<_, Item>(&name)) {
        Some(Ok(Some(got))) if got == want => r.count("correct"),
        Some(Ok(Some(got))) => {
            r.value("get of the new key", NEW, &got, true);
            r.find(
                Column::Lost,
                format!("the new key reads back as key {} version {}", got.key, got.version),
            );
        }
        Some(Ok(None)) => {
            r.count("absent");
            r.find(Column::Lost, "the new key, written without error, reads back as absent".into());
        }
        Some(Err(e)) => r.error("get of the new key", &e, root),
        None => {}
    }
}

// ---------------------------------------------------------------------------
// The parent

/// A running worker.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Worker {
    fn start(exe: &Path, spec: &Spec, stderr: PathBuf) -> Result<Worker, String> {
        let err = fs::File::create(&stderr).map_err(|e| format!("{}: {e}", stderr.display()))?;
        let mut child = Command::new(exe)
            .args(["flips-worker", "--spec", &spec.label()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("cannot start the worker: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the worker has no pipes".into());
        };
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Worker { child, stdin, lines, stderr })
    }

    /// The last lines the worker wrote to stderr (its panic message).
    fn stderr_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(&self.stderr) {
            let _ = f.read_to_string(&mut text);
        }
        let text = text.trim();
        if text.is_empty() {
            return "(nothing on stderr)".into();
        }
        let lines: Vec<&str> = text.lines().rev().take(3).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a trial ended.
enum Outcome {
    Report(Report),
    /// The worker ended without a report: its exit status and stderr.
    Died(String),
    /// No report within [`TIMEOUT`].
    Hung,
}

/// Hands `job` to `worker` (started when `None`) and waits for its report.
fn run_job(
    worker: &mut Option<Worker>,
    job: &Job,
    start: &mut dyn FnMut() -> Result<Worker, String>,
) -> Result<Outcome, String> {
    if worker.is_none() {
        *worker = Some(start()?);
    }
    let Some(w) = worker.as_mut() else { return Err("no worker".into()) };
    let line = serde_json::to_string(job).map_err(|e| format!("job: {e}"))?;
    let sent = writeln!(w.stdin, "{line}").and_then(|()| w.stdin.flush());
    let outcome = match sent.map(|()| w.lines.recv_timeout(TIMEOUT)) {
        Ok(Ok(text)) => match serde_json::from_str::<Report>(&text) {
            Ok(report) if report.trial == job.trial => Outcome::Report(report),
            Ok(report) => return Err(format!("a report of trial {} for trial {}", report.trial, job.trial)),
            Err(e) => return Err(format!("the worker printed `{text}`: {e}")),
        },
        Ok(Err(mpsc::RecvTimeoutError::Timeout)) => Outcome::Hung,
        // The pipe closed or no line came: the worker ended.
        Ok(Err(mpsc::RecvTimeoutError::Disconnected)) | Err(_) => {
            let status = wait_exit(&mut w.child);
            Outcome::Died(format!("{status}; stderr: {}", w.stderr_tail()))
        }
    };
    let restart = match &outcome {
        Outcome::Report(r) => r.panicked,
        _ => true,
    };
    if restart && let Some(w) = worker.take() {
        w.stop();
    }
    Ok(outcome)
}

/// Waits (up to 5 s) for a worker that closed its stdout to exit; its status in words.
fn wait_exit(child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return match (status.signal(), status.code()) {
                    (Some(sig), _) => format!("killed by signal {sig}{}", signal_name(sig)),
                    (_, Some(101)) => "exited with a panic (code 101)".into(),
                    (_, Some(code)) => format!("exited with code {code}"),
                    _ => format!("{status}"),
                };
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => return "closed its output and did not exit".into(),
            Err(e) => return format!("cannot wait for it: {e}"),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGILL => " (SIGILL)",
        libc::SIGFPE => " (SIGFPE)",
        libc::SIGKILL => " (SIGKILL)",
        _ => "",
    }
}

/// Outcomes added up over trials, overall and per kind of damage.
#[derive(Debug, Default)]
struct Tally {
    counts: BTreeMap<String, u64>,
    /// Per damage kind: trials, trials where every read was right, outcome counts.
    by_harm: BTreeMap<&'static str, (u64, u64, BTreeMap<String, u64>)>,
    /// Trials with an altered value or key.
    altered_trials: u64,
    /// Errors that name neither a file nor a key digest.
    unnamed: u64,
}

/// Whether a report's outcomes are all right (every value the newest, no error, no absence).
fn clean(counts: &BTreeMap<String, u64>) -> bool {
    counts.keys().all(|k| k == "correct" || k == "opened")
}

impl Tally {
    fn add(&mut self, harm: &'static str, counts: &BTreeMap<String, u64>) {
        let entry = self.by_harm.entry(harm).or_default();
        entry.0 += 1;
        if clean(counts) {
            entry.1 += 1;
        }
        for (k, n) in counts {
            *self.counts.entry(k.clone()).or_default() += n;
            if k != "correct" && k != "opened" {
                *entry.2.entry(k.clone()).or_default() += n;
            }
        }
        if counts.contains_key("altered") || counts.contains_key("altered key") {
            self.altered_trials += 1;
        }
    }

    fn notes(&self, trials: u64) -> Vec<String> {
        let list = |m: &BTreeMap<String, u64>| -> String {
            m.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
        };
        let mut out = vec![format!("outcomes over {trials} damaged copies: {}", list(&self.counts))];
        for harm in HARMS {
            if let Some((n, ok, counts)) = self.by_harm.get(harm) {
                let rest =
                    if counts.is_empty() { String::new() } else { format!("; otherwise {}", list(counts)) };
                out.push(format!("{harm}: {n} trials, every read right in {ok}{rest}"));
            }
        }
        let altered = self.counts.get("altered").copied().unwrap_or(0)
            + self.counts.get("altered key").copied().unwrap_or(0);
        out.push(format!(
            "altered (a damaged value or key that still decodes, not another key's: no checksum on stored \
             values; not a failure): {altered} reads in {} trials",
            self.altered_trials
        ));
        out.push(format!("errors naming neither a file nor a key digest: {}", self.unnamed));
        out
    }
}

/// What the outcome classes of the notes mean.
const LEGEND: &str = "outcomes: correct (the newest value), older (an older version: the damage dropped the newest), \
    absent (the damage dropped the key), altered (damaged bytes that still decode: no checksum), foreign \
    (another key's value: a failure), error <kind> (typed: Corrupt, Decode, TooLarge), open error <kind> \
    (the stash refused to open: Corrupt, or Io naming the file), crash or hang (a failure)";

/// Runs the flips harness over `specs`; one row per spec.
pub fn run(specs: &[Spec], trials: u32, seed: u64, keep: bool) -> Vec<Row> {
    eprintln!("  {LEGEND}");
    let mut rows = Vec::new();
    for spec in specs {
        let started = Instant::now();
        let row = match scratch() {
            Ok(dir) => {
                let row = run_spec(spec, dir.path(), trials, spec.seed(seed), seed, started);
                if keep {
                    let kept = dir.keep();
                    eprintln!("  {}: pristine stash kept in {}", spec.label(), kept.display());
                }
                row
            }
            Err(e) => Row::broken("flips", spec, format!("cannot make a temporary folder: {e}"), started),
        };
        rows.push(row);
    }
    rows
}

/// A fresh folder for the copies, in memory (`/dev/shm`) where there is one:
/// each trial copies and removes a whole stash (pairtree's is a hundred
/// folders), which a busy disk makes take seconds.
fn scratch() -> std::io::Result<tempfile::TempDir> {
    let builder = tempfile::Builder::new().prefix("hashstash-flips-").clone();
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = builder.tempdir_in(shm)
    {
        return Ok(dir);
    }
    builder.tempdir()
}

fn run_spec(spec: &Spec, dir: &Path, trials: u32, seed: u64, run_seed: u64, started: Instant) -> Row {
    let broken = |why: String| Row::broken("flips", spec, why, started);
    let pristine = dir.join("pristine");
    if let Err(e) = build(spec, &dir.join("build"), &pristine) {
        return broken(format!("cannot build the pristine stash: {e}"));
    }
    let _ = fs::remove_dir_all(dir.join("build"));
    let files = match files(&pristine) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => return broken("the pristine stash has no files".into()),
        Err(e) => return broken(format!("cannot list the pristine stash: {e}")),
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return broken(format!("cannot find this program: {e}")),
    };
    let mut starts = 0u32;
    let mut start = || {
        starts += 1;
        Worker::start(&exe, spec, dir.join(format!("worker-{starts}.stderr")))
    };
    let mut worker: Option<Worker> = None;
    let mut row = Row::new("flips", spec);
    let total: u64 = files.iter().map(|(_, n)| n).sum();
    row.notes.push(format!(
        "{KEYS} keys ({} versions) in {} files of {} KiB; each trial damages one file",
        (0..KEYS).map(versions).sum::<u32>(),
        files.len(),
        total.div_ceil(1024)
    ));

    // Trial 0: the undamaged copy must read back exactly.
    let copy = dir.join("t0");
    if let Err(e) = copy_dir(&pristine, &copy, &|_| true) {
        return broken(format!("cannot copy the pristine stash: {e}"));
    }
    match run_job(&mut worker, &Job { trial: 0, root: copy.clone() }, &mut start) {
        Ok(Outcome::Report(r)) if clean(&r.counts) && r.findings.is_empty() => {}
        Ok(Outcome::Report(r)) => {
            return broken(format!("the undamaged copy does not read back: {:?} {:?}", r.counts, r.findings));
        }
        Ok(Outcome::Died(why)) => return broken(format!("the worker died on the undamaged copy: {why}")),
        Ok(Outcome::Hung) => return broken("the worker hung on the undamaged copy".into()),
        Err(e) => return broken(e),
    }
    let _ = fs::remove_dir_all(&copy);

    let mut tally = Tally::default();
    let mut kept = 0usize;
    // LMDB keeps no page checksums and trusts its B-tree: damage to a node header or the
    // free list can crash its C code (a signal, which no Rust code can turn into an
    // error) or give an error of another kind (`MDB_NOTFOUND`, `EINVAL`). Those outcomes
    // are counted here and shown in the notes as the engine's documented limit
    // (docs/reliability.md), not as failures; a Rust panic, a hang, a phantom or a lost
    // write still fails the row.
    let mut limit = 0u64;
    for trial in 1..=trials {
        let mut rng = trial_rng(seed, trial);
        let Some(damage) = Damage::pick(&mut rng, &files) else { break };
        let copy = dir.join(format!("t{trial}"));
        let prepared = copy_dir(&pristine, &copy, &|_| true).and_then(|()| damage.apply(&copy));
        if let Err(e) = prepared {
            row.errors += 1;
            row.detail(format!("trial {trial}: cannot prepare the damaged copy: {e}"));
            let _ = fs::remove_dir_all(&copy);
            continue;
        }
        let job = Job { trial, root: copy.clone() };
        let outcome = run_job(&mut worker, &job, &mut start);
        let _ = fs::remove_dir_all(&copy);
        row.trials += 1;
        let what = damage.describe();
        let mut failed = false;
        match outcome {
            Err(e) => {
                row.errors += 1;
                row.detail(format!("trial {trial}: {e}"));
                failed = true;
            }
            Ok(Outcome::Hung) => {
                row.other += 1;
                row.detail(format!(
                    "trial {trial}: HANG (no answer in {} s) after {what}",
                    TIMEOUT.as_secs()
                ));
                tally.add(damage.harm.kind(), &BTreeMap::from([("hang".to_string(), 1)]));
                failed = true;
            }
            Ok(Outcome::Died(why)) if spec.trusts_its_pages() && why.starts_with("killed by signal") => {
                // Inside liblmdb's C code: a documented limit, not a defect of ours (below).
                limit += 1;
                row.detail(format!("(limit) trial {trial}: the worker {why} after {what}"));
                tally.add(damage.harm.kind(), &BTreeMap::from([("crash in liblmdb".to_string(), 1)]));
            }
            Ok(Outcome::Died(why)) => {
                row.other += 1;
                row.detail(format!("trial {trial}: CRASH: the worker {why} after {what}"));
                tally.add(damage.harm.kind(), &BTreeMap::from([("crash".to_string(), 1)]));
                failed = true;
            }
            Ok(Outcome::Report(r)) => {
                row.ops += r.ops;
                tally.add(damage.harm.kind(), &r.counts);
                for (column, msg) in &r.findings {
                    if spec.trusts_its_pages() && *column == Column::Unreadable {
                        limit += 1;
                        row.detail(format!("(limit) trial {trial}: {msg} after {what}"));
                        continue;
                    }
                    match column {
                        Column::Phantom => row.phantom += 1,
                        Column::Unreadable => row.unreadable += 1,
                        Column::Lost => row.lost += 1,
                        Column::Other => row.other += 1,
                    }
                    row.detail(format!("trial {trial}: {msg} after {what}"));
                    failed = true;
                }
                tally.unnamed += r.unnamed.len() as u64;
                for u in &r.unnamed {
                    row.detail(format!(
                        "(not a failure) trial {trial}: an error names no file nor digest: {u} after {what}"
                    ));
                }
            }
        }
        if failed && kept < KEEP_FINDINGS {
            kept += 1;
            match keep_finding(spec, run_seed, trial, &pristine, &damage) {
                Ok(path) => {
                    eprintln!("  {} trial {trial}: damaged copy kept in {}", spec.label(), path.display())
                }
                Err(e) => eprintln!("  {} trial {trial}: cannot keep the damaged copy: {e}", spec.label()),
            }
        }
    }
    if let Some(w) = worker.take() {
        drop(w.stdin);
        let mut child = w.child;
        if wait_exit(&mut child).contains("did not exit") {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    row.notes.extend(tally.notes(row.trials));
    if spec.trusts_its_pages() {
        row.notes.push(format!(
            "limit (not counted as failures): {limit} of {} trials crashed inside liblmdb or gave an \
             error of another kind than Corrupt/Decode, on damaged B-tree pages (no page checksums)",
            row.trials
        ));
    }
    row.wall = started.elapsed();
    row
}

/// Rebuilds the damaged copy of `trial` under [`FINDINGS`] (the damage is
/// deterministic), with `damage.txt` saying what was done and how to rerun.
fn keep_finding(
    spec: &Spec,
    run_seed: u64,
    trial: u32,
    pristine: &Path,
    damage: &Damage,
) -> std::io::Result<PathBuf> {
    let dest = Path::new(FINDINGS).join(format!("{}-{}-seed{run_seed}-t{trial}", spec.engine, spec.setting));
    let _ = fs::remove_dir_all(&dest);
    copy_dir(pristine, &dest, &|_| true)?;
    damage.apply(&dest)?;
    fs::write(
        dest.join("damage.txt"),
        format!(
            "{}\nstash root: this folder (dbname `{DBNAME}`, engine {})\nrerun: cargo xtask reliability flips --engine {} --seed {run_seed} --trials {trial}\n",
            damage.describe(),
            spec.label(),
            spec.label()
        ),
    )?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_classified() {
        let k = 3; // a key with several versions
        assert!(versions(k) > 1);
        let newest = item(k, versions(k));
        assert_eq!(classify(k, &newest, true), Class::Correct);
        assert_eq!(classify(k, &item(k, 1), true), Class::Older);
        assert_eq!(classify(k, &item(k, 1), false), Class::Correct);
        assert_eq!(classify(k, &item(4, 1), true), Class::Foreign(4));
        assert_eq!(classify(k, &item(NEW, 1), true), Class::Foreign(NEW));
        let mut bad = newest.clone();
        bad.pad.push('x');
        assert_eq!(classify(k, &bad, true), Class::Altered);
        // A flipped key field with the filler of the key it was: altered, not foreign.
        let mut flipped = item(5, 1);
        flipped.key = 4;
        assert_eq!(classify(5, &flipped, true), Class::Altered);
        assert_eq!(classify(4, &flipped, true), Class::Altered);
        // A version that was never written.
        assert_eq!(classify(4, &item(4, 7), true), Class::Altered);
    }

    #[test]
    fn key_names_parse_back_only_when_written() {
        for i in (0..KEYS).chain([NEW]) {
            assert_eq!(key_id(&key_name(i)), Some(i));
        }
        assert_eq!(key_id("flips/key-050"), None);
        assert_eq!(key_id("flips/key-3"), None);
        assert_eq!(key_id("flips/kez-003"), None);
        let sizes: Vec<usize> = (0..KEYS).map(|i| item(i, 1).pad.len()).collect();
        assert!(sizes.iter().any(|&n| n > 20_000) && sizes.iter().any(|&n| n < 200));
        assert!((0..KEYS).any(expiring));
    }

    #[test]
    fn damage_is_reproducible_and_lands_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![(PathBuf::from("a"), 10_000u64), (PathBuf::from("b/c"), 40u64)];
        fs::create_dir_all(dir.path().join("b")).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for trial in 0..200 {
            let d = Damage::pick(&mut trial_rng(9, trial), &files).unwrap();
            assert_eq!(Some(&d), Damage::pick(&mut trial_rng(9, trial), &files).as_ref());
            seen.insert((d.file.clone(), d.harm.kind()));
            let len = files.iter().find(|(f, _)| *f == d.file).unwrap().1;
            fs::write(dir.path().join(&d.file), vec![0xAAu8; len as usize]).unwrap();
            d.apply(dir.path()).unwrap();
            let after = fs::read(dir.path().join(&d.file)).unwrap();
            match &d.harm {
                Harm::Truncate(to) => assert_eq!(after.len() as u64, *to),
                _ => {
                    assert_eq!(after.len() as u64, len);
                    if !matches!(&d.harm, Harm::Overwrite { .. }) {
                        assert!(after.iter().any(|b| *b != 0xAA), "{}", d.describe());
                    }
                }
            }
        }
        assert_eq!(seen.len(), 8, "both files, every kind of damage: {seen:?}");
    }

    #[test]
    fn a_clean_report_is_all_correct() {
        let mut counts = BTreeMap::from([("correct".to_string(), 5), ("opened".to_string(), 1)]);
        assert!(clean(&counts));
        counts.insert("absent".into(), 1);
        assert!(!clean(&counts));
    }
}
