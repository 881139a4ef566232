//! Deterministic inputs shared by the integration tests (mirrored in
//! tests/data/gen_python_golden.py).
#![allow(dead_code)]

/// `n` numbered lines of English: very compressible.
pub fn text(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            format!("hashstash line {i}: the quick brown fox jumps over the lazy dog\n").into_bytes()
        })
        .collect()
}

/// `n` bytes of xorshift64 output: incompressible.
pub fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The named inputs of tests/data/python_golden.rs.
pub fn input(name: &str) -> Vec<u8> {
    match name {
        "cat" => b"\"cat\"".to_vec(),
        "empty" => Vec::new(),
        "text64" => text(64),
        "noise512" => noise(512),
        "mixed" => [text(300), noise(2000), text(300)].concat(),
        other => panic!("unknown golden input {other}"),
    }
}

/// 1 MiB of compressible data.
pub fn compressible_mib() -> Vec<u8> {
    let mut v = text(20_000);
    v.truncate(1 << 20);
    v
}

/// 1 MiB of incompressible data.
pub fn random_mib() -> Vec<u8> {
    noise(1 << 20)
}

pub fn b64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).expect("golden literal is valid base64")
}
