//! Between the input files and the engine: `heavytune load` (files -> long/narrow Arrow tables
//! -> engine, batch by batch) and reading a loaded table back into one wide table (one pull of each
//! table, every value checked).

use std::path::PathBuf;
use std::time::Instant;

use arrow::buffer::ScalarBuffer;
use heavytune_kernels::pages::HugeVec;

use crate::engine::{Engine, QueryOutput, TableSource, date32, fetch_sql, numeric};
use crate::error::{Error, Result};
use crate::load::arriving::Arriving;
use crate::load::long;
use crate::load::{self, LoadOptions, WideTable};
use crate::tables::{TableNames, strategies_schema};
use crate::templates::quote_ident;

/// What a load did, for the human and the JSON summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadSummary {
    pub inputs: Vec<PathBuf>,
    pub engine: String,
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

/// The engine tables of a wide table, named after `names`: strategies, then P&L (its values
/// move into the P&L table without a copy).
pub fn table_sources(mut wide: WideTable, names: &TableNames) -> Result<Vec<TableSource>> {
    let values = ScalarBuffer::from(std::mem::take(&mut wide.values));
    sources_over(&wide, Arriving::now(values), names, long::PNL_BATCH_ROWS)
}

/// The engine tables of `wide`'s strategies and days over `values` (its values, shared with
/// the caller, not copied, and maybe still on their way), at most `max_rows` rows per P&L
/// batch.
pub fn sources_over(
    wide: &WideTable,
    values: Arriving,
    names: &TableNames,
    max_rows: usize,
) -> Result<Vec<TableSource>> {
    let strategies = long::strategies_batch(wide)?;
    let pnl = long::LongPnl::arriving(values, wide, max_rows);
    Ok(vec![
        TableSource::from_batches(names.strategies.clone(), strategies_schema(), vec![strategies]),
        TableSource::replayable(names.pnl.clone(), std::sync::Arc::new(pnl)),
    ])
}

/// Reads the inputs and writes `pnl` and `strategies` tables (named after `table`) into the engine.
pub async fn load_into(
    engine: &dyn Engine,
    inputs: &[PathBuf],
    table: &str,
    options: LoadOptions,
) -> Result<LoadSummary> {
    let names = TableNames::for_table(table);
    let start = Instant::now();
    let wide = load::read_inputs(inputs, options)?;
    let parse_seconds = start.elapsed().as_secs_f64();

    let (strategies, days) = (wide.n_strategies(), wide.n_days());
    let (missing_cells, bytes_read, warnings) = (wide.missing_cells, wide.bytes_read, wide.warnings.clone());
    engine.ingest(table_sources(wide, &names)?).await?;
    let total_seconds = start.elapsed().as_secs_f64();
    Ok(LoadSummary {
        inputs: inputs.to_vec(),
        engine: engine.describe(),
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

/// Checks that `table` has the columns heavytune's tables have (a table loaded by an older
/// heavytune lacks `seq`).
pub async fn check_columns(engine: &dyn Engine, table: &str, wanted: &[&str]) -> Result<()> {
    let schema = engine.schema(table).await?.ok_or_else(|| {
        Error::invalid(
            "--table",
            format!("the engine ({}) has no table {table:?}; load data first: heavytune load", engine.describe()),
        )
    })?;
    let missing: Vec<&str> = wanted.iter().copied().filter(|c| schema.fields().iter().all(|f| f.name() != c)).collect();
    if !missing.is_empty() {
        return Err(Error::data(
            "--table",
            format!(
                "table {table:?} has no column {} (a table loaded by an older heavytune lacks seq: load it again)",
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Who is wrong when long rows do not fit their shape: the table the user named with
/// `--table` (bad input), or an answer the engine computed from our own tables.
#[derive(Clone, Copy, Debug)]
pub enum Blame {
    Table,
    Engine,
}

impl Blame {
    fn error(self, message: String) -> Error {
        match self {
            Blame::Table => Error::data("--table", message),
            Blame::Engine => Error::engine("the engine's answer", message),
        }
    }
}

/// Places long rows `(strategy_id, seq, [trade_date,] value)` of a fetched result into a
/// strategy-major `n` x `d` array, with the date of each `seq` when the rows carry one. NULL
/// and non-finite values become 0 and are counted; every cell must come exactly once.
pub(crate) fn place(
    out: &QueryOutput,
    n: usize,
    value: &str,
    table: &str,
    blame: Blame,
) -> Result<(Vec<f64>, Vec<i32>, usize)> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};

    let rows = out.num_rows();
    if n == 0 || !rows.is_multiple_of(n) {
        return Err(blame
            .error(format!("table {table:?} has {rows} rows for {n} strategies: not one row per strategy and day")));
    }
    let d = rows / n;
    let (i_id, i_seq, i_value) = (out.index_of("strategy_id")?, out.index_of("seq")?, out.index_of(value)?);
    let i_date = out.schema.index_of("trade_date").ok();
    // The strategy-major buffer the search reads, made for 2 MiB pages.
    let mut cells = HugeVec::zeroed(n * d);
    let mut seen = vec![false; n * d];
    let mut dates: Vec<Option<i32>> = vec![None; d];
    let mut missing = 0usize;
    for b in &out.batches {
        let ids = numeric(b.column(i_id), "strategy_id", &DataType::Int64)?;
        let seqs = numeric(b.column(i_seq), "seq", &DataType::Int64)?;
        let values = numeric(b.column(i_value), value, &DataType::Float64)?;
        let (ids, seqs, values) =
            (ids.as_primitive::<Int64Type>(), seqs.as_primitive::<Int64Type>(), values.as_primitive::<Float64Type>());
        let day_dates = i_date.map(|i| date32(b.column(i), "trade_date")).transpose()?;
        let day_dates = day_dates.as_ref().map(|c| c.as_primitive::<Date32Type>());
        for r in 0..b.num_rows() {
            let (s, t) = match (ids.is_valid(r), seqs.is_valid(r)) {
                (true, true) if (0..n as i64).contains(&ids.value(r)) && (0..d as i64).contains(&seqs.value(r)) => {
                    (ids.value(r) as usize, seqs.value(r) as usize)
                }
                _ => {
                    return Err(blame.error(format!(
                        "table {table:?}: row (strategy_id {:?}, seq {:?}) is outside {n} strategies x {d} days",
                        ids.is_valid(r).then(|| ids.value(r)),
                        seqs.is_valid(r).then(|| seqs.value(r))
                    )));
                }
            };
            let cell = s * d + t;
            if std::mem::replace(&mut seen[cell], true) {
                return Err(blame.error(format!("table {table:?}: strategy {s} has day {t} twice")));
            }
            match values.is_valid(r).then(|| values.value(r)) {
                Some(x) if x.is_finite() => cells[cell] = x,
                _ => missing += 1,
            }
            if let Some(col) = day_dates {
                if col.is_null(r) {
                    return Err(blame.error(format!("table {table:?}: day {t} has no date")));
                }
                let date = col.value(r);
                match dates[t] {
                    None => dates[t] = Some(date),
                    Some(other) if other != date => {
                        return Err(blame.error(format!(
                            "table {table:?}: day {t} has two dates (days {other} and {date} since 1970)"
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    let dates = if i_date.is_some() { dates.into_iter().map(|t| t.unwrap_or_default()).collect() } else { Vec::new() };
    Ok((cells, dates, missing))
}

/// The number of strategies of loaded tables (their strategies table's rows).
pub async fn count_strategies(engine: &dyn Engine, names: &TableNames) -> Result<usize> {
    check_columns(engine, &names.strategies, &["strategy_id", "name", "file_label"]).await?;
    let out = fetch_sql(engine, &format!("SELECT COUNT(*) AS n FROM {}", quote_ident(&names.strategies))).await?;
    let n = out.i64s("n")?.first().copied().flatten().unwrap_or(0);
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Reads loaded long tables back into one wide table: strategies by id, days by `seq`; NULL,
/// NaN and infinite values count as missing cells and become 0. `blame` says whose fault
/// rows that do not fit are.
pub async fn read_table(engine: &dyn Engine, names: &TableNames, blame: Blame) -> Result<WideTable> {
    check_columns(engine, &names.pnl, &["strategy_id", "seq", "trade_date", "zone", "pnl"]).await?;
    check_columns(engine, &names.strategies, &["strategy_id", "name", "file_label"]).await?;
    let strategies = fetch_sql(
        engine,
        &format!("SELECT strategy_id, name, file_label FROM {} ORDER BY strategy_id", quote_ident(&names.strategies)),
    )
    .await?;
    let ids = strategies.i64s("strategy_id")?;
    if let Some(i) = ids.iter().enumerate().position(|(i, id)| *id != Some(i as i64)) {
        return Err(blame.error(format!(
            "table {:?}: strategy ids are not 0, 1, 2, ... (position {i} holds {:?})",
            names.strategies, ids[i]
        )));
    }
    let (wide_names, labels) =
        (strategies.strings(strategies.index_of("name")?)?, strategies.strings(strategies.index_of("file_label")?)?);
    let pnl = fetch_sql(engine, &format!("SELECT strategy_id, seq, trade_date, pnl FROM {}", quote_ident(&names.pnl)))
        .await?;
    let (values, dates, missing_cells) = place(&pnl, wide_names.len(), "pnl", &names.pnl, blame)?;
    let mut warnings = Vec::new();
    if dates.windows(2).any(|w| w[1] < w[0]) {
        warnings.push(format!(
            "table {:?}: dates are not in ascending order; days follow the table's seq (the input's order), as the legacy tool does",
            names.pnl
        ));
    }
    Ok(WideTable { names: wide_names, labels, dates, zones: None, values, missing_cells, bytes_read: 0, warnings })
}
