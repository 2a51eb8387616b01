//! The long/narrow engine tables built from a [`WideTable`]:
//! `strategies(strategy_id, name, file_label)` and `pnl(strategy_id, trade_date, zone, pnl)`,
//! sorted by strategy then row order. The P&L buffer moves into Arrow without a copy.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, DictionaryArray, Float64Array, Int32Array, StringArray, new_null_array};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::WideTable;
use crate::error::Result;

/// Rows per `pnl` batch: large enough to amortise per-batch work, small enough to spread over cores.
pub const PNL_BATCH_ROWS: usize = 256 * 1024;

/// Default name of the long P&L table; its strategies table is then `strategies`.
pub const DEFAULT_TABLE: &str = "pnl";

/// The two engine tables a load writes, under the names derived from `--table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub pnl: String,
    pub strategies: String,
}

impl TableNames {
    /// `pnl` pairs with `strategies`; any other name `X` with `X_strategies`.
    pub fn for_table(name: &str) -> Self {
        let strategies = if name == DEFAULT_TABLE { "strategies".to_owned() } else { format!("{name}_strategies") };
        TableNames { pnl: name.to_owned(), strategies }
    }
}

pub fn strategies_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("strategy_id", DataType::Int32, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("file_label", DataType::Utf8, false),
    ]))
}

pub fn pnl_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("strategy_id", DataType::Int32, false),
        Field::new("trade_date", DataType::Date32, false),
        // Dictionary-encoded text: Arrow's counterpart of HeavyDB's TEXT ENCODING DICT.
        Field::new("zone", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true),
        Field::new("pnl", DataType::Float64, false),
    ]))
}

/// `strategies`: one row per strategy; `strategy_id` is the 0-based column position.
pub fn strategies_batch(table: &WideTable) -> Result<RecordBatch> {
    let ids = Int32Array::from_iter_values(0..table.n_strategies() as i32);
    let names = StringArray::from_iter_values(&table.names);
    let labels = StringArray::from_iter_values(&table.labels);
    Ok(RecordBatch::try_new(strategies_schema(), vec![Arc::new(ids), Arc::new(names), Arc::new(labels)])?)
}

/// `pnl`: one row per strategy and day, consuming the table's values without copying them.
pub fn pnl_batches(table: WideTable) -> Result<Vec<RecordBatch>> {
    let (n_s, n_d) = (table.n_strategies(), table.n_days());
    let rows = n_s * n_d;
    let ids = Int32Array::from_iter_values((0..n_s as i32).flat_map(|s| std::iter::repeat_n(s, n_d)));
    let dates = Date32Array::from_iter_values((0..n_s).flat_map(|_| table.dates.iter().copied()));
    let zone_type = pnl_schema().field(2).data_type().clone();
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
    let batch = RecordBatch::try_new(pnl_schema(), vec![Arc::new(ids), Arc::new(dates), zones, Arc::new(pnl)])?;
    // Slices share the buffers: splitting costs nothing.
    Ok((0..rows).step_by(PNL_BATCH_ROWS.max(1)).map(|o| batch.slice(o, PNL_BATCH_ROWS.min(rows - o))).collect())
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
        let pnl: Vec<f64> = b.column(3).as_primitive::<arrow::datatypes::Float64Type>().values().to_vec();
        assert_eq!(pnl, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let zones = b.column(2).as_dictionary::<Int32Type>();
        assert_eq!(zones.values().len(), 2);
        assert_eq!(zones.keys().values().to_vec(), vec![0, 0, 1, 0, 0, 1]);
    }

    #[test]
    fn missing_zone_column_gives_nulls() {
        let mut t = table();
        t.zones = None;
        let b = &pnl_batches(t).unwrap()[0];
        assert_eq!(b.column(2).null_count(), 6);
    }

    #[test]
    fn table_names_follow_the_default_pair() {
        assert_eq!(TableNames::for_table("pnl").strategies, "strategies");
        assert_eq!(TableNames::for_table("june").strategies, "june_strategies");
    }
}

#[cfg(test)]
mod ddl_tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    /// `schema/datafusion.sql` must describe exactly what the loader writes.
    #[test]
    fn datafusion_ddl_matches_the_arrow_schemas() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ctx = SessionContext::new();
        let ddl = include_str!("../../schema/datafusion.sql");
        let without_comments: String =
            ddl.lines().map(|l| l.split("--").next().unwrap()).collect::<Vec<_>>().join("\n");
        for stmt in without_comments.split(';').filter(|s| !s.trim().is_empty()) {
            rt.block_on(async { ctx.sql(stmt).await.unwrap().collect().await.unwrap() });
        }
        for (name, schema) in [("strategies", strategies_schema()), ("pnl", pnl_schema())] {
            let table = rt.block_on(ctx.table(name)).unwrap();
            let ddl_fields: Vec<(String, bool)> =
                table.schema().fields().iter().map(|f| (f.name().clone(), f.is_nullable())).collect();
            let ours: Vec<(String, bool)> =
                schema.fields().iter().map(|f| (f.name().clone(), f.is_nullable())).collect();
            assert_eq!(ddl_fields, ours, "{name}");
            for (d, o) in table.schema().fields().iter().zip(schema.fields()) {
                let plain = match o.data_type() {
                    DataType::Dictionary(_, v) => (**v).clone(),
                    t => t.clone(),
                };
                assert!(
                    d.data_type() == &plain || (plain == DataType::Utf8 && d.data_type() == &DataType::Utf8View),
                    "{name}.{}: {} vs {}",
                    o.name(),
                    d.data_type(),
                    plain
                );
            }
        }
    }
}
