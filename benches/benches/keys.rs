//! The key path: canonical serialization, encoding and digest.
//!
//! `cargo bench -p hashstash-benches --bench keys`

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hashstash::{DigestAlgo, HashStash};

fn keys(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("key");
    for serializer in ["hashstash", "json", "msgpack", "postcard"] {
        let stash = HashStash::builder()
            .root_dir(dir.path())
            .engine("memory")
            .serializer(serializer)
            .compress("lz4")
            .open()
            .expect("open");
        g.bench_function(format!("encode-string/{serializer}"), |b| {
            b.iter(|| black_box(stash.encode_key(black_box("key12345")).expect("encode")))
        });
        let map: HashMap<String, u32> = (0..8).map(|i| (format!("field{i}"), i)).collect();
        g.bench_function(format!("encode-hashmap8/{serializer}"), |b| {
            b.iter(|| black_box(stash.encode_key(black_box(&map)).expect("encode")))
        });
    }
    for algo in [DigestAlgo::Blake3, DigestAlgo::Md5] {
        g.bench_function(format!("digest/{algo}"), |b| {
            b.iter(|| black_box(algo.digest(black_box(b"\"key12345\""))))
        });
    }
    g.finish();
}

criterion_group!(benches, keys);
criterion_main!(benches);
