//! The matrix's outputs: a table on stdout, TSV and Markdown files and SVG
//! plots under `target/bench/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::async_row::{self, AsyncRow};
use super::python::rust_serializer;
use super::scale::ScaleResult;
use super::{CellResult, CellSpec, Kind, Op, Result, SizeClass};

/// Where and how the run happened.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// The machine: cores and kernel.
    pub machine: String,
    /// The command line.
    pub command: String,
    /// Items of the `record` size, repetitions, time budget.
    pub settings: String,
    /// Seconds the whole run took.
    pub seconds: f64,
}

/// Everything a run produced.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Stash and baseline cells, Python rows included.
    pub cells: Vec<CellResult>,
    /// The scale rows.
    pub scale: Vec<ScaleResult>,
    /// The async row: async against sync gets per engine.
    pub async_rows: Vec<AsyncRow>,
    /// What was left out and why.
    pub notes: Vec<String>,
    /// The operations measured (the table's columns).
    pub ops: Vec<Op>,
    /// Where and how.
    pub meta: Meta,
}

/// `1234567.0` → `1.23M`; `12345.0` → `12.3k`; `123.4` → `123`.
pub fn fmt_rate(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let (x, unit) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if x >= 100.0 || unit.is_empty() && x >= 10.0 {
        format!("{x:.0}{unit}")
    } else if x >= 10.0 {
        format!("{x:.1}{unit}")
    } else {
        format!("{x:.2}{unit}")
    }
}

/// Bytes as `583 B`, `10.2 KiB`, `1.01 MiB`.
pub fn fmt_bytes(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", v / 1024.0 / 1024.0)
    } else if v >= 1024.0 {
        format!("{:.1} KiB", v / 1024.0)
    } else {
        format!("{v:.0} B")
    }
}

/// A ratio as `0.93×` or `39×`.
pub fn fmt_ratio(r: f64) -> String {
    if !r.is_finite() {
        "–".into()
    } else if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.2}×")
    }
}

fn engine_order(engine: &str) -> usize {
    hashstash::EngineKind::ALL.iter().position(|k| k.name() == engine).unwrap_or(50)
}

fn kind_order(kind: Kind) -> usize {
    match kind {
        Kind::Stash => 0,
        Kind::Raw => 1,
        Kind::Python => 2,
        Kind::Codec => 3,
        Kind::Cacache => 4,
        Kind::CachedRedb => 5,
    }
}

impl Report {
    /// The cells in table order: by size, codec, engine; each stash cell followed
    /// by its raw floor and its Python row, then the codec floor and the peers.
    pub fn ordered(&self) -> Vec<&CellResult> {
        let mut cells: Vec<&CellResult> = self.cells.iter().collect();
        cells.sort_by_key(|c| {
            let s = &c.spec;
            let ser = if s.kind == Kind::Python {
                rust_serializer(&s.serializer).to_string()
            } else {
                s.serializer.clone()
            };
            let engine = match s.kind {
                Kind::Stash | Kind::Raw | Kind::Python => engine_order(&s.engine),
                _ => 100,
            };
            (s.size, ser, s.compress.clone(), engine, kind_order(s.kind))
        });
        cells
    }

    /// The stash cell a row is compared with.
    pub fn reference(&self, spec: &CellSpec) -> Option<&CellResult> {
        let find = |engine: &str, ser: &str, comp: &str| {
            self.cells.iter().find(|c| {
                c.spec.kind == Kind::Stash
                    && c.spec.engine == engine
                    && c.spec.serializer == ser
                    && c.spec.compress == comp
                    && c.spec.size == spec.size
                    && c.error.is_none()
            })
        };
        match spec.kind {
            Kind::Stash => None,
            Kind::Raw => find(&spec.engine, &spec.serializer, &spec.compress),
            Kind::Python => find(&spec.engine, rust_serializer(&spec.serializer), &spec.compress),
            Kind::Codec => find("memory", &spec.serializer, &spec.compress),
            Kind::Cacache => find("pairtree", &spec.serializer, &spec.compress),
            Kind::CachedRedb => find("lmdb", "msgpack", "raw")
                .or_else(|| find("lmdb", "postcard", "raw"))
                .or_else(|| find("lmdb", "hashstash", "raw"))
                .or_else(|| {
                    self.cells.iter().find(|c| {
                        c.spec.kind == Kind::Stash && c.spec.engine == "lmdb" && c.spec.size == spec.size
                    })
                }),
        }
    }

    /// The stash's rate divided by this row's, for `op`.
    pub fn ratio(&self, cell: &CellResult, op: Op) -> Option<f64> {
        let reference = self.reference(&cell.spec)?;
        Some(reference.rate(op)? / cell.rate(op)?)
    }

    fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = ["size", "row", "codec", "n"].iter().map(|s| s.to_string()).collect();
        h.extend(self.ops.iter().map(|o| format!("{o}/s")));
        h.extend(
            ["value", "stored/plain", "disk/item", "alloc/item", "peak mem", "vs"]
                .iter()
                .map(|s| s.to_string()),
        );
        h
    }

    fn row(&self, c: &CellResult) -> Vec<String> {
        let s = &c.spec;
        let codec = match s.kind {
            Kind::CachedRedb => "own msgpack".to_string(),
            _ => s.codec(),
        };
        let mut row = vec![s.size.to_string(), s.label(), codec, c.n.to_string()];
        if let Some(e) = &c.error {
            row.extend(self.ops.iter().map(|_| String::new()));
            let short: String = e.lines().next().unwrap_or("").chars().take(100).collect();
            row.extend([
                format!("ERROR: {short}"),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            row.push(String::new());
            return row;
        }
        for &op in &self.ops {
            let cell = match c.rate(op) {
                None => String::new(),
                Some(r) => match (s.kind, self.ratio(c, op)) {
                    // Threads writing at once, against one thread writing.
                    (Kind::Stash, _) => match (op, c.rate(Op::Set)) {
                        (Op::SetThreads, Some(one)) if one > 0.0 => {
                            format!("{} ({} set)", fmt_rate(r), fmt_ratio(r / one))
                        }
                        _ => fmt_rate(r),
                    },
                    (_, None) => fmt_rate(r),
                    (_, Some(x)) => format!("{} ({})", fmt_rate(r), fmt_ratio(x)),
                },
            };
            row.push(cell);
        }
        row.push(c.value_bytes.map(fmt_bytes).unwrap_or_default());
        row.push(c.compression.map(|r| format!("{r:.2}")).unwrap_or_default());
        row.push(c.disk_apparent.map(fmt_bytes).unwrap_or_else(|| "–".into()));
        row.push(c.disk_allocated.map(fmt_bytes).unwrap_or_else(|| "–".into()));
        row.push(c.peak_extra_kib().map(|k| fmt_bytes(k as f64 * 1024.0)).unwrap_or_default());
        row.push(match self.reference(s) {
            Some(r) if s.kind != Kind::Stash => format!("{} {}", r.spec.engine, r.spec.codec()),
            _ => String::new(),
        });
        row
    }

    /// The main table as rows of cells (header first).
    pub fn rows(&self) -> Vec<Vec<String>> {
        let mut rows = vec![self.header()];
        rows.extend(self.ordered().into_iter().map(|c| self.row(c)));
        rows
    }

    /// The table as aligned text.
    pub fn text(&self) -> String {
        let mut out = aligned(&self.rows());
        if !self.scale.is_empty() {
            out.push('\n');
            out.push_str(&aligned(&self.scale_rows()));
        }
        if !self.async_rows.is_empty() {
            out.push('\n');
            out.push_str(&aligned(&async_row::rows(&self.async_rows)));
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    fn scale_rows(&self) -> Vec<Vec<String>> {
        let mut rows = vec![
            [
                "scale",
                "entries",
                "load: write/s (time, batches)",
                "len()",
                "get p50 / p99",
                "iterate/s",
                "heap before → max while iterating",
                "RSS before → max",
                "disk/entry",
                "alloc/entry",
                "`hashstash info`",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        ];
        let kib = |k: Option<u64>| k.map(|k| fmt_bytes(k as f64 * 1024.0)).unwrap_or_else(|| "–".into());
        for s in &self.scale {
            if let Some(e) = &s.error {
                rows.push(vec![s.engine.clone(), s.n.to_string(), format!("ERROR: {e}")]);
                continue;
            }
            rows.push(vec![
                s.engine.clone(),
                s.n.to_string(),
                format!("{} ({:.1} s, {} per batch)", fmt_rate(s.write_per_s), s.load_s, s.batch),
                format!("{:.1} ms", s.len_ms),
                format!("{:.1} / {:.1} µs", s.get_us, s.get_p99_us),
                format!("{} ({:.1} s)", fmt_rate(s.iterate_per_s), s.iterate_s),
                format!("{} → {}", kib(s.anon_before_kib), kib(s.anon_max_kib)),
                format!("{} → {}", kib(s.rss_before_kib), kib(s.rss_max_kib)),
                match (&s.disk_note, s.server_bytes) {
                    (_, Some(b)) => format!("n/a ({} of server memory)", fmt_bytes(b)),
                    (Some(note), None) => format!("n/a ({note})"),
                    (None, None) => fmt_bytes(s.disk_apparent),
                },
                fmt_bytes(s.disk_allocated),
                s.info_ms.map(|ms| format!("{ms:.0} ms")).unwrap_or_else(|| "–".into()),
            ]);
        }
        rows
    }

    /// The whole report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.meta;
        let _ = writeln!(out, "# hashstash profiling matrix, {}\n", m.date);
        let _ = writeln!(
            out,
            "Machine: {}. Command: `{}`. {}. Run took {:.0} s.\n",
            m.machine, m.command, m.settings, m.seconds
        );
        out.push_str(LEGEND);
        out.push('\n');
        out.push_str(&markdown_table(&self.rows()));
        if !self.scale.is_empty() {
            out.push_str("\n## Scale\n\n");
            out.push_str(SCALE_LEGEND);
            out.push('\n');
            out.push_str(&markdown_table(&self.scale_rows()));
        }
        if !self.async_rows.is_empty() {
            out.push_str("\n## Async\n\n");
            out.push_str(async_row::LEGEND);
            out.push('\n');
            out.push_str(&markdown_table(&async_row::rows(&self.async_rows)));
        }
        if !self.notes.is_empty() {
            out.push_str("\n## Notes\n\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }

    /// One line per (cell, operation), plus one per cell with no operation.
    pub fn tsv(&self) -> String {
        let mut out = String::from(
            "kind\tengine\tserializer\tcompress\tsize\tn\top\tops_per_s\titems\tstash_over_row\tvalue_bytes\tstored_over_plain\tdisk_apparent_per_item\tdisk_allocated_per_item\trss_before_kib\thwm_kib\tpeak_extra_kib\terror\n",
        );
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_default();
        let optu = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
        for c in self.ordered() {
            let s = &c.spec;
            let common = |op: &str, rate: String, items: String, ratio: String| {
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{op}\t{rate}\t{items}\t{ratio}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    s.kind.name(),
                    s.engine,
                    s.serializer,
                    s.compress,
                    s.size,
                    c.n,
                    opt(c.value_bytes),
                    opt(c.compression),
                    opt(c.disk_apparent),
                    opt(c.disk_allocated),
                    optu(c.rss_before_kib),
                    optu(c.hwm_kib),
                    optu(c.peak_extra_kib()),
                    c.error.as_deref().unwrap_or("").replace(['\t', '\n'], " "),
                )
            };
            if c.ops.is_empty() {
                out.push_str(&common("", String::new(), String::new(), String::new()));
            }
            for r in &c.ops {
                out.push_str(&common(
                    r.op.name(),
                    format!("{:.1}", r.ops_per_s),
                    r.items.to_string(),
                    opt(self.ratio(c, r.op)),
                ));
            }
        }
        out
    }

    /// Writes `matrix.txt`, `matrix.md`, `matrix.tsv`, `scale.tsv`, `async.tsv` and the SVG plots into `dir`.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for (name, text) in
            [("matrix.txt", self.text()), ("matrix.md", self.markdown()), ("matrix.tsv", self.tsv())]
        {
            let path = dir.join(name);
            fs::write(&path, text)?;
            written.push(path);
        }
        if !self.scale.is_empty() {
            let path = dir.join("scale.tsv");
            let rows = self.scale_rows();
            fs::write(&path, rows.iter().map(|r| r.join("\t") + "\n").collect::<String>())?;
            written.push(path);
        }
        if !self.async_rows.is_empty() {
            let path = dir.join("async.tsv");
            let rows = async_row::rows(&self.async_rows);
            fs::write(&path, rows.iter().map(|r| r.join("\t") + "\n").collect::<String>())?;
            written.push(path);
        }
        written.extend(self.plots(dir)?);
        Ok(written)
    }

    /// The codec the plots show: the first serializer and `lz4` when present.
    fn plot_codec(&self, size: SizeClass) -> Option<(String, String)> {
        let stash: Vec<&CellResult> =
            self.cells.iter().filter(|c| c.spec.kind == Kind::Stash && c.spec.size == size).collect();
        let first = stash.first()?;
        let ser = first.spec.serializer.clone();
        let comp = if stash.iter().any(|c| c.spec.compress == "lz4") {
            "lz4".to_string()
        } else {
            first.spec.compress.clone()
        };
        Some((ser, comp))
    }

    /// Throughput bars per size and operation, and bytes on disk per item per size.
    pub fn plots(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        for size in SizeClass::ALL {
            let Some((ser, comp)) = self.plot_codec(size) else { continue };
            for op in [Op::Set, Op::Get, Op::Iterate, Op::Batch] {
                if !self.ops.contains(&op) {
                    continue;
                }
                let bars: Vec<(String, f64, RGBColor)> = self
                    .ordered()
                    .into_iter()
                    .filter(|c| c.spec.size == size && c.error.is_none())
                    .filter(|c| {
                        let s = &c.spec;
                        match s.kind {
                            Kind::CachedRedb => true,
                            Kind::Python => rust_serializer(&s.serializer) == ser && s.compress == comp,
                            _ => s.serializer == ser && s.compress == comp,
                        }
                    })
                    .filter_map(|c| Some((c.spec.label(), c.rate(op)?, color(c.spec.kind))))
                    .filter(|b| b.1 > 0.0 && b.1.is_finite())
                    .collect();
                if bars.is_empty() {
                    continue;
                }
                let path = dir.join(format!("{op}-{size}.svg"));
                let title = format!("{op} ({size} values, {ser}+{comp}): operations per second, log scale");
                bar_chart(&path, &title, "operations / s", &bars)?;
                written.push(path);
            }
            let disk: Vec<(String, f64, RGBColor)> = self
                .ordered()
                .into_iter()
                .filter(|c| c.spec.size == size && c.spec.kind == Kind::Stash && c.error.is_none())
                .filter_map(|c| {
                    Some((
                        format!("{} {}", c.spec.engine, c.spec.codec()),
                        c.disk_allocated?,
                        color(c.spec.kind),
                    ))
                })
                .filter(|b| b.1 > 0.0)
                .collect();
            if !disk.is_empty() {
                let path = dir.join(format!("disk-{size}.svg"));
                let title = format!("bytes allocated on disk per item ({size} values), log scale");
                bar_chart(&path, &title, "bytes / item", &disk)?;
                written.push(path);
            }
        }
        Ok(written)
    }
}

const LEGEND: &str = "Rates are operations per second, the median of the repetitions (a repetition stops at the time \
budget). In a baseline row `12k (0.80×)` means the row ran 12k/s and the hashstash cell it is compared with \
(column `vs`) ran 0.80 times as fast: below 1× is the stash's overhead over the floor, above 1× the stash is \
faster. `set-8threads`: 8 threads each doing `set` at once (durable where the engine is: LMDB syncs every \
commit), `(4.0× set)` its total rate over the one-thread `set` column. `stored/plain`: stored value bytes over serialized bytes. `disk/item`: file sizes per item; \
`alloc/item`: blocks allocated (`st_blocks*512`) per item. `peak mem`: the cell's own child process, `VmHWM` at \
its end minus `VmRSS` before its first operation (the memory the operations added at their peak).\n";

const SCALE_LEGEND: &str = "Small entries (`{id, name}`, ~30 B of JSON, hashstash+lz4) written in batches. \
`get`: median and 99th percentile of random gets (2,000). \
`heap`: `RssAnon` of the process (anonymous memory); `RSS` also counts file pages the engine maps (LMDB). \
Memory and server engines have no bytes on disk (redis: growth of the server's `used_memory` per entry).\n";

fn color(kind: Kind) -> RGBColor {
    match kind {
        Kind::Stash => RGBColor(31, 119, 180),
        Kind::Raw => RGBColor(150, 150, 150),
        Kind::Python => RGBColor(214, 39, 40),
        Kind::Codec => RGBColor(44, 160, 44),
        Kind::Cacache | Kind::CachedRedb => RGBColor(255, 127, 14),
    }
}

/// A horizontal bar chart with a log-scale value axis.
fn bar_chart(path: &Path, title: &str, x_desc: &str, bars: &[(String, f64, RGBColor)]) -> Result<()> {
    let height = 90 + 24 * bars.len() as u32;
    let root = SVGBackend::new(path, (960, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 2.0;
    let min = (bars.iter().map(|b| b.1).fold(f64::INFINITY, f64::min) / 2.0).clamp(1e-3, max / 10.0);
    let labels: Vec<String> = bars.iter().map(|b| format!("{}  {}", b.0, fmt_rate(b.1))).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(300)
        .build_cartesian_2d((min..max).log_scale(), (0..bars.len()).into_segmented())?;
    let label_of = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(x_desc)
        .x_label_formatter(&|v| fmt_rate(*v))
        .y_labels(bars.len())
        .y_label_formatter(&label_of)
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, v, c))| {
        let mut r =
            Rectangle::new([(min, SegmentValue::Exact(i)), (*v, SegmentValue::Exact(i + 1))], c.filled());
        r.set_margin(3, 3, 0, 0);
        r
    }))?;
    root.present()?;
    Ok(())
}

/// Rows as space-aligned text.
pub fn aligned(rows: &[Vec<String>]) -> String {
    let mut widths: BTreeMap<usize, usize> = BTreeMap::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = widths.entry(i).or_default();
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(&i).copied().unwrap_or(0)))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Rows as a Markdown table (the first row is the header).
pub fn markdown_table(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if i == 0 {
            let _ = writeln!(out, "|{}", "---|".repeat(row.len()));
        }
    }
    out
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Cores and kernel of this machine.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), Linux {}", kernel.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_rate(1_234_567.0), "1.23M");
        assert_eq!(fmt_rate(348_000.0), "348k");
        assert_eq!(fmt_rate(12_345.0), "12.3k");
        assert_eq!(fmt_rate(426.0), "426");
        assert_eq!(fmt_rate(4.26), "4.26");
        assert_eq!(fmt_bytes(583.0), "583 B");
        assert_eq!(fmt_ratio(39.2), "39×");
        assert_eq!(today().len(), 10);
    }
}
