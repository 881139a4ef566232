//! Expiry, bounded size with eviction, pruning, statistics and temporary stashes.
//!
//! `cargo run -p hashstash --example lifecycle`

use std::time::Duration;

use hashstash::{Eviction, HashStash, Prune, SetOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;

    // Time to live: for the whole stash, or for one `set`.
    let stash = HashStash::builder().root_dir(dir.path()).ttl(Duration::from_secs(3600)).open()?;
    stash.set("lives an hour", &1)?;
    stash.set_with("lives 50 ms", &2, SetOptions::new().ttl(Duration::from_millis(50)))?;
    assert_eq!(stash.len()?, 2);
    std::thread::sleep(Duration::from_millis(120));
    // Expired entries are invisible to get, contains, len and iteration.
    assert_eq!(stash.get::<_, i32>("lives 50 ms")?, None);
    assert_eq!(stash.len()?, 1);

    // Bounds: at most 100 entries; the least recently read ones go first.
    let bounded = HashStash::builder()
        .root_dir(dir.path())
        .dbname("bounded")
        .max_entries(100)
        .eviction(Eviction::LeastRecentlyRead)
        .open()?;
    bounded.set("kept: read often", "yes")?;
    for i in 0..500 {
        bounded.set(&i, &format!("value {i}"))?;
        bounded.get::<_, String>("kept: read often")?;
    }
    assert!(bounded.len()? <= 100);
    assert!(bounded.contains("kept: read often")?);
    let stats = bounded.stats()?;
    println!(
        "bounded: {} entries, {} hits, {} misses, {} evictions",
        stats.entries, stats.hits, stats.misses, stats.evictions
    );
    for (name, value) in stats.metrics() {
        println!("  {name} {value}");
    }

    // Prune: remove what is older than a bound; a dry run first says what would go.
    std::thread::sleep(Duration::from_millis(20));
    let report = bounded.prune(Prune::older_than(Duration::from_millis(10)).dry_run())?;
    println!("prune would remove {} entries ({} bytes)", report.len(), report.value_bytes);
    bounded.prune(Prune::older_than(Duration::from_millis(10)))?;
    assert!(bounded.is_empty()?);

    // A temporary stash: the same settings in a fresh folder, removed with its last handle.
    let folder = {
        let scratch = stash.tmp()?;
        scratch.set("intermediate", &vec![1, 2, 3])?;
        scratch.config().data_path()?
    };
    assert!(!folder.exists());
    println!("lifecycle: ok");
    Ok(())
}
