//! Keys are canonical across processes: a `HashMap` key written by one process
//! (with its own random hash seed) is found by another.

use std::collections::HashMap;

use hashstash::HashStash;

const CHILD_ROOT: &str = "HASHSTASH_TEST_CHILD_ROOT";

fn map_key(reverse: bool) -> HashMap<String, Vec<i32>> {
    let mut map = HashMap::new();
    let order: Vec<i32> = if reverse { (0..64).rev().collect() } else { (0..64).collect() };
    for i in order {
        map.insert(format!("field{i}"), vec![i, i * 2]);
    }
    map
}

fn open(root: &str, serializer: &str) -> HashStash {
    HashStash::builder().root_dir(root).serializer(serializer).open().unwrap()
}

/// Runs only as a child of `hashmap_keys_hit_in_another_process`.
#[test]
fn child_writes_hashmap_keys() {
    let Ok(root) = std::env::var(CHILD_ROOT) else { return };
    for serializer in hashstash::serializers() {
        open(&root, serializer).set(&map_key(false), &format!("written by {}", std::process::id())).unwrap();
    }
}

#[test]
fn hashmap_keys_hit_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let status =
        stash_core::testkit::child_test("child_writes_hashmap_keys").env(CHILD_ROOT, &root).status().unwrap();
    assert!(status.success(), "child failed: {status}");
    for serializer in hashstash::serializers() {
        let s = open(&root, serializer);
        assert_eq!(s.len().unwrap(), 1, "{serializer}");
        let got: Option<String> = s.get(&map_key(true)).unwrap();
        let got = got.unwrap_or_else(|| panic!("{serializer}: the child's HashMap key missed"));
        assert!(got.starts_with("written by "), "{serializer}: {got}");
        assert_ne!(got, format!("written by {}", std::process::id()), "{serializer}");
    }
}
