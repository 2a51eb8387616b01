//! SQL engines behind one small trait: execute SQL to Arrow, ingest Arrow tables, explain.
//!
//! Callers hold a `Box<dyn Engine>` from [`connect`], so remote backends (Flight SQL, HeavyDB
//! over ODBC, Ballista) slot in without touching them.

mod embedded;

use std::path::Path;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

pub use embedded::Embedded;

use crate::error::{Error, Result};

/// The result of a query: its schema (also when there are no rows) and the Arrow batches.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryOutput {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// Column `index` as text, every batch in order (NULL as empty).
    pub fn strings(&self, index: usize) -> Result<Vec<String>> {
        use arrow::array::AsArray;
        let mut v = Vec::with_capacity(self.num_rows());
        for b in &self.batches {
            let col = arrow::compute::cast(b.column(index), &arrow::datatypes::DataType::Utf8)?;
            v.extend(col.as_string::<i32>().iter().map(|s| s.unwrap_or_default().to_owned()));
        }
        Ok(v)
    }
}

/// A table to write: its name and Arrow data (every batch of one schema).
#[derive(Debug, Clone)]
pub struct TableData {
    pub name: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// A table the engine knows, as listed by [`Engine::tables`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableInfo {
    pub name: String,
    pub rows: u64,
}

/// What heavytune needs from a SQL engine.
pub trait Engine: Send + Sync {
    /// The backend's name for messages and reports, e.g. `datafusion`.
    fn name(&self) -> &'static str;
    /// Runs one SQL statement and returns its rows as Arrow batches.
    fn execute(&self, sql: &str) -> Result<QueryOutput>;
    /// Writes the tables, replacing any of the same names, all or none.
    fn ingest(&self, tables: Vec<TableData>) -> Result<()>;
    /// The engine's plan of a query as text; `analyze` runs it and adds measured times.
    fn explain(&self, sql: &str, analyze: bool) -> Result<String>;
    /// The tables stored in this database.
    fn tables(&self) -> Result<Vec<TableInfo>>;
    /// Registers a table for this session only, held in memory (replacing one of that name).
    fn register_memory(&self, table: TableData) -> Result<()>;
}

/// Engine URL schemes heavytune knows of; only `embedded` runs today.
pub const PLANNED_SCHEMES: &[(&str, &str)] = &[
    ("flightsql", "Arrow Flight SQL (grpc://host:port also accepted)"),
    ("odbc", "HeavyDB or another engine over ODBC"),
    ("heavydb", "HeavyDB over ODBC"),
    ("ballista", "Apache Ballista cluster"),
];

/// Opens the engine named by `url` (`embedded`, the default, is DataFusion over `db`).
pub fn connect(url: &str, db: &Path) -> Result<Box<dyn Engine>> {
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or(url).to_ascii_lowercase();
    match scheme.as_str() {
        "embedded" | "datafusion" => Ok(Box::new(Embedded::open(db)?)),
        s if PLANNED_SCHEMES.iter().any(|(p, _)| *p == s) || s == "grpc" || s == "grpc+tls" => Err(Error::EngineUrl {
            url: url.to_owned(),
            message: "this engine is not supported yet; use --engine embedded (DataFusion, the default)".to_owned(),
        }),
        _ => Err(Error::EngineUrl {
            url: url.to_owned(),
            message: format!(
                "unknown engine scheme {scheme:?}; expected embedded, or later one of {}",
                PLANNED_SCHEMES.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_and_unknown_schemes_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let planned = connect("flightsql://127.0.0.1:50051", dir.path()).err().unwrap().to_string();
        assert!(planned.contains("not supported yet"), "{planned}");
        let unknown = connect("mysql://x", dir.path()).err().unwrap().to_string();
        assert!(unknown.contains("unknown engine scheme"), "{unknown}");
        assert!(connect("embedded", dir.path()).is_ok());
    }
}
