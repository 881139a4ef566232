//! A value nested deeper than every reader accepts is refused by `set` (the issue's
//! 1,200 levels), and one at the limit is written and read back, with every serializer.

use std::sync::Arc;

use stash_core::{Stash, StashConfig};
use stash_serial::{MAX_DEPTH, Value};

fn open(dir: &std::path::Path, serializer: &str) -> Stash {
    let mut cfg = StashConfig::default();
    cfg.root_dir = dir.into();
    cfg.engine = "pairtree".into();
    cfg.serializer = serializer.parse().expect("a serializer name");
    cfg.compress = stash_core::Compression::Raw;
    Stash::open(cfg, Arc::new(stash_engine_pairtree::Pairtree)).unwrap()
}

fn lists(n: usize) -> Value {
    let mut v = Value::Str("leaf".into());
    for _ in 0..n {
        v = Value::List(vec![v]);
    }
    v
}

#[test]
fn too_deep_is_refused_at_set_and_the_limit_reads_back() {
    for &serializer in stash_serial::KNOWN {
        let dir = tempfile::tempdir().unwrap();
        let stash = open(dir.path(), serializer);
        let e = stash.set("deep", &lists(1200)).unwrap_err();
        assert!(e.report().to_string().contains("MAX_DEPTH"), "{serializer}: {e:?}");
        assert!(!stash.contains("deep").unwrap(), "{serializer}: nothing written");
        stash.set("limit", &lists(MAX_DEPTH)).unwrap();
        if serializer != "postcard" {
            assert_eq!(stash.get::<_, Value>("limit").unwrap(), Some(lists(MAX_DEPTH)), "{serializer}");
        }
        // a key as deep is refused too
        assert!(stash.set(&lists(MAX_DEPTH + 1), "v").is_err(), "{serializer}");
    }
}
