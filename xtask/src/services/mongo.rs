//! A MongoDB-compatible server for the tests: CongoDB, the wire-protocol
//! server in TypeScript from the npm package `@push.rocks/smartmongo`, with
//! its data in memory, on 127.0.0.1:27070.
//!
//! No MongoDB can be installed from the registries this project may use, and
//! the package's declared dependencies do not all resolve, so `up` installs
//! the few it needs by hand under `target/services/mongo/node/` (kept, so
//! reruns are fast), unpacks the package beside them, writes a small ES
//! module launcher and starts it in the background (pid file `congodb.pid`,
//! log `congodb.log`). Needs `node` (20+) and `npm`. One bug of CongoDB
//! 2.2.0 that corrupts binary fields on update is patched at install (see
//! [`patch`]).

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::Result;

const HOST: &str = "127.0.0.1";
const PORT: u16 = 27070;
const PACKAGE: &str = "@push.rocks/smartmongo@2.2.0";
/// The package's own dependencies that CongoDB needs, installed by hand.
const DEPENDENCIES: &[&str] = &[
    "bson@^6.10.0",
    "mingo@^7.2.0",
    "@push.rocks/smartfs@^1.3.1",
    "@push.rocks/smartpath@^5.0.11",
    "@push.rocks/smartpromise@^4.0.3",
    "@push.rocks/smartrx@^3.0.0",
];
const WAIT: Duration = Duration::from_secs(30);

const LAUNCHER: &str = r#"// Written by `cargo xtask services up`: starts CongoDB in memory.
import { CongoServer } from './node/node_modules/@push.rocks/smartmongo/dist_ts/congodb/index.js';

const port = Number(process.argv[2]);
const server = new CongoServer({ port, host: '127.0.0.1', storage: 'memory' });
await server.start();
console.log(`congodb listening on 127.0.0.1:${port}`);
const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
"#;

fn url() -> String {
    format!("mongodb://{HOST}:{PORT}")
}

fn pid_file(state: &Path) -> PathBuf {
    state.join("congodb.pid")
}

fn log_file(state: &Path) -> PathBuf {
    state.join("congodb.log")
}

/// Installs CongoDB if needed, starts it unless it already answers, and
/// returns `HASHSTASH_MONGO_URL`.
pub fn up(state: &Path) -> Result<Vec<(String, String)>> {
    let vars = vec![("HASHSTASH_MONGO_URL".to_string(), url())];
    let changed = install(state)?;
    if running_pid(state).is_some() {
        if answers() && !changed {
            return Ok(vars);
        }
        down(state)?; // not answering, or running code installed since
    } else if answers() {
        eprintln!("xtask: a MongoDB-compatible server already answers on {HOST}:{PORT}; using it");
        return Ok(vars);
    }
    let launcher = state.join("congodb.mjs");
    fs::write(&launcher, LAUNCHER).map_err(|e| format!("cannot write {}: {e}", launcher.display()))?;
    let log = log_file(state);
    let out = File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let child = Command::new("node")
        .arg(&launcher)
        .arg(PORT.to_string())
        .current_dir(state)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0) // not stopped by a Ctrl-C meant for cargo
        .spawn()
        .map_err(|e| format!("cannot start node: {e}"))?;
    let pid = child.id();
    fs::write(pid_file(state), pid.to_string()).map_err(|e| format!("cannot write the pid file: {e}"))?;
    let deadline = Instant::now() + WAIT;
    while !answers() {
        if !alive(pid) {
            let _ = fs::remove_file(pid_file(state));
            return Err(format!(
                "CongoDB exited while starting; its log ({}):\n{}",
                log.display(),
                tail(&log)
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "CongoDB does not answer on {HOST}:{PORT} after {WAIT:?}; see {}",
                log.display()
            ));
        }
        sleep(Duration::from_millis(100));
    }
    Ok(vars)
}

/// Stops the server started by `up` (no error if it is not running).
pub fn down(state: &Path) -> Result {
    let Some(pid) = running_pid(state) else {
        let _ = fs::remove_file(pid_file(state));
        return Ok(());
    };
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let _ = fs::remove_file(pid_file(state));
    if alive(pid) { Err(format!("CongoDB (pid {pid}) does not stop")) } else { Ok(()) }
}

/// The file [`patch`] fixes, under the package's folder.
const UPDATE_ENGINE: &str = "dist_ts/congodb/engine/UpdateEngine.js";
/// Marks a patched `UpdateEngine.js`.
const PATCH_MARK: &str = "/* hashstash: keep BSON binary */";
/// The start of CongoDB 2.2.0's `UpdateEngine.deepClone`...
const CLONE_START: &str = "    static deepClone(obj) {
        if (obj === null || typeof obj !== 'object') {
            return obj;
        }
";
/// ...and what follows it once patched: binary values are copied as binary.
const CLONE_FIX: &str = "        /* hashstash: keep BSON binary */
        if (obj instanceof plugins.bson.Binary) {
            return new plugins.bson.Binary(obj.buffer.slice(0, obj.position), obj.sub_type);
        }
        if (ArrayBuffer.isView(obj)) {
            return obj.slice();
        }
";

/// CongoDB 2.2.0 copies a document with a `deepClone` that turns BSON binary
/// values (and the bytes inside them) into plain objects, so any update
/// operator (`$set`, `$push`, ...) corrupts every binary field of the
/// document it touches. MongoDB keeps them; this makes CongoDB keep them too.
/// True if it changed the file.
fn patch(package_dir: &Path) -> Result<bool> {
    let file = package_dir.join(UPDATE_ENGINE);
    let text = fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if text.contains(PATCH_MARK) {
        return Ok(false);
    }
    if !text.contains(CLONE_START) {
        return Err(format!("cannot patch {}: its deepClone is not the one of {PACKAGE}", file.display()));
    }
    let patched = text.replacen(CLONE_START, &format!("{CLONE_START}{CLONE_FIX}"), 1);
    fs::write(&file, patched).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(true)
}

/// `npm install`s the dependencies and unpacks and patches the package,
/// unless done before; true if anything changed.
fn install(state: &Path) -> Result<bool> {
    let node = state.join("node");
    let package_dir = node.join("node_modules/@push.rocks/smartmongo");
    if package_dir.join("dist_ts/congodb/index.js").is_file() && node.join("node_modules/mingo").is_dir() {
        return patch(&package_dir);
    }
    for program in ["node", "npm", "tar"] {
        if !crate::have(program) {
            return Err(format!("CongoDB needs `{program}` (Node.js 20+ with npm); please install it"));
        }
    }
    fs::create_dir_all(&node).map_err(|e| format!("cannot create {}: {e}", node.display()))?;
    let manifest = node.join("package.json");
    fs::write(&manifest, "{ \"name\": \"hashstash-congodb\", \"private\": true }\n")
        .map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
    // npm's chatter goes to stderr: stdout carries the `export` lines.
    let npm = |args: &[&str]| {
        let mut cmd = Command::new("npm");
        cmd.args(args).current_dir(&node).stdout(Stdio::from(std::io::stderr()));
        crate::run(&mut cmd)
    };
    let mut args = vec!["install", "--ignore-scripts", "--no-audit", "--no-fund", "--no-save"];
    args.extend_from_slice(DEPENDENCIES);
    npm(&args)?;
    npm(&["pack", PACKAGE, "--pack-destination", "."])?;
    let tarball = node.join("push.rocks-smartmongo-2.2.0.tgz");
    let _ = fs::remove_dir_all(&package_dir);
    fs::create_dir_all(&package_dir).map_err(|e| format!("cannot create {}: {e}", package_dir.display()))?;
    crate::run(
        Command::new("tar").arg("xzf").arg(&tarball).arg("-C").arg(&package_dir).arg("--strip-components=1"),
    )?;
    let _ = fs::remove_file(&tarball);
    if package_dir.join("dist_ts/congodb/index.js").is_file() {
        patch(&package_dir).map(|_| true)
    } else {
        Err(format!("{PACKAGE} unpacked without dist_ts/congodb/index.js in {}", package_dir.display()))
    }
}

/// The pid in the pid file, if that process is alive and is our launcher.
fn running_pid(state: &Path) -> Option<u32> {
    let pid: u32 = fs::read_to_string(pid_file(state)).ok()?.trim().parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline).contains("congodb.mjs").then_some(pid)
}

fn alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped) counts as gone.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Whether a server on the port answers `{ping: 1}` (an OP_MSG) with `ok: 1`.
fn answers() -> bool {
    let addr: SocketAddr = match format!("{HOST}:{PORT}").parse() {
        Ok(a) => a,
        Err(_) => return false,
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(&ping_message()).is_err() {
        return false;
    }
    let mut header = [0u8; 16];
    if stream.read_exact(&mut header).is_err() {
        return false;
    }
    let len = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let op = i32::from_le_bytes([header[12], header[13], header[14], header[15]]);
    if op != 2013 || !(21..=1 << 20).contains(&len) {
        return false;
    }
    let mut body = vec![0u8; len as usize - 16];
    if stream.read_exact(&mut body).is_err() {
        return false;
    }
    // flags (4) + section kind (1) + the reply document
    body.get(5..).is_some_and(reply_ok)
}

/// OP_MSG { ping: 1, $db: "admin" }.
fn ping_message() -> Vec<u8> {
    let mut doc = Vec::new();
    doc.extend_from_slice(&[0; 4]);
    doc.push(0x10);
    doc.extend_from_slice(b"ping\0");
    doc.extend_from_slice(&1i32.to_le_bytes());
    doc.push(0x02);
    doc.extend_from_slice(b"$db\0");
    doc.extend_from_slice(&6i32.to_le_bytes());
    doc.extend_from_slice(b"admin\0");
    doc.push(0);
    let doc_len = (doc.len() as i32).to_le_bytes();
    doc[..4].copy_from_slice(&doc_len);
    let mut msg = Vec::new();
    let total = (16 + 4 + 1 + doc.len()) as i32;
    msg.extend_from_slice(&total.to_le_bytes());
    msg.extend_from_slice(&1i32.to_le_bytes()); // request id
    msg.extend_from_slice(&0i32.to_le_bytes()); // response to
    msg.extend_from_slice(&2013i32.to_le_bytes()); // OP_MSG
    msg.extend_from_slice(&0u32.to_le_bytes()); // flags
    msg.push(0); // section kind 0: the body
    msg.extend_from_slice(&doc);
    msg
}

/// Whether a BSON reply document has a top-level `ok` that is non-zero.
fn reply_ok(doc: &[u8]) -> bool {
    let mut at = 4;
    while at < doc.len() {
        let kind = doc[at];
        if kind == 0 {
            return false;
        }
        let Some(name_len) = doc[at + 1..].iter().position(|&b| b == 0) else { return false };
        let name = &doc[at + 1..at + 1 + name_len];
        let value = at + 2 + name_len;
        let size = match kind {
            0x01 | 0x09 | 0x11 | 0x12 => 8,
            0x10 => 4,
            0x08 => 1,
            0x0A => 0,
            0x07 => 12,
            0x02 | 0x0D | 0x0E => match doc.get(value..value + 4) {
                Some(b) => 4 + i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
                None => return false,
            },
            0x03 | 0x04 => match doc.get(value..value + 4) {
                Some(b) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
                None => return false,
            },
            0x05 => match doc.get(value..value + 4) {
                Some(b) => 5 + i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
                None => return false,
            },
            _ => return false,
        };
        if name == b"ok" {
            let Some(bytes) = doc.get(value..value + size) else { return false };
            return match kind {
                0x01 => f64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])) != 0.0,
                0x10 => bytes != [0; 4],
                0x12 => bytes != [0; 8],
                0x08 => bytes[0] != 0,
                _ => false,
            };
        }
        at = value + size;
    }
    false
}
