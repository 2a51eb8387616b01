//! The query rewriter: `sqlparser` AST in, AST out, through named rules.
//!
//! Each rule is one small unit in the shape of DataFusion's optimizer rules: a `name()`, a
//! one-line `description()` and a `rewrite()` that changes every occurrence of its pattern
//! where it stands and returns what it changed ([`Transformed`]). [`rules`] registers them in
//! the order they run; [`optimize`] runs the list to a fixpoint (at most [`MAX_PASSES`] times),
//! and after every rule that changed something checks that the statement still parses and
//! names the same output columns, naming the rule when it does not.

mod ast;
mod corr;
mod facts;
mod rules;
mod walk;

use sqlparser::ast::{Ident, SelectItem, SetExpr, Statement};

pub use corr::{CorrOutput, CorrRequest};
pub use facts::{Column, Context, Panel};
pub use rules::{
    CandidatePushdown, CorrByMoments, CorrelationToKernel, SeriesToAggregate, SeriesView, SymmetricSelfJoin,
    UpdateToCtas, WideToLong,
};

use crate::error::{Error, Result};

/// A step the engine cannot run and our kernels do, after the plan's SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelStep {
    /// The SQL returns (id, key, z) ordered by id then key, z NULL for a constant strategy;
    /// the kernel answers every ordered pair's correlation as z_i . z_j.
    PairwiseCorr { outputs: Vec<(CorrOutput, String)> },
}

impl KernelStep {
    pub fn describe(&self) -> String {
        match self {
            KernelStep::PairwiseCorr { .. } => {
                "kernel pairwise_corr: Z Z^T over the standardized values (blocked matrix product), \
                 one row per ordered pair"
                    .into()
            }
        }
    }
}

/// A session table the kernel fills before the plan's statement runs: `input` returns
/// (id, key, z) ordered by id then key; the table holds (ht_id_a, ht_id_b, ht_corr) of every
/// ordered pair.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelTable {
    pub name: Ident,
    pub input: Statement,
}

/// What runs: kernel tables first, then a SQL statement and the statements after it,
/// optionally followed by a local kernel step on the statement's rows (see
/// [`crate::exec::execute_plan`]).
#[derive(Debug, Clone)]
pub struct Plan {
    pub statement: Statement,
    pub kernel: Option<KernelStep>,
    pub kernel_tables: Vec<KernelTable>,
    /// Statements run after this one (e.g. swapping a CTAS result into place).
    pub then: Vec<Statement>,
    /// The correlation requests the rules rewrote, by the number in their marker (`ht_p<N>`).
    pub requests: Vec<CorrRequest>,
}

impl Plan {
    pub fn new(statement: Statement) -> Self {
        Plan { statement, kernel: None, kernel_tables: Vec::new(), then: Vec::new(), requests: Vec::new() }
    }

    pub fn describe_kernels(&self) -> Option<String> {
        let mut parts: Vec<String> = self.kernel.iter().map(|k| k.describe()).collect();
        parts.extend(self.kernel_tables.iter().map(|t| {
            format!(
                "kernel pairwise_corr into session table {}: Z Z^T over the standardized values of {}",
                t.name, t.input
            )
        }));
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// One occurrence a rule rewrote: where, why, and the fragment before and after.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fired {
    pub at: String,
    pub why: String,
    pub before: String,
    pub after: String,
}

/// What one rule's turn changed: the occurrences it rewrote and those it left, with why.
#[derive(Debug, Clone, Default)]
pub struct Transformed {
    pub fired: Vec<Fired>,
    pub declined: Vec<String>,
}

impl Transformed {
    pub fn yes(at: impl Into<String>, why: impl Into<String>, before: String, after: String) -> Self {
        Transformed { fired: vec![Fired { at: at.into(), why: why.into(), before, after }], declined: Vec::new() }
    }

    pub fn no(why: impl Into<String>) -> Self {
        Transformed { fired: Vec::new(), declined: vec![why.into()] }
    }

    pub fn changed(&self) -> bool {
        !self.fired.is_empty()
    }
}

/// A rewrite rule.
pub trait Rule: Send + Sync {
    /// The rule's name, as `explain` and `--rules` spell it.
    fn name(&self) -> &'static str;
    /// What the rule does, in one line.
    fn description(&self) -> &'static str;
    /// Rewrites every occurrence of the pattern in the plan where it stands; says what it
    /// changed and, for each occurrence it left, the node and the condition that failed.
    fn rewrite(&self, plan: &mut Plan, ctx: &Context) -> Result<Transformed>;
}

/// Every rule, in the order [`optimize`] runs them.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(WideToLong),
        Box::new(UpdateToCtas),
        Box::new(CorrelationToKernel),
        Box::new(CandidatePushdown),
        Box::new(CorrByMoments),
        Box::new(SymmetricSelfJoin),
        Box::new(SeriesToAggregate),
        Box::new(SeriesView),
    ]
}

/// The most passes over the rule list before the driver gives up on a fixpoint.
pub const MAX_PASSES: usize = 8;

/// One rule's part in a rewrite: fired or not, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub rule: &'static str,
    pub description: &'static str,
    pub fired: bool,
    /// Why it fired, or the conditions that failed (one per occurrence).
    pub reason: String,
    /// Each occurrence rewritten: where, and the fragment before and after.
    pub fragments: Vec<Fired>,
}

/// The result of running the rules over a statement.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub original: Statement,
    pub plan: Plan,
    pub steps: Vec<Step>,
    /// What the rules knew of the tables, one line per table.
    pub facts: Vec<String>,
    /// Passes over the rule list until nothing changed.
    pub passes: usize,
}

impl Outcome {
    pub fn fired(&self) -> Vec<&'static str> {
        self.steps.iter().filter(|s| s.fired).map(|s| s.rule).collect()
    }
}

/// Checks rule names given by a user (`--rules`), listing the known ones on a mistake.
pub fn check_rule_names(names: &[String]) -> Result<()> {
    let known: Vec<&str> = rules().iter().map(|r| r.name()).collect();
    for n in names {
        if !known.contains(&n.as_str()) {
            return Err(Error::invalid("--rules", format!("no rule named {n:?}; known rules: {}", known.join(", "))));
        }
    }
    Ok(())
}

/// Runs the rules (or only those named in `only`) in registry order, again and again until
/// none changes anything; checks the plan after every change.
pub fn optimize(statement: Statement, ctx: &Context, only: Option<&[String]>) -> Result<Outcome> {
    if let Some(names) = only {
        check_rule_names(names)?;
    }
    optimize_with(&rules(), statement, ctx, only)
}

/// [`optimize`] over a given rule list.
fn optimize_with(
    list: &[Box<dyn Rule>],
    statement: Statement,
    ctx: &Context,
    only: Option<&[String]>,
) -> Result<Outcome> {
    let original = statement.clone();
    let outputs = output_columns(&original, &[]);
    let mut plan = Plan::new(statement);
    let mut steps: Vec<Step> = list
        .iter()
        .map(|r| Step {
            rule: r.name(),
            description: r.description(),
            fired: false,
            reason: String::new(),
            fragments: Vec::new(),
        })
        .collect();
    for pass in 1..=MAX_PASSES {
        let mut changed = false;
        for (rule, step) in list.iter().zip(steps.iter_mut()) {
            if !only.is_none_or(|names| names.iter().any(|n| n == rule.name())) {
                step.reason = "not selected (--rules)".into();
                continue;
            }
            let t = rule.rewrite(&mut plan, ctx).map_err(|e| e.context(rule.name()))?;
            if !t.changed() {
                // The first pass's refusal says most: later ones see the other rules' output.
                if !step.fired && pass == 1 {
                    step.reason = t.declined.join("; ");
                }
                continue;
            }
            check_plan(&plan, &outputs)
                .map_err(|why| Error::internal(format!("rule {} broke the statement: {why}", rule.name())))?;
            changed = true;
            step.fired = true;
            step.reason = t.fired.iter().map(|f| f.why.as_str()).collect::<Vec<_>>().join("; ");
            step.fragments.extend(t.fired);
        }
        if !changed {
            return Ok(Outcome { original, plan, steps, facts: ctx.describe(), passes: pass });
        }
    }
    Err(Error::internal(format!("the rules still changed the statement after {MAX_PASSES} passes")))
}

/// The names of the columns a statement answers with (a table's name for one that writes a
/// table, after the statements that follow it).
pub fn output_columns(stmt: &Statement, then: &[Statement]) -> Vec<String> {
    if let Some(t) = then.iter().rev().chain(std::iter::once(stmt)).find_map(crate::exec::table_written) {
        return vec![format!("table {}", crate::templates::bare_name(&t))];
    }
    fn of_set(body: &SetExpr) -> Vec<String> {
        match body {
            SetExpr::Select(s) => s
                .projection
                .iter()
                .map(|item| match item {
                    SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                    SelectItem::UnnamedExpr(e) => corr::output_name(e).value,
                    other => other.to_string(),
                })
                .collect(),
            SetExpr::Query(q) => of_set(&q.body),
            SetExpr::SetOperation { left, .. } => of_set(left),
            other => vec![other.to_string()],
        }
    }
    match stmt {
        Statement::Query(q) => of_set(&q.body),
        Statement::Insert(ins) => std::iter::once(format!("into {}", ins.table))
            .chain(ins.source.iter().flat_map(|q| of_set(&q.body)))
            .collect(),
        other => vec![other.to_string()],
    }
}

/// The plan still parses and answers with the original's columns.
fn check_plan(plan: &Plan, outputs: &[String]) -> std::result::Result<(), String> {
    for stmt in std::iter::once(&plan.statement).chain(&plan.then).chain(plan.kernel_tables.iter().map(|t| &t.input)) {
        crate::templates::parse(&stmt.to_string()).map_err(|e| format!("{stmt} does not parse back: {e}"))?;
    }
    let now = match &plan.kernel {
        Some(KernelStep::PairwiseCorr { outputs }) => outputs.iter().map(|(_, n)| n.clone()).collect(),
        None => output_columns(&plan.statement, &plan.then),
    };
    // Names the original gives twice (a.id, b.id unnamed) are told apart in the rewrite.
    let unique = |n: &String| outputs.iter().filter(|o| *o == n).count() == 1;
    if now.len() != outputs.len() || now.iter().zip(outputs).any(|(a, b)| unique(b) && a != b) {
        return Err(format!("its output columns are {now:?} where the query's were {outputs:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule that renames the first output: the driver must refuse it and name it.
    struct Renames;
    impl Rule for Renames {
        fn name(&self) -> &'static str {
            "renames_an_output"
        }
        fn description(&self) -> &'static str {
            "a broken rule"
        }
        fn rewrite(&self, plan: &mut Plan, _ctx: &Context) -> Result<Transformed> {
            let Statement::Query(q) = &mut plan.statement else { return Ok(Transformed::no("not a query")) };
            let SetExpr::Select(s) = q.body.as_mut() else { return Ok(Transformed::no("not a select")) };
            s.projection[0] = ast::item(ast::int(1), &ast::ident("renamed"));
            Ok(Transformed::yes("the top", "always", String::new(), String::new()))
        }
    }

    /// A rule that always changes something: the driver must stop at its bound.
    struct NeverDone;
    impl Rule for NeverDone {
        fn name(&self) -> &'static str {
            "never_done"
        }
        fn description(&self) -> &'static str {
            "a rule with no fixpoint"
        }
        fn rewrite(&self, _plan: &mut Plan, _ctx: &Context) -> Result<Transformed> {
            Ok(Transformed::yes("the top", "always", String::new(), String::new()))
        }
    }

    #[test]
    fn the_driver_names_a_rule_that_breaks_the_statement_and_bounds_the_passes() {
        let stmt = crate::templates::parse("SELECT 1 AS x").unwrap();
        let e = optimize_with(&[Box::new(Renames)], stmt.clone(), &Context::default(), None).unwrap_err();
        assert!(e.to_string().contains("rule renames_an_output broke the statement"), "{e}");
        let e = optimize_with(&[Box::new(NeverDone)], stmt.clone(), &Context::default(), None).unwrap_err();
        assert!(e.to_string().contains("after 8 passes"), "{e}");
        let ok = optimize(stmt, &Context::default(), None).unwrap();
        assert_eq!((ok.passes, ok.fired().len()), (1, 0));
    }

    #[test]
    fn requests_in_an_insert_are_rewritten_where_they_stand() {
        let stmt = crate::templates::parse(
            "INSERT INTO pairs SELECT a.strategy_id, b.strategy_id, CORR(a.pnl, b.pnl) FROM pnl a JOIN pnl b \
             ON a.trade_date = b.trade_date WHERE a.strategy_id IN (1, 2) AND b.strategy_id IN (1, 2) \
             GROUP BY a.strategy_id, b.strategy_id",
        )
        .unwrap();
        let out = optimize(stmt, &Context::default(), None).unwrap();
        assert_eq!(out.fired(), ["candidate_pushdown", "symmetric_self_join"]);
        let sql = out.plan.statement.to_string();
        assert!(sql.starts_with("INSERT INTO pairs SELECT ht_p0.ht_id_a") && sql.contains("ht_mirror"), "{sql}");
    }
}

#[cfg(test)]
mod corpus;
#[cfg(test)]
pub(crate) mod testing;
