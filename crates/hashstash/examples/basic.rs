//! The dictionary API: any serde key, any serde value.
//!
//! `cargo run -p hashstash --example basic`

use std::collections::{BTreeMap, HashMap};

use hashstash::{HashStash, Set, Value};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Animal {
    name: String,
    age: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    // A folder of its own; a bare name such as "my_stash" would go under ~/.cache/hashstash.
    let stash = HashStash::builder().root_dir(dir.path().join("basic")).open()?;
    println!("{stash}");

    // Keys: strings, tuples, maps (sorted, so a HashMap gives the same key every time),
    // lists, sets (wrapped in `Set`), structs.
    stash.set("bad", "cat")?;
    stash.set(&("bad", "good"), "cat")?;
    stash.set(&BTreeMap::from([("goodness", "bad")]), "cat")?;
    stash.set(&vec!["bad", "good"], "cat")?;
    stash.set(&Set::from_iter(["good", "bad"]), "cat")?;
    stash.set(&Animal { name: "felix".into(), age: 3 }, &Animal { name: "tom".into(), age: 4 })?;

    let v: Option<String> = stash.get(&("bad", "good"))?;
    assert_eq!(v.as_deref(), Some("cat"));
    assert_eq!(stash.get::<_, String>("missing")?, None);
    assert!(stash.contains(&vec!["bad", "good"])?);
    assert_eq!(stash.len()?, 6);

    // Dictionary methods.
    stash.update(HashMap::from([("a", "1"), ("b", "2")]))?;
    assert_eq!(stash.pop::<_, String>("a")?.as_deref(), Some("1"));
    assert_eq!(stash.setdefault("c", &"3".to_string())?, "3");
    assert!(stash.remove("b")?);

    // Iteration streams from the engine; each item is fallible. `Value` reads anything.
    for item in stash.items::<Value, Value>()? {
        let (key, value) = item?;
        println!("{key} >>> {value}");
    }

    // A typed view fixes the key and value types once.
    let ages = stash.typed::<String, u32>();
    ages.set(&"rex".to_string(), &7)?;
    assert_eq!(ages.get(&"rex".to_string())?, Some(7));

    // Sub-stashes share the settings and live in a folder of their own.
    let sub = stash.sub("shelter")?;
    sub.set("dogs", &12)?;
    assert_eq!(sub.len()?, 1);

    stash.clear()?;
    assert!(stash.is_empty()?);
    println!("basic: ok");
    Ok(())
}
