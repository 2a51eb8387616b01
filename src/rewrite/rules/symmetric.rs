//! symmetric_self_join: compute one half of the pairs of a symmetric aggregate and mirror it.

use sqlparser::ast::BinaryOperator;

use super::super::{Context, Plan, Rule, Transformed};
use super::each_pending;
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

    fn rewrite(&self, plan: &mut Plan, _ctx: &Context) -> Result<Transformed> {
        Ok(each_pending(plan, |req, _| {
            if req.symmetric {
                return Err("already halved".into());
            }
            if let Some(op @ (BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq)) =
                &req.relation
            {
                return Err(format!(
                    "the query already keeps one ordering of each pair ({}.{} {op} {}.{})",
                    req.alias_a, req.id, req.alias_b, req.id
                ));
            }
            if !req.symmetric_filters() {
                return Err("the two sides have different filters, so (a, b) and (b, a) are not mirror pairs".into());
            }
            req.symmetric = true;
            Ok("CORR is symmetric and both sides carry the same filters: about half the join rows".into())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn fires_and_keeps_results() {
        let (mut plan, ctx) = pair_corr_plan(&["S1", "S3"]);
        assert!(SymmetricSelfJoin.rewrite(&mut plan, &ctx).unwrap().changed());
        let sql = plan.statement.to_string();
        assert!(sql.contains("a.strategy_id <= b.strategy_id") && sql.contains("ht_mirror"), "{sql}");
        assert_rule_keeps_results("symmetric_self_join", "pair_corr");
        assert_rule_keeps_results("symmetric_self_join", "pair_corr_all");
    }

    #[test]
    fn declines_for_one_sided_filters_or_ordered_pairs() {
        let ctx = Context::default();
        let mut plan = sql_plan(
            "SELECT a.strategy_id AS x, b.strategy_id AS y, CORR(a.pnl, b.pnl) AS c FROM pnl a JOIN pnl b \
             ON a.trade_date = b.trade_date WHERE a.strategy_id < 3 GROUP BY a.strategy_id, b.strategy_id",
        );
        let t = SymmetricSelfJoin.rewrite(&mut plan, &ctx).unwrap();
        assert!(t.declined[0].contains("different filters"), "{:?}", t.declined);
        let mut plan = sql_plan(
            "SELECT a.strategy_id AS x, CORR(a.pnl, b.pnl) AS c FROM pnl a JOIN pnl b \
             ON a.trade_date = b.trade_date AND b.strategy_id > a.strategy_id GROUP BY a.strategy_id, b.strategy_id",
        );
        let t = SymmetricSelfJoin.rewrite(&mut plan, &ctx).unwrap();
        assert!(t.declined[0].contains("one ordering"), "{:?}", t.declined);
    }
}
