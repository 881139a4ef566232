//! `rediss://`: the conformance suite against the TLS-only test server
//! (`HASHSTASH_REDIS_TLS_URL`) and cluster (`HASHSTASH_REDIS_TLS_CLUSTER_URL`),
//! trusting the test CA (`HASHSTASH_REDIS_TLS_CA_FILE`, made by `cargo xtask
//! services up`, whose folder also holds `server.*` and `client.*`
//! certificates and keys); certificate and host name checks; mutual TLS
//! against a server of the test's own that requires client certificates.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stash_core::testkit::service_url;
use stash_core::{ErrorKind, Stash, StashConfig};
use stash_engine_redis::{Redis, RedisOptions};

/// The test CA's certificate (the conformance suites need the variable only
/// when their URL is set, and then it is set too).
fn ca_file() -> PathBuf {
    PathBuf::from(std::env::var("HASHSTASH_REDIS_TLS_CA_FILE").unwrap_or_default())
}

/// Options pointing at the TLS test server, trusting the test CA.
pub fn tls_factory() -> RedisOptions {
    let url = std::env::var("HASHSTASH_REDIS_TLS_URL").unwrap_or_default();
    RedisOptions::new().url(url).tls_ca_file(ca_file())
}

/// Options pointing at the TLS test cluster, trusting the test CA.
pub fn tls_cluster_factory() -> RedisOptions {
    let url = std::env::var("HASHSTASH_REDIS_TLS_CLUSTER_URL").unwrap_or_default();
    RedisOptions::new().url(url).cluster(true).tls_ca_file(ca_file())
}

stash_core::conformance_suite!(requires "HASHSTASH_REDIS_TLS_URL", crate::tls_factory());

mod cluster {
    stash_core::conformance_suite!(requires "HASHSTASH_REDIS_TLS_CLUSTER_URL", crate::tls_cluster_factory());
}

fn config(root: &Path, dbname: &str, url: &str) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "redis".into();
    config.root_dir = root.to_path_buf();
    config.dbname = dbname.into();
    config.url = Some(url.into());
    config
}

/// `config` with the redis engine options `options` (`name`, `path`).
fn with_files(mut config: StashConfig, options: &[(&str, &Path)]) -> StashConfig {
    for (name, path) in options {
        config.engine_options.insert((*name).to_string(), path.display().to_string());
    }
    config
}

/// Everything `Display`, `Debug` and the source chain of `err` show.
fn shown_error(err: &stash_core::Error) -> String {
    let mut out = format!("{err}\n{err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        out.push_str(&format!("\n{e}\n{e:?}"));
        source = e.source();
    }
    out
}

/// The base64 body of a PEM file (what must never show in a message).
fn pem_body(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read PEM");
    text.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn some_pem_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read PEM");
    text.lines().find(|l| !l.starts_with("-----")).expect("a PEM body").to_string()
}

/// The private CA, through the engine options of the configuration (as a saved
/// configuration carries them), with the default factory: it connects, and the
/// options come back with the stash's configuration.
#[test]
fn the_ca_file_engine_option_trusts_a_private_ca() {
    let Some(url) = service_url("HASHSTASH_REDIS_TLS_URL") else { return };
    let root = tempfile::tempdir().unwrap();
    let cfg = with_files(config(root.path(), "ca-option", &url), &[("tls_ca_file", &ca_file())]);
    let s = Stash::open(cfg, Arc::new(Redis)).expect("open over TLS");
    s.set("k", "over tls").unwrap();
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("over tls"));
    assert_eq!(
        s.config().engine_options.get("tls_ca_file").map(String::as_str),
        Some(ca_file().display().to_string().as_str())
    );
    s.clear().unwrap();
}

/// Without the private CA the server's certificate is not trusted (the
/// system's store does not hold the test CA): opening fails, naming the
/// certificate problem.
#[test]
fn a_certificate_from_an_unknown_ca_is_refused() {
    for var in ["HASHSTASH_REDIS_TLS_URL", "HASHSTASH_REDIS_TLS_CLUSTER_URL"] {
        let Some(url) = service_url(var) else { return };
        let root = tempfile::tempdir().unwrap();
        let options = RedisOptions::new().connect_timeout(Duration::from_secs(2));
        let err = Stash::open(config(root.path(), "no-ca", &url), Arc::new(options)).unwrap_err();
        let shown = shown_error(&err);
        assert!(shown.to_lowercase().contains("certificate"), "{var}: {shown}");
        assert_ne!(err.kind(), ErrorKind::Config, "{var}: {shown}");

        // A password in the URL stays hidden in that error.
        let secret = url.replacen("://", "://admin:s3cr3t@", 1);
        let options = RedisOptions::new().connect_timeout(Duration::from_secs(2));
        let err = Stash::open(config(root.path(), "no-ca", &secret), Arc::new(options)).unwrap_err();
        let shown = shown_error(&err);
        assert!(!shown.contains("s3cr3t"), "{var}: {shown}");
        assert!(err.context_value("url").is_some_and(|u| u.contains("admin:***@")), "{var}: {shown}");

        // The server's own certificate is no CA: trusting it alone does not do either.
        let server_cert = ca_file().with_file_name("server.crt");
        let options = RedisOptions::new().connect_timeout(Duration::from_secs(2)).tls_ca_file(server_cert);
        assert!(Stash::open(config(root.path(), "wrong-ca", &url), Arc::new(options)).is_err(), "{var}");
    }
}

fn free_port(host: &str) -> u16 {
    TcpListener::bind((host, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A TLS-only redis-server of the test's own with the test certificates,
/// listening on 127.0.0.1 and 127.0.0.2; killed when dropped.
struct TlsServer {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    fn start(auth_clients: &str) -> TlsServer {
        let certs = ca_file().parent().expect("the certificates' folder").to_path_buf();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port("127.0.0.1");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "127.0.0.2"])
            .arg("--tls-cert-file")
            .arg(certs.join("server.crt"))
            .arg("--tls-key-file")
            .arg(certs.join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(certs.join("ca.crt"))
            .args(["--tls-auth-clients", auth_clients, "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server on port {port} does not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsServer { port, child, _dir: dir }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The certificate must name the host of the URL: 127.0.0.1 and `localhost`
/// are in it, 127.0.0.2 (the same server) is not.
#[test]
fn the_host_name_is_checked() {
    if service_url("HASHSTASH_REDIS_TLS_URL").is_none() {
        return;
    }
    let server = TlsServer::start("no");
    let root = tempfile::tempdir().unwrap();
    let options = RedisOptions::new().connect_timeout(Duration::from_secs(2)).tls_ca_file(ca_file());
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("rediss://{host}:{}/0", server.port);
        let s = Stash::open(config(root.path(), "host", &url), Arc::new(options.clone()))
            .unwrap_or_else(|e| panic!("{host}: {}", shown_error(&e)));
        s.set("k", host).unwrap();
        assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some(host));
    }
    let url = format!("rediss://127.0.0.2:{}/0", server.port);
    let err = Stash::open(config(root.path(), "host", &url), Arc::new(options)).unwrap_err();
    assert!(shown_error(&err).contains("127.0.0.2"), "{}", shown_error(&err));
    assert!(shown_error(&err).to_lowercase().contains("certificate"), "{}", shown_error(&err));
}

/// A server that requires client certificates refuses a client without one
/// and accepts the test client's (given as engine options, or in code); a
/// key that does not match its certificate is refused at open; no message
/// shows what the key or certificate files hold.
#[test]
fn mutual_tls_with_a_client_certificate() {
    if service_url("HASHSTASH_REDIS_TLS_URL").is_none() {
        return;
    }
    let server = TlsServer::start("yes");
    let url = format!("rediss://127.0.0.1:{}/0", server.port);
    let root = tempfile::tempdir().unwrap();
    let (cert, key) = (ca_file().with_file_name("client.crt"), ca_file().with_file_name("client.key"));
    let quick = || RedisOptions::new().connect_timeout(Duration::from_secs(2));

    let err = Stash::open(config(root.path(), "anonymous", &url), Arc::new(quick().tls_ca_file(ca_file())))
        .unwrap_err();
    assert_ne!(err.kind(), ErrorKind::Config, "{}", shown_error(&err));

    let ca = ca_file();
    let cfg = with_files(
        config(root.path(), "mtls", &url),
        &[("tls_ca_file", &ca), ("tls_cert_file", &cert), ("tls_key_file", &key)],
    );
    let s = Stash::open(cfg, Arc::new(Redis)).unwrap_or_else(|e| panic!("{}", shown_error(&e)));
    s.set("k", "mutual").unwrap();
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("mutual"));
    let shown = format!("{s:?}\n{:?}\n{:?}", s.engine(), s.config());
    for file in [&cert, &key] {
        assert!(!shown.contains(&some_pem_line(file)), "{shown}");
    }

    let in_code = quick().tls_ca_file(ca_file()).tls_client_cert(&cert, &key);
    let s = Stash::open(config(root.path(), "mtls", &url), Arc::new(in_code.clone())).unwrap();
    assert_eq!(s.get::<_, String>("k").unwrap().as_deref(), Some("mutual"));
    assert!(format!("{in_code:?}").contains("client.key"), "{in_code:?}");

    // The server's key with the client's certificate: they do not match.
    let server_key = ca_file().with_file_name("server.key");
    let mismatched = quick().tls_ca_file(ca_file()).tls_client_cert(&cert, &server_key);
    let err = Stash::open(config(root.path(), "mismatch", &url), Arc::new(mismatched)).unwrap_err();
    let shown = shown_error(&err);
    for file in [&cert, &server_key, &key] {
        assert!(!shown.contains(&some_pem_line(file)), "{shown}");
        assert!(!shown.contains(&pem_body(file)), "{shown}");
    }
}
