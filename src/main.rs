//! The `heavytune` command line: flags parsed, the library called, results printed. Each
//! command's flags and printing live in `cli/`; everything they compute is in the library.

mod cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use heavytune::ErrorClass;
use heavytune::engine::{self, Blocking, ConnectOptions, Engine, Secret, Tls};

const EXIT_CODES: &str = "\
Exit codes: 0 success; 2 usage (a flag or option value that cannot work); 3 bad input (a file, \
config, portfolio file, SQL text or data set that is wrong); 4 engine (the SQL engine failed or \
refused); 5 internal (a bug in heavytune: please report it).";

/// Pick portfolios out of tens of thousands of trading strategies, SQL-first.
///
/// Data lives in a SQL engine as a long/narrow table: `load` puts wide P&L files there, `sql`
/// queries it, `run` finds the best portfolios, `score` scores given ones, `explain` and `bench
/// ab` show and measure the query rewrites, `synth` makes production-shape test data.
#[derive(Parser, Debug)]
#[command(name = "heavytune", version, propagate_version = true, max_term_width = 100, after_help = EXIT_CODES)]
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
    /// SQL engine: `embedded` (DataFusion in this process, the default);
    /// `flightsql://[USER@]HOST:PORT` (also grpc://, grpc+tls://) for an Arrow Flight SQL server
    /// such as `heavytune serve`; `odbc://<ODBC connection string>` for HeavyDB or PostgreSQL
    /// through their ODBC drivers (the string goes to the driver manager unchanged, e.g.
    /// `odbc://DSN=prod` or `odbc://Driver={PostgreSQL Unicode};Server=HOST;Port=5432;Database=DB;UID=USER`;
    /// the password comes from --password-env unless the string has PWD=; drivers are found in
    /// /etc/odbcinst.ini or $ODBCSYSINI/odbcinst.ini); `heavydb://USER@HOST[:PORT]/DATABASE` builds a string for HeavyDB's driver
    /// (`Driver=HeavyaiDriver`, port 6274): HeavyDB's documentation names that driver but not
    /// the connection-string keys, so the keys used (HOST, PORT, DATABASE, UID, PWD,
    /// PROTOCOL=binary) are unconfirmed: where the driver wants others, pass the whole string
    /// with odbc://. ballista:// is planned and answers "not supported yet".
    #[arg(long, global = true, value_name = "URL", default_value = "embedded", env = "HEAVYTUNE_ENGINE")]
    pub(crate) engine: String,
    /// User name: the login to a remote engine that asks for one; for `serve`, the user every
    /// client must log in as (its password in --password-env).
    #[arg(long, global = true, value_name = "NAME", env = "HEAVYTUNE_USER")]
    pub(crate) user: Option<String>,
    /// Environment variable holding the engine password (never give a password on the command
    /// line: it stays in shell history and process lists).
    #[arg(long, global = true, value_name = "VAR", default_value = "HEAVYTUNE_PASSWORD")]
    pub(crate) password_env: String,
    /// Use TLS to reach a remote engine.
    #[arg(long, global = true)]
    pub(crate) tls: bool,
    /// Certificate authority (PEM) to trust for --tls instead of the system's.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// Certificate chain (PEM), with --tls-key: for `serve` the server's own (TLS on); for a
    /// remote engine a client certificate, for servers that ask for one.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Connect and per-call time limit for remote engines, in seconds.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30.0)]
    pub(crate) timeout: f64,
    /// Worker threads of the engine and the search [default: all cores].
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub(crate) threads: Option<u64>,
    /// No progress display and no summaries on stderr; errors are still printed.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
}

impl Global {
    pub(crate) fn threads(&self) -> Option<usize> {
        self.threads.map(|n| n as usize)
    }

    /// A runtime for the engine, sized to --threads.
    pub(crate) fn runtime(&self) -> anyhow::Result<Blocking> {
        Ok(Blocking::new(self.threads())?)
    }

    /// Connects to --engine; `stored` says whether the command uses the stored tables (else
    /// the embedded engine opens no database folder).
    pub(crate) fn connect(&self, rt: &Blocking, stored: bool) -> anyhow::Result<Box<dyn Engine>> {
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            return Err(cli::usage(format!("--timeout must be a positive number of seconds, got {}", self.timeout)));
        }
        let remote_only = self.user.is_some() || self.tls || self.tls_ca.is_some() || self.tls_cert.is_some();
        if remote_only && matches!(self.engine.as_str(), "embedded" | "datafusion") && !self.quiet {
            eprintln!("warning: --user and --tls options are for remote engines; the embedded engine ignores them");
        }
        let options = ConnectOptions {
            db: stored.then(|| self.db.clone()),
            threads: self.threads(),
            user: self.user.clone(),
            password: Secret::from_env(&self.password_env)?,
            tls: Tls {
                enabled: self.tls,
                ca: self.tls_ca.clone(),
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
            },
            timeout: Some(Duration::from_secs_f64(self.timeout)),
        };
        Ok(rt.run(engine::connect(&self.engine, &options))?)
    }

    /// A spinner on a terminal's stderr; hidden when piped or quiet.
    pub(crate) fn spinner(&self, message: &'static str) -> ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new_spinner().with_message(message);
        pb.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
        pb.enable_steady_tick(Duration::from_millis(100));
        pb
    }

    /// A counting progress bar on a terminal's stderr; hidden when piped or quiet.
    pub(crate) fn progress(&self, total: u64, template: &'static str) -> ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(total);
        pb.set_style(ProgressStyle::with_template(template).expect("valid template"));
        pb
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load wide P&L files (CSV or xlsx) into the `pnl` and `strategies` tables.
    #[command(after_help = EXIT_CODES)]
    Load(cli::load::LoadArgs),
    /// Write a production-shape synthetic wide CSV (and compare it with real metrics).
    #[command(after_help = EXIT_CODES)]
    Synth(cli::synth::SynthArgs),
    /// Run a SQL statement on the engine (in its own dialect) and print the result.
    #[command(after_help = EXIT_CODES)]
    Sql(cli::sql::SqlArgs),
    /// Find the best portfolio of each size (the legacy optimizer's job) and write the run folder.
    #[command(after_help = EXIT_CODES)]
    Run(Box<cli::run::RunArgs>),
    /// Score given portfolios: base fitness, average correlation, fitness and report metrics.
    #[command(after_help = EXIT_CODES)]
    Score(cli::run::ScoreArgs),
    /// Show a query (a template of sql/, a file or text), the rewrite rules that fire and why,
    /// the rewritten SQL in a dialect, and the engine's plans of both.
    #[command(after_help = EXIT_CODES)]
    Explain(Box<cli::explain::ExplainArgs>),
    /// Serve the database over Arrow Flight SQL (for ADBC, JDBC, DBeaver or another heavytune);
    /// --tls-cert and --tls-key (the server's certificate chain and key, PEM) turn TLS on.
    #[command(after_help = EXIT_CODES)]
    Serve(cli::serve::ServeArgs),
    /// Benchmarks: `bench ab` runs a query and its rewrite alternately and compares them.
    #[command(after_help = EXIT_CODES)]
    Bench {
        #[command(subcommand)]
        command: Box<cli::explain::BenchCommand>,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Load(args) => cli::load::cmd(g, args),
        Command::Synth(args) => cli::synth::cmd(g, args),
        Command::Sql(args) => cli::sql::cmd(g, args),
        Command::Run(args) => cli::run::cmd_run(g, *args),
        Command::Score(args) => cli::run::cmd_score(g, args),
        Command::Explain(args) => cli::explain::cmd_explain(g, *args),
        Command::Serve(args) => cli::serve::cmd(g, args),
        Command::Bench { command } => cli::explain::cmd_bench(g, *command),
    }
}

fn main() -> ExitCode {
    // Output piped into `head` and closed: end quietly, as a Unix tool does, instead of
    // failing a write (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {}", heavytune::error::chain_text(e.as_ref()));
            ExitCode::from(cli::class_of(&e).exit_code())
        }
        // The panic message is already printed by the default hook.
        Err(_) => ExitCode::from(ErrorClass::Internal.exit_code()),
    }
}
