//! A session table of the embedded engine kept as its recipe ([`Replay`]): a DataFusion
//! streaming table that makes its batches, in order, as a scan pulls them. It is one
//! partition: an aggregate over it then runs in one phase, where two partitions pay a partial
//! and a final phase that hands every strategy's series over (slower for the run's
//! strategy_stats query on 2 cores, as measured for issue 10).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;

use crate::engine::Replay;
use crate::error::Result;

/// Batches `range` of a recipe, made one by one as the scan pulls them.
#[derive(Debug)]
struct Part {
    replay: Arc<dyn Replay>,
    schema: SchemaRef,
    range: std::ops::Range<usize>,
}

impl PartitionStream for Part {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let replay = Arc::clone(&self.replay);
        let batches =
            self.range.clone().map(move |i| replay.batch(i).map_err(|e| DataFusionError::External(Box::new(e))));
        Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), futures::stream::iter(batches)))
    }
}

/// The table of `replay`, in one partition.
pub fn table(replay: Arc<dyn Replay>) -> Result<Arc<dyn TableProvider>> {
    let (schema, n) = (replay.schema(), replay.batches());
    let order = replay.sorted_by().iter().map(|c| datafusion::prelude::col(*c).sort(true, false)).collect();
    let part = Part { replay, schema: Arc::clone(&schema), range: 0..n };
    let table = StreamingTable::try_new(schema, vec![Arc::new(part) as Arc<dyn PartitionStream>])?;
    // The declared order lets grouping by strategy stream, each group done when the next
    // begins.
    Ok(Arc::new(table.with_sort_order(order)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Blocking, Embedded, Engine, TableSource};

    /// The replayed long table answers like the same rows held in memory, scan after scan.
    #[test]
    fn a_replayed_table_reads_like_its_rows_every_time() {
        let wide = crate::synth::generate(&crate::synth::SynthConfig { strategies: 40, days: 9, seed: 5 });
        let rt = Blocking::new(Some(3)).unwrap();
        rt.run(async {
            let e = Embedded::in_memory(Some(3));
            let values = arrow::buffer::ScalarBuffer::from(wide.values.clone());
            let long = Arc::new(crate::load::long::LongPnl::shared(values, &wide, 64));
            assert!(long.batches() > 1);
            e.create_temporary(TableSource::replayable("r", long)).await?;
            e.create_temporary(TableSource::from_batches(
                "m",
                crate::tables::pnl_schema(),
                crate::load::long::pnl_batches(wide)?,
            ))
            .await?;
            let q = |t: &str| {
                format!("SELECT strategy_id, COUNT(*) AS n, SUM(pnl) AS s, MAX(seq) AS m FROM {t} GROUP BY strategy_id ORDER BY strategy_id")
            };
            let rows = |o: crate::engine::QueryOutput| arrow::compute::concat_batches(&o.schema, &o.batches).unwrap();
            let want = rows(crate::engine::fetch_sql(&e, &q("m")).await?);
            assert_eq!(want.num_rows(), 40);
            for _ in 0..2 {
                assert_eq!(rows(crate::engine::fetch_sql(&e, &q("r")).await?), want);
            }
            Ok(())
        })
        .unwrap();
    }
}
