//! One stash, two languages: a stash laid out as the Python library hashstash 1.2 lays it
//! out, which Python reads as it is (and Rust reads what Python writes). docs/interop.md
//! says what is byte-identical and what is refused.
//!
//! `cargo run -p hashstash --example python_interop [folder]`
//!
//! With `HASHSTASH_PYTHON` naming a Python that has `hashstash` installed
//! (`cargo xtask python` makes one and prints it), the example runs Python on the stash
//! and checks what it reads; without it, it prints the Python code to run yourself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use hashstash::{HashStash, Value};

const PYTHON: &str = r#"
import json, sys
from hashstash import HashStash
stash = HashStash(root_dir=sys.argv[1], dbname="main", engine="pairtree", compress="lz4",
                  b64=True, serializer="hashstash")
print(json.dumps({"cat": stash["cat"], "tuple": list(stash[("bad", "good")]),
                  "map": stash[{"goodness": "bad"}], "len": len(stash)}))
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let root: PathBuf = match std::env::args_os().nth(1) {
        Some(folder) => folder.into(),
        None => temp.path().join("shared_stash"),
    };
    let stash = HashStash::builder()
        .root_dir(&root) // the same root_dir and dbname as on the Python side
        .dbname("main")
        .engine("pairtree") // or "lmdb" (feature `lmdb`)
        .compress("lz4") // raw, lz4, zlib, gzip, bz2; not zstd or blosc (refused)
        .b64(true)
        .python_compatible(true) // serializer hashstash, md5 digests, Python's layout
        .clear(true)
        .open()?;
    stash.set("cat", "meow")?;
    stash.set(&("bad", "good"), &vec![1, 2, 3])?;
    stash.set(&BTreeMap::from([("goodness", "bad")]), &BTreeMap::from([("n", 1)]))?;
    for item in stash.items::<Value, Value>()? {
        let (key, value) = item?;
        println!("{key} >>> {value}");
    }

    let Some(python) = std::env::var_os("HASHSTASH_PYTHON") else {
        println!("\nRead it from Python (pip install hashstash==1.2.0):\n{PYTHON}");
        println!("with sys.argv[1] = {}", root.display());
        if std::env::args_os().nth(1).is_none() {
            println!("(a temporary folder, removed on exit: pass a folder to keep the stash)");
        }
        println!("python_interop: ok (Python not run: HASHSTASH_PYTHON is not set)");
        return Ok(());
    };
    let out = Command::new(python).arg("-c").arg(PYTHON).arg(&root).output()?;
    if !out.status.success() {
        return Err(format!("Python failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let read = String::from_utf8(out.stdout)?;
    println!("Python read: {}", read.trim());
    let read: serde_json::Value = serde_json::from_str(read.trim())?;
    let expected = serde_json::json!({"cat": "meow", "tuple": [1, 2, 3], "map": {"n": 1}, "len": 3});
    if read != expected {
        return Err(format!("Python read {read}, expected {expected}").into());
    }
    println!("python_interop: ok (Python read every entry)");
    Ok(())
}
