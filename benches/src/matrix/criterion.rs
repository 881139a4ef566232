//! `cargo xtask bench --criterion`: the criterion benches' last results
//! (`target/criterion/**/new/estimates.json`) as one table.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Result;
use super::report::{aligned, fmt_rate, markdown_table};

/// One criterion benchmark's latest estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// `group/function`.
    pub name: String,
    /// Mean time of one iteration, nanoseconds.
    pub mean_ns: f64,
    /// Elements per iteration when the bench declares a throughput.
    pub elements: Option<u64>,
}

impl Estimate {
    /// Elements (or iterations) per second.
    pub fn per_second(&self) -> f64 {
        self.elements.unwrap_or(1) as f64 / (self.mean_ns / 1e9)
    }
}

/// Reads every `new/estimates.json` under `dir` (criterion's output folder).
pub fn read(dir: &Path) -> Result<Vec<Estimate>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "new") {
                    if let Some(e) = read_one(&path)? {
                        found.push(e);
                    }
                } else if path.file_name().is_none_or(|n| n != "base" && n != "change" && n != "report") {
                    stack.push(path);
                }
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn read_one(new: &Path) -> Result<Option<Estimate>> {
    let estimates = new.join("estimates.json");
    if !estimates.exists() {
        return Ok(None);
    }
    let est: Value = serde_json::from_slice(&fs::read(&estimates)?)?;
    let Some(mean_ns) = est.pointer("/mean/point_estimate").and_then(Value::as_f64) else { return Ok(None) };
    let bench: Value = fs::read(new.join("benchmark.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let name = bench
        .get("full_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| new.parent().map(|p| p.display().to_string()).unwrap_or_default());
    let elements = bench.pointer("/throughput/Elements").and_then(Value::as_u64);
    Ok(Some(Estimate { name, mean_ns, elements }))
}

fn fmt_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// The estimates as table rows (header first).
pub fn rows(estimates: &[Estimate]) -> Vec<Vec<String>> {
    let mut rows =
        vec![vec!["bench".to_string(), "time/iter".into(), "elements/iter".into(), "per second".into()]];
    for e in estimates {
        rows.push(vec![
            e.name.clone(),
            fmt_time(e.mean_ns),
            e.elements.map(|n| n.to_string()).unwrap_or_else(|| "1".into()),
            fmt_rate(e.per_second()),
        ]);
    }
    rows
}

/// Prints the summary of `criterion_dir` and writes `criterion.md` and `criterion.tsv` into `out`.
pub fn summarize(criterion_dir: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let estimates = read(criterion_dir)?;
    if estimates.is_empty() {
        return Err(format!("no criterion results under {}", criterion_dir.display()).into());
    }
    let rows = rows(&estimates);
    print!("{}", aligned(&rows));
    fs::create_dir_all(out)?;
    let md = out.join("criterion.md");
    fs::write(&md, markdown_table(&rows))?;
    let tsv = out.join("criterion.tsv");
    let mut text = String::from("bench\tmean_ns\telements\tper_second\n");
    for e in &estimates {
        text.push_str(&format!(
            "{}\t{:.1}\t{}\t{:.1}\n",
            e.name,
            e.mean_ns,
            e.elements.unwrap_or(1),
            e.per_second()
        ));
    }
    fs::write(&tsv, text)?;
    Ok(vec![md, tsv])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_output() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let new = dir.path().join("memory/get_hashstash+raw/new");
        fs::create_dir_all(&new)?;
        fs::write(new.join("estimates.json"), r#"{"mean":{"point_estimate":5000000.0}}"#)?;
        fs::write(
            new.join("benchmark.json"),
            r#"{"full_id":"memory/get/hashstash+raw","throughput":{"Elements":5000}}"#,
        )?;
        let found = read(dir.path())?;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "memory/get/hashstash+raw");
        assert!((found[0].per_second() - 1e6).abs() < 1.0);
        let out = summarize(dir.path(), &dir.path().join("out"))?;
        assert_eq!(out.len(), 2);
        Ok(())
    }
}
