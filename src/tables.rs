//! The long/narrow tables heavytune keeps in an engine: their names and Arrow schemas.
//!
//! `strategies(strategy_id, name, file_label)`: one row per strategy, `strategy_id` its
//! 0-based column position. `pnl(strategy_id, seq, trade_date, zone, pnl)`: one row per
//! strategy and input row, `seq` the row's 0-based position in the input's order of days (the
//! legacy's file order, which running sums and drawdowns follow, also when dates are out of
//! order). The loader writes them; templates, rules and stages read them by these names.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

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

/// The `zone` column: dictionary-encoded text, Arrow's counterpart of HeavyDB's
/// `TEXT ENCODING DICT`.
pub fn zone_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

pub fn pnl_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("strategy_id", DataType::Int32, false),
        Field::new("seq", DataType::Int32, false),
        Field::new("trade_date", DataType::Date32, false),
        Field::new("zone", zone_type(), true),
        Field::new("pnl", DataType::Float64, false),
    ]))
}

/// The series view of a long table, `<table>_series`: one row per strategy with its P&L as a
/// list in `seq` order, what `SELECT strategy_id, ARRAY_AGG(pnl ORDER BY seq) AS pnl,
/// COUNT(*) AS days FROM <table> GROUP BY strategy_id` would give. An engine in this process
/// may hold one beside a long table it keeps over shared buffers (the lists share them); the
/// schema's metadata names the long table and the range of its days, which the rule
/// series_view reads to prove a date filter keeps every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesView {
    /// The long table it is the view of.
    pub of: String,
    /// The first and last `trade_date` of the long table (days since 1970-01-01).
    pub days: (i32, i32),
}

impl SeriesView {
    const OF: &'static str = "heavytune.series_of";
    const FIRST: &'static str = "heavytune.first_day";
    const LAST: &'static str = "heavytune.last_day";
    /// The strategy's id, one row each (the view's rows rise by it where the engine says so).
    pub const ID: &'static str = "strategy_id";
    /// The column ordering each list (a column of the long table).
    pub const ORDER: &'static str = "seq";
    /// The list column (the long table's value column, in `ORDER` order).
    pub const VALUES: &'static str = "pnl";
    /// The count of the long table's rows of the strategy.
    pub const DAYS: &'static str = "days";

    /// The view's name for long table `table`.
    pub fn name(table: &str) -> String {
        format!("{table}_series")
    }

    /// The item field of the view's lists (values, never NULL).
    pub fn item() -> FieldRef {
        Arc::new(Field::new_list_field(DataType::Float64, false))
    }

    /// The view's schema, its facts in the metadata.
    pub fn schema(&self) -> SchemaRef {
        let metadata = [
            (Self::OF, self.of.clone()),
            (Self::FIRST, self.days.0.to_string()),
            (Self::LAST, self.days.1.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Arc::new(Schema::new_with_metadata(
            vec![
                Field::new(Self::ID, DataType::Int32, false),
                Field::new(Self::VALUES, DataType::List(Self::item()), false),
                Field::new(Self::DAYS, DataType::Int64, false),
            ],
            metadata,
        ))
    }

    /// The view a schema describes, when it is the series view of `table`.
    pub fn from_schema(table: &str, schema: &Schema) -> Option<SeriesView> {
        let m = schema.metadata();
        let day = |k: &str| m.get(k).and_then(|v| v.parse::<i32>().ok());
        let expected = SeriesView { of: table.to_owned(), days: (day(Self::FIRST)?, day(Self::LAST)?) };
        (m.get(Self::OF).map(String::as_str) == Some(table) && schema.fields() == expected.schema().fields())
            .then_some(expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ddl = include_str!("../schema/datafusion.sql");
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
