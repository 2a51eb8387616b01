//! `heavytune load`.

use std::path::PathBuf;

use clap::Args;

use heavytune::ingest;
use heavytune::load::LoadOptions;
use heavytune::tables::DEFAULT_TABLE;

use crate::Global;

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Input files: a header `Date[,Zone][,Day],<strategy>...` then one row per trading day.
    /// Several files are merged on (Date, Zone, Day) and their columns named `<file stem>_<column>`.
    #[arg(long, short, required = true, num_args = 1.., value_name = "PATH")]
    input: Vec<PathBuf>,
    /// Name of the long P&L table; its strategies table is `strategies` for the default `pnl`,
    /// else `<NAME>_strategies`.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_TABLE)]
    table: String,
    /// Reject empty, non-numeric or non-finite (inf, NaN) cells, naming file, line and column,
    /// instead of reading them as 0.
    #[arg(long)]
    strict: bool,
    /// Print the load summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn cmd(global: &Global, args: LoadArgs) -> anyhow::Result<()> {
    let rt = global.runtime()?;
    let engine = global.connect(&rt, true)?;
    let pb = global.spinner("loading");
    let summary =
        rt.run(ingest::load_into(engine.as_ref(), &args.input, &args.table, LoadOptions { strict: args.strict }));
    pb.finish_and_clear();
    let s = summary?;
    crate::cli::warn_all(global, &s.warnings);
    if s.missing_cells > 0 {
        crate::cli::warn_all(
            global,
            &[format!(
                "{} empty or non-numeric cells became 0 (inf and NaN count as non-numeric; use --strict to reject them)",
                s.missing_cells
            )],
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else if !global.quiet {
        println!(
            "loaded {} strategies x {} days = {} rows into {} and {} ({})",
            s.strategies, s.days, s.pnl_rows, s.pnl_table, s.strategies_table, s.engine
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
