//! The `heavytune` command line: a thin layer over the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use heavytune::calibration;
use heavytune::engine;
use heavytune::ingest;
use heavytune::load::LoadOptions;
use heavytune::load::long::DEFAULT_TABLE;
use heavytune::metrics;
use heavytune::report::{self, Format};
use heavytune::synth::{self, SynthConfig};

/// Pick portfolios out of tens of thousands of trading strategies, SQL-first.
///
/// Data lives in a SQL engine as a long/narrow table: `load` puts wide P&L files there, `sql`
/// queries it, `run` finds the best portfolios, `explain` and `bench ab` show and measure the
/// query rewrites, `synth` makes production-shape test data.
#[derive(Parser, Debug)]
#[command(name = "heavytune", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
pub(crate) struct Global {
    /// Database folder of the embedded engine: a folder of Parquet parts per table plus catalog.json.
    #[arg(long, global = true, value_name = "DIR", default_value = "heavytune-db", env = "HEAVYTUNE_DB")]
    pub(crate) db: PathBuf,
    /// SQL engine: `embedded` (DataFusion in this process, the default). flightsql://, odbc://,
    /// heavydb:// and ballista:// are planned and answer "not supported yet".
    #[arg(long, global = true, value_name = "URL", default_value = "embedded", env = "HEAVYTUNE_ENGINE")]
    pub(crate) engine: String,
    /// No progress display and no summaries on stderr; errors are still printed.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load wide P&L files (CSV or xlsx) into the `pnl` and `strategies` tables.
    Load(LoadArgs),
    /// Write a production-shape synthetic wide CSV (and compare it with real metrics).
    Synth(SynthArgs),
    /// Run a SQL query on the engine and print the result.
    Sql(SqlArgs),
    /// Find the best portfolio of each size (the legacy optimizer's job) and write the run folder.
    Run(Box<RunArgs>),
    /// Score given portfolios: base fitness, average correlation, fitness and report metrics.
    Score(ScoreArgs),
    /// Show a query (a template of sql/, a file or text), the rewrite rules that fire and why,
    /// the rewritten SQL in a dialect, and the engine's plans of both.
    Explain(Box<ExplainArgs>),
    /// Benchmarks: `bench ab` runs a query and its rewrite alternately and compares them.
    Bench {
        #[command(subcommand)]
        command: Box<BenchCommand>,
    },
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// Input files: a header `Date[,Zone][,Day],<strategy>...` then one row per trading day.
    /// Several files are merged on (Date, Zone, Day) and their columns named `<file stem>_<column>`.
    #[arg(long, short, required = true, num_args = 1.., value_name = "PATH")]
    input: Vec<PathBuf>,
    /// Name of the long P&L table; its strategies table is `strategies` for the default `pnl`,
    /// else `<NAME>_strategies`.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_TABLE)]
    table: String,
    /// Reject empty or non-numeric cells (naming file, line and column) instead of reading them as 0.
    #[arg(long)]
    strict: bool,
    /// Print the load summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct SynthArgs {
    /// Where to write the wide CSV (written whole to a temporary name, then renamed).
    #[arg(long, short, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Number of strategy columns (production: 25,544; at most 250,000, as distinct time
    /// windows run out beyond that).
    #[arg(long, default_value_t = 25_544, value_parser = clap::value_parser!(u64).range(1..=synth::MAX_STRATEGIES))]
    strategies: u64,
    /// Number of trading days (rows; production: 82).
    #[arg(long, default_value_t = 82, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    days: u64,
    /// Seed of every random choice: the same seed writes the same bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the 10/50/90 percentiles of ROI, max drawdown, win percentage and profit factor
    /// of the generated strategies next to the real ones (from --calibration).
    #[arg(long)]
    report: bool,
    /// Real per-strategy metrics (legacy strategy_metrics.csv) to compare with in --report.
    #[arg(
        long,
        value_name = "FILE",
        env = "HEAVYTUNE_CALIBRATION",
        default_value = "../shared/data/strategy_metrics.csv"
    )]
    calibration: PathBuf,
    /// Print the summary (and report) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct SqlArgs {
    /// The SQL statement, e.g. "SELECT count(*) FROM pnl".
    query: String,
    /// Print rows as a JSON array of objects.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print rows as CSV: a header line, then one line per row.
    #[arg(long)]
    csv: bool,
}

mod optimize;
mod sqlcmd;
use optimize::{RunArgs, ScoreArgs};
use sqlcmd::{BenchCommand, ExplainArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Load(args) => cmd_load(&cli.global, args),
        Command::Synth(args) => cmd_synth(&cli.global, args),
        Command::Sql(args) => cmd_sql(&cli.global, args),
        Command::Run(args) => optimize::cmd_run(&cli.global, *args),
        Command::Score(args) => optimize::cmd_score(&cli.global, args),
        Command::Explain(args) => sqlcmd::cmd_explain(&cli.global, *args),
        Command::Bench { command } => sqlcmd::cmd_bench(&cli.global, *command),
    }
}

/// A spinner on a terminal's stderr; hidden when piped or quiet.
pub(crate) fn spinner(global: &Global, message: &'static str) -> ProgressBar {
    if global.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner().with_message(message);
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// A counting progress bar on a terminal's stderr; hidden when piped or quiet.
pub(crate) fn progress(global: &Global, total: u64, message: &'static str) -> ProgressBar {
    if global.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total).with_message(message);
    pb.set_style(ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {elapsed}").expect("valid template"));
    pb
}

pub(crate) fn connect(global: &Global) -> Result<Box<dyn engine::Engine>> {
    Ok(engine::connect(&global.engine, &global.db)?)
}

fn cmd_load(global: &Global, args: LoadArgs) -> Result<()> {
    let engine = connect(global)?;
    let pb = spinner(global, "loading");
    let summary = ingest::load_into(engine.as_ref(), &args.input, &args.table, LoadOptions { strict: args.strict });
    pb.finish_and_clear();
    let s = summary?;
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    if s.missing_cells > 0 && !global.quiet {
        eprintln!("warning: {} empty or non-numeric cells became 0 (use --strict to reject them)", s.missing_cells);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else if !global.quiet {
        println!(
            "loaded {} strategies x {} days = {} rows into {} and {} ({}, {})",
            s.strategies,
            s.days,
            s.pnl_rows,
            s.pnl_table,
            s.strategies_table,
            s.engine,
            global.db.display()
        );
        println!(
            "{:.3} s ({:.3} s parse, {:.3} s ingest), {:.1} MB at {:.0} MB/s",
            s.total_seconds,
            s.parse_seconds,
            s.ingest_seconds,
            s.bytes_read as f64 / 1e6,
            s.mb_per_second
        );
    }
    Ok(())
}

fn cmd_synth(global: &Global, args: SynthArgs) -> Result<()> {
    if args.out.is_none() && !args.report {
        bail!("nothing to do: give --out PATH to write the data, --report to compare it with real metrics, or both");
    }
    let cfg = SynthConfig { strategies: args.strategies as usize, days: args.days as usize, seed: args.seed };
    // Read the calibration first: a bad path should fail before minutes of work.
    let real =
        if args.report {
            let path = &args.calibration;
            Some(calibration::read_metrics_csv(path).context(
                "reading real metrics for --report (pass --calibration FILE, a legacy strategy_metrics.csv)",
            )?)
        } else {
            None
        };
    let pb = spinner(global, "generating");
    let start = Instant::now();
    let table = synth::generate(&cfg);
    let mut bytes = 0;
    if let Some(out) = &args.out {
        bytes = write_atomically(out, |w| synth::write_wide_csv(&table, w))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    pb.finish_and_clear();

    let rows = real.as_ref().map(|real| {
        let generated: Vec<metrics::StrategyMetrics> =
            (0..table.n_strategies()).into_par_iter().map(|s| metrics::strategy_metrics(table.strategy(s))).collect();
        calibration::compare(&generated, Some(real))
    });
    if args.json {
        let v = serde_json::json!({
            "out": args.out, "strategies": cfg.strategies, "days": cfg.days, "seed": cfg.seed,
            "bytes": bytes, "seconds": seconds, "report": rows,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if let (Some(out), false) = (&args.out, global.quiet) {
        println!(
            "wrote {} ({} strategies x {} days, {:.1} MB, seed {}) in {:.2} s",
            out.display(),
            cfg.strategies,
            cfg.days,
            bytes as f64 / 1e6,
            cfg.seed,
            seconds
        );
    }
    if let Some(rows) = rows {
        print_calibration(&rows, &args.calibration);
    }
    Ok(())
}

fn print_calibration(rows: &[calibration::Row], real_path: &Path) {
    println!("percentiles p10 / p50 / p90: synthetic vs real ({})", real_path.display());
    println!("{:<16} {:>32} {:>32}", "metric", "synthetic", "real");
    let fmt = |v: &[f64; 3]| format!("{:>10.3} {:>10.3} {:>10.3}", v[0], v[1], v[2]);
    for r in rows {
        let real = r.real.as_ref().map(fmt).unwrap_or_else(|| "-".into());
        println!("{:<16} {:>32} {:>32}", r.metric, fmt(&r.synthetic), real);
    }
}

/// Writes a file through a temporary name in the same folder, renamed into place on success,
/// so a failure never leaves a partial file. Returns the bytes written.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<u64> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| -> Result<u64> {
        let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        write(&mut w).with_context(|| format!("writing {}", tmp.display()))?;
        let file = w.into_inner().map_err(|e| e.into_error()).with_context(|| format!("writing {}", tmp.display()))?;
        let bytes = file.metadata()?.len();
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn cmd_sql(global: &Global, args: SqlArgs) -> Result<()> {
    let engine = connect(global)?;
    let out = engine.execute(&args.query)?;
    let format = if args.json {
        Format::Json
    } else if args.csv {
        Format::Csv
    } else {
        Format::Table
    };
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    report::write(&out, format, &mut lock)?;
    lock.flush()?;
    Ok(())
}
