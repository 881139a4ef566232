//! A small loop of one read operation, for `valgrind --tool=callgrind`:
//! the stash's `get` / `items` and the same reads of the matrix's floors
//! (the raw engines and `cacache`), with the matrix's records and bytes.
//!
//! ```text
//! readpath <stash|raw|cacache> <get|iterate> <engine> <serializer> <compress> [n] [loops] [name=value ...]
//! valgrind --tool=callgrind --toggle-collect='*measured*' target/release/examples/readpath stash get memory hashstash lz4
//! ```
//!
//! Arguments after `loops` are engine options of the stash (`walk_threads=1`).
//! Only `measured` is collected by the toggle, so the fill is left out of the
//! counts; divide by `n * loops` for the instructions of one operation.

use std::hint::black_box;

use hashstash::HashStash;
use hashstash_benches::baseline::{RawBaseline, open_raw};
use hashstash_benches::matrix::payload::{pool, record_at};
use hashstash_benches::{Record, key};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let (who, op, engine, serializer, compress) =
        (arg(0, "stash"), arg(1, "get"), arg(2, "memory"), arg(3, "hashstash"), arg(4, "lz4"));
    let n: usize = arg(5, "2000").parse()?;
    let loops: usize = arg(6, "1").parse()?;
    let dir = tempfile::tempdir()?;
    let keys: Vec<String> = (0..n as u64).map(key).collect();
    let records = pool();
    let mut builder = HashStash::builder()
        .root_dir(dir.path().join("stash"))
        .engine(engine.as_str())
        .serializer(serializer.as_str())
        .compress(compress.as_str())
        .clear(true);
    for option in args.iter().skip(7) {
        let (name, value) = option.split_once('=').ok_or("an engine option is name=value")?;
        builder = builder.engine_option(name, value);
    }
    let stash = builder.open()?;
    let reader: Box<dyn Fn() -> Result<usize>> = match who.as_str() {
        "stash" => {
            for (i, k) in keys.iter().enumerate() {
                stash.set(k, record_at(records, i as u64))?;
            }
            stash.flush()?;
            let (stash, keys) = (stash.clone(), keys.clone());
            match op.as_str() {
                "get" => Box::new(move || {
                    for k in &keys {
                        black_box(stash.get::<_, Record>(k)?.ok_or("missing")?);
                    }
                    Ok(keys.len())
                }),
                _ => Box::new(move || {
                    let mut count = 0;
                    for item in stash.items::<String, Record>()? {
                        black_box(item?);
                        count += 1;
                    }
                    Ok(count)
                }),
            }
        }
        "raw" => {
            let raw: Box<dyn RawBaseline> = open_raw(&engine, dir.path())?;
            for (i, k) in keys.iter().enumerate() {
                raw.put(k, &stash.encode_value(record_at(records, i as u64))?)?;
            }
            raw.flush()?;
            let (stash, keys) = (stash.clone(), keys.clone());
            match op.as_str() {
                "get" => Box::new(move || {
                    for k in &keys {
                        let mut out = None;
                        raw.get(k, &mut |b| out = Some(stash.decode_value::<Record>(b)))?;
                        black_box(out.ok_or("missing")??);
                    }
                    Ok(keys.len())
                }),
                _ => Box::new(move || {
                    let mut failed = None;
                    let count = raw.for_each(&mut |b| {
                        if let Err(e) = stash.decode_value::<Record>(b).map(black_box) {
                            failed = Some(e);
                        }
                    })?;
                    failed.map_or(Ok(count), |e| Err(e.into()))
                }),
            }
        }
        "cacache" => {
            let root = dir.path().join("cacache");
            for (i, k) in keys.iter().enumerate() {
                cacache::write_sync(&root, k, stash.encode_value(record_at(records, i as u64))?)?;
            }
            let (stash, keys) = (stash.clone(), keys.clone());
            match op.as_str() {
                "get" => Box::new(move || {
                    for k in &keys {
                        black_box(stash.decode_value::<Record>(&cacache::read_sync(&root, k)?)?);
                    }
                    Ok(keys.len())
                }),
                _ => Box::new(move || {
                    let mut count = 0;
                    for entry in cacache::list_sync(&root) {
                        let entry = entry?;
                        black_box(
                            stash
                                .decode_value::<Record>(&cacache::read_hash_sync(&root, &entry.integrity)?)?,
                        );
                        count += 1;
                    }
                    Ok(count)
                }),
            }
        }
        other => return Err(format!("unknown reader {other}: stash, raw or cacache").into()),
    };
    // One untimed pass warms caches and the scratch buffers.
    reader()?;
    let (start, cpu_start) = (std::time::Instant::now(), cpu_seconds());
    let done = measured(&*reader, loops)?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds()
        .zip(cpu_start)
        .map(|(end, start)| format!(", {:.2} CPU s over {secs:.2} s", end - start));
    println!(
        "{who} {op} {engine} {serializer}+{compress}: {done} ops, {:.0} ops/s{}",
        done as f64 / secs,
        cpu.unwrap_or_default()
    );
    Ok(())
}

/// User and system CPU time of this process, every thread's (Linux: `/proc/self/stat`,
/// in clock ticks of 1/100 s), for the cost of reads that run on several threads.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which ends with the last ')': utime and stime are 14 and 15.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The collected part: `loops` passes of the reader.
#[inline(never)]
fn measured(reader: &dyn Fn() -> Result<usize>, loops: usize) -> Result<usize> {
    let mut done = 0;
    for _ in 0..loops {
        done += reader()?;
    }
    Ok(done)
}
