//! `heavytune explain`: a query, the rules that fired and why, the rewritten SQL in a
//! dialect, the engine's plans of both, and with `analyze` both run and timed. Statements that
//! write run on session copies of their tables (see [`Sandbox`]), never on stored data.

use crate::dialect::{self, Dialect};
use crate::engine::{Capabilities, Engine};
use crate::error::Result;
use crate::exec::{execute_plan, execute_statement, timed};
use crate::query::Prepared;
use crate::rewrite::{Outcome, Step};
use crate::sandbox::Sandbox;

/// Everything `explain` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explained {
    pub query: String,
    pub dialect: Dialect,
    pub engine: String,
    /// What the connected engine can do.
    pub capabilities: Capabilities,
    /// What the rewriter knew of the tables (columns, row counts, complete panels).
    pub facts: Vec<String>,
    pub original_sql: String,
    pub rewritten_sql: String,
    pub rules_fired: Vec<&'static str>,
    /// Every rule: fired or not, why, and per occurrence rewritten the fragment before and after.
    pub rules: Vec<Step>,
    /// Passes over the rule list until nothing changed.
    pub passes: usize,
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
/// runs both (statements that write on session copies of their tables) and, where the engine
/// has EXPLAIN ANALYZE, asks for its measured plans.
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
    let (plan_original, plan_rewritten, seconds) = if analyze {
        let measured_plans = engine.capabilities().explain_analyze;
        let sandbox = Sandbox::new(engine, &outcome.original, &outcome.plan).await?;
        let result = async {
            sandbox.reset(engine).await?;
            let plan_original = engine_plan(engine, &outcome.original, measured_plans).await;
            sandbox.reset(engine).await?;
            let plan_rewritten = engine_plan(engine, &outcome.plan.statement, measured_plans).await;
            sandbox.reset(engine).await?;
            let (_, original) = timed(execute_statement(engine, &outcome.original)).await?;
            sandbox.reset(engine).await?;
            let (_, rewritten) = timed(execute_plan(engine, &outcome.plan)).await?;
            Ok((plan_original, plan_rewritten, Some(Times { original, rewritten })))
        }
        .await;
        sandbox.finish(engine, result).await?
    } else {
        // Nothing runs: plain plans need no copies.
        (
            engine_plan(engine, &outcome.original, false).await,
            engine_plan(engine, &outcome.plan.statement, false).await,
            None,
        )
    };
    Ok(Explained {
        query: prepared.name.clone(),
        dialect,
        engine: engine.describe(),
        capabilities: engine.capabilities(),
        facts: outcome.facts.clone(),
        original_sql,
        rewritten_sql,
        rules_fired: outcome.fired(),
        rules: outcome.steps.clone(),
        passes: outcome.passes,
        kernel: outcome.plan.describe_kernels(),
        then,
        plan_original,
        plan_rewritten,
        seconds,
    })
}
