//! The shared workload of the benchmarks: the one `../shared/peers/bench_hashstash.py`
//! runs against the Python library, so numbers compare side by side.
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

pub mod baseline;
pub mod matrix;

/// A 10-field record, about 580 bytes as compact JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Index.
    pub id: u64,
    /// `name-{i}`.
    pub name: String,
    /// A short sentence.
    pub title: String,
    /// A random float.
    pub score: f64,
    /// A random integer.
    pub count: u64,
    /// `i % 2 == 1`.
    pub flag: bool,
    /// One of four words.
    pub category: String,
    /// `i / 7`.
    pub ratio: f64,
    /// Up to 12 `t`s.
    pub tag: String,
    /// 20 random floats.
    pub vec: Vec<f64>,
}

/// A small deterministic generator (SplitMix64), so runs are repeatable.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The record for index `i`.
pub fn record(i: u64) -> Record {
    let mut rng = SplitMix(i);
    Record {
        id: i,
        name: format!("name-{i}"),
        title: format!("Title number {i} with some text"),
        score: rng.next_f64(),
        count: rng.next_u64() % 1_000_001,
        flag: i % 2 == 1,
        category: ["alpha", "beta", "gamma", "delta"][(rng.next_u64() % 4) as usize].to_string(),
        ratio: i as f64 / 7.0,
        tag: "t".repeat((i % 13) as usize),
        vec: (0..20).map(|_| rng.next_f64()).collect(),
    }
}

/// The key for index `i`: `key{i}`.
pub fn key(i: u64) -> String {
    format!("key{i}")
}

/// `n` keys and records.
pub fn workload(n: u64) -> Vec<(String, Record)> {
    (0..n).map(|i| (key(i), record(i))).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn record_is_about_580_bytes_of_json() {
        let len = serde_json::to_vec(&super::record(1234)).unwrap().len();
        assert!((520..=640).contains(&len), "{len}");
    }
}
