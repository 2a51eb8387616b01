//! The long/narrow engine tables (see [`crate::tables`]) built from a [`WideTable`], sorted by
//! strategy then row order. The P&L buffer moves into Arrow without a copy.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, DictionaryArray, Float64Array, Int32Array, Int64Array, ListArray, StringArray,
    new_null_array,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{Int32Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;

use super::WideTable;
use super::arriving::Arriving;
use crate::engine::Replay;
use crate::error::Result;
use crate::tables::{SeriesView, pnl_schema, strategies_schema, zone_type};

/// Rows per `pnl` batch at most: large enough to amortise per-batch work, small enough to
/// spread over cores. Batches end at strategy boundaries (see [`pnl_batches`]).
pub const PNL_BATCH_ROWS: usize = 256 * 1024;

/// `strategies`: one row per strategy; `strategy_id` is the 0-based column position.
pub fn strategies_batch(table: &WideTable) -> Result<RecordBatch> {
    let ids = Int32Array::from_iter_values(0..table.n_strategies() as i32);
    let names = StringArray::from_iter_values(&table.names);
    let labels = StringArray::from_iter_values(&table.labels);
    Ok(RecordBatch::try_new(strategies_schema(), vec![Arc::new(ids), Arc::new(names), Arc::new(labels)])?)
}

/// `pnl` as batches made on demand: one row per strategy and day over the table's values,
/// which move into Arrow without a copy; each batch holds whole strategies (at most
/// [`PNL_BATCH_ROWS`] rows), so an engine that keeps a batch in one partition sums every
/// strategy's days in order. Only the P&L is held: ids, days, dates and zones are made per
/// batch, so an engine in this process can read the long table again and again without
/// holding it.
#[derive(Debug)]
pub struct LongPnl {
    values: Arriving,
    n_s: usize,
    dates: Vec<i32>,
    /// Each day's key into `zone_names`, when the inputs have zones.
    zones: Option<(Vec<i32>, ArrayRef)>,
    /// Strategies per batch.
    per_batch: usize,
}

/// Rows per batch of a long table an engine replays: about DataFusion's batch size times a
/// few, so that few rows are made at a time.
pub const REPLAY_BATCH_ROWS: usize = 32 * 1024;

/// Strategies per batch of a series view: a few batches per core.
pub const SERIES_BATCH_ROWS: usize = 2048;

impl LongPnl {
    /// The long table of `table`'s days and zones over `values` (its values, strategy-major,
    /// shared, not copied), in batches of at most `max_rows` rows (whole strategies).
    pub fn shared(values: ScalarBuffer<f64>, table: &WideTable, max_rows: usize) -> LongPnl {
        LongPnl::arriving(Arriving::now(values), table, max_rows)
    }

    /// As [`LongPnl::shared`], over values that may still be on their way: its scans wait
    /// for them ([`Replay::ready`]).
    pub fn arriving(values: Arriving, table: &WideTable, max_rows: usize) -> LongPnl {
        let n_d = table.n_days();
        let zones = table.zones.as_ref().map(|zones| {
            let mut distinct: HashMap<&str, i32> = HashMap::new();
            let mut names: Vec<&str> = Vec::new();
            let keys = zones
                .iter()
                .map(|z| {
                    *distinct.entry(z.as_str()).or_insert_with(|| {
                        names.push(z);
                        names.len() as i32 - 1
                    })
                })
                .collect();
            (keys, Arc::new(StringArray::from(names)) as ArrayRef)
        });
        LongPnl {
            n_s: table.n_strategies(),
            per_batch: (max_rows / n_d.max(1)).max(1),
            values,
            dates: table.dates.clone(),
            zones,
        }
    }
}

impl Replay for LongPnl {
    fn schema(&self) -> SchemaRef {
        pnl_schema()
    }

    fn batches(&self) -> usize {
        self.n_s.div_ceil(self.per_batch)
    }

    fn sorted_by(&self) -> &[&str] {
        &["strategy_id", "seq"]
    }

    fn ready(&self) -> BoxFuture<'static, Result<()>> {
        self.values.ready()
    }

    /// Each strategy's values as one list over the shared buffer (no copy), in batches of
    /// [`SERIES_BATCH_ROWS`] strategies, made as they are read.
    fn series(&self, table: &str) -> Result<Option<Arc<dyn Replay>>> {
        let n_d = self.dates.len();
        let (Some(&first), Some(&last)) = (self.dates.iter().min(), self.dates.iter().max()) else {
            return Ok(None);
        };
        if self.n_s.saturating_mul(n_d) > i32::MAX as usize {
            return Ok(None);
        }
        let schema = SeriesView { of: table.to_owned(), days: (first, last) }.schema();
        Ok(Some(Arc::new(Series { values: self.values.clone(), n_s: self.n_s, n_d, schema })))
    }

    fn batch(&self, i: usize) -> Result<RecordBatch> {
        let n_d = self.dates.len();
        let values = self.values.arrived()?;
        let (s0, s1) = (i * self.per_batch, ((i + 1) * self.per_batch).min(self.n_s));
        let rows = (s1 - s0) * n_d;
        let ids = Int32Array::from_iter_values((s0 as i32..s1 as i32).flat_map(|s| std::iter::repeat_n(s, n_d)));
        let seq = Int32Array::from_iter_values((s0..s1).flat_map(|_| 0..n_d as i32));
        let dates = Date32Array::from_iter_values((s0..s1).flat_map(|_| self.dates.iter().copied()));
        let zones: ArrayRef = match &self.zones {
            None => new_null_array(&zone_type(), rows),
            Some((keys, names)) => {
                let keys = Int32Array::from_iter_values((s0..s1).flat_map(|_| keys.iter().copied()));
                Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::clone(names))?)
            }
        };
        let pnl = Float64Array::new(values.slice(s0 * n_d, rows), None);
        Ok(RecordBatch::try_new(
            pnl_schema(),
            vec![Arc::new(ids), Arc::new(seq), Arc::new(dates), zones, Arc::new(pnl)],
        )?)
    }
}

/// The series view of a [`LongPnl`] ([`SeriesView`]): one row per strategy, its values as a
/// list over the same buffer, in batches of [`SERIES_BATCH_ROWS`] strategies, rising by
/// strategy_id.
#[derive(Debug)]
struct Series {
    values: Arriving,
    n_s: usize,
    n_d: usize,
    schema: SchemaRef,
}

impl Replay for Series {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn batches(&self) -> usize {
        self.n_s.div_ceil(SERIES_BATCH_ROWS)
    }

    fn sorted_by(&self) -> &[&str] {
        &[SeriesView::ID]
    }

    fn ready(&self) -> BoxFuture<'static, Result<()>> {
        self.values.ready()
    }

    fn batch(&self, i: usize) -> Result<RecordBatch> {
        let (n_d, values) = (self.n_d, self.values.arrived()?);
        let (s0, s1) = (i * SERIES_BATCH_ROWS, ((i + 1) * SERIES_BATCH_ROWS).min(self.n_s));
        let values = Float64Array::new(values.slice(s0 * n_d, (s1 - s0) * n_d), None);
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(n_d, s1 - s0));
        let lists = ListArray::try_new(SeriesView::item(), offsets, Arc::new(values), None)?;
        let ids = Int32Array::from_iter_values(s0 as i32..s1 as i32);
        let days = Int64Array::from_value(n_d as i64, s1 - s0);
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), vec![Arc::new(ids), Arc::new(lists), Arc::new(days)])?)
    }
}

/// `pnl` as batches in memory, its values moved in without a copy (see [`LongPnl`]).
#[cfg(test)]
pub fn pnl_batches(mut table: WideTable) -> Result<Vec<RecordBatch>> {
    let values = ScalarBuffer::from(std::mem::take(&mut table.values));
    let long = LongPnl::shared(values, &table, PNL_BATCH_ROWS);
    (0..long.batches()).map(|i| long.batch(i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;

    fn table() -> WideTable {
        WideTable {
            names: vec!["A".into(), "B".into()],
            labels: vec!["f".into(), "f".into()],
            dates: vec![19724, 19725, 19726],
            zones: Some(vec!["All Day".into(), "All Day".into(), "Pre".into()]),
            values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            missing_cells: 0,
            bytes_read: 0,
            warnings: vec![],
        }
    }

    #[test]
    fn pnl_is_strategy_major_with_dictionary_zones() {
        let batches = pnl_batches(table()).unwrap();
        let b = &batches[0];
        assert_eq!(b.num_rows(), 6);
        let ids: Vec<i32> = b.column(0).as_primitive::<arrow::datatypes::Int32Type>().values().to_vec();
        assert_eq!(ids, vec![0, 0, 0, 1, 1, 1]);
        let seq: Vec<i32> = b.column(1).as_primitive::<arrow::datatypes::Int32Type>().values().to_vec();
        assert_eq!(seq, vec![0, 1, 2, 0, 1, 2]);
        let pnl: Vec<f64> = b.column(4).as_primitive::<arrow::datatypes::Float64Type>().values().to_vec();
        assert_eq!(pnl, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let zones = b.column(3).as_dictionary::<Int32Type>();
        assert_eq!(zones.values().len(), 2);
        assert_eq!(zones.keys().values().to_vec(), vec![0, 0, 1, 0, 0, 1]);
    }

    #[test]
    fn missing_zone_column_gives_nulls() {
        let mut t = table();
        t.zones = None;
        let b = &pnl_batches(t).unwrap()[0];
        assert_eq!(b.column(3).null_count(), 6);
    }

    #[test]
    fn batches_end_at_strategy_boundaries() {
        let n_d = 7;
        let n_s = PNL_BATCH_ROWS / n_d + 5;
        let t = WideTable {
            names: (0..n_s).map(|i| format!("s{i}")).collect(),
            labels: vec!["f".into(); n_s],
            dates: (0..n_d as i32).collect(),
            zones: None,
            values: vec![0.5; n_s * n_d],
            missing_cells: 0,
            bytes_read: 0,
            warnings: vec![],
        };
        let batches = pnl_batches(t).unwrap();
        assert!(batches.len() > 1);
        assert!(batches.iter().all(|b| b.num_rows() % n_d == 0 && b.num_rows() <= PNL_BATCH_ROWS));
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), n_s * n_d);
    }
}
