//! Every embedded engine, picked by name, with the same dictionary on each; engine
//! settings through an options type or by name.
//!
//! `cargo run -p hashstash --features lmdb,sqlite,sled --example engines`
//! (the server engines, redis and mongo: `--example servers`)

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashstash::HashStash;
use hashstash::lmdb::{Durability, LmdbOptions};
use hashstash::sqlite::SqliteOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    println!("engines compiled in: {:?}", hashstash::engines::available());

    for engine in ["pairtree", "memory", "lmdb", "sqlite", "sled"] {
        let stash = HashStash::builder().root_dir(dir.path()).engine(engine).compress("lz4").open()?;
        let start = Instant::now();
        // A batch writes in one transaction on engines that have them.
        let mut batch = stash.batch();
        for i in 0..1000u32 {
            batch.set(&i, &format!("value {i}"))?;
        }
        batch.commit()?;
        let written = start.elapsed();
        let start = Instant::now();
        for i in 0..1000u32 {
            assert_eq!(stash.get::<_, String>(&i)?, Some(format!("value {i}")));
        }
        println!(
            "{engine:>8}: 1000 writes in {:>9.3?}, 1000 reads in {:>9.3?}, stored at {}",
            written,
            start.elapsed(),
            stash.config().data_path()?.display()
        );
    }

    // Engine settings with the engine's options type...
    let relaxed = HashStash::builder()
        .root_dir(dir.path())
        .dbname("relaxed")
        .engine_factory(Arc::new(LmdbOptions::new().durability(Durability::Relaxed)))
        .open()?;
    relaxed.set("k", "v")?;
    // ...or by name; either way they are kept in the stash's configuration.
    let sqlite = HashStash::builder()
        .root_dir(dir.path())
        .dbname("patient")
        .engine_factory(Arc::new(SqliteOptions::new().busy_timeout(Duration::from_secs(30))))
        .open()?;
    let by_name = HashStash::builder()
        .root_dir(dir.path())
        .dbname("relaxed")
        .engine("lmdb")
        .engine_option("durability", "relaxed")
        .open()?;
    assert_eq!(by_name.get::<_, String>("k")?.as_deref(), Some("v"));
    println!("lmdb options: {:?}", relaxed.config().engine_options);
    println!("sqlite options: {:?}", sqlite.config().engine_options);

    // A name that is not compiled in is an error naming the feature, never a fallback.
    match HashStash::builder().root_dir(dir.path()).engine("no-such-engine").open() {
        Ok(_) => return Err("an unknown engine opened".into()),
        Err(e) => println!("unknown engine: {e}"),
    }
    println!("engines: ok");
    Ok(())
}
