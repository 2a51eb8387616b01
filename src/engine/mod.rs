//! SQL engines behind one trait: queries in, streams of Arrow record batches out.
//!
//! Callers hand an engine parsed statements ([`Query::Ast`]) and the engine prints them in its
//! own dialect; only text a user typed for that engine goes through as it is ([`Query::Native`]).
//! The interface is async inside (remote backends wait on the network); the CLI drives it
//! through the one small [`Blocking`] adapter. Backends live in [`backends`], one file each;
//! [`connect`] picks one from an engine URL.

pub mod backends;
mod blocking;
mod connect;
mod kind;
pub mod late;
mod temporary;

use std::pin::Pin;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, PrimitiveArray};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Float64Type, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::{Stream, TryStreamExt};
use sqlparser::ast::Statement;

pub use backends::{Embedded, FlightSql, Odbc, Planned, Staged};
pub use blocking::Blocking;
pub use connect::{ConnectOptions, EngineUrl, PLANNED_SCHEMES, Secret, Tls, connect};
pub use kind::{Capabilities, CtasForm, EngineKind, TemporaryTables};
pub use temporary::{Temporaries, finish_dropping};

use crate::dialect::Dialect;
use crate::error::{Error, Result};

/// Record batches as they arrive.
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// The rows of a query: their schema (known before the first batch, also with no rows) and
/// the batches as a stream.
pub struct Rows {
    pub schema: SchemaRef,
    pub stream: BatchStream,
}

impl Rows {
    /// Rows already in memory.
    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Rows {
        Rows { schema, stream: Box::pin(futures::stream::iter(batches.into_iter().map(Ok))) }
    }

    /// Waits for every batch.
    pub async fn collect(self) -> Result<QueryOutput> {
        let batches = self.stream.try_collect().await?;
        Ok(QueryOutput { schema: self.schema, batches })
    }

    /// Counts rows without keeping them.
    pub async fn count(self) -> Result<usize> {
        self.stream.try_fold(0, |n, b| async move { Ok(n + b.num_rows()) }).await
    }
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows").field("schema", &self.schema).finish_non_exhaustive()
    }
}

/// A collected result: its schema (also when there are no rows) and the Arrow batches.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryOutput {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// The position of column `name`, or an error naming the columns there are.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.schema.index_of(name).map_err(|_| {
            let have: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
            Error::engine("result", format!("no column {name:?} in the engine's answer (columns: {})", have.join(", ")))
        })
    }

    /// Column `index` as text, every batch in order (NULL as empty).
    pub fn strings(&self, index: usize) -> Result<Vec<String>> {
        let mut v = Vec::with_capacity(self.num_rows());
        for b in &self.batches {
            let col = arrow::compute::cast(b.column(index), &DataType::Utf8)?;
            v.extend(col.as_string::<i32>().iter().map(|s| s.unwrap_or_default().to_owned()));
        }
        Ok(v)
    }

    /// Column `name` as 64-bit floats (NULL as `None`), from any numeric type.
    pub fn f64s(&self, name: &str) -> Result<Vec<Option<f64>>> {
        Ok(self.f64_arrays(name)?.iter().flat_map(|a| a.iter()).collect())
    }

    /// Column `name` batch by batch as Float64 arrays: the engine's own arrays where they are
    /// Float64 already (no copy), else cast.
    pub fn f64_arrays(&self, name: &str) -> Result<Vec<Float64Array>> {
        self.arrays_of::<Float64Type>(name)
    }

    /// Column `name` batch by batch as Int64 arrays, from any integer type (as `f64_arrays`).
    pub fn i64_arrays(&self, name: &str) -> Result<Vec<Int64Array>> {
        self.arrays_of::<Int64Type>(name)
    }

    fn arrays_of<T: ArrowPrimitiveType>(&self, name: &str) -> Result<Vec<PrimitiveArray<T>>> {
        let i = self.index_of(name)?;
        self.batches
            .iter()
            .map(|b| Ok(numeric(b.column(i), name, &T::DATA_TYPE)?.as_primitive::<T>().clone()))
            .collect()
    }

    /// Column `name` as 64-bit integers (NULL as `None`), from any integer type.
    pub fn i64s(&self, name: &str) -> Result<Vec<Option<i64>>> {
        Ok(self.i64_arrays(name)?.iter().flat_map(|a| a.iter()).collect())
    }
}

/// Calls `f` with every buffer of `batch`'s arrays: values, offsets, validity, and those of
/// nested arrays.
pub fn for_each_buffer(batch: &RecordBatch, mut f: impl FnMut(&arrow::buffer::Buffer)) {
    let mut stack: Vec<arrow::array::ArrayData> = batch.columns().iter().map(|c| c.to_data()).collect();
    while let Some(data) = stack.pop() {
        data.buffers().iter().for_each(&mut f);
        if let Some(n) = data.nulls() {
            f(n.buffer());
        }
        stack.extend(data.child_data().iter().cloned());
    }
}

/// A date or timestamp column as Date32 (days since 1970-01-01), or an error naming the
/// column and the type it has.
pub(crate) fn date32(col: &Arc<dyn Array>, name: &str) -> Result<Arc<dyn Array>> {
    match col.data_type() {
        DataType::Date32 => Ok(Arc::clone(col)),
        DataType::Date64 | DataType::Timestamp(..) => Ok(arrow::compute::cast(col, &DataType::Date32)?),
        t => Err(Error::engine("result", format!("column {name:?} is {t}, expected a date"))),
    }
}

/// A numeric column cast to `to`, or an error naming the column and the type it has.
pub(crate) fn numeric(col: &Arc<dyn Array>, name: &str, to: &DataType) -> Result<Arc<dyn Array>> {
    let t = col.data_type();
    let ok = t.is_numeric() || matches!(t, DataType::Null) || (to.is_integer() && t.is_integer());
    if !ok || (to.is_integer() && t.is_floating()) {
        return Err(Error::engine(
            "result",
            format!("column {name:?} is {t}, expected {}", if to.is_integer() { "an integer" } else { "a number" }),
        ));
    }
    if t == to { Ok(Arc::clone(col)) } else { Ok(arrow::compute::cast(col, to)?) }
}

/// Rows that can be made again, batch by batch, whenever a scan asks: a table generated over
/// buffers already in memory (the long table of a wide one). An engine in this process may
/// keep the recipe instead of the rows; any other engine is sent the rows.
pub trait Replay: Send + Sync + std::fmt::Debug {
    fn schema(&self) -> SchemaRef;
    /// How many batches there are (once [`Replay::ready`]).
    fn batches(&self) -> usize;
    /// How many batches there are, where that is known before [`Replay::ready`] (a recipe
    /// sent later knows it only then): an engine deals them out to partitions by it.
    fn known_batches(&self) -> Option<usize> {
        Some(self.batches())
    }
    /// Batch `i` (`i < batches()`), made now.
    fn batch(&self, i: usize) -> Result<RecordBatch>;
    /// Columns the rows are sorted by, in order, when they are (ascending, no NULLs): an
    /// engine may then group or window without sorting.
    fn sorted_by(&self) -> &[&str] {
        &[]
    }
    /// Resolves once [`Replay::batch`] can make batches (a recipe over values still on
    /// their way waits for them), or fails with why it never will.
    fn ready(&self) -> futures::future::BoxFuture<'static, Result<()>> {
        Box::pin(futures::future::ready(Ok(())))
    }
    /// The rows' series view ([`crate::tables::SeriesView`]) as a recipe over the same
    /// buffers, named after `table`, when the recipe can make one (for an engine that keeps
    /// recipes).
    fn series(&self, _table: &str) -> Result<Option<Arc<dyn Replay>>> {
        Ok(None)
    }
}

/// Part `part` of `parts` of `replay`'s batches (batches `part`, `part + parts`, ..., in that
/// order), each made when it is pulled, once the recipe is ready (its batches are counted
/// then).
pub fn replay_stream(
    replay: Arc<dyn Replay>,
    part: usize,
    parts: usize,
) -> impl futures::Stream<Item = Result<RecordBatch>> + Send + 'static {
    use futures::StreamExt;
    futures::stream::once(replay.ready()).flat_map(move |ready| match ready {
        Ok(()) => {
            let replay = Arc::clone(&replay);
            let batches = part_batches(part, parts, replay.batches());
            futures::stream::iter(batches).map(move |i| replay.batch(i)).left_stream()
        }
        Err(e) => futures::stream::iter([Err(e)]).right_stream(),
    })
}

/// The batches of part `part` of `parts` among `batches`: `part`, `part + parts`, ... (batch `i`
/// to part `i mod parts`).
pub(crate) fn part_batches(part: usize, parts: usize, batches: usize) -> impl Iterator<Item = usize> + Send {
    (part..batches).step_by(parts.max(1))
}

/// A table to write: its name and its rows, streamed; `replay` when the rows can be made
/// again on demand (then `rows` streams the same batches).
#[derive(Debug)]
pub struct TableSource {
    pub name: String,
    pub rows: Rows,
    pub replay: Option<Arc<dyn Replay>>,
}

impl TableSource {
    pub fn from_batches(name: impl Into<String>, schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        TableSource { name: name.into(), rows: Rows::from_batches(schema, batches), replay: None }
    }

    /// A table of rows streamed as they come.
    pub fn streamed(name: impl Into<String>, rows: Rows) -> Self {
        TableSource { name: name.into(), rows, replay: None }
    }

    /// A table made by `replay`: its rows stream batch by batch, each made when it is read.
    pub fn replayable(name: impl Into<String>, replay: Arc<dyn Replay>) -> Self {
        let stream = replay_stream(Arc::clone(&replay), 0, 1);
        TableSource {
            name: name.into(),
            rows: Rows { schema: replay.schema(), stream: Box::pin(stream) },
            replay: Some(replay),
        }
    }
}

/// What an engine is asked to run.
#[derive(Debug, Clone, Copy)]
pub enum Query<'a> {
    /// A parsed statement: the engine prints it in its own dialect.
    Ast(&'a Statement),
    /// Text a user wrote for this engine, in its own dialect, passed through as it is.
    Native(&'a str),
}

/// Cheap facts about a table, for the rewriter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableStatistics {
    /// Row count, when the engine knows it without a scan.
    pub rows: Option<u64>,
}

/// What heavytune needs from a SQL engine.
#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    /// Which engine this is: its capabilities and dialect follow.
    fn kind(&self) -> EngineKind;
    /// What the engine can do (the rewrite rules read this, never the engine's name).
    fn capabilities(&self) -> Capabilities {
        self.kind().capabilities()
    }
    /// The dialect this engine's statements are printed in.
    fn dialect(&self) -> Dialect {
        self.kind().dialect()
    }
    /// The backend and where it is, for messages and reports (never a password).
    fn describe(&self) -> String;

    /// Runs one statement; its rows stream back (a statement without rows gives none).
    async fn query(&self, query: Query<'_>) -> Result<Rows>;
    /// The engine's plan of a statement as text; `analyze` runs it and adds measured times.
    async fn explain(&self, stmt: &Statement, analyze: bool) -> Result<String>;
    /// Writes stored tables, replacing any of the same names: all of them or none.
    async fn ingest(&self, tables: Vec<TableSource>) -> Result<()>;
    /// A table's schema; `Ok(None)` only when the engine says there is no such table (a
    /// failure to ask is an error, never "unknown table").
    async fn schema(&self, table: &str) -> Result<Option<SchemaRef>>;
    /// Cheap statistics of a table (no scan).
    async fn statistics(&self, table: &str) -> Result<TableStatistics>;
    /// Creates a table for this session only, shadowing a stored one of the same name.
    async fn create_temporary(&self, table: TableSource) -> Result<()>;
    /// Creates a table for this session only from a query.
    async fn create_temporary_as(&self, name: &str, query: &Statement) -> Result<()>;
    /// Drops a table made by [`Engine::create_temporary`] or [`Engine::create_temporary_as`]
    /// (the stored table it shadowed, if any, shows again). Never drops a stored table; a name
    /// that is no session table is no error.
    async fn drop_temporary(&self, name: &str) -> Result<()>;
    /// Whether a table made from a recipe ([`TableSource::replayable`]) is kept as the recipe
    /// and read when it is scanned (an engine in this process), so that the table can be made
    /// before its rows are known ([`late`]); other engines are sent the rows when the table is
    /// made.
    fn keeps_recipes(&self) -> bool {
        false
    }
    /// `stmt` planned now, to run later, as often as asked, without planning again (a
    /// prepared statement); `None` where the engine plans a statement only as it runs it.
    async fn prepare_statement(&self, _stmt: &Statement) -> Result<Option<Box<dyn PreparedStatement>>> {
        Ok(None)
    }
    /// For engines reached over a wire: bytes of result bodies received so far, and of those
    /// the bytes copied again while decoding them into Arrow arrays (0 when results are
    /// decoded without copying).
    fn wire_bytes(&self) -> Option<(u64, u64)> {
        None
    }
}

/// A statement an engine planned ahead ([`Engine::prepare_statement`]).
#[async_trait::async_trait]
pub trait PreparedStatement: Send + Sync {
    /// Runs the plan now, over what its tables hold now, and collects its rows.
    async fn run(&self) -> Result<QueryOutput>;
}

/// Runs a statement and collects its rows.
pub async fn fetch(engine: &dyn Engine, stmt: &Statement) -> Result<QueryOutput> {
    engine.query(Query::Ast(stmt)).await?.collect().await
}

/// Parses heavytune's own SQL text (generic dialect) and runs it; the engine prints it in its
/// dialect.
pub async fn fetch_sql(engine: &dyn Engine, sql: &str) -> Result<QueryOutput> {
    fetch(engine, &crate::templates::parse(sql)?).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int32Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    fn output() -> QueryOutput {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("v", DataType::Float64, true),
            Field::new("s", DataType::Utf8, false),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(Float64Array::from(vec![Some(0.5), None])),
                Arc::new(StringArray::from(vec!["a", "b"])),
            ],
        )
        .unwrap();
        QueryOutput { schema, batches: vec![b] }
    }

    #[test]
    fn typed_columns_are_checked_not_assumed() {
        let out = output();
        assert_eq!(out.i64s("id").unwrap(), [Some(1), Some(2)]);
        assert_eq!(out.f64s("v").unwrap(), [Some(0.5), None]);
        assert_eq!(out.f64s("id").unwrap(), [Some(1.0), Some(2.0)]);
        let e = out.i64s("s").unwrap_err().to_string();
        assert!(e.contains("\"s\"") && e.contains("Utf8"), "{e}");
        assert!(out.i64s("v").unwrap_err().to_string().contains("integer"));
        assert!(out.f64s("nope").unwrap_err().to_string().contains("columns: id, v, s"));
    }
}
