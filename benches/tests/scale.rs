//! The scale rows for a small n on every embedded engine (and on redis and
//! mongo when `HASHSTASH_REDIS_URL` / `HASHSTASH_MONGO_URL` are set), and how
//! the report shows them.

use hashstash_benches::matrix::report::Report;
use hashstash_benches::matrix::scale::{self, ScaleResult};
use hashstash_benches::matrix::{self, Op, Params, server_url_var};

fn params(dir: &std::path::Path) -> Params {
    Params { n: 6, reps: 1, budget_ms: 50, map_items: 3, ops: Op::ALL.to_vec(), work_dir: dir.join("work") }
}

fn check_row(row: &ScaleResult, engine: &str, n: usize) {
    assert_eq!(row.error, None, "{engine}");
    assert_eq!((row.engine.as_str(), row.n, row.len), (engine, n, n));
    assert!(row.load_s > 0.0 && row.write_per_s > 0.0, "{engine}: {row:?}");
    assert!(row.get_us > 0.0 && row.get_p99_us >= row.get_us, "{engine}: {row:?}");
    assert!(row.iterate_per_s > 0.0, "{engine}: {row:?}");
    if cfg!(target_os = "linux") {
        assert!(row.anon_before_kib.is_some() && row.anon_max_kib >= row.anon_before_kib, "{engine}");
    }
}

#[test]
fn every_embedded_engine_has_a_scale_row() -> matrix::Result<()> {
    let dir = tempfile::tempdir()?;
    let params = params(dir.path());
    let mut rows = Vec::new();
    for engine in ["memory", "lmdb", "sqlite", "sled", "pairtree"] {
        let n = 300;
        let row = scale::run(engine, n, &params).map_err(|e| format!("{engine}: {e}"))?;
        check_row(&row, engine, n);
        if engine == "memory" {
            assert_eq!(row.disk_note.as_deref(), Some("in memory"));
            assert!(row.disk_apparent.is_nan() && row.server_bytes.is_none(), "{row:?}");
        } else {
            assert_eq!(row.disk_note, None, "{engine}");
            assert!(row.disk_allocated > 0.0 && row.disk_apparent > 0.0, "{engine}: {row:?}");
        }
        rows.push(row);
    }
    rows.push(ScaleResult::failed("sled", 7, "it broke"));
    let report = Report { scale: rows, ..Report::default() };
    let text = report.text();
    for expected in ["get p50 / p99", "n/a (in memory)", "per batch", "ERROR: it broke"] {
        assert!(text.contains(expected), "{expected} not in\n{text}");
    }
    let md = report.markdown();
    assert!(md.contains("## Scale") && md.contains("99th percentile"), "{md}");
    Ok(())
}

#[test]
fn server_engines_have_a_scale_row_when_their_url_is_set() -> matrix::Result<()> {
    let dir = tempfile::tempdir()?;
    let params = params(dir.path());
    for engine in ["redis", "mongo"] {
        let var = server_url_var(engine).ok_or("the benches build every server engine")?;
        if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            assert!(
                std::env::var_os("HASHSTASH_REQUIRE_SERVICES").is_none(),
                "{var} is not set, but HASHSTASH_REQUIRE_SERVICES is"
            );
            eprintln!("skipped: {var} is not set");
            continue;
        }
        let n = 200;
        let row = scale::run(engine, n, &params).map_err(|e| format!("{engine}: {e}"))?;
        check_row(&row, engine, n);
        assert_eq!(row.disk_note.as_deref(), Some("on the server"));
        assert!(row.disk_apparent.is_nan(), "{row:?}");
    }
    Ok(())
}
