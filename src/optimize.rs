//! `heavytune run` and `heavytune score`: flags (or a legacy INI) -> pipeline -> run folder.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use heavytune::config::read_legacy;
use heavytune::fitness::{Evaluator, Metric, Penalty, portfolio_report, portfolio_returns};
use heavytune::pipeline::{self, Balanced, RunSpec, Source};
use heavytune::report::pyfmt::py_float;
use heavytune::report::run::{OutputOptions, results_json, write_run};
use heavytune::search::{self, Params};
use heavytune::stages::Stats;

use crate::{Global, connect, spinner};

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
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Candidates per parallel evaluation task.
    #[arg(long, value_name = "N", default_value_t = search::DEFAULT_BATCH)]
    batch: usize,
    /// Skip the equity-curve and drawdown PNGs.
    #[arg(long)]
    no_plots: bool,
    /// Where ULTA, per-strategy metrics and standardized values are computed: `engine` (the
    /// SQL templates of sql/, through the rewriter, in the --engine) or `local` (in-process).
    #[arg(long, value_enum, default_value_t = Stats::Engine)]
    stats: Stats,
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
    /// Print a JSON array, one object per portfolio line.
    #[arg(long)]
    json: bool,
}

fn parse_balanced(s: &str) -> Result<Vec<(String, i64)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').with_context(|| format!("--balanced: expected LABEL=COUNT, found {p:?}"))?;
            let n: i64 = v.trim().parse().ok().filter(|n| *n >= 0).with_context(|| {
                format!("--balanced: count of {:?} must be a whole number >= 0, found {v:?}", k.trim())
            })?;
            Ok((k.trim().to_string(), n))
        })
        .collect()
}

/// Flags over config over defaults.
fn build_spec(args: &RunArgs) -> Result<(RunSpec, Source, Vec<String>)> {
    let need_inputs = args.input.is_empty() && args.table.is_none();
    let cfg = match &args.config {
        Some(p) => read_legacy(p, need_inputs).with_context(|| format!("reading config {}", p.display()))?,
        None if need_inputs => bail!("no input: give --input FILE..., --table NAME or --config config.ini"),
        None => Default::default(),
    };
    let metric = match &args.metric {
        Some(m) => m.parse::<Metric>()?,
        None => cfg.metric.unwrap_or(Metric::Ratio),
    };
    let algorithms = match &args.algorithms {
        Some(list) => search::parse_algorithms(list)?,
        None if args.config.is_some() => cfg.algorithms.clone(),
        None => (0..search::registry().len()).collect(),
    };
    let generations = args.generations.or(cfg.generations).unwrap_or(50);
    let population = args.population.or(cfg.population).unwrap_or(30);
    let mutation_rate = args.mutation_rate.or(cfg.mutation_rate).unwrap_or(0.1);
    if generations == 0 {
        bail!("--generations must be at least 1");
    }
    if population < 2 {
        bail!("--population must be at least 2 (GA and DE need partners)");
    }
    if !(0.0..=1.0).contains(&mutation_rate) {
        bail!("--mutation-rate must be a probability in [0, 1], got {mutation_rate}");
    }
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let threshold = args.drawdown_threshold.or(cfg.drawdown_threshold).unwrap_or(0.0);
    if !threshold.is_finite() {
        bail!("--drawdown-threshold must be a finite number");
    }
    let factor = args.penalty_factor.or(cfg.penalty_factor).unwrap_or(1.0);
    if !(factor.is_finite() && factor >= 0.0) {
        bail!("--penalty-factor must be a number >= 0, got {factor}");
    }
    let balanced = match &args.balanced {
        Some(s) => Some(Balanced { factor, ratios: parse_balanced(s)? }),
        None if cfg.balanced == Some(true) => Some(Balanced { factor, ratios: cfg.file_ratios.clone() }),
        None => None,
    };
    let ulta = if args.ulta {
        true
    } else if args.no_ulta {
        false
    } else {
        cfg.ulta.unwrap_or(false)
    };
    let spec = RunSpec {
        min_size: args.min_size.or(cfg.min_size).unwrap_or(35),
        max_size: args.max_size.or(cfg.max_size).unwrap_or(60),
        metric,
        algorithms,
        params: Params { generations, population, mutation_rate, batch: args.batch },
        ulta,
        penalty: Penalty { drawdown_threshold: threshold, ..Penalty::default() },
        balanced,
        seed: args.seed,
        strat_limit: cfg.strat_limit,
        stats: args.stats,
    };
    if spec.min_size > spec.max_size {
        bail!("--min-size {} is larger than --max-size {}", spec.min_size, spec.max_size);
    }
    let source = match (&args.table, args.input.is_empty()) {
        (Some(t), _) => Source::Table(t.clone()),
        (None, false) => Source::Files(args.input.clone()),
        (None, true) => Source::Files(cfg.inputs.clone()),
    };
    Ok((spec, source, cfg.warnings))
}

fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("starting the thread pool")?;
    }
    Ok(())
}

fn read(engine: Option<&dyn heavytune::engine::Engine>, source: &Source) -> Result<heavytune::load::WideTable> {
    Ok(pipeline::read_source(source, engine)?)
}

pub fn cmd_run(global: &Global, args: RunArgs) -> Result<()> {
    let (spec, source, warnings) = build_spec(&args)?;
    set_threads(args.threads)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let started = Instant::now();
    let engine =
        if matches!(source, Source::Table(_)) || spec.stats == Stats::Engine { Some(connect(global)?) } else { None };
    let sp = spinner(global, "loading");
    let table = read(engine.as_deref(), &source);
    sp.finish_and_clear();
    let table = table?;
    let load_seconds = started.elapsed().as_secs_f64();

    let reg = search::registry();
    let sizes = spec.min_size..=spec.max_size;
    let total: usize = sizes.count() * spec.algorithms.iter().map(|&a| reg[a].budget(&spec.params)).sum::<usize>();
    let bar = if global.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(total as u64);
        b.set_style(
            ProgressStyle::with_template("searching {bar:40} {pos}/{len} evaluations {per_sec} eta {eta}")
                .expect("valid template"),
        );
        b
    };
    let outcome = pipeline::run(table, &spec, load_seconds, engine.as_deref(), &|n| bar.inc(n as u64));
    bar.finish_and_clear();
    let mut outcome = outcome?;
    let run_id = chrono::Local::now().format("%Y%m%d_%H%M%S").to_string();
    let dir =
        write_run(&args.out, &mut outcome, &spec, &OutputOptions { run_id: run_id.clone(), plots: !args.no_plots })?;
    if !global.quiet {
        for w in &outcome.warnings {
            eprintln!("warning: {w}");
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results_json(&outcome, &spec, &run_id, &dir))?);
        return Ok(());
    }
    if global.quiet {
        return Ok(());
    }
    println!(
        "{} strategies x {} days, metric {}, {} inverted by ULTA",
        outcome.table.n_strategies(),
        outcome.table.n_days(),
        spec.metric,
        outcome.inversions.len()
    );
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

/// One scored line of `score`.
#[derive(serde::Serialize)]
struct Scored {
    line: usize,
    size: usize,
    fitness: f64,
    base_fitness: f64,
    avg_corr: f64,
    #[serde(flatten)]
    metrics: heavytune::fitness::PortfolioReport,
}

pub fn cmd_score(global: &Global, args: ScoreArgs) -> Result<()> {
    let metric: Metric = args.metric.parse()?;
    let text = std::fs::read_to_string(&args.portfolio_file)
        .with_context(|| format!("reading --portfolio-file {}", args.portfolio_file.display()))?;
    let source = match &args.table {
        Some(t) => Source::Table(t.clone()),
        None => Source::Files(args.input.clone()),
    };
    let engine = match source {
        Source::Table(_) => Some(connect(global)?),
        Source::Files(_) => None,
    };
    let table = read(engine.as_deref(), &source)?;
    let (table, _) = if args.ulta { heavytune::ulta::apply(table) } else { (table, Vec::new()) };
    let index: std::collections::HashMap<&str, u32> =
        table.names.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect();
    let file = args.portfolio_file.display();
    let mut portfolios = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut pf = Vec::new();
        for name in line.split('|') {
            let s = index.get(name).copied().or_else(|| index.get(name.trim()).copied());
            let Some(s) = s else {
                let hint = if index.contains_key(format!("{}_inv", name.trim()).as_str()) {
                    " (ULTA inverted it: it is named with the _inv suffix)".to_string()
                } else if !args.ulta && name.trim().ends_with("_inv") {
                    " (an _inv name exists only with --ulta)".to_string()
                } else {
                    String::new()
                };
                bail!("{file}:{}: unknown strategy {name:?}{hint}", i + 1);
            };
            if pf.contains(&s) {
                bail!("{file}:{}: strategy {name:?} appears twice in one portfolio", i + 1);
            }
            pf.push(s);
        }
        portfolios.push((i + 1, pf));
    }
    if portfolios.is_empty() {
        bail!("{file}: no portfolio in the file (expected one per line, names separated by `|`)");
    }
    let penalty = Penalty { drawdown_threshold: args.drawdown_threshold, ..Penalty::default() };
    let ev = Evaluator::new(&table.values, table.n_days(), metric, penalty, None);
    let mut scratch = ev.scratch();
    let scored: Vec<Scored> = portfolios
        .iter()
        .map(|(line, pf)| {
            let e = ev.evaluate(pf, &mut scratch);
            let metrics = portfolio_report(&portfolio_returns(&table.values, table.n_days(), pf));
            Scored {
                line: *line,
                size: pf.len(),
                fitness: e.fitness,
                base_fitness: e.base_fitness,
                avg_corr: e.avg_corr,
                metrics,
            }
        })
        .collect();
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
