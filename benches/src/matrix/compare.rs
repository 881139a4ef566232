//! `--compare PREVIOUS.tsv`: this run's rates next to a previous run's, cell by
//! cell, with the cells more than [`SLOWER`] slower flagged (the regression watch).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A cell whose rate fell below this fraction of the previous run's is flagged
/// (more than 30% slower: new ≤ old / 1.3).
pub const SLOWER: f64 = 1.0 / 1.3;

/// One operation of one cell, compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    /// `kind engine serializer+compress size op`.
    pub cell: String,
    /// Operations a second in the previous run.
    pub before: f64,
    /// Operations a second now.
    pub now: f64,
}

impl Compared {
    /// `now / before`.
    pub fn ratio(&self) -> f64 {
        self.now / self.before
    }

    /// Whether this cell is more than 30% slower than before.
    pub fn slower(&self) -> bool {
        self.ratio() < SLOWER
    }
}

/// The rates of a `matrix.tsv`, by cell and operation (rows without a rate are left out).
pub fn rates(tsv: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().ok_or("an empty file (no header)")?.split('\t').collect();
    let column = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| format!("no `{name}` column in the header"))
    };
    let key_columns = ["kind", "engine", "serializer", "compress", "size", "op"]
        .into_iter()
        .map(column)
        .collect::<Result<Vec<_>, _>>()?;
    let rate_column = column("ops_per_s")?;
    let mut rates = BTreeMap::new();
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let field = |c: usize| fields.get(c).copied().unwrap_or("");
        let Ok(rate) = field(rate_column).parse::<f64>() else { continue };
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!(
                "line {}: the rate `{}` is not a positive number",
                i + 2,
                field(rate_column)
            ));
        }
        let key = key_columns.iter().map(|&c| field(c)).filter(|f| !f.is_empty()).collect::<Vec<_>>();
        rates.insert(key.join(" "), rate);
    }
    Ok(rates)
}

/// Every cell of `now` that `before` also measured, in cell order.
pub fn compare(before: &str, now: &str) -> Result<Vec<Compared>, String> {
    let before = rates(before).map_err(|e| format!("the previous run: {e}"))?;
    let now = rates(now).map_err(|e| format!("this run: {e}"))?;
    Ok(now
        .into_iter()
        .filter_map(|(cell, now)| before.get(&cell).map(|&before| Compared { cell, before, now }))
        .collect())
}

/// The comparison as a table, flagged cells marked, with a summary line.
pub fn table(compared: &[Compared]) -> String {
    let mut out = String::from("cell\tbefore/s\tnow/s\tnow/before\n");
    for c in compared {
        let flag = if c.slower() { "\tSLOWER" } else { "" };
        let _ = writeln!(out, "{}\t{:.1}\t{:.1}\t{:.2}x{flag}", c.cell, c.before, c.now, c.ratio());
    }
    let slower = compared.iter().filter(|c| c.slower()).count();
    let _ = writeln!(
        out,
        "{} cells compared, {slower} more than 30% slower than the previous run",
        compared.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "kind\tengine\tserializer\tcompress\tsize\tn\top\tops_per_s\titems\n";

    #[test]
    fn cells_are_matched_by_their_settings_and_slow_ones_flagged() {
        let before = format!(
            "{HEADER}stash\tlmdb\thashstash\tlz4\trecord\t100\tget\t1000.0\t100\n\
             stash\tlmdb\thashstash\tlz4\trecord\t100\tset\t500.0\t100\n\
             stash\tsled\tpostcard\traw\trecord\t100\tget\t800.0\t100\n"
        );
        let now = format!(
            "{HEADER}stash\tlmdb\thashstash\tlz4\trecord\t100\tget\t700.0\t100\n\
             stash\tlmdb\thashstash\tlz4\trecord\t100\tset\t600.0\t100\n\
             stash\tmemory\tpostcard\traw\trecord\t100\tget\t9000.0\t100\n\
             stash\tpairtree\thashstash\tlz4\trecord\t100\t\t\t\n"
        );
        let compared = compare(&before, &now).unwrap();
        assert_eq!(compared.len(), 2, "{compared:?}");
        let get = compared.iter().find(|c| c.cell.ends_with("get")).unwrap();
        assert!(get.slower() && (get.ratio() - 0.7).abs() < 1e-9, "{get:?}");
        let set = compared.iter().find(|c| c.cell.ends_with("set")).unwrap();
        assert!(!set.slower());
        let shown = table(&compared);
        assert_eq!(shown.matches("SLOWER").count(), 1, "{shown}");
        assert!(shown.contains("2 cells compared, 1 more than 30% slower"), "{shown}");
    }

    #[test]
    fn a_file_that_is_not_a_matrix_is_an_error() {
        assert!(compare("", HEADER).is_err());
        assert!(compare("a\tb\n1\t2\n", HEADER).unwrap_err().contains("no `kind` column"));
        let bad = format!("{HEADER}stash\tlmdb\thashstash\tlz4\trecord\t100\tget\t-5\t100\n");
        assert!(compare(&bad, HEADER).unwrap_err().contains("not a positive number"));
    }
}
