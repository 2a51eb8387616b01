//! The run folder: the legacy outputs under their legacy names, plus `results.json`.
//! Written into a hidden temporary folder and renamed into place at the end, so a failed run
//! leaves no half-written `run_*` folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::plot;
use super::pyfmt::{py_bool, py_float};
use crate::error::{Error, Result};
use crate::performance::PortfolioReport;
use crate::pipeline::{RunOutcome, RunSpec, Timings};
use crate::search::registry;
use crate::ulta::inversion_report;

/// Options of the output stage.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// The legacy `run_<YYYYmmdd_HHMMSS>` id.
    pub run_id: String,
    pub plots: bool,
}

/// One size's best in `results.json`.
#[derive(Debug, Serialize)]
pub struct SizeJson<'a> {
    pub size: usize,
    pub algorithm: &'static str,
    pub fitness: f64,
    pub base_fitness: f64,
    pub avg_corr: f64,
    pub strategies: Vec<&'a str>,
    pub metrics: PortfolioReport,
    pub algorithms: &'a [crate::search::AlgorithmResult],
}

/// `results.json`.
#[derive(Debug, Serialize)]
pub struct ResultsJson<'a> {
    pub run_id: &'a str,
    pub output_dir: String,
    pub strategies: usize,
    pub days: usize,
    pub inverted: usize,
    pub spec: &'a RunSpec,
    pub algorithms: Vec<&'static str>,
    pub threads: usize,
    pub best: BestJson,
    pub sizes: Vec<SizeJson<'a>>,
    pub evaluations: usize,
    pub evaluations_per_second: f64,
    pub timings: &'a Timings,
    pub warnings: &'a [String],
    pub device: &'a crate::device::DeviceSummary,
}

/// The best portfolio over all sizes.
#[derive(Debug, Serialize)]
pub struct BestJson {
    pub size: usize,
    pub algorithm: &'static str,
    pub fitness: f64,
}

/// Builds the JSON record of a run.
pub fn results_json<'a>(out: &'a RunOutcome, spec: &'a RunSpec, run_id: &'a str, dir: &Path) -> ResultsJson<'a> {
    let reg = registry();
    let best = &out.sizes[out.best].result;
    ResultsJson {
        run_id,
        output_dir: dir.display().to_string(),
        strategies: out.table.n_strategies(),
        days: out.table.n_days(),
        inverted: out.inversions.len(),
        spec,
        algorithms: spec.algorithms.iter().map(|&a| reg[a].name()).collect(),
        threads: rayon::current_num_threads(),
        best: BestJson { size: best.size, algorithm: best.best.algorithm, fitness: best.best.eval.fitness },
        sizes: out
            .sizes
            .iter()
            .map(|s| SizeJson {
                size: s.result.size,
                algorithm: s.result.best.algorithm,
                fitness: s.result.best.eval.fitness,
                base_fitness: s.result.best.eval.base_fitness,
                avg_corr: s.result.best.eval.avg_corr,
                strategies: s.result.best.portfolio.iter().map(|&i| out.table.names[i as usize].as_str()).collect(),
                metrics: s.report,
                algorithms: &s.result.algorithms,
            })
            .collect(),
        evaluations: out.evaluations,
        evaluations_per_second: out.evaluations as f64 / out.timings.search.max(1e-9),
        timings: &out.timings,
        warnings: &out.warnings,
        device: &out.device,
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, text).map_err(|e| Error::write(&p, e))
}

fn metrics_text(report: &PortfolioReport) -> String {
    report.fields().iter().map(|(k, v)| format!("{k}: {}\n", py_float(*v))).collect()
}

fn strategies_text(names: &[&str]) -> String {
    names.iter().enumerate().map(|(i, n)| format!("{}. {n}\n", i + 1)).collect()
}

/// Writes every output file into `dir` (which exists and is empty).
fn write_files(dir: &Path, out: &RunOutcome, spec: &RunSpec, opts: &OutputOptions, final_dir: &Path) -> Result<()> {
    let id = &opts.run_id;
    let names = |pf: &[u32]| pf.iter().map(|&i| out.table.names[i as usize].as_str()).collect::<Vec<_>>();
    for s in &out.sizes {
        let b = &s.result.best;
        let text = format!(
            "Best Portfolio (Size {}) - Method: {}\nFitness: {}\n\nPerformance Metrics:\n{}\nSelected Strategies:\n{}",
            s.result.size,
            b.algorithm,
            py_float(b.eval.fitness),
            metrics_text(&s.report),
            strategies_text(&names(&b.portfolio)),
        );
        write(dir, &format!("best_portfolio_size{}_{id}.txt", s.result.size), &text)?;
    }
    let best = &out.sizes[out.best].result;
    let mut summary = String::new();
    let _ = write!(
        summary,
        "Multi-Strategy Portfolio Optimization Results\n===========================================\n\n\
         Run ID: {id}\nDate: {}\n\nOptimization Parameters:\n- Metric: {}\n- Min Portfolio Size: {}\n\
         - Max Portfolio Size: {}\n- Population Size: {}\n- Mutation Rate: {}\n- GA Generations: {}\n\
         - Apply ULTA Logic: {}\n- Balanced Mode: {}\n- Penalty Factor: {}\n\nBest Overall Portfolio:\n\
         - Size: {}\n- Method: {}\n- Fitness: {}\n\nSelected Strategies:\n{}",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S"),
        spec.metric,
        spec.min_size,
        spec.max_size,
        spec.params.population,
        py_float(spec.params.mutation_rate),
        spec.params.generations,
        py_bool(spec.ulta),
        py_bool(spec.balanced.is_some()),
        py_float(spec.balanced.as_ref().map_or(1.0, |b| b.factor)),
        best.size,
        best.best.algorithm,
        py_float(best.best.eval.fitness),
        strategies_text(&names(&best.best.portfolio)),
    );
    write(dir, &format!("optimization_summary_{id}.txt"), &summary)?;

    let mut csv = String::from("strategy,ROI,Max Drawdown,Win Percentage,Profit Factor,Expectancy\n");
    for (name, m) in out.table.names.iter().zip(&out.strategy_metrics) {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{}",
            csv_field(name),
            py_float(m.roi),
            py_float(m.max_drawdown),
            py_float(m.win_percentage),
            py_float(m.profit_factor),
            py_float(m.expectancy)
        );
    }
    write(dir, "strategy_metrics.csv", &csv)?;
    if !out.inversions.is_empty() {
        write(dir, "inversion_report.md", &inversion_report(&out.inversions))?;
    }
    let log: String = out.warnings.iter().map(|w| format!("WARNING - {w}\n")).collect();
    write(dir, "error_log.txt", &log)?;
    if opts.plots {
        out.sizes.par_iter().try_for_each(|s| {
            let n = s.result.size;
            plot::equity_curve(
                &dir.join(format!("equity_curve_size{n}_{id}.png")),
                &format!("Equity Curve - Best Portfolio Size {n} ({})", s.result.best.algorithm),
                &s.returns,
            )?;
            plot::drawdown(
                &dir.join(format!("drawdown_size{n}_{id}.png")),
                &format!("Drawdown - Best Portfolio Size {n} ({})", s.result.best.algorithm),
                &s.returns,
            )
        })?;
    }
    let json = serde_json::to_string_pretty(&results_json(out, spec, id, final_dir)).expect("plain data serializes");
    write(dir, "results.json", &json)
}

/// Writes the run folder `<parent>/run_<id>` (a `_2`, `_3`... suffix if it exists) whole or
/// not at all; returns its path.
pub fn write_run(parent: &Path, out: &mut RunOutcome, spec: &RunSpec, opts: &OutputOptions) -> Result<PathBuf> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
    let mut final_dir = parent.join(format!("run_{}", opts.run_id));
    let mut k = 2;
    while final_dir.exists() {
        final_dir = parent.join(format!("run_{}_{k}", opts.run_id));
        k += 1;
    }
    let tmp = parent.join(format!(".run_{}.partial-{}", opts.run_id, std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| Error::write(&tmp, e))?;
    // Timings in results.json include the outputs up to the JSON itself.
    out.timings.outputs = started.elapsed().as_secs_f64();
    let result = write_files(&tmp, out, spec, opts, &final_dir)
        .and_then(|_| std::fs::rename(&tmp, &final_dir).map_err(|e| Error::write(&final_dir, e)));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    out.timings.outputs = started.elapsed().as_secs_f64();
    out.timings.total += out.timings.outputs;
    result.map(|_| final_dir)
}
