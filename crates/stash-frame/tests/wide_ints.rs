//! Integers wider than 64 bits through a whole stash (set, get, items, tables): written
//! as Python writes them and read back exactly, with every serializer.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use stash_core::{Stash, StashConfig};
use stash_frame::{FrameOptions, StashFrame};
use stash_serial::Value;

fn open(dir: &std::path::Path, serializer: &str) -> Stash {
    let mut cfg = StashConfig::default();
    cfg.root_dir = dir.into();
    cfg.engine = "pairtree".into();
    cfg.serializer = serializer.parse().expect("a serializer name");
    cfg.compress = stash_core::Compression::Raw;
    Stash::open(cfg, Arc::new(stash_engine_pairtree::Pairtree)).unwrap()
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Wide {
    v: i128,
    u: u128,
}

const FORTY: &str = "1234567890123456789012345678901234567890";

#[test]
fn set_then_get_of_a_wide_integer_reads_it_back_exactly() {
    for serializer in stash_serial::KNOWN {
        let dir = tempfile::tempdir().unwrap();
        let stash = open(dir.path(), serializer);
        for (v, u) in [(1i128 << 70, u128::MAX), (-(1 << 70), 1 << 70), (i128::MIN, 0)] {
            stash.set("k", &Wide { v, u }).unwrap();
            let back: Option<Wide> = stash.get("k").unwrap();
            assert_eq!(back, Some(Wide { v, u }), "{serializer}");
        }
        // a key holding one finds its entry again
        stash.set(&(1u128 << 70), "big key").unwrap();
        assert_eq!(
            stash.get::<_, String>(&(1u128 << 70)).unwrap().as_deref(),
            Some("big key"),
            "{serializer}"
        );
    }
}

#[test]
fn python_ints_of_any_size_come_back_as_exact_values() {
    for serializer in ["hashstash", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let stash = open(dir.path(), serializer);
        let forty = Value::BigInt(FORTY.parse().unwrap());
        let record = Value::Map(vec![
            ("v".into(), Value::from(1i128 << 70)),
            ("w".into(), forty.clone()),
            ("n".into(), 1.into()),
        ]);
        stash.set("rec", &record).unwrap();
        let back: Value = stash.get("rec").unwrap().unwrap();
        assert_eq!(back, record, "{serializer}");
        assert_eq!(back.get("v").and_then(Value::as_i128), Some(1 << 70));
        // typed, where it fits
        #[derive(Deserialize)]
        struct V {
            v: i128,
        }
        assert_eq!(stash.get::<_, V>("rec").unwrap().unwrap().v, 1 << 70);
        // tables keep every digit (as text: no 64-bit column holds them)
        let rows = stash.ld_with(FrameOptions::new()).unwrap();
        let w = rows[0].iter().find(|(c, _)| c == "w").map(|(_, v)| v.clone());
        assert_eq!(w, Some(forty), "{serializer}");
        let df = stash.df().unwrap();
        let col = df.column("w").unwrap().str().unwrap().get(0).map(str::to_owned);
        assert_eq!(col.as_deref(), Some(FORTY), "{serializer}");
    }
}
