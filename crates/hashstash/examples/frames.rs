//! A stash as a table: flattened records, a polars `DataFrame`, CSV and JSON lines.
//!
//! `cargo run -p hashstash --features frame --example frames`

use hashstash::{FrameOptions, HashStash, StashFrame};
use serde::Serialize;

#[derive(Serialize)]
struct Animal {
    name: &'static str,
    goodness: &'static str,
    etc: Etc,
}

#[derive(Serialize)]
struct Etc {
    age: u32,
    goes_to: GoesTo,
}

#[derive(Serialize)]
struct GoesTo {
    heaven: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let stash = HashStash::builder().root_dir(dir.path()).append_mode(true).open()?;
    for n in 0..20u32 {
        let name = if n % 3 == 0 { "cat" } else { "dog" };
        let good = n % 2 == 0;
        let etc = Etc { age: n % 10 + 1, goes_to: GoesTo { heaven: name == "dog" || good } };
        stash.set(
            &format!("Animal {}", n + 1),
            &Animal { name, goodness: if good { "good" } else { "bad" }, etc },
        )?;
    }

    // Nested structs become dotted columns: _key, name, goodness, etc.age, etc.goes_to.heaven
    let df = stash.df()?;
    assert_eq!(df.shape(), (20, 5));
    println!("{df}");

    // Every version in append mode, with its number and write time.
    stash.set(
        "Animal 1",
        &Animal { name: "cat", goodness: "good", etc: Etc { age: 2, goes_to: GoesTo { heaven: true } } },
    )?;
    let with_meta = stash.df_with(FrameOptions::new().with_metadata(true).all_versions(true))?;
    println!("{with_meta}");

    // Export: CSV from the DataFrame, JSON lines straight from the stash.
    let csv = dir.path().join("animals.csv");
    let jsonl = dir.path().join("animals.jsonl");
    hashstash::frame::to_csv(&df, &csv)?;
    hashstash::frame::write_json_lines(&stash, FrameOptions::new(), &jsonl)?;
    let lines = std::fs::read_to_string(&jsonl)?.lines().count();
    println!(
        "wrote {} ({} bytes) and {} ({lines} lines)",
        csv.display(),
        std::fs::metadata(&csv)?.len(),
        jsonl.display()
    );
    println!("frames: ok");
    Ok(())
}
