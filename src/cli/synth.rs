//! `heavytune synth`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use rayon::prelude::*;

use heavytune::calibration;
use heavytune::output::write_atomically;
use heavytune::strategy_metrics::{StrategyMetrics, strategy_metrics};
use heavytune::synth::{self, SynthConfig};

use crate::Global;

#[derive(Args, Debug)]
pub struct SynthArgs {
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

pub fn cmd(global: &Global, args: SynthArgs) -> anyhow::Result<()> {
    if args.out.is_none() && !args.report {
        return Err(crate::cli::usage(
            "nothing to do: give --out PATH to write the data, --report to compare it with real metrics, or both",
        ));
    }
    let cfg = SynthConfig { strategies: args.strategies as usize, days: args.days as usize, seed: args.seed };
    // Read the calibration first: a bad path should fail before minutes of work.
    let real =
        if args.report {
            Some(calibration::read_metrics_csv(&args.calibration).context(
                "reading real metrics for --report (pass --calibration FILE, a legacy strategy_metrics.csv)",
            )?)
        } else {
            None
        };
    let pb = global.spinner("generating");
    let start = Instant::now();
    let table = synth::generate(&cfg);
    let mut bytes = 0;
    if let Some(out) = &args.out {
        bytes = write_atomically(out, |w| synth::write_wide_csv(&table, w))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    pb.finish_and_clear();

    let rows = real.as_ref().map(|real| {
        let generated: Vec<StrategyMetrics> =
            (0..table.n_strategies()).into_par_iter().map(|s| strategy_metrics(table.strategy(s))).collect();
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
        println!("percentiles p10 / p50 / p90: synthetic vs real ({})", args.calibration.display());
        println!("{:<16} {:>32} {:>32}", "metric", "synthetic", "real");
        let fmt = |v: &[f64; 3]| format!("{:>10.3} {:>10.3} {:>10.3}", v[0], v[1], v[2]);
        for r in &rows {
            let real = r.real.as_ref().map(fmt).unwrap_or_else(|| "-".into());
            println!("{:<16} {:>32} {:>32}", r.metric, fmt(&r.synthetic), real);
        }
    }
    Ok(())
}
