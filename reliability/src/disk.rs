//! `reliability disk`: a stash on a full disk and on a read-only one.
//!
//! **Full** (`disk-full`): the parent mounts a small tmpfs ([`FULL_BYTES`]);
//! a child opens a stash there, writes a few base entries, fills the rest of
//! the filesystem with a ballast file (leaving [`MARGIN`] free) and writes
//! new keys until a write fails. The first error must be of kind `Io` and
//! name a path under the mount; then, still full, it overwrites and removes a
//! base key (each may fail, typed) and checks that every acknowledged write
//! reads back whole (by `get`, `len` and iteration) and that each failed
//! write left its key as before or as after, never torn. Then it deletes the
//! ballast and checks that writes work again (a retry of the failed key and
//! new keys). A second child, a new process, reopens the stash and checks
//! every write of the first once more (what the writer buffered died with
//! it). One trial per value size in [`FULL_SIZES`].
//!
//! sled 0.34 fails every call after a failed write of its files until the
//! stash is reopened in a new process, and loses the writes it had not
//! written (documented in its crate, "A full disk"): for sled those errors
//! (typed `Io`, naming the folder) are notes, and a loss of the last
//! acknowledged writes is allowed as its setting's promise says; torn
//! values, other losses, hangs and crashes count.
//!
//! **Read-only** (`read-only`): a child writes entries and closes the stash;
//! the parent remounts the tmpfs read-only (as root chmod would not stop a
//! write; without root the files and folders are made 0444/0555 instead);
//! a second child opens the stash: if the engine cannot open a read-only
//! folder, the typed error naming the path is a documented limit (a note);
//! if it opens, every entry must read back, `len` and iteration must work,
//! and a write, an overwrite and a remove must each fail with an `Io` error
//! naming the path, leaving the entries as they were.
//!
//! Each scenario runs in a child (`disk-worker`): LMDB maps its file, and a
//! crash (a signal), a panic or a hang must cost one trial, reported, never
//! the harness. The parent mounts and always unmounts ([`Mount`] is a drop
//! guard), and kills a child that runs past [`CHILD_TIMEOUT`]. The child
//! reports its writes and findings, one line each, to a file outside the
//! mount, written as it goes, so a child that dies leaves what it found so
//! far; the next child replays the writes from it ([`Model::replay`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hashstash::{ErrorKind, HashStash};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::model::Log;
use crate::spec::{Promise, Spec};
use crate::{Args, Row, worker_command};

/// The size of the tmpfs of the full-disk scenario.
const FULL_BYTES: u64 = 2 << 20;
/// The size of the tmpfs of the read-only scenario (it never fills).
const RO_BYTES: u64 = 8 << 20;
/// Free space the ballast leaves for the stash to fill.
const MARGIN: u64 = 256 << 10;
/// Value sizes of the full-disk trials, one trial each.
const FULL_SIZES: &[usize] = &[1 << 10, 16 << 10, 64 << 10];
/// Value sizes of the read-only trials, one trial each.
const RO_SIZES: &[usize] = &[200, 16 << 10];
/// Entries written before the remount (read-only), and at most before the ballast (full).
const BASE: u32 = 16;
/// Bytes of values written before the ballast (full): fewer entries of larger values.
const BASE_BYTES: usize = 256 << 10;
/// New keys written once space is freed again, at most.
const RECOVER: u32 = 4;
/// Bytes of values written once space is freed (small enough that a WAL
/// beside its database still fits the small disk).
const RECOVER_BYTES: usize = 128 << 10;
/// How long a child may run.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
/// The database name of the stashes.
const DBNAME: &str = "disk";

/// A stored value: its key and round (0 first write, 1 overwrite) and a
/// filler whose bytes follow from `(seed, key, round)` and are checked in full.
/// The filler is random printable text: the default compressor (lz4) cannot
/// shrink it, so the stored size is about the value size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DiskVal {
    key: u32,
    round: u32,
    pad: String,
}

impl DiskVal {
    fn new(seed: u64, key: u32, round: u32, size: usize) -> DiskVal {
        let mut rng =
            StdRng::seed_from_u64(seed ^ (u64::from(key) << 20) ^ (u64::from(round) << 52) ^ 0xd15c);
        let pad = (0..size).map(|_| char::from(rng.random_range(b'!'..=b'~'))).collect();
        DiskVal { key, round, pad }
    }
}

/// What a key may hold after the operations on it: `None` absent, `Some(round)`.
/// An acknowledged write leaves one state; a failed one, before or after.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed(Vec<Option<u32>>);

impl Allowed {
    fn exactly(state: Option<u32>) -> Allowed {
        Allowed(vec![state])
    }

    /// After an operation that would leave `after`: acknowledged, or failed (either).
    fn then(&self, after: Option<u32>, acked: bool) -> Allowed {
        if acked {
            return Allowed::exactly(after);
        }
        let mut states = self.0.clone();
        if !states.contains(&after) {
            states.push(after);
        }
        Allowed(states)
    }
}

/// How an observed state of a key compares to what it may hold.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Fine,
    /// An acknowledged write is missing (absent, or an older round).
    Lost,
    /// A state no operation left (a round never written, or present after an acknowledged remove).
    Phantom,
}

fn judge(allowed: &Allowed, got: Option<u32>) -> Verdict {
    if allowed.0.contains(&got) {
        return Verdict::Fine;
    }
    let newest = allowed.0.iter().flatten().max().copied();
    match (got, newest) {
        (None, Some(_)) => Verdict::Lost,
        (Some(g), Some(n)) if g < n => Verdict::Lost,
        _ => Verdict::Phantom,
    }
}

/// Whether an error message names a path under `dir`.
fn names_path(message: &str, dir: &Path) -> bool {
    message.contains(&*dir.to_string_lossy())
}

// ---------------------------------------------------------------------------
// The child.

/// A key's state in a report line: `-` absent, else the round.
fn state_text(state: Option<u32>) -> String {
    state.map_or_else(|| "-".to_string(), |r| r.to_string())
}

fn parse_state(text: &str) -> Option<Option<u32>> {
    if text == "-" { Some(None) } else { text.parse().ok().map(Some) }
}

/// The writes a report logged (`A <seq> <key> <state>` acknowledged, `E ...`
/// failed), replayed: what each key may hold, and the sequence number of the
/// last acknowledged write of each key (to tell a lost suffix from a lost middle).
#[derive(Debug, Default, Clone)]
struct Model {
    keys: BTreeMap<u32, Allowed>,
    last_ack: BTreeMap<u32, u64>,
    seq: u64,
}

impl Model {
    fn apply(&mut self, seq: u64, key: u32, after: Option<u32>, acked: bool) {
        let before = self.keys.get(&key).cloned().unwrap_or_else(|| Allowed::exactly(None));
        self.keys.insert(key, before.then(after, acked));
        if acked {
            self.last_ack.insert(key, seq);
        }
        self.seq = self.seq.max(seq);
    }

    /// The model of the writes logged in `text` (a report).
    fn replay(text: &str) -> Model {
        let mut m = Model::default();
        for line in text.lines() {
            let mut parts = line.splitn(5, ' ');
            let (tag, seq, key, state) = (parts.next(), parts.next(), parts.next(), parts.next());
            let (Some(tag @ ("A" | "E")), Some(seq), Some(key), Some(state)) = (tag, seq, key, state) else {
                continue;
            };
            if let (Ok(seq), Ok(key), Some(state)) = (seq.parse(), key.parse(), parse_state(state)) {
                m.apply(seq, key, state, tag == "A");
            }
        }
        m
    }
}

/// The child's report: one line per event, written as it goes (a child that
/// dies leaves what it found so far). Failure lines carry a count:
/// `<tag> <n> <text>`.
struct Report {
    log: Log,
}

impl Report {
    fn line(&mut self, tag: &str, text: &str) {
        // A report that cannot be written shows as a missing `done`.
        let _ = self.log.line(&format!("{tag} {}", text.replace('\n', " ")));
    }

    fn fail(&mut self, tag: &str, n: usize, text: &str) {
        self.line(tag, &format!("{n} {text}"));
    }
}

/// A write of the scenarios: `set(key, round)` or `remove(key)`.
#[derive(Debug, Clone, Copy)]
enum Op {
    Set(u32, u32),
    Remove(u32),
}

/// One scenario in a child, with the values it writes.
struct Worker {
    spec: Spec,
    dir: PathBuf,
    root: PathBuf,
    seed: u64,
    size: usize,
    out: Report,
    model: Model,
}

/// The child: runs `--scenario full|reopen|ro-fill|ro-check` on the stash
/// under `--dir`, reporting to `--report`; `reopen` and `ro-check` take the
/// writes to check from the report named by `--model`.
pub fn worker(args: &Args) -> Result<(), String> {
    let spec = args.spec()?;
    let dir = PathBuf::from(args.value("--dir")?);
    let seed: u64 = args.number("--seed")?;
    let size: usize = args.number("--size")?;
    let scenario = args.value("--scenario")?;
    let log = Log::open(Path::new(&args.value("--report")?)).map_err(|e| format!("report: {e}"))?;
    let model = match args.value("--model") {
        Ok(path) => Model::replay(&std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?),
        Err(_) => Model::default(),
    };
    let mut w = Worker { spec, root: dir.join("stash"), dir, seed, size, out: Report { log }, model };
    let result = match scenario.as_str() {
        "full" => w.full(),
        "reopen" => w.reopen(),
        "ro-fill" => w.ro_fill(),
        "ro-check" => w.ro_check(),
        other => Err(format!("unknown scenario `{other}`")),
    };
    if let Err(e) = &result {
        w.out.fail("error", 1, &format!("setup: {e}"));
    }
    w.out.line("done", "");
    result
}

/// What one observation found, per key.
#[derive(Debug, Default)]
struct Seen {
    /// Keys whose acknowledged write is missing.
    lost: Vec<(u32, Option<u32>)>,
    /// Keys that read back whole as allowed.
    fine: Vec<u32>,
}

impl Worker {
    fn open(&self, clear: bool) -> hashstash::Result<HashStash> {
        self.spec.open(&self.root, DBNAME, "", clear)
    }

    fn value(&self, key: u32, round: u32) -> DiskVal {
        DiskVal::new(self.seed, key, round, self.size)
    }

    fn set(&mut self, stash: &HashStash, key: u32, round: u32) -> Option<hashstash::Error> {
        self.apply(stash, Op::Set(key, round))
    }

    /// Runs `op`, logs it (`A`/`E`) and applies it to the model. Returns the error, if any.
    fn apply(&mut self, stash: &HashStash, op: Op) -> Option<hashstash::Error> {
        let (key, after, res) = match op {
            Op::Set(key, round) => (key, Some(round), stash.set(&key, &self.value(key, round))),
            Op::Remove(key) => (key, None, stash.remove(&key).map(drop)),
        };
        let seq = self.model.seq + 1;
        self.model.apply(seq, key, after, res.is_ok());
        let head = format!("{seq} {key} {}", state_text(after));
        match res {
            Ok(()) => {
                self.out.line("A", &head);
                None
            }
            Err(e) => {
                self.out.line("E", &format!("{head} {:?}: {e}", e.kind()));
                Some(e)
            }
        }
    }

    /// Whether `e` is the error sled keeps after a failed write of its files
    /// (and fails every later call with, reads included, until the stash is
    /// reopened in a new process): a limit documented in the sled crate
    /// ("A full disk"), noted rather than counted, as long as it is typed
    /// `Io` and names the folder. Torn values, losses beyond the last writes,
    /// hangs and crashes still count.
    fn keeps_its_error(&self, e: &hashstash::Error) -> bool {
        self.spec.engine == "sled" && e.kind() == ErrorKind::Io && names_path(&e.to_string(), &self.dir)
    }

    /// Checks an error met where one may come: kind `Io` naming a path under the mount.
    fn check_error(&mut self, what: &str, e: &hashstash::Error) {
        let msg = e.to_string();
        if e.kind() != ErrorKind::Io {
            self.out.fail("error", 1, &format!("{what}: kind {:?}, expected Io: {msg}", e.kind()));
        }
        if !names_path(&msg, &self.dir) {
            self.out.fail("error", 1, &format!("{what}: the message names no path under the mount: {msg}"));
        }
    }

    /// Reads every key of the model back (`get`, then `len` and iteration)
    /// and reports what does not match; lost writes are left to the caller.
    fn observe(&mut self, stash: &HashStash, when: &str) -> Seen {
        let mut seen = Seen::default();
        let mut present = BTreeSet::new();
        let mut unreadable = Vec::new();
        // Reads failing with the error sled keeps after a failed write (a documented limit).
        let mut kept = Vec::new();
        let mut phantom = Vec::new();
        let keys = self.model.keys.clone();
        for (&key, allowed) in &keys {
            let got = match stash.get::<u32, DiskVal>(&key) {
                Ok(None) => None,
                Ok(Some(v)) if v.key == key && v == self.value(key, v.round) => Some(v.round),
                Ok(Some(v)) => {
                    present.insert(key);
                    unreadable.push(format!(
                        "key {key} holds a torn value (key {}, round {}, {} bytes)",
                        v.key,
                        v.round,
                        v.pad.len()
                    ));
                    continue;
                }
                Err(e) => {
                    let msg = format!("key {key}: {:?}: {e}", e.kind());
                    if self.keeps_its_error(&e) {
                        kept.push(msg)
                    } else {
                        unreadable.push(msg)
                    }
                    continue;
                }
            };
            if got.is_some() {
                present.insert(key);
            }
            match judge(allowed, got) {
                Verdict::Fine => seen.fine.push(key),
                Verdict::Lost => seen.lost.push((key, got)),
                Verdict::Phantom => {
                    phantom.push(format!("key {key} is {got:?}, expected one of {:?}", allowed.0))
                }
            }
        }
        if let Some(first) = unreadable.first() {
            let n = unreadable.len();
            self.out.fail(
                "unreadable",
                n,
                &format!("{when}: {n} of {} keys do not read back, e.g. {first}", keys.len()),
            );
        }
        if let Some(first) = kept.first() {
            let n = kept.len();
            self.out.line(
                "kept",
                &format!(
                    "{when}: {n} of {} keys fail to read with the error sled keeps, e.g. {first}",
                    keys.len()
                ),
            );
        }
        if let Some(first) = phantom.first() {
            self.out.fail(
                "phantom",
                phantom.len(),
                &format!("{when}: {} keys hold what no write left, e.g. {first}", phantom.len()),
            );
        }
        let all_read = unreadable.is_empty() && kept.is_empty();
        match stash.len() {
            Ok(n) if n == present.len() || !all_read => {}
            Ok(n) => self.out.fail(
                "other",
                1,
                &format!("{when}: len() = {n} but {} keys read back", present.len()),
            ),
            Err(e) if self.keeps_its_error(&e) => self.out.line("kept", &format!("{when}: len fails: {e}")),
            Err(e) => self.out.fail("unreadable", 1, &format!("{when}: len fails: {:?}: {e}", e.kind())),
        }
        let mut iterated = BTreeSet::new();
        let mut errors = Vec::new();
        let mut kept_errors = 0;
        // More items than keys ever written: the iteration does not end (an error repeated forever?).
        let cap = keys.len() + 100;
        match stash.raw_items() {
            Ok(items) => {
                for (n, item) in items.enumerate() {
                    if n >= cap {
                        self.out.fail(
                            "other",
                            1,
                            &format!(
                                "{when}: the iteration does not end: {cap} items and more ({} errors)",
                                errors.len()
                            ),
                        );
                        break;
                    }
                    let decoded = item.and_then(|(k, v)| {
                        Ok((stash.decode_key::<u32>(&k)?, stash.decode_value::<DiskVal>(&v)?))
                    });
                    match decoded {
                        Ok((k, v)) if v.key == k && v == self.value(k, v.round) => {
                            iterated.insert(k);
                        }
                        Ok((k, _)) => errors.push(format!("key {k} holds a torn value")),
                        Err(e) if self.keeps_its_error(&e) => kept_errors += 1,
                        Err(e) => errors.push(format!("{:?}: {e}", e.kind())),
                    }
                }
            }
            Err(e) if self.keeps_its_error(&e) => kept_errors += 1,
            Err(e) => errors.push(format!("cannot iterate: {:?}: {e}", e.kind())),
        }
        if kept_errors > 0 {
            self.out.line(
                "kept",
                &format!("{when}: the iteration yields the error sled keeps {kept_errors} times, then ends"),
            );
        }
        if let Some(first) = errors.first() {
            self.out.fail(
                "unreadable",
                1,
                &format!("{when}: iteration: {} errors, e.g. {first}", errors.len()),
            );
        } else if all_read && kept_errors == 0 && iterated != present {
            let differ: Vec<_> = iterated.symmetric_difference(&present).take(5).collect();
            self.out.fail("other", 1, &format!("{when}: iteration and get disagree on keys {differ:?}"));
        }
        seen
    }

    /// Reports the lost writes of an observation; where the setting allows
    /// losing the last writes (sled), a lost suffix is a note.
    fn report_lost(&mut self, seen: &Seen, when: &str) {
        if seen.lost.is_empty() {
            return;
        }
        let n = seen.lost.len();
        let keys: Vec<u32> = seen.lost.iter().map(|(k, _)| *k).collect();
        let shown = if n > 8 { format!("{:?}...", &keys[..8]) } else { format!("{keys:?}") };
        let last = |k: &u32| self.model.last_ack.get(k).copied();
        let first_lost = keys.iter().filter_map(last).min();
        let last_kept = seen.fine.iter().filter_map(last).max();
        let suffix = match (first_lost, last_kept) {
            (Some(l), Some(k)) => k < l,
            _ => true,
        };
        if self.spec.promise() == Promise::Prefix && suffix {
            self.out.line(
                "allowed",
                &format!(
                    "{when}: the last {n} acknowledged writes are lost, as the setting allows (keys {shown})"
                ),
            );
        } else {
            let e = seen.lost[0];
            self.out.fail(
                "lost",
                n,
                &format!("{when}: {n} acknowledged writes missing (keys {shown}; key {} is {:?})", e.0, e.1),
            );
        }
    }

    /// Pairtree's temporary files left in the stash (a failed write must remove its own).
    fn leftover_tmps(&mut self, when: &str) {
        if self.spec.engine != "pairtree" {
            return;
        }
        let mut found = Vec::new();
        walk(&self.root, &mut |p| {
            if p.file_name().is_some_and(|n| n.as_bytes().starts_with(b".tmp.")) {
                found.push(p.to_path_buf());
            }
        });
        if let Some(first) = found.first() {
            self.out.fail(
                "other",
                1,
                &format!("{when}: {} temporary files left behind, e.g. {}", found.len(), first.display()),
            );
        }
    }

    /// The full-disk scenario, up to writing again once space is freed.
    fn full(&mut self) -> Result<(), String> {
        let stash = self.open(true).map_err(|e| format!("open: {e}"))?;
        let base = (BASE_BYTES / self.size.max(1)).clamp(4, BASE as usize) as u32;
        for key in 0..base {
            if let Some(e) = self.set(&stash, key, 0) {
                return Err(format!("a base write failed before the disk was full: {e}"));
            }
        }
        stash.flush().map_err(|e| format!("flush: {e}"))?;
        let ballast = self.dir.join("ballast");
        let free = free_bytes(&self.dir)?;
        let written = fill(&ballast, free.saturating_sub(MARGIN));
        self.out.line(
            "note",
            &format!("ballast of {written} bytes leaves {} bytes free", free_bytes(&self.dir)?),
        );
        // New keys until a write fails; written past twice the filesystem, the disk never filled.
        let limit = base + (2 * FULL_BYTES / self.size.max(1) as u64) as u32 + 64;
        let mut first = None;
        let mut acked = 0u32;
        for key in base..limit {
            match self.set(&stash, key, 0) {
                None => acked += 1,
                Some(e) => {
                    first = Some((Some(key), e));
                    break;
                }
            }
        }
        // Engines that buffer writes may acknowledge them all and fail at the flush.
        if first.is_none() {
            first = stash.flush().err().map(|e| (None, e));
        }
        let Some((failed_key, e)) = first else {
            self.out.fail(
                "error",
                1,
                &format!(
                    "{acked} writes of {} bytes and a flush succeeded: the disk never filled",
                    self.size
                ),
            );
            return Ok(());
        };
        let at = if failed_key.is_some() { format!("write {}", acked + 1) } else { "the flush".to_string() };
        self.out.line("first", &format!("{at} (after {acked} acknowledged): {:?}: {e}", e.kind()));
        self.check_error("the first failed write", &e);
        // Still full: an overwrite, a remove and another new key, each may fail (typed).
        let more = [
            ("an overwrite while full", Op::Set(1, 1)),
            ("a remove while full", Op::Remove(2)),
            ("another new key while full", Op::Set(limit, 0)),
        ];
        for (what, op) in more {
            match self.apply(&stash, op) {
                None => self.out.line("note", &format!("{what}: acknowledged")),
                Some(e) => self.check_error(what, &e),
            }
        }
        let seen = self.observe(&stash, "while full");
        self.report_lost(&seen, "while full");
        self.leftover_tmps("while full");
        // Free the space: writes work again.
        std::fs::remove_file(&ballast).map_err(|e| format!("remove the ballast: {e}"))?;
        let recover = (RECOVER_BYTES / self.size.max(1)).clamp(1, RECOVER as usize) as u32;
        let again: Vec<u32> = failed_key.into_iter().chain(limit + 1..=limit + recover).collect();
        let mut recovered = 0;
        for &key in &again {
            match self.set(&stash, key, 0) {
                None => recovered += 1,
                Some(e) if self.keeps_its_error(&e) => self.out.line(
                    "kept",
                    &format!("once space was freed: writes fail with the error sled keeps: {e}"),
                ),
                Some(e) => self.out.fail(
                    "error",
                    1,
                    &format!("once space was freed: a write of key {key} failed: {:?}: {e}", e.kind()),
                ),
            }
        }
        match stash.flush() {
            Ok(()) => {}
            Err(e) if self.keeps_its_error(&e) => {
                self.out.line("kept", &format!("once space was freed: the flush fails: {e}"))
            }
            Err(e) => {
                self.out.fail("error", 1, &format!("once space was freed: flush failed: {:?}: {e}", e.kind()))
            }
        }
        self.out.line(
            "note",
            &format!("once space was freed: {recovered} of {} writes acknowledged", again.len()),
        );
        let seen = self.observe(&stash, "once space was freed");
        self.report_lost(&seen, "once space was freed");
        drop(stash);
        Ok(())
    }

    /// The full-disk scenario, last part, in a new process: what survived.
    fn reopen(&mut self) -> Result<(), String> {
        match self.open(false) {
            Ok(stash) => {
                let seen = self.observe(&stash, "reopened");
                self.report_lost(&seen, "reopened");
                drop(stash);
            }
            Err(e) => {
                self.out.fail("unreadable", 1, &format!("the stash does not reopen: {:?}: {e}", e.kind()))
            }
        }
        self.leftover_tmps("at the end");
        Ok(())
    }

    /// The read-only scenario, first part: entries written and the stash closed.
    fn ro_fill(&mut self) -> Result<(), String> {
        let stash = self.open(true).map_err(|e| format!("open: {e}"))?;
        for key in 0..BASE {
            if let Some(e) = self.set(&stash, key, 0) {
                return Err(format!("write of key {key}: {e}"));
            }
        }
        stash.flush().map_err(|e| format!("flush: {e}"))?;
        Ok(())
    }

    /// The read-only scenario, second part, on the read-only folder.
    fn ro_check(&mut self) -> Result<(), String> {
        let stash = match self.open(false) {
            Ok(s) => s,
            Err(e) => {
                let msg = e.to_string();
                self.out.line("limit", &format!("{:?}: {msg}", e.kind()));
                if !names_path(&msg, &self.dir) {
                    self.out.fail(
                        "error",
                        1,
                        &format!("the open error names no path under the folder: {msg}"),
                    );
                }
                return Ok(());
            }
        };
        let seen = self.observe(&stash, "read-only");
        self.report_lost(&seen, "read-only");
        let ops =
            [("a new key", Op::Set(BASE, 0)), ("an overwrite", Op::Set(1, 1)), ("a remove", Op::Remove(2))];
        for (what, op) in ops {
            match self.apply(&stash, op) {
                None => self.out.fail("error", 1, &format!("{what} on a read-only folder was acknowledged")),
                Some(e) => {
                    if what == "a new key" {
                        self.out.line("first", &format!("{:?}: {e}", e.kind()));
                    }
                    self.check_error(&format!("{what} on a read-only folder"), &e);
                }
            }
        }
        // A buffering engine may acknowledge and fail at the flush; either way the data stays.
        if let Err(e) = stash.flush() {
            self.out.line("note", &format!("flush: {:?}: {e}", e.kind()));
        }
        let seen = self.observe(&stash, "read-only, after the refused writes");
        self.report_lost(&seen, "read-only, after the refused writes");
        Ok(())
    }
}

/// Calls `f` on every path under `dir` (files and folders, links not followed).
fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        f(&path);
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&path, f);
        }
    }
}

/// Free bytes of the filesystem holding `dir` (for an unprivileged writer).
fn free_bytes(dir: &Path) -> Result<u64, String> {
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: statvfs only writes the struct we pass; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(format!("statvfs {}: {}", dir.display(), std::io::Error::last_os_error()));
    }
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Writes up to `bytes` bytes to `path`; returns how many were written (less when the disk fills).
fn fill(path: &Path, bytes: u64) -> u64 {
    let Ok(mut file) = std::fs::File::create(path) else { return 0 };
    let chunk = vec![0x5au8; 64 << 10];
    let mut written = 0u64;
    while written < bytes {
        let n = chunk.len().min((bytes - written) as usize);
        match file.write(&chunk[..n]) {
            Ok(0) | Err(_) => break,
            Ok(k) => written += k as u64,
        }
    }
    written
}

// ---------------------------------------------------------------------------
// The parent.

/// A tmpfs mounted on a folder, unmounted when dropped (also on error paths).
struct Mount {
    dir: PathBuf,
    c_dir: CString,
}

impl Mount {
    /// Mounts a tmpfs of `bytes` on `dir`.
    fn tmpfs(dir: &Path, bytes: u64) -> Result<Mount, String> {
        let c_dir = CString::new(dir.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
        let opts = CString::new(format!("size={bytes},mode=0755")).map_err(|e| e.to_string())?;
        // SAFETY: every pointer is a valid C string that outlives the call.
        let rc = unsafe {
            libc::mount(c"tmpfs".as_ptr(), c_dir.as_ptr(), c"tmpfs".as_ptr(), 0, opts.as_ptr().cast())
        };
        if rc != 0 {
            return Err(format!(
                "cannot mount a tmpfs on {}: {}",
                dir.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(Mount { dir: dir.to_path_buf(), c_dir })
    }

    /// Remounts it read-only (`mount -o remount,ro`).
    fn read_only(&self) -> Result<(), String> {
        // SAFETY: as above; a remount reads only the target and the flags.
        let rc = unsafe {
            libc::mount(
                std::ptr::null(),
                self.c_dir.as_ptr(),
                std::ptr::null(),
                libc::MS_REMOUNT | libc::MS_RDONLY,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "cannot remount {} read-only: {}",
                self.dir.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // SAFETY: a valid C string; a busy mount (a child still running) is detached instead.
        unsafe {
            if libc::umount2(self.c_dir.as_ptr(), 0) != 0 {
                let err = std::io::Error::last_os_error();
                if libc::umount2(self.c_dir.as_ptr(), libc::MNT_DETACH) != 0 {
                    eprintln!("  disk: cannot unmount {}: {err}", self.dir.display());
                }
            }
        }
    }
}

/// What one child left: its report lines and how it ended.
#[derive(Debug, Default)]
struct ChildOutcome {
    /// The report file (the model of a later child).
    report: PathBuf,
    lines: Vec<(String, String)>,
    /// Why the child's end is a failure (a signal, a hang, a panic), if it is.
    crashed: Option<String>,
}

impl ChildOutcome {
    fn done(&self) -> bool {
        self.lines.iter().any(|(t, _)| t == "done")
    }

    fn texts<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.lines.iter().filter(move |(t, _)| t == tag).map(|(_, s)| s.as_str())
    }
}

fn parse_report(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(' ') {
            Some((t, s)) => (t.to_string(), s.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// Runs a `disk-worker` child to its end, killing it past [`CHILD_TIMEOUT`];
/// `model` is the report of an earlier child whose writes this one checks.
fn run_child(
    spec: &Spec,
    work: &Path,
    mnt: &Path,
    scenario: &str,
    size: usize,
    seed: u64,
    model: Option<&Path>,
) -> ChildOutcome {
    let name = format!("{scenario}-{size}");
    let report = work.join(format!("{name}.report"));
    let model_args: Vec<std::ffi::OsString> =
        model.map(|m| vec!["--model".into(), m.as_os_str().to_owned()]).unwrap_or_default();
    let err_path = work.join(format!("{name}.stderr"));
    let mut out = ChildOutcome::default();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            out.crashed = Some(format!("cannot find this program: {e}"));
            return out;
        }
    };
    let child = worker_command(&exe, "disk-worker", spec, &err_path)
        .args(["--scenario", scenario])
        .args(["--size", &size.to_string(), "--seed", &seed.to_string()])
        .arg("--dir")
        .arg(mnt)
        .arg("--report")
        .arg(&report)
        .args(&model_args)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            out.crashed = Some(format!("cannot start the worker: {e}"));
            return out;
        }
    };
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    out.lines = parse_report(&std::fs::read_to_string(&report).unwrap_or_default());
    out.report = report;
    let stderr_text = std::fs::read_to_string(&err_path).unwrap_or_default();
    let last_stderr =
        stderr_text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    out.crashed = match status {
        None => {
            Some(format!("{scenario}: the worker ran past {} s (a hang?): killed", CHILD_TIMEOUT.as_secs()))
        }
        Some(s) if s.signal().is_some() => {
            let sig = s.signal().unwrap_or(0);
            Some(format!("{scenario}: the worker died of signal {sig} ({}) {last_stderr}", signal_name(sig)))
        }
        Some(_) if stderr_text.contains("panicked") => {
            let panic = stderr_text.lines().find(|l| l.contains("panicked")).unwrap_or("").trim();
            Some(format!("{scenario}: the worker panicked: {panic}"))
        }
        Some(_) if !out.done() => {
            Some(format!("{scenario}: the worker ended without its report ({last_stderr})"))
        }
        Some(_) => None,
    };
    out
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGBUS => "SIGBUS",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        _ => "signal",
    }
}

/// Folds a child's report into the row; `label` prefixes its findings.
/// Failure lines are `<tag> <count> <text>`.
fn tally(row: &mut Row, out: &ChildOutcome, label: &str) {
    for (tag, text) in &out.lines {
        let field = match tag.as_str() {
            "A" | "E" => {
                row.ops += 1;
                continue;
            }
            "lost" => &mut row.lost,
            "unreadable" => &mut row.unreadable,
            "phantom" => &mut row.phantom,
            "error" => &mut row.errors,
            "other" => &mut row.other,
            _ => continue,
        };
        let (n, what) = match text.split_once(' ') {
            Some((n, what)) if n.parse::<u64>().is_ok() => (n.parse().unwrap_or(1), what),
            _ => (1, text.as_str()),
        };
        *field += n;
        row.detail(format!("{label}: {what}"));
    }
    if let Some(why) = &out.crashed {
        row.other += 1;
        row.detail(format!("{label}: {why}"));
    }
}

/// Copies the regular files and folders under `from` to `to` (for `--keep`), leaving out the ballast.
fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::create_dir_all(to);
    let Ok(entries) = std::fs::read_dir(from) else { return };
    for entry in entries.flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        match entry.file_type() {
            Ok(t) if t.is_dir() => copy_tree(&src, &dst),
            Ok(t) if t.is_file() && entry.file_name() != "ballast" => {
                let _ = std::fs::copy(&src, &dst);
            }
            _ => {}
        }
    }
}

/// Makes everything under `dir` (and `dir`) read-only (`ro`) or writable again, for a non-root run.
fn chmod_tree(dir: &Path, ro: bool) {
    let set = |p: &Path, is_dir: bool| {
        let mode = match (is_dir, ro) {
            (true, true) => 0o555,
            (true, false) => 0o755,
            (false, true) => 0o444,
            (false, false) => 0o644,
        };
        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    };
    if !ro {
        set(dir, true);
    }
    let mut paths = Vec::new();
    walk(dir, &mut |p| paths.push((p.to_path_buf(), p.symlink_metadata().is_ok_and(|m| m.is_dir()))));
    if ro {
        // Files first, then the folders, innermost first (a 0555 folder still lists, so order only matters for writes).
        paths.sort_by_key(|(p, d)| (*d, std::cmp::Reverse(p.components().count())));
    }
    for (p, d) in &paths {
        set(p, *d);
    }
    if ro {
        set(dir, true);
    }
}

/// An error message for the notes: the repeated stash context left out, cut at 400 characters.
fn short(msg: &str) -> String {
    let cut = match msg.find(", stash: ") {
        Some(a) => match msg[a..].find(')') {
            Some(b) => format!("{}{}", &msg[..a], &msg[a + b + 1..]),
            None => msg.to_string(),
        },
        None => msg.to_string(),
    };
    if cut.chars().count() > 400 { format!("{}...", cut.chars().take(400).collect::<String>()) } else { cut }
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the disk harness over `specs`: a `disk-full` and a `read-only` row per spec.
pub fn run(specs: &[Spec], seed: u64, keep: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    for spec in specs {
        let spec_seed = spec.seed(seed);
        rows.push(with_workdir(spec, "disk-full", keep, |work| full_row(spec, work, spec_seed, keep)));
        rows.push(with_workdir(spec, "read-only", keep, |work| ro_row(spec, work, spec_seed, keep)));
    }
    rows
}

/// Runs `body` in a fresh temporary folder, kept when asked or when the row failed.
fn with_workdir(spec: &Spec, harness: &'static str, keep: bool, body: impl FnOnce(&Path) -> Row) -> Row {
    let started = Instant::now();
    match tempfile::Builder::new().prefix(&format!("hashstash-{harness}-")).tempdir() {
        Ok(dir) => {
            let mut row = body(dir.path());
            row.wall = started.elapsed();
            if keep || row.failures() > 0 {
                let kept = dir.keep();
                eprintln!("  {harness} {}: reports and files kept in {}", spec.label(), kept.display());
            }
            row
        }
        Err(e) => Row::broken(harness, spec, format!("cannot make a temporary folder: {e}"), started),
    }
}

fn full_row(spec: &Spec, work: &Path, seed: u64, keep: bool) -> Row {
    let mut row = Row::new("disk-full", spec);
    for &size in FULL_SIZES {
        let mnt = work.join(format!("full-{size}"));
        if let Err(e) = std::fs::create_dir(&mnt) {
            row.errors += 1;
            row.detail(format!("cannot make the mount point: {e}"));
            continue;
        }
        let mount = match Mount::tmpfs(&mnt, FULL_BYTES) {
            Ok(m) => m,
            Err(e) => {
                let who = if is_root() { "" } else { " (mounting needs root)" };
                row.skipped = Some(format!("{e}{who}"));
                return row;
            }
        };
        let label = format!("{size} B values");
        row.trials += 1;
        let out = run_child(spec, work, &mnt, "full", size, seed, None);
        tally(&mut row, &out, &label);
        // What survived, seen by a new process (the writer's is gone, and with it what it buffered).
        let after = run_child(spec, work, &mnt, "reopen", size, seed, Some(&out.report));
        tally(&mut row, &after, &format!("{label}, reopened"));
        let first = out.texts("first").next().unwrap_or("none: no write failed");
        let mut note = format!("{label}: first failure: {}", short(first));
        for n in out.texts("note").filter(|n| n.ends_with("acknowledged") || n.starts_with("once space")) {
            note.push_str(&format!("; {n}"));
        }
        row.notes.push(note);
        for n in out.texts("allowed").chain(after.texts("allowed")) {
            row.notes.push(format!("{label}: {n}"));
        }
        let kept: Vec<&str> = out.texts("kept").chain(after.texts("kept")).collect();
        if let Some(first) = kept.first() {
            row.notes.push(format!(
                "{label}: a documented limit of sled, met {} times (not counted), e.g. {}",
                kept.len(),
                short(first)
            ));
        }
        if keep || row.failures() > 0 {
            copy_tree(&mnt, &work.join(format!("full-{size}-files")));
        }
        drop(mount);
    }
    if let Some(n) = engine_note(spec, "full") {
        row.notes.push(n.to_string());
    }
    row
}

fn ro_row(spec: &Spec, work: &Path, seed: u64, keep: bool) -> Row {
    let mut row = Row::new("read-only", spec);
    let root = is_root();
    for &size in RO_SIZES {
        let mnt = work.join(format!("ro-{size}"));
        if let Err(e) = std::fs::create_dir(&mnt) {
            row.errors += 1;
            row.detail(format!("cannot make the folder: {e}"));
            continue;
        }
        // As root, only a read-only mount stops writes; otherwise the permissions do.
        let mount = if root {
            match Mount::tmpfs(&mnt, RO_BYTES) {
                Ok(m) => Some(m),
                Err(e) => {
                    row.skipped = Some(format!("{e} (as root only a read-only mount stops writes)"));
                    return row;
                }
            }
        } else {
            None
        };
        let label = format!("{size} B values");
        row.trials += 1;
        let fill = run_child(spec, work, &mnt, "ro-fill", size, seed, None);
        tally(&mut row, &fill, &format!("{label}, writing"));
        if fill.crashed.is_some() || fill.texts("E").next().is_some() || fill.texts("error").next().is_some()
        {
            continue;
        }
        let made_ro = match &mount {
            Some(m) => m.read_only(),
            None => {
                chmod_tree(&mnt, true);
                Ok(())
            }
        };
        if let Err(e) = made_ro {
            row.errors += 1;
            row.detail(format!("{label}: {e}"));
            continue;
        }
        let out = run_child(spec, work, &mnt, "ro-check", size, seed, Some(&fill.report));
        tally(&mut row, &out, &label);
        if let Some(limit) = out.texts("limit").next() {
            row.notes.push(format!(
                "{label}: does not open a read-only folder (a documented limit): {}",
                short(limit)
            ));
        } else if let Some(first) = out.texts("first").next() {
            row.notes.push(format!("{label}: opens and reads; a write fails with {}", short(first)));
        }
        if mount.is_none() {
            chmod_tree(&mnt, false);
        }
        if keep || row.failures() > 0 {
            copy_tree(&mnt, &work.join(format!("ro-{size}-files")));
        }
        drop(mount);
    }
    let how = if root { "tmpfs remounted read-only" } else { "files 0444, folders 0555 (not root)" };
    row.notes.push(format!("read-only by: {how}"));
    row
}

/// What the engine does, in words (from reading its code; the figures above are measured).
fn engine_note(spec: &Spec, scenario: &str) -> Option<&'static str> {
    match (spec.engine, scenario) {
        ("lmdb", "full") => Some(
            "lmdb writes pages with pwrite (no MDB_WRITEMAP): a full disk fails the write, never \
             SIGBUS, and is not MDB_MAP_FULL (the map grows on its own); LMDB reports the short \
             write as EIO (os error 5), kind Io, and the message says the disk may be full",
        ),
        ("pairtree", "full") => Some(
            "pairtree writes a temporary file and renames it in: a failed write removes its temporary \
             file; a failed replace leaves its empty marker (.base.*), which hides nothing",
        ),
        ("sqlite", "full") => {
            Some("sqlite: SQLITE_FULL from the WAL append, kind Io; the transaction rolls back")
        }
        ("sled", "full") => Some(
            "sled buffers writes and writes its log from a background thread: after a failed write \
             it fails every call until reopened in a new process, and loses what it had not written \
             (the crate docs, \"A full disk\"); flush gives up after 10 s",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_allows_both_states_an_acknowledged_one_only_its_own() {
        let base = Allowed::exactly(Some(0));
        assert_eq!(base.then(Some(1), true), Allowed::exactly(Some(1)));
        let failed = base.then(Some(1), false);
        assert_eq!(judge(&failed, Some(0)), Verdict::Fine);
        assert_eq!(judge(&failed, Some(1)), Verdict::Fine);
        assert_eq!(judge(&failed, None), Verdict::Lost);
        let new_failed = Allowed::exactly(None).then(Some(0), false);
        assert_eq!(judge(&new_failed, None), Verdict::Fine);
        assert_eq!(judge(&Allowed::exactly(Some(1)), Some(0)), Verdict::Lost, "an older round");
        assert_eq!(judge(&Allowed::exactly(None), Some(0)), Verdict::Phantom, "back after a remove");
        assert_eq!(judge(&Allowed::exactly(Some(0)), Some(3)), Verdict::Phantom, "never written");
    }

    #[test]
    fn values_follow_from_their_id() {
        let v = DiskVal::new(7, 3, 0, 100);
        assert_eq!(v, DiskVal::new(7, 3, 0, 100));
        assert_ne!(v.pad, DiskVal::new(7, 3, 1, 100).pad);
        assert_eq!(v.pad.len(), 100);
    }

    #[test]
    fn reports_fold_into_the_row() {
        let spec = crate::spec::DISK[0];
        let mut row = Row::new("disk-full", &spec);
        let text = "A 1 1 0\nA 2 2 0\nE 3 3 0 Io: cannot write (file: /m/x)\nlost 2 while full: keys [1, 2]\n\
                    error 1 bad kind\nnote x\ndone \n";
        let out = ChildOutcome {
            report: PathBuf::new(),
            lines: parse_report(text),
            crashed: Some("died of signal 7 (SIGBUS)".into()),
        };
        assert!(out.done());
        tally(&mut row, &out, "t");
        assert_eq!((row.ops, row.lost, row.errors, row.other), (3, 2, 1, 1));
        assert!(names_path("cannot write (file: /m/x/data.db)", Path::new("/m/x")));
        assert!(!names_path("cannot write", Path::new("/m/x")));
    }

    #[test]
    fn a_report_replays_into_the_model_it_was_written_from() {
        let text = "note x\nA 1 5 0\nA 2 6 0\nE 3 7 0 Io: full\nA 4 5 1\nE 5 6 - Io: full\nA 6 8 -\n";
        let m = Model::replay(text);
        assert_eq!(m.keys[&5], Allowed::exactly(Some(1)));
        assert_eq!(m.keys[&6], Allowed(vec![Some(0), None]), "a failed remove: either");
        assert_eq!(m.keys[&7], Allowed(vec![None, Some(0)]), "a failed first write: absent or whole");
        assert_eq!(m.keys[&8], Allowed::exactly(None));
        assert_eq!((m.last_ack[&5], m.last_ack[&6], m.seq), (4, 2, 6));
        assert!(!m.last_ack.contains_key(&7));
    }
}
