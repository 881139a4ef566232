//! The profiling matrix's library code for a tiny n: every kind of cell, the
//! scale row, and the report files, so `cargo test` keeps `cargo xtask bench` working.

use hashstash_benches::matrix::report::{Meta, Report};
use hashstash_benches::matrix::{self, CellSpec, Kind, Op, Params, SizeClass, run_cell, scale};

fn params(dir: &std::path::Path) -> Params {
    Params { n: 6, reps: 2, budget_ms: 50, map_items: 3, ops: Op::ALL.to_vec(), work_dir: dir.join("work") }
}

#[test]
fn every_kind_of_cell_runs_for_a_tiny_n() -> matrix::Result<()> {
    let dir = tempfile::tempdir()?;
    let params = params(dir.path());
    let specs = [
        CellSpec::stash("memory", "hashstash", "lz4", SizeClass::Record),
        CellSpec::stash("pairtree", "postcard", "raw", SizeClass::K10),
        CellSpec::stash("lmdb", "hashstash", "zstd", SizeClass::M1),
        CellSpec::new(Kind::Raw, "pairtree", "postcard", "raw", SizeClass::K10),
        CellSpec::new(Kind::Raw, "lmdb", "hashstash", "lz4", SizeClass::Record),
        CellSpec::new(Kind::Raw, "sqlite", "json", "raw", SizeClass::Record),
        CellSpec::new(Kind::Raw, "sled", "msgpack", "raw", SizeClass::Record),
        CellSpec::new(Kind::Raw, "memory", "hashstash", "lz4", SizeClass::Record),
        CellSpec::new(Kind::Codec, "", "hashstash", "lz4", SizeClass::Record),
        CellSpec::new(Kind::Cacache, "", "postcard", "raw", SizeClass::K10),
        CellSpec::new(Kind::CachedRedb, "", "msgpack", "raw", SizeClass::Record),
    ];
    let mut cells = Vec::new();
    for spec in specs {
        let r = run_cell(&spec, &params).map_err(|e| format!("{spec}: {e}"))?;
        assert_eq!(r.error, None, "{spec}");
        for &op in spec.kind.ops() {
            let rate = r.rate(op).unwrap_or_else(|| panic!("{spec}: no {op}"));
            assert!(rate > 0.0, "{spec}: {op} {rate}");
        }
        assert_eq!(r.n, params.n_for(spec.size));
        if spec.kind != Kind::CachedRedb {
            assert!(r.value_bytes.is_some_and(|b| b > 100.0), "{spec}: {:?}", r.value_bytes);
        }
        if spec.engine == "pairtree" || spec.engine == "lmdb" {
            assert!(r.disk_allocated.is_some_and(|b| b > 0.0), "{spec}: {:?}", r.disk_allocated);
        }
        cells.push(r);
    }
    let zstd = &cells[2];
    assert!(
        zstd.compression.is_some_and(|c| c < 1.0),
        "zstd should shrink 1 MiB documents: {:?}",
        zstd.compression
    );

    let small = scale::run("lmdb", 500, &params)?;
    assert_eq!(small.len, 500);
    assert!(small.iterate_per_s > 0.0 && small.get_us > 0.0);

    let report = Report {
        cells,
        scale: vec![small],
        async_rows: Vec::new(),
        notes: vec!["a note".into()],
        ops: Op::ALL.to_vec(),
        meta: Meta { date: "2026-11-27".into(), ..Meta::default() },
    };
    let raw_lmdb = &report.cells[4];
    assert!(
        report.reference(&raw_lmdb.spec).is_none(),
        "no lmdb hashstash+lz4 record stash cell in this set"
    );
    let raw_pairtree = &report.cells[3];
    assert!(report.ratio(raw_pairtree, Op::Get).is_some_and(|r| r > 0.0));
    let text = report.text();
    assert!(text.contains("raw std::fs pairtree") && text.contains("peer cacache"), "{text}");
    let written = report.write(&dir.path().join("out"))?;
    for name in ["matrix.md", "matrix.tsv", "matrix.txt", "scale.tsv", "get-record.svg", "disk-10k.svg"] {
        assert!(written.iter().any(|p| p.ends_with(name)), "{name} not in {written:?}");
    }
    let tsv = std::fs::read_to_string(dir.path().join("out/matrix.tsv"))?;
    assert!(tsv.lines().count() > 20);
    let svg = std::fs::read_to_string(dir.path().join("out/get-record.svg"))?;
    assert!(svg.starts_with("<svg") && svg.contains("memory"), "{svg}");
    Ok(())
}
