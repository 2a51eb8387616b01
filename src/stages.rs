//! The per-strategy stages of a run inside the engine: ULTA, legacy metrics and standardized
//! values from the `sql/` templates, each passed through the rewriter, pulled back as Arrow.
//! Row-level results come back unordered and are placed by (strategy_id, trade_date) in one
//! pass: the engine's ORDER BY of 2M rows cost more than the placement.

use std::time::Instant;

use arrow::array::{Array, AsArray, Float64Array};
use arrow::datatypes::{DataType, Float64Type};

use crate::ab::execute_plan;
use crate::engine::{Engine, QueryOutput, TableData};
use crate::error::{Error, Result};
use crate::load::WideTable;
use crate::load::long::{self, TableNames};
use crate::metrics::StrategyMetrics;
use crate::rewrite::{Context, optimize};
use crate::templates::{self, Params};
use crate::ulta::Inversion;

/// Where a run computes ULTA, per-strategy metrics and standardized values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stats {
    /// In the SQL engine, through the rewritten templates (the default).
    #[default]
    Engine,
    /// In this process (the optimizer core's own code).
    Local,
}

/// What the engine stages hand to the search.
#[derive(Debug)]
pub struct EngineStats {
    pub table: WideTable,
    pub inversions: Vec<Inversion>,
    pub metrics: Vec<StrategyMetrics>,
    /// Standardized values, strategy by strategy (zeros for a constant strategy).
    pub z: Vec<f64>,
    pub ulta_seconds: f64,
    pub metrics_seconds: f64,
    pub standardize_seconds: f64,
}

/// Session-only table names of a run.
const RUN_TABLE: &str = "ht_run";

fn run(engine: &dyn Engine, template: &str, tables: &TableNames) -> Result<QueryOutput> {
    let params = Params { tables: Some(tables.clone()), ..Params::default() };
    let stmt = templates::bind(templates::find(template)?, &params)?;
    let ctx = Context::discover(engine, &stmt)?;
    let outcome = optimize(stmt, &ctx, None)?;
    execute_plan(engine, &outcome.plan)
}

/// One Float64 column of a result as one slice: the batch's own buffer when there is one
/// batch (no copy), else concatenated.
fn f64_column(out: &QueryOutput, name: &str) -> Result<Float64Array> {
    let i = out.schema.index_of(name)?;
    let arrays: Vec<&dyn Array> = out.batches.iter().map(|b| b.column(i).as_ref()).collect();
    let col = match arrays.as_slice() {
        [] => return Ok(Float64Array::from(Vec::<f64>::new())),
        [one] => arrow::array::make_array(one.to_data()),
        many => arrow::compute::concat(many)?,
    };
    let col = if col.data_type() == &DataType::Float64 { col } else { arrow::compute::cast(&col, &DataType::Float64)? };
    Ok(col.as_primitive::<Float64Type>().clone())
}

fn strings(out: &QueryOutput, name: &str) -> Result<Vec<String>> {
    out.strings(out.schema.index_of(name)?)
}

fn values(col: &Float64Array) -> Vec<f64> {
    col.values().to_vec()
}

/// Places unordered (strategy_id, trade_date, value) rows into an n x d strategy-major array
/// (one pass, no sort in the engine); every cell must be filled exactly once.
fn scatter(out: &QueryOutput, value: &str, dates: &[i32], n: usize) -> Result<Vec<f64>> {
    use arrow::datatypes::{Date32Type, Int32Type};
    let d = dates.len();
    let day: std::collections::HashMap<i32, usize> = dates.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let v = out.schema.index_of(value)?;
    let mut cells = vec![f64::NAN; n * d];
    let mut filled = 0usize;
    for b in &out.batches {
        let ids = arrow::compute::cast(b.column(0), &DataType::Int32)?;
        let ids = ids.as_primitive::<Int32Type>();
        let ts = b.column(1).as_primitive_opt::<Date32Type>().ok_or_else(|| {
            Error::invalid("engine stats", format!("trade_date is {}, expected DATE", b.column(1).data_type()))
        })?;
        let vs = arrow::compute::cast(b.column(v), &DataType::Float64)?;
        let vs = vs.as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let (s, t) = (ids.value(i) as usize, ts.value(i));
            let k = day.get(&t).filter(|_| s < n).map(|&di| s * d + di).ok_or_else(|| {
                Error::invalid("engine stats", format!("row (strategy {s}, date {t}) is outside the loaded table"))
            })?;
            if vs.is_null(i) || !cells[k].is_nan() {
                return Err(Error::invalid("engine stats", format!("strategy {s}, date {t}: NULL or repeated value")));
            }
            cells[k] = vs.value(i);
            filled += 1;
        }
    }
    if filled != n * d {
        return Err(Error::invalid("engine stats", format!("{filled} values for {n} strategies x {d} days")));
    }
    Ok(cells)
}

/// Registers the table in the engine's session and runs the stages there.
pub fn engine_stats(engine: &dyn Engine, table: WideTable, ulta: bool) -> Result<EngineStats> {
    let (n, d) = (table.n_strategies(), table.n_days());
    let loaded = TableNames::for_table(RUN_TABLE);
    let strategies = long::strategies_batch(&table)?;
    let pnl = long::pnl_batches(table.clone())?;
    engine.register_memory(TableData {
        name: loaded.strategies.clone(),
        schema: long::strategies_schema(),
        batches: vec![strategies],
    })?;
    engine.register_memory(TableData { name: loaded.pnl.clone(), schema: long::pnl_schema(), batches: pnl })?;

    let clock = Instant::now();
    let (table, inversions, tables) = if ulta {
        run(engine, "ulta_strategies", &loaded)?;
        run(engine, "ulta_pnl", &loaded)?;
        let report = run(engine, "ulta_report", &loaded)?;
        let figures = |c: &str| f64_column(&report, c).map(|a| values(&a));
        let (names, roi, inv_roi) = (strings(&report, "strategy")?, figures("original_roi")?, figures("inverted_roi")?);
        let (dd, inv_dd) = (figures("original_drawdown")?, figures("inverted_drawdown")?);
        let (ratio, inv_ratio) = (figures("original_ratio")?, figures("inverted_ratio")?);
        let inversions: Vec<Inversion> = (0..names.len())
            .map(|i| Inversion {
                // The report names the original strategy; the table carries the _inv name.
                strategy: names[i].strip_suffix(crate::ulta::INVERTED_SUFFIX).unwrap_or(&names[i]).to_owned(),
                original_roi: roi[i],
                inverted_roi: inv_roi[i],
                original_drawdown: dd[i],
                inverted_drawdown: inv_dd[i],
                original_ratio: ratio[i],
                inverted_ratio: inv_ratio[i],
            })
            .collect();
        let tables =
            TableNames { pnl: format!("{}_ulta", loaded.pnl), strategies: format!("{}_ulta", loaded.strategies) };
        let table = if inversions.is_empty() {
            table
        } else {
            let s =
                engine.execute(&format!("SELECT name, file_label FROM {} ORDER BY strategy_id", tables.strategies))?;
            let p = engine.execute(&format!("SELECT strategy_id, trade_date, pnl FROM {}", tables.pnl))?;
            let values = scatter(&p, "pnl", &table.dates, n)?;
            WideTable { names: strings(&s, "name")?, labels: strings(&s, "file_label")?, values, ..table }
        };
        (table, inversions, tables)
    } else {
        (table, Vec::new(), loaded)
    };
    let ulta_seconds = clock.elapsed().as_secs_f64();
    if table.values.len() != n * d {
        return Err(Error::invalid(
            "engine stats",
            format!("ULTA returned {} values for {n} x {d}", table.values.len()),
        ));
    }

    let clock = Instant::now();
    let m = run(engine, "strategy_metrics", &tables)?;
    let col = |c: &str| f64_column(&m, c);
    let (roi, mdd, win, pf, exp) =
        (col("roi")?, col("max_drawdown")?, col("win_percentage")?, col("profit_factor")?, col("expectancy")?);
    if roi.len() != n {
        return Err(Error::invalid("engine stats", format!("metrics returned {} rows for {n} strategies", roi.len())));
    }
    let metrics = (0..n)
        .map(|i| StrategyMetrics {
            roi: roi.value(i),
            max_drawdown: mdd.value(i),
            win_percentage: win.value(i),
            profit_factor: pf.value(i),
            expectancy: exp.value(i),
        })
        .collect();
    let metrics_seconds = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let z = scatter(&run(engine, "standardize", &tables)?, "z", &table.dates, n)?;
    let standardize_seconds = clock.elapsed().as_secs_f64();
    Ok(EngineStats { table, inversions, metrics, z, ulta_seconds, metrics_seconds, standardize_seconds })
}
