//! The server engines: Redis (standalone or cluster) and MongoDB, opened by URL.
//!
//! `HASHSTASH_REDIS_URL=redis://127.0.0.1:6379/0 HASHSTASH_MONGO_URL=mongodb://127.0.0.1:27017 \
//!  cargo run -p hashstash --features redis,mongo --example servers`
//!
//! `cargo xtask services up` starts both on loopback and prints the variables; a variable
//! that is not set skips its engine (and says so).

use hashstash::HashStash;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut ran = 0;
    for (engine, var) in [("redis", "HASHSTASH_REDIS_URL"), ("mongo", "HASHSTASH_MONGO_URL")] {
        let Ok(url) = std::env::var(var) else {
            println!("{engine}: skipped ({var} is not set)");
            continue;
        };
        // The URL is the stash's location; a password in it is never printed (shown as ***).
        let stash = HashStash::builder()
            .engine(engine)
            .url(url.as_str())
            .namespace(format!("hashstash-example-{}", std::process::id())) // a key prefix, a collection
            .clear(true)
            .open()?;
        println!("{engine}: {stash}");
        stash.set(&("bad", "good"), "cat")?;
        stash.update([("a", 1), ("b", 2)])?;
        assert_eq!(stash.get::<_, String>(&("bad", "good"))?.as_deref(), Some("cat"));
        assert_eq!(stash.len()?, 3);
        stash.clear()?;
        ran += 1;
    }
    println!("servers: ok ({ran} of 2 engines ran)");
    Ok(())
}
