//! `heavytune explain`: a query, the rules that fired and why, the rewritten SQL in a
//! dialect, the engine's plans of both, and with `analyze` both run and timed. Statements that
//! write run on session copies of their tables (see [`Sandbox`]), never on stored data.

use crate::ab::{Sandbox, timed};
use crate::dialect::{self, Dialect};
use crate::engine::Engine;
use crate::error::Result;
use crate::exec::{execute_plan, execute_statement};
use crate::query::Prepared;
use crate::rewrite::{Outcome, Step};

/// Everything `explain` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explained {
    pub query: String,
    pub dialect: Dialect,
    pub engine: String,
    pub original_sql: String,
    pub rewritten_sql: String,
    pub rules_fired: Vec<&'static str>,
    pub rules: Vec<Step>,
    /// The kernel step after the rewritten SQL, if any.
    pub kernel: Option<String>,
    /// Statements run after the rewritten one, in the dialect.
    pub then: Vec<String>,
    pub plan_original: String,
    pub plan_rewritten: String,
    /// Measured wall seconds of both (with `analyze`).
    pub seconds: Option<Times>,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Times {
    pub original: f64,
    pub rewritten: f64,
}

/// The engine's plan of a statement (the query of a CTAS), or why there is none.
async fn engine_plan(engine: &dyn Engine, stmt: &sqlparser::ast::Statement, analyze: bool) -> String {
    let stmt = match stmt {
        sqlparser::ast::Statement::CreateTable(ct) if ct.query.is_some() => {
            sqlparser::ast::Statement::Query(ct.query.clone().expect("checked"))
        }
        other => other.clone(),
    };
    engine.explain(&stmt, analyze).await.unwrap_or_else(|e| format!("(the engine cannot explain this statement: {e})"))
}

/// Prints both statements in `dialect`, asks the engine for both plans and, with `analyze`,
/// runs both (statements that write on session copies of their tables).
pub async fn explain(
    engine: &dyn Engine,
    prepared: &Prepared,
    outcome: &Outcome,
    dialect: Dialect,
    analyze: bool,
) -> Result<Explained> {
    let original_sql = dialect::print(&outcome.original, dialect)?;
    let rewritten_sql = dialect::print(&outcome.plan.statement, dialect)?;
    let then = outcome.plan.then.iter().map(|s| dialect::print(s, dialect)).collect::<Result<Vec<_>>>()?;
    let sandbox = Sandbox::new(engine, &outcome.original, &outcome.plan).await?;
    let result = async {
        sandbox.reset(engine).await?;
        let plan_original = engine_plan(engine, &outcome.original, analyze).await;
        sandbox.reset(engine).await?;
        let plan_rewritten = engine_plan(engine, &outcome.plan.statement, analyze).await;
        let seconds = if analyze {
            sandbox.reset(engine).await?;
            let (_, original) = timed(execute_statement(engine, &outcome.original)).await?;
            sandbox.reset(engine).await?;
            let (_, rewritten) = timed(execute_plan(engine, &outcome.plan)).await?;
            Some(Times { original, rewritten })
        } else {
            None
        };
        Ok((plan_original, plan_rewritten, seconds))
    }
    .await;
    let (plan_original, plan_rewritten, seconds) = sandbox.finish(engine, result).await?;
    Ok(Explained {
        query: prepared.name.clone(),
        dialect,
        engine: engine.describe(),
        original_sql,
        rewritten_sql,
        rules_fired: outcome.fired(),
        rules: outcome.steps.clone(),
        kernel: outcome.plan.kernel.as_ref().map(|k| k.describe()),
        then,
        plan_original,
        plan_rewritten,
        seconds,
    })
}
