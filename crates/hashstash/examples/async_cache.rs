//! The async API (feature `async`): a request handler that caches a slow
//! computation, called by many tasks at once, and the dictionary awaited.
//!
//! `cargo run -p hashstash --features async --example async_cache`

use std::time::{Duration, Instant};

use hashstash::{AsyncStash, AsyncStashExt, HashStash};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Report {
    user: u64,
    score: f64,
}

/// The slow part of a request (a query, a model, another service).
async fn build_report(user: u64) -> Report {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Report { user, score: user as f64 / 2.0 }
}

/// The shape of an axum handler: `async fn report(State(cache), Path(user))`.
async fn report(cache: AsyncStash, user: u64) -> Result<Report, hashstash::func::Error> {
    cache.run_async(build_report, (user,)).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = HashStash::builder().root_dir(dir.path()).engine("pairtree").open()?.asynchronous();

    // 50 requests at once for one user: one computation, the others wait for it.
    let started = Instant::now();
    let requests: Vec<_> = (0..50).map(|_| tokio::spawn(report(cache.clone(), 7))).collect();
    let mut reports = Vec::new();
    for request in requests {
        reports.push(request.await??);
    }
    println!("{} requests answered in {:?} (one 200 ms computation)", reports.len(), started.elapsed());
    assert!(reports.iter().all(|r| r.score == 3.5));

    // Later requests are hits.
    let started = Instant::now();
    let again = report(cache.clone(), 7).await?;
    println!("a later request: {again:?} in {:?}", started.elapsed());

    // The dictionary, awaited; the sync handle sees the same entries.
    cache.set("greeting", "hello").await?;
    println!("get: {:?}", cache.get::<_, String>("greeting").await?);
    println!("sync handle: {:?}", cache.stash().get::<_, String>("greeting")?);
    println!("stats: {:?}", cache.stats().await?);
    Ok(())
}
