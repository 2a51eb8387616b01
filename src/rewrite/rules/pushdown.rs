//! candidate_pushdown: move the filters on each side of the self-join below it.

use super::super::{Context, Plan, Rule};
use super::{pending_corr, with_corr};
use crate::error::Result;

/// Filters on one side of a self-join move into that side, so the join sees only candidates.
#[derive(Debug)]
pub struct CandidatePushdown;

impl Rule for CandidatePushdown {
    fn name(&self) -> &'static str {
        "candidate_pushdown"
    }

    fn description(&self) -> &'static str {
        "move filters on the candidate set below the self-join, on both sides"
    }

    fn check(&self, plan: &Plan, _ctx: &Context) -> Result<String, String> {
        let req = pending_corr(plan)?;
        if req.pushdown || req.moments {
            return Err("the filters are already below the join".into());
        }
        if req.filters_a.is_empty() && req.filters_b.is_empty() {
            return Err("no filter on either side".into());
        }
        Ok(format!(
            "{} filter(s) on {} and {} on {} move into derived tables below the join",
            req.filters_a.len(),
            req.alias_a,
            req.filters_b.len(),
            req.alias_b
        ))
    }

    fn rewrite(&self, plan: Plan, _ctx: &Context) -> crate::error::Result<Plan> {
        with_corr(plan, |r| r.pushdown = true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn fires_on_the_template_and_keeps_results() {
        let (plan, ctx) = pair_corr_plan(&["S1", "S 2", "it's"]);
        assert!(CandidatePushdown.check(&plan, &ctx).is_ok());
        let out = CandidatePushdown.rewrite(plan, &ctx).unwrap();
        assert!(out.statement.to_string().contains("(SELECT * FROM pnl WHERE"), "{}", out.statement);
        assert_rule_keeps_results("candidate_pushdown", "pair_corr");
    }

    #[test]
    fn declines_without_filters() {
        let (plan, ctx) = plan_of("pair_corr_all", &[]);
        assert!(CandidatePushdown.check(&plan, &ctx).unwrap_err().contains("no filter"));
    }
}
