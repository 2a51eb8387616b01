//! A physical optimizer rule of the embedded engine: every join's output stream consumes
//! Tokio task budget per batch (DataFusion's `CooperativeExec`), so a join that emits a great
//! many batches from one input batch (a self-join on a date of 25,544 strategies) still hands
//! control back to the runtime regularly. Without it such a query never yields: a timer on the
//! same runtime (`bench ab --timeout`) cannot fire, and dropping the query cannot stop it.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::joins::{CrossJoinExec, HashJoinExec, NestedLoopJoinExec, SortMergeJoinExec};

#[derive(Debug, Default)]
pub struct YieldingJoins;

fn is_join(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.is::<HashJoinExec>()
        || plan.is::<NestedLoopJoinExec>()
        || plan.is::<CrossJoinExec>()
        || plan.is::<SortMergeJoinExec>()
}

impl PhysicalOptimizerRule for YieldingJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(if is_join(&node) {
                Transformed::yes(Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>)
            } else {
                Transformed::no(node)
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "yielding_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[test]
    fn joins_are_wrapped_and_nothing_else() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let plan = rt.block_on(async {
            let ctx = SessionContext::new();
            ctx.sql("CREATE TABLE t AS VALUES (1, 2.0), (2, 3.0)").await.unwrap().collect().await.unwrap();
            let df = ctx
                .sql("SELECT a.column1, SUM(b.column2) FROM t a JOIN t b ON a.column1 = b.column1 GROUP BY a.column1")
                .await
                .unwrap();
            df.create_physical_plan().await.unwrap()
        });
        let before = datafusion::physical_plan::displayable(plan.as_ref()).indent(false).to_string();
        let after = YieldingJoins.optimize(plan, &ConfigOptions::default()).unwrap();
        let after = datafusion::physical_plan::displayable(after.as_ref()).indent(false).to_string();
        let joins = before.matches("JoinExec").count();
        assert!(joins >= 1, "{before}");
        assert_eq!(
            after.matches("CooperativeExec").count(),
            before.matches("CooperativeExec").count() + joins,
            "{after}"
        );
    }
}
