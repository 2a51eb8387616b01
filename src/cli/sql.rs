//! `heavytune sql`.

use std::io::Write;

use clap::Args;

use heavytune::engine::Query;
use heavytune::output::{self, Format};

use crate::Global;

#[derive(Args, Debug)]
pub struct SqlArgs {
    /// The SQL statement, in the engine's own dialect, e.g. "SELECT count(*) FROM pnl". On the
    /// embedded engine, tables a statement creates last for this command only; DROP TABLE
    /// removes a stored table for good. It may begin with a `--` comment.
    #[arg(allow_hyphen_values = true)]
    query: String,
    /// Print rows as a JSON array of objects.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print rows as CSV: a header line, then one line per row.
    #[arg(long)]
    csv: bool,
}

pub fn cmd(global: &Global, args: SqlArgs) -> anyhow::Result<()> {
    let rt = global.runtime()?;
    let engine = global.connect(&rt, true)?;
    let out = rt.run(async { engine.query(Query::Native(&args.query)).await?.collect().await })?;
    let format = if args.json {
        Format::Json
    } else if args.csv {
        Format::Csv
    } else {
        Format::Table
    };
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    output::write(&out, format, &mut lock)?;
    lock.flush()?;
    Ok(())
}
