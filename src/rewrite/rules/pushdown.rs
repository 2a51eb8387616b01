//! candidate_pushdown: move the filters on each side of the self-join below it.

use super::super::{Context, Plan, Rule, Transformed};
use super::each_pending;
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

    fn rewrite(&self, plan: &mut Plan, _ctx: &Context) -> Result<Transformed> {
        Ok(each_pending(plan, |req, _| {
            if req.pushdown || req.moments {
                return Err("the filters are already below the join".into());
            }
            if req.filters_a.is_empty() && req.filters_b.is_empty() {
                return Err("no filter on either side above the join".into());
            }
            req.pushdown = true;
            Ok(format!(
                "{} filter(s) on {} and {} on {} move into derived tables below the join",
                req.filters_a.len(),
                req.alias_a,
                req.filters_b.len(),
                req.alias_b
            ))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn fires_on_the_template_and_keeps_results() {
        let (mut plan, ctx) = pair_corr_plan(&["S1", "S 2", "it's"]);
        let t = CandidatePushdown.rewrite(&mut plan, &ctx).unwrap();
        assert!(t.changed(), "{:?}", t.declined);
        let sql = plan.statement.to_string();
        assert!(sql.contains("(SELECT * FROM pnl AS a WHERE"), "{sql}");
        assert_rule_keeps_results("candidate_pushdown", "pair_corr");
    }

    #[test]
    fn declines_without_filters() {
        let (mut plan, ctx) = plan_of("pair_corr_all", &[]);
        let t = CandidatePushdown.rewrite(&mut plan, &ctx).unwrap();
        assert!(!t.changed() && t.declined[0].contains("no filter"), "{:?}", t.declined);
    }
}
