//! The long/narrow engine tables (see [`crate::tables`]) built from a [`WideTable`], sorted by
//! strategy then row order. The P&L buffer moves into Arrow without a copy.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, DictionaryArray, Float64Array, Int32Array, StringArray, new_null_array};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;

use super::WideTable;
use crate::error::Result;
use crate::tables::{pnl_schema, strategies_schema, zone_type};

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

/// `pnl`: one row per strategy and day, consuming the table's values without copying them.
/// Each batch holds whole strategies, so an engine that keeps a batch in one partition sums
/// every strategy's days in order.
pub fn pnl_batches(table: WideTable) -> Result<Vec<RecordBatch>> {
    let (n_s, n_d) = (table.n_strategies(), table.n_days());
    let rows = n_s * n_d;
    let ids = Int32Array::from_iter_values((0..n_s as i32).flat_map(|s| std::iter::repeat_n(s, n_d)));
    let seq = Int32Array::from_iter_values((0..n_s).flat_map(|_| 0..n_d as i32));
    let dates = Date32Array::from_iter_values((0..n_s).flat_map(|_| table.dates.iter().copied()));
    let zone_type = zone_type();
    let zones: ArrayRef = match &table.zones {
        None => new_null_array(&zone_type, rows),
        Some(zones) => {
            let mut distinct: HashMap<&str, i32> = HashMap::new();
            let mut values: Vec<&str> = Vec::new();
            let day_keys: Vec<i32> = zones
                .iter()
                .map(|z| {
                    *distinct.entry(z.as_str()).or_insert_with(|| {
                        values.push(z);
                        values.len() as i32 - 1
                    })
                })
                .collect();
            let keys = Int32Array::from_iter_values((0..n_s).flat_map(|_| day_keys.iter().copied()));
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(StringArray::from(values)))?)
        }
    };
    let pnl = Float64Array::from(table.values);
    let batch =
        RecordBatch::try_new(pnl_schema(), vec![Arc::new(ids), Arc::new(seq), Arc::new(dates), zones, Arc::new(pnl)])?;
    // Slices share the buffers: splitting costs nothing.
    let per_batch = (PNL_BATCH_ROWS / n_d.max(1)).max(1) * n_d.max(1);
    Ok((0..rows).step_by(per_batch).map(|o| batch.slice(o, per_batch.min(rows - o))).collect())
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
