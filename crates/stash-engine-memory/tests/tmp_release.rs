//! Temporary stashes on the memory engine give their stores back: the process-wide
//! registry once kept one (empty) store per `tmp()` for the life of the process.

use std::sync::Arc;

use stash_core::{Stash, StashConfig};
use stash_engine_memory::{Memory, store_count};

#[test]
fn temporary_stashes_leave_no_store_behind() {
    let dir = tempfile::tempdir().unwrap();
    let config = {
        let mut config = StashConfig::default();
        config.engine = "memory".into();
        config.root_dir = dir.path().into();
        config
    };
    let stash = Stash::open(config, Arc::new(Memory)).unwrap();
    stash.set("kept", "value").unwrap();
    let before = store_count();
    for i in 0..100 {
        let tmp = stash.tmp().unwrap();
        tmp.set("key", &i).unwrap();
        // A function stash under the temporary one goes too.
        tmp.function_sub("stashed_result/f").unwrap().set("args", "result").unwrap();
    }
    assert_eq!(store_count(), before, "every tmp() left stores behind");
    assert_eq!(stash.get::<_, String>("kept").unwrap().as_deref(), Some("value"));
}
