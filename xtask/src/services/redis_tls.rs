//! Redis over TLS for the tests: a TLS-only standalone server on
//! 127.0.0.1:6391 and a TLS-only three-master cluster on 127.0.0.1:7101–7103
//! (its bus over TLS too), nothing persisted, with certificates made here by
//! `openssl` at start: a CA of its own and one certificate for the servers
//! (valid for `127.0.0.1` and `localhost`, usable for server and client
//! authentication, as the cluster nodes are each other's clients). State
//! under `target/services/redis-tls/`, certificates in its `certs/` folder:
//! `ca.crt`, `server.crt`, `server.key`, and `client.crt` / `client.key` (a
//! client certificate of the same CA, for mutual TLS tests).
//!
//! The servers ask for client certificates but do not require them
//! (`--tls-auth-clients optional`), so the conformance suite connects with
//! the CA alone; a test wanting mutual TLS starts its own server with these
//! certificates and `--tls-auth-clients yes`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::Result;

const HOST: &str = "127.0.0.1";
const STANDALONE: u16 = 6391;
const CLUSTER: [u16; 3] = [7101, 7102, 7103];
const WAIT: Duration = Duration::from_secs(30);

/// Installs `redis-server` and `openssl` if missing, makes the certificates
/// (unless the servers already run with them), starts the servers, waits until
/// they answer and the cluster is ready; returns the URLs and the CA's path.
pub fn up(state: &Path) -> Result<Vec<(String, String)>> {
    super::redis::install()?;
    install_openssl()?;
    let certs = state.join("certs");
    let mut ports = vec![STANDALONE];
    ports.extend(CLUSTER);
    let reusable = certs.join("ca.crt").exists() && ports.iter().all(|p| answers(&certs, *p));
    if !reusable {
        // Servers left from an earlier run without their certificates are stopped, and all start afresh.
        down(state)?;
        std::fs::create_dir_all(&certs).map_err(|e| format!("cannot create {}: {e}", certs.display()))?;
        make_certificates(&certs)?;
        start(state, STANDALONE, &[])?;
        for port in CLUSTER {
            start(state, port, &["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])?;
        }
        for port in &ports {
            wait_for(&certs, *port)?;
        }
        let nodes: Vec<String> = CLUSTER.iter().map(|p| format!("{HOST}:{p}")).collect();
        let mut create = Command::new("redis-cli");
        create.args(tls_args(&certs)).arg("--cluster").arg("create").args(&nodes).args([
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ]);
        crate::run(&mut create)?;
    }
    let deadline = Instant::now() + WAIT;
    while !cluster_ok(&certs) {
        if Instant::now() > deadline {
            return Err(format!(
                "the TLS Redis cluster on {HOST}:{} is not ready after {WAIT:?}",
                CLUSTER[0]
            ));
        }
        sleep(Duration::from_millis(200));
    }
    let nodes: Vec<String> = CLUSTER.iter().map(|p| format!("{HOST}:{p}")).collect();
    Ok(vec![
        ("HASHSTASH_REDIS_TLS_URL".into(), format!("rediss://{HOST}:{STANDALONE}/0")),
        ("HASHSTASH_REDIS_TLS_CLUSTER_URL".into(), format!("rediss+cluster://{}", nodes.join(","))),
        ("HASHSTASH_REDIS_TLS_CA_FILE".into(), certs.join("ca.crt").display().to_string()),
    ])
}

/// Shuts every server down (without saving) and removes the state, certificates included.
pub fn down(state: &Path) -> Result {
    let certs = state.join("certs");
    let mut ports = vec![STANDALONE];
    ports.extend(CLUSTER);
    for port in &ports {
        if answers(&certs, *port) {
            let _ = cli(&certs, *port, &["shutdown", "nosave"]);
        }
    }
    // Whatever did not stop by itself (or could not be asked: certificates gone)
    // is stopped through its pid file.
    let deadline = Instant::now() + Duration::from_secs(10);
    for port in &ports {
        let pidfile = pid_file(state, *port);
        let Ok(pid) = std::fs::read_to_string(&pidfile) else { continue };
        let pid = pid.trim();
        // A pid file left from before a reboot may name another program now: only a redis-server is stopped.
        let alive = || {
            std::fs::read_to_string(Path::new("/proc").join(pid).join("comm"))
                .is_ok_and(|name| name.trim() == "redis-server")
        };
        while answers(&certs, *port) && Instant::now() < deadline {
            sleep(Duration::from_millis(100));
        }
        if alive() {
            let _ = Command::new("kill").arg(pid).status();
            while alive() && Instant::now() < deadline {
                sleep(Duration::from_millis(100));
            }
        }
    }
    if state.exists() {
        std::fs::remove_dir_all(state).map_err(|e| format!("cannot remove {}: {e}", state.display()))?;
    }
    Ok(())
}

fn install_openssl() -> Result {
    if crate::have("openssl") {
        return Ok(());
    }
    crate::apt_install(&["openssl"])
}

/// `openssl <args>` in `dir`, its output hidden unless it fails.
fn openssl(dir: &Path, args: &[&str]) -> Result {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("openssl {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)))
    }
}

/// A CA (P-256 keys, ten years), a certificate for the servers and one for a client, in `dir`.
fn make_certificates(dir: &Path) -> Result {
    let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509", "-new", "-days", "3650", "-subj", "/CN=hashstash test CA"];
    ca.extend(key);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca)?;
    let extensions = [
        (
            "server",
            "/CN=localhost",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        ),
        (
            "client",
            "/CN=hashstash test client",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        ),
    ];
    for (name, subject, ext) in extensions {
        let ext_file = format!("{name}.ext");
        std::fs::write(dir.join(&ext_file), ext).map_err(|e| format!("cannot write {ext_file}: {e}"))?;
        let (csr, key_file, crt) = (format!("{name}.csr"), format!("{name}.key"), format!("{name}.crt"));
        let mut req = vec!["req", "-new", "-subj", subject];
        req.extend(key);
        req.extend(["-keyout", &key_file, "-out", &csr]);
        openssl(dir, &req)?;
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-out",
                &crt,
                "-extfile",
                &ext_file,
            ],
        )?;
    }
    Ok(())
}

fn node_dir(state: &Path, port: u16) -> PathBuf {
    state.join(format!("node-{port}"))
}

fn pid_file(state: &Path, port: u16) -> PathBuf {
    state.join(format!("redis-{port}.pid"))
}

/// Starts a daemonized TLS-only server on `port` with its data in `node-<port>/`.
fn start(state: &Path, port: u16, extra: &[&str]) -> Result {
    let dir = node_dir(state, port);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let certs = state.join("certs");
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", "0", "--tls-port", &port.to_string(), "--bind", HOST])
        .arg("--tls-cert-file")
        .arg(certs.join("server.crt"))
        .arg("--tls-key-file")
        .arg(certs.join("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(certs.join("ca.crt"))
        .args(["--tls-auth-clients", "optional", "--tls-cluster", "yes", "--tls-replication", "yes"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "yes"])
        .arg("--pidfile")
        .arg(pid_file(state, port))
        .arg("--dir")
        .arg(&dir)
        .arg("--logfile")
        .arg(state.join(format!("redis-{port}.log")))
        .args(extra);
    crate::run(&mut cmd)
}

/// `redis-cli`'s TLS arguments, trusting the CA in `certs`.
fn tls_args(certs: &Path) -> Vec<String> {
    vec!["--tls".into(), "--cacert".into(), certs.join("ca.crt").display().to_string()]
}

/// `redis-cli --tls -p <port> <args>`: its output, if it ran and succeeded.
fn cli(certs: &Path, port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(tls_args(certs))
        .args(["-h", HOST, "-p", &port.to_string()])
        .args(args)
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn answers(certs: &Path, port: u16) -> bool {
    certs.join("ca.crt").exists() && cli(certs, port, &["ping"]).is_some_and(|out| out.trim() == "PONG")
}

fn cluster_ok(certs: &Path) -> bool {
    CLUSTER
        .iter()
        .all(|p| cli(certs, *p, &["cluster", "info"]).is_some_and(|info| info.contains("cluster_state:ok")))
}

fn wait_for(certs: &Path, port: u16) -> Result {
    let deadline = Instant::now() + WAIT;
    while !answers(certs, port) {
        if Instant::now() > deadline {
            return Err(format!("the TLS redis-server on {HOST}:{port} does not answer after {WAIT:?}"));
        }
        sleep(Duration::from_millis(100));
    }
    Ok(())
}
