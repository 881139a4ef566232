//! What the LMDB tests share.

use std::path::Path;

use stash_core::StashConfig;

/// An LMDB stash under `root` with raw compression: stored bytes are the serialized
/// ones, so padding reaches the map and damage lands where the test puts it, whatever
/// compressors the workspace build turns on.
pub fn raw_config(root: &Path) -> StashConfig {
    let mut config = StashConfig::default();
    config.engine = "lmdb".into();
    config.root_dir = root.to_path_buf();
    config.compress = stash_core::Compression::Raw;
    config
}

/// Every record of the environment in `path`, names as text, read with heed
/// directly once this process has closed it (drop every stash and handle on
/// it first): the bytes another program (Python) reads.
#[allow(dead_code)] // used by the Python layout's tests, not by every test binary
pub fn closed_records(path: &Path) -> Vec<(String, Vec<u8>)> {
    use heed::types::Bytes;
    if let Some(closing) = heed::env_closing_event(path) {
        closing.wait();
    }
    // SAFETY: no other handle of this process has the environment open (it closed above).
    let env = unsafe { heed::EnvOpenOptions::new().open(path) }.unwrap();
    let opened = env
        .open_databases_and_commit(env.read_txn().unwrap(), |opener, rtxn| {
            opener.open_database::<Bytes, Bytes>(rtxn, None).map(heed::CommitOrAbort::<_, ()>::Commit)
        })
        .unwrap();
    let db = opened.commit().flatten().unwrap();
    let rtxn = env.read_txn().unwrap();
    db.iter(&rtxn)
        .unwrap()
        .map(|r| r.unwrap())
        .map(|(k, v)| (String::from_utf8(k.to_vec()).unwrap(), v.to_vec()))
        .collect()
}
