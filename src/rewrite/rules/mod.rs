//! The rewrite rules, one per file, registered in [`super::rules`].

mod kernel;
mod moments;
mod pushdown;
mod series;
mod series_view;
mod symmetric;
mod update_ctas;
mod wide_long;

pub use kernel::CorrelationToKernel;
pub use moments::CorrByMoments;
pub use pushdown::CandidatePushdown;
pub use series::{SeriesToAggregate, default_frame_tables};
pub use series_view::SeriesView;
pub use symmetric::SymmetricSelfJoin;
pub use update_ctas::UpdateToCtas;
pub use wide_long::WideToLong;

use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::walk::{self, Site};
use super::{CorrRequest, Plan, Transformed};

/// The plain arguments of a call (no DISTINCT, FILTER, WITHIN GROUP, NULL treatment or other
/// clause; an OVER is the caller's to check), `None` for `*`; `None` for anything else.
fn plain_args(e: &Expr) -> Option<Vec<Option<&Expr>>> {
    let Expr::Function(f) = e else { return None };
    if f.filter.is_some() || f.null_treatment.is_some() || !f.within_group.is_empty() {
        return None;
    }
    match &f.args {
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::List(list) if list.duplicate_treatment.is_none() && list.clauses.is_empty() => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(Some(e)),
                FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Some(None),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Offers every correlation request of the plan that the kernel does not answer to `decide`.
fn each_pending(
    plan: &mut Plan,
    mut decide: impl FnMut(&mut CorrRequest, &Site) -> Result<String, String>,
) -> Transformed {
    if plan.kernel.is_some() {
        return Transformed::no("the whole statement is answered by the kernel plan");
    }
    walk::each_request(&mut plan.statement, &mut plan.requests, |req, site| {
        if req.kernel.is_some() {
            return Err("the request is already answered by the kernel".into());
        }
        decide(req, site)
    })
}

/// A rewrite that fails after its rule's preconditions passed: a bug in the rule.
fn broken_precondition(e: impl std::fmt::Display) -> crate::error::Error {
    crate::error::Error::internal(format!("rewrite after a passed precondition: {e}"))
}

/// Preconditions shared by the rules that replace CORR by standardized values.
fn standardizable(req: &CorrRequest, ctx: &super::Context) -> Result<(), String> {
    let panel = ctx.panel(&req.table).ok_or_else(|| {
        format!(
            "{} is not known to be a complete panel (every id one non-NULL value on every key), \
             so per-strategy means are not the pairs' means",
            req.table
        )
    })?;
    if panel.id != req.id.value || panel.key != req.key.value || panel.value != req.value.value {
        return Err(format!(
            "the panel of {} is ({}, {}, {}), not the request's ({}, {}, {})",
            req.table, panel.id, panel.key, panel.value, req.id, req.key, req.value
        ));
    }
    if !req.symmetric_filters() {
        return Err("the two sides have different filters".into());
    }
    if let Some(col) = req.filter_beyond_id_and_key() {
        return Err(format!("a filter reads {col}, not only the id or the key, so it could drop single days"));
    }
    Ok(())
}
