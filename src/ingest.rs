//! `heavytune load`: input files -> long/narrow Arrow tables -> engine, with timings.

use std::path::PathBuf;
use std::time::Instant;

use crate::engine::{Engine, TableData};
use crate::error::Result;
use crate::load::long::{self, TableNames};
use crate::load::{self, LoadOptions};

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
