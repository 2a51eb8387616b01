//! Runs a physical plan's output partitions on threads that take them in turn. DataFusion's
//! `collect` spawns one Tokio task per partition, and Tokio's multi-threaded scheduler lets
//! the first idle worker take a batch of newly spawned tasks into its own queue: on a runtime
//! of two workers the two partitions of the run's metrics statement were often run one after
//! the other on one worker while the other slept (measured on the 2-core guest: the second
//! partition started 1.5-2.3 ms after the first, of a statement of about 5 ms). Here as many
//! threads as the session has (the calling thread one of them, where the runtime lets it
//! block) each take the next partition nobody has taken until none is left, so a thread that
//! starts late leaves its share to the others; the batches come back in partition order,
//! which makes the output's order the same on every run. Dropping the returned future stops
//! every partition at its next batch.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::error::{Error, Result};

/// What the threads of one run share: the plan, the next partition to take, each partition's
/// batches once read, and whether to stop.
struct Run {
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
    next: AtomicUsize,
    parts: Vec<Mutex<Option<Result<Vec<RecordBatch>>>>>,
    stop: AtomicBool,
}

impl Run {
    /// Takes partitions in turn and reads each whole (on this thread, through `handle`) until
    /// none is left or the run stops.
    fn work(&self, handle: &Handle) {
        loop {
            let part = self.next.fetch_add(1, Ordering::Relaxed);
            if part >= self.parts.len() || self.stop.load(Ordering::Relaxed) {
                return;
            }
            let read = match handle.block_on(self.read(part)) {
                Ok(Some(batches)) => Ok(batches),
                // Stopped: another partition failed, or the call is gone.
                Ok(None) => return,
                Err(e) => {
                    self.stop.store(true, Ordering::Relaxed);
                    Err(e)
                }
            };
            *self.parts[part].lock().unwrap_or_else(|p| p.into_inner()) = Some(read);
        }
    }

    /// Partition `part`'s batches, or `None` where the run stopped before its end.
    async fn read(&self, part: usize) -> Result<Option<Vec<RecordBatch>>> {
        let mut stream = self.plan.execute(part, Arc::clone(&self.task))?;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            batches.push(batch?);
        }
        Ok(Some(batches))
    }
}

/// Sets the run's stop flag when dropped: its threads stop at their next batch once the call
/// that started them is gone (finished, failed, or dropped unfinished).
struct StopOnDrop(Arc<Run>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// Every batch of `plan`, partition after partition, the partitions read by as many threads
/// as the session has (the current Tokio runtime's blocking pool, and the calling thread where
/// the runtime is multi-threaded); a plan of one partition is read through DataFusion's own
/// `collect`. Like DataFusion's operators, it needs a Tokio runtime. The first error of a
/// partition (in partition order) is the call's.
pub async fn collect(plan: Arc<dyn ExecutionPlan>, task: Arc<TaskContext>) -> Result<Vec<RecordBatch>> {
    let parts = plan.properties().output_partitioning().partition_count();
    if parts <= 1 {
        return Ok(datafusion::physical_plan::collect(plan, task).await?);
    }
    let handle = Handle::try_current()
        .map_err(|_| Error::internal("running a statement's partitions needs a Tokio runtime, and none is running"))?;
    let threads = task.session_config().target_partitions().clamp(1, parts);
    let run = Arc::new(Run {
        plan,
        task,
        next: AtomicUsize::new(0),
        parts: (0..parts).map(|_| Mutex::new(None)).collect(),
        stop: AtomicBool::new(false),
    });
    let stop_on_drop = StopOnDrop(Arc::clone(&run));
    // The calling thread works too where it may block (not on a current-thread runtime).
    let here = handle.runtime_flavor() == RuntimeFlavor::MultiThread;
    let helpers: Vec<_> = (usize::from(here)..threads)
        .map(|_| {
            let (run, on) = (Arc::clone(&run), handle.clone());
            handle.spawn_blocking(move || run.work(&on))
        })
        .collect();
    if here {
        tokio::task::block_in_place(|| run.work(&handle));
    }
    let mut failed = None;
    for helper in helpers {
        if let Err(e) = helper.await {
            failed.get_or_insert(Error::internal(format!("a thread reading a partition failed: {e}")));
        }
    }
    drop(stop_on_drop);
    if let Some(e) = failed {
        return Err(e);
    }
    let mut read: Vec<_> = run.parts.iter().map(|p| p.lock().unwrap_or_else(|p| p.into_inner()).take()).collect();
    if let Some(e) = read.iter_mut().find_map(|r| r.take_if(|r| r.is_err())) {
        return e;
    }
    let mut batches = Vec::new();
    for (part, r) in read.into_iter().enumerate() {
        match r {
            Some(Ok(b)) => batches.extend(b),
            _ => return Err(Error::internal(format!("partition {part} of the statement was never read"))),
        }
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::Int64Type;
    use datafusion::prelude::SessionContext;

    fn plan_of(ctx: &SessionContext, rt: &tokio::runtime::Runtime, sql: &str) -> Arc<dyn ExecutionPlan> {
        rt.block_on(async { ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap() })
    }

    fn table(ctx: &SessionContext, parts: usize) {
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "x",
            arrow::datatypes::DataType::Int64,
            false,
        )]));
        let partitions = (0..parts as i64)
            .map(|p| {
                (0..3)
                    .map(|b| {
                        let values = (0..5).map(|i| p * 100 + b * 10 + i);
                        RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from_iter_values(values))])
                            .unwrap()
                    })
                    .collect()
            })
            .collect();
        let table = datafusion::datasource::MemTable::try_new(schema, partitions).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
    }

    /// Every partition's batches come back whole, partition after partition, on a runtime
    /// of one worker as of several, and outside a runtime's workers.
    #[test]
    fn partitions_come_back_whole_and_in_order() {
        for workers in [1, 2] {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).build().unwrap();
            let ctx =
                SessionContext::new_with_config(datafusion::prelude::SessionConfig::new().with_target_partitions(3));
            table(&ctx, 3);
            let plan = plan_of(&ctx, &rt, "SELECT x * 2 AS y FROM t");
            assert_eq!(plan.properties().output_partitioning().partition_count(), 3);
            let batches = rt.block_on(collect(plan, ctx.task_ctx())).unwrap();
            let got: Vec<i64> =
                batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
            let want: Vec<i64> = (0..3)
                .flat_map(|p| (0..3).flat_map(move |b| (0..5).map(move |i| 2 * (p * 100 + b * 10 + i))))
                .collect();
            assert_eq!(got, want);
        }
    }

    /// A partition's error is the call's error, named as the engine gave it.
    #[test]
    fn a_failing_partition_fails_the_call() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let ctx = SessionContext::new_with_config(datafusion::prelude::SessionConfig::new().with_target_partitions(3));
        table(&ctx, 3);
        // Division by zero happens in partition 0 only (x = 0 there).
        let plan = plan_of(&ctx, &rt, "SELECT 10 / (x - x % 100 - 0 * x) AS y FROM t WHERE x < 100 OR x >= 100");
        let err = rt.block_on(collect(plan, ctx.task_ctx())).unwrap_err().to_string();
        assert!(err.contains("Divide by zero"), "{err}");
    }
}
