//! Input: the users' wide P&L files (CSV or spreadsheet) read, checked and merged into one
//! strategy-major [`WideTable`], ready to become the long/narrow engine tables.

pub mod arriving;
mod csv;
pub mod dates;
pub mod long;
mod merge;
mod xlsx;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Location, Result};

/// How strictly cell values are read.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Empty or non-numeric cells are an error instead of 0 (the legacy behaviour).
    pub strict: bool,
}

/// The key of one input row: the legacy tool merges files on (Date, Zone, Day).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    /// Days since 1970-01-01.
    pub date: i32,
    pub zone: Option<String>,
    pub day: Option<String>,
}

/// One input file as read: row-major values, one key per row.
#[derive(Debug)]
pub struct WideFile {
    pub path: PathBuf,
    /// The file stem: each strategy's "file label" in balanced mode.
    pub label: String,
    pub has_zone: bool,
    pub has_day: bool,
    pub names: Vec<String>,
    pub keys: Vec<RowKey>,
    /// Line (CSV) or row (spreadsheet) of each data row, for messages.
    pub lines: Vec<usize>,
    /// `keys.len() * names.len()` values, row by row.
    pub values: Vec<f64>,
    /// Cells that were empty or not numbers and became 0.
    pub missing: usize,
    pub bytes: u64,
}

/// All inputs merged: one column of daily P&L per strategy, strategies in column order.
#[derive(Debug, Clone)]
pub struct WideTable {
    pub names: Vec<String>,
    pub labels: Vec<String>,
    /// Trading dates (days since 1970-01-01), one per row, in row order.
    pub dates: Vec<i32>,
    /// Zone of each row, when the inputs have a `Zone` column.
    pub zones: Option<Vec<String>>,
    /// Strategy-major values: strategy `s` is `values[s * n_days .. (s + 1) * n_days]`.
    pub values: Vec<f64>,
    /// Cells that were empty, missing after the merge or not numbers, and became 0.
    pub missing_cells: usize,
    pub bytes_read: u64,
    pub warnings: Vec<String>,
}

impl WideTable {
    pub fn n_strategies(&self) -> usize {
        self.names.len()
    }
    pub fn n_days(&self) -> usize {
        self.dates.len()
    }
    /// Daily P&L of strategy `s` in row order.
    pub fn strategy(&self, s: usize) -> &[f64] {
        let d = self.n_days();
        &self.values[s * d..(s + 1) * d]
    }
}

/// Reads and merges the given inputs (CSV, or xlsx/xls/ods by extension).
pub fn read_inputs(paths: &[PathBuf], options: LoadOptions) -> Result<WideTable> {
    merge_files(read_files(paths, options)?)
}

/// Reads the given inputs, each as it is (the first half of [`read_inputs`]).
pub fn read_files(paths: &[PathBuf], options: LoadOptions) -> Result<Vec<WideFile>> {
    if paths.is_empty() {
        return Err(Error::invalid("--input", "no input file given"));
    }
    paths.iter().map(|p| read_file(p, options)).collect()
}

/// Merges files read by [`read_files`] into one strategy-major table (the second half of
/// [`read_inputs`]).
pub fn merge_files(files: Vec<WideFile>) -> Result<WideTable> {
    merge::merge(files)
}

/// Reads one input file by its extension.
pub fn read_file(path: &Path, options: LoadOptions) -> Result<WideFile> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => xlsx::read(path, options),
        _ => csv::read(path, options),
    }
}

/// Which header columns hold keys, and where the strategies start.
struct Header {
    has_zone: bool,
    has_day: bool,
    first_strategy: usize,
}

/// Checks a header row: `Date`, optional `Zone` and `Day`, then at least one uniquely named
/// strategy column.
fn check_header(path: &Path, line: usize, fields: &[String]) -> Result<Header> {
    let at = |col: usize| Location::file(path).line(line).column(col + 1, fields.get(col).map(|s| s.as_str()));
    let is = |i: usize, name: &str| fields.get(i).is_some_and(|f| f.trim().eq_ignore_ascii_case(name));
    if !is(0, "Date") {
        return Err(Error::input(at(0), "expected the first header column to be \"Date\""));
    }
    let has_zone = is(1, "Zone");
    let day_at = 1 + has_zone as usize;
    let has_day = is(day_at, "Day");
    let first_strategy = day_at + has_day as usize;
    if fields.len() <= first_strategy {
        return Err(Error::input(
            Location::file(path).line(line),
            "no strategy columns: expected one column per strategy after Date, Zone and Day",
        ));
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(fields.len());
    for (i, name) in fields.iter().enumerate().skip(first_strategy) {
        if name.trim().is_empty() {
            return Err(Error::input(at(i), "strategy column has an empty name"));
        }
        if let Some(first) = seen.insert(name.as_str(), i) {
            return Err(Error::input(
                at(i),
                format!("duplicate strategy name: the same name is already column {}", first + 1),
            ));
        }
    }
    Ok(Header { has_zone, has_day, first_strategy })
}

/// Parses one numeric cell; `None` for empty or non-numeric text, and for NaN and infinities
/// (the legacy has no rule for them: they count as missing, as empty cells do).
pub(crate) fn parse_cell(raw: &[u8]) -> Option<f64> {
    let raw = raw.trim_ascii();
    // The hot path: 2 million cells per production load. fast-float2 reads bytes directly
    // (no UTF-8 pass) and must consume the whole cell, so "1,5" or "12abc" stay non-numeric.
    match fast_float2::parse::<f64, _>(raw) {
        Ok(v) if v.is_finite() => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cell_reads_numbers_and_rejects_the_rest() {
        assert_eq!(parse_cell(b"1.5"), Some(1.5));
        assert_eq!(parse_cell(b" -2e3 "), Some(-2000.0));
        assert_eq!(parse_cell(b"-14258.492519999902"), Some(-14258.492519999902));
        for bad in [&b""[..], b"NaN", b"abc", b"1,5", b"N/A", b"inf", b"-inf", b"Infinity", b"1e999"] {
            assert_eq!(parse_cell(bad), None);
        }
    }
}
