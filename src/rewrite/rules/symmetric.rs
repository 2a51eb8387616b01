//! symmetric_self_join: compute one half of the pairs of a symmetric aggregate and mirror it.

use super::super::{Context, CorrOutput, Plan, Rule};
use super::{pending_corr, with_corr};
use crate::error::Result;

/// CORR(a.v, b.v) = CORR(b.v, a.v): with the same filters on both sides, pairs with
/// a.id <= b.id carry all the information; the others are their mirror images.
#[derive(Debug)]
pub struct SymmetricSelfJoin;

impl Rule for SymmetricSelfJoin {
    fn name(&self) -> &'static str {
        "symmetric_self_join"
    }

    fn description(&self) -> &'static str {
        "keep only a.id <= b.id pairs of a symmetric aggregate over a self-join, then mirror them"
    }

    fn check(&self, plan: &Plan, _ctx: &Context) -> Result<String, String> {
        let req = pending_corr(plan)?;
        if req.symmetric {
            return Err("already halved".into());
        }
        if !req.symmetric_filters() {
            return Err("the two sides have different filters, so (a, b) and (b, a) are not mirror pairs".into());
        }
        if !req.has(CorrOutput::IdA) || !req.has(CorrOutput::IdB) {
            return Err("both sides' ids must be outputs to mirror the pairs".into());
        }
        Ok("CORR is symmetric and both sides carry the same filters: about half the join rows".into())
    }

    fn rewrite(&self, plan: Plan, _ctx: &Context) -> crate::error::Result<Plan> {
        with_corr(plan, |r| r.symmetric = true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn fires_and_keeps_results() {
        let (plan, ctx) = pair_corr_plan(&["S1", "S3"]);
        assert!(SymmetricSelfJoin.check(&plan, &ctx).is_ok());
        let sql = SymmetricSelfJoin.rewrite(plan, &ctx).unwrap().statement.to_string();
        assert!(sql.contains("a.strategy_id <= b.strategy_id") && sql.contains("ht_mirror"), "{sql}");
        assert_rule_keeps_results("symmetric_self_join", "pair_corr");
        assert_rule_keeps_results("symmetric_self_join", "pair_corr_all");
    }

    #[test]
    fn declines_for_one_sided_filters_or_a_missing_id() {
        let ctx = Context::default();
        let plan = sql_plan(
            "SELECT a.strategy_id AS x, b.strategy_id AS y, CORR(a.pnl, b.pnl) AS c FROM pnl a JOIN pnl b \
             ON a.trade_date = b.trade_date WHERE a.strategy_id < 3 GROUP BY a.strategy_id, b.strategy_id",
        );
        assert!(SymmetricSelfJoin.check(&plan, &ctx).unwrap_err().contains("different filters"));
        let plan = sql_plan(
            "SELECT a.strategy_id AS x, CORR(a.pnl, b.pnl) AS c FROM pnl a JOIN pnl b \
             ON a.trade_date = b.trade_date GROUP BY a.strategy_id, b.strategy_id",
        );
        assert!(SymmetricSelfJoin.check(&plan, &ctx).unwrap_err().contains("both sides' ids"));
    }
}
