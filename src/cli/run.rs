//! `heavytune run` and `heavytune score`.

use std::path::PathBuf;

use clap::Args;

use heavytune::engine::Engine;
use heavytune::kernels::gpu::DeviceChoice;
use heavytune::kernels::{Metric, Penalty};
use heavytune::output::pyfmt::py_float;
use heavytune::output::run::{OutputOptions, results_json, write_run};
use heavytune::pipeline::{self, Source};
use heavytune::score::score_file;
use heavytune::search;
use heavytune::spec::{RunOptions, build_spec};
use heavytune::stages::Stats;

use crate::Global;
use crate::cli::warn_all;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Input files (CSV or xlsx), merged as `heavytune load` merges them.
    #[arg(long, short, num_args = 1.., value_name = "PATH", conflicts_with = "table")]
    input: Vec<PathBuf>,
    /// Read the strategies from this loaded table of the engine instead of files.
    #[arg(long, value_name = "NAME")]
    table: Option<String>,
    /// A legacy config.ini (GENERAL, PATHS, PORTFOLIO, OPTIMIZATION, ALGORITHMS, FILE_RATIOS),
    /// read unchanged; flags given on the command line override its values.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Smallest portfolio size [default: 35, the production config].
    #[arg(long, value_name = "N")]
    min_size: Option<usize>,
    /// Largest portfolio size, inclusive [default: 60].
    #[arg(long, value_name = "N")]
    max_size: Option<usize>,
    /// What to maximise: roi, "less max dd", ratio, "win percentage", "profit factor" or
    /// expectancy (minus the correlation penalty) [default: ratio].
    #[arg(long, value_name = "NAME")]
    metric: Option<String>,
    /// Algorithms to run: `all` or a comma list of ga, pso, sa, de, aco, hc, bo, rs
    /// [default: all; with --config, its ALGORITHMS section].
    #[arg(long, value_name = "LIST")]
    algorithms: Option<String>,
    /// Generations of GA, PSO and DE; SA gets 20x, HC 4x, ACO and BO 1x this many evaluations
    /// [default: 50, the legacy budgets].
    #[arg(long, value_name = "N")]
    generations: Option<usize>,
    /// Population of GA and DE, swarm size of PSO [default: 30].
    #[arg(long, value_name = "N")]
    population: Option<usize>,
    /// Per-member mutation probability of GA (PSO uses half) [default: 0.1].
    #[arg(long, value_name = "P")]
    mutation_rate: Option<f64>,
    /// Invert strategies that do better upside down (legacy ULTA) before anything else.
    #[arg(long, conflicts_with = "no_ulta")]
    ulta: bool,
    /// No ULTA, even if the config asks for it.
    #[arg(long)]
    no_ulta: bool,
    /// For ratio and "less max dd": halve the correlation penalty of portfolios whose max
    /// drawdown is below this [default: 0, never].
    #[arg(long, value_name = "X")]
    drawdown_threshold: Option<f64>,
    /// Balanced mode: desired number of strategies per input file label, e.g.
    /// `--balanced nifty=20,sensex=30`; each unit of difference costs --penalty-factor.
    #[arg(long, value_name = "LABEL=N,...")]
    balanced: Option<String>,
    /// Fitness cost per strategy of difference from the --balanced counts [default: 1.0].
    #[arg(long, value_name = "X")]
    penalty_factor: Option<f64>,
    /// Seed of every random choice; the same seed gives the same portfolios, on any thread count.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Folder that receives `run_<YYYYmmdd_HHMMSS>/`.
    #[arg(long, short, value_name = "DIR", default_value = "output")]
    out: PathBuf,
    /// Candidates per parallel evaluation task.
    #[arg(long, value_name = "N", default_value_t = search::DEFAULT_BATCH)]
    batch: usize,
    /// Skip the equity-curve and drawdown PNGs.
    #[arg(long)]
    no_plots: bool,
    /// Where ULTA, per-strategy metrics and standardized values are computed: `engine` (the
    /// SQL templates of sql/, through the rewriter, in the --engine) or `local` (in-process).
    /// Both give the same figures, bit for bit.
    #[arg(long, value_enum, default_value_t = Stats::Engine)]
    stats: Stats,
    /// Where the batch fitness runs: `auto` (a usable GPU, else the CPU, saying why), `cpu`,
    /// or `cuda[:N]` (an error without that GPU). The GPU gives the CPU's bits.
    #[arg(long, value_name = "auto|cpu|cuda[:N]", default_value = "auto", value_parser = parse_device)]
    device: DeviceChoice,
    /// Print results.json on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Input files (CSV or xlsx).
    #[arg(long, short, num_args = 1.., value_name = "PATH", conflicts_with = "table", required_unless_present = "table")]
    input: Vec<PathBuf>,
    /// Read the strategies from this loaded table of the engine instead of files.
    #[arg(long, value_name = "NAME")]
    table: Option<String>,
    /// One portfolio per line, strategy names separated by `|`; blank lines are skipped.
    #[arg(long, value_name = "FILE")]
    portfolio_file: PathBuf,
    /// Fitness metric (as for `run`).
    #[arg(long, value_name = "NAME", default_value = "ratio")]
    metric: String,
    /// Apply ULTA first (inverted strategies are named `<name>_inv`).
    #[arg(long)]
    ulta: bool,
    /// Drawdown threshold of the penalty (as for `run`).
    #[arg(long, value_name = "X", default_value_t = 0.0)]
    drawdown_threshold: f64,
    /// Where the portfolios are scored (as for `run`).
    #[arg(long, value_name = "auto|cpu|cuda[:N]", default_value = "auto", value_parser = parse_device)]
    device: DeviceChoice,
    /// Print a JSON array, one object per portfolio line.
    #[arg(long)]
    json: bool,
}

/// `--device`: auto, cpu, cuda or cuda:N.
pub(crate) fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    s.parse().map_err(|e: heavytune::kernels::gpu::GpuError| e.to_string())
}

impl RunArgs {
    fn options(&self) -> RunOptions {
        RunOptions {
            input: self.input.clone(),
            table: self.table.clone(),
            config: self.config.clone(),
            min_size: self.min_size,
            max_size: self.max_size,
            metric: self.metric.clone(),
            algorithms: self.algorithms.clone(),
            generations: self.generations,
            population: self.population,
            mutation_rate: self.mutation_rate,
            ulta: if self.ulta {
                Some(true)
            } else if self.no_ulta {
                Some(false)
            } else {
                None
            },
            drawdown_threshold: self.drawdown_threshold,
            balanced: self.balanced.clone(),
            penalty_factor: self.penalty_factor,
            seed: self.seed,
            batch: self.batch,
            stats: self.stats,
            device: self.device,
        }
    }
}

/// The rayon pool of the search, sized to --threads.
fn set_threads(global: &Global) -> anyhow::Result<()> {
    if let Some(n) = global.threads() {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow::anyhow!("starting the thread pool: {e}"))?;
    }
    Ok(())
}

pub fn cmd_run(global: &Global, args: RunArgs) -> anyhow::Result<()> {
    let (spec, source, warnings) = build_spec(&args.options())?;
    set_threads(global)?;
    warn_all(global, &warnings);
    let rt = global.runtime()?;
    let engine: Option<Box<dyn Engine>> = match pipeline::engine_needed(&source, spec.stats) {
        Some(stored) => Some(global.connect(&rt, stored)?),
        None => None,
    };
    let bar =
        global.progress(spec.evaluations() as u64, "searching {bar:40} {pos}/{len} evaluations {per_sec} eta {eta}");
    let sp = global.spinner("reading and computing per-strategy statistics");
    let outcome = rt.run(pipeline::run(&source, &spec, engine.as_deref(), &|n| {
        sp.finish_and_clear();
        bar.inc(n as u64)
    }));
    sp.finish_and_clear();
    bar.finish_and_clear();
    let mut outcome = outcome?;
    let run_id = chrono::Local::now().format("%Y%m%d_%H%M%S").to_string();
    let dir =
        write_run(&args.out, &mut outcome, &spec, &OutputOptions { run_id: run_id.clone(), plots: !args.no_plots })?;
    warn_all(global, &outcome.warnings);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results_json(&outcome, &spec, &run_id, &dir))?);
        return Ok(());
    }
    if global.quiet {
        return Ok(());
    }
    println!(
        "{} strategies x {} days, metric {}, {} inverted by ULTA, per-strategy statistics: {}",
        outcome.table.n_strategies(),
        outcome.table.n_days(),
        spec.metric,
        outcome.inversions.len(),
        match (spec.stats, &engine) {
            (Stats::Engine, Some(e)) => e.describe(),
            _ => "this process".to_owned(),
        }
    );
    println!("kernels: {}", outcome.device.describe());
    println!("{:>5}  {:<4} {:>14} {:>14} {:>12} {:>9}", "size", "alg", "fitness", "total_roi", "max_dd", "avg_corr");
    for s in &outcome.sizes {
        let b = &s.result.best;
        println!(
            "{:>5}  {:<4} {:>14.6} {:>14.2} {:>12.2} {:>9.4}",
            s.result.size, b.algorithm, b.eval.fitness, s.report.total_roi, s.report.max_drawdown, b.eval.avg_corr
        );
    }
    let best = &outcome.sizes[outcome.best].result;
    let t = &outcome.timings;
    println!(
        "best overall: size {} by {}, fitness {}",
        best.size,
        best.best.algorithm,
        py_float(best.best.eval.fitness)
    );
    println!(
        "{:.3} s total: load {:.3}, ulta {:.3}, metrics {:.3}, standardize {:.3}, features {:.3}, search {:.3} ({} evaluations, {:.0}/s), outputs {:.3}",
        t.total,
        t.load,
        t.ulta,
        t.strategy_metrics,
        t.standardize,
        t.features,
        t.search,
        outcome.evaluations,
        outcome.evaluations as f64 / t.search.max(1e-9),
        t.outputs
    );
    println!("wrote {}", dir.display());
    Ok(())
}

pub fn cmd_score(global: &Global, args: ScoreArgs) -> anyhow::Result<()> {
    let metric: Metric = args.metric.parse().map_err(heavytune::Error::from)?;
    let source = match &args.table {
        Some(t) => Source::Table(t.clone()),
        None => Source::Files(args.input.clone()),
    };
    set_threads(global)?;
    let rt = global.runtime()?;
    let engine = match source {
        Source::Table(_) => Some(global.connect(&rt, true)?),
        Source::Files(_) => None,
    };
    let penalty = Penalty { drawdown_threshold: args.drawdown_threshold, ..Penalty::default() };
    let (scored, device) =
        rt.run(score_file(&source, engine.as_deref(), &args.portfolio_file, metric, penalty, args.ulta, args.device))?;
    eprintln!("kernels: {}", device.describe());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&scored)?);
        return Ok(());
    }
    println!(
        "{:>5} {:>5} {:>16} {:>16} {:>10} {:>14} {:>12} {:>8} {:>8}",
        "line", "size", "fitness", "base_fitness", "avg_corr", "total_roi", "max_dd", "win%", "sharpe"
    );
    for s in &scored {
        println!(
            "{:>5} {:>5} {:>16.9} {:>16.9} {:>10.6} {:>14.2} {:>12.2} {:>8.4} {:>8.3}",
            s.line,
            s.size,
            s.fitness,
            s.base_fitness,
            s.avg_corr,
            s.metrics.total_roi,
            s.metrics.max_drawdown,
            s.metrics.win_percentage,
            s.metrics.sharpe_ratio
        );
    }
    Ok(())
}
