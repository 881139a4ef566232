//! Redis-specific checks: namespaces, binary safety, expiry, round trips,
//! concurrent appends through separate pools, and faults.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stash_core::clock::now_micros;
use stash_core::testkit::service_url;
use stash_core::{Digest, Engine, ErrorKind, LockAttempt, Put, Stash, StashConfig, WriteOptions};
use stash_engine_redis::{RedisEngine, RedisOptions, namespace};

fn config(root: &Path, dbname: &str, url: &str) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "redis".into();
    config.root_dir = root.to_path_buf();
    config.dbname = dbname.into();
    config.url = Some(url.into());
    config
}

fn open(options: &RedisOptions, cfg: StashConfig) -> Stash {
    Stash::open(cfg, Arc::new(options.clone())).expect("open stash")
}

fn engine(options: &RedisOptions, cfg: &StashConfig) -> Arc<RedisEngine> {
    options.open_engine(&cfg.engine_context(options).unwrap()).expect("open engine")
}

/// Every Redis key whose name starts with `prefix`, on a standalone server.
fn server_keys(url: &str, prefix: &str) -> Vec<Vec<u8>> {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    let pattern = format!("{}*", prefix.replace('[', "\\[").replace('?', "\\?").replace('*', "\\*"));
    redis::cmd("KEYS").arg(pattern).query(&mut con).unwrap()
}

#[test]
fn namespaces_are_isolated() {
    let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
    let root = tempfile::tempdir().unwrap();
    let options = RedisOptions::new();
    let a = open(&options, config(root.path(), "a", &url));
    let b = open(&options, config(root.path(), "b", &url));
    a.set("k", "a").unwrap();
    b.set("k", "b").unwrap();
    assert_eq!(a.get::<_, String>("k").unwrap().as_deref(), Some("a"));
    assert_eq!(b.get::<_, String>("k").unwrap().as_deref(), Some("b"));

    let ns_a = namespace(&a.config().logical_name());
    let ns_b = namespace(&b.config().logical_name());
    assert_ne!(ns_a, ns_b);
    assert!(ns_a.contains("redis.hashstash."), "{ns_a}");
    let prefix_a = format!("hs:{{{ns_a}}}:");
    let prefix_b = format!("hs:{{{ns_b}}}:");
    assert_eq!(server_keys(&url, &prefix_a).len(), 2, "one entry and the `all` index");
    a.clear().unwrap();
    assert!(server_keys(&url, &prefix_a).is_empty(), "clear leaves nothing of its namespace");
    assert_eq!(server_keys(&url, &prefix_b).len(), 2, "and touches no other");
    assert_eq!(b.get::<_, String>("k").unwrap().as_deref(), Some("b"));
    b.clear().unwrap();
}

#[test]
fn keys_and_values_are_binary_safe() {
    let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), "bin", &url);
    let e = engine(&RedisOptions::new(), &cfg);
    let key: Vec<u8> = b"\0\r\n{}*?[]\xff\xfe key".to_vec();
    let value: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let digest = Digest([0xab; 16]);
    e.put(&digest, &key, &value, WriteOptions::REPLACE).unwrap();
    assert_eq!(e.get(&digest, &key).unwrap(), Some(value.clone()));
    let records: Vec<_> = e.scan().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, key);
    assert_eq!(records[0].value, value);
    assert_eq!(records[0].digest, digest);
    // Stored as they are: the entry's value field is exactly the value bytes (no base64).
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let entry = [format!("hs:{{{}}}:e:", e.namespace()).as_bytes(), digest.as_bytes()].concat();
    let raw: Vec<u8> = redis::cmd("HGET").arg(&entry).arg("v").query(&mut con).unwrap();
    assert_eq!(raw, value);
    // A key differing in one byte is a mismatch, never the stored value.
    let mut other = key.clone();
    other[0] = 1;
    assert_eq!(e.get(&digest, &other).unwrap_err().kind(), ErrorKind::Corrupt);
    e.clear().unwrap();
}

#[test]
fn expiry_is_kept_by_the_index() {
    let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), "exp", &url);
    let e = engine(&RedisOptions::new(), &cfg);
    let soon = WriteOptions::REPLACE.expiring_at(Some(now_micros() + 300_000));
    let past = WriteOptions::REPLACE.expiring_at(Some(now_micros() - 1));
    e.put(&Digest([1; 16]), b"soon", b"1", soon).unwrap();
    e.put(&Digest([2; 16]), b"past", b"2", past).unwrap();
    e.put(&Digest([3; 16]), b"never", b"3", WriteOptions::REPLACE).unwrap();
    assert_eq!(e.len().unwrap(), 2);
    assert_eq!(e.get(&Digest([2; 16]), b"past").unwrap(), None);
    assert!(!e.contains(&Digest([2; 16]), b"past").unwrap());
    assert_eq!(e.scan().unwrap().count(), 2);
    assert_eq!(e.scan_keys().unwrap().count(), 2);
    assert_eq!(e.scan_meta().unwrap().count(), 3, "metadata still reports expired entries");
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(e.len().unwrap(), 1);
    assert_eq!(e.get(&Digest([1; 16]), b"soon").unwrap(), None);
    assert_eq!(e.versions(&Digest([1; 16]), b"soon").unwrap(), None);
    // Rewriting without expiry makes an entry permanent again.
    e.put(&Digest([1; 16]), b"soon", b"again", WriteOptions::REPLACE).unwrap();
    assert_eq!(e.len().unwrap(), 2);
    // Deleting an expired entry removes it but reports it absent.
    assert!(!e.delete(&Digest([2; 16]), b"past").unwrap());
    assert_eq!(e.scan_meta().unwrap().count(), 2);
    let metas: Vec<_> = e.scan_meta().unwrap().collect::<Result<_, _>>().unwrap();
    assert!(metas.iter().all(|m| m.expires_at_micros.is_none() && m.versions == 1));
    e.clear().unwrap();
    assert_eq!(e.len().unwrap(), 0);
}

#[test]
fn update_pipelines_round_trips() {
    let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
    let root = tempfile::tempdir().unwrap();
    let options = RedisOptions::new();
    let s = open(&options, config(root.path(), "trips", &url));
    let value = "v".repeat(600);
    let before = options.round_trips();
    assert_eq!(s.update((0..5000).map(|i| (i, value.as_str()))).unwrap(), 5000);
    let batched = options.round_trips() - before;
    let before = options.round_trips();
    for i in 5000..10000 {
        s.set(&i, &value).unwrap();
    }
    let single = options.round_trips() - before;
    assert_eq!(s.len().unwrap(), 10000);
    eprintln!("update of 5,000: {batched} round trips; 5,000 sets: {single} ({}x)", single / batched.max(1));
    assert!(batched * 10 <= single, "update took {batched} round trips, per-item sets {single}");
    s.clear().unwrap();
}

#[test]
fn appends_from_separate_pools_lose_nothing() {
    let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), "appends", &url);
    // Separate options: separate pools, as separate processes would have.
    let stashes: Vec<Stash> = (0..4).map(|_| open(&RedisOptions::new(), cfg.clone())).collect();
    std::thread::scope(|scope| {
        for (t, s) in stashes.iter().enumerate() {
            scope.spawn(move || {
                for i in 0..50 {
                    s.set_with("shared", &format!("{t}:{i}"), WriteOptions::APPEND).unwrap();
                }
            });
        }
    });
    let all = stashes[0].get_all_with_metadata::<_, String>("shared").unwrap();
    assert_eq!(all.len(), 200);
    assert!(all.windows(2).all(|w| w[0].written_at < w[1].written_at), "versions are in time order");
    for t in 0..4 {
        let mine: Vec<_> = all.iter().filter(|v| v.value.starts_with(&format!("{t}:"))).collect();
        let expected: Vec<String> = (0..50).map(|i| format!("{t}:{i}")).collect();
        assert_eq!(mine.iter().map(|v| v.value.clone()).collect::<Vec<_>>(), expected);
    }
    let meta: Vec<_> = stashes[0].engine().scan_meta().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(meta[0].versions, 200);
    assert_eq!(
        meta[0].value_bytes,
        all.iter().map(|v| stashes[0].encode_value(&v.value).unwrap().len() as u64).sum::<u64>()
    );
    stashes[0].clear().unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

#[test]
fn a_server_that_is_not_running_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let options = RedisOptions::new().connect_timeout(Duration::from_secs(2));
    let err = Stash::open(config(root.path(), "gone", &url), Arc::new(options)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert_eq!(err.context_value("url"), Some(url.as_str()), "{err}");
    assert!(err.to_string().contains("cannot connect"), "{err}");

    let secret = format!("redis://user:hunter2@127.0.0.1:{}/0", free_port());
    let err = Stash::open(config(root.path(), "gone", &secret), Arc::new(RedisOptions::new())).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let err =
        Stash::open(config(root.path(), "bad", "http://nope"), Arc::new(RedisOptions::new())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

/// A private redis-server with an append-only file, run as a child process.
struct Server {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Server {
    fn start(port: u16, dir: tempfile::TempDir) -> Server {
        Server::start_with(port, dir, &[])
    }

    /// A server with extra configuration (`--user ...`): then it is only
    /// checked to be listening, as a ping would need the password.
    fn start_with(port: u16, dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install -y redis-server)");
        let server = Server { port, dir, child: Some(child) };
        if !extra.is_empty() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server on port {port} does not listen");
                std::thread::sleep(Duration::from_millis(50));
            }
            return server;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !server.answers() {
            assert!(Instant::now() < deadline, "redis-server on port {port} does not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn answers(&self) -> bool {
        redis::Client::open(self.url().as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    /// Shuts the server down (the append-only file is complete) and waits for it to exit.
    fn stop(mut self) -> tempfile::TempDir {
        if let Ok(mut con) = redis::Client::open(self.url().as_str()).and_then(|c| c.get_connection()) {
            let _ = redis::cmd("SHUTDOWN").query::<()>(&mut con);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_restarted_server_is_reconnected_to() {
    // Needs the redis-server binary, which `cargo xtask services up` installs.
    if service_url("HASHSTASH_REDIS_URL").is_none() {
        return;
    }
    let port = free_port();
    let server = Server::start(port, tempfile::tempdir().unwrap());
    let root = tempfile::tempdir().unwrap();
    let options = RedisOptions::new().connect_timeout(Duration::from_secs(1));
    let s = open(&options, config(root.path(), "restart", &server.url()));
    // Several threads, so the pool keeps several connections that all die with the server.
    std::thread::scope(|scope| {
        for t in 0..4 {
            let s = s.clone();
            scope.spawn(move || {
                for i in 0..50 {
                    s.set(&(t, i), &i).unwrap();
                }
            });
        }
    });
    s.set_with("log", "before", WriteOptions::APPEND).unwrap();
    let dir = server.stop();

    // While it is down: a clear Backend error naming the server.
    let err = s.get::<_, i32>(&(0, 1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert_eq!(err.context_value("url"), Some(server_url(port).as_str()), "{err}");

    let server = Server::start(port, dir);
    // Same stash, same engine: the data written before the restart is there.
    assert_eq!(s.get::<_, i32>(&(3, 49)).unwrap(), Some(49));
    assert_eq!(s.len().unwrap(), 201);
    s.set_with("log", "after", WriteOptions::APPEND).unwrap();
    assert_eq!(s.get_all::<_, String>("log").unwrap(), ["before", "after"]);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let s = s.clone();
            scope.spawn(move || assert_eq!(s.get::<_, i32>(&(2, 7)).unwrap(), Some(7)));
        }
    });
    drop(server);
}

/// Whether `redis-server` can be run here: tests that stop, freeze or
/// restart a server start a private one. Missing, they are skipped with a
/// message, unless `HASHSTASH_REQUIRE_SERVICES` is set (CI), where they fail.
fn redis_server_installed() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file()));
    if !found {
        assert!(
            std::env::var_os(stash_core::testkit::REQUIRE_SERVICES_ENV).is_none(),
            "redis-server is not installed but HASHSTASH_REQUIRE_SERVICES is set"
        );
        eprintln!("skipped: redis-server is not installed (apt-get install -y redis-server)");
    }
    found
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
}

/// A server that stops answering (frozen, as by a long pause or a network
/// partition) fails a pipelined write within about one response timeout per
/// attempt. The `redis` crate read one reply per pipelined command, each
/// waiting out the timeout: an `update` of 2,000 entries (two pipelines of
/// 1,024) took 2 x 1,024 timeouts per attempt, hours with the defaults.
#[test]
fn a_frozen_server_fails_a_pipeline_within_its_timeout() {
    if !redis_server_installed() {
        return;
    }
    let server = Server::start(free_port(), tempfile::tempdir().unwrap());
    let root = tempfile::tempdir().unwrap();
    let timeout = Duration::from_millis(500);
    let options = RedisOptions::new().connect_timeout(timeout).response_timeout(timeout);
    let s = open(&options, config(root.path(), "frozen", &server.url()));
    s.update((0..2_000).map(|i| (i, i))).unwrap();
    let pid = server.child.as_ref().map(Child::id).expect("the server runs");
    signal(pid, "STOP");
    let (sent, done) = std::sync::mpsc::channel();
    let writer = s.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let written = writer.update((0..2_000).map(|i| (i, i + 1)));
        let _ = sent.send((written, started.elapsed()));
    });
    // Two attempts (the retry on a new connection), each one timeout to read
    // a reply, plus connecting: about 1.5 s. The bound leaves room for a busy machine.
    let outcome = done.recv_timeout(Duration::from_secs(30));
    signal(pid, "CONT");
    let (written, took) = outcome.expect("the update still waits on the frozen server after 30 s");
    let err = written.expect_err("a frozen server cannot acknowledge a write");
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.to_string().contains("did not answer in time"), "{err}");
    assert!(took < Duration::from_secs(10), "failed after {took:?}");
    // Thawed, the server takes writes again (the timed-out connections were dropped).
    s.update((0..2_000).map(|i| (i, i + 2))).unwrap();
    assert_eq!(s.get::<_, i32>(&1_999).unwrap(), Some(2_001));
    drop(server);
}

fn server_url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/0")
}

#[test]
fn put_many_checks_every_key() {
    let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), "many", &url);
    let e = engine(&RedisOptions::new(), &cfg);
    e.put(&Digest([9; 16]), b"owner", b"x", WriteOptions::REPLACE).unwrap();
    let items = [
        Put { digest: Digest([8; 16]), key: b"fine", value: b"1" },
        Put { digest: Digest([9; 16]), key: b"intruder", value: b"2" },
    ];
    let err = e.put_many(&items, WriteOptions::REPLACE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(e.get(&Digest([9; 16]), b"owner").unwrap().as_deref(), Some(b"x".as_slice()));
    e.clear().unwrap();
}

#[test]
fn cluster_stash_lives_in_one_slot() {
    let Some(url) = service_url("HASHSTASH_REDIS_CLUSTER_URL") else { return };
    let root = tempfile::tempdir().unwrap();
    let options = RedisOptions::new().url(url);
    let stashes: Vec<Stash> =
        (0..6).map(|i| open(&options, config(root.path(), &format!("c{i}"), ""))).collect();
    for (i, s) in stashes.iter().enumerate() {
        s.update((0..600).map(|k| (k, i))).unwrap();
    }
    for (i, s) in stashes.iter().enumerate() {
        assert_eq!(s.len().unwrap(), 600);
        assert_eq!(s.get::<_, usize>(&599).unwrap(), Some(i));
        assert_eq!(s.keys::<i32>().unwrap().count(), 600);
        s.clear().unwrap();
        assert!(s.is_empty().unwrap());
    }
}

/// The Redis hash of `key`'s entry in `stash` (named as the engine names it).
fn entry_key(stash: &Stash, key: &str) -> Vec<u8> {
    let digest = stash.encode_key(key).unwrap().digest;
    [format!("hs:{{{}}}:e:", namespace(&stash.config().logical_name())).as_bytes(), digest.as_bytes()]
        .concat()
}

/// A stored version count or size that lies (planted on the server) is a
/// `Corrupt` error naming the digest: it never sizes an allocation (`n = 1e14`
/// used to abort the process, `1e18` to panic, `-1` to overflow), and every
/// other key stays readable.
#[test]
fn lying_counts_are_corrupt_not_allocations() {
    let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
    let root = tempfile::tempdir().unwrap();
    let s = open(&RedisOptions::new(), config(root.path(), "lying", &url));
    s.set("victim", "v").unwrap();
    s.set("bystander", "b").unwrap();
    let digest = s.encode_key("victim").unwrap().digest.to_string();
    let entry = entry_key(&s, "victim");
    let mut con = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    let lies = ["100000000000000", "1000000000000000000", "-1", "9223372036854775807", "3", "1e3", "x"];
    for n in lies {
        let () = redis::cmd("HSET").arg(&entry).arg("n").arg(n).query(&mut con).unwrap();
        let err = s.get_all::<_, String>("victim").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "n = {n}: {err}");
        assert_eq!(err.context_value("digest"), Some(digest.as_str()), "n = {n}: {err}");
        // The metadata scan reports the damaged entry and goes on with the others.
        let metas: Vec<_> = s.engine().scan_meta().unwrap().collect();
        assert_eq!(metas.len(), 2, "n = {n}");
        let bad: Vec<_> = metas.iter().filter_map(|m| m.as_ref().err()).collect();
        assert_eq!(bad.len(), 1, "n = {n}");
        assert_eq!(bad[0].kind(), ErrorKind::Corrupt, "n = {n}: {}", bad[0]);
        assert_eq!(bad[0].context_value("digest"), Some(digest.as_str()));
        assert_eq!(s.get::<_, String>("bystander").unwrap().as_deref(), Some("b"));
        let _ = s.stats();
        let _ = s.prune(stash_core::Prune::expired());
    }
    // A value size that no version count can explain.
    let () = redis::cmd("HSET").arg(&entry).arg("n").arg("0").arg("b").arg("-5").query(&mut con).unwrap();
    assert_eq!(s.get::<_, String>("victim").unwrap().as_deref(), Some("v"), "the value itself is intact");
    let metas: Vec<_> = s.engine().scan_meta().unwrap().collect();
    assert_eq!(metas.iter().filter(|m| m.is_err()).count(), 1);
    // Rewriting the key repairs it.
    s.set("victim", "again").unwrap();
    assert_eq!(s.get_all::<_, String>("victim").unwrap(), ["again"]);
    assert!(s.engine().scan_meta().unwrap().all(|m| m.is_ok()));
    s.clear().unwrap();
}

/// A pool of one connection serves many threads in turn (they wait for it,
/// within the checkout timeout); a pool of none is refused.
#[test]
fn a_pool_of_one_serves_many_threads() {
    let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
    let root = tempfile::tempdir().unwrap();
    let options = RedisOptions::new().max_connections(1).checkout_timeout(Duration::from_secs(20));
    let s = open(&options, config(root.path(), "pool1", &url));
    std::thread::scope(|scope| {
        for t in 0..6 {
            let s = s.clone();
            scope.spawn(move || {
                for i in 0..20 {
                    s.set(&(t, i), &i).unwrap();
                    assert_eq!(s.get::<_, i32>(&(t, i)).unwrap(), Some(i));
                }
            });
        }
    });
    assert_eq!(s.len().unwrap(), 120);
    s.clear().unwrap();
    let err =
        Stash::open(config(root.path(), "pool0", &url), Arc::new(RedisOptions::new().max_connections(0)))
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

/// Set in a child run of this test binary by `relative_roots_share_across_homes`.
const SHARE_ROLE: &str = "HASHSTASH_TEST_SHARE_ROLE";

/// The stash the two children of `relative_roots_share_across_homes` open:
/// a relative root, so it resolves under each child's own home folder.
fn shared_config(url: &str, dbname: &str) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "redis".into();
    config.root_dir = "team_root".into();
    config.dbname = dbname.into();
    config.url = Some(url.into());
    config
}

/// Not a test by itself: the body of the child processes of
/// `relative_roots_share_across_homes` (does nothing unless [`SHARE_ROLE`] is set).
#[test]
fn share_child() {
    let Ok(role) = std::env::var(SHARE_ROLE) else { return };
    let var = |name: &str| std::env::var(name).unwrap();
    let cfg = shared_config(&var("HASHSTASH_TEST_SHARE_URL"), &var("HASHSTASH_TEST_SHARE_DB"));
    let s = Stash::open(cfg, Arc::new(RedisOptions::new())).unwrap();
    println!("\nDATA PATH {}", s.path().display());
    let token = var("HASHSTASH_TEST_SHARE_TOKEN");
    match role.as_str() {
        "write" => s.set("greeting", &token).unwrap(),
        _ => assert_eq!(s.get::<_, String>("greeting").unwrap(), Some(token)),
    }
}

/// Runs `share_child` in a new process with its own home and working folder.
fn run_child(role: &str, url: &str, dbname: &str, token: &str, home: &Path) -> String {
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = stash_core::testkit::child_test("share_child")
        .current_dir(&work)
        .env(SHARE_ROLE, role)
        .env("HASHSTASH_TEST_SHARE_URL", url)
        .env("HASHSTASH_TEST_SHARE_DB", dbname)
        .env("HASHSTASH_TEST_SHARE_TOKEN", token)
        .env("HOME", home)
        .env_remove(stash_core::config::ROOT_DIR_ENV)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{role} child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let path = stdout.lines().find_map(|l| l.split_once("DATA PATH ").map(|(_, p)| p));
    path.unwrap_or_else(|| panic!("the child names its path:\n{stdout}")).to_string()
}

/// Two processes with different home folders and working folders, opening a
/// stash with the same relative root and dbname, share its entries (on a
/// standalone server and on a cluster), although their local paths differ.
#[test]
fn relative_roots_share_across_homes() {
    for var in ["HASHSTASH_REDIS_URL", "HASHSTASH_REDIS_CLUSTER_URL"] {
        let Some(url) = service_url(var) else { return };
        let homes = tempfile::tempdir().unwrap();
        let dbname = format!("share-{}-{}", std::process::id(), now_micros());
        let token = format!("hello from {dbname}");
        let written = run_child("write", &url, &dbname, &token, &homes.path().join("alice"));
        let read = run_child("read", &url, &dbname, &token, &homes.path().join("bob"));
        assert_ne!(written, read, "the two stashes live at different local paths");
        assert!(written.starts_with(homes.path().to_str().unwrap()), "{written}");
        // And this process (a third home) sees it too.
        let here = Stash::open(shared_config(&url, &dbname), Arc::new(RedisOptions::new())).unwrap();
        assert_eq!(here.get::<_, String>("greeting").unwrap(), Some(token));
        here.clear().unwrap();
    }
}

/// An explicit namespace is shared whatever the root and dbname; stashes whose
/// serializer, compressor or encoding differ never share one.
#[test]
fn explicit_namespaces_share_and_formats_never_do() {
    let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let team = format!("team-cache-{}-{}", std::process::id(), now_micros());
    let named = |root: &Path, dbname: &str| {
        let mut config = config(root, dbname, &url);
        config.namespace = Some(team.clone());
        config.compress = stash_core::Compression::Raw;
        config
    };
    let options = RedisOptions::new();
    let a = open(&options, named(one.path(), "a"));
    let b = open(&options, named(two.path(), "b"));
    assert_eq!(namespace(&a.config().logical_name()), namespace(&b.config().logical_name()));
    a.set("k", "shared").unwrap();
    assert_eq!(b.get::<_, String>("k").unwrap().as_deref(), Some("shared"));

    let variants = [
        {
            let mut config = named(one.path(), "a");
            config.serializer = stash_core::Format::Json;
            config
        },
        {
            let mut config = named(one.path(), "a");
            config.serializer = stash_core::Format::Msgpack;
            config
        },
        {
            let mut config = named(one.path(), "a");
            config.b64 = true;
            config
        },
        {
            let mut config = named(one.path(), "a");
            config.namespace = Some(format!("{team}-other"));
            config
        },
        {
            let mut config = named(one.path(), "a");
            config.namespace = None;
            config
        },
    ];
    let mut seen = vec![namespace(&a.config().logical_name())];
    for cfg in variants {
        let ns = namespace(&cfg.logical_name());
        assert!(!seen.contains(&ns), "{ns} is shared by {cfg:?}");
        seen.push(ns);
        let other = open(&options, cfg);
        assert!(other.is_empty().unwrap(), "{other:?} sees another format's entries");
    }
    a.clear().unwrap();
    assert!(b.is_empty().unwrap());
}

/// Everything `Debug`, `Display` and the source chain of `err` show.
fn shown_error(err: &stash_core::Error) -> String {
    let mut out = format!("{err}\n{err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        out.push_str(&format!("\n{e}\n{e:?}"));
        source = e.source();
    }
    out
}

/// No password shows in an error of a refused or malformed URL (user
/// password, `?pass=` of unix sockets, a cluster seed list), nor in the
/// `Debug` of the options.
#[test]
fn passwords_never_show_in_errors_or_options() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let urls = [
        "redis://admin:s3cr3t@127.0.0.1:1/0".to_string(),
        format!("redis://admin:s3cr3t@127.0.0.1:{port}/0"),
        format!("redis://:s3cr3t@127.0.0.1:{port}"),
        format!("redis+cluster://admin:s3cr3t@127.0.0.1:{port},127.0.0.1:{}", free_port()),
        "redis+unix:///nonexistent/redis.sock?db=0&pass=s3cr3t".to_string(),
        "unix:///nonexistent/redis.sock?password=s3cr3t".to_string(),
        "redis://admin:s3cr3t@127.0.0.1:notaport/0".to_string(),
        "redis://admin:s3cr3t@/0".to_string(),
        "redis://admin:s3cr3t%zz@127.0.0.1:1/0".to_string(),
        "redis://admin:s3cr3t:x@127.0.0.1:1/0".to_string(),
    ];
    for url in &urls {
        let options = RedisOptions::new().url(url).connect_timeout(Duration::from_secs(2));
        let shown = format!("{options:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        let err = Stash::open(config(root.path(), "secret", url), Arc::new(options)).unwrap_err();
        let shown = shown_error(&err);
        assert!(!shown.contains("s3cr3t"), "{url}: {shown}");
        assert!(err.context_value("url").is_some_and(|u| u.contains("***")), "{url}: {shown}");
    }
}

/// A stash on a server that wants a password: its `Debug`, `Display`, its
/// engine's and configuration's `Debug`, and its errors never show it.
#[test]
fn passwords_never_show_for_an_open_stash() {
    // Needs the redis-server binary, which `cargo xtask services up` installs.
    if service_url("HASHSTASH_REDIS_URL").is_none() {
        return;
    }
    let port = free_port();
    let server = Server::start_with(
        port,
        tempfile::tempdir().unwrap(),
        &["--user", "default", "off", "--user", "admin", "on", ">s3cr3t", "~*", "&*", "+@all"],
    );
    let url = format!("redis://admin:s3cr3t@127.0.0.1:{port}/0");
    let root = tempfile::tempdir().unwrap();
    let s = open(
        &RedisOptions::new().connect_timeout(Duration::from_secs(1)),
        config(root.path(), "secret", &url),
    );
    s.set("k", "v").unwrap();
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("v"));
    for shown in [format!("{s:?}"), format!("{s}"), format!("{:?}", s.engine()), format!("{:?}", s.config())]
    {
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
    assert!(format!("{:?}", s.engine()).contains("admin:***@"));
    // Without the password the server refuses us.
    let anonymous = format!("redis://127.0.0.1:{port}/0");
    assert!(
        Stash::open(config(root.path(), "anonymous", &anonymous), Arc::new(RedisOptions::new())).is_err()
    );
    drop(server); // killed: the stash's next operation fails
    let err = s.get::<_, String>("k").unwrap_err();
    let shown = shown_error(&err);
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(err.context_value("url").is_some_and(|u| u.contains("admin:***@")), "{shown}");
}

/// The newest write time the metadata scan reports for `key`.
fn seen_written_at(s: &Stash, key: &str) -> i64 {
    let k = s.encode_key(key).unwrap();
    let metas: Vec<_> = s.engine().scan_meta().unwrap().collect::<Result<_, _>>().unwrap();
    metas.iter().find(|m| m.digest == k.digest).expect("listed").written_at_micros
}

/// `delete_unless_rewritten` removes an entry only if its newest write is the
/// one a scan saw (expired ones too, reporting them removed), never one
/// written again since; a slot holding another key is an error.
fn delete_unless_rewritten_contract(s: &Stash) {
    let e = s.engine();
    s.set("k", "first").unwrap();
    let seen = seen_written_at(s, "k");
    s.set("k", "second").unwrap();
    let k = s.encode_key("k").unwrap();
    assert!(!e.delete_unless_rewritten(&k.digest, &k.bytes, seen).unwrap(), "written again since the scan");
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("second"));
    s.set_with("k", "third", WriteOptions::APPEND).unwrap();
    let newest = seen_written_at(s, "k");
    assert!(!e.delete_unless_rewritten(&k.digest, &k.bytes, newest - 1).unwrap());
    assert!(
        e.delete_unless_rewritten(&k.digest, &k.bytes, newest).unwrap(),
        "the version seen is the newest"
    );
    assert_eq!(s.get::<_, String>("k").unwrap(), None);
    assert!(!e.delete_unless_rewritten(&k.digest, &k.bytes, newest).unwrap(), "nothing left to remove");

    // An expired entry is removed (and reported removed, so prune counts it).
    let gone = s.encode_key("expired").unwrap();
    let past = WriteOptions::REPLACE.expiring_at(Some(now_micros() - 1));
    e.put(&gone.digest, &gone.bytes, b"x", past).unwrap();
    let seen = seen_written_at(s, "expired");
    assert!(e.delete_unless_rewritten(&gone.digest, &gone.bytes, seen).unwrap());
    assert_eq!(e.scan_meta().unwrap().count(), 0);

    s.set("owner", "o").unwrap();
    let owner = s.encode_key("owner").unwrap();
    let err = e.delete_unless_rewritten(&owner.digest, b"intruder", i64::MAX).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(s.get::<_, String>("owner").unwrap().as_deref(), Some("o"));
    s.clear().unwrap();
}

/// Waits (polling, at most 20 s) until `try_lock` takes the lock.
fn take_when_free(s: &Stash, name: &Digest, lease: Duration) -> Box<dyn stash_core::HeldLock> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match s.engine().try_lock(name, lease).unwrap() {
            LockAttempt::Acquired(held) => return held,
            LockAttempt::Busy => assert!(Instant::now() < deadline, "the lock never came free"),
            other => panic!("a server engine locks on the server: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn attempt(s: &Stash, name: &Digest, lease: Duration) -> &'static str {
    match s.engine().try_lock(name, lease).unwrap() {
        LockAttempt::Acquired(_) => "acquired",
        LockAttempt::Busy => "busy",
        _ => "unsupported",
    }
}

/// `try_lock` through two handles with separate pools (as two machines would
/// have): one holder at a time, released on drop, an expired lease taken
/// over, and a stale holder's release never frees the new holder's lock.
fn lock_contract(a: &Stash, b: &Stash) {
    let long = Duration::from_secs(60);
    let name = Digest(*b"lock-contract-01");
    let held = match a.engine().try_lock(&name, long).unwrap() {
        LockAttempt::Acquired(held) => held,
        other => panic!("{other:?}"),
    };
    assert!(format!("{held:?}").contains("Lock"), "{held:?}");
    assert_eq!(attempt(b, &name, long), "busy");
    assert_eq!(attempt(a, &name, long), "busy", "not reentrant");
    let other = Digest(*b"lock-contract-02");
    assert_eq!(attempt(b, &other, long), "acquired", "names are independent");
    drop(held);
    let again = take_when_free(b, &name, long);
    assert_eq!(attempt(a, &name, long), "busy");
    drop(again);

    // A lease that runs out is taken over; the stale holder's drop leaves the new lock alone.
    let stale = take_when_free(a, &name, Duration::from_millis(1));
    let fresh = take_when_free(b, &name, long);
    drop(stale);
    assert_eq!(attempt(a, &name, long), "busy", "the stale holder released the new holder's lock");
    drop(fresh);
    drop(take_when_free(a, &name, long));
}

#[test]
fn delete_unless_rewritten_is_one_step() {
    for var in ["HASHSTASH_REDIS_URL", "HASHSTASH_REDIS_CLUSTER_URL"] {
        let Some(url) = service_url(var) else { return };
        let root = tempfile::tempdir().unwrap();
        delete_unless_rewritten_contract(&open(&RedisOptions::new(), config(root.path(), "dur", &url)));
    }
}

#[test]
fn locks_live_on_the_server() {
    for var in ["HASHSTASH_REDIS_URL", "HASHSTASH_REDIS_CLUSTER_URL"] {
        let Some(url) = service_url(var) else { return };
        let root = tempfile::tempdir().unwrap();
        let cfg = config(root.path(), &format!("locks-{}", now_micros()), &url);
        let a = open(&RedisOptions::new().max_connections(3), cfg.clone());
        let b = open(&RedisOptions::new().max_connections(4), cfg);
        lock_contract(&a, &b);
    }
}

/// `put_if_absent` through the engine: stores into an empty slot, leaves a
/// live entry alone, replaces an expired one (keeping the expiry index
/// right), refuses a slot holding another key, and of eight threads on two
/// handles (separate pools, as two machines would have) racing on a missing
/// key exactly one stores, and its value is the one kept.
fn put_if_absent_contract(a: &Stash, b: &Stash) {
    let e = a.engine();
    let k = a.encode_key("k").unwrap();
    assert!(e.put_if_absent(&k.digest, &k.bytes, b"first", WriteOptions::REPLACE).unwrap(), "absent");
    assert_eq!(e.get(&k.digest, &k.bytes).unwrap().as_deref(), Some(b"first".as_slice()));
    assert!(!e.put_if_absent(&k.digest, &k.bytes, b"second", WriteOptions::REPLACE).unwrap(), "present");
    assert!(!b.engine().put_if_absent(&k.digest, &k.bytes, b"third", WriteOptions::REPLACE).unwrap());
    assert_eq!(e.get(&k.digest, &k.bytes).unwrap().as_deref(), Some(b"first".as_slice()), "old value kept");
    assert_eq!(e.versions(&k.digest, &k.bytes).unwrap().map(|v| v.len()), Some(1));

    // An expired entry counts as absent: replaced, and no longer in the expiry index.
    let x = a.encode_key("expired").unwrap();
    let past = WriteOptions::REPLACE.expiring_at(Some(now_micros() - 1));
    e.put(&x.digest, &x.bytes, b"old", past).unwrap();
    assert_eq!(e.len().unwrap(), 1);
    assert!(
        e.put_if_absent(&x.digest, &x.bytes, b"new", WriteOptions::REPLACE).unwrap(),
        "expired is absent"
    );
    assert_eq!(e.get(&x.digest, &x.bytes).unwrap().as_deref(), Some(b"new".as_slice()));
    assert_eq!(e.len().unwrap(), 2, "the replaced entry left the expiry index");
    let metas: Vec<_> = e.scan_meta().unwrap().collect::<Result<_, _>>().unwrap();
    assert!(metas.iter().all(|m| m.expires_at_micros.is_none() && m.versions == 1), "{metas:?}");
    // A fresh entry with an expiry is counted out once it passes.
    let soon = a.encode_key("soon").unwrap();
    let gone = WriteOptions::REPLACE.expiring_at(Some(now_micros() - 1));
    assert!(e.put_if_absent(&soon.digest, &soon.bytes, b"s", gone).unwrap());
    assert_eq!(e.len().unwrap(), 2, "stored already expired: in the expiry index");
    assert!(!e.contains(&soon.digest, &soon.bytes).unwrap());

    // Another key in the slot is an error, and the owner stays.
    let err = e.put_if_absent(&k.digest, b"intruder", b"x", WriteOptions::REPLACE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(e.get(&k.digest, &k.bytes).unwrap().as_deref(), Some(b"first".as_slice()));

    for round in 0..20 {
        let key = a.encode_key(&format!("race-{round}")).unwrap();
        let barrier = std::sync::Barrier::new(8);
        let stored: Vec<(usize, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (stash, key, barrier) = (if i % 2 == 0 { a } else { b }, &key, &barrier);
                    scope.spawn(move || {
                        let value = format!("thread {i}");
                        barrier.wait();
                        let done = stash
                            .engine()
                            .put_if_absent(&key.digest, &key.bytes, value.as_bytes(), WriteOptions::REPLACE)
                            .unwrap();
                        (i, done)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = stored.iter().filter(|(_, done)| *done).map(|(i, _)| *i).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one stores, got {stored:?}");
        let kept = b.engine().get(&key.digest, &key.bytes).unwrap();
        assert_eq!(kept, Some(format!("thread {}", winners[0]).into_bytes()), "round {round}");
    }
    a.clear().unwrap();
}

#[test]
fn put_if_absent_is_one_step() {
    for var in ["HASHSTASH_REDIS_URL", "HASHSTASH_REDIS_CLUSTER_URL"] {
        let Some(url) = service_url(var) else { return };
        let root = tempfile::tempdir().unwrap();
        let cfg = config(root.path(), &format!("pia-{}", now_micros()), &url);
        let a = open(&RedisOptions::new().max_connections(4), cfg.clone());
        let b = open(&RedisOptions::new().max_connections(4), cfg);
        put_if_absent_contract(&a, &b);
    }
}

/// The engine's natively async operations (feature `async`).
#[cfg(feature = "async")]
mod asynchronous {
    use super::*;
    use std::task::{Context, Poll, Waker};

    /// Async writes read by the sync API and the reverse, on one engine: one
    /// layout. Each read is one round trip, a batch of 2,500 three pipelines.
    async fn layout_is_shared(url: &str) {
        let root = tempfile::tempdir().unwrap();
        let cfg = config(root.path(), &format!("async-{}", now_micros()), url);
        let options = RedisOptions::new();
        let e = engine(&options, &cfg);
        let a: &dyn stash_core::AsyncEngine = e.as_async().expect("the feature async makes the engine async");
        let (d1, d2) = (Digest([1; 16]), Digest([2; 16]));
        a.put(&d1, b"k1", b"async", WriteOptions::REPLACE).await.unwrap();
        assert_eq!(e.get(&d1, b"k1").unwrap().as_deref(), Some(b"async".as_slice()));
        e.put(&d2, b"k2", b"sync", WriteOptions::APPEND).unwrap();
        a.put(&d2, b"k2", b"async", WriteOptions::APPEND).await.unwrap();
        let versions = e.versions(&d2, b"k2").unwrap().unwrap();
        assert_eq!(
            versions.iter().map(|v| v.value.as_slice()).collect::<Vec<_>>(),
            [b"sync".as_slice(), b"async"]
        );
        let trips = e.round_trips();
        assert_eq!(a.get(&d2, b"k2").await.unwrap().as_deref(), Some(b"async".as_slice()));
        assert_eq!(e.round_trips() - trips, 1, "one round trip per read");
        assert!(a.contains(&d1, b"k1").await.unwrap());
        assert!(!a.contains(&Digest([3; 16]), b"k3").await.unwrap());
        // The key check: another key in the slot is an error, never its value.
        assert_eq!(a.get(&d1, b"other").await.unwrap_err().kind(), ErrorKind::Corrupt);

        let keys: Vec<(Digest, Vec<u8>)> = (0..2_500u32)
            .map(|i| (stash_core::DigestAlgo::Md5.digest(&i.to_be_bytes()), i.to_be_bytes().to_vec()))
            .collect();
        let items: Vec<Put<'_>> = keys.iter().map(|(d, k)| Put { digest: *d, key: k, value: k }).collect();
        let trips = e.round_trips();
        a.put_many(&items, WriteOptions::REPLACE).await.unwrap();
        assert_eq!(e.round_trips() - trips, 3, "2,500 writes in pipelines of 1,024");
        assert_eq!(e.len().unwrap(), 2_502);
        assert_eq!(a.len().await.unwrap(), 2_502);
        assert_eq!(
            e.get(&items[2_499].digest, items[2_499].key).unwrap().as_deref(),
            Some(items[2_499].value)
        );

        // Expiry is the stash's, as for the sync reads.
        let past = WriteOptions::REPLACE.expiring_at(Some(now_micros() - 1));
        a.put(&d1, b"k1", b"gone", past).await.unwrap();
        assert_eq!(a.get(&d1, b"k1").await.unwrap(), None);
        assert!(!a.delete(&d1, b"k1").await.unwrap(), "an expired entry is removed, not reported");
        assert!(a.delete(&d2, b"k2").await.unwrap());
        assert_eq!(e.get(&d2, b"k2").unwrap(), None);
        assert!(!a.is_empty().await.unwrap());
        e.clear().unwrap();
        assert!(a.is_empty().await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_and_sync_share_the_layout() {
        let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
        layout_is_shared(&url).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn async_and_sync_share_the_layout_on_a_cluster() {
        let Some(url) = service_url("HASHSTASH_REDIS_CLUSTER_URL") else { return };
        layout_is_shared(&url).await;
    }

    /// The async connection is made from the pool's client: `rediss://` with
    /// the test CA works, and the server's certificate is checked.
    #[tokio::test(flavor = "current_thread")]
    async fn tls_options_hold_for_async_connections() {
        let Some(url) = service_url("HASHSTASH_REDIS_TLS_URL") else { return };
        let ca = std::env::var("HASHSTASH_REDIS_TLS_CA_FILE").expect("the test CA with the TLS URL");
        layout_is_shared_tls(&url, &ca).await;
        if let Some(cluster) = service_url("HASHSTASH_REDIS_TLS_CLUSTER_URL") {
            layout_is_shared_tls(&cluster, &ca).await;
        }
    }

    async fn layout_is_shared_tls(url: &str, ca: &str) {
        let root = tempfile::tempdir().unwrap();
        let cfg = config(root.path(), &format!("async-tls-{}", now_micros()), url);
        let e = engine(&RedisOptions::new().tls_ca_file(ca), &cfg);
        let a = e.as_async().unwrap();
        let d = Digest([7; 16]);
        a.put(&d, b"k", b"over tls", WriteOptions::REPLACE).await.unwrap();
        assert_eq!(e.get(&d, b"k").unwrap().as_deref(), Some(b"over tls".as_slice()));
        assert_eq!(a.get(&d, b"k").await.unwrap().as_deref(), Some(b"over tls".as_slice()));
        e.clear().unwrap();
    }

    /// Outside a tokio runtime there is nothing to drive the connection: a clear error at once.
    #[test]
    fn outside_a_runtime_is_unsupported() {
        let Some(url) = service_url("HASHSTASH_REDIS_URL") else { return };
        let root = tempfile::tempdir().unwrap();
        let e = engine(&RedisOptions::new(), &config(root.path(), "async-no-runtime", &url));
        let mut read = e.as_async().unwrap().get(&Digest([1; 16]), b"k");
        match read.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Err(err)) => {
                assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
                assert!(err.to_string().contains("tokio runtime"), "{err}");
            }
            other => panic!("expected an error at once, got {:?}", other.map(|r| r.map(|_| ()))),
        }
    }

    /// A frozen server fails an async read within about its response timeout
    /// (two attempts), and a restarted one is reconnected to by the same engine.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_frozen_then_restarted_server() {
        if !redis_server_installed() {
            return;
        }
        let port = free_port();
        let server = Server::start(port, tempfile::tempdir().unwrap());
        let root = tempfile::tempdir().unwrap();
        let timeout = Duration::from_millis(500);
        let options = RedisOptions::new().connect_timeout(timeout).response_timeout(timeout);
        let e = engine(&options, &config(root.path(), "async-faults", &server.url()));
        let a = e.as_async().unwrap();
        let d = Digest([5; 16]);
        a.put(&d, b"k", b"before", WriteOptions::REPLACE).await.unwrap();

        let pid = server.child.as_ref().map(Child::id).expect("the server runs");
        signal(pid, "STOP");
        let started = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(30), a.get(&d, b"k")).await;
        signal(pid, "CONT");
        let err = outcome.expect("the read still waits on the frozen server after 30 s").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
        assert!(err.to_string().contains("did not answer in time"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10), "failed after {:?}", started.elapsed());

        let dir = server.stop();
        let err = a.get(&d, b"k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
        assert_eq!(err.context_value("url"), Some(server_url(port).as_str()), "{err}");
        let server = Server::start(port, dir);
        // The same engine, the same runtime's connection manager: reconnected.
        let mut read = a.get(&d, b"k").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while read.is_err() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            read = a.get(&d, b"k").await;
        }
        assert_eq!(read.unwrap().as_deref(), Some(b"before".as_slice()));
        drop(server);
    }
}
