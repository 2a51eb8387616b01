//! correlation_to_kernel: a full pairwise-correlation request as SQL for standardized values
//! plus a local matrix product.

use super::super::{Context, CorrOutput, KernelStep, Plan, Rule};
use super::{pending_corr, standardizable};
use crate::error::Result;
use crate::templates;

/// The engine computes each candidate's standardized values (n x days, linear in the data);
/// our kernel forms Z Z^T, where the self-join would produce n^2 x days rows.
#[derive(Debug)]
pub struct CorrelationToKernel;

impl Rule for CorrelationToKernel {
    fn name(&self) -> &'static str {
        "correlation_to_kernel"
    }

    fn description(&self) -> &'static str {
        "plan a pairwise-correlation request as SQL for standardized values plus a local matrix product"
    }

    fn check(&self, plan: &Plan, ctx: &Context) -> Result<String, String> {
        let req = pending_corr(plan)?;
        if req.moments || req.symmetric {
            return Err("another correlation rule already rewrote the request".into());
        }
        standardizable(req, ctx)?;
        if !req.has(CorrOutput::IdA) || !req.has(CorrOutput::IdB) {
            return Err("the kernel returns (id, id, corr) rows: both ids must be outputs".into());
        }
        Ok("every pair's correlation is a dot product of standardized rows: the engine scans the \
            table once and the kernel multiplies"
            .into())
    }

    fn rewrite(&self, mut plan: Plan, _ctx: &Context) -> crate::error::Result<Plan> {
        let req = plan.corr.clone().map_err(super::broken_precondition)?;
        plan.statement = templates::parse(&req.kernel_sql())?;
        plan.kernel = Some(KernelStep::PairwiseCorr {
            outputs: req.outputs.iter().map(|(k, n)| (*k, n.value.clone())).collect(),
        });
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn fires_and_keeps_results() {
        let (plan, ctx) = pair_corr_plan(&["S1", "S2", "S3"]);
        assert!(CorrelationToKernel.check(&plan, &ctx).is_ok());
        let out = CorrelationToKernel.rewrite(plan, &ctx).unwrap();
        assert!(out.kernel.is_some() && out.statement.to_string().contains("ORDER BY ht_id, ht_key"));
        assert_rule_keeps_results("correlation_to_kernel", "pair_corr");
        assert_rule_keeps_results("correlation_to_kernel", "pair_corr_all");
    }

    #[test]
    fn declines_without_both_ids() {
        let (_, ctx) = pair_corr_plan(&["S1"]);
        let plan = sql_plan(
            "SELECT a.strategy_id AS x, CORR(a.pnl, b.pnl) AS c FROM pnl a JOIN pnl b \
             ON a.trade_date = b.trade_date GROUP BY a.strategy_id, b.strategy_id",
        );
        assert!(CorrelationToKernel.check(&plan, &ctx).unwrap_err().contains("both ids"));
    }
}
