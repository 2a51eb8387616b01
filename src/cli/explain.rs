//! `heavytune explain` and `heavytune bench ab`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use heavytune::ab::{self, AbRecord};
use heavytune::dialect::Dialect;
use heavytune::engine::EngineKind;
use heavytune::explain::{self, Explained};
use heavytune::query::{self, QueryRequest};

use crate::Global;

/// Which query, and the values of its parameters.
#[derive(Args, Debug)]
pub struct QuerySource {
    /// The SQL text itself, e.g. "SELECT count(*) FROM pnl" (it may begin with a `--` comment).
    #[arg(
        value_name = "SQL",
        allow_hyphen_values = true,
        conflicts_with_all = ["sql", "query"],
        required_unless_present_any = ["sql", "query"]
    )]
    text: Option<String>,
    /// A file holding one SQL statement (it may use the templates' $parameters).
    #[arg(long, value_name = "FILE", conflicts_with = "query")]
    sql: Option<PathBuf>,
    /// A template of sql/ by name: ulta_strategies, ulta_pnl, ulta_report, ulta_update,
    /// strategy_metrics, standardize, pair_corr, pair_corr_all, wide_select.
    #[arg(long, value_name = "NAME")]
    query: Option<String>,
    /// Long P&L table the templates read (its strategies table follows, as in `load --table`).
    #[arg(long, value_name = "NAME", default_value = "pnl")]
    table: String,
    /// A candidate strategy name for $candidates / $columns (repeat the flag for more).
    #[arg(long = "candidate", value_name = "NAME")]
    candidates: Vec<String>,
    /// A file of candidate strategy names, one per line.
    #[arg(long, value_name = "FILE")]
    candidates_file: Option<PathBuf>,
    /// Pick N candidate strategies at random (by --seed) from the strategies table.
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
    /// Seed of --sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// A strategy id for $inverted (repeat the flag for more).
    #[arg(long = "inverted", value_name = "ID")]
    inverted: Vec<i64>,
    /// First date of $date_from (YYYY-MM-DD) [default: every date].
    #[arg(long, value_name = "DATE")]
    date_from: Option<String>,
    /// Last date of $date_to (YYYY-MM-DD), inclusive [default: every date].
    #[arg(long, value_name = "DATE")]
    date_to: Option<String>,
    /// Run only these rules (comma list of names) instead of all of them.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    rules: Option<Vec<String>>,
    /// The engine the rewrite plans for: rules that pay only on some engines read its
    /// capabilities [default: the engine of explain's --dialect, else the connected engine].
    #[arg(long, value_enum, value_name = "ENGINE")]
    target: Option<EngineKind>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    #[command(flatten)]
    source: QuerySource,
    /// Dialect to print the SQL in [default: the engine's own].
    #[arg(long, value_enum)]
    dialect: Option<Dialect>,
    /// Run both queries: EXPLAIN ANALYZE plans with measured times, and wall times side by side
    /// (statements that write run on session copies of their tables, never on stored data).
    #[arg(long)]
    analyze: bool,
    /// Also list the rules that did not fire, with the precondition that failed.
    #[arg(long, short)]
    verbose: bool,
    /// Print one JSON object (with `rules_fired`) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// A/B benchmark: the original and the rewritten query, alternately after warm-up.
    Ab(Box<AbArgs>),
    /// Fetch a whole table from the engine as Arrow: MB/s, bytes copied after the receive
    /// (engines over a wire, such as flightsql://) and peak memory.
    Fetch(FetchArgs),
}

/// How often a benchmark runs, and how it prints.
#[derive(Args, Debug)]
pub struct Rounds {
    /// Measured runs (of each query, for `ab`).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Unmeasured runs first.
    #[arg(long, default_value_t = 1)]
    warmup: u32,
    /// Print the record as JSON on stdout (it is written under --out either way).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// The table to fetch (`SELECT * FROM <table>`).
    #[arg(long, value_name = "NAME", default_value = "pnl")]
    table: String,
    #[command(flatten)]
    rounds: Rounds,
    /// Folder for the JSON record [default: `bench/` in the --db folder].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct AbArgs {
    #[command(flatten)]
    source: QuerySource,
    #[command(flatten)]
    rounds: Rounds,
    /// Folder for the JSON record [default: `ab/` in the --db folder].
    #[arg(long, visible_alias = "out-dir", value_name = "DIR")]
    out: Option<PathBuf>,
    /// Stop each run of the original after this many seconds; the record then gives the
    /// speedup as a lower bound (speedup_at_least) and checks equality on a sample (--equal-sample).
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    timeout: Option<f64>,
    /// Strategies in the sample on which equality is checked when the original does not
    /// finish within --timeout (drawn with --seed; session copies of the tables it reads).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u64).range(2..))]
    equal_sample: u64,
    /// Where a plan's kernel step (the correlation product of `correlation_to_kernel`) runs:
    /// `auto` (a usable GPU, else the CPU, saying why), `cpu`, or `cuda[:N]`.
    #[arg(long, value_name = "auto|cpu|cuda[:N]", default_value = "auto", value_parser = crate::cli::run::parse_device)]
    device: heavytune::kernels::gpu::DeviceChoice,
}

impl QuerySource {
    fn request(&self) -> QueryRequest {
        QueryRequest {
            text: self.text.clone(),
            file: self.sql.clone(),
            template: self.query.clone(),
            table: self.table.clone(),
            candidates: self.candidates.clone(),
            candidates_file: self.candidates_file.clone(),
            sample: self.sample,
            seed: self.seed,
            inverted: self.inverted.clone(),
            date_from: self.date_from.clone(),
            date_to: self.date_to.clone(),
        }
    }
}

pub fn cmd_explain(global: &Global, args: ExplainArgs) -> anyhow::Result<()> {
    let rt = global.runtime()?;
    let engine = global.connect(&rt, true)?;
    let src = &args.source;
    let dialect = args.dialect.unwrap_or_else(|| engine.dialect());
    // Without --target, plan for the engine --dialect names (the connected one by default).
    let target = src.target.or_else(|| args.dialect.map(EngineKind::of_dialect));
    let pb = global.spinner(if args.analyze { "running both queries" } else { "planning" });
    let report = rt.run(async {
        let prepared = query::prepare(engine.as_ref(), &src.request()).await?;
        let outcome = query::rewrite(engine.as_ref(), &prepared, src.rules.as_deref(), target).await?;
        explain::explain(engine.as_ref(), &prepared, &outcome, dialect, args.analyze).await
    });
    pb.finish_and_clear();
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_explained(&report, args.verbose);
    Ok(())
}

fn print_explained(r: &Explained, verbose: bool) {
    println!("-- original ({}, {})\n{}\n", r.query, r.dialect, r.original_sql);
    let fired: Vec<_> = r.rules.iter().filter(|s| s.fired).collect();
    if fired.is_empty() {
        println!("-- no rule fired; the query runs as written{}", if verbose { "" } else { " (--verbose says why)" });
    }
    for s in &fired {
        println!("-- fired {}: {}", s.rule, s.reason);
        for f in &s.fragments {
            println!("--   at {}, before:\n{}\n--   after:\n{}", f.at, f.before, f.after);
        }
    }
    if verbose {
        for s in r.rules.iter().filter(|s| !s.fired) {
            println!("-- not fired {}: {}", s.rule, s.reason);
        }
        for f in &r.facts {
            println!("-- fact {f}");
        }
        let c = &r.capabilities;
        println!(
            "-- engine capabilities: update {}, update rewrites fragments {}, CTAS {:?}, temporary tables {:?}, \
             transactions {}, EXPLAIN ANALYZE {}, wide tables {}",
            c.update,
            c.update_rewrites_fragments,
            c.ctas,
            c.temporary_tables,
            c.transactions,
            c.explain_analyze,
            c.wide_tables
        );
    }
    println!("\n-- rewritten\n{}", r.rewritten_sql);
    for t in &r.then {
        println!("-- then {t}");
    }
    if let Some(k) = &r.kernel {
        println!("-- kernel: {k}");
    }
    println!("\n-- engine plan of the original ({})\n{}", r.engine, r.plan_original);
    println!("\n-- engine plan of the rewritten\n{}", r.plan_rewritten);
    if let Some(t) = r.seconds {
        println!("\n-- measured   {:>12} {:>12} {:>9}", "original", "rewritten", "speedup");
        println!(
            "-- wall       {:>10.4} s {:>10.4} s {:>8.2}x",
            t.original,
            t.rewritten,
            t.original / t.rewritten.max(1e-12)
        );
    }
}

pub fn cmd_bench(global: &Global, command: BenchCommand) -> anyhow::Result<()> {
    let args = match command {
        BenchCommand::Ab(args) => *args,
        BenchCommand::Fetch(args) => return cmd_fetch(global, args),
    };
    let rt = global.runtime()?;
    let engine = global.connect(&rt, true)?;
    let src = &args.source;
    let (gpu, kernels) = heavytune::device::select_gpu(args.device)?;
    let bar = global
        .progress(u64::from(args.rounds.warmup + args.rounds.runs) * 2, "A/B runs {bar:30} {pos}/{len} {elapsed}");
    let record = rt.run(async {
        let prepared = query::prepare(engine.as_ref(), &src.request()).await?;
        let outcome = query::rewrite(engine.as_ref(), &prepared, src.rules.as_deref(), src.target).await?;
        if outcome.fired().is_empty() && !global.quiet {
            eprintln!("warning: no rule fired; both sides run the same SQL (heavytune explain --verbose says why)");
        }
        let options = ab::AbOptions {
            runs: args.rounds.runs,
            warmup: args.rounds.warmup,
            timeout: args.timeout,
            sample: args.equal_sample as usize,
            seed: src.seed,
        };
        ab::bench(engine.as_ref(), &prepared, &outcome, options, (gpu.as_ref(), &kernels), &|| bar.inc(1)).await
    });
    bar.finish_and_clear();
    let record = record?;
    let dir = args.out.clone().unwrap_or_else(|| global.db.join("ab"));
    let path = ab::write_record(&dir, &record)?;
    if args.rounds.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        print_record(&record, &path);
    }
    if let Some(d) = &record.difference {
        return Err(anyhow::anyhow!(heavytune::Error::Engine {
            what: "bench ab",
            message: format!("the rewritten query gave other results: {d}"),
        }));
    }
    Ok(())
}

fn cmd_fetch(global: &Global, args: FetchArgs) -> anyhow::Result<()> {
    let rt = global.runtime()?;
    let engine = global.connect(&rt, true)?;
    let bar =
        global.progress(u64::from(args.rounds.warmup + args.rounds.runs), "fetches {bar:30} {pos}/{len} {elapsed}");
    let record = rt.run(heavytune::fetch_bench::fetch(
        engine.as_ref(),
        &args.table,
        args.rounds.runs,
        args.rounds.warmup,
        &|| bar.inc(1),
    ));
    bar.finish_and_clear();
    let record = record?;
    let dir = args.out.clone().unwrap_or_else(|| global.db.join("bench"));
    std::fs::create_dir_all(&dir).map_err(|e| heavytune::Error::Write { path: dir.display().to_string(), cause: e })?;
    let path = dir.join(format!("fetch_{}_{}.json", record.table, record.finished));
    let text = serde_json::to_string_pretty(&record)?;
    std::fs::write(&path, format!("{text}\n"))
        .map_err(|e| heavytune::Error::Write { path: path.display().to_string(), cause: e })?;
    if args.rounds.json {
        println!("{text}");
    } else {
        println!(
            "{}: {} rows, {:.1} MB of Arrow in {:.4} s (median of {}), {:.0} MB/s",
            record.engine,
            record.rows,
            record.arrow_bytes as f64 / 1e6,
            record.seconds.median,
            record.runs,
            record.mb_per_second
        );
        if let Some(c) = record.bytes_copied_after_receive {
            println!("bytes copied after the receive: {c}");
        }
        println!("peak memory {:.0} MiB; record {}", record.peak_rss_bytes as f64 / 1048576.0, path.display());
    }
    Ok(())
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

fn print_record(r: &AbRecord, path: &std::path::Path) {
    println!(
        "{} on {} ({}), {} runs after {} warm-up, {} rows",
        r.query, r.engine, r.machine, r.runs, r.warmup, r.rows
    );
    println!("rules fired: {}", if r.rules_fired.is_empty() { "none".to_owned() } else { r.rules_fired.join(", ") });
    println!("kernels: {}", r.kernels);
    println!("{:<10} {:>10} {:>10} {:>10}", "seconds", "min", "median", "max");
    for (name, side) in [("original", &r.original), ("rewritten", &r.rewritten)] {
        let s = &side.seconds;
        if side.times.is_empty() {
            let why = if side.timed_out_after.is_some() { "did not finish (--timeout)" } else { "not run" };
            println!("{name:<10} {why:>32}");
        } else {
            println!("{:<10} {:>10.4} {:>10.4} {:>10.4}", name, s.min, s.median, s.max);
        }
    }
    match (r.speedup, r.speedup_at_least) {
        (None, None) if r.rules_fired.is_empty() => {
            println!("speedup: none to measure (no rule fired: the rewritten plan is the original statement)")
        }
        (Some(x), _) => println!("speedup (median original / median rewritten): {x:.2}x"),
        (None, Some(x)) => println!(
            "speedup: at least {x:.2}x (the original did not finish in {} s; --timeout)",
            r.timeout.unwrap_or_default()
        ),
        (None, None) => println!("speedup: unknown"),
    }
    match r.equal {
        Some(equal) => println!("results equal: {}, on {}", if equal { "yes" } else { "NO" }, r.equal_checked_on),
        // The record says why not (it begins "not checked").
        None => println!("results equal: {}", r.equal_checked_on),
    }
    println!("record: {}", path.display());
}
