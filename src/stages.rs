//! The per-strategy stages of a run inside the engine: ULTA, then the legacy metrics and the
//! standardization's moments in one statement (`sql/strategy_stats.sql`), each template passed
//! through the rewriter and pulled back as Arrow; the standardized values are the values
//! centred and scaled by those moments.
//!
//! They run on long tables already in the engine: the ones `heavytune load` stored (`run
//! --table`), or session tables made from input files. Every table a stage creates is a
//! session table of the run's [`Temporaries`], dropped when the run ends. Rows come back
//! unordered and are placed by (strategy_id, seq) in one pass.

use std::time::Instant;

use arrow::array::{Array, Float64Array};
use arrow::buffer::ScalarBuffer;
use heavytune_kernels::standardize::Moments;
use rayon::prelude::*;
use sqlparser::ast::Statement;

use crate::engine::{Engine, QueryOutput, Temporaries, fetch_sql};
use crate::error::{Error, Result};
use crate::exec::execute_plan;
use crate::ingest::{Blame, check_columns, read_table};
use crate::load::WideTable;
use crate::load::long;
use crate::rewrite::{Context, optimize};
use crate::strategy_metrics::StrategyMetrics;
use crate::tables::TableNames;
use crate::templates::{self, Params, quote_ident};
use crate::ulta::{INVERTED_SUFFIX, Inversion};

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
    /// The data after ULTA: names, labels, dates and values as the search sees them.
    pub table: WideTable,
    pub inversions: Vec<Inversion>,
    pub metrics: Vec<StrategyMetrics>,
    /// Each strategy's mean, norm and flatness, from which its standardized values are
    /// `moments[s].z(v)` ([`EngineStats::z`]).
    pub moments: Vec<Moments>,
    pub read_seconds: f64,
    pub ulta_seconds: f64,
    /// The statement, reading its rows into metrics and moments, and dropping the input.
    pub metrics_seconds: f64,
}

impl EngineStats {
    /// The standardized values, strategy by strategy (zeros for a flat strategy): each value
    /// centred on its strategy's mean and scaled by its norm, as standardize.sql computes them.
    pub fn z(&self) -> Vec<f64> {
        let d = self.table.n_days().max(1);
        let mut z = vec![0.0; self.table.values.len()];
        z.par_chunks_mut(d).zip(self.table.values.par_chunks(d)).zip(&self.moments).for_each(|((zs, xs), m)| {
            zs.iter_mut().zip(xs).for_each(|(z, &x)| *z = m.z(x));
        });
        z
    }
}

/// Where the stages' input comes from.
pub enum StageInput {
    /// Tables `heavytune load` stored; `limit` keeps the first strategies only.
    Stored { tables: TableNames, limit: Option<usize> },
    /// A wide table already read (from files, or a table read whole): it becomes the run's
    /// session tables.
    Wide(WideTable),
}

/// Session table names of a run (session-scoped, so no two runs meet).
const RUN_TABLE: &str = "ht_run";

/// A template bound to `tables`, through the rewriter (planning for the engine's
/// capabilities).
async fn plan(engine: &dyn Engine, template: &str, tables: &TableNames) -> Result<crate::rewrite::Plan> {
    let params = Params { tables: Some(tables.clone()), ..Params::default() };
    let stmt = templates::bind(templates::find(template)?, &params)?;
    let ctx = Context::discover(engine, &stmt).await?;
    Ok(optimize(stmt, &ctx, None)?.plan)
}

async fn run(engine: &dyn Engine, template: &str, tables: &TableNames) -> Result<QueryOutput> {
    execute_plan(engine, &plan(engine, template, tables).await?).await
}

/// Runs a `CREATE TABLE ... AS` template as a session table of the run; `in_order`: a long
/// table, stored by (strategy_id, seq) where the engine keeps insertion order.
async fn create(temps: &mut Temporaries<'_>, template: &str, tables: &TableNames, in_order: bool) -> Result<String> {
    let plan = plan(temps.engine(), template, tables).await?;
    let Statement::CreateTable(ct) = &plan.statement else {
        return Err(Error::internal(format!("template {template} is not a CREATE TABLE AS")));
    };
    let (Some(query), name) = (&ct.query, crate::templates::bare_name(&ct.name)) else {
        return Err(Error::internal(format!("template {template} creates a table without a query")));
    };
    let select = Statement::Query(query.clone());
    let select = if in_order && temps.engine().capabilities().scans_in_insertion_order {
        // The server keeps a CREATE TABLE AS's rows in the order they come and later scans
        // return them so: ordered by (strategy_id, seq), the standardize stage's sums add each
        // strategy's days in order, giving the in-process computation's bits. (DataFusion's
        // session tables are scanned partition by partition, where a sort would not hold:
        // after ULTA a few of its standardized values differ from the in-process ones in the
        // last bits, see reports/README.md.)
        templates::parse(&format!("SELECT * FROM ({select}) AS ordered_rows ORDER BY strategy_id, seq"))?
    } else {
        select
    };
    temps.create_as(&name, &select).await?;
    Ok(name)
}

/// Stored tables as the stages need them: checked, and copied into session tables with
/// missing and non-finite values as 0 (and only the first `limit` strategies) where needed.
/// Returns the tables to use and the missing cells of the whole table.
async fn prepare_stored(
    temps: &mut Temporaries<'_>,
    tables: &TableNames,
    limit: Option<usize>,
) -> Result<(TableNames, usize)> {
    let engine = temps.engine();
    check_columns(engine, &tables.pnl, &["strategy_id", "seq", "trade_date", "zone", "pnl"]).await?;
    check_columns(engine, &tables.strategies, &["strategy_id", "name", "file_label"]).await?;
    let pnl = quote_ident(&tables.pnl);
    let bad = "pnl IS NULL OR NOT (ABS(pnl) < CAST('inf' AS DOUBLE))";
    let facts = fetch_sql(
        engine,
        &format!(
            "SELECT COUNT(*) AS n_rows, COUNT(DISTINCT strategy_id) AS n_ids, \
             SUM(CASE WHEN {bad} THEN 1 ELSE 0 END) AS n_missing FROM {pnl}"
        ),
    )
    .await?;
    let get = |c: &str| facts.i64s(c).map(|v| v.first().copied().flatten().unwrap_or(0));
    let (n_ids, missing) = (get("n_ids")?, get("n_missing")?);
    let limited = limit.filter(|&l| (l as i64) < n_ids);
    if missing == 0 && limited.is_none() {
        return Ok((tables.clone(), 0));
    }
    let keep = limited.map(|l| format!(" WHERE strategy_id < {l}")).unwrap_or_default();
    let names = TableNames::for_table(&format!("{RUN_TABLE}_input"));
    let clean = templates::parse(&format!(
        "SELECT strategy_id, seq, trade_date, zone, CASE WHEN {bad} THEN CAST(0 AS DOUBLE) ELSE pnl END AS pnl \
         FROM {pnl}{keep}"
    ))?;
    temps.create_as(&names.pnl, &clean).await?;
    let strategies = templates::parse(&format!(
        "SELECT strategy_id, name, file_label FROM {}{keep}",
        quote_ident(&tables.strategies)
    ))?;
    temps.create_as(&names.strategies, &strategies).await?;
    // Counted over the whole table, as a file's missing cells are counted before strat_limit.
    Ok((names, missing as usize))
}

/// ULTA's decisions in the engine: the session strategies table they make (each strategy's
/// new position, source and whether it is inverted) and the report's figures.
async fn ulta_decide(temps: &mut Temporaries<'_>, tables: &TableNames) -> Result<(String, Vec<Inversion>)> {
    let strategies = create(temps, "ulta_strategies", tables, false).await?;
    let report = run(temps.engine(), "ulta_report", tables).await?;
    let figures = |c: &str| -> Result<Vec<f64>> {
        report
            .f64s(c)?
            .into_iter()
            .map(|v| v.ok_or_else(|| Error::engine("ulta_report", format!("NULL {c}"))))
            .collect()
    };
    let names = report.strings(report.index_of("strategy")?)?;
    let (roi, inv_roi) = (figures("original_roi")?, figures("inverted_roi")?);
    let (dd, inv_dd) = (figures("original_drawdown")?, figures("inverted_drawdown")?);
    let (ratio, inv_ratio) = (figures("original_ratio")?, figures("inverted_ratio")?);
    let inversions = (0..names.len())
        .map(|i| Inversion {
            // The report names the original strategy; the table carries the _inv name.
            strategy: names[i].strip_suffix(INVERTED_SUFFIX).unwrap_or(&names[i]).to_owned(),
            original_roi: roi[i],
            inverted_roi: inv_roi[i],
            original_drawdown: dd[i],
            inverted_drawdown: inv_dd[i],
            original_ratio: ratio[i],
            inverted_ratio: inv_ratio[i],
        })
        .collect();
    Ok((strategies, inversions))
}

/// Whether each of `n` strategies is inverted, by its loaded position, from the engine's
/// decisions table; checked against the order the search expects (kept strategies, then the
/// inverted ones, each in their order), which the table's new positions must follow.
async fn decisions(engine: &dyn Engine, strategies: &str, n: usize) -> Result<Vec<bool>> {
    let out = fetch_sql(
        engine,
        &format!(
            "SELECT strategy_id, source_id, CASE WHEN inverted THEN 1 ELSE 0 END AS inverted FROM {} ORDER BY source_id",
            quote_ident(strategies)
        ),
    )
    .await?;
    let wrong = |why: String| Error::engine("ulta_strategies", why);
    let (new, source) = (out.i64s("strategy_id")?, out.i64s("source_id")?);
    let flags = out.i64s("inverted")?;
    if source.len() != n || source.iter().enumerate().any(|(i, s)| *s != Some(i as i64)) {
        return Err(wrong(format!("{} decisions for strategies 0..{n}", source.len())));
    }
    let inverted: Vec<bool> = flags.iter().map(|f| *f == Some(1)).collect();
    let order = crate::ulta::order(&inverted);
    for (position, &old) in order.iter().enumerate() {
        if new[old] != Some(position as i64) {
            return Err(wrong(format!(
                "strategy {old} moved to {:?}, where ULTA's order puts it at {position}",
                new[old]
            )));
        }
    }
    Ok(inverted)
}

/// Hands a wide table to the engine as the session tables `name` (and its strategies): the
/// engine reads the values where they are, its long table made batch by batch over the
/// table's own buffer, which it shares until the table is dropped. Returns the table without
/// its values, the shared buffer and the names.
async fn hand_over(
    temps: &mut Temporaries<'_>,
    mut table: WideTable,
    name: &str,
) -> Result<(WideTable, ScalarBuffer<f64>, TableNames)> {
    let names = TableNames::for_table(name);
    let values = ScalarBuffer::from(std::mem::take(&mut table.values));
    for source in crate::ingest::sources_over(&table, values.clone(), &names, long::REPLAY_BATCH_ROWS)? {
        temps.create(source).await?;
    }
    Ok((table, values, names))
}

/// The values of a shared buffer, without a copy once nothing else holds it.
fn reclaim(values: ScalarBuffer<f64>) -> Vec<f64> {
    values.into_inner().into_vec::<f64>().unwrap_or_else(|b| b.typed_data::<f64>().to_vec())
}

/// The metrics and moments of strategies `0..n` from the rows of `strategy_stats`, read from
/// the engine's arrays as they are (a NULL metric is NaN), or an error naming what is wrong:
/// rows not for strategies 0..n in order, or the first strategy whose moments are missing or
/// not finite. A strategy is flat where the engine says so, or where its norm is zero.
fn read_stats(m: &QueryOutput, n: usize) -> Result<(Vec<StrategyMetrics>, Vec<Moments>)> {
    let ids = m.i64_arrays("strategy_id")?;
    let in_order = ids.iter().flat_map(|a| a.iter()).enumerate().all(|(i, id)| id == Some(i as i64));
    if m.num_rows() != n || !in_order {
        return Err(Error::engine("strategy_stats", format!("{} rows for strategies 0..{n} in order", m.num_rows())));
    }
    let metric = |c: &str| m.f64_arrays(c);
    let (roi, mdd, win, pf, exp) = (
        metric("roi")?,
        metric("max_drawdown")?,
        metric("win_percentage")?,
        metric("profit_factor")?,
        metric("expectancy")?,
    );
    let (mean, norm, flat) = (m.f64_arrays("mean")?, m.f64_arrays("norm")?, m.i64_arrays("flat")?);
    let mut metrics = Vec::with_capacity(n);
    let mut moments = Vec::with_capacity(n);
    for b in 0..m.batches.len() {
        let value = |a: &[Float64Array], i: usize| if a[b].is_valid(i) { a[b].value(i) } else { f64::NAN };
        for i in 0..m.batches[b].num_rows() {
            metrics.push(StrategyMetrics {
                roi: value(&roi, i),
                max_drawdown: value(&mdd, i),
                win_percentage: value(&win, i),
                profit_factor: value(&pf, i),
                expectancy: value(&exp, i),
            });
            let (mean, norm) = (value(&mean, i), value(&norm, i));
            let s = moments.len();
            if flat[b].is_null(i) {
                return Err(Error::engine("strategy_stats", format!("no moments for strategy {s}")));
            }
            if !mean.is_finite() || !norm.is_finite() {
                return Err(Error::engine(
                    "strategy_stats",
                    format!("strategy {s} has a NULL or non-finite mean ({mean}) or norm ({norm})"),
                ));
            }
            moments.push(Moments { mean, norm, flat: flat[b].value(i) != 0 || norm == 0.0 });
        }
    }
    Ok((metrics, moments))
}

/// Runs the stages in `temps`' engine. With files, the values the search sees are the files'
/// own (after ULTA, with the engine's decisions applied to them); with stored tables they are
/// pulled once, after ULTA.
pub async fn engine_stats(temps: &mut Temporaries<'_>, input: StageInput, ulta_on: bool) -> Result<EngineStats> {
    let clock = Instant::now();
    let (mut tables, mut local, missing) = match input {
        StageInput::Stored { tables, limit } => {
            let (tables, missing) = prepare_stored(temps, &tables, limit).await?;
            (tables, None, missing)
        }
        StageInput::Wide(table) => {
            let (table, values, names) = hand_over(temps, table, &format!("{RUN_TABLE}_input")).await?;
            let input = names.pnl.clone();
            (names, Some((table, values, input)), 0)
        }
    };
    let mut read_seconds = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let inversions = if ulta_on {
        let (strategies, inversions) = ulta_decide(temps, &tables).await?;
        match local.take() {
            // The engine holds the input, and this process its values: the engine's decisions
            // are applied to them (a permutation and sign flips, exact), and the engine reads
            // the result as the run's inverted tables, as it read the input; no inverted copy
            // is made in the engine and pulled back.
            Some((table, values, input)) if !inversions.is_empty() => {
                let inverted = decisions(temps.engine(), &strategies, table.n_strategies()).await?;
                temps.engine().drop_temporary(&input).await?;
                let table = crate::ulta::invert(WideTable { values: reclaim(values), ..table }, &inverted);
                let (table, values, names) = hand_over(temps, table, &format!("{RUN_TABLE}_ulta")).await?;
                tables = names;
                local = Some((table, values, tables.pnl.clone()));
            }
            // Nothing inverted: the input is ULTA's output as it is.
            Some(kept) => local = Some(kept),
            None => tables = TableNames { pnl: create(temps, "ulta_pnl", &tables, true).await?, strategies },
        }
        inversions
    } else {
        Vec::new()
    };
    let ulta_seconds = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let engine = temps.engine();
    let (mut table, shared) = match local {
        Some((t, values, input)) => (t, Some((values, input))),
        None => {
            let mut read = read_table(engine, &tables, Blame::Table).await?;
            read.missing_cells += missing;
            (read, None)
        }
    };
    read_seconds += clock.elapsed().as_secs_f64();
    let n = table.n_strategies();

    let clock = Instant::now();
    let m = run(engine, "strategy_stats", &tables).await?;
    let (metrics, moments) = read_stats(&m, n)?;
    if let Some((values, input)) = shared {
        // No query reads the input any more: its buffer comes back without a copy.
        engine.drop_temporary(&input).await?;
        table.values = reclaim(values);
    }
    let metrics_seconds = clock.elapsed().as_secs_f64();
    // The standardization's moments came with the metrics: the search centres and scales each
    // value by them, as standardize.sql does.
    Ok(EngineStats { table, inversions, metrics, moments, read_seconds, ulta_seconds, metrics_seconds })
}
