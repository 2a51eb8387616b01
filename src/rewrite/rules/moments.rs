//! corr_by_moments: CORR over a self-join from pre-centred, unit-norm values.

use super::super::{Context, Plan, Rule};
use super::{pending_corr, standardizable, with_corr};
use crate::error::Result;

/// Per-strategy means and norms are computed once (window functions over the long table);
/// each pair then needs one sum of products instead of CORR's six running moments. Centring
/// first is the numerically stable two-pass form; constant strategies give NULL, as CORR does.
#[derive(Debug)]
pub struct CorrByMoments;

impl Rule for CorrByMoments {
    fn name(&self) -> &'static str {
        "corr_by_moments"
    }

    fn description(&self) -> &'static str {
        "replace CORR over a self-join by one pass over pre-centred, unit-norm values"
    }

    fn check(&self, plan: &Plan, ctx: &Context) -> Result<String, String> {
        let req = pending_corr(plan)?;
        if req.moments {
            return Err("already on pre-centred values".into());
        }
        standardizable(req, ctx)?;
        Ok(format!("{} is a complete panel and the filters keep whole strategies", req.table))
    }

    fn rewrite(&self, plan: Plan, _ctx: &Context) -> crate::error::Result<Plan> {
        with_corr(plan, |r| r.moments = true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn fires_on_a_complete_panel_and_keeps_results() {
        let (plan, ctx) = pair_corr_plan(&["S1", "S2"]);
        assert!(CorrByMoments.check(&plan, &ctx).is_ok(), "{:?}", CorrByMoments.check(&plan, &ctx));
        let sql = CorrByMoments.rewrite(plan, &ctx).unwrap().statement.to_string();
        assert!(sql.contains("ht_z") && !sql.to_uppercase().contains("CORR("), "{sql}");
        assert_rule_keeps_results("corr_by_moments", "pair_corr");
        assert_rule_keeps_results("corr_by_moments", "pair_corr_all");
    }

    #[test]
    fn declines_without_panel_facts_or_with_value_filters() {
        let (plan, _) = pair_corr_plan(&["S1"]);
        assert!(CorrByMoments.check(&plan, &Context::default()).unwrap_err().contains("complete panel"));
        let (_, ctx) = pair_corr_plan(&["S1"]);
        let plan = sql_plan(
            "SELECT a.strategy_id AS x, b.strategy_id AS y, CORR(a.pnl, b.pnl) AS c FROM pnl a JOIN pnl b \
             ON a.trade_date = b.trade_date WHERE a.pnl > 0 AND b.pnl > 0 GROUP BY a.strategy_id, b.strategy_id",
        );
        assert!(CorrByMoments.check(&plan, &ctx).unwrap_err().contains("reads pnl"));
    }
}
