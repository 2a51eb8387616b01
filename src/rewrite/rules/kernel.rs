//! correlation_to_kernel: a pairwise-correlation request as SQL for standardized values plus
//! a local matrix product.

use sqlparser::ast::{SetExpr, Statement};

use super::super::ast::ident;
use super::super::{Context, CorrOutput, CorrRequest, KernelStep, KernelTable, Plan, Rule, Transformed, walk};
use super::standardizable;
use crate::error::Result;

/// The engine computes each candidate's standardized values (n x days, linear in the data);
/// our kernel forms Z Z^T, where the self-join would produce n^2 x days rows. A request that
/// is the whole statement is answered by the kernel directly; one inside a larger query reads
/// the kernel's pairs from a session table filled before the statement runs.
#[derive(Debug)]
pub struct CorrelationToKernel;

const WHY: &str = "every pair's correlation is a dot product of standardized rows: the engine scans the table \
                   once and the kernel multiplies";

/// The request when it is the whole statement and its outputs are the ids and the correlation.
fn whole(stmt: &Statement) -> Option<(CorrRequest, Vec<(CorrOutput, String)>)> {
    let Statement::Query(q) = stmt else { return None };
    if q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else { return None };
    let req = CorrRequest::recognise(s, None).ok()?;
    let outputs = req.plain_outputs()?;
    let both = req.has(CorrOutput::IdA) && req.has(CorrOutput::IdB);
    (both && req.relation.is_none() && req.having.is_none()).then_some((req, outputs))
}

impl Rule for CorrelationToKernel {
    fn name(&self) -> &'static str {
        "correlation_to_kernel"
    }

    fn description(&self) -> &'static str {
        "plan a pairwise-correlation request as SQL for standardized values plus a local matrix product"
    }

    fn rewrite(&self, plan: &mut Plan, ctx: &Context) -> Result<Transformed> {
        if plan.kernel.is_some() {
            return Ok(Transformed::no("the whole statement is already answered by the kernel"));
        }
        if plan.requests.is_empty()
            && let Some((req, outputs)) = whole(&plan.statement)
            && standardizable(&req, ctx).is_ok()
        {
            let Statement::Query(q) = &plan.statement else { return Err(super::broken_precondition("not a query")) };
            let scope: Vec<_> = q.with.iter().flat_map(|w| w.cte_tables.clone()).collect();
            let before = plan.statement.to_string();
            plan.statement = Statement::Query(Box::new(req.kernel_query(&scope)));
            plan.kernel = Some(KernelStep::PairwiseCorr { outputs });
            return Ok(Transformed::yes("the top-level SELECT", WHY, before, plan.statement.to_string()));
        }
        let tables = &mut plan.kernel_tables;
        Ok(walk::each_request(&mut plan.statement, &mut plan.requests, |req, site| {
            if req.kernel.is_some() {
                return Err("already answered by the kernel".into());
            }
            if req.moments || req.symmetric || req.pushdown {
                return Err("another correlation rule already rewrote the request".into());
            }
            standardizable(req, ctx)?;
            let name = ident(&format!("ht_kernel_{}", req.marker));
            tables.push(KernelTable {
                name: name.clone(),
                input: Statement::Query(Box::new(req.kernel_query(site.scope))),
            });
            req.kernel = Some(name.clone());
            Ok(format!("{WHY}; the pairs fill session table {name}, which the rest of the query reads"))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn fires_and_keeps_results() {
        let (mut plan, ctx) = pair_corr_plan(&["S1", "S2", "S3"]);
        assert!(CorrelationToKernel.rewrite(&mut plan, &ctx).unwrap().changed());
        assert!(plan.kernel.is_some() && plan.statement.to_string().contains("ORDER BY ht_id, ht_key"));
        assert_rule_keeps_results("correlation_to_kernel", "pair_corr");
        assert_rule_keeps_results("correlation_to_kernel", "pair_corr_all");
    }

    #[test]
    fn a_request_inside_a_larger_query_reads_a_kernel_table() {
        let (_, ctx) = pair_corr_plan(&["S1"]);
        let mut plan = sql_plan(
            "SELECT a.strategy_id AS x, CORR(a.pnl, b.pnl) AS c FROM pnl a JOIN pnl b \
             ON a.trade_date = b.trade_date GROUP BY a.strategy_id, b.strategy_id ORDER BY c DESC LIMIT 3",
        );
        assert!(CorrelationToKernel.rewrite(&mut plan, &ctx).unwrap().changed());
        assert!(plan.kernel.is_none() && plan.kernel_tables.len() == 1);
        let sql = plan.statement.to_string();
        assert!(sql.contains("FROM ht_kernel_ht_p0 AS ht_p0") && sql.ends_with("ORDER BY c DESC LIMIT 3"), "{sql}");
    }
}
