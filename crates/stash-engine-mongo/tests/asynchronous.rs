//! The async stash (`stash-async`) on mongo with the engine's native async
//! I/O (feature `async`): the dictionary operations, a large value in
//! chunks, sync and async readers of one stash, many concurrent reads on a
//! current-thread runtime, and runtimes that come and go. Needs
//! `HASHSTASH_MONGO_URL` (`cargo xtask services up mongo`); a server that is
//! down then fails the tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};
use stash_async::{AsyncStash, AsyncStashExt};
use stash_core::testkit::service_url;
use stash_core::{DigestAlgo, Engine, ErrorKind, Put, Stash, StashConfig, WriteOptions};
use stash_engine_mongo::{INLINE_VALUE_BYTES, Mongo, MongoOptions, collection_name};

const VAR: &str = "HASHSTASH_MONGO_URL";

/// A stash of its own on the server (an empty collection no other test or run uses).
fn open(url: &str, name: &str) -> Stash {
    static N: AtomicUsize = AtomicUsize::new(0);
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    let mut config = StashConfig::default();
    config.engine = "mongo".into();
    config.root_dir = std::env::temp_dir().join("hashstash-mongo-tests");
    config.dbname =
        format!("async-{name}-{}-{stamp}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    config.url = Some(url.to_string());
    let stash = Stash::open(config, Arc::new(Mongo)).expect("open a mongo stash");
    assert!(stash.engine().as_async().is_some(), "the mongo engine offers its native async operations");
    stash
}

/// Runs `f` with the sync stash on tokio's blocking pool.
async fn sync<R: Send + 'static>(stash: &Stash, f: impl FnOnce(&Stash) -> R + Send + 'static) -> R {
    let stash = stash.clone();
    tokio::task::spawn_blocking(move || f(&stash)).await.expect("the sync call ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dictionary_operations_are_native_and_shared_with_the_sync_api() {
    let Some(url) = service_url(VAR) else { return };
    let stash = open(&url, "dict");
    let a = stash.asynchronous();
    assert_eq!(a.len().await.unwrap(), 0);
    assert!(a.is_empty().await.unwrap());
    a.set("cat", &"meow".to_string()).await.unwrap();
    assert_eq!(a.get::<_, String>("cat").await.unwrap().as_deref(), Some("meow"));
    assert!(a.contains("cat").await.unwrap());
    assert!(!a.contains("dog").await.unwrap());
    assert_eq!(a.get::<_, String>("dog").await.unwrap(), None);
    // Written by the async API, read by the sync one, and the other way round.
    assert_eq!(sync(&stash, |s| s.get::<_, String>("cat").unwrap()).await.as_deref(), Some("meow"));
    sync(&stash, |s| s.set("dog", &"woof".to_string()).unwrap()).await;
    assert_eq!(a.get::<_, String>("dog").await.unwrap().as_deref(), Some("woof"));
    assert_eq!(a.len().await.unwrap(), 2);
    // A second write replaces the first.
    a.set("cat", &"purr".to_string()).await.unwrap();
    assert_eq!(a.get::<_, String>("cat").await.unwrap().as_deref(), Some("purr"));
    assert_eq!(a.len().await.unwrap(), 2);
    // update: one batch of many entries.
    assert_eq!(a.update((0..600).map(|i| (i, i * 2))).await.unwrap(), 600);
    assert_eq!(a.len().await.unwrap(), 602);
    assert_eq!(a.get::<_, i64>(&599).await.unwrap(), Some(1198));
    assert_eq!(sync(&stash, |s| s.get::<_, i64>(&300).unwrap()).await, Some(600));
    // remove
    assert!(a.remove("cat").await.unwrap());
    assert!(!a.remove("cat").await.unwrap());
    assert!(!a.contains("cat").await.unwrap());
    assert!(!sync(&stash, |s| s.contains("cat").unwrap()).await);
    assert_eq!(a.len().await.unwrap(), 601);
    // setdefault stores once.
    assert_eq!(a.setdefault("bird", "tweet".to_string()).await.unwrap(), "tweet");
    assert_eq!(a.setdefault("bird", "chirp".to_string()).await.unwrap(), "tweet");
    a.clear().await.unwrap();
    assert_eq!(a.len().await.unwrap(), 0);
}

/// A value over the inline limit goes to chunk documents through the async
/// path too, in the sync path's layout: each API reads what the other wrote,
/// and removing the entry removes its chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_value_is_stored_in_chunks() {
    let Some(url) = service_url(VAR) else { return };
    let stash = open(&url, "large");
    let a = stash.asynchronous();
    // Incompressible (xorshift): a periodic pattern shrinks under lz4, the default
    // compressor whenever it is compiled in (as with --all-features), below the
    // inline limit, and was then stored without chunks.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let big: Vec<u8> = (0..INLINE_VALUE_BYTES * 2 + 12_345)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    a.set("big", &big).await.unwrap();
    let client = mongodb::Client::with_uri_str(&url).await.expect("a client");
    let name = collection_name(&stash.config().logical_name());
    let database = client.database("hashstash");
    let entries = database.collection::<Document>(&name);
    let chunks = database.collection::<Document>(&format!("{name}.chunks"));
    // The chunks the entry lists, all of them on the server (over 8 MiB: at least three).
    let listed = || async {
        let entry = entries.find_one(doc! {}).await.unwrap().expect("the entry's document");
        entry.get_array("chunk_ids").expect("chunk_ids").len() as u64
    };
    let first = listed().await;
    assert!(first >= 3, "{first} chunks");
    assert_eq!(chunks.count_documents(doc! {}).await.unwrap(), first);
    assert_eq!(a.get::<_, Vec<u8>>("big").await.unwrap().as_ref(), Some(&big));
    assert_eq!(sync(&stash, |s| s.get::<_, Vec<u8>>("big").unwrap()).await.as_ref(), Some(&big));
    // Replaced by the sync API with another large value, read back by the async one.
    let other: Vec<u8> = big.iter().rev().copied().collect();
    let written = other.clone();
    sync(&stash, move |s| s.set("big", &written).unwrap()).await;
    assert_eq!(a.get::<_, Vec<u8>>("big").await.unwrap().as_ref(), Some(&other));
    // The replaced value's chunks are gone.
    assert_eq!(chunks.count_documents(doc! {}).await.unwrap(), listed().await);
    assert!(a.remove("big").await.unwrap());
    assert_eq!(chunks.count_documents(doc! {}).await.unwrap(), 0, "a removed value leaves no chunk");
    assert_eq!(a.get::<_, Vec<u8>>("big").await.unwrap(), None);
}

/// Threads on the sync API and tasks on the async one read and write one
/// stash at the same time, each seeing the other's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_threads_and_async_tasks_share_a_stash() {
    let Some(url) = service_url(VAR) else { return };
    let stash = open(&url, "mixed");
    let a = stash.asynchronous();
    a.update((0..64).map(|i| (format!("async-{i}"), i))).await.unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let stash = stash.clone();
            std::thread::spawn(move || {
                for i in (t..64).step_by(4) {
                    assert_eq!(stash.get::<_, i64>(&format!("async-{i}")).unwrap(), Some(i));
                    stash.set(&format!("sync-{i}"), &(i * 10)).unwrap();
                }
            })
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64i64 {
        let a = a.clone();
        tasks.spawn(async move {
            assert_eq!(a.get::<_, i64>(&format!("async-{i}")).await.unwrap(), Some(i));
            // The sync writer's key: absent, or written with its value, never anything else.
            let seen = a.get::<_, i64>(&format!("sync-{i}")).await.unwrap();
            assert!(seen.is_none() || seen == Some(i * 10), "{seen:?}");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a reader task");
    }
    for thread in threads {
        thread.join().expect("a sync thread");
    }
    for i in 0..64i64 {
        assert_eq!(a.get::<_, i64>(&format!("sync-{i}")).await.unwrap(), Some(i * 10));
    }
    assert_eq!(a.len().await.unwrap(), 128);
}

/// Many gets in flight at once on the only thread of a current-thread
/// runtime whose only blocking thread is held the whole time: they (and
/// the writes before them) complete, so none went through `spawn_blocking`
/// and none blocked the thread (the driver's `block_on` would even panic
/// there). The control: a bounded stash's get, which takes the blocking
/// pool (its eviction is sync), waits for the held thread.
#[test]
fn many_concurrent_gets_need_no_blocking_thread() {
    let Some(url) = service_url(VAR) else { return };
    let stash = open(&url, "current");
    let mut bounded_config = open(&url, "bounded").config().clone();
    bounded_config.max_entries = Some(100_000);
    let bounded = Stash::open(bounded_config, Arc::new(Mongo)).expect("open a bounded mongo stash");
    assert!(bounded.engine().as_async().is_none(), "a bound evicts through sync calls");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holder = tokio::task::spawn_blocking(move || held.recv());
        let a = stash.asynchronous();
        let calls = async {
            a.update((0..200i64).map(|i| (i, format!("value {i}")))).await.unwrap();
            let mut tasks = tokio::task::JoinSet::new();
            for round in 0..5i64 {
                for i in 0..200i64 {
                    let a = a.clone();
                    tasks.spawn(async move {
                        let key = (i + round * 37) % 200;
                        (key, a.get::<_, String>(&key).await)
                    });
                }
            }
            let mut n = 0;
            while let Some(done) = tasks.join_next().await {
                let (key, value) = done.expect("a get task");
                assert_eq!(value.unwrap(), Some(format!("value {key}")));
                n += 1;
            }
            assert_eq!(n, 1000);
            assert!(a.contains(&7).await.unwrap());
            assert!(a.remove(&7).await.unwrap());
            assert_eq!(a.len().await.unwrap(), 199);
        };
        tokio::time::timeout(Duration::from_secs(120), calls)
            .await
            .expect("the calls waited for the blocking pool");
        let blocked = bounded.asynchronous();
        let waited = tokio::time::timeout(Duration::from_millis(500), blocked.get::<_, i64>(&1)).await;
        assert!(waited.is_err(), "a bounded stash's get ran without the blocking pool");
        release.send(()).expect("the holder waits");
        holder.await.expect("the holder").expect("released");
        assert_eq!(blocked.get::<_, i64>(&1).await.unwrap(), None);
    });
}

/// The engine's client is not bound to the runtime that first used it: a
/// stash opened on one runtime's thread keeps working from other runtimes
/// after that one has shut down (the driver spawns a client's monitors and
/// pools on the runtime current where it is made).
#[test]
fn the_client_outlives_the_runtimes_that_use_it() {
    let Some(url) = service_url(VAR) else { return };
    let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let first = runtime();
    let a: AsyncStash = first.block_on(async {
        let a = open(&url, "runtimes").asynchronous();
        a.set("k", &1).await.unwrap();
        a
    });
    drop(first);
    for round in 2..5 {
        runtime().block_on(async {
            assert_eq!(a.get::<_, i64>("k").await.unwrap(), Some(round - 1));
            a.set("k", &round).await.unwrap();
        });
    }
    assert_eq!(a.stash().get::<_, i64>("k").unwrap(), Some(4));
}

/// An engine opened by hand on a current-thread runtime's thread, with a
/// client of its own (counting commands: never shared): the driver would
/// spawn that client's monitors and pools on the caller's runtime, and the
/// engine would stop working once it shut down. They run on the engine's
/// runtime instead, so the engine's futures keep working from later runtimes.
#[test]
fn a_client_made_on_a_runtime_thread_outlives_that_runtime() {
    let Some(url) = service_url(VAR) else { return };
    let commands = Arc::new(AtomicU64::new(0));
    let options = MongoOptions::new().url(url.clone()).count_commands(commands.clone());
    let mut config = open(&url, "own-client").config().clone();
    config.dbname.push_str("-by-hand");
    let context = config.engine_context(&options).expect("an engine context");
    let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let first = runtime();
    let engine = first.block_on(async {
        let engine = options.open_engine(&context).expect("open the engine on a runtime thread");
        let key = b"key".as_slice();
        let digest = DigestAlgo::Md5.digest(key);
        let native = Engine::as_async(&engine).expect("native async operations");
        native.put(&digest, key, b"1", WriteOptions::REPLACE).await.unwrap();
        engine
    });
    drop(first);
    let before = commands.load(Ordering::Relaxed);
    runtime().block_on(async {
        let key = b"key".as_slice();
        let digest = DigestAlgo::Md5.digest(key);
        let native = Engine::as_async(&engine).expect("native async operations");
        assert_eq!(native.get(&digest, key).await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(native.len().await.unwrap(), 1);
    });
    assert!(commands.load(Ordering::Relaxed) >= before + 2, "the reads went through the engine's own client");
}

/// The engine's own futures, reached as the async stash reaches them
/// (`Engine::as_async` through the stash's life cycle layer), on a
/// current-thread runtime: every operation, the batch write, a key that
/// does not match its slot, and values read back by the sync engine.
#[tokio::test(flavor = "current_thread")]
async fn the_native_engine_operations() {
    let Some(url) = service_url(VAR) else { return };
    let stash = open(&url, "engine");
    let engine = stash.engine().as_async().expect("native async operations");
    let (cat, dog) = (stash.encode_key("cat").unwrap(), stash.encode_key("dog").unwrap());
    assert_eq!(engine.len().await.unwrap(), 0);
    assert!(engine.is_empty().await.unwrap());
    engine.put(&cat.digest, &cat.bytes, b"meow", WriteOptions::REPLACE).await.unwrap();
    assert_eq!(engine.get(&cat.digest, &cat.bytes).await.unwrap().as_deref(), Some(&b"meow"[..]));
    assert!(engine.contains(&cat.digest, &cat.bytes).await.unwrap());
    assert!(!engine.contains(&dog.digest, &dog.bytes).await.unwrap());
    assert_eq!(engine.get(&dog.digest, &dog.bytes).await.unwrap(), None);
    // Another key aimed at the cat's slot is a key mismatch, never the cat's value.
    let err = engine.get(&cat.digest, &dog.bytes).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let keys: Vec<_> = (0..300).map(|i| stash.encode_key(&i).unwrap()).collect();
    let values: Vec<Vec<u8>> = (0..300).map(|i| format!("v{i}").into_bytes()).collect();
    let items: Vec<Put<'_>> =
        keys.iter().zip(&values).map(|(k, v)| Put { digest: k.digest, key: &k.bytes, value: v }).collect();
    engine.put_many(&items, WriteOptions::REPLACE).await.unwrap();
    assert_eq!(engine.len().await.unwrap(), 301);
    assert_eq!(engine.get(&keys[299].digest, &keys[299].bytes).await.unwrap().as_deref(), Some(&b"v299"[..]));
    // The sync engine reads what the futures wrote (on a helper thread: this is a runtime's).
    assert_eq!(stash.engine().get(&keys[7].digest, &keys[7].bytes).unwrap().as_deref(), Some(&b"v7"[..]));
    assert!(engine.delete(&cat.digest, &cat.bytes).await.unwrap());
    assert!(!engine.delete(&cat.digest, &cat.bytes).await.unwrap());
    assert_eq!(engine.len().await.unwrap(), 300);
}

/// A TCP proxy to `target` (`host:port`) that stops passing bytes, both
/// ways, while `frozen` is set: a server that takes requests and never
/// answers, with its connections open.
fn freezable_proxy(target: String, frozen: Arc<AtomicBool>) -> std::net::SocketAddr {
    fn pipe(mut from: TcpStream, mut to: TcpStream, frozen: Arc<AtomicBool>) {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                while frozen.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(std::net::Shutdown::Both);
        });
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("a proxy port");
    let addr = listener.local_addr().expect("the proxy's address");
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(&target) else { continue };
            let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else { continue };
            pipe(client, server, frozen.clone());
            pipe(server2, client2, frozen.clone());
        }
    });
    addr
}

/// A server that stops answering (behind a proxy that holds every byte)
/// fails a call after the reply timeout, in both APIs, instead of leaving it
/// waiting for good (the driver has no reply timeout of its own); once it
/// answers again, so does the stash.
#[test]
fn a_server_that_stops_answering_fails_calls_after_the_reply_timeout() {
    let Some(url) = service_url(VAR) else { return };
    let target = url
        .trim_start_matches("mongodb://")
        .split(['/', '?'])
        .next()
        .and_then(|hosts| hosts.rsplit('@').next())
        .expect("host:port in the URL")
        .to_string();
    let frozen = Arc::new(AtomicBool::new(false));
    let proxy = freezable_proxy(target, frozen.clone());
    let reply = Duration::from_secs(2);
    let options =
        MongoOptions::new().url(format!("mongodb://{proxy}/?directConnection=true")).reply_timeout(reply);
    let config = open(&url, "frozen").config().clone();
    let stash = Stash::open(config, Arc::new(options)).expect("open through the proxy");
    stash.set("k", &1).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let a = stash.asynchronous();
    frozen.store(true, Ordering::Relaxed);
    let t = Instant::now();
    let err = stash.get::<_, i64>("k").unwrap_err();
    let sync_took = t.elapsed();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.to_string().contains("did not answer in time"), "{err}");
    let t = Instant::now();
    let err = runtime.block_on(a.get::<_, i64>("k")).unwrap_err();
    let async_took = t.elapsed();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    for took in [sync_took, async_took] {
        assert!(took >= reply && took < reply * 4, "failed after {took:?}, the reply timeout is {reply:?}");
    }
    frozen.store(false, Ordering::Relaxed);
    assert_eq!(runtime.block_on(a.get::<_, i64>("k")).unwrap(), Some(1));
    assert_eq!(stash.get::<_, i64>("k").unwrap(), Some(1));
}
