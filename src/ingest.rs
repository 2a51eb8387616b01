//! `heavytune load`: input files -> long/narrow Arrow tables -> engine, with timings.

use std::path::PathBuf;
use std::time::Instant;

use crate::engine::{Engine, TableData};
use crate::error::{Error, Result};
use crate::load::long::{self, TableNames};
use crate::load::{self, LoadOptions, WideTable};

/// What a load did, for the human and the JSON summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadSummary {
    pub inputs: Vec<PathBuf>,
    pub engine: &'static str,
    pub pnl_table: String,
    pub strategies_table: String,
    pub strategies: usize,
    pub days: usize,
    pub pnl_rows: usize,
    pub missing_cells: usize,
    pub bytes_read: u64,
    /// Reading and parsing the inputs.
    pub parse_seconds: f64,
    /// Building the Arrow tables and writing them into the engine.
    pub ingest_seconds: f64,
    pub total_seconds: f64,
    pub mb_per_second: f64,
    pub warnings: Vec<String>,
}

/// Reads the inputs and writes `pnl` and `strategies` tables (named after `table`) into the engine.
pub fn load_into(engine: &dyn Engine, inputs: &[PathBuf], table: &str, options: LoadOptions) -> Result<LoadSummary> {
    let names = TableNames::for_table(table);
    let start = Instant::now();
    let wide = load::read_inputs(inputs, options)?;
    let parse_seconds = start.elapsed().as_secs_f64();

    let (strategies, days) = (wide.n_strategies(), wide.n_days());
    let (missing_cells, bytes_read, warnings) = (wide.missing_cells, wide.bytes_read, wide.warnings.clone());
    let strategies_batch = long::strategies_batch(&wide)?;
    let pnl = long::pnl_batches(wide)?;
    engine.ingest(vec![
        TableData {
            name: names.strategies.clone(),
            schema: long::strategies_schema(),
            batches: vec![strategies_batch],
        },
        TableData { name: names.pnl.clone(), schema: long::pnl_schema(), batches: pnl },
    ])?;
    let total_seconds = start.elapsed().as_secs_f64();
    Ok(LoadSummary {
        inputs: inputs.to_vec(),
        engine: engine.name(),
        pnl_table: names.pnl,
        strategies_table: names.strategies,
        strategies,
        days,
        pnl_rows: strategies * days,
        missing_cells,
        bytes_read,
        parse_seconds,
        ingest_seconds: total_seconds - parse_seconds,
        total_seconds,
        mb_per_second: bytes_read as f64 / 1e6 / total_seconds.max(1e-9),
        warnings,
    })
}

/// Reads a loaded long table back into one wide table (strategies by id, days by date).
pub fn read_table(engine: &dyn Engine, table: &str) -> Result<WideTable> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Date32Type, Float64Type, Int32Type};

    let names = TableNames::for_table(table);
    let strategies = engine.execute(&format!(
        "SELECT strategy_id, name, file_label FROM {} ORDER BY strategy_id",
        crate::templates::quote_ident(&names.strategies)
    ))?;
    let (wide_names, labels) = (strategies.strings(1)?, strategies.strings(2)?);
    let pnl = engine.execute(&format!(
        "SELECT strategy_id, trade_date, pnl FROM {} ORDER BY strategy_id, trade_date",
        crate::templates::quote_ident(&names.pnl)
    ))?;
    let rows = pnl.num_rows();
    let n = wide_names.len();
    if n == 0 || rows % n != 0 {
        return Err(Error::invalid(
            "--table",
            format!("table {table:?} has {rows} P&L rows for {n} strategies: not one row per strategy and day"),
        ));
    }
    let days = rows / n;
    let mut values = Vec::with_capacity(rows);
    let mut dates = Vec::with_capacity(days);
    let mut row = 0usize;
    for b in &pnl.batches {
        let ids = b.column(0).as_primitive::<Int32Type>();
        let ds = b.column(1).as_primitive::<Date32Type>();
        let vs = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let (s, d) = (row / days, row % days);
            if ids.value(i) as usize != s {
                return Err(Error::invalid(
                    "--table",
                    format!("strategy {s} of table {table:?} does not have {days} days"),
                ));
            }
            if s == 0 {
                dates.push(ds.value(i));
            } else if dates[d] != ds.value(i) {
                return Err(Error::invalid(
                    "--table",
                    format!("strategy {s} of table {table:?} has other dates than strategy 0"),
                ));
            }
            values.push(if vs.is_null(i) { 0.0 } else { vs.value(i) });
            row += 1;
        }
    }
    Ok(WideTable {
        names: wide_names,
        labels,
        dates,
        zones: None,
        values,
        missing_cells: 0,
        bytes_read: 0,
        warnings: Vec::new(),
    })
}
