//! The wide CSV reader: the hot path of `heavytune load`.
//!
//! The whole file is read at once and cut into rows (quote-aware only when the data has quotes);
//! rows are then parsed in parallel, each straight into its slot of one row-major buffer.

use std::path::Path;

use rayon::prelude::*;

use super::{Header, LoadOptions, RowKey, WideFile, check_header, dates, parse_cell};
use crate::error::{Error, Location, Result};

pub(super) fn read(path: &Path, options: LoadOptions) -> Result<WideFile> {
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(path, &data, options)
}

/// Parses the bytes of a wide CSV file (the path is for labels and messages only).
pub(super) fn parse(path: &Path, data: &[u8], options: LoadOptions) -> Result<WideFile> {
    let bytes = data.len() as u64;
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::input(
            Location::file(path),
            "the file is empty: expected a header line (Date, Zone, Day, then one column per strategy) and rows of daily P&L",
        ));
    }

    let (header_fields, consumed) = read_record(data);
    let header_fields = header_fields
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            String::from_utf8(f).map_err(|_| {
                Error::input(Location::file(path).line(1).column(i + 1, None), "header is not valid UTF-8 text")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let header = check_header(path, 1, &header_fields)?;
    let header_lines = memchr::memchr_iter(b'\n', &data[..consumed]).count().max(1);

    let rows = split_rows(&data[consumed..], header_lines + 1);
    if rows.is_empty() {
        return Err(Error::input(
            Location::file(path).line(header_lines),
            "the file has a header but no data rows: expected one row per trading day",
        ));
    }

    let n_fields = header_fields.len();
    let n_strategies = n_fields - header.first_strategy;
    let mut values = vec![0.0f64; rows.len() * n_strategies];
    let parsed: Vec<Result<(RowKey, usize)>> = values
        .par_chunks_mut(n_strategies)
        .zip(rows.par_iter())
        .map(|(out, row)| parse_row(path, &header, &header_fields, row, out, options))
        .collect();
    let mut keys = Vec::with_capacity(rows.len());
    let mut missing = 0;
    for r in parsed {
        let (key, m) = r?;
        keys.push(key);
        missing += m;
    }

    Ok(WideFile {
        path: path.to_path_buf(),
        label: file_label(path),
        has_zone: header.has_zone,
        has_day: header.has_day,
        names: header_fields[header.first_strategy..].to_vec(),
        keys,
        lines: rows.iter().map(|r| r.line).collect(),
        values,
        missing,
        bytes,
    })
}

/// The file stem, which the legacy tool uses as file label and name prefix.
pub(super) fn file_label(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// One data row: its bytes (no line terminator) and the file line it starts on.
struct Row<'a> {
    bytes: &'a [u8],
    line: usize,
    quoted: bool,
}

/// Cuts the data part into rows, skipping blank lines; a newline inside quotes stays in its row.
fn split_rows(data: &[u8], first_line: usize) -> Vec<Row<'_>> {
    let quoted = memchr::memchr(b'"', data).is_some();
    let mut rows = Vec::new();
    fn push<'a>(rows: &mut Vec<Row<'a>>, bytes: &'a [u8], line: usize, quoted: bool) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if !bytes.iter().all(|b| *b == b' ' || *b == b'\t' || *b == b'\r') {
            rows.push(Row { bytes, line, quoted: quoted && memchr::memchr(b'"', bytes).is_some() });
        }
    }
    let (mut start, mut line, mut row_line, mut in_quotes) = (0usize, first_line, first_line, false);
    if quoted {
        for pos in memchr::memchr2_iter(b'"', b'\n', data) {
            if data[pos] == b'"' {
                in_quotes = !in_quotes;
                continue;
            }
            line += 1;
            if !in_quotes {
                push(&mut rows, &data[start..pos], row_line, quoted);
                start = pos + 1;
                row_line = line;
            }
        }
    } else {
        for pos in memchr::memchr_iter(b'\n', data) {
            push(&mut rows, &data[start..pos], line, quoted);
            line += 1;
            start = pos + 1;
        }
        row_line = line;
    }
    if start < data.len() {
        push(&mut rows, &data[start..], row_line, quoted);
    }
    rows
}

/// Reads one CSV record with full quoting rules; returns its fields and the bytes consumed
/// (terminator included).
fn read_record(input: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut reader = csv_core::Reader::new();
    let mut out = vec![0u8; input.len() + 1];
    let mut ends = vec![0usize; 1024];
    let (mut nin_total, mut nout_total, mut nend_total) = (0, 0, 0);
    loop {
        let (res, nin, nout, nend) =
            reader.read_record(&input[nin_total..], &mut out[nout_total..], &mut ends[nend_total..]);
        nin_total += nin;
        nout_total += nout;
        nend_total += nend;
        match res {
            csv_core::ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
            csv_core::ReadRecordResult::OutputFull => out.resize(out.len() * 2, 0),
            csv_core::ReadRecordResult::InputEmpty if nin_total < input.len() => {}
            csv_core::ReadRecordResult::InputEmpty => {
                // End of input without a terminator: flush the last record.
                let (res, _, _, nend) = reader.read_record(&[], &mut out[nout_total..], &mut ends[nend_total..]);
                nend_total += nend;
                debug_assert!(matches!(res, csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End));
                break;
            }
            csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
        }
    }
    let mut fields = Vec::with_capacity(nend_total);
    let mut start = 0;
    for &end in &ends[..nend_total] {
        fields.push(out[start..end].to_vec());
        start = end;
    }
    // csv-core stops after '\r' of a CRLF pair: the '\n' belongs to this record too.
    if nin_total > 0 && input.get(nin_total - 1) == Some(&b'\r') && input.get(nin_total) == Some(&b'\n') {
        nin_total += 1;
    }
    (fields, nin_total)
}

/// Parses one data row into `out` (one value per strategy); returns its key and missing count.
fn parse_row(
    path: &Path,
    header: &Header,
    names: &[String],
    row: &Row<'_>,
    out: &mut [f64],
    options: LoadOptions,
) -> Result<(RowKey, usize)> {
    let owned;
    let fields: Vec<&[u8]> = if row.quoted {
        owned = read_record(row.bytes).0;
        owned.iter().map(|f| f.as_slice()).collect()
    } else {
        row.bytes.split(|b| *b == b',').collect()
    };
    let at = |col: usize| Location::file(path).line(row.line).column(col + 1, names.get(col).map(|s| s.as_str()));
    if fields.len() != names.len() {
        return Err(Error::input(
            Location::file(path).line(row.line),
            format!("expected {} fields as in the header, found {} (ragged row)", names.len(), fields.len()),
        ));
    }
    let text = |i: usize| String::from_utf8_lossy(fields[i]).trim().to_owned();
    let date_text = text(0);
    let date = dates::parse_date(&date_text)
        .ok_or_else(|| Error::input(at(0), format!("expected {}, found {date_text:?}", dates::expected_formats())))?;
    let zone = header.has_zone.then(|| text(1));
    let day = header.has_day.then(|| text(1 + header.has_zone as usize));

    let mut missing = 0;
    for (i, (slot, raw)) in out.iter_mut().zip(&fields[header.first_strategy..]).enumerate() {
        match parse_cell(raw) {
            Some(v) => *slot = v,
            None if options.strict => {
                return Err(Error::input(
                    at(header.first_strategy + i),
                    format!("expected a number, found {:?} (--strict)", String::from_utf8_lossy(raw)),
                ));
            }
            None => missing += 1,
        }
    }
    Ok((RowKey { date, zone, day }, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<WideFile> {
        parse(Path::new("t.csv"), s.as_bytes(), LoadOptions::default())
    }

    #[test]
    fn reads_quoted_names_bom_and_crlf() {
        let f = parse_str("\u{feff}Date,Zone,Day,\"A, \"\"x\"\"\",B\r\n2024-01-02,All Day,Tuesday,1.5,-2\r\n2024-01-03,All Day,Wednesday,,3\r\n").unwrap();
        assert_eq!(f.names, vec!["A, \"x\"".to_string(), "B".to_string()]);
        assert_eq!(f.values, vec![1.5, -2.0, 0.0, 3.0]);
        assert_eq!(f.missing, 1);
        assert_eq!(f.keys[1].zone.as_deref(), Some("All Day"));
        assert_eq!(f.lines, vec![2, 3]);
    }

    #[test]
    fn reads_without_zone_and_day_and_without_final_newline() {
        let f = parse_str("Date,S1\n2024-01-02,4\n\n2024-01-03,5").unwrap();
        assert!(!f.has_zone && !f.has_day);
        assert_eq!(f.values, vec![4.0, 5.0]);
        assert_eq!(f.lines, vec![2, 4]);
    }

    #[test]
    fn quoted_cells_in_rows_are_read() {
        let f = parse_str("Date,S1,S2\n\"2024-01-02\",\"1.25\",2\n").unwrap();
        assert_eq!(f.values, vec![1.25, 2.0]);
    }

    #[test]
    fn strict_names_line_and_column() {
        let e = parse(Path::new("t.csv"), b"Date,S1,S2\n2024-01-02,1,x\n", LoadOptions { strict: true }).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("t.csv:2, column 3 (\"S2\")") && msg.contains("expected a number"), "{msg}");
    }

    #[test]
    fn ragged_row_names_the_line() {
        let msg = parse_str("Date,S1,S2\n2024-01-02,1,2\n2024-01-03,1\n").unwrap_err().to_string();
        assert!(msg.contains("t.csv:3") && msg.contains("expected 3 fields"), "{msg}");
    }
}
