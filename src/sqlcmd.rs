//! `heavytune explain` and `heavytune bench ab`: a query (template, file or text) -> rules ->
//! printed SQL, engine plans, and timed A/B runs of original against rewritten.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::json;
use sqlparser::ast::Statement;

use heavytune::ab::{self, Spread};
use heavytune::dialect::{self, Dialect};
use heavytune::engine::{Engine, QueryOutput, TableData};
use heavytune::load::long::TableNames;
use heavytune::rewrite::{self, Context, Outcome};
use heavytune::templates::{self, Params};

use crate::{Global, connect, spinner};

/// Which query, and the values of its parameters.
#[derive(Args, Debug)]
pub struct QuerySource {
    /// The SQL text itself, e.g. "SELECT count(*) FROM pnl".
    #[arg(value_name = "SQL", conflicts_with_all = ["sql", "query"], required_unless_present_any = ["sql", "query"])]
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
    /// The engine the rewrite plans for (rules that pay only on some engines ask) [default: the
    /// --dialect of explain, else datafusion].
    #[arg(long, value_enum, value_name = "ENGINE")]
    target: Option<Dialect>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    #[command(flatten)]
    source: QuerySource,
    /// Dialect to print the SQL in.
    #[arg(long, value_enum, default_value_t = Dialect::Datafusion)]
    dialect: Dialect,
    /// Run both queries: EXPLAIN ANALYZE plans with measured times, and wall times side by side.
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
    Ab(AbArgs),
}

#[derive(Args, Debug)]
pub struct AbArgs {
    #[command(flatten)]
    source: QuerySource,
    /// Measured runs of each query.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Unmeasured runs of each query first.
    #[arg(long, default_value_t = 1)]
    warmup: u32,
    /// Print the record as JSON on stdout (it is written under --out-dir either way).
    #[arg(long)]
    json: bool,
    /// Folder for the JSON record.
    #[arg(long, value_name = "DIR", default_value = "reports/ab")]
    out_dir: PathBuf,
}

/// A bound statement and a name for records.
struct Prepared {
    name: String,
    statement: Statement,
}

fn read_lines(path: &PathBuf) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

fn prepare(src: &QuerySource, engine: &dyn Engine) -> Result<Prepared> {
    let tables = TableNames::for_table(&src.table);
    let mut candidates = src.candidates.clone();
    if let Some(f) = &src.candidates_file {
        candidates.extend(read_lines(f)?);
    }
    if let Some(n) = src.sample {
        let out = engine
            .execute(&format!("SELECT name FROM {} ORDER BY strategy_id", templates::quote_ident(&tables.strategies)))
            .context("reading strategy names for --sample (load data first: heavytune load)")?;
        let mut names = out.strings(0)?;
        if n > names.len() {
            bail!("--sample {n} is more than the {} strategies of {}", names.len(), tables.strategies);
        }
        names.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(src.seed));
        names.truncate(n);
        candidates.extend(names);
    }
    let params = Params {
        tables: Some(tables),
        columns: (!candidates.is_empty()).then(|| candidates.clone()),
        candidates: (!candidates.is_empty()).then_some(candidates),
        inverted: (!src.inverted.is_empty()).then(|| src.inverted.clone()),
        date_from: src.date_from.clone(),
        date_to: src.date_to.clone(),
    };
    let (name, statement) = if let Some(q) = &src.query {
        (q.clone(), templates::bind(templates::find(q)?, &params)?)
    } else {
        let (name, text) = match (&src.sql, &src.text) {
            (Some(f), _) => (
                f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sql".into()),
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
            ),
            (None, Some(t)) => ("inline".to_owned(), t.clone()),
            (None, None) => bail!("give the SQL text, --sql FILE or --query NAME"),
        };
        let mut stmt = templates::parse(&text)?;
        templates::bind_statement(&mut stmt, &params).map_err(|e| anyhow::anyhow!("binding parameters: {e}"))?;
        (name, stmt)
    };
    Ok(Prepared { name, statement })
}

fn rewrite(src: &QuerySource, engine: &dyn Engine, prepared: &Prepared, dialect: Dialect) -> Result<Outcome> {
    let mut ctx = Context::discover(engine, &prepared.statement)?;
    ctx.target = src.target.unwrap_or(dialect);
    Ok(rewrite::optimize(prepared.statement.clone(), &ctx, src.rules.as_deref())?)
}

/// The engine's plan of a statement (the query of a CTAS), or why there is none.
fn engine_plan(engine: &dyn Engine, stmt: &Statement, analyze: bool) -> String {
    let sql = match stmt {
        Statement::CreateTable(ct) if ct.query.is_some() => ct.query.as_ref().expect("checked").to_string(),
        other => other.to_string(),
    };
    engine.explain(&sql, analyze).unwrap_or_else(|e| format!("(the engine cannot explain this statement: {e})"))
}

pub fn cmd_explain(global: &Global, args: ExplainArgs) -> Result<()> {
    let engine = connect(global)?;
    let prepared = prepare(&args.source, engine.as_ref())?;
    let outcome = rewrite(&args.source, engine.as_ref(), &prepared, args.dialect)?;
    let original_sql = dialect::print(&outcome.original, args.dialect)?;
    let rewritten_sql = dialect::print(&outcome.plan.statement, args.dialect)
        .context("printing the rewritten query (run with --rules to leave the offending rule out)")?;
    let pb = spinner(global, if args.analyze { "running both queries" } else { "planning" });
    let plan_original = engine_plan(engine.as_ref(), &outcome.original, args.analyze);
    let plan_rewritten = engine_plan(engine.as_ref(), &outcome.plan.statement, args.analyze);
    let times = if args.analyze {
        let (_, t_original) = ab::timed(|| ab::execute_statement(engine.as_ref(), &outcome.original))
            .context("running the original query")?;
        let (_, t_rewritten) =
            ab::timed(|| ab::execute_plan(engine.as_ref(), &outcome.plan)).context("running the rewritten plan")?;
        Some((t_original, t_rewritten))
    } else {
        None
    };
    pb.finish_and_clear();
    let kernel = outcome.plan.kernel.as_ref().map(|k| k.describe());
    if args.json {
        let v = json!({
            "query": prepared.name,
            "dialect": args.dialect,
            "engine": engine.name(),
            "original_sql": original_sql,
            "rewritten_sql": rewritten_sql,
            "rules_fired": outcome.fired(),
            "rules": outcome.steps,
            "kernel": kernel,
            "followups": outcome.plan.followups,
            "plan_original": plan_original,
            "plan_rewritten": plan_rewritten,
            "seconds": times.map(|(o, r)| json!({"original": o, "rewritten": r})),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("-- original ({}, {})\n{original_sql}\n", prepared.name, args.dialect);
    let fired: Vec<_> = outcome.steps.iter().filter(|s| s.fired).collect();
    if fired.is_empty() {
        println!(
            "-- no rule fired; the query runs as written{}",
            if args.verbose { "" } else { " (--verbose says why)" }
        );
    }
    for s in &fired {
        println!("-- fired {}: {}", s.rule, s.reason);
    }
    if args.verbose {
        for s in outcome.steps.iter().filter(|s| !s.fired) {
            println!("-- not fired {}: {}", s.rule, s.reason);
        }
    }
    println!("\n-- rewritten\n{rewritten_sql}");
    if let Some(k) = &kernel {
        println!("-- then {k}");
    }
    for f in &outcome.plan.followups {
        println!("-- then {f}");
    }
    println!("\n-- engine plan of the original ({})\n{plan_original}", engine.name());
    println!("\n-- engine plan of the rewritten\n{plan_rewritten}");
    if let Some((o, r)) = times {
        println!("\n-- measured: original {o:.4} s, rewritten {r:.4} s ({:.2}x)", o / r.max(1e-12));
    }
    Ok(())
}

/// Runs one side, giving an UPDATE a fresh in-memory copy of its table first (untimed):
/// UPDATE changes the table, and Parquet tables take no UPDATE.
fn run_side(
    engine: &dyn Engine,
    run: impl Fn() -> heavytune::Result<QueryOutput>,
    pristine: &Option<TableData>,
) -> Result<(QueryOutput, f64)> {
    if let Some(table) = pristine {
        engine.register_memory(table.clone())?;
    }
    Ok(ab::timed(run)?)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cpu}, {cores} cores, {}", std::env::consts::OS)
}

pub fn cmd_bench(global: &Global, command: BenchCommand) -> Result<()> {
    let BenchCommand::Ab(args) = command;
    let engine = connect(global)?;
    let prepared = prepare(&args.source, engine.as_ref())?;
    let outcome = rewrite(&args.source, engine.as_ref(), &prepared, Dialect::Datafusion)?;
    let fired = outcome.fired();
    if fired.is_empty() && !global.quiet {
        eprintln!("warning: no rule fired; both sides run the same SQL (heavytune explain --verbose says why)");
    }
    let pristine = match &outcome.original {
        Statement::Update(u) => {
            let name = u.table.relation.to_string();
            let out = engine.execute(&format!("SELECT * FROM {name}"))?;
            Some(TableData { name: name.trim_matches('"').to_owned(), schema: out.schema, batches: out.batches })
        }
        _ => None,
    };
    let original = || ab::execute_statement(engine.as_ref(), &outcome.original);
    let rewritten = || ab::execute_plan(engine.as_ref(), &outcome.plan);
    let total = (args.warmup + args.runs) * 2;
    let pb = crate::progress(global, total as u64, "A/B runs");
    for _ in 0..args.warmup {
        run_side(engine.as_ref(), original, &pristine).context("running the original query")?;
        pb.inc(1);
        run_side(engine.as_ref(), rewritten, &pristine).context("running the rewritten plan")?;
        pb.inc(1);
    }
    let (mut t_original, mut t_rewritten) = (Vec::new(), Vec::new());
    let mut first: Option<(QueryOutput, QueryOutput)> = None;
    for _ in 0..args.runs {
        let (a, ta) = run_side(engine.as_ref(), original, &pristine).context("running the original query")?;
        pb.inc(1);
        let (b, tb) = run_side(engine.as_ref(), rewritten, &pristine).context("running the rewritten plan")?;
        pb.inc(1);
        t_original.push(ta);
        t_rewritten.push(tb);
        first.get_or_insert((a, b));
    }
    pb.finish_and_clear();
    let (a, b) = first.expect("at least one run");
    let difference = ab::same_results(&a, &b, 1e-9).err();
    let (so, sr) = (Spread::of(&t_original), Spread::of(&t_rewritten));
    let speedup = so.median / sr.median.max(1e-12);
    let stamp = chrono::Local::now().format("%Y%m%d_%H%M%S").to_string();
    let record = json!({
        "query": prepared.name,
        "engine": engine.name(),
        "machine": machine(),
        "rules_fired": fired,
        "runs": args.runs,
        "warmup": args.warmup,
        "rows": a.num_rows(),
        "original": {"sql": outcome.original.to_string(), "seconds": so, "times": t_original},
        "rewritten": {"sql": outcome.plan.statement.to_string(), "kernel": outcome.plan.kernel.as_ref().map(|k| k.describe()), "seconds": sr, "times": t_rewritten},
        "equal": difference.is_none(),
        "difference": difference,
        "speedup": speedup,
        "finished": stamp,
    });
    std::fs::create_dir_all(&args.out_dir).with_context(|| format!("creating {}", args.out_dir.display()))?;
    let path = args.out_dir.join(format!("{}_{stamp}.json", prepared.name));
    std::fs::write(&path, serde_json::to_string_pretty(&record)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        println!(
            "{} on {} ({}), {} runs after {} warm-up, {} rows",
            prepared.name,
            engine.name(),
            machine(),
            args.runs,
            args.warmup,
            a.num_rows()
        );
        println!("rules fired: {}", if fired.is_empty() { "none".to_owned() } else { fired.join(", ") });
        println!("{:<10} {:>10} {:>10} {:>10}", "seconds", "min", "median", "max");
        println!("{:<10} {:>10.4} {:>10.4} {:>10.4}", "original", so.min, so.median, so.max);
        println!("{:<10} {:>10.4} {:>10.4} {:>10.4}", "rewritten", sr.min, sr.median, sr.max);
        println!(
            "speedup (median original / median rewritten): {speedup:.2}x; results equal: {}",
            difference.is_none()
        );
        println!("record: {}", path.display());
    }
    if let Some(d) = difference {
        bail!("the rewritten query gave other results: {d}");
    }
    Ok(())
}
