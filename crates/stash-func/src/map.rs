//! `stash.map(f, inputs)`: a function over many inputs on a thread pool,
//! computing only the inputs whose results are not stored yet.

use std::collections::VecDeque;
use std::fmt;
use std::io::IsTerminal;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde::de::DeserializeOwned;
use stash_core::{EncodedKey, Stash};

use crate::error::{Error, Result, panic_message};
use crate::flight::DEFAULT_WAIT;
use crate::outcome::is_err;
use crate::run::{get_or_compute, lookup, lookup_result, store, sub_stash_at};

/// The sub-stash of a function stash holding whole maps (`stash_map(true)`).
pub use stash_core::functions::MAPS_DIR;

type CallFn<I, R> = Arc<dyn Fn(I) -> R + Send + Sync>;
type KeyFn<I> = Arc<dyn Fn(&Stash, &I) -> stash_core::Result<EncodedKey> + Send + Sync>;
type MapKeyFn<I> = Box<dyn Fn(&Stash, &[I]) -> stash_core::Result<EncodedKey> + Send>;

/// Configures a map; from [`StashRun::map`](crate::StashRun::map) or
/// [`StashRun::map_with`](crate::StashRun::map_with).
#[must_use = "a map does nothing until `start()` or `results()`"]
pub struct MapBuilder<I, R> {
    fs: Stash,
    name: String,
    call: CallFn<I, R>,
    key: KeyFn<I>,
    map_key: MapKeyFn<I>,
    common: Option<String>,
    inputs: Vec<I>,
    threads: usize,
    ordered: bool,
    force: bool,
    progress: bool,
    force_progress: bool,
    desc: Option<String>,
    preload: bool,
    precompute: bool,
    stash_runs: bool,
    stash_map: bool,
    batch_size: usize,
    batch_interval: Duration,
    wait: Duration,
}

impl<I, R> MapBuilder<I, R>
where
    I: Serialize + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    /// A map of the one-argument `f` in the function stash `fs`; each result's
    /// key is `(input,)`, as for `run(f, (input,))`.
    pub fn new(
        fs: Stash,
        name: String,
        f: impl Fn(I) -> R + Send + Sync + 'static,
        inputs: impl IntoIterator<Item = I>,
    ) -> Self {
        let key: KeyFn<I> = Arc::new(|fs: &Stash, i: &I| fs.encode_key(&(i,)));
        let map_key: MapKeyFn<I> = Box::new(|s: &Stash, all: &[I]| s.encode_key(&(all,)));
        Self::build(fs, name, Arc::new(f), key, map_key, None, inputs)
    }

    /// A map of the two-argument `f` with `common` as every call's second
    /// argument; each result's key is `(input, common)`, as for `run(f, (input, common))`.
    pub fn with_common<C>(
        fs: Stash,
        name: String,
        f: impl Fn(I, C) -> R + Send + Sync + 'static,
        inputs: impl IntoIterator<Item = I>,
        common: C,
    ) -> Self
    where
        C: Serialize + Clone + fmt::Debug + Send + Sync + 'static,
    {
        let label = format!("{common:?}");
        let common = Arc::new(common);
        let c = common.clone();
        let call: CallFn<I, R> = Arc::new(move |i| f(i, (*c).clone()));
        let c = common.clone();
        let key: KeyFn<I> = Arc::new(move |fs: &Stash, i: &I| fs.encode_key(&(i, &*c)));
        let map_key: MapKeyFn<I> = Box::new(move |s: &Stash, all: &[I]| s.encode_key(&(all, &*common)));
        Self::build(fs, name, call, key, map_key, Some(label), inputs)
    }

    fn build(
        fs: Stash,
        name: String,
        call: CallFn<I, R>,
        key: KeyFn<I>,
        map_key: MapKeyFn<I>,
        common: Option<String>,
        inputs: impl IntoIterator<Item = I>,
    ) -> Self {
        MapBuilder {
            fs,
            name,
            call,
            key,
            map_key,
            common,
            inputs: inputs.into_iter().collect(),
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            ordered: true,
            force: false,
            progress: true,
            force_progress: false,
            desc: None,
            preload: true,
            precompute: true,
            stash_runs: true,
            stash_map: false,
            batch_size: 100,
            batch_interval: Duration::from_millis(250),
            wait: DEFAULT_WAIT,
        }
    }

    /// Worker threads (default: the machine's parallelism).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Yield results in input order (default) or as they complete.
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    /// Recompute every input and overwrite stored results (and the stored map).
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// A progress bar on stderr (default on). It is drawn only when stderr is
    /// a terminal, unless [`force_progress`](MapBuilder::force_progress).
    pub fn progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    /// Draw the progress bar even when stderr is not a terminal.
    pub fn force_progress(mut self, force: bool) -> Self {
        self.force_progress = force;
        self
    }

    /// The progress bar's text (default `Mapping <fn> across <n> objects [<threads>x]`).
    pub fn desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = Some(desc.into());
        self
    }

    /// Look every input's stored result up in `start()` (default on), so stored
    /// results are there at once and only missing inputs reach the workers.
    /// Off: the workers look up each input before computing it.
    pub fn preload(mut self, preload: bool) -> Self {
        self.preload = preload;
        self
    }

    /// Start the workers in `start()` (default on). Off: they start when a
    /// result is first asked for (`results_iter`, `get`, `wait`, ...).
    pub fn precompute(mut self, precompute: bool) -> Self {
        self.precompute = precompute;
        self
    }

    /// Look up and store each input's result in the function stash (default
    /// on). Off: every input is computed and nothing is stored per input.
    pub fn stash_runs(mut self, stash_runs: bool) -> Self {
        self.stash_runs = stash_runs;
        self
    }

    /// Also store the whole list of results, keyed by every input (and the
    /// common argument), in the function stash's `stashed_map` sub-stash; a
    /// later map of the same inputs then reads one entry (default off, unlike
    /// the Python library: it stores every result twice). Stored once every
    /// result is in and all are `Ok` (and, for a function returning `Result`,
    /// none is an `Err`).
    pub fn stash_map(mut self, stash_map: bool) -> Self {
        self.stash_map = stash_map;
        self
    }

    /// On persistent engines, results are written in batches (one transaction
    /// on engines that have them) of up to `size` results or every `interval`,
    /// whichever comes first, so a crash loses at most one batch (default 100
    /// and 250 ms; `size` 1 writes each result at once). A result is yielded
    /// only once its batch is written. Results waiting in a batch are not
    /// visible to `run` calls outside the map, which may compute them again.
    pub fn batch(mut self, size: usize, interval: Duration) -> Self {
        self.batch_size = size.max(1);
        self.batch_interval = interval;
        self
    }

    /// How long a worker waits for another caller (thread, process or
    /// machine) computing the same input before computing it too (default
    /// [`DEFAULT_WAIT`], 60 s). A timeout costs a duplicate computation,
    /// never a hang.
    pub fn wait_timeout(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Starts the map and returns at once: stored results are looked up
    /// (`preload`), the workers start on the rest (`precompute`).
    pub fn start(self) -> StashMap<I, R> {
        let n = self.inputs.len();
        let threads = self.threads.min(n.max(1));
        let desc = self.desc.clone().unwrap_or_else(|| {
            let par = if threads > 1 { format!(" [{threads}x]") } else { String::new() };
            format!("Mapping {} across {n} objects{par}", self.name)
        });
        let bar = if !self.progress {
            ProgressBar::hidden()
        } else {
            let target = if self.force_progress || std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            };
            let bar = ProgressBar::with_draw_target(Some(n as u64), target).with_message(desc);
            if let Ok(style) =
                ProgressStyle::with_template("{msg}: {percent:>3}%|{bar:20}| {pos}/{len} [{elapsed}<{eta}]")
            {
                bar.set_style(style);
            }
            bar
        };
        let inputs = Arc::new(self.inputs);
        let map_stash =
            if self.stash_map { Some(open_map_stash(&self.fs, &self.map_key, &inputs)) } else { None };
        let mut map = StashMap {
            inputs,
            slots: (0..n).map(|_| None).collect(),
            ready: VecDeque::new(),
            next: 0,
            filled: 0,
            ordered: self.ordered,
            rx: None,
            launch: None,
            bar,
            name: self.name,
            common: self.common,
            whole: None,
            computed: false,
        };
        // The whole map, stored by an earlier run.
        if let Some(Ok((ms, key))) = &map_stash
            && !self.force
        {
            match lookup::<Vec<R>>(ms, key, true) {
                Ok(Some(all)) if all.len() == n => {
                    for (i, v) in all.into_iter().enumerate() {
                        map.fill(i, Ok(v));
                    }
                    return map;
                }
                Ok(_) => {}
                Err(e) => {
                    for i in 0..n {
                        map.fill(i, Err(e.clone()));
                    }
                    return map;
                }
            }
        }
        map.whole = map_stash;
        let mut todo = Vec::with_capacity(n);
        let preloaded = self.preload && self.stash_runs && !self.force;
        for i in 0..n {
            if preloaded {
                match (self.key)(&self.fs, &map.inputs[i])
                    .map_err(Error::from)
                    .and_then(|k| lookup_result(&self.fs, &k, true))
                {
                    Ok(Some(v)) => map.fill(i, Ok(v)),
                    Ok(None) => todo.push(i),
                    Err(e) => map.fill(i, Err(e)),
                }
            } else {
                todo.push(i);
            }
        }
        if todo.is_empty() {
            return map;
        }
        map.computed = true;
        let (tx, rx) = channel();
        map.rx = Some(rx);
        let batched = self.stash_runs && self.batch_size > 1 && self.fs.engine().capabilities().persistent;
        let work = Work {
            fs: self.fs,
            name: map.name.clone(),
            call: self.call,
            key: self.key,
            inputs: map.inputs.clone(),
            todo: Arc::new(todo),
            cursor: Arc::new(AtomicUsize::new(0)),
            force: self.force,
            preloaded,
            wait: self.wait,
            stash_runs: self.stash_runs,
            bar: map.bar.clone(),
        };
        let (batch_size, interval) = (self.batch_size, self.batch_interval);
        let launch = move || {
            let to_writer = if batched {
                let (wtx, wrx) = channel();
                let (fs, out, bar) = (work.fs.clone(), tx.clone(), work.bar.clone());
                std::thread::spawn(move || writer(fs, wrx, out, bar, batch_size, interval));
                Some(wtx)
            } else {
                None
            };
            for _ in 0..threads {
                let (work, tx, wtx) = (work.clone(), tx.clone(), to_writer.clone());
                std::thread::spawn(move || work.run(tx, wtx));
            }
        };
        if self.precompute {
            launch();
        } else {
            map.launch = Some(Box::new(launch));
        }
        map
    }

    /// Starts and waits for every result, in input order. The outer error:
    /// storing the whole map (`stash_map`) failed.
    pub fn results(self) -> Result<Vec<Result<R>>> {
        self.ordered(true).start().results()
    }
}

impl<I, T, E> MapBuilder<I, std::result::Result<T, E>>
where
    I: Serialize + Clone + Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
    E: Serialize + DeserializeOwned + fmt::Display + Send + 'static,
{
    /// For a function returning `Result`: starts, waits, and returns one
    /// outcome per input in input order, each error the function returned as
    /// [`Error::Failed`] (see [`StashMap::try_results`]).
    pub fn try_results(self) -> Result<Vec<Result<T>>> {
        self.ordered(true).start().try_results()
    }
}

fn open_map_stash<I>(fs: &Stash, map_key: &MapKeyFn<I>, inputs: &[I]) -> Result<(Stash, EncodedKey)> {
    let ms = sub_stash_at(fs, MAPS_DIR.to_string())?;
    let key = map_key(&ms, inputs)?;
    Ok((ms, key))
}

/// A computed result on its way to the batch writer.
struct Pending<R> {
    index: usize,
    key: EncodedKey,
    bytes: Vec<u8>,
    value: R,
}

/// What each worker thread shares.
struct Work<I, R> {
    fs: Stash,
    name: String,
    call: CallFn<I, R>,
    key: KeyFn<I>,
    inputs: Arc<Vec<I>>,
    todo: Arc<Vec<usize>>,
    cursor: Arc<AtomicUsize>,
    force: bool,
    /// Whether `start()` looked every input up already (and counted the misses).
    preloaded: bool,
    wait: Duration,
    stash_runs: bool,
    bar: ProgressBar,
}

impl<I, R> Clone for Work<I, R> {
    fn clone(&self) -> Self {
        Work {
            fs: self.fs.clone(),
            name: self.name.clone(),
            call: self.call.clone(),
            key: self.key.clone(),
            inputs: self.inputs.clone(),
            todo: self.todo.clone(),
            cursor: self.cursor.clone(),
            force: self.force,
            preloaded: self.preloaded,
            wait: self.wait,
            stash_runs: self.stash_runs,
            bar: self.bar.clone(),
        }
    }
}

type Done<R> = (usize, Result<R>);

impl<I, R> Work<I, R>
where
    I: Serialize + Clone,
    R: Serialize + DeserializeOwned,
{
    fn run(self, tx: Sender<Done<R>>, to_writer: Option<Sender<Pending<R>>>) {
        while let Some(&i) = self.todo.get(self.cursor.fetch_add(1, Ordering::Relaxed)) {
            let out =
                catch_unwind(AssertUnwindSafe(|| self.one(i, to_writer.is_some()))).unwrap_or_else(|p| {
                    Err(Error::Panicked { call: format!("{}(#{i})", self.name), message: panic_message(&*p) })
                });
            let sent = match (out, &to_writer) {
                (Ok(Step::Store(key, bytes, value)), Some(w)) => {
                    w.send(Pending { index: i, key, bytes, value }).is_ok()
                }
                (Ok(Step::Store(_, _, value) | Step::Done(value)), _) => {
                    self.bar.inc(1);
                    tx.send((i, Ok(value))).is_ok()
                }
                (Err(e), _) => {
                    self.bar.inc(1);
                    tx.send((i, Err(e))).is_ok()
                }
            };
            if !sent {
                break;
            }
        }
    }

    /// One input: its stored result, or computed (and stored, or handed to the
    /// writer; an `Err` of a function returning `Result` is not stored).
    fn one(&self, i: usize, batched: bool) -> Result<Step<R>> {
        let input = self.inputs[i].clone();
        if !self.stash_runs {
            return Ok(Step::Done((self.call)(input)));
        }
        let fs = &self.fs;
        let key = (self.key)(fs, &input)?;
        get_or_compute(
            &self.name,
            fs,
            &key,
            self.force,
            !self.preloaded,
            self.wait,
            |count| Ok(lookup_result(fs, &key, count)?.map(Step::Done)),
            || {
                let value = (self.call)(input);
                if is_err(&value) {
                    return Ok(Step::Done(value));
                }
                if batched {
                    let bytes = fs.encode_value(&value)?;
                    return Ok(Step::Store(key.clone(), bytes, value));
                }
                store(fs, &key, &value)?;
                Ok(Step::Done(value))
            },
        )
    }
}

enum Step<R> {
    Done(R),
    Store(EncodedKey, Vec<u8>, R),
}

/// Writes computed results in batches, then passes them on.
fn writer<R>(
    fs: Stash,
    rx: Receiver<Pending<R>>,
    out: Sender<Done<R>>,
    bar: ProgressBar,
    size: usize,
    interval: Duration,
) {
    let mut batch: Vec<Pending<R>> = Vec::with_capacity(size);
    let mut since = Instant::now();
    loop {
        let wait = interval.saturating_sub(since.elapsed());
        let closed = match rx.recv_timeout(if batch.is_empty() { interval } else { wait }) {
            Ok(p) => {
                if batch.is_empty() {
                    since = Instant::now();
                }
                batch.push(p);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if !batch.is_empty() && (closed || batch.len() >= size || since.elapsed() >= interval) {
            // The stash's own write path: its TTL, statistics and bounds.
            let written =
                fs.set_encoded_many(batch.iter().map(|p| (&p.key, p.bytes.as_slice()))).map_err(Error::from);
            for p in batch.drain(..) {
                bar.inc(1);
                let r = match &written {
                    Ok(_) => Ok(p.value),
                    Err(e) => Err(e.clone()),
                };
                if out.send((p.index, r)).is_err() {
                    return;
                }
            }
        }
        if closed {
            return;
        }
    }
}

/// A running (or finished) map: results stream in as workers finish.
///
/// `Display` shows each call and its result so far, as the Python library:
/// `StashMap([StashMapRun(my_crate::f("cat") >>> ?), ...])`.
pub struct StashMap<I, R> {
    inputs: Arc<Vec<I>>,
    slots: Vec<Option<Result<R>>>,
    /// Filled slots not yet yielded by an unordered `results_iter`.
    ready: VecDeque<usize>,
    /// The next slot an ordered `results_iter` yields.
    next: usize,
    filled: usize,
    ordered: bool,
    rx: Option<Receiver<Done<R>>>,
    launch: Option<Box<dyn FnOnce() + Send>>,
    bar: ProgressBar,
    name: String,
    common: Option<String>,
    /// `stash_map`: where to store the whole map once it is complete.
    whole: Option<Result<(Stash, EncodedKey)>>,
    /// Whether any input was computed (or looked up by the workers).
    computed: bool,
}

impl<I, R> StashMap<I, R> {
    /// How many inputs.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there were no inputs.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// How many results are in.
    pub fn num_done(&self) -> usize {
        self.filled
    }

    /// Whether every result is in.
    pub fn finished(&self) -> bool {
        self.filled == self.slots.len()
    }

    fn fill(&mut self, i: usize, r: Result<R>) {
        if self.slots[i].is_none() {
            self.filled += 1;
        }
        self.slots[i] = Some(r);
        self.ready.push_back(i);
        if self.finished() {
            self.bar.finish();
        }
    }

    /// Waits for the next result; false when every result is in.
    fn receive(&mut self) -> bool {
        if self.finished() {
            return false;
        }
        if let Some(launch) = self.launch.take() {
            launch();
        }
        match self.rx.as_ref().map(Receiver::recv) {
            Some(Ok((i, r))) => {
                self.fill(i, r);
                true
            }
            // Workers only stop early when the map is dropped.
            _ => false,
        }
    }

    /// The result of input `i`, waiting for it; `None` past the end.
    pub fn get(&mut self, i: usize) -> Option<&Result<R>> {
        while i < self.slots.len() && self.slots[i].is_none() && self.receive() {}
        self.slots.get(i)?.as_ref()
    }

    /// The inputs, in order (Python's `keys()`: each call's arguments).
    pub fn keys(&self) -> impl Iterator<Item = &I> {
        self.inputs.iter()
    }

    /// Stores the whole map (`stash_map`) once: only if something was computed and all are `Ok`.
    fn store_whole(&mut self) -> Result<()>
    where
        R: Serialize,
    {
        let Some(whole) = self.whole.take() else { return Ok(()) };
        let (ms, key) = whole?;
        if !self.computed {
            return Ok(());
        }
        let mut all = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            match slot {
                // An `Err` of a function returning `Result` is not stored, nor a map holding one.
                Some(Ok(v)) if is_err(v) => return Ok(()),
                Some(Ok(v)) => all.push(v),
                // A failed input: the map is not complete, do not store it.
                _ => return Ok(()),
            }
        }
        store(&ms, &key, &all)
    }

    /// Waits for every result; then stores the whole map when `stash_map`
    /// is on (the error: that failed).
    pub fn wait(&mut self) -> Result<()>
    where
        R: Serialize,
    {
        while self.receive() {}
        self.store_whole()
    }

    /// Waits for every result, then yields `(input, result)` in input order.
    pub fn items(&mut self) -> Result<impl Iterator<Item = (&I, &Result<R>)>>
    where
        R: Serialize,
    {
        self.wait()?;
        Ok(self.inputs.iter().zip(self.slots.iter().flatten()))
    }

    /// Waits for every result, then yields them in input order.
    pub fn values(&mut self) -> Result<impl Iterator<Item = &Result<R>>>
    where
        R: Serialize,
    {
        self.wait()?;
        Ok(self.slots.iter().flatten())
    }

    /// Streams results (each once over all calls): in input order, or as
    /// they complete when the map is not `ordered`. The map keeps them (for
    /// `items`, `get`, `Display`), so they are cloned. With `stash_map`, the
    /// whole map is stored after the last result; if that fails, one more
    /// item, the error, is yielded.
    pub fn results_iter(&mut self) -> impl Iterator<Item = Result<R>> + '_
    where
        R: Clone + Serialize,
    {
        let mut stored = false;
        std::iter::from_fn(move || {
            let i = if self.ordered {
                while self.next < self.slots.len() && self.slots[self.next].is_none() {
                    if !self.receive() {
                        break;
                    }
                }
                let i = self.next;
                self.next += 1;
                i
            } else {
                loop {
                    if let Some(i) = self.ready.pop_front() {
                        break i;
                    }
                    if !self.receive() {
                        break usize::MAX;
                    }
                }
            };
            if let Some(Some(r)) = self.slots.get(i) {
                return Some(r.clone());
            }
            if !stored {
                stored = true;
                if let Err(e) = self.store_whole() {
                    return Some(Err(e));
                }
            }
            None
        })
    }

    /// Waits for every result and returns them in input order. The outer
    /// error: storing the whole map (`stash_map`) failed.
    pub fn results(mut self) -> Result<Vec<Result<R>>>
    where
        R: Serialize,
    {
        self.wait()?;
        Ok(self.slots.into_iter().flatten().collect())
    }
}

impl<I, T, E: fmt::Display> StashMap<I, std::result::Result<T, E>> {
    /// For a function returning `Result`: waits for every result and returns
    /// one outcome per input, in input order, with each error the function
    /// returned as [`Error::Failed`] (the call, `name(#index)`, and the
    /// error's text) beside panics and stash errors. Only `Ok` values were
    /// stored, so a later map computes the failed inputs again. The outer
    /// error: storing the whole map (`stash_map`) failed.
    pub fn try_results(self) -> Result<Vec<Result<T>>>
    where
        T: Serialize,
        E: Serialize,
    {
        let name = self.name.clone();
        let all = self.results()?;
        Ok(all
            .into_iter()
            .enumerate()
            .map(|(i, r)| match r {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(Error::Failed { call: format!("{name}(#{i})"), message: e.to_string() }),
                Err(e) => Err(e),
            })
            .collect())
    }
}

impl<I: fmt::Debug, R: fmt::Debug> fmt::Display for StashMap<I, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StashMap([")?;
        for (i, (input, slot)) in self.inputs.iter().zip(&self.slots).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "StashMapRun({}({input:?}", self.name)?;
            if let Some(c) = &self.common {
                write!(f, ", {c}")?;
            }
            f.write_str(") >>> ")?;
            match slot {
                None => f.write_str("?")?,
                Some(Ok(v)) => f.write_str(&clean(&format!("{v:?}")))?,
                Some(Err(e)) => write!(f, "error: {}", clean(&e.to_string()))?,
            }
            f.write_str(")")?;
        }
        f.write_str("])")
    }
}

impl<I: fmt::Debug, R: fmt::Debug> fmt::Debug for StashMap<I, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One line, single spaces, at most 50 characters (as the Python library).
fn clean(s: &str) -> String {
    let one: Vec<&str> = s.split_whitespace().collect();
    one.join(" ").chars().take(50).collect()
}
