//! The per-strategy stages of a run inside the engine: ULTA, then the legacy metrics and the
//! standardization's moments in one statement (`sql/strategy_stats.sql`), each template passed
//! through the rewriter and pulled back as Arrow; the standardized values are the values
//! centred and scaled by those moments. Where the statement reads heavytune's series figures,
//! it also gives each strategy's squared standardized norm with the search's own bits
//! ([`squares_from_figures`]), so the search does not read the values again for them.
//!
//! They run on long tables already in the engine: the ones `heavytune load` stored (`run
//! --table`), or session tables made from input files. Every table a stage creates is a
//! session table of the run's [`Temporaries`], dropped when the run ends. Rows come back
//! unordered and are placed by (strategy_id, seq), or by strategy_id. Over files
//! without ULTA, the metrics statement is planned while the files are still being merged, over
//! the run's long table made before its rows ([`plan_ahead`]); the values then move onto
//! 2 MiB pages for the search while the engine starts on them ([`crate::load::arriving`]).

use std::sync::Arc;
use std::time::Instant;

use arrow::array::Array;
use arrow::buffer::ScalarBuffer;
use heavytune_kernels::pages::HugeVec;
use heavytune_kernels::standardize::Moments;
use rayon::prelude::*;
use sqlparser::ast::Statement;

use crate::engine::late::Late;
use crate::engine::{Engine, PreparedStatement, QueryOutput, TableSource, Temporaries, fetch_sql};
use crate::error::{Error, Result};
use crate::exec::execute_plan;
use crate::ingest::{Blame, check_columns, read_table};
use crate::load::WideTable;
use crate::load::arriving::{Arriving, shared_pages};
use crate::load::long;
use crate::rewrite::{Context, optimize};
use crate::strategy_metrics::StrategyMetrics;
use crate::tables::TableNames;
use crate::templates::{self, EVERY_DAY, Params, quote_ident};
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
    /// Each strategy's summed squares of its standardized values as the search's evaluator
    /// computes them, where the statement read them from heavytune's series figures (which
    /// give the evaluator's bits); `None` where the engine computed them its own way.
    pub z_squares: Option<Vec<f64>>,
    /// The values on 2 MiB pages, put there while the engine planned and computed (a run over
    /// files, unless ULTA ran and inverted nothing); `table.values` is then empty.
    pub placed: Option<HugeVec>,
    /// Whether the metrics statement ran as planned ahead ([`plan_ahead`]).
    pub planned_ahead: bool,
    pub read_seconds: f64,
    pub ulta_seconds: f64,
    /// The statement, reading its rows into metrics and moments, dropping the input, and
    /// waiting for the values to be on their pages.
    pub metrics_seconds: f64,
}

impl EngineStats {
    /// The values the search sees, strategy by strategy: on pages, or in the table.
    pub fn values(&self) -> &[f64] {
        match &self.placed {
            Some(pages) => pages.as_slice(),
            None => &self.table.values,
        }
    }

    /// The standardized values, strategy by strategy (zeros for a flat strategy): each value
    /// centred on its strategy's mean and scaled by its norm, as standardize.sql computes them.
    pub fn z(&self) -> Vec<f64> {
        let d = self.table.n_days().max(1);
        let mut z = vec![0.0; self.values().len()];
        z.par_chunks_mut(d).zip(self.values().par_chunks(d)).zip(&self.moments).for_each(|((zs, xs), m)| {
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

/// A template bound to `tables`.
fn bound(template: &str, tables: &TableNames) -> Result<Statement> {
    let params = Params { tables: Some(tables.clone()), ..Params::default() };
    templates::bind(templates::find(template)?, &params)
}

/// A template bound to `tables`, through the rewriter (planning for the engine's
/// capabilities).
async fn plan(engine: &dyn Engine, template: &str, tables: &TableNames) -> Result<crate::rewrite::Plan> {
    planned(engine, bound(template, tables)?).await
}

/// A bound statement through the rewriter.
async fn planned(engine: &dyn Engine, stmt: Statement) -> Result<crate::rewrite::Plan> {
    let ctx = Context::discover(engine, &stmt).await?;
    Ok(optimize(stmt, &ctx, None)?.plan)
}

async fn run(engine: &dyn Engine, template: &str, tables: &TableNames) -> Result<QueryOutput> {
    execute_plan(engine, &plan(engine, template, tables).await?).await
}

/// `strategy_stats` over `tables` as a run sends it: in no particular order, since
/// [`read_stats`] places each row by its strategy_id (ordered, the engine would merge its
/// partitions in order, where it can now just gather them).
pub fn stats_statement(tables: &TableNames) -> Result<Statement> {
    let mut stmt = bound("strategy_stats", tables)?;
    if let Statement::Query(q) = &mut stmt {
        q.order_by = None;
    }
    Ok(stmt)
}

/// The rows of `strategy_stats` over `tables` (see [`stats_statement`]), and whether their
/// z_squares come from heavytune's series figures ([`squares_from_figures`]).
async fn strategy_stats(engine: &dyn Engine, tables: &TableNames) -> Result<(QueryOutput, bool)> {
    let plan = planned(engine, stats_statement(tables)?).await?;
    let exact = squares_from_figures(&plan.statement);
    Ok((execute_plan(engine, &plan).await?, exact))
}

/// A run's metrics statement planned while its files are still being merged ([`plan_ahead`]).
pub struct Ahead {
    /// The run's input long table, made before its rows were known.
    long: Arc<Late>,
    /// The statement as the rewriter left it.
    plan: crate::rewrite::Plan,
    /// The engine's plan of it, where the engine keeps one.
    prepared: Option<Box<dyn PreparedStatement>>,
}

impl Ahead {
    /// Runs the statement planned ahead, over the rows sent since, and lets go of the plan and
    /// its table (which hold the run's values until then).
    async fn run(self, engine: &dyn Engine) -> Result<(QueryOutput, bool)> {
        let exact = squares_from_figures(&self.plan.statement);
        let rows = match &self.prepared {
            Some(prepared) => prepared.run().await?,
            None => execute_plan(engine, &self.plan).await?,
        };
        Ok((rows, exact))
    }
}

/// Makes a run's input long table before its rows are known and plans the metrics statement
/// (`strategy_stats`) over it: binding, rewriting and the engine's planning, done while the
/// files are merged, so that the stage only runs the plan (`engine_stats` sends the rows). `None`
/// for an engine that cannot hold a table before its rows ([`Engine::keeps_recipes`]).
///
/// The rewriter is told what the table will hold: heavytune's long table, and a series view of
/// it whose days fall in the range the statement selects (every day). Rows that break that
/// are refused when sent, and the stage plans again over them.
pub async fn plan_ahead(temps: &mut Temporaries<'_>) -> Result<Option<Ahead>> {
    if !temps.engine().keeps_recipes() {
        return Ok(None);
    }
    let long = Late::long_table(every_day()?);
    let names = TableNames::for_table(&format!("{RUN_TABLE}_input"));
    temps.create(TableSource::replayable(names.pnl.clone(), Arc::clone(&long) as _)).await?;
    let engine = temps.engine();
    let plan = planned(engine, stats_statement(&names)?).await?;
    let plain = plan.kernel.is_none() && plan.kernel_tables.is_empty() && plan.then.is_empty();
    let prepared = if plain { engine.prepare_statement(&plan.statement).await? } else { None };
    Ok(Some(Ahead { long, plan, prepared }))
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

/// A run's values while the engine's tables read them.
enum Handed {
    /// Shared with the engine as they are.
    Shared(ScalarBuffer<f64>),
    /// Being moved onto 2 MiB pages for the search, on a thread of their own, while the
    /// engine plans or starts its statement: its tables read them once they are moved, while
    /// the OS is asked for the huge pages; the thread sends them back here when that is done.
    Placing(futures::channel::oneshot::Receiver<Arc<HugeVec>>),
}

impl Handed {
    /// The values back, once the engine's tables over them are dropped: without a copy
    /// unless something else still holds them.
    async fn take_back(self) -> Result<Back> {
        match self {
            Handed::Shared(values) => Ok(Back::Plain(
                values.into_inner().into_vec::<f64>().unwrap_or_else(|b| b.typed_data::<f64>().to_vec()),
            )),
            Handed::Placing(placed) => {
                // Awaited, not joined: the engine's threads go on meanwhile.
                let pages =
                    placed.await.map_err(|_| Error::internal("the thread placing the values on pages stopped"))?;
                Ok(Back::Placed(Arc::try_unwrap(pages).unwrap_or_else(|p| HugeVec::new(p.as_slice().to_vec()))))
            }
        }
    }
}

/// Values back from the engine.
enum Back {
    Plain(Vec<f64>),
    Placed(HugeVec),
}

impl Back {
    fn into_vec(self) -> Vec<f64> {
        match self {
            Back::Plain(v) => v,
            Back::Placed(p) => p.into_vec(),
        }
    }
}

/// Hands `table` to the engine as the run's session tables named after `name` (its long
/// table, with its series view, and its strategies) over its own values, not a copy; with
/// `place`, the values move onto 2 MiB pages meanwhile and the tables' scans wait for them.
/// Where the long table was made `ahead` of its rows, they are sent to it; if it refuses them
/// the long table is made anew, and `ahead` is dropped. Returns the table without its values,
/// the values as handed, the names, and `ahead` where its table took the rows.
async fn hand_over(
    temps: &mut Temporaries<'_>,
    mut table: WideTable,
    name: &str,
    place: bool,
    ahead: Option<Ahead>,
) -> Result<(WideTable, Handed, TableNames, Option<Ahead>)> {
    let names = TableNames::for_table(name);
    let values = std::mem::take(&mut table.values);
    let (arriving, handed) = if place {
        let (tx, arriving) = Arriving::channel();
        let (back, placed) = futures::channel::oneshot::channel();
        std::thread::Builder::new()
            .name("heavytune-place".into())
            .spawn(move || {
                // The values are read where they end up once moved; the huge pages are asked
                // for while the engine reads them (that changes no address or value).
                let pages = Arc::new(HugeVec::moved(values));
                tx.send(shared_pages(&pages));
                pages.advise();
                // Nobody waits only where the run already failed.
                let _ = back.send(pages);
            })
            .map_err(|e| Error::internal(format!("starting a thread to place the values on pages: {e}")))?;
        (arriving, Handed::Placing(placed))
    } else {
        let values = ScalarBuffer::from(values);
        (Arriving::now(values.clone()), Handed::Shared(values))
    };
    let mut ahead = ahead;
    for source in crate::ingest::sources_over(&table, arriving, &names, long::REPLAY_BATCH_ROWS)? {
        if let (Some(a), Some(replay)) = (&ahead, &source.replay)
            && source.name == names.pnl
        {
            if a.long.send(Arc::clone(replay)).is_ok() {
                continue;
            }
            ahead = None;
        }
        temps.create(source).await?;
    }
    Ok((table, handed, names, ahead))
}

/// The metrics, moments and z_squares of strategies `0..n` from the rows of `strategy_stats`, in any
/// order (each row placed by its strategy_id), read from the engine's arrays as they are (a
/// NULL metric is NaN), or an error naming what is wrong: not one row for each of strategies
/// 0..n, or a row whose moments are missing or not finite (naming its strategy; rows come in
/// no fixed order, so which one is named first may vary). A strategy is flat
/// where the engine says so, or where its norm is zero.
pub fn read_stats(m: &QueryOutput, n: usize) -> Result<StatsRows> {
    let wrong = |what: String| Error::engine("strategy_stats", what);
    if m.num_rows() != n {
        return Err(wrong(format!("{} rows for strategies 0..{n}", m.num_rows())));
    }
    let ids = m.i64_arrays("strategy_id")?;
    let columns = ["roi", "max_drawdown", "win_percentage", "profit_factor", "expectancy", "mean", "norm", "z_squares"]
        .map(|c| m.f64_arrays(c))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let flat = m.i64_arrays("flat")?;
    let nan = StrategyMetrics {
        roi: f64::NAN,
        max_drawdown: f64::NAN,
        win_percentage: f64::NAN,
        profit_factor: f64::NAN,
        expectancy: f64::NAN,
    };
    let mut metrics = vec![nan; n];
    let mut moments = vec![Moments { mean: f64::NAN, norm: f64::NAN, flat: false }; n];
    let mut squares = vec![f64::NAN; n];
    let mut seen = vec![false; n];
    for b in 0..m.batches.len() {
        // Each column of this batch as its values and NULLs, read in place.
        let cols: Vec<(&[f64], Option<&arrow::buffer::NullBuffer>)> =
            columns.iter().map(|c| (&c[b].values()[..], c[b].nulls())).collect();
        let value = |c: usize, i: usize| {
            let (values, nulls) = cols[c];
            if nulls.is_some_and(|n| n.is_null(i)) { f64::NAN } else { values[i] }
        };
        for i in 0..m.batches[b].num_rows() {
            let id = ids[b].is_valid(i).then(|| ids[b].value(i));
            let Some(s) = id.and_then(|id| usize::try_from(id).ok()).filter(|&s| s < n && !seen[s]) else {
                let id = id.map_or("NULL".to_owned(), |id| id.to_string());
                return Err(wrong(format!(
                    "a row for strategy_id {id}, where one row for each of strategies 0..{n} was due"
                )));
            };
            seen[s] = true;
            metrics[s] = StrategyMetrics {
                roi: value(0, i),
                max_drawdown: value(1, i),
                win_percentage: value(2, i),
                profit_factor: value(3, i),
                expectancy: value(4, i),
            };
            let (mean, norm) = (value(5, i), value(6, i));
            if flat[b].is_null(i) {
                return Err(wrong(format!("no moments for strategy {s}")));
            }
            if !mean.is_finite() || !norm.is_finite() {
                return Err(wrong(format!("strategy {s} has a NULL or non-finite mean ({mean}) or norm ({norm})")));
            }
            moments[s] = Moments { mean, norm, flat: flat[b].value(i) != 0 || norm == 0.0 };
            squares[s] = value(7, i);
        }
    }
    Ok((metrics, moments, squares))
}

/// What [`read_stats`] reads: each strategy's metrics, moments and z_squares (NaN where NULL).
pub type StatsRows = (Vec<StrategyMetrics>, Vec<Moments>, Vec<f64>);

/// Whether the metrics statement reads every one of `dates` (it selects the days from
/// [`EVERY_DAY`]'s first to its last): the figures it gives are then of the values the search
/// sees, all their days.
fn every_day_selected(dates: &[i32]) -> Result<bool> {
    let (first, last) = every_day()?;
    Ok(dates.iter().all(|d| (first..=last).contains(d)))
}

/// The first and last day of [`EVERY_DAY`], the range the metrics statement selects (days
/// since 1970-01-01).
fn every_day() -> Result<(i32, i32)> {
    let day = |d: &str| {
        crate::load::dates::parse_date(d).ok_or_else(|| Error::internal(format!("the template date {d} is no date")))
    };
    Ok((day(EVERY_DAY.0)?, day(EVERY_DAY.1)?))
}

/// Whether `stmt` reads the standardized values' squares from heavytune's series figures
/// (`get_field(ht_series(...), 'z_squares')`, or of `ht_series_of`), which compute them as
/// the search's evaluator does, bit for bit; an engine that runs the template's own arithmetic
/// rounds them its own way, and the evaluator then computes them again.
pub fn squares_from_figures(stmt: &Statement) -> bool {
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions(stmt, |e| {
        if let sqlparser::ast::Expr::Function(f) = e
            && f.name.to_string().eq_ignore_ascii_case("get_field")
        {
            let call = e.to_string();
            found |= call.starts_with("get_field(ht_series") && call.ends_with(", 'z_squares')");
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    found
}

/// Runs the stages in `temps`' engine, each statement planned when it runs. With files, the
/// values the search sees are the files' own (after ULTA, with the engine's decisions applied
/// to them), and they move onto 2 MiB pages for the search while the engine plans and runs the
/// last statement; with stored tables they are pulled once, after ULTA.
pub async fn engine_stats(temps: &mut Temporaries<'_>, input: StageInput, ulta_on: bool) -> Result<EngineStats> {
    engine_stats_ahead(temps, input, None, ulta_on).await
}

/// As [`engine_stats`], running the metrics statement `ahead` planned (see [`plan_ahead`])
/// over files, where the run has no ULTA and the rows keep the table's promise; otherwise it
/// is planned now.
pub async fn engine_stats_ahead(
    temps: &mut Temporaries<'_>,
    input: StageInput,
    ahead: Option<Ahead>,
    ulta_on: bool,
) -> Result<EngineStats> {
    let clock = Instant::now();
    // The statement planned ahead reads the input: with ULTA, the metrics read its output.
    let mut ahead = ahead.filter(|_| !ulta_on);
    let (mut tables, mut local, missing) = match input {
        StageInput::Stored { tables, limit } => {
            // Planned over the run's own long table, which stored tables do not fill.
            ahead = None;
            let (tables, missing) = prepare_stored(temps, &tables, limit).await?;
            (tables, None, missing)
        }
        StageInput::Wide(table) => {
            // ULTA's statements read the input first, so its values must be there at once.
            let (table, handed, names, took) =
                hand_over(temps, table, &format!("{RUN_TABLE}_input"), !ulta_on, ahead.take()).await?;
            ahead = took;
            let input = names.pnl.clone();
            (names, Some((table, handed, input)), 0)
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
            Some((table, handed, input)) if !inversions.is_empty() => {
                let inverted = decisions(temps.engine(), &strategies, table.n_strategies()).await?;
                temps.engine().drop_temporary(&input).await?;
                let values = handed.take_back().await?.into_vec();
                let table = crate::ulta::invert(WideTable { values, ..table }, &inverted);
                let (table, handed, names, _) =
                    hand_over(temps, table, &format!("{RUN_TABLE}_ulta"), true, None).await?;
                tables = names;
                local = Some((table, handed, tables.pnl.clone()));
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
    let (mut table, handed) = match local {
        Some((t, handed, input)) => (t, Some((handed, input))),
        None => {
            let mut read = read_table(engine, &tables, Blame::Table).await?;
            read.missing_cells += missing;
            (read, None)
        }
    };
    read_seconds += clock.elapsed().as_secs_f64();
    let n = table.n_strategies();

    let clock = Instant::now();
    let planned_ahead = ahead.is_some();
    let (m, exact) = match ahead {
        Some(ahead) => ahead.run(engine).await?,
        None => strategy_stats(engine, &tables).await?,
    };
    let (metrics, moments, squares) = read_stats(&m, n)?;
    drop(m);
    let mut placed = None;
    if let Some((handed, input)) = handed {
        // No query reads the input any more: its values come back without a copy.
        engine.drop_temporary(&input).await?;
        match handed.take_back().await? {
            Back::Plain(values) => table.values = values,
            Back::Placed(pages) => placed = Some(pages),
        }
    }
    let z_squares = (exact && every_day_selected(&table.dates)?).then_some(squares);
    let metrics_seconds = clock.elapsed().as_secs_f64();
    // The standardization's moments came with the metrics: the search centres and scales each
    // value by them, as standardize.sql does.
    Ok(EngineStats {
        table,
        inversions,
        metrics,
        moments,
        z_squares,
        placed,
        planned_ahead,
        read_seconds,
        ulta_seconds,
        metrics_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Float64Array, Int32Array, RecordBatch};

    /// strategy_stats' columns for rows of these ids (figures from the id; `flat` NULL where
    /// asked).
    fn rows(batches: &[Vec<i32>], null_flat: Option<i32>) -> QueryOutput {
        let made: Vec<RecordBatch> = batches
            .iter()
            .map(|ids| {
                let f =
                    |k: f64| Arc::new(Float64Array::from_iter_values(ids.iter().map(|&i| i as f64 + k))) as ArrayRef;
                let flat =
                    Int32Array::from_iter(ids.iter().map(|&i| (Some(i) != null_flat).then_some(i32::from(i == 2))));
                RecordBatch::try_from_iter([
                    ("strategy_id", Arc::new(Int32Array::from(ids.clone())) as ArrayRef),
                    ("roi", f(0.1)),
                    ("max_drawdown", f(0.2)),
                    ("win_percentage", f(0.3)),
                    ("profit_factor", f(0.4)),
                    ("expectancy", f(0.5)),
                    ("mean", f(0.6)),
                    ("norm", f(0.7)),
                    ("z_squares", f(0.8)),
                    ("flat", Arc::new(flat) as ArrayRef),
                ])
                .unwrap()
            })
            .collect();
        QueryOutput { schema: made[0].schema(), batches: made }
    }

    /// Rows come in any order and batching; each is placed by its strategy_id.
    #[test]
    fn rows_are_placed_by_strategy_id() {
        let (metrics, moments, squares) = read_stats(&rows(&[vec![3, 1], vec![0, 2]], None), 4).unwrap();
        for s in 0..4 {
            assert_eq!(squares[s], s as f64 + 0.8);
            assert_eq!(metrics[s].roi, s as f64 + 0.1);
            assert_eq!(metrics[s].expectancy, s as f64 + 0.5);
            assert_eq!((moments[s].mean, moments[s].norm, moments[s].flat), (s as f64 + 0.6, s as f64 + 0.7, s == 2));
        }
    }

    /// The metrics statement planned while the files are merged gives the bits of the one
    /// planned at the stage, and the same values on pages; rows with a day the plan was not
    /// promised (after 9999-12-31, outside the days the statement selects) are planned for
    /// anew, with the same answer as a run that never planned ahead.
    #[test]
    fn a_statement_planned_ahead_gives_the_same_bits() {
        use crate::engine::{Blocking, Embedded};
        let strategies = 2 * long::SERIES_BATCH_ROWS + 7;
        let wide = crate::synth::generate(&crate::synth::SynthConfig { strategies, days: 11, seed: 3 });
        let mut beyond = wide.clone();
        let last_day = crate::load::dates::parse_date(EVERY_DAY.1).unwrap();
        *beyond.dates.last_mut().unwrap() = last_day + 1;
        let rt = Blocking::new(Some(2)).unwrap();
        for (table, taken) in [(wide, true), (beyond, false)] {
            let e = Embedded::in_memory(Some(2));
            let (want, got) = rt
                .run(async {
                    let mut temps = Temporaries::new(&e);
                    let result = engine_stats(&mut temps, StageInput::Wide(table.clone()), false).await;
                    let want = temps.finish(result).await?;
                    let mut temps = Temporaries::new(&e);
                    let result = async {
                        let ahead = plan_ahead(&mut temps).await?;
                        let sql = ahead.as_ref().expect("the embedded engine plans ahead").plan.statement.to_string();
                        assert!(sql.contains("ht_series_of"), "planned over the series view: {sql}");
                        engine_stats_ahead(&mut temps, StageInput::Wide(table.clone()), ahead, false).await
                    }
                    .await;
                    Ok((want, temps.finish(result).await?))
                })
                .unwrap();
            assert!(!want.planned_ahead);
            assert_eq!(got.planned_ahead, taken);
            let bits = |st: &EngineStats| -> Vec<u64> {
                let m = st.metrics.iter().flat_map(|m| {
                    [m.roi, m.max_drawdown, m.win_percentage, m.profit_factor, m.expectancy].map(f64::to_bits)
                });
                let z = st.moments.iter().flat_map(|z| [z.mean.to_bits(), z.norm.to_bits(), u64::from(z.flat)]);
                m.chain(z).chain(st.values().iter().map(|v| v.to_bits())).collect()
            };
            assert_eq!(got.metrics.len(), strategies);
            assert_eq!(bits(&got), bits(&want));
            // The squared norms came from the series figures, with the evaluator's bits, where
            // the statement read every day of the values (not past 9999-12-31).
            let ev = heavytune_kernels::Evaluator::with_moments(
                got.values().to_vec(),
                got.moments.clone(),
                got.table.n_days(),
                heavytune_kernels::Metric::Ratio,
                heavytune_kernels::Penalty::default(),
                None,
            );
            let own: Vec<u64> = ev.squared_norms().iter().map(|v| v.to_bits()).collect();
            for st in [&got, &want] {
                match &st.z_squares {
                    Some(given) => assert_eq!(given.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), own),
                    None => assert!(!taken, "z_squares from the series figures"),
                }
            }
        }
    }

    /// Not one row for each strategy, or a row without moments, is an error that says so.
    #[test]
    fn wrong_rows_are_named() {
        let err =
            |batches: &[Vec<i32>], null_flat, n| read_stats(&rows(batches, null_flat), n).unwrap_err().to_string();
        assert!(err(&[vec![0, 1, 1]], None, 3).contains("strategy_id 1, where one row for each"));
        assert!(err(&[vec![0, 5]], None, 2).contains("strategy_id 5"));
        assert!(err(&[vec![0, -1]], None, 2).contains("strategy_id -1"));
        assert!(err(&[vec![0, 1]], None, 3).contains("2 rows for strategies 0..3"));
        assert!(err(&[vec![1, 0]], Some(0), 2).contains("no moments for strategy 0"));
    }
}
