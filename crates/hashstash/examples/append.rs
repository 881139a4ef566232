//! Append mode: every `set` of a key keeps a new version with its write time.
//!
//! `cargo run -p hashstash --example append`

use hashstash::{HashStash, SetOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let stash = HashStash::builder().root_dir(dir.path()).append_mode(true).open()?;
    stash.set("cat", "good")?;
    stash.set("cat", "bad")?;
    stash.set("cat", "good again")?;

    // `get` reads the newest version; `get_all` every version, oldest first.
    assert_eq!(stash.get::<_, String>("cat")?.as_deref(), Some("good again"));
    assert_eq!(stash.get_all::<_, String>("cat")?, ["good", "bad", "good again"]);
    for v in stash.get_all_with_metadata::<_, String>("cat")? {
        println!("version {} written at {:?}: {}", v.version, v.written_at, v.value);
    }

    // One write can append on a stash that otherwise replaces.
    let log = HashStash::builder().root_dir(dir.path()).dbname("log").open()?;
    log.set("events", "started")?;
    log.set_with("events", "running", SetOptions::new().append(true))?;
    assert_eq!(log.get_all::<_, String>("events")?, ["started", "running"]);
    // ...and a plain `set` there replaces every version.
    log.set("events", "restarted")?;
    assert_eq!(log.get_all::<_, String>("events")?, ["restarted"]);
    println!("append: ok");
    Ok(())
}
