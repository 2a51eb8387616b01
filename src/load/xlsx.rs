//! Spreadsheet input (xlsx, xls, xlsb, ods) through calamine: the first sheet, laid out like
//! the CSV (header row, then one row per trading day).

use std::path::Path;

use calamine::{Data, Reader, open_workbook_auto};

use super::csv::file_label;
use super::{LoadOptions, RowKey, WideFile, check_header, dates, parse_cell};
use crate::error::{Error, Location, Result};

pub(super) fn read(path: &Path, options: LoadOptions) -> Result<WideFile> {
    let bytes = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    let not_a_workbook =
        |e: calamine::Error| Error::input(Location::file(path), format!("cannot read as a spreadsheet: {e}"));
    let mut book = open_workbook_auto(path).map_err(not_a_workbook)?;
    let range = match book.worksheet_range_at(0) {
        Some(r) => r.map_err(not_a_workbook)?,
        None => return Err(Error::input(Location::file(path), "the workbook has no sheet")),
    };
    // Spreadsheet rows are 1-based; the used range may start below row 1.
    let first_row = range.start().map(|(r, _)| r as usize + 1).unwrap_or(1);
    let mut rows = range.rows().enumerate().map(|(i, r)| (first_row + i, r));
    let Some((header_line, header_cells)) = rows.next() else {
        return Err(Error::input(
            Location::file(path),
            "the sheet is empty: expected a header row and rows of daily P&L",
        ));
    };
    let names: Vec<String> = header_cells.iter().map(|c| c.to_string().trim().to_owned()).collect();
    let header = check_header(path, header_line, &names)?;
    let n_strategies = names.len() - header.first_strategy;

    let mut file = WideFile {
        path: path.to_path_buf(),
        label: file_label(path),
        has_zone: header.has_zone,
        has_day: header.has_day,
        names: names[header.first_strategy..].to_vec(),
        keys: Vec::new(),
        lines: Vec::new(),
        values: Vec::new(),
        missing: 0,
        bytes,
    };
    for (line, cells) in rows {
        if cells.iter().all(|c| matches!(c, Data::Empty)) {
            continue;
        }
        let at = |col: usize| Location::file(path).line(line).column(col + 1, names.get(col).map(|s| s.as_str()));
        let date = cell_date(&cells[0]).ok_or_else(|| {
            Error::input(at(0), format!("expected {}, found {:?}", dates::expected_formats(), cells[0].to_string()))
        })?;
        let text = |i: usize| cells.get(i).map(|c| c.to_string().trim().to_owned()).unwrap_or_default();
        file.keys.push(RowKey {
            date,
            zone: header.has_zone.then(|| text(1)),
            day: header.has_day.then(|| text(1 + header.has_zone as usize)),
        });
        file.lines.push(line);
        for i in 0..n_strategies {
            let col = header.first_strategy + i;
            match cells.get(col).and_then(cell_number) {
                Some(v) => file.values.push(v),
                None if options.strict => {
                    let found = cells.get(col).map(|c| c.to_string()).unwrap_or_default();
                    return Err(Error::input(at(col), format!("expected a number, found {found:?} (--strict)")));
                }
                None => {
                    file.values.push(0.0);
                    file.missing += 1;
                }
            }
        }
    }
    if file.keys.is_empty() {
        return Err(Error::input(
            Location::file(path).line(header_line),
            "the sheet has a header but no data rows: expected one row per trading day",
        ));
    }
    Ok(file)
}

fn cell_number(cell: &Data) -> Option<f64> {
    match cell {
        Data::Float(v) if v.is_finite() => Some(*v),
        Data::Int(v) => Some(*v as f64),
        Data::String(s) => parse_cell(s.as_bytes()),
        _ => None,
    }
}

fn cell_date(cell: &Data) -> Option<i32> {
    match cell {
        Data::DateTime(dt) => dt.as_datetime().map(|d| dates::date_to_days(d.date())),
        Data::DateTimeIso(s) | Data::String(s) => dates::parse_date(s),
        _ => None,
    }
}
