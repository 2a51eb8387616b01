//! Merging input files on (Date, Zone, Day) into one strategy-major table, as the legacy does:
//! an outer join, each file's columns renamed `<file stem>_<column>` when there are several.

use std::collections::{BTreeMap, HashMap};

use heavytune_kernels::pages::HugeVec;
use rayon::prelude::*;

use super::{RowKey, WideFile, WideTable};
use crate::error::{Error, Location, Result};

pub(super) fn merge(files: Vec<WideFile>) -> Result<WideTable> {
    for f in &files {
        check_unique_keys(f)?;
    }
    if files.len() == 1 {
        return Ok(single(files.into_iter().next().expect("one file")));
    }
    let first = &files[0];
    if let Some(f) = files.iter().find(|f| (f.has_zone, f.has_day) != (first.has_zone, first.has_day)) {
        return Err(Error::input(
            Location::file(&f.path),
            format!(
                "key columns differ from {}: every file must have the same of Date, Zone and Day to be merged",
                first.path.display()
            ),
        ));
    }

    let mut names = Vec::new();
    let mut labels = Vec::new();
    let mut origin: HashMap<String, (usize, usize)> = HashMap::new();
    for (fi, f) in files.iter().enumerate() {
        for (ci, n) in f.names.iter().enumerate() {
            let name = format!("{}_{}", f.label, n);
            if let Some((pf, pc)) = origin.insert(name.clone(), (fi, ci)) {
                return Err(Error::input(
                    Location::file(&f.path).line(1),
                    format!(
                        "duplicate strategy name {name:?} after merging: also column {} of {}",
                        pc + 1,
                        files[pf].path.display()
                    ),
                ));
            }
            names.push(name);
            labels.push(f.label.clone());
        }
    }

    // The outer join's rows, in key order as pandas' merge leaves them.
    let union: BTreeMap<&RowKey, usize> = files.iter().flat_map(|f| f.keys.iter()).map(|k| (k, 0)).collect();
    let index: BTreeMap<&RowKey, usize> = union.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let n_days = index.len();
    let mut values = HugeVec::zeroed(names.len() * n_days);
    let mut missing = 0;
    let mut offset = 0;
    for f in &files {
        let n = f.names.len();
        let rows: Vec<usize> = f.keys.iter().map(|k| index[k]).collect();
        missing += f.missing + (n_days - rows.len()) * n;
        for (r, &d) in rows.iter().enumerate() {
            for (s, &v) in f.values[r * n..(r + 1) * n].iter().enumerate() {
                values[(offset + s) * n_days + d] = v;
            }
        }
        offset += n;
    }
    let keys: Vec<&RowKey> = index.keys().copied().collect();
    Ok(WideTable {
        names,
        labels,
        dates: keys.iter().map(|k| k.date).collect(),
        zones: first.has_zone.then(|| keys.iter().map(|k| k.zone.clone().unwrap_or_default()).collect()),
        values,
        missing_cells: missing,
        bytes_read: files.iter().map(|f| f.bytes).sum(),
        warnings: Vec::new(),
    })
}

/// One file: names kept as they are, rows in file order.
fn single(f: WideFile) -> WideTable {
    let n_days = f.keys.len();
    let n_strategies = f.names.len();
    let mut warnings = Vec::new();
    if let Some(w) = f.keys.windows(2).position(|w| w[1].date < w[0].date) {
        warnings.push(format!(
            "{}:{}: dates are not in ascending order; rows are kept in file order, as the legacy tool does",
            f.path.display(),
            f.lines[w + 1]
        ));
    }
    WideTable {
        labels: vec![f.label.clone(); n_strategies],
        dates: f.keys.iter().map(|k| k.date).collect(),
        zones: f.has_zone.then(|| f.keys.iter().map(|k| k.zone.clone().unwrap_or_default()).collect()),
        values: transpose(&f.values, n_days, n_strategies),
        names: f.names,
        missing_cells: f.missing,
        bytes_read: f.bytes,
        warnings,
    }
}

/// Row-major (`rows x cols`) to column-major, in cache-sized blocks of columns. The output is
/// the strategy-major buffer the search reads: made for 2 MiB pages ([`HugeVec::zeroed`]), so
/// they come as it is written, with nothing to collapse or reallocate when it moves onto them.
fn transpose(values: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    const BLOCK: usize = 64;
    let mut out = HugeVec::zeroed(values.len());
    out.par_chunks_mut(rows * BLOCK).enumerate().for_each(|(b, chunk)| {
        let c0 = b * BLOCK;
        let width = chunk.len() / rows;
        for r in 0..rows {
            let src = &values[r * cols + c0..r * cols + c0 + width];
            for (j, &v) in src.iter().enumerate() {
                chunk[j * rows + r] = v;
            }
        }
    });
    out
}

/// A (Date, Zone, Day) key seen twice in one file makes the long table ambiguous.
fn check_unique_keys(f: &WideFile) -> Result<()> {
    let mut seen: HashMap<&RowKey, usize> = HashMap::with_capacity(f.keys.len());
    for (k, &line) in f.keys.iter().zip(&f.lines) {
        if let Some(prev) = seen.insert(k, line) {
            return Err(Error::input(
                Location::file(&f.path).line(line),
                format!("duplicate row: the same Date, Zone and Day as line {prev}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_handles_partial_blocks() {
        let (rows, cols) = (3, 130);
        let v: Vec<f64> = (0..rows * cols).map(|i| i as f64).collect();
        let t = transpose(&v, rows, cols);
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(t[c * rows + r], v[r * cols + c]);
            }
        }
    }
}
