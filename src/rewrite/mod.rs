//! The query rewriter: `sqlparser` AST in, AST out, through named rules.
//!
//! Each rule is one small unit in the shape of DataFusion's optimizer rules: a `name()`, a
//! one-line `description()`, a `check()` of its precondition (why it applies, or why not) and
//! a `rewrite()`. [`rules`] registers them in the order they run; [`optimize`] runs each once.
//! A rule whose precondition fails leaves the query as it is, and the outcome says why.

mod corr;
mod facts;
mod rules;

use sqlparser::ast::Statement;

pub use corr::{CorrOutput, CorrRequest};
pub use facts::{Column, Context, Panel};
pub use rules::{CandidatePushdown, CorrByMoments, CorrelationToKernel, SymmetricSelfJoin, UpdateToCtas, WideToLong};

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

/// What runs: a SQL statement and the statements after it, optionally followed by a local
/// kernel step (see [`crate::exec::execute_plan`]).
#[derive(Debug, Clone)]
pub struct Plan {
    pub statement: Statement,
    pub kernel: Option<KernelStep>,
    /// Statements run after this one (e.g. swapping a CTAS result into place).
    pub then: Vec<Statement>,
    /// The pairwise-correlation request the statement computes, when recognised.
    pub corr: std::result::Result<CorrRequest, String>,
}

impl Plan {
    pub fn new(statement: Statement) -> Self {
        let corr = CorrRequest::recognise(&statement);
        Plan { statement, kernel: None, then: Vec::new(), corr }
    }
}

/// A rewrite rule.
pub trait Rule: Send + Sync {
    /// The rule's name, as `explain` and `--rules` spell it.
    fn name(&self) -> &'static str;
    /// What the rule does, in one line.
    fn description(&self) -> &'static str;
    /// Whether the precondition holds: `Ok(why it applies)` or `Err(what fails)`.
    fn check(&self, plan: &Plan, ctx: &Context) -> std::result::Result<String, String>;
    /// The rewritten plan; called only after `check` passed.
    fn rewrite(&self, plan: Plan, ctx: &Context) -> Result<Plan>;
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
    ]
}

/// One rule's turn: fired or not, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub rule: &'static str,
    pub description: &'static str,
    pub fired: bool,
    /// Why it fired, or the precondition that failed.
    pub reason: String,
}

/// The result of running the rules over a statement.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub original: Statement,
    pub plan: Plan,
    pub steps: Vec<Step>,
    /// What the rules knew of the tables, one line per table.
    pub facts: Vec<String>,
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

/// Runs every rule (or only those named in `only`) once, in registry order.
pub fn optimize(statement: Statement, ctx: &Context, only: Option<&[String]>) -> Result<Outcome> {
    if let Some(names) = only {
        check_rule_names(names)?;
    }
    let original = statement.clone();
    let mut plan = Plan::new(statement);
    let mut steps = Vec::new();
    for rule in rules() {
        let selected = only.is_none_or(|names| names.iter().any(|n| n == rule.name()));
        let verdict = if selected { rule.check(&plan, ctx) } else { Err("not selected (--rules)".into()) };
        let (fired, reason) = match verdict {
            Ok(why) => {
                plan = rule.rewrite(plan, ctx)?;
                (true, why)
            }
            Err(why) => (false, why),
        };
        steps.push(Step { rule: rule.name(), description: rule.description(), fired, reason });
    }
    Ok(Outcome { original, plan, steps, facts: ctx.describe() })
}

#[cfg(test)]
pub(crate) mod testing;
