//! Redis for the tests: a standalone server on 127.0.0.1:6390 and a
//! three-master cluster on 127.0.0.1:7001–7003, nothing persisted, state
//! (pid files, logs, `nodes.conf`) under `target/services/redis/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::Result;

const HOST: &str = "127.0.0.1";
const STANDALONE: u16 = 6390;
const CLUSTER: [u16; 3] = [7001, 7002, 7003];
const WAIT: Duration = Duration::from_secs(30);

/// Installs `redis-server` if missing, starts (or reuses) the servers, waits
/// until they answer and the cluster is ready; returns their URLs.
pub fn up(state: &Path) -> Result<Vec<(String, String)>> {
    install()?;
    if !answers(STANDALONE) {
        start(state, STANDALONE, &[])?;
    }
    wait_for(STANDALONE)?;

    if !cluster_ok() {
        let mut fresh = false;
        for port in CLUSTER {
            if !answers(port) {
                // A node that is not running starts from nothing (no stale nodes.conf).
                let dir = node_dir(state, port);
                let _ = std::fs::remove_dir_all(&dir);
                start(state, port, &["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])?;
                fresh = true;
            }
        }
        for port in CLUSTER {
            wait_for(port)?;
        }
        let assigned = cli(CLUSTER[0], &["cluster", "info"])
            .is_some_and(|info| !info.contains("cluster_slots_assigned:0"));
        if fresh || !assigned {
            let nodes: Vec<String> = CLUSTER.iter().map(|p| format!("{HOST}:{p}")).collect();
            let mut create = Command::new("redis-cli");
            create.arg("--cluster").arg("create").args(&nodes).args([
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ]);
            crate::run(&mut create)?;
        }
        let deadline = Instant::now() + WAIT;
        while !cluster_ok() {
            if Instant::now() > deadline {
                return Err(format!(
                    "the Redis cluster on {HOST}:{} is not ready after {WAIT:?}",
                    CLUSTER[0]
                ));
            }
            sleep(Duration::from_millis(200));
        }
    }

    let nodes: Vec<String> = CLUSTER.iter().map(|p| format!("{HOST}:{p}")).collect();
    Ok(vec![
        ("HASHSTASH_REDIS_URL".into(), format!("redis://{HOST}:{STANDALONE}/0")),
        ("HASHSTASH_REDIS_CLUSTER_URL".into(), format!("redis+cluster://{}", nodes.join(","))),
    ])
}

/// Shuts every server down (without saving) and removes the state.
pub fn down(state: &Path) -> Result {
    let mut ports = vec![STANDALONE];
    ports.extend(CLUSTER);
    for port in &ports {
        if answers(*port) {
            let _ = cli(*port, &["shutdown", "nosave"]);
        }
    }
    // Whatever did not stop by itself is stopped through its pid file.
    let deadline = Instant::now() + Duration::from_secs(10);
    for port in &ports {
        while answers(*port) && Instant::now() < deadline {
            sleep(Duration::from_millis(100));
        }
        let pidfile = pid_file(state, *port);
        if answers(*port)
            && let Ok(pid) = std::fs::read_to_string(&pidfile)
        {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
    if state.exists() {
        std::fs::remove_dir_all(state).map_err(|e| format!("cannot remove {}: {e}", state.display()))?;
    }
    Ok(())
}

/// Installs `redis-server` and `redis-cli` (Debian's package) if missing.
pub(crate) fn install() -> Result {
    if crate::have("redis-server") && crate::have("redis-cli") {
        return Ok(());
    }
    crate::apt_install(&["redis-server"])
}

fn node_dir(state: &Path, port: u16) -> PathBuf {
    state.join(format!("node-{port}"))
}

fn pid_file(state: &Path, port: u16) -> PathBuf {
    state.join(format!("redis-{port}.pid"))
}

/// Starts a daemonized server on `port` with its data in `node-<port>/`.
fn start(state: &Path, port: u16, extra: &[&str]) -> Result {
    let dir = node_dir(state, port);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", HOST])
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

/// `redis-cli -p <port> <args>`: its output, if it ran and succeeded.
fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out =
        Command::new("redis-cli").args(["-h", HOST, "-p", &port.to_string()]).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn answers(port: u16) -> bool {
    cli(port, &["ping"]).is_some_and(|out| out.trim() == "PONG")
}

fn cluster_ok() -> bool {
    CLUSTER
        .iter()
        .all(|p| cli(*p, &["cluster", "info"]).is_some_and(|info| info.contains("cluster_state:ok")))
}

fn wait_for(port: u16) -> Result {
    let deadline = Instant::now() + WAIT;
    while !answers(port) {
        if Instant::now() > deadline {
            return Err(format!("redis-server on {HOST}:{port} does not answer after {WAIT:?}"));
        }
        sleep(Duration::from_millis(100));
    }
    Ok(())
}
