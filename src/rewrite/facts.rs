//! What the rules may assume about the tables: their columns, which long tables are complete
//! panels, which wide tables mirror a long one. Gathered from the engine before rewriting.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use arrow::datatypes::DataType;
use sqlparser::ast::{ObjectName, Statement};

use crate::engine::{Capabilities, Engine, EngineKind, fetch_sql};
use crate::error::{Error, Result};
use crate::tables::{SeriesView, TableNames};

/// A column and its SQL type name (as the engine reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub sql_type: String,
}

/// A long table in which every id has exactly one non-NULL value for every key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    pub id: String,
    pub key: String,
    pub value: String,
}

/// Facts the rules' preconditions read.
#[derive(Debug, Clone)]
pub struct Context {
    pub columns: BTreeMap<String, Vec<Column>>,
    pub panels: BTreeMap<String, Panel>,
    /// Wide tables (`<pnl>_wide`: Date, then one column per strategy, the legacy layout some
    /// users keep beside the long tables) and their long tables.
    pub wide: BTreeMap<String, TableNames>,
    /// Row counts the engine knows without a scan.
    pub rows: BTreeMap<String, u64>,
    /// Long tables the engine also holds as a series view (`<table>_series`).
    pub series: BTreeMap<String, SeriesView>,
    /// What the engine the rewritten SQL is meant for can do: rules that pay only on some
    /// engines ask.
    pub capabilities: Capabilities,
}

impl Default for Context {
    /// No facts, planning for the embedded default engine.
    fn default() -> Self {
        Context::for_kind(EngineKind::Datafusion)
    }
}

/// SQL type name of an Arrow type, for casts in rewritten SQL.
pub fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Float64 => "DOUBLE".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Dictionary(_, v) => sql_type(v),
        other => other.to_string(),
    }
}

fn table_key(name: &ObjectName) -> String {
    name.to_string().trim_matches('"').to_owned()
}

impl Context {
    /// No facts, planning for an engine of this kind.
    pub fn for_kind(kind: EngineKind) -> Self {
        Context {
            columns: BTreeMap::new(),
            panels: BTreeMap::new(),
            wide: BTreeMap::new(),
            rows: BTreeMap::new(),
            series: BTreeMap::new(),
            capabilities: kind.capabilities(),
        }
    }

    /// The facts, one line per table, for `explain`.
    pub fn describe(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|(name, cols)| {
                let mut line = format!(
                    "{name}: {} columns ({})",
                    cols.len(),
                    cols.iter().map(|c| format!("{} {}", c.name, c.sql_type)).collect::<Vec<_>>().join(", ")
                );
                if let Some(rows) = self.rows.get(name) {
                    line.push_str(&format!(", {rows} rows"));
                }
                if let Some(p) = self.panels.get(name) {
                    line.push_str(&format!(", a complete panel of {} by {}", p.value, p.key));
                }
                if let Some(long) = self.wide.get(name) {
                    line.push_str(&format!(", the wide form of {}", long.pnl));
                }
                if self.series.contains_key(name) {
                    line.push_str(&format!(", held also as the series view {}", SeriesView::name(name)));
                }
                line
            })
            .collect()
    }

    pub fn table_columns(&self, name: &ObjectName) -> Option<&Vec<Column>> {
        self.columns.get(&table_key(name))
    }

    pub fn panel(&self, name: &ObjectName) -> Option<&Panel> {
        self.panels.get(&table_key(name))
    }

    pub fn series_of(&self, name: &ObjectName) -> Option<&SeriesView> {
        self.series.get(&table_key(name))
    }

    pub fn wide_of(&self, name: &ObjectName) -> Option<&TableNames> {
        self.wide.get(&table_key(name))
    }

    /// Learns about every table the statement names that the engine has (CTE names and
    /// unknown tables are skipped: the engine reports those when the query runs; a failure to
    /// ask is an error, never taken for "unknown"). Plans for the engine's capabilities.
    pub async fn discover(engine: &dyn Engine, stmt: &Statement) -> Result<Context> {
        let mut names = Vec::new();
        let _ = sqlparser::ast::visit_relations(stmt, |r: &ObjectName| {
            names.push(table_key(r));
            ControlFlow::<()>::Continue(())
        });
        let mut ctx = Context { capabilities: engine.capabilities(), ..Context::default() };
        // Completeness costs a scan of the table: only where a rule would ask for it.
        // Windows with the default frame need it only where series_to_aggregate could fire.
        let framed =
            if ctx.capabilities.ordered_series { super::rules::default_frame_tables(stmt) } else { Vec::new() };
        let mut panels: Vec<String> = super::walk::request_tables(stmt).iter().chain(&framed).map(table_key).collect();
        for name in names.clone() {
            if let Some(long) = name.strip_suffix("_wide") {
                names.push(long.to_owned());
                panels.push(long.to_owned());
            }
        }
        names.sort();
        names.dedup();
        for name in &names {
            ctx.learn(engine, name, panels.contains(name)).await?;
        }
        for name in &names {
            if let Some(long) = name.strip_suffix("_wide") {
                let tables = TableNames::for_table(long);
                let has_date = ctx.columns.get(name).is_some_and(|c| c.iter().any(|c| c.name == "Date"));
                if has_date && ctx.panels.contains_key(long) {
                    ctx.learn(engine, &tables.strategies, false).await?;
                    if ctx.columns.contains_key(&tables.strategies) {
                        ctx.wide.insert(name.clone(), tables);
                    }
                }
            }
        }
        Ok(ctx)
    }

    /// Adds one table's columns and, with `panel` for a long table, whether it is a complete panel.
    pub async fn learn(&mut self, engine: &dyn Engine, name: &str, panel: bool) -> Result<()> {
        let quoted = crate::templates::quote_ident(name);
        let Some(schema) = engine.schema(name).await? else { return Ok(()) };
        let columns: Vec<Column> = schema
            .fields()
            .iter()
            .map(|f| Column { name: f.name().clone(), sql_type: sql_type(f.data_type()) })
            .collect();
        let has = |c: &str| columns.iter().any(|x| x.name == c);
        if panel && has("strategy_id") && has("trade_date") && has("pnl") {
            // Complete: no NULL value, no duplicate (id, key), every id on every key.
            let check = fetch_sql(
                engine,
                &format!(
                    "SELECT COUNT(*) AS n_rows, COUNT(pnl) AS n_values, COUNT(DISTINCT strategy_id) AS n_ids, \
                     COUNT(DISTINCT trade_date) AS n_keys, \
                     (SELECT COUNT(*) FROM (SELECT DISTINCT strategy_id, trade_date FROM {quoted}) AS pairs) AS n_pairs \
                     FROM {quoted}"
                ),
            )
            .await?;
            let v = |c: &str| -> Result<i64> {
                check
                    .i64s(c)?
                    .first()
                    .copied()
                    .flatten()
                    .ok_or_else(|| Error::engine("panel check", format!("the engine gave no {c} for {name}")))
            };
            let (rows, values, ids, keys, pairs) =
                (v("n_rows")?, v("n_values")?, v("n_ids")?, v("n_keys")?, v("n_pairs")?);
            if rows == values && rows == pairs && rows == ids * keys {
                self.panels.insert(
                    name.to_owned(),
                    Panel { id: "strategy_id".into(), key: "trade_date".into(), value: "pnl".into() },
                );
            }
        }
        if let Some(rows) = engine.statistics(name).await?.rows {
            self.rows.insert(name.to_owned(), rows);
        }
        // Only engines with ht_series hold series views (the embedded one): no other is asked.
        if self.capabilities.ordered_series
            && let Some(view) = engine.schema(&SeriesView::name(name)).await?
            && let Some(view) = SeriesView::from_schema(name, &view)
        {
            self.series.insert(name.to_owned(), view);
        }
        self.columns.insert(name.to_owned(), columns);
        Ok(())
    }
}
