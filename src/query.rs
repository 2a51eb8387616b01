//! The query `explain` and `bench ab` work on: a template of `sql/` by name, a file or text,
//! with its parameters bound through the AST, and its rewrite for a target engine.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use sqlparser::ast::Statement;

use crate::engine::{Engine, EngineKind, fetch_sql};
use crate::error::{Error, Result};
use crate::rewrite::{self, Context, Outcome};
use crate::tables::TableNames;
use crate::templates::{self, Params, quote_ident};

/// Which query, and the values of its parameters (the flags of `explain` and `bench ab`).
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    /// The SQL text itself.
    pub text: Option<String>,
    /// A file holding one statement.
    pub file: Option<PathBuf>,
    /// A template of `sql/` by name.
    pub template: Option<String>,
    /// The long P&L table the templates read.
    pub table: String,
    pub candidates: Vec<String>,
    pub candidates_file: Option<PathBuf>,
    /// Pick this many candidates at random (by `seed`) from the strategies table.
    pub sample: Option<usize>,
    pub seed: u64,
    pub inverted: Vec<i64>,
    pub date_from: Option<String>,
    pub date_to: Option<String>,
}

/// A bound statement and a name for records.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub name: String,
    pub statement: Statement,
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

/// Reads and binds the query (a `--sample` reads the strategies table).
pub async fn prepare(engine: &dyn Engine, req: &QueryRequest) -> Result<Prepared> {
    let tables = TableNames::for_table(&req.table);
    let mut candidates = req.candidates.clone();
    if let Some(f) = &req.candidates_file {
        candidates.extend(read_lines(f)?);
    }
    if let Some(n) = req.sample {
        if engine.schema(&tables.strategies).await?.is_none() {
            return Err(Error::invalid(
                "--sample",
                format!(
                    "there is no table {:?} to sample strategy names from (load data first: heavytune load)",
                    tables.strategies
                ),
            ));
        }
        let out =
            fetch_sql(engine, &format!("SELECT name FROM {} ORDER BY strategy_id", quote_ident(&tables.strategies)))
                .await?;
        let mut names = out.strings(0)?;
        if n > names.len() {
            return Err(Error::invalid(
                "--sample",
                format!("{n} is more than the {} strategies of {}", names.len(), tables.strategies),
            ));
        }
        names.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(req.seed));
        names.truncate(n);
        candidates.extend(names);
    }
    let params = Params {
        tables: Some(tables),
        columns: (!candidates.is_empty()).then(|| candidates.clone()),
        candidates: (!candidates.is_empty()).then_some(candidates),
        inverted: (!req.inverted.is_empty()).then(|| req.inverted.clone()),
        date_from: req.date_from.clone(),
        date_to: req.date_to.clone(),
    };
    if let Some(q) = &req.template {
        return Ok(Prepared { name: q.clone(), statement: templates::bind(templates::find(q)?, &params)? });
    }
    let (name, text) = match (&req.file, &req.text) {
        (Some(f), _) => (
            f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sql".into()),
            std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?,
        ),
        (None, Some(t)) => ("inline".to_owned(), t.clone()),
        (None, None) => return Err(Error::invalid("query", "give the SQL text, --sql FILE or --query NAME")),
    };
    let mut statement = templates::parse(&text)?;
    templates::bind_statement(&mut statement, &params)
        .map_err(|e| Error::invalid("query parameters", format!("binding parameters: {e}")))?;
    Ok(Prepared { name, statement })
}

/// Runs the rules (all, or those named in `rules`) over the prepared statement, planning for
/// `target`'s capabilities (the engine's own when `None`).
pub async fn rewrite(
    engine: &dyn Engine,
    prepared: &Prepared,
    rules: Option<&[String]>,
    target: Option<EngineKind>,
) -> Result<Outcome> {
    let mut ctx = Context::discover(engine, &prepared.statement).await?;
    if let Some(kind) = target {
        ctx.capabilities = kind.capabilities();
    }
    rewrite::optimize(prepared.statement.clone(), &ctx, rules)
}
