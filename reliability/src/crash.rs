//! `reliability crash`: a writer child is SIGKILLed at a random moment, the
//! parent reopens the stash and checks what survived against the child's log.
//!
//! The child's operations follow from `(seed, trial)`, so the parent
//! regenerates them: the log holds only the number of each acknowledged
//! operation (`A <n> <ns>`, written after the call returned `Ok`), or of a
//! failed one (`E <n> <message>`). The operation after the last logged one was
//! in flight when the kill came: its effect may or may not be there. Each
//! trial continues from the state the previous one left (and the parent
//! checked), so recovery is exercised on top of recovered state, 100 times.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hashstash::{HashStash, SetOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::{Id, Log, Val, now_ns};
use crate::spec::{Promise, Spec};
use crate::{Args, Findings, Row, worker_command};

/// The keys the writer uses: `0..KEYS`.
pub const KEYS: u32 = 1_000;
/// The key the parent writes after each kill to check that writes work.
const PROBE: u32 = KEYS;
/// Operations a child does at most (it is killed long before).
const MAX_OPS: u64 = 10_000_000;
/// Most states one key may be in after the uncertain operations of a trial.
const MAX_STATES: usize = 256;

/// One operation of a writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `set(k, v)`.
    Set(u32),
    /// `set_with(k, v, append)`: a new version.
    Append(u32),
    /// `remove(k)`.
    Remove(u32),
    /// `batch().set(..)...commit()` over distinct keys.
    Batch(Vec<u32>),
}

/// The writer's operations, from `(seed, trial)`.
pub struct Gen {
    rng: StdRng,
}

impl Gen {
    /// The sequence of trial `trial` of a run seeded `seed`.
    pub fn new(seed: u64, trial: u32) -> Gen {
        Gen { rng: StdRng::seed_from_u64(seed ^ (u64::from(trial) << 32) ^ 0xc4a5_11ed) }
    }

    /// The next operation.
    pub fn next_op(&mut self) -> Op {
        let key = |rng: &mut StdRng| rng.random_range(0..KEYS);
        match self.rng.random_range(0..100u32) {
            0..40 => Op::Set(key(&mut self.rng)),
            40..65 => Op::Append(key(&mut self.rng)),
            65..80 => Op::Remove(key(&mut self.rng)),
            _ => {
                let n = self.rng.random_range(2..=16);
                let mut keys = BTreeSet::new();
                while keys.len() < n {
                    keys.insert(key(&mut self.rng));
                }
                Op::Batch(keys.into_iter().collect())
            }
        }
    }
}

/// What an operation does to each key it touches.
#[derive(Debug, Clone, Copy)]
enum Effect {
    Put(Id),
    Push(Id),
    Del,
}

fn effects(op: &Op, w: u32, n: u64) -> Vec<(u32, Effect)> {
    match op {
        Op::Set(k) => vec![(*k, Effect::Put((w, n, 0)))],
        Op::Append(k) => vec![(*k, Effect::Push((w, n, 0)))],
        Op::Remove(k) => vec![(*k, Effect::Del)],
        Op::Batch(keys) => {
            keys.iter().enumerate().map(|(i, k)| (*k, Effect::Put((w, n, i as u32)))).collect()
        }
    }
}

/// A key's versions, oldest first; `None` when absent.
type State = Option<Vec<Id>>;

fn apply(state: &State, effect: Effect) -> State {
    match effect {
        Effect::Put(id) => Some(vec![id]),
        Effect::Push(id) => {
            let mut v = state.clone().unwrap_or_default();
            v.push(id);
            Some(v)
        }
        Effect::Del => None,
    }
}

/// The child: opens the stash and writes until killed.
pub fn worker(args: &Args) -> Result<(), String> {
    let spec = args.spec()?;
    let root = PathBuf::from(args.value("--root")?);
    let seed: u64 = args.number("--seed")?;
    let trial: u32 = args.number("--trial")?;
    let mut log = Log::open(Path::new(&args.value("--log")?)).map_err(|e| format!("log: {e}"))?;
    let stash = match spec.open(&root, "crash", "", false) {
        Ok(s) => s,
        Err(e) => {
            let _ = log.line(&format!("F open: {e}"));
            return Err(format!("open: {e}"));
        }
    };
    log.line(&format!("O {}", now_ns())).map_err(|e| format!("log: {e}"))?;
    let mut generator = Gen::new(seed, trial);
    for n in 1..=MAX_OPS {
        let op = generator.next_op();
        let line = match run_op(&stash, trial, n, &op) {
            Ok(()) => format!("A {n} {}", now_ns()),
            Err(e) => format!("E {n} {}", e.to_string().replace('\n', " ")),
        };
        log.line(&line).map_err(|e| format!("log: {e}"))?;
    }
    Ok(())
}

fn run_op(stash: &HashStash, w: u32, n: u64, op: &Op) -> hashstash::Result<()> {
    match op {
        Op::Set(k) => stash.set(k, &Val::new((w, n, 0), *k, true)),
        Op::Append(k) => stash.set_with(k, &Val::new((w, n, 0), *k, true), SetOptions::new().append(true)),
        Op::Remove(k) => stash.remove(k).map(drop),
        Op::Batch(keys) => {
            let mut batch = stash.batch();
            for (i, k) in keys.iter().enumerate() {
                batch.set(k, &Val::new((w, n, i as u32), *k, true))?;
            }
            batch.commit().map(drop)
        }
    }
}

/// What the child's log says.
#[derive(Debug, Default)]
struct ChildLog {
    opened: bool,
    /// Acknowledged operations and when (ns).
    acked: BTreeMap<u64, u64>,
    /// Failed operations and the error.
    failed: BTreeMap<u64, String>,
    /// The open failed.
    fatal: Option<String>,
}

impl ChildLog {
    fn read(path: &Path) -> ChildLog {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut log = ChildLog::default();
        for line in text.lines() {
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("O"), _, _) => log.opened = true,
                (Some("A"), Some(n), Some(t)) => {
                    if let (Ok(n), Ok(t)) = (n.parse(), t.parse()) {
                        log.acked.insert(n, t);
                    }
                }
                (Some("E"), Some(n), rest) => {
                    if let Ok(n) = n.parse() {
                        log.failed.insert(n, rest.unwrap_or("").to_string());
                    }
                }
                (Some("F"), _, _) => log.fatal = Some(line[2..].to_string()),
                _ => {} // a torn last line: the op it names counts as in flight
            }
        }
        log
    }

    /// The highest operation number logged (acknowledged or failed).
    fn last(&self) -> u64 {
        self.acked.keys().chain(self.failed.keys()).copied().max().unwrap_or(0)
    }
}

/// What the parent read back after a kill.
struct Observed {
    keys: BTreeMap<u32, Vec<Id>>,
}

/// Runs the crash harness over `specs`; one row per spec.
pub fn run(specs: &[Spec], kills: u32, seed: u64, keep: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    for spec in specs {
        let started = Instant::now();
        let dir = tempfile::Builder::new().prefix("hashstash-crash-").tempdir();
        let row = match dir {
            Ok(dir) => {
                let spec_seed = spec.seed(seed);
                let row = run_spec(spec, dir.path(), kills, spec_seed, started);
                if keep || row.failures() > 0 {
                    let kept = dir.keep();
                    eprintln!("  {}: stash and logs kept in {}", spec.label(), kept.display());
                }
                row
            }
            Err(e) => Row::broken("crash", spec, format!("cannot make a temporary folder: {e}"), started),
        };
        rows.push(row);
    }
    rows
}

fn run_spec(spec: &Spec, dir: &Path, kills: u32, seed: u64, started: Instant) -> Row {
    let mut row = Row::new("crash", spec);
    row.notes.push(spec.promise_text().to_string());
    let root = dir.join("stash");
    let mut rng = StdRng::seed_from_u64(seed);
    // Every id written so far (by a child up to its in-flight op, or by the parent) and its key.
    let mut known: HashMap<Id, u32> = HashMap::new();
    let mut baseline: BTreeMap<u32, Vec<Id>> = BTreeMap::new();
    match spec.open(&root, "crash", "", true) {
        Ok(stash) => drop(stash),
        Err(e) => return Row::broken("crash", spec, format!("cannot open: {e}"), started),
    }
    let mut lost_allowed = 0u64;
    let mut max_window_ms = 0f64;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Row::broken("crash", spec, format!("cannot find this program: {e}"), started),
    };
    for trial in 1..=kills {
        let log_path = dir.join(format!("trial-{trial}.log"));
        let err_path = dir.join(format!("trial-{trial}.stderr"));
        let child = worker_command(&exe, "crash-worker", spec, &err_path)
            .args(["--seed", &seed.to_string(), "--trial", &trial.to_string()])
            .arg("--root")
            .arg(&root)
            .arg("--log")
            .arg(&log_path)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return Row::broken("crash", spec, format!("cannot start the writer: {e}"), started),
        };
        // One kill in ten comes at any moment after the start (maybe during the
        // open, i.e. the recovery of the previous kill); the others while writing.
        let early = rng.random_range(0..10) == 0;
        if early {
            std::thread::sleep(Duration::from_micros(rng.random_range(0..150_000)));
        } else {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !ChildLog::read(&log_path).opened && Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_micros(rng.random_range(0..400_000)));
        }
        let killed_at = now_ns();
        let exited_by_itself = matches!(child.try_wait(), Ok(Some(_)));
        let _ = child.kill();
        let status = child.wait();
        let log = ChildLog::read(&log_path);
        let mut f = Findings::default();
        if exited_by_itself {
            let msg = std::fs::read_to_string(&err_path).unwrap_or_default();
            let why = log.fatal.clone().unwrap_or_else(|| msg.trim().to_string());
            f.errors.push(format!("trial {trial}: the writer exited before the kill ({status:?}): {why}"));
        }
        for (n, e) in &log.failed {
            f.errors.push(format!("trial {trial}: op {n} failed: {e}"));
        }
        // Regenerate the child's operations up to the one in flight.
        let last = log.last();
        let mut generator = Gen::new(seed, trial);
        let mut ops = Vec::new();
        let in_flight = if last < MAX_OPS && log.opened { last + 1 } else { last };
        for n in 1..=in_flight {
            let op = generator.next_op();
            for (k, e) in effects(&op, trial, n) {
                if let Effect::Put(id) | Effect::Push(id) = e {
                    known.insert(id, k);
                }
            }
            ops.push(op);
        }
        let gaps = (1..=last).filter(|n| !log.acked.contains_key(n) && !log.failed.contains_key(n)).count();
        if gaps > 0 {
            f.other.push(format!("trial {trial}: {gaps} operations missing from the log"));
        }
        row.ops += log.acked.len() as u64;
        // Reopen and read everything back.
        let stash = match spec.open(&root, "crash", "", false) {
            Ok(s) => s,
            Err(e) => {
                f.unreadable.push(format!("trial {trial}: the stash does not reopen: {e}"));
                row.add(trial, f);
                break;
            }
        };
        let observed = observe(&stash, &known, trial, &mut f);
        let acked = |n: u64| log.acked.contains_key(&n);
        match spec.promise() {
            Promise::Durable => check_durable(&baseline, &observed, &ops, trial, &acked, &known, &mut f),
            Promise::Prefix => {
                if let Some(lost) = check_prefix(&baseline, &observed, &ops, trial, &known, &mut f) {
                    lost_allowed += lost;
                    if lost > 0 {
                        // The oldest lost write: acknowledged this long before the kill.
                        let first_lost = (ops.len() as u64).saturating_sub(lost);
                        let first_lost = (first_lost..=last).find(|n| acked(*n));
                        if let Some(t) = first_lost.and_then(|n| log.acked.get(&n)) {
                            max_window_ms = max_window_ms.max(killed_at.saturating_sub(*t) as f64 / 1e6);
                        }
                    }
                }
            }
        }
        if spec.atomic_batches()
            && let Some(Op::Batch(keys)) = ops.get(in_flight.saturating_sub(1) as usize)
            && in_flight > last
        {
            let present = keys
                .iter()
                .enumerate()
                .filter(|(i, k)| {
                    observed.keys.get(k).is_some_and(|v| v.contains(&(trial, in_flight, *i as u32)))
                })
                .count();
            if present != 0 && present != keys.len() {
                f.other.push(format!(
                    "trial {trial}: the batch in flight (op {in_flight}) is torn: {present} of {} keys written",
                    keys.len()
                ));
            }
        }
        // New writes work: the probe key and one of the writer's keys.
        baseline = observed.keys;
        let probe_key = rng.random_range(0..KEYS);
        for (sub, k) in [(0u32, PROBE), (1, probe_key)] {
            let v = Val::new((0, u64::from(trial), sub), k, true);
            known.insert(v.id(), k);
            match stash.set(&k, &v).and_then(|_| stash.get::<_, Val>(&k)) {
                Ok(Some(back)) if back == v => {
                    baseline.insert(k, vec![v.id()]);
                }
                Ok(other) => f.lost.push(format!(
                    "trial {trial}: a new write of key {k} reads back as {:?}",
                    other.map(|o| o.id())
                )),
                Err(e) => f.errors.push(format!("trial {trial}: a new write of key {k} failed: {e}")),
            }
        }
        drop(stash);
        row.add(trial, f);
    }
    if spec.promise() == Promise::Prefix {
        row.notes.push(format!(
            "lost as allowed: {lost_allowed} acknowledged ops over {kills} kills, each loss a suffix; \
             oldest lost write acknowledged {max_window_ms:.0} ms before its kill"
        ));
    }
    row.wall = started.elapsed();
    row
}

/// Reads every entry (iteration and each key's versions) and checks each value.
fn observe(stash: &HashStash, known: &HashMap<Id, u32>, trial: u32, f: &mut Findings) -> Observed {
    let mut newest: BTreeMap<u32, Id> = BTreeMap::new();
    let check = |k: u32, v: &Val, f: &mut Findings| {
        if v.key != k || !v.intact(true) || known.get(&v.id()) != Some(&k) {
            f.phantom.push(format!("trial {trial}: key {k} holds {:?}, never written under it", v.id()));
        }
    };
    match stash.raw_items() {
        Ok(items) => {
            for item in items {
                let decoded = item.and_then(|(kb, vb)| {
                    Ok((stash.decode_key::<u32>(&kb)?, stash.decode_value::<Val>(&vb)?))
                });
                match decoded {
                    Ok((k, v)) => {
                        check(k, &v, f);
                        newest.insert(k, v.id());
                    }
                    Err(e) => f.unreadable.push(format!("trial {trial}: iteration: {e}")),
                }
            }
        }
        Err(e) => f.unreadable.push(format!("trial {trial}: cannot iterate: {e}")),
    }
    let mut keys = BTreeMap::new();
    for k in 0..=PROBE {
        match stash.try_get_all_with_metadata::<_, Val>(&k) {
            Ok(versions) => {
                let mut ids = Vec::new();
                for v in versions {
                    match v {
                        Ok(v) => {
                            check(k, &v.value, f);
                            ids.push(v.value.id());
                        }
                        Err(e) => f.unreadable.push(format!("trial {trial}: key {k}: {e}")),
                    }
                }
                if !ids.is_empty() {
                    keys.insert(k, ids);
                }
            }
            Err(e) => f.unreadable.push(format!("trial {trial}: key {k}: {e}")),
        }
    }
    let by_versions: BTreeMap<u32, Id> =
        keys.iter().filter_map(|(k, v)| v.last().map(|id| (*k, *id))).collect();
    if f.unreadable.is_empty() && by_versions != newest {
        let differ: Vec<_> = by_versions
            .keys()
            .chain(newest.keys())
            .filter(|k| by_versions.get(k) != newest.get(k))
            .take(5)
            .collect();
        f.other.push(format!("trial {trial}: iteration and get disagree on keys {differ:?}"));
    }
    match stash.len() {
        Ok(n) if n == keys.len() => {}
        Ok(n) => f.other.push(format!("trial {trial}: len() = {n} but {} keys are stored", keys.len())),
        Err(e) => f.unreadable.push(format!("trial {trial}: len: {e}")),
    }
    Observed { keys }
}

fn describe(state: &State) -> String {
    match state {
        None => "absent".into(),
        Some(v) if v.len() > 4 => format!("{} versions, newest {:?}", v.len(), v.last()),
        Some(v) => format!("{v:?}"),
    }
}

/// Durable: every acknowledged operation applied, in order; the in-flight
/// (and any failed) operation either applied or not.
fn check_durable(
    baseline: &BTreeMap<u32, Vec<Id>>,
    observed: &Observed,
    ops: &[Op],
    trial: u32,
    acked: &dyn Fn(u64) -> bool,
    known: &HashMap<Id, u32>,
    f: &mut Findings,
) {
    let mut possible: BTreeMap<u32, Vec<State>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let n = i as u64 + 1;
        for (k, e) in effects(op, trial, n) {
            let states = possible.entry(k).or_insert_with(|| vec![baseline.get(&k).cloned()]);
            let applied: Vec<State> = states.iter().map(|s| apply(s, e)).collect();
            if acked(n) {
                *states = applied;
            } else {
                states.extend(applied);
            }
            states.sort();
            states.dedup();
            states.truncate(MAX_STATES);
        }
    }
    let keys: BTreeSet<u32> =
        baseline.keys().chain(observed.keys.keys()).chain(possible.keys()).copied().collect();
    for k in keys {
        let got = observed.keys.get(&k).cloned();
        let states = possible.get(&k).cloned().unwrap_or_else(|| vec![baseline.get(&k).cloned()]);
        if states.contains(&got) {
            continue;
        }
        // A replacing write cut short: its value is the newest, but the versions it
        // replaces are still there beside it (get is right, get_all shows them).
        if let Some(v) = &got
            && let Some((newest, older)) = v.split_last()
            && !older.is_empty()
            && states.contains(&Some(vec![*newest]))
            && states.iter().flatten().any(|before| is_subsequence(older, before))
        {
            f.other.push(format!(
                "trial {trial}: key {k}: the replacing write in flight left (some of) the versions it replaced: {}",
                describe(&got)
            ));
            continue;
        }
        classify(k, &got, &states, trial, known, f);
    }
}

/// Whether `part` is `whole` with some items left out (order kept).
fn is_subsequence(part: &[Id], whole: &[Id]) -> bool {
    let mut rest = whole.iter();
    part.iter().all(|p| rest.any(|w| w == p))
}

fn classify(k: u32, got: &State, expected: &[State], trial: u32, known: &HashMap<Id, u32>, f: &mut Findings) {
    let unknown = got.iter().flatten().any(|id| known.get(id) != Some(&k));
    let msg = format!(
        "trial {trial}: key {k} is {}, expected {}",
        describe(got),
        expected.iter().map(describe).collect::<Vec<_>>().join(" or ")
    );
    if unknown {
        f.phantom.push(msg);
    } else {
        f.lost.push(msg);
    }
}

/// Prefix: the stash holds the state after some prefix of the operations.
/// Returns how many acknowledged operations the longest matching prefix
/// leaves out, or `None` (and findings) when no prefix matches.
fn check_prefix(
    baseline: &BTreeMap<u32, Vec<Id>>,
    observed: &Observed,
    ops: &[Op],
    trial: u32,
    known: &HashMap<Id, u32>,
    f: &mut Findings,
) -> Option<u64> {
    let mut sim: BTreeMap<u32, Vec<Id>> = baseline.clone();
    let all: BTreeSet<u32> = baseline.keys().chain(observed.keys.keys()).copied().collect();
    let mut mismatched: BTreeSet<u32> =
        all.into_iter().filter(|k| sim.get(k) != observed.keys.get(k)).collect();
    let mut best = mismatched.is_empty().then_some(0usize);
    // Each key's states along the way, to name the keys that match no prefix.
    let mut history: BTreeMap<u32, Vec<State>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        for (k, e) in effects(op, trial, i as u64 + 1) {
            let before = sim.get(&k).cloned();
            history.entry(k).or_insert_with(|| vec![before.clone()]);
            match apply(&before, e) {
                Some(v) => sim.insert(k, v),
                None => sim.remove(&k),
            };
            if let Some(h) = history.get_mut(&k) {
                h.push(sim.get(&k).cloned());
            }
            if sim.get(&k) == observed.keys.get(&k) {
                mismatched.remove(&k);
            } else {
                mismatched.insert(k);
            }
        }
        if mismatched.is_empty() {
            best = Some(i + 1);
        }
    }
    if let Some(p) = best {
        // The in-flight op counts as acknowledged-or-not: only acknowledged ones can be lost.
        let acked_ops = ops.len().saturating_sub(1);
        return Some(acked_ops.saturating_sub(p) as u64);
    }
    let mut named = false;
    for (k, got) in &observed.keys {
        let states = history.get(k).cloned().unwrap_or_else(|| vec![baseline.get(k).cloned()]);
        if !states.contains(&Some(got.clone())) {
            classify(*k, &Some(got.clone()), &states, trial, known, f);
            named = true;
        }
    }
    if !named {
        f.lost.push(format!(
            "trial {trial}: each key holds a state of some moment, but no single prefix of the writes gives them all"
        ));
    }
    None
}

impl Row {
    fn add(&mut self, _trial: u32, f: Findings) {
        self.trials += 1;
        self.add_findings(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_reproducible() {
        let a: Vec<Op> = {
            let mut g = Gen::new(7, 3);
            (0..100).map(|_| g.next_op()).collect()
        };
        let mut g = Gen::new(7, 3);
        assert!(a.iter().all(|op| *op == g.next_op()));
        assert!(a.iter().any(|op| matches!(op, Op::Batch(_))));
    }

    fn observed(pairs: &[(u32, Vec<Id>)]) -> Observed {
        Observed { keys: pairs.iter().cloned().collect() }
    }

    fn known(ops: &[Op], trial: u32) -> HashMap<Id, u32> {
        let mut m = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            for (k, e) in effects(op, trial, i as u64 + 1) {
                if let Effect::Put(id) | Effect::Push(id) = e {
                    m.insert(id, k);
                }
            }
        }
        m
    }

    #[test]
    fn durable_oracle_accepts_the_in_flight_op_either_way_and_flags_losses() {
        let ops = vec![Op::Set(1), Op::Append(1), Op::Set(2)];
        let known = known(&ops, 1);
        let acked = |n: u64| n <= 2;
        let base = BTreeMap::new();
        for got in [
            observed(&[(1, vec![(1, 1, 0), (1, 2, 0)])]),
            observed(&[(1, vec![(1, 1, 0), (1, 2, 0)]), (2, vec![(1, 3, 0)])]),
        ] {
            let mut f = Findings::default();
            check_durable(&base, &got, &ops, 1, &acked, &known, &mut f);
            assert!(f.lost.is_empty() && f.phantom.is_empty(), "{f:?}");
        }
        let mut f = Findings::default();
        check_durable(&base, &observed(&[(1, vec![(1, 1, 0)])]), &ops, 1, &acked, &known, &mut f);
        assert_eq!(f.lost.len(), 1, "the acknowledged append is missing");
        let mut f = Findings::default();
        check_durable(
            &base,
            &observed(&[(1, vec![(1, 1, 0), (1, 2, 0)]), (3, vec![(9, 9, 0)])]),
            &ops,
            1,
            &acked,
            &known,
            &mut f,
        );
        assert_eq!(f.phantom.len(), 1, "a value nobody wrote");
    }

    #[test]
    fn a_replace_cut_short_that_leaves_the_old_versions_is_named() {
        let ops = vec![Op::Append(1), Op::Append(1), Op::Set(1)];
        let known = known(&ops, 1);
        let acked = |n: u64| n <= 2;
        let mut f = Findings::default();
        let got = observed(&[(1, vec![(1, 1, 0), (1, 2, 0), (1, 3, 0)])]);
        check_durable(&BTreeMap::new(), &got, &ops, 1, &acked, &known, &mut f);
        assert_eq!((f.other.len(), f.lost.len(), f.phantom.len()), (1, 0, 0), "{f:?}");
        let mut f = Findings::default();
        let got = observed(&[(1, vec![(1, 2, 0), (1, 3, 0)])]);
        check_durable(&BTreeMap::new(), &got, &ops, 1, &acked, &known, &mut f);
        assert_eq!((f.other.len(), f.lost.len(), f.phantom.len()), (1, 0, 0), "{f:?}");
    }

    #[test]
    fn prefix_oracle_allows_a_lost_suffix_only() {
        let ops = vec![Op::Set(1), Op::Set(2), Op::Set(3)];
        let known = known(&ops, 1);
        let base = BTreeMap::new();
        let mut f = Findings::default();
        let lost = check_prefix(&base, &observed(&[(1, vec![(1, 1, 0)])]), &ops, 1, &known, &mut f);
        assert_eq!(lost, Some(1), "op 2 lost, op 3 was in flight");
        assert!(f.lost.is_empty());
        let mut f = Findings::default();
        let lost = check_prefix(&base, &observed(&[(2, vec![(1, 2, 0)])]), &ops, 1, &known, &mut f);
        assert_eq!(lost, None, "op 1 lost but op 2 kept: not a prefix");
        assert_eq!(f.lost.len(), 1);
    }
}
