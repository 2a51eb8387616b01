//! corr_by_moments: CORR over a self-join from pre-centred, unit-norm values.

use super::super::{Context, Plan, Rule, Transformed};
use super::{each_pending, standardizable};
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

    fn rewrite(&self, plan: &mut Plan, ctx: &Context) -> Result<Transformed> {
        Ok(each_pending(plan, |req, _| {
            if req.moments {
                return Err("already on pre-centred values".into());
            }
            standardizable(req, ctx)?;
            req.moments = true;
            Ok(format!("{} is a complete panel and the filters keep whole strategies", req.table))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn fires_on_a_complete_panel_and_keeps_results() {
        let (mut plan, ctx) = pair_corr_plan(&["S1", "S2"]);
        let t = CorrByMoments.rewrite(&mut plan, &ctx).unwrap();
        assert!(t.changed(), "{:?}", t.declined);
        let sql = plan.statement.to_string();
        assert!(sql.contains("ht_z") && !sql.to_uppercase().contains("CORR("), "{sql}");
        assert_rule_keeps_results("corr_by_moments", "pair_corr");
        assert_rule_keeps_results("corr_by_moments", "pair_corr_all");
    }

    #[test]
    fn declines_without_panel_facts_or_with_value_filters() {
        let (mut plan, _) = pair_corr_plan(&["S1"]);
        let t = CorrByMoments.rewrite(&mut plan, &Context::default()).unwrap();
        assert!(t.declined[0].contains("complete panel"), "{:?}", t.declined);
        let (_, ctx) = pair_corr_plan(&["S1"]);
        let mut plan = sql_plan(
            "SELECT a.strategy_id AS x, b.strategy_id AS y, CORR(a.pnl, b.pnl) AS c FROM pnl a JOIN pnl b \
             ON a.trade_date = b.trade_date WHERE a.pnl > 0 AND b.pnl > 0 GROUP BY a.strategy_id, b.strategy_id",
        );
        let t = CorrByMoments.rewrite(&mut plan, &ctx).unwrap();
        assert!(t.declined[0].contains("reads a.pnl"), "{:?}", t.declined);
    }
}
