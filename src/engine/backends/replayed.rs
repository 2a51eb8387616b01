//! A session table of the embedded engine kept as its recipe ([`Replay`]): a DataFusion
//! streaming table that makes its batches, in order, as a scan pulls them, once the recipe is
//! ready (its values may still be on their way when the table is made: the scan waits).
//! A long table is one partition: an aggregate over it then runs in one phase, where two
//! partitions pay a partial and a final phase that hands every strategy's series over
//! (slower for the run's strategy_stats query on 2 cores, as measured for issue 10). A series
//! view is dealt out to several partitions per thread ([`dealt`]).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;

use crate::engine::{Replay, replay_stream};
use crate::error::Result;

/// Part `part` of `parts` of a recipe's batches (batch `i` to part `i mod parts`), in order,
/// made one by one as the scan pulls them; which batches those are is counted when the scan
/// runs, so a recipe sent after the table was made (and planned over) is read whole.
#[derive(Debug)]
struct Part {
    replay: Arc<dyn Replay>,
    schema: SchemaRef,
    part: usize,
    parts: usize,
}

impl PartitionStream for Part {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batches = replay_stream(Arc::clone(&self.replay), self.part, self.parts)
            .map(|b| b.map_err(|e| DataFusionError::External(Box::new(e))));
        Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), batches))
    }
}

/// The table of `replay`, in one partition.
pub fn table(replay: Arc<dyn Replay>) -> Result<Arc<dyn TableProvider>> {
    partitioned(replay, 1)
}

/// The table of `replay` dealt out batch by batch to [`PARTS_PER_THREAD`] partitions for each
/// of `n` threads (batch `i` to partition `i mod parts`), for rows that stand alone (a series
/// view's row is a whole strategy). Rows keep their order within a partition, so a declared
/// order holds in each. A query ordered by strategy_id merges the partitions, and the merge
/// takes from each in turn, so each partition's work (`ht_series_of` over its lists) runs
/// beside the others'. Over contiguous runs the merge drained the first partition before it
/// read the second, whose work waited meanwhile behind its one-batch buffer.
pub fn dealt(replay: Arc<dyn Replay>, n: usize) -> Result<Arc<dyn TableProvider>> {
    let parts = partitions(replay.known_batches(), n);
    partitioned(replay, parts)
}

/// Partitions per thread of a dealt table: more partitions than threads, so that a thread
/// that starts late (on a 2-core guest, a sleeping core took up to 2.4 ms to start the second
/// of two) leaves its share to the others, each thread taking the next partition nobody has
/// taken (`partition_threads`).
pub const PARTS_PER_THREAD: usize = 4;

/// How many partitions `n` threads deal batches out to: [`PARTS_PER_THREAD`] each, no more
/// than there are batches, where that is known, and one at least.
fn partitions(batches: Option<usize>, n: usize) -> usize {
    let most = n.saturating_mul(PARTS_PER_THREAD);
    batches.map_or(most, |b| most.min(b)).max(1)
}

fn partitioned(replay: Arc<dyn Replay>, parts: usize) -> Result<Arc<dyn TableProvider>> {
    let schema = replay.schema();
    let order = replay.sorted_by().iter().map(|c| datafusion::prelude::col(*c).sort(true, false)).collect();
    let parts = (0..parts)
        .map(|part| {
            Arc::new(Part { replay: Arc::clone(&replay), schema: Arc::clone(&schema), part, parts })
                as Arc<dyn PartitionStream>
        })
        .collect();
    let table = StreamingTable::try_new(schema, parts)?;
    // The declared order lets grouping by strategy stream, each group done when the next
    // begins, and an ORDER BY merge partitions instead of sorting.
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

    /// Batches are dealt out in turn to several partitions a thread, no more than there are
    /// batches (all of them where their count is not known yet), each partition keeping their
    /// order; there is always at least one partition.
    #[test]
    fn batches_are_dealt_out_in_turn() {
        let deal = |batches: usize, n: usize| -> Vec<Vec<usize>> {
            let parts = partitions(Some(batches), n);
            (0..parts).map(|p| crate::engine::part_batches(p, parts, batches).collect()).collect()
        };
        assert_eq!(PARTS_PER_THREAD, 4, "the cases below deal to 4 partitions a thread");
        assert_eq!(deal(11, 2), vec![vec![0, 8], vec![1, 9], vec![2, 10], vec![3], vec![4], vec![5], vec![6], vec![7]]);
        assert_eq!(deal(5, 1), vec![vec![0, 4], vec![1], vec![2], vec![3]]);
        assert_eq!(deal(5, 9), vec![vec![0], vec![1], vec![2], vec![3], vec![4]]);
        assert_eq!(deal(0, 2), vec![Vec::<usize>::new()]);
        assert_eq!(partitions(None, 2), 8);
        assert_eq!(partitions(None, 0), 1);
    }

    /// A series view's batches are dealt out in turn to several partitions for each of the
    /// session's threads (so a merge by strategy_id reads every partition from the start), and
    /// each partition declares the view's order.
    #[test]
    fn a_series_view_deals_its_batches_out_in_turn() {
        use crate::load::long::SERIES_BATCH_ROWS;
        use crate::tables::{SeriesView, TableNames};
        use arrow::array::AsArray;
        use arrow::datatypes::Int32Type;
        use datafusion::physical_plan::ExecutionPlanProperties;
        let strategies = 9 * SERIES_BATCH_ROWS + 5;
        let wide = crate::synth::generate(&crate::synth::SynthConfig { strategies, days: 3, seed: 1 });
        Blocking::new(Some(2))
            .unwrap()
            .run(async {
                let e = Embedded::in_memory(Some(2));
                let names = TableNames::for_table("r");
                let values = arrow::buffer::ScalarBuffer::from(wide.values.clone());
                for source in
                    crate::ingest::sources_over(&wide, crate::load::arriving::Arriving::now(values), &names, 1024)?
                {
                    e.create_temporary(source).await?;
                }
                let view = SeriesView::name(&names.pnl);
                let provider = e.session().table_provider(datafusion::common::TableReference::bare(view)).await?;
                let state = e.session().state();
                let scan = provider.scan(&state, None, &[], None).await?;
                assert_eq!(scan.output_partitioning().partition_count(), 2 * PARTS_PER_THREAD);
                assert!(scan.properties().output_ordering().is_some(), "each partition declares the view's order");
                let mut firsts = Vec::new();
                for p in 0..2 * PARTS_PER_THREAD {
                    let batches: Vec<_> = scan.execute(p, state.task_ctx())?.collect().await;
                    firsts.push(
                        batches
                            .iter()
                            .map(|b| b.as_ref().unwrap().column(0).as_primitive::<Int32Type>().value(0) as usize)
                            .collect::<Vec<_>>(),
                    );
                }
                let b = SERIES_BATCH_ROWS;
                let mut want: Vec<Vec<usize>> = (0..8).map(|p| vec![p * b]).collect();
                want[0].push(8 * b);
                want[1].push(9 * b);
                assert_eq!(firsts, want);
                Ok(())
            })
            .unwrap();
    }

    /// A table over values still on their way is made at once; its scans (the long table's and
    /// its series view's) wait for the values and then read them; values that never come fail
    /// the query, naming why, instead of hanging it.
    #[test]
    fn scans_wait_for_values_on_their_way() {
        use crate::load::arriving::Arriving;
        use crate::load::long::LongPnl;
        let wide = crate::synth::generate(&crate::synth::SynthConfig { strategies: 30, days: 7, seed: 2 });
        let rt = Blocking::new(Some(2)).unwrap();
        rt.run(async {
            let e = Arc::new(Embedded::in_memory(Some(2)));
            let values = arrow::buffer::ScalarBuffer::from(wide.values.clone());
            e.create_temporary(TableSource::replayable("m", Arc::new(LongPnl::shared(values.clone(), &wide, 64))))
                .await?;
            let (tx, arriving) = Arriving::channel();
            e.create_temporary(TableSource::replayable("w", Arc::new(LongPnl::arriving(arriving, &wide, 64)))).await?;
            let q = |t: &str| {
                format!(
                    "SELECT l.strategy_id, SUM(l.pnl) AS s, MIN(v.days) AS d FROM {t} l JOIN {t}_series v \
                     ON l.strategy_id = v.strategy_id GROUP BY l.strategy_id ORDER BY l.strategy_id"
                )
            };
            // The columns (the schemas differ in the series view's metadata, which names its table).
            let rows = |o: crate::engine::QueryOutput| {
                arrow::compute::concat_batches(&o.schema, &o.batches).unwrap().columns().to_vec()
            };
            let want = rows(crate::engine::fetch_sql(e.as_ref(), &q("m")).await?);
            assert_eq!(want[0].len(), 30);
            let (e2, sql) = (Arc::clone(&e), q("w"));
            let waiting = tokio::spawn(async move { crate::engine::fetch_sql(e2.as_ref(), &sql).await });
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            assert!(!waiting.is_finished(), "the query waits for the values");
            tx.send(values);
            assert_eq!(rows(waiting.await.unwrap()?), want);

            let (tx, arriving) = Arriving::channel();
            e.create_temporary(TableSource::replayable("x", Arc::new(LongPnl::arriving(arriving, &wide, 64)))).await?;
            let (e2, sql) = (Arc::clone(&e), q("x"));
            let waiting = tokio::spawn(async move { crate::engine::fetch_sql(e2.as_ref(), &sql).await });
            drop(tx);
            let err = waiting.await.unwrap().unwrap_err();
            assert!(err.to_string().contains("never arrived"), "{err}");
            Ok(())
        })
        .unwrap();
    }
}
