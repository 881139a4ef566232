//! Every compiled-in codec round-trips, with and without base64, and appends to `out`.

mod common;

use stash_codec::{Encoding, available, codec};

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("one byte", vec![42]),
        ("cat", b"\"cat\"".to_vec()),
        ("text", common::text(100)),
        ("1 MiB compressible", common::compressible_mib()),
        ("1 MiB random", common::random_mib()),
        // Extreme ratio: checks lz4's size-prefix sanity bound and blosc's zero runs.
        ("1 MiB zeros", vec![0; 1 << 20]),
        ("16 MiB zeros", vec![0; 16 << 20]),
    ]
}

#[test]
fn every_codec_round_trips() {
    let inputs = inputs();
    for name in available() {
        let c = codec(name).unwrap();
        assert_eq!(c.name(), name);
        for (label, data) in &inputs {
            let mut packed = Vec::new();
            c.compress(data, &mut packed).unwrap();
            let mut back = Vec::new();
            c.decompress(&packed, &mut back).unwrap_or_else(|e| panic!("{name}/{label}: {e}"));
            assert!(back == *data, "{name}/{label}: round trip changed the bytes");
        }
    }
}

#[test]
fn compressible_data_shrinks() {
    let data = common::compressible_mib();
    for name in available().into_iter().filter(|n| *n != "raw") {
        let mut packed = Vec::new();
        codec(name).unwrap().compress(&data, &mut packed).unwrap();
        assert!(packed.len() < data.len() / 4, "{name}: {} bytes", packed.len());
    }
}

#[test]
fn every_encoding_round_trips_with_base64() {
    let inputs = inputs();
    for name in available() {
        let enc = Encoding::from_names(name, true).unwrap();
        // The 1 MiB inputs are covered without base64 above; keep the debug build fast.
        for (label, data) in inputs.iter().filter(|(_, d)| d.len() < 1 << 20) {
            let stored = enc.encode_to_vec(data).unwrap();
            assert!(
                stored.iter().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b)),
                "{name}/{label}: not base64"
            );
            assert!(enc.decode_to_vec(&stored).unwrap() == *data, "{name}/{label}");
        }
    }
}

#[test]
fn output_is_appended_not_overwritten() {
    let data = common::text(50);
    for name in available() {
        for b64 in [false, true] {
            let enc = Encoding::from_names(name, b64).unwrap();
            let mut stored = b"prefix".to_vec();
            enc.encode(&data, &mut stored).unwrap();
            assert_eq!(&stored[..6], b"prefix");
            let mut back = b"head".to_vec();
            enc.decode(&stored[6..], &mut back).unwrap();
            assert_eq!(&back[..4], b"head");
            assert!(back[4..] == data[..], "{name} b64={b64}");
        }
    }
}

#[test]
fn buffers_can_be_reused_across_calls() {
    let enc = Encoding::from_names(available().last().unwrap(), true).unwrap();
    let (mut stored, mut back) = (Vec::new(), Vec::new());
    for n in [10, 1000, 3, 5000] {
        let data = common::text(n);
        stored.clear();
        back.clear();
        enc.encode(&data, &mut stored).unwrap();
        enc.decode(&stored, &mut back).unwrap();
        assert_eq!(back, data);
    }
}

#[test]
fn encodings_work_from_many_threads() {
    let encodings: Vec<Encoding> =
        available().iter().map(|n| Encoding::from_names(n, true).unwrap()).collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let encodings = &encodings;
            s.spawn(move || {
                for enc in encodings {
                    let data = common::text(200 + t);
                    let stored = enc.encode_to_vec(&data).unwrap();
                    assert_eq!(enc.decode_to_vec(&stored).unwrap(), data, "{enc}");
                }
            });
        }
    });
}
