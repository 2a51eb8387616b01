//! The optimization job end to end: input -> ULTA -> metrics -> standardized panel -> search.
//! Writing the results is [`crate::report::run`]'s job.

use std::path::PathBuf;
use std::time::Instant;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::fitness::{Balance, Evaluator, Metric, Penalty, PortfolioReport, portfolio_report, portfolio_returns};
use crate::load::{LoadOptions, WideTable};
use crate::metrics::{StrategyMetrics, strategy_metrics};
use crate::search::{self, Features, Params, SizeResult};
use crate::stages::{self, Stats};
use crate::ulta::{self, Inversion};

/// Where the strategies come from.
#[derive(Debug, Clone)]
pub enum Source {
    Files(Vec<PathBuf>),
    /// A long table already loaded into the engine (`heavytune load --table`).
    Table(String),
}

/// Balanced mode: desired count per file label and the factor per unit of difference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Balanced {
    pub factor: f64,
    pub ratios: Vec<(String, i64)>,
}

/// Everything a run needs, already validated by the caller's parser.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSpec {
    pub min_size: usize,
    pub max_size: usize,
    pub metric: Metric,
    /// Registry positions of the algorithms to run.
    #[serde(skip)]
    pub algorithms: Vec<usize>,
    pub params: Params,
    pub ulta: bool,
    pub penalty: Penalty,
    pub balanced: Option<Balanced>,
    pub seed: u64,
    /// Keep only the first N strategy columns (legacy `strat_limit`).
    pub strat_limit: Option<usize>,
    /// Where ULTA, per-strategy metrics and standardized values are computed.
    pub stats: Stats,
}

/// Seconds spent per stage.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub load: f64,
    pub ulta: f64,
    pub strategy_metrics: f64,
    pub standardize: f64,
    pub features: f64,
    pub search: f64,
    pub report_metrics: f64,
    pub outputs: f64,
    pub total: f64,
}

/// The best portfolio of one size, ready to report.
#[derive(Debug, Clone)]
pub struct SizeBest {
    pub result: SizeResult,
    pub report: PortfolioReport,
    /// Daily returns of the portfolio (for the charts).
    pub returns: Vec<f64>,
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutcome {
    pub table: WideTable,
    pub inversions: Vec<Inversion>,
    pub strategy_metrics: Vec<StrategyMetrics>,
    pub sizes: Vec<SizeBest>,
    /// Index into `sizes` of the best overall (ties: the smaller size).
    pub best: usize,
    pub evaluations: usize,
    pub timings: Timings,
    pub warnings: Vec<String>,
}

/// Reads the source into one wide table.
pub fn read_source(source: &Source, engine: Option<&dyn Engine>) -> Result<WideTable> {
    match source {
        Source::Files(paths) => crate::load::read_inputs(paths, LoadOptions::default()),
        Source::Table(name) => {
            let engine = engine.ok_or_else(|| Error::invalid("--table", "no engine to read the table from"))?;
            crate::ingest::read_table(engine, name)
        }
    }
}

/// Keeps only the first `strat_limit` strategies.
fn limit(mut table: WideTable, spec: &RunSpec) -> WideTable {
    if let Some(n) = spec.strat_limit.filter(|&n| n < table.n_strategies()) {
        table.names.truncate(n);
        table.labels.truncate(n);
        table.values.truncate(n * table.n_days());
    }
    table
}

/// Applies `strat_limit` and ULTA in this process: the data every later stage sees.
pub fn prepare(table: WideTable, spec: &RunSpec) -> (WideTable, Vec<Inversion>) {
    let table = limit(table, spec);
    if spec.ulta { ulta::apply(table) } else { (table, Vec::new()) }
}

/// Checks the sizes against the data and builds the balanced-mode penalty.
pub fn check(table: &WideTable, spec: &RunSpec) -> Result<Option<Balance>> {
    let n = table.n_strategies();
    if spec.min_size == 0 {
        return Err(Error::invalid("--min-size", "portfolio sizes start at 1"));
    }
    if spec.min_size > spec.max_size {
        return Err(Error::invalid(
            "--min-size",
            format!("min size {} is larger than max size {}", spec.min_size, spec.max_size),
        ));
    }
    if spec.max_size > n {
        return Err(Error::invalid(
            "--max-size",
            format!("max size {} is larger than the number of strategies ({n})", spec.max_size),
        ));
    }
    if table.n_days() == 0 {
        return Err(Error::invalid("--input", "the data has no trading day"));
    }
    let Some(b) = &spec.balanced else { return Ok(None) };
    let mut distinct: Vec<String> = table.labels.clone();
    distinct.sort();
    distinct.dedup();
    let index = |l: &str| distinct.iter().position(|d| d.eq_ignore_ascii_case(l));
    let mut desired = Vec::new();
    for (label, count) in &b.ratios {
        let i = index(label).ok_or_else(|| {
            Error::invalid(
                "--balanced",
                format!("no input file is labelled '{label}'; file labels: {}", distinct.join(", ")),
            )
        })?;
        desired.push((i as u16, *count));
    }
    let labels = table.labels.iter().map(|l| index(l).unwrap_or(0) as u16).collect();
    Ok(Some(Balance { labels, desired, factor: b.factor, n_labels: distinct.len() }))
}

/// Runs the whole job on an already read table; `progress` gets evaluation counts. With
/// `Stats::Engine` the per-strategy stages run in `engine`.
pub fn run(
    table: WideTable,
    spec: &RunSpec,
    load_seconds: f64,
    engine: Option<&dyn Engine>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<RunOutcome> {
    let started = Instant::now();
    let mut t = Timings { load: load_seconds, ..Timings::default() };
    let mut warnings = table.warnings.clone();
    if table.missing_cells > 0 {
        warnings.push(format!("{} missing or non-numeric cells read as 0", table.missing_cells));
    }
    let mut stats = spec.stats;
    let mut days: Vec<i32> = table.dates.clone();
    days.sort_unstable();
    days.dedup();
    if stats == Stats::Engine && days.len() != table.n_days() {
        // Several rows per date (zones): the engine's tables order days by date alone.
        warnings.push("several rows share a date, so the per-strategy stages ran locally (--stats local)".into());
        stats = Stats::Local;
    }
    let (table, inversions, strategy_metrics, ev) = match (stats, engine) {
        (Stats::Engine, Some(engine)) => {
            let st = stages::engine_stats(engine, limit(table, spec), spec.ulta)?;
            t.ulta = st.ulta_seconds;
            t.strategy_metrics = st.metrics_seconds;
            let balance = check(&st.table, spec)?;
            let clock = Instant::now();
            let ev = Evaluator::with_standardized(
                &st.table.values,
                &st.z,
                st.table.n_days(),
                spec.metric,
                spec.penalty,
                balance,
            );
            t.standardize = st.standardize_seconds + clock.elapsed().as_secs_f64();
            (st.table, st.inversions, st.metrics, ev)
        }
        (Stats::Engine, None) => return Err(Error::invalid("--stats", "engine stats need an engine")),
        (Stats::Local, _) => {
            let (table, inversions) = prepare(table, spec);
            t.ulta = started.elapsed().as_secs_f64();
            let balance = check(&table, spec)?;
            let clock = Instant::now();
            let d = table.n_days();
            let strategy_metrics: Vec<StrategyMetrics> = {
                use rayon::prelude::*;
                table.values.par_chunks(d).map(strategy_metrics).collect()
            };
            t.strategy_metrics = clock.elapsed().as_secs_f64();
            let clock = Instant::now();
            let ev = Evaluator::new(&table.values, d, spec.metric, spec.penalty, balance);
            t.standardize = clock.elapsed().as_secs_f64();
            (table, inversions, strategy_metrics, ev)
        }
    };
    let d = table.n_days();

    let clock = Instant::now();
    let features = Features::new(&ev);
    t.features = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let results = search::optimize(
        &ev,
        &features,
        spec.min_size..=spec.max_size,
        &spec.algorithms,
        &spec.params,
        spec.seed,
        progress,
    );
    t.search = clock.elapsed().as_secs_f64();
    let evaluations = results.iter().flat_map(|r| &r.algorithms).map(|a| a.evaluations).sum();

    let clock = Instant::now();
    let sizes: Vec<SizeBest> = results
        .into_iter()
        .map(|result| {
            let returns = portfolio_returns(&table.values, d, &result.best.portfolio);
            SizeBest { report: portfolio_report(&returns), returns, result }
        })
        .collect();
    t.report_metrics = clock.elapsed().as_secs_f64();
    let best = (0..sizes.len())
        .fold(0, |b, i| if sizes[i].result.best.eval.better_than(&sizes[b].result.best.eval) { i } else { b });
    t.total = load_seconds + started.elapsed().as_secs_f64();
    Ok(RunOutcome { table, inversions, strategy_metrics, sizes, best, evaluations, timings: t, warnings })
}
