//! `reliability processes`: several processes run mixed operations on one
//! stash at once, each logging what it did (a per-process sequence and the
//! start and end of each call on the machine's monotonic clock); the final
//! state is then checked against a merge of the logs.
//!
//! The oracle assumes only that each operation takes effect at some moment
//! between its start and its end (linearizability per key), so it has no
//! false positives under true concurrency:
//!
//! - *register keys* (set, update, setdefault, remove, pop): the final value
//!   is the value of a write that no acknowledged write strictly follows
//!   (a write is a candidate when it ended after the latest start of an
//!   acknowledged write of that key); remove and pop write "absent";
//! - *append keys*: the final history holds every acknowledged append exactly
//!   once, nothing else, in an order consistent with real time (an append
//!   that ended before another started comes first, so each process's own
//!   order is kept);
//! - every value read (get, pop, setdefault, iteration, get_all) was written
//!   under that key by a write that started before the read ended, and is intact;
//! - a read of a register key is not stale: no acknowledged write replaced
//!   the value read between the end of its write and the start of the read;
//! - a `setdefault` that stored its default found the key absent: no value
//!   write completed before it began without a remove or pop that could come
//!   between, and two overlapping ones did not both store their default;
//! - no value is returned by two `pop`s, and a popped value is not the final one;
//! - `run` returns the function's result and computes each input at most once
//!   over all processes (single-flight).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hashstash::{HashStash, SetOptions, StashRun};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::model::{Id, Log, Val, now_ns};
use crate::spec::Spec;
use crate::{Args, Row};

/// Keys written by set, update, setdefault, remove and pop.
const REGISTERS: u32 = 32;
/// Keys only appended to: `APPEND_BASE..APPEND_BASE + APPENDS`.
const APPEND_BASE: u32 = 1_000;
const APPENDS: u32 = 16;
/// The shared function's name (its sub-stash).
const FUNCTION: &str = "reliability_shared";

/// One logged operation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rec {
    /// Process.
    pub p: u32,
    /// Sequence number in the process.
    pub s: u64,
    /// Start and end, ns of `CLOCK_MONOTONIC`.
    pub t0: u64,
    /// End.
    pub t1: u64,
    /// Operation name.
    pub op: String,
    /// Keys written (parallel to `w`) or asked for.
    pub k: Vec<u32>,
    /// Ids written (or attempted).
    pub w: Vec<Id>,
    /// Values read: key, id, intact.
    pub r: Vec<(u32, Id, bool)>,
    /// A number returned (len, remove's bool, run's result, run's input).
    pub n: Option<u64>,
    /// `run`: the input; `setdefault`: 1 when the default was stored.
    pub x: Option<u64>,
    /// `run`: this call computed the result.
    pub computed: bool,
    /// The error, when the call failed.
    pub err: Option<String>,
    /// The error's kind.
    pub kind: Option<String>,
}

static COMPUTED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// The shared function of `run`: slow enough (5 ms) that processes asking
/// for the same missing input overlap.
fn shared(x: u64) -> u64 {
    COMPUTED.lock().unwrap_or_else(|e| e.into_inner()).push(x);
    std::thread::sleep(Duration::from_millis(5));
    expected(x)
}

fn expected(x: u64) -> u64 {
    x.wrapping_mul(2_654_435_761) ^ 0x5bd1_e995
}

/// The child: opens the stash, says `ready`, waits for `go` on stdin, runs its operations.
pub fn worker(args: &Args) -> Result<(), String> {
    let spec = args.spec()?;
    let root = PathBuf::from(args.value("--root")?);
    let ns = args.value("--ns")?;
    let seed: u64 = args.number("--seed")?;
    let p: u32 = args.number("--id")?;
    let ops: u64 = args.number("--ops")?;
    let mut log = Log::open(Path::new(&args.value("--log")?)).map_err(|e| format!("log: {e}"))?;
    let stash = spec.open(&root, "procs", &ns, false).map_err(|e| format!("open: {e}"))?;
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).map_err(|e| format!("stdin: {e}"))?;
    let mut rng = StdRng::seed_from_u64(seed ^ (u64::from(p) << 40) ^ 0x0070_7263);
    for s in 1..=ops {
        let rec = one_op(&stash, &mut rng, p, s);
        let line = serde_json::to_string(&rec).map_err(|e| format!("log: {e}"))?;
        log.line(&line).map_err(|e| format!("log: {e}"))?;
    }
    Ok(())
}

fn register(rng: &mut StdRng) -> u32 {
    rng.random_range(0..REGISTERS)
}

fn appendee(rng: &mut StdRng) -> u32 {
    APPEND_BASE + rng.random_range(0..APPENDS)
}

fn read(r: &mut Vec<(u32, Id, bool)>, k: u32, v: &Val) {
    r.push((k, v.id(), v.intact(false)));
}

fn one_op(stash: &HashStash, rng: &mut StdRng, p: u32, s: u64) -> Rec {
    let mut rec = Rec { p, s, ..Rec::default() };
    let id = (p, s, 0);
    let roll = rng.random_range(0..100u32);
    rec.t0 = now_ns();
    let result: Result<(), (String, String)> = (|| {
        let e = |e: hashstash::Error| (format!("{:?}", e.kind()), e.to_string());
        match roll {
            0..18 | 93..100 => {
                let k = register(rng);
                rec.op = "set".into();
                rec.k.push(k);
                rec.w.push(id);
                stash.set(&k, &Val::new(id, k, false)).map_err(e)
            }
            18..34 => {
                let k = if rng.random_range(0..4) == 0 { appendee(rng) } else { register(rng) };
                rec.op = "get".into();
                rec.k.push(k);
                if let Some(v) = stash.get::<_, Val>(&k).map_err(e)? {
                    read(&mut rec.r, k, &v);
                }
                Ok(())
            }
            34..44 => {
                let k = appendee(rng);
                rec.op = "append".into();
                rec.k.push(k);
                rec.w.push(id);
                stash.set_with(&k, &Val::new(id, k, false), SetOptions::new().append(true)).map_err(e)
            }
            44..50 => {
                let k = register(rng);
                rec.op = "remove".into();
                rec.k.push(k);
                rec.n = Some(u64::from(stash.remove(&k).map_err(e)?));
                Ok(())
            }
            50..57 => {
                let k = register(rng);
                rec.op = "pop".into();
                rec.k.push(k);
                if let Some(v) = stash.pop::<_, Val>(&k).map_err(e)? {
                    read(&mut rec.r, k, &v);
                }
                Ok(())
            }
            57..65 => {
                let k = register(rng);
                rec.op = "setdefault".into();
                rec.k.push(k);
                rec.w.push(id);
                let mine = Val::new(id, k, false);
                let got = stash.setdefault(&k, &mine).map_err(e)?;
                rec.x = Some(u64::from(got == mine));
                read(&mut rec.r, k, &got);
                Ok(())
            }
            65..72 => {
                let n = rng.random_range(2..=4);
                let mut keys: Vec<u32> = Vec::new();
                while keys.len() < n {
                    let k = register(rng);
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                rec.op = "update".into();
                let pairs: Vec<(u32, Val)> = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (*k, Val::new((p, s, i as u32), *k, false)))
                    .collect();
                rec.k = keys;
                rec.w = pairs.iter().map(|(_, v)| v.id()).collect();
                stash.update(pairs).map(drop).map_err(e)
            }
            72..76 => {
                rec.op = "len".into();
                rec.n = Some(stash.len().map_err(e)? as u64);
                Ok(())
            }
            76..77 => {
                rec.op = "iterate".into();
                for item in stash.items::<u32, Val>().map_err(e)? {
                    let (k, v) = item.map_err(e)?;
                    read(&mut rec.r, k, &v);
                }
                Ok(())
            }
            77..87 => {
                let x = s / 50 + rng.random_range(0..3);
                rec.op = "run".into();
                rec.x = Some(x);
                COMPUTED.lock().unwrap_or_else(|e| e.into_inner()).clear();
                let got = stash
                    .run_named(FUNCTION, shared, (x,))
                    .map_err(|err| ("Run".to_string(), err.to_string()))?;
                rec.n = Some(got);
                rec.computed = COMPUTED.lock().unwrap_or_else(|e| e.into_inner()).contains(&x);
                Ok(())
            }
            _ => {
                let k = appendee(rng);
                rec.op = "get_all".into();
                rec.k.push(k);
                for v in stash.get_all::<_, Val>(&k).map_err(e)? {
                    read(&mut rec.r, k, &v);
                }
                Ok(())
            }
        }
    })();
    rec.t1 = now_ns();
    if let Err((kind, msg)) = result {
        rec.kind = Some(kind);
        rec.err = Some(msg.replace('\n', " "));
    }
    rec
}

/// Runs the processes harness on `specs`: `procs` processes of `ops` operations each.
pub fn run(specs: &[Spec], procs: u32, ops: u64, seed: u64, keep: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    for spec in specs {
        let started = Instant::now();
        if let Some(var) = spec.url_env()
            && spec.url().is_none()
        {
            let mut row = Row::new("processes", spec);
            row.skipped = Some(format!("{var} is not set (`cargo xtask services up` starts the servers)"));
            rows.push(row);
            continue;
        }
        let row = match tempfile::Builder::new().prefix("hashstash-procs-").tempdir() {
            Ok(dir) => {
                let spec_seed = spec.seed(seed);
                let row = run_spec(spec, dir.path(), procs, ops, spec_seed, started);
                if keep || row.failures() > 0 {
                    let kept = dir.keep();
                    eprintln!("  {}: stash and logs kept in {}", spec.label(), kept.display());
                }
                row
            }
            Err(e) => Row::broken("processes", spec, format!("cannot make a temporary folder: {e}"), started),
        };
        rows.push(row);
    }
    rows
}

fn run_spec(spec: &Spec, dir: &Path, procs: u32, ops: u64, seed: u64, started: Instant) -> Row {
    let mut row = Row::new("processes", spec);
    let root = dir.join("stash");
    let ns = format!("reliability-{}-{}-{seed:x}", std::process::id(), spec.label().replace('/', "-"));
    if let Err(e) = spec.open(&root, "procs", &ns, true) {
        return Row::broken("processes", spec, format!("cannot open: {e}"), started);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Row::broken("processes", spec, format!("cannot find this program: {e}"), started),
    };
    let mut children: Vec<Child> = Vec::new();
    let (tx, rx) = mpsc::channel::<(u32, String)>();
    for p in 1..=procs {
        let child = Command::new(&exe)
            .args(["proc-worker", "--spec", &spec.label(), "--ns", &ns, "--seed", &seed.to_string()])
            .args(["--id", &p.to_string(), "--ops", &ops.to_string()])
            .arg("--root")
            .arg(&root)
            .arg("--log")
            .arg(dir.join(format!("p{p}.log")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        match child {
            Ok(mut c) => {
                if let Some(out) = c.stdout.take() {
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        let mut line = String::new();
                        let _ = BufReader::new(out).read_line(&mut line);
                        let _ = tx.send((p, line));
                    });
                }
                children.push(c);
            }
            Err(e) => {
                kill_all(&mut children);
                return Row::broken("processes", spec, format!("cannot start a worker: {e}"), started);
            }
        }
    }
    // Everyone opens first, then all start together.
    for _ in 0..procs {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok((_, line)) if line.trim() == "ready" => {}
            Ok((p, _)) => {
                let why = stderr_of(&mut children[p as usize - 1]);
                kill_all(&mut children);
                return Row::broken("processes", spec, format!("worker {p} did not start: {why}"), started);
            }
            Err(_) => {
                kill_all(&mut children);
                return Row::broken("processes", spec, "a worker did not open within 120 s".into(), started);
            }
        }
    }
    for c in &mut children {
        if let Some(stdin) = c.stdin.as_mut() {
            let _ = stdin.write_all(b"go\n");
        }
    }
    // Generous: a hang shows as a timeout instead of blocking the run forever.
    let deadline = Instant::now() + Duration::from_secs(60 + ops * u64::from(procs) / 20);
    for (i, c) in children.iter_mut().enumerate() {
        loop {
            match c.try_wait() {
                Ok(Some(status)) if status.success() => break,
                Ok(Some(status)) => {
                    let why = stderr_of(c);
                    row.errors += 1;
                    row.detail(format!("worker {} exited with {status}: {why}", i + 1));
                    break;
                }
                Ok(None) if Instant::now() > deadline => {
                    let _ = c.kill();
                    let _ = c.wait();
                    row.errors += 1;
                    row.detail(format!("worker {} did not finish in time (a hang?): killed", i + 1));
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    row.errors += 1;
                    row.detail(format!("worker {}: {e}", i + 1));
                    break;
                }
            }
        }
    }
    let mut recs = Vec::new();
    for p in 1..=procs {
        let text = std::fs::read_to_string(dir.join(format!("p{p}.log"))).unwrap_or_default();
        for line in text.lines() {
            match serde_json::from_str::<Rec>(line) {
                Ok(r) => recs.push(r),
                Err(e) => row.detail(format!("worker {p}: unparsable log line ({e})")),
            }
        }
    }
    row.trials = u64::from(procs);
    row.ops = recs.len() as u64;
    match spec.open(&root, "procs", &ns, false) {
        Ok(stash) => {
            let finals = read_final(&stash);
            check(&recs, &finals, &mut row);
            if spec.url_env().is_some() {
                let _ = stash.clear();
            }
        }
        Err(e) => {
            row.unreadable += 1;
            row.detail(format!("the stash does not reopen: {e}"));
        }
    }
    row.wall = started.elapsed();
    row
}

fn kill_all(children: &mut [Child]) {
    for c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn stderr_of(c: &mut Child) -> String {
    let _ = c.wait();
    let mut text = String::new();
    if let Some(err) = c.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut BufReader::new(err), &mut text);
    }
    text.trim().chars().take(500).collect()
}

/// The final state as read back: each key's versions, or the error reading it.
#[derive(Debug, Default)]
pub struct Finals {
    /// Versions of each key (oldest first; absent keys are missing).
    pub keys: BTreeMap<u32, Vec<(Id, bool)>>,
    /// Read errors.
    pub unreadable: Vec<String>,
    /// Iteration and len disagreements.
    pub other: Vec<String>,
    /// Values found under the wrong key (key, id).
    pub misplaced: Vec<(u32, Id)>,
}

fn read_final(stash: &HashStash) -> Finals {
    let mut f = Finals::default();
    let all = (0..REGISTERS).chain(APPEND_BASE..APPEND_BASE + APPENDS);
    for k in all {
        match stash.try_get_all_with_metadata::<_, Val>(&k) {
            Ok(versions) => {
                let mut ids = Vec::new();
                for v in versions {
                    match v {
                        Ok(v) => {
                            if v.value.key != k {
                                f.misplaced.push((k, v.value.id()));
                            }
                            ids.push((v.value.id(), v.value.intact(false)));
                        }
                        Err(e) => f.unreadable.push(format!("key {k}: {e}")),
                    }
                }
                if !ids.is_empty() {
                    f.keys.insert(k, ids);
                }
            }
            Err(e) => f.unreadable.push(format!("key {k}: {e}")),
        }
    }
    let mut iterated = 0usize;
    match stash.items::<u32, Val>() {
        Ok(items) => {
            for item in items {
                match item {
                    Ok((k, v)) => {
                        iterated += 1;
                        let newest = f.keys.get(&k).and_then(|v| v.last()).map(|(id, _)| *id);
                        if newest != Some(v.id()) {
                            f.other.push(format!(
                                "iteration gives {:?} for key {k}, get_all's newest is {newest:?}",
                                v.id()
                            ));
                        }
                    }
                    Err(e) => f.unreadable.push(format!("iteration: {e}")),
                }
            }
        }
        Err(e) => f.unreadable.push(format!("iteration: {e}")),
    }
    if iterated != f.keys.len() {
        f.other.push(format!("iteration yields {iterated} entries, get_all finds {} keys", f.keys.len()));
    }
    match stash.len() {
        Ok(n) if n == f.keys.len() => {}
        Ok(n) => f.other.push(format!("len() = {n}, {} keys are stored", f.keys.len())),
        Err(e) => f.unreadable.push(format!("len: {e}")),
    }
    f
}

/// A write of a register key: `None` writes "absent".
#[derive(Debug, Clone, Copy)]
struct RegWrite {
    t0: u64,
    t1: u64,
    value: Option<Id>,
    acked: bool,
}

/// Checks the logs against the final state; adds the findings to `row`.
pub fn check(recs: &[Rec], finals: &Finals, row: &mut Row) {
    // Every id written (or attempted), with its key, kind and start.
    let mut written: HashMap<Id, (u32, &str, u64, bool)> = HashMap::new();
    let mut registers: BTreeMap<u32, Vec<RegWrite>> = BTreeMap::new();
    let mut appends: BTreeMap<u32, Vec<&Rec>> = BTreeMap::new();
    let mut popped: HashMap<Id, u32> = HashMap::new();
    let mut runs: BTreeMap<u64, u32> = BTreeMap::new();
    for r in recs {
        let acked = r.err.is_none();
        if let (Some(err), Some(kind)) = (&r.err, &r.kind) {
            let msg = format!("p{} op {} {} {:?}: {kind}: {err}", r.p, r.s, r.op, r.k);
            if kind == "Decode" || kind == "Corrupt" {
                row.unreadable += 1;
            } else {
                row.errors += 1;
            }
            row.detail(msg);
        }
        for (k, id) in r.k.iter().zip(&r.w) {
            written.insert(*id, (*k, r.op.as_str(), r.t0, acked));
        }
        let w = |value| RegWrite { t0: r.t0, t1: r.t1, value, acked };
        match r.op.as_str() {
            "set" | "update" => {
                for (k, id) in r.k.iter().zip(&r.w) {
                    registers.entry(*k).or_default().push(w(Some(*id)));
                }
            }
            // A setdefault that stored its default wrote; one that failed may have.
            "setdefault" if r.x == Some(1) || !acked => {
                registers.entry(r.k[0]).or_default().push(w(Some(r.w[0])));
            }
            "remove" | "pop" => registers.entry(r.k[0]).or_default().push(w(None)),
            "append" => appends.entry(r.k[0]).or_default().push(r),
            "run" if acked => {
                if let (Some(x), Some(n)) = (r.x, r.n)
                    && n != expected(x)
                {
                    row.other += 1;
                    row.detail(format!("p{} op {}: run({x}) returned {n}, not {}", r.p, r.s, expected(x)));
                }
                if r.computed {
                    *runs.entry(r.x.unwrap_or_default()).or_default() += 1;
                }
            }
            "len" => {
                if let Some(n) = r.n
                    && n > u64::from(REGISTERS + APPENDS)
                {
                    row.other += 1;
                    row.detail(format!("p{} op {}: len() = {n}, more keys than exist", r.p, r.s));
                }
            }
            _ => {}
        }
        if r.op == "pop" {
            for (_, id, _) in &r.r {
                *popped.entry(*id).or_default() += 1;
            }
        }
    }
    // Reads: written under that key, started before the read ended, intact.
    for r in recs {
        for (k, id, intact) in &r.r {
            let origin = written.get(id);
            let bad = match origin {
                _ if !intact => Some("damaged content".to_string()),
                None => Some("never written".to_string()),
                Some((wk, ..)) if wk != k => Some(format!("written under key {wk}")),
                Some((_, _, t0, _)) if *t0 > r.t1 => Some("written after the read ended".to_string()),
                _ => None,
            };
            if let Some(why) = bad {
                row.phantom += 1;
                row.detail(format!("p{} op {} {} key {k} read {id:?}: {why}", r.p, r.s, r.op));
            }
        }
    }
    stale_reads(recs, &registers, &written, row);
    setdefault_races(recs, &registers, row);
    for (id, n) in &popped {
        if *n > 1 {
            row.other += 1;
            row.detail(format!("{id:?} was returned by {n} pops"));
        }
    }
    for (x, n) in &runs {
        if *n > 1 {
            row.other += 1;
            row.detail(format!("run({x}) was computed {n} times (single-flight promises once)"));
        }
    }
    // Final state.
    row.unreadable += finals.unreadable.len() as u64;
    row.other += finals.other.len() as u64;
    for m in finals.unreadable.iter().chain(&finals.other) {
        row.detail(m.clone());
    }
    for (k, id) in &finals.misplaced {
        row.phantom += 1;
        row.detail(format!("final: key {k} holds {id:?}, written under another key"));
    }
    for k in 0..REGISTERS {
        let versions = finals.keys.get(&k);
        if let Some(v) = versions
            && v.len() > 1
        {
            row.other += 1;
            row.detail(format!("final: register key {k} keeps {} versions (only sets wrote it)", v.len()));
        }
        let got = versions.and_then(|v| v.last()).map(|(id, _)| *id);
        if let Some(id) = got
            && popped.contains_key(&id)
        {
            row.other += 1;
            row.detail(format!("final: key {k} holds {id:?}, which a pop returned (and removed)"));
        }
        let writes = registers.get(&k).map(Vec::as_slice).unwrap_or_default();
        let latest_start = writes.iter().filter(|w| w.acked).map(|w| w.t0).max();
        let candidates: Vec<&RegWrite> =
            writes.iter().filter(|w| latest_start.is_none_or(|m| w.t1 >= m)).collect();
        let fine = if writes.is_empty() { got.is_none() } else { candidates.iter().any(|w| w.value == got) };
        if fine {
            continue;
        }
        let shown: Vec<String> = candidates.iter().map(|w| format!("{:?}", w.value)).collect();
        let msg = format!("final: key {k} holds {got:?}; the last writes were {}", shown.join(" or "));
        match got.map(|id| written.get(&id).map(|(wk, ..)| *wk == k)) {
            Some(None) | Some(Some(false)) => row.phantom += 1,
            _ => row.lost += 1,
        }
        row.detail(msg);
    }
    for a in 0..APPENDS {
        let k = APPEND_BASE + a;
        let history: Vec<(Id, bool)> = finals.keys.get(&k).cloned().unwrap_or_default();
        let ours = appends.get(&k).map(Vec::as_slice).unwrap_or_default();
        let by_id: HashMap<Id, &Rec> = ours.iter().map(|r| (r.w[0], *r)).collect();
        let mut seen: HashMap<Id, usize> = HashMap::new();
        for (id, intact) in &history {
            *seen.entry(*id).or_default() += 1;
            if !intact || !by_id.contains_key(id) {
                row.phantom += 1;
                row.detail(format!("final: append key {k} holds {id:?}, not appended to it"));
            }
        }
        for (id, n) in &seen {
            if *n > 1 {
                row.other += 1;
                row.detail(format!("final: append key {k} holds {id:?} {n} times"));
            }
        }
        for r in ours {
            if r.err.is_none() && !seen.contains_key(&r.w[0]) {
                row.lost += 1;
                row.detail(format!("final: append key {k} lost {:?} (p{} op {})", r.w[0], r.p, r.s));
            }
        }
        // Real-time order: no append may come after one that started after it ended.
        let recs_in_order: Vec<&Rec> = history.iter().filter_map(|(id, _)| by_id.get(id).copied()).collect();
        let mut min_end_after = u64::MAX;
        let mut disorder = 0;
        let mut example = None;
        for r in recs_in_order.iter().rev() {
            if min_end_after < r.t0 {
                disorder += 1;
                example.get_or_insert((r.p, r.s));
            }
            min_end_after = min_end_after.min(r.t1);
        }
        if disorder > 0 {
            row.other += 1;
            row.detail(format!(
                "final: append key {k}: {disorder} versions stored before appends that finished before they started (e.g. p{} op {})",
                example.map_or(0, |e| e.0),
                example.map_or(0, |e| e.1)
            ));
        }
    }
}

/// A read of a register key must not return a value that an acknowledged
/// write replaced before the read started (the replacing write began after
/// the read value's write ended and ended before the read began).
fn stale_reads(
    recs: &[Rec],
    registers: &BTreeMap<u32, Vec<RegWrite>>,
    written: &HashMap<Id, (u32, &str, u64, bool)>,
    row: &mut Row,
) {
    let ends: HashMap<Id, u64> = recs.iter().flat_map(|r| r.w.iter().map(move |id| (*id, r.t1))).collect();
    for r in recs {
        for (k, id, _) in &r.r {
            if *k >= REGISTERS || written.get(id).is_none_or(|(wk, ..)| wk != k) {
                continue;
            }
            let Some(end) = ends.get(id) else { continue };
            let newer = registers
                .get(k)
                .into_iter()
                .flatten()
                .find(|w| w.acked && w.value != Some(*id) && w.t0 > *end && w.t1 < r.t0);
            if let Some(w) = newer {
                row.other += 1;
                row.detail(format!(
                    "p{} op {} {} key {k} read {id:?}, which {:?} had replaced before the read started (stale read)",
                    r.p, r.s, r.op, w.value
                ));
            }
        }
    }
}

/// `setdefault` stores its default only when the key is absent: a
/// setdefault that stored its default must not come after a completed write of
/// a value with no remove or pop that could fall between them, and of two
/// that overlap, both cannot have stored their default unless a remove or pop
/// could fall between them.
fn setdefault_races(recs: &[Rec], registers: &BTreeMap<u32, Vec<RegWrite>>, row: &mut Row) {
    let mut stored: BTreeMap<u32, Vec<&Rec>> = BTreeMap::new();
    for r in recs {
        if r.op == "setdefault" && r.err.is_none() && r.x == Some(1) {
            stored.entry(r.k[0]).or_default().push(r);
        }
    }
    let deletes: BTreeMap<u32, Vec<(u64, u64)>> = registers
        .iter()
        .map(|(k, ws)| (*k, ws.iter().filter(|w| w.value.is_none()).map(|w| (w.t0, w.t1)).collect()))
        .collect();
    let delete_between = |k: u32, after_start: u64, before_end: u64| {
        deletes.get(&k).is_some_and(|ds| ds.iter().any(|(t0, t1)| *t1 > after_start && *t0 < before_end))
    };
    for (k, ss) in &mut stored {
        let writes = registers.get(k).map(Vec::as_slice).unwrap_or_default();
        for s in ss.iter() {
            // The latest-starting acknowledged value write that ended before this setdefault began.
            let before =
                writes.iter().filter(|w| w.acked && w.value.is_some() && w.t1 < s.t0).max_by_key(|w| w.t0);
            if let Some(w) = before
                && !delete_between(*k, w.t0, s.t1)
            {
                row.other += 1;
                row.detail(format!(
                    "p{} op {} setdefault key {k} stored its default although {:?} was stored before it began \
                     and nothing removed it (setdefault is not atomic)",
                    s.p, s.s, w.value
                ));
            }
        }
        ss.sort_by_key(|r| r.t0);
        for (i, a) in ss.iter().enumerate() {
            for b in ss[i + 1..].iter().take_while(|b| b.t0 < a.t1) {
                let a_first = delete_between(*k, a.t0, b.t1);
                let b_first = delete_between(*k, b.t0, a.t1);
                if !a_first && !b_first {
                    row.other += 1;
                    row.detail(format!(
                        "p{} op {} and p{} op {}: concurrent setdefaults of key {k} both stored their default \
                         (setdefault is not atomic)",
                        a.p, a.s, b.p, b.s
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(p: u32, s: u64, t0: u64, t1: u64, op: &str, k: u32) -> Rec {
        let w = if matches!(op, "set" | "append" | "setdefault") { vec![(p, s, 0)] } else { vec![] };
        Rec { p, s, t0, t1, op: op.into(), k: vec![k], w, ..Rec::default() }
    }

    fn finals(pairs: &[(u32, Vec<Id>)]) -> Finals {
        let keys = pairs.iter().map(|(k, ids)| (*k, ids.iter().map(|id| (*id, true)).collect())).collect();
        Finals { keys, ..Finals::default() }
    }

    fn failures(recs: &[Rec], f: &Finals) -> (u64, u64, u64) {
        let mut row = Row::new("processes", &Spec { engine: "t", setting: "t" });
        check(recs, f, &mut row);
        (row.lost, row.phantom, row.other)
    }

    #[test]
    fn concurrent_writes_may_end_either_way_but_a_later_write_wins() {
        // Two overlapping sets: either value may be final.
        let recs = [rec(1, 1, 10, 20, "set", 0), rec(2, 1, 15, 25, "set", 0)];
        assert_eq!(failures(&recs, &finals(&[(0, vec![(1, 1, 0)])])), (0, 0, 0));
        assert_eq!(failures(&recs, &finals(&[(0, vec![(2, 1, 0)])])), (0, 0, 0));
        // A set that started after the other ended must win.
        let recs = [rec(1, 1, 10, 20, "set", 0), rec(2, 1, 21, 25, "set", 0)];
        assert_eq!(failures(&recs, &finals(&[(0, vec![(1, 1, 0)])])), (1, 0, 0));
        // A remove after a set: absent; the set's value would be a lost remove.
        let recs = [rec(1, 1, 10, 20, "set", 0), rec(2, 1, 21, 25, "remove", 0)];
        assert_eq!(failures(&recs, &finals(&[])), (0, 0, 0));
        assert_eq!(failures(&recs, &finals(&[(0, vec![(1, 1, 0)])])), (1, 0, 0));
        // A value nobody wrote.
        assert_eq!(failures(&recs, &finals(&[(0, vec![(7, 7, 0)])])), (0, 1, 0));
    }

    #[test]
    fn appends_keep_everything_in_real_time_order() {
        let k = APPEND_BASE;
        let recs =
            [rec(1, 1, 10, 20, "append", k), rec(2, 1, 30, 40, "append", k), rec(3, 1, 15, 35, "append", k)];
        let ok = finals(&[(k, vec![(1, 1, 0), (3, 1, 0), (2, 1, 0)])]);
        assert_eq!(failures(&recs, &ok), (0, 0, 0));
        let ok = finals(&[(k, vec![(3, 1, 0), (1, 1, 0), (2, 1, 0)])]);
        assert_eq!(failures(&recs, &ok), (0, 0, 0), "3 overlaps 1");
        let swapped = finals(&[(k, vec![(2, 1, 0), (1, 1, 0), (3, 1, 0)])]);
        assert_eq!(failures(&recs, &swapped), (0, 0, 1));
        let missing = finals(&[(k, vec![(1, 1, 0), (2, 1, 0)])]);
        assert_eq!(failures(&recs, &missing), (1, 0, 0));
    }

    #[test]
    fn setdefault_must_find_what_was_stored_and_reads_must_not_be_stale() {
        let mut sd = rec(2, 1, 30, 40, "setdefault", 0);
        sd.x = Some(1);
        let recs = [rec(1, 1, 10, 20, "set", 0), sd.clone()];
        assert_eq!(failures(&recs, &finals(&[(0, vec![(2, 1, 0)])])), (0, 0, 1));
        let recs = [rec(1, 1, 10, 20, "set", 0), rec(3, 1, 22, 28, "remove", 0), sd];
        assert_eq!(failures(&recs, &finals(&[(0, vec![(2, 1, 0)])])), (0, 0, 0));
        let mut get = rec(3, 1, 50, 60, "get", 0);
        get.r.push((0, (1, 1, 0), true));
        let recs = [rec(1, 1, 10, 20, "set", 0), rec(2, 1, 30, 40, "set", 0), get.clone()];
        assert_eq!(failures(&recs, &finals(&[(0, vec![(2, 1, 0)])])), (0, 0, 1));
        let recs = [rec(1, 1, 10, 20, "set", 0), rec(2, 1, 30, 55, "set", 0), get];
        assert_eq!(failures(&recs, &finals(&[(0, vec![(2, 1, 0)])])), (0, 0, 0));
    }

    #[test]
    fn a_value_popped_twice_is_flagged() {
        let mut a = rec(1, 2, 30, 40, "pop", 0);
        a.r.push((0, (1, 1, 0), true));
        let mut b = rec(2, 2, 31, 41, "pop", 0);
        b.r.push((0, (1, 1, 0), true));
        let recs = [rec(1, 1, 10, 20, "set", 0), a, b];
        assert_eq!(failures(&recs, &finals(&[])), (0, 0, 1));
    }
}
