//! The optimization job end to end: input -> ULTA -> metrics -> standardized panel -> search.
//! Writing the results is [`crate::output::run`]'s job.

use std::path::PathBuf;
use std::time::Instant;

use heavytune_kernels::gpu::DeviceChoice;
use heavytune_kernels::pages::HugeVec;
use heavytune_kernels::standardize::Moments;
use heavytune_kernels::{Balance, Evaluator, Metric, Penalty, portfolio_returns};
use rayon::prelude::*;

use crate::device::{Device, DeviceSummary};
use crate::engine::{Engine, Temporaries};
use crate::error::{Error, Result};
use crate::load::{LoadOptions, WideTable};
use crate::performance::{PortfolioReport, portfolio_report};
use crate::search::{self, Features, Params, Scorer, SizeResult};
use crate::stages::{self, StageInput, Stats};
use crate::strategy_metrics::{StrategyMetrics, strategy_metrics};
use crate::tables::TableNames;
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
    /// Where the search's batch fitness runs: `auto` (a GPU when usable), `cpu`, `cuda[:N]`.
    pub device: DeviceChoice,
}

impl RunSpec {
    /// Fitness evaluations the whole search spends (every size, every chosen algorithm).
    pub fn evaluations(&self) -> usize {
        let reg = search::registry();
        let per_size = self.algorithms.iter().fold(0usize, |n, &a| n.saturating_add(reg[a].budget(&self.params)));
        (self.min_size..=self.max_size).count().saturating_mul(per_size)
    }
}

/// Whether a run needs an engine: `Some(true)` for the stored tables of `--db`, `Some(false)`
/// for a session of its own (the per-strategy stages over files), `None` for no engine.
pub fn engine_needed(source: &Source, stats: Stats) -> Option<bool> {
    match (source, stats) {
        (Source::Table(_), _) => Some(true),
        (Source::Files(_), Stats::Engine) => Some(false),
        (Source::Files(_), Stats::Local) => None,
    }
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
    /// Where the kernels ran, and the bytes the GPU moved.
    pub device: DeviceSummary,
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

/// Checks the portfolio sizes against the number of strategies.
fn check_sizes(n: usize, spec: &RunSpec) -> Result<()> {
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
    Ok(())
}

/// Checks the sizes against the data and builds the balanced-mode penalty.
pub fn check(table: &WideTable, spec: &RunSpec) -> Result<Option<Balance>> {
    check_sizes(table.n_strategies(), spec)?;
    if table.n_days() == 0 {
        return Err(Error::data("--input", "the data has no trading day"));
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

/// The data a search runs on, with where it came from.
struct Prepared {
    table: WideTable,
    inversions: Vec<Inversion>,
    strategy_metrics: Vec<StrategyMetrics>,
    /// What standardizes the values.
    scaling: Scaling,
}

/// Where the standardization's moments come from.
enum Scaling {
    /// The evaluator computes them.
    Own,
    /// The engine computed them.
    Given(Vec<Moments>),
    /// The engine computed them (and the standardized values' squared norms, where it gave
    /// the evaluator's bits for them), and the values were placed on 2 MiB pages meanwhile
    /// (`table.values` is empty).
    Placed(Vec<Moments>, Option<Vec<f64>>, HugeVec),
}

/// ULTA, metrics and standardized values in this process.
fn local_stats(table: WideTable, spec: &RunSpec, t: &mut Timings) -> Prepared {
    let clock = Instant::now();
    let (table, inversions) = if spec.ulta { ulta::apply(table) } else { (table, Vec::new()) };
    t.ulta = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let d = table.n_days();
    let strategy_metrics = table.values.par_chunks(d.max(1)).map(strategy_metrics).collect();
    t.strategy_metrics = clock.elapsed().as_secs_f64();
    Prepared { table, inversions, strategy_metrics, scaling: Scaling::Own }
}

fn need_engine(engine: Option<&dyn Engine>) -> Result<&dyn Engine> {
    engine.ok_or_else(|| Error::internal("reading a loaded table needs an engine and none was connected"))
}

/// Reads the source whole into one wide table: the files, or a loaded table through `engine`.
pub async fn read_source(source: &Source, engine: Option<&dyn Engine>) -> Result<WideTable> {
    match source {
        Source::Files(paths) => crate::load::read_inputs(paths, LoadOptions::default()),
        Source::Table(name) => {
            crate::ingest::read_table(need_engine(engine)?, &TableNames::for_table(name), crate::ingest::Blame::Table)
                .await
        }
    }
}

/// Reads the source and computes the per-strategy stages where `spec.stats` says: the
/// engine's session tables are dropped before this returns, also on error. Sizes are checked
/// against the data before any stage runs.
async fn prepare(source: &Source, engine: Option<&dyn Engine>, spec: &RunSpec, t: &mut Timings) -> Result<Prepared> {
    let clock = Instant::now();
    match (source, spec.stats) {
        (_, Stats::Local) => {
            let table = limit(read_source(source, engine).await?, spec);
            check_sizes(table.n_strategies(), spec)?;
            t.load = clock.elapsed().as_secs_f64();
            Ok(local_stats(table, spec, t))
        }
        (Source::Table(name), Stats::Engine) => {
            let tables = TableNames::for_table(name);
            let n = crate::ingest::count_strategies(need_engine(engine)?, &tables).await?;
            check_sizes(spec.strat_limit.map_or(n, |l| l.min(n)), spec)?;
            t.load = clock.elapsed().as_secs_f64();
            let mut temps = Temporaries::new(need_engine(engine)?);
            let input = StageInput::Stored { tables, limit: spec.strat_limit };
            let result = stages::engine_stats(&mut temps, input, spec.ulta).await;
            engine_prepared(temps, result, t).await
        }
        (Source::Files(paths), Stats::Engine) => {
            let mut temps = Temporaries::new(need_engine(engine)?);
            let result = async {
                // A run with ULTA plans its statements over ULTA's tables, once they are made.
                let (table, ahead) = if spec.ulta {
                    (read_source(source, engine).await, Ok(None))
                } else {
                    read_planning_ahead(paths, &mut temps)
                };
                // The input's own error comes first (planning ahead fails only where the engine does).
                let table = limit(table?, spec);
                let ahead = ahead?;
                check_sizes(table.n_strategies(), spec)?;
                t.load = clock.elapsed().as_secs_f64();
                stages::engine_stats_ahead(&mut temps, StageInput::Wide(table), ahead, spec.ulta).await
            }
            .await;
            engine_prepared(temps, result, t).await
        }
    }
}

/// Reads the input files here, and merges them into the run's table while a thread of its
/// own plans the metrics statement in the engine ([`stages::plan_ahead`]). The planning starts
/// once the files' bytes are parsed and let go, not beside the reading: the first planning in
/// a process maps much of the engine's planner code into memory, pages that count in the
/// process's resident memory and would add to the peak the reading makes. It runs on this
/// engine's runtime where there is one. Where no thread can be started, the statement is
/// planned at the stage instead.
fn read_planning_ahead(
    paths: &[PathBuf],
    temps: &mut Temporaries<'_>,
) -> (Result<WideTable>, Result<Option<stages::Ahead>>) {
    let files = match crate::load::read_files(paths, LoadOptions::default()) {
        Ok(files) => files,
        Err(e) => return (Err(e), Ok(None)),
    };
    let runtime = tokio::runtime::Handle::try_current().ok();
    let plan = |temps: &mut Temporaries<'_>| match &runtime {
        Some(runtime) => runtime.block_on(stages::plan_ahead(temps)),
        None => futures::executor::block_on(stages::plan_ahead(temps)),
    };
    std::thread::scope(|s| {
        let planning = std::thread::Builder::new().name("heavytune-plan".into()).spawn_scoped(s, || plan(temps));
        let table = crate::load::merge_files(files);
        let ahead = match planning {
            Ok(planning) => {
                planning.join().unwrap_or_else(|_| Err(Error::internal("the thread planning ahead panicked")))
            }
            Err(_) => Ok(None),
        };
        (table, ahead)
    })
}

/// The engine stages' outcome as the search takes it, once the session tables are dropped.
async fn engine_prepared(
    temps: Temporaries<'_>,
    result: Result<stages::EngineStats>,
    t: &mut Timings,
) -> Result<Prepared> {
    let clock = Instant::now();
    let st = temps.finish(result).await?;
    // The engine's query state is freed, but held by its threads' allocator arenas.
    crate::memory::return_free_pages();
    // Handing files to the engine, or pulling a stored table, is part of loading; dropping
    // the session tables and returning the memory, of the last statement.
    t.load += st.read_seconds;
    t.ulta = st.ulta_seconds;
    t.strategy_metrics = st.metrics_seconds + clock.elapsed().as_secs_f64();
    Ok(Prepared {
        table: st.table,
        inversions: st.inversions,
        strategy_metrics: st.metrics,
        scaling: match st.placed {
            Some(pages) => Scaling::Placed(st.moments, st.z_squares, pages),
            None => Scaling::Given(st.moments),
        },
    })
}

/// Runs the whole job; `progress` gets evaluation counts. `engine` runs the per-strategy
/// stages (`Stats::Engine`) and reads `Source::Table`.
pub async fn run(
    source: &Source,
    spec: &RunSpec,
    engine: Option<&dyn Engine>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<RunOutcome> {
    let started = Instant::now();
    let mut t = Timings::default();
    let Prepared { mut table, inversions, strategy_metrics, scaling } = prepare(source, engine, spec, &mut t).await?;
    let mut warnings = table.warnings.clone();
    if table.missing_cells > 0 {
        warnings.push(format!("{} missing, non-numeric or non-finite cells read as 0", table.missing_cells));
    }
    let balance = check(&table, spec)?;
    let d = table.n_days();
    let clock = Instant::now();
    // The evaluator holds the values while the search runs and hands them back after it.
    let values = std::mem::take(&mut table.values);
    let ev = match scaling {
        Scaling::Placed(m, zz, pages) => {
            Evaluator::with_moments_placed(pages, m, zz, d, spec.metric, spec.penalty, balance)
        }
        Scaling::Given(m) => Evaluator::with_moments(values, m, d, spec.metric, spec.penalty, balance),
        Scaling::Own => Evaluator::from_values(values, d, spec.metric, spec.penalty, balance),
    };
    t.standardize += clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let features = Features::new(&ev);
    t.features = clock.elapsed().as_secs_f64();

    let device = Device::open(spec.device, &ev)?;
    let clock = Instant::now();
    let results = search::optimize(
        Scorer { ev: &ev, gpu: device.fitness.as_ref() },
        &features,
        spec.min_size..=spec.max_size,
        &spec.algorithms,
        &spec.params,
        spec.seed,
        progress,
    );
    t.search = clock.elapsed().as_secs_f64();
    let evaluations = results.iter().flat_map(|r| &r.algorithms).map(|a| a.evaluations).sum();
    let device = device.summary();
    table.values = ev.into_values();

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
    t.total = started.elapsed().as_secs_f64();
    Ok(RunOutcome { table, inversions, strategy_metrics, sizes, best, evaluations, timings: t, warnings, device })
}
