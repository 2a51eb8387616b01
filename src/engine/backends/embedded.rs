//! The embedded default engine: Apache DataFusion in this process, over a folder of Parquet
//! files.
//!
//! Each stored table is a folder `<db>/<name>.<stamp>/` of Parquet parts (written in
//! parallel); `<db>/catalog.json` lists the tables, so every later process registers the same
//! ones. An ingest writes new folders and commits them all at once by renaming a new catalog
//! into place. Tables a session creates (temporary tables, `CREATE TABLE AS`) live in memory
//! for the session only; a session table of a stored table's name hides it until dropped.
//!
//! Each batch an ingest receives becomes one Parquet row group of one part, whole: a loader
//! that cuts its batches at strategy boundaries therefore keeps every strategy's rows in one
//! scan partition, in order, so per-strategy sums run in day order on any thread count (the
//! session never repartitions rows on their way to a sum: see `session`).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Encoding;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sqlparser::ast::{AlterTableOperation, ObjectName, ObjectType, RenameTableNameKind, Statement};

use crate::engine::{Engine, EngineKind, Query, QueryOutput, Rows, TableSource, TableStatistics};
use crate::error::{Error, Result};

const CATALOG: &str = "catalog.json";
const CATALOG_FORMAT: u32 = 1;

/// Most rows per Parquet row group (an ingest's batches are smaller and each is its own).
const ROW_GROUP_ROWS: usize = 1024 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Catalog {
    format: u32,
    tables: BTreeMap<String, CatalogEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CatalogEntry {
    /// The table's folder (or file) under the database folder.
    file: String,
    rows: u64,
}

/// A statement's physical plan, made once by [`Embedded::plan_once`], with the session it runs
/// in.
pub struct Planned {
    plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    schema: SchemaRef,
    task: Arc<datafusion::execution::TaskContext>,
}

#[async_trait::async_trait]
impl crate::engine::PreparedStatement for Planned {
    /// Runs a fresh copy of the plan: an operator that keeps what it read (a join's collected
    /// build side) starts empty, so each run reads the tables as they are then.
    async fn run(&self) -> Result<QueryOutput> {
        let plan = datafusion::physical_plan::execution_plan::reset_plan_states(Arc::clone(&self.plan))?;
        let batches = super::partition_threads::collect(plan, Arc::clone(&self.task)).await?;
        Ok(QueryOutput { schema: Arc::clone(&self.schema), batches })
    }
}

/// DataFusion with an optional persistent Parquet database folder.
pub struct Embedded {
    db: Option<PathBuf>,
    ctx: SessionContext,
    threads: usize,
    /// Stored tables hidden by a session table of the same name.
    shadowed: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
    /// The folder each stored table was registered from (to see what [`Embedded::refresh`]
    /// must register again).
    registered: Mutex<HashMap<String, String>>,
}

fn session(threads: Option<usize>) -> (SessionContext, usize) {
    let threads = threads.unwrap_or_else(crate::engine::blocking::all_cores);
    // A strategy's rows must reach every SUM and AVG in day order, on every run. No
    // repartitioning stands between a scan and a summing operator:
    // - round robin deals a table's batches out to more partitions than it has, so a
    //   strategy's rows could be summed in two partials;
    // - hash repartitioning (DataFusion 55) coalesces the batches of all its inputs in one
    //   shared buffer and sends the completed batches after releasing it, so two batches of
    //   one input can overtake each other: a strategy cut by a batch boundary was sometimes
    //   summed second half first (6 runs in 1,200: tests/determinism_stress.rs).
    // So joins collect their build side and aggregates run partial per scan partition, then
    // final in one partition (a few ten thousand groups); windows still repartition, but they
    // sort by (strategy_id, seq) after it, which puts every strategy back in day order.
    let config = SessionConfig::new()
        .with_target_partitions(threads)
        .with_information_schema(true)
        .with_round_robin_repartition(false)
        .with_repartition_joins(false)
        .with_repartition_aggregations(false);
    // DataFusion's default logical rules but two: struct field pushdown (extract_leaf_expressions
    // and push_down_leaf_projections) moves each `get_field(s, 'f')` below the projection that
    // computes `s` once, so `get_field(ht_series_of(pnl), 'f')` was computed once per field
    // (11 times per strategy in strategy_stats); no table heavytune keeps has a struct column
    // that the pushdown could prune.
    let rules = datafusion::optimizer::Optimizer::new()
        .rules
        .into_iter()
        .filter(|r| !STRUCT_PUSHDOWN.contains(&r.name()))
        .collect();
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_optimizer_rules(rules)
        .with_physical_optimizer_rule(Arc::new(super::yielding_joins::YieldingJoins))
        .build();
    let ctx = SessionContext::new_with_state(state);
    for f in super::functions::all() {
        ctx.register_udaf(f);
    }
    for f in super::functions::scalars() {
        ctx.register_udf(f);
    }
    (ctx, threads)
}

/// DataFusion's logical rules the embedded sessions leave out (see [`session`]).
const STRUCT_PUSHDOWN: [&str; 2] = ["extract_leaf_expressions", "push_down_leaf_projections"];

impl Embedded {
    /// Opens (without creating) the database folder and registers its tables; `threads` caps
    /// the engine's parallelism (every core when `None`).
    pub async fn open(db: &Path, threads: Option<usize>) -> Result<Self> {
        let (ctx, threads) = session(threads);
        let engine = Embedded {
            db: Some(db.to_path_buf()),
            ctx,
            threads,
            shadowed: Mutex::default(),
            registered: Mutex::default(),
        };
        for (name, entry) in engine.read_catalog()?.tables {
            engine.register_stored(&name, &entry.file).await?;
        }
        Ok(engine)
    }

    /// The DataFusion session (for tests that look at what it planned or registered).
    #[cfg(test)]
    pub(crate) fn session(&self) -> &SessionContext {
        &self.ctx
    }

    /// `stmt` planned by DataFusion once, as far as its physical plan: [`Embedded::execute_planned`]
    /// runs that plan, as often as asked, without planning again (the engine's prepared
    /// statements, [`Engine::prepare_statement`]). Tables made over recipes are read when it
    /// runs.
    pub async fn plan_once(&self, stmt: &Statement) -> Result<Planned> {
        let df = self.dataframe(stmt).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        Ok(Planned { plan: df.create_physical_plan().await?, schema, task: self.ctx.task_ctx() })
    }

    /// The rows of a statement planned by [`Embedded::plan_once`], executed now.
    pub async fn execute_planned(&self, planned: &Planned) -> Result<QueryOutput> {
        crate::engine::PreparedStatement::run(planned).await
    }

    /// A session with no database folder: only session tables (a run over files uses this,
    /// so it never opens, or depends on, a database folder).
    pub fn in_memory(threads: Option<usize>) -> Self {
        let (ctx, threads) = session(threads);
        Embedded { db: None, ctx, threads, shadowed: Mutex::default(), registered: Mutex::default() }
    }

    fn db(&self) -> Result<&Path> {
        self.db.as_deref().ok_or_else(|| {
            Error::invalid("--db", "this engine session has no database folder (a run over --input files)")
        })
    }

    fn catalog_path(&self) -> Result<PathBuf> {
        Ok(self.db()?.join(CATALOG))
    }

    fn read_catalog(&self) -> Result<Catalog> {
        let Some(db) = &self.db else { return Ok(Catalog { format: CATALOG_FORMAT, ..Default::default() }) };
        let path = db.join(CATALOG);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Catalog { format: CATALOG_FORMAT, ..Default::default() });
            }
            Err(e) => return Err(db_io(&path, e)),
        };
        let catalog: Catalog = serde_json::from_str(&text).map_err(|e| Error::Catalog {
            path: path.display().to_string(),
            message: format!("not a heavytune catalog: {e}"),
        })?;
        if catalog.format != CATALOG_FORMAT {
            return Err(Error::Catalog {
                path: path.display().to_string(),
                message: format!("format {} is not supported (expected {CATALOG_FORMAT})", catalog.format),
            });
        }
        Ok(catalog)
    }

    /// Holds an exclusive lock on the database folder itself (released when dropped), so that
    /// two processes never interleave a read-modify-write of `catalog.json`.
    fn lock_catalog(&self) -> Result<fs::File> {
        let db = self.db()?;
        let folder = fs::File::open(db).map_err(|e| db_io(db, e))?;
        folder.lock().map_err(|e| db_io(db, e))?;
        Ok(folder)
    }

    fn write_catalog(&self, catalog: &Catalog, stamp: &str) -> Result<()> {
        let db = self.db()?;
        let tmp = db.join(format!(".{CATALOG}.tmp-{stamp}"));
        let text = serde_json::to_string_pretty(catalog)
            .map_err(|e| Error::internal(format!("the catalog does not serialize: {e}")))?;
        let path = self.catalog_path()?;
        fs::write(&tmp, text).and_then(|_| fs::rename(&tmp, &path)).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            db_io(&path, e)
        })
    }

    /// The location DataFusion reads a stored table from: a trailing separator makes it read
    /// the folder's Parquet files as one table.
    fn table_location(&self, file: &str) -> Result<String> {
        let path = self.db()?.join(file);
        let text = path.to_str().ok_or_else(|| Error::invalid("--db", format!("{} is not UTF-8", path.display())))?;
        Ok(if path.is_dir() { format!("{text}/") } else { text.to_owned() })
    }

    async fn register_stored(&self, name: &str, file: &str) -> Result<()> {
        let text = self.table_location(file)?;
        self.ctx.deregister_table(TableReference::bare(name))?;
        self.ctx.register_parquet(TableReference::bare(name), &text, ParquetReadOptions::default()).await?;
        self.registered().insert(name.to_owned(), file.to_owned());
        Ok(())
    }

    /// A stored table's provider, not registered under any name.
    async fn stored_provider(&self, file: &str) -> Result<Arc<dyn TableProvider>> {
        const SCRATCH: &str = "__heavytune_refresh";
        let text = self.table_location(file)?;
        self.ctx.register_parquet(TableReference::bare(SCRATCH), &text, ParquetReadOptions::default()).await?;
        self.ctx
            .deregister_table(TableReference::bare(SCRATCH))?
            .ok_or_else(|| Error::internal("a table registered a moment ago is gone"))
    }

    fn registered(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.registered.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_stored(&self, name: &str) -> Result<bool> {
        Ok(self.read_catalog()?.tables.contains_key(name))
    }

    fn shadowed(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn TableProvider>>> {
        self.shadowed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a session table under `name`, hiding a stored table of that name.
    fn register_session(&self, name: &str, provider: Arc<dyn TableProvider>) -> Result<()> {
        check_table_name(name)?;
        let old = self.ctx.deregister_table(TableReference::bare(name))?;
        if let Some(old) = old
            && !self.shadowed().contains_key(name)
            && self.is_stored(name)?
        {
            self.shadowed().insert(name.to_owned(), old);
        }
        self.ctx.register_table(TableReference::bare(name), provider)?;
        Ok(())
    }

    /// Drops a session table; a stored table it hid shows again. A stored table is no
    /// session table: it stays (false).
    fn drop_session(&self, name: &str) -> Result<bool> {
        if !self.shadowed().contains_key(name) && self.is_stored(name)? {
            return Ok(false);
        }
        let existed = self.ctx.deregister_table(TableReference::bare(name))?.is_some();
        if let Some(stored) = self.shadowed().remove(name) {
            self.ctx.register_table(TableReference::bare(name), stored)?;
        }
        Ok(existed)
    }

    /// Drops the series view of `table`, if the session holds one (a table of that name that is
    /// not the view stays).
    async fn drop_series_view(&self, table: &str) -> Result<()> {
        let view = crate::tables::SeriesView::name(table);
        if let Some(schema) = self.schema(&view).await?
            && crate::tables::SeriesView::from_schema(table, &schema).is_some()
        {
            self.drop_session(&view)?;
        }
        Ok(())
    }

    /// One memory table of `batches`, split into contiguous runs of batches, one per thread
    /// (contiguous, so rows keep their order within a partition).
    fn memory_table(&self, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<MemTable> {
        let n = self.threads.min(batches.len()).max(1);
        let per = batches.len().div_ceil(n).max(1);
        let mut partitions: Vec<Vec<RecordBatch>> = Vec::with_capacity(n);
        let mut it = batches.into_iter().peekable();
        while it.peek().is_some() {
            partitions.push(it.by_ref().take(per).collect());
        }
        if partitions.is_empty() {
            partitions.push(Vec::new());
        }
        Ok(MemTable::try_new(schema, partitions)?)
    }

    async fn dataframe(&self, stmt: &Statement) -> Result<DataFrame> {
        let plan = self
            .ctx
            .state()
            .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(stmt.clone())))
            .await?;
        Ok(self.ctx.execute_logical_plan(plan).await?)
    }

    /// An UPDATE, its WHERE's `IN (SELECT ...)` run first ([`super::update_in`]).
    async fn update(&self, stmt: &Statement) -> Result<Rows> {
        if let Statement::Update(u) = stmt
            && let sqlparser::ast::TableFactor::Table { name, .. } = &u.table.relation
            && let [part] = name.0.as_slice()
            && let Some(ident) = part.as_ident()
        {
            // As DataFusion resolves it: an unquoted name in lower case.
            let table = if ident.quote_style.is_none() { ident.value.to_lowercase() } else { ident.value.clone() };
            if self.is_stored(&table)? && !self.shadowed().contains_key(&table) {
                return Err(Error::engine(
                    "UPDATE",
                    format!(
                        "{table} is a stored table, which the embedded engine does not update: compute the changed \
                         values in a query (SELECT ... CASE WHEN ... END), or change the input files and load them \
                         again (heavytune load)"
                    ),
                ));
            }
        }
        let mut lists = Vec::new();
        for q in super::update_in::subqueries(stmt) {
            // A subquery that does not run on its own (a correlated one) stays as written.
            let answer = match self.dataframe(&Statement::Query(Box::new(q))).await {
                Ok(df) => {
                    let schema = Arc::new(df.schema().as_arrow().clone());
                    df.collect().await.ok().map(|batches| QueryOutput { schema, batches })
                }
                Err(_) => None,
            };
            lists.push(answer.as_ref().and_then(super::update_in::literals));
        }
        let mut stmt = stmt.clone();
        super::update_in::put_lists(&mut stmt, lists);
        rows_of(self.dataframe(&stmt).await?).await
    }

    /// `DROP TABLE`: session tables go (showing what they hid); a stored table leaves the
    /// catalog and its files are removed.
    async fn drop_tables(&self, names: &[ObjectName], if_exists: bool) -> Result<()> {
        for name in names {
            let name = single_name(name)?;
            if self.shadowed().contains_key(&name) || !self.is_stored(&name)? {
                if !self.drop_session(&name)? && !if_exists {
                    return Err(Error::engine("DROP TABLE", format!("no table named {name:?}")));
                }
                continue;
            }
            let lock = self.lock_catalog()?;
            let mut catalog = self.read_catalog()?;
            let Some(entry) = catalog.tables.remove(&name) else { continue };
            self.write_catalog(&catalog, &stamp())?;
            drop(lock);
            self.ctx.deregister_table(TableReference::bare(name.as_str()))?;
            self.registered().remove(&name);
            let path = self.db()?.join(entry.file);
            let _ = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        }
        Ok(())
    }

    /// `ALTER TABLE a RENAME TO b` for session tables (DataFusion has no ALTER TABLE).
    fn rename(&self, from: &ObjectName, to: &ObjectName) -> Result<()> {
        let (from, to) = (single_name(from)?, single_name(to)?);
        if self.is_stored(&from)? && !self.shadowed().contains_key(&from) {
            return Err(Error::engine(
                "ALTER TABLE",
                format!("{from:?} is a stored table; the embedded engine renames only this session's tables"),
            ));
        }
        let provider = self
            .ctx
            .deregister_table(TableReference::bare(from.as_str()))?
            .ok_or_else(|| Error::engine("ALTER TABLE", format!("no table named {from:?}")))?;
        if let Some(stored) = self.shadowed().remove(&from) {
            self.ctx.register_table(TableReference::bare(from.as_str()), stored)?;
        }
        self.register_session(&to, provider)
    }
}

/// Tables written to new folders of the database but not yet in its catalog: invisible to
/// every session until [`Embedded::commit`]; dropped uncommitted, their folders go.
#[derive(Debug, Default)]
pub struct Staged {
    db: PathBuf,
    stamp: String,
    /// (table name, folder under the database folder, rows).
    tables: Vec<(String, String, u64)>,
}

impl Staged {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, _, r)| r).sum()
    }

    fn remove_folders(&mut self) {
        for (_, folder, _) in self.tables.drain(..) {
            let _ = fs::remove_dir_all(self.db.join(folder));
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        self.remove_folders();
    }
}

impl Embedded {
    /// Writes `tables` into new folders without publishing them (the first half of an ingest):
    /// on an error nothing stays behind.
    pub async fn stage(&self, tables: Vec<TableSource>) -> Result<Staged> {
        for t in &tables {
            check_table_name(&t.name)?;
        }
        let db = self.db()?.to_path_buf();
        fs::create_dir_all(&db).map_err(|e| db_io(&db, e))?;
        let mut staged = Staged { db: db.clone(), stamp: stamp(), tables: Vec::with_capacity(tables.len()) };
        for t in tables {
            let folder = format!("{}.{}", t.name, staged.stamp);
            let path = db.join(&folder);
            fs::create_dir(&path).map_err(|e| db_io(&path, e))?;
            let name = t.name.clone();
            // Listed before writing, so a failed write is removed with the rest.
            staged.tables.push((name, folder, 0));
            let rows = write_parts(&path, t, self.threads).await?;
            if let Some(last) = staged.tables.last_mut() {
                last.2 = rows;
            }
        }
        Ok(staged)
    }

    /// Publishes staged tables, all at once (one atomic rename of the catalog), replacing any of
    /// the same names; the folders they replaced are removed after.
    pub async fn commit(&self, batches: Vec<Staged>) -> Result<()> {
        let stamp_of_commit = stamp();
        // Taken out of the staged sets: from here on the commit owns the folders.
        let all: Vec<(String, String, u64)> =
            batches.into_iter().flat_map(|mut b| std::mem::take(&mut b.tables)).collect();
        let db = self.db()?.to_path_buf();
        let committed = (|| {
            let _lock = self.lock_catalog()?;
            let mut catalog = self.read_catalog()?;
            let mut replaced = Vec::new();
            for (name, folder, rows) in &all {
                let entry = CatalogEntry { file: folder.clone(), rows: *rows };
                replaced.extend(catalog.tables.insert(name.clone(), entry).map(|old| old.file));
            }
            catalog.format = CATALOG_FORMAT;
            self.write_catalog(&catalog, &stamp_of_commit)?;
            Ok(replaced)
        })();
        let replaced = match committed {
            Ok(r) => r,
            Err(e) => {
                for (_, folder, _) in &all {
                    let _ = fs::remove_dir_all(db.join(folder));
                }
                return Err(e);
            }
        };
        for (name, folder, _) in &all {
            self.shadowed().remove(name);
            self.register_stored(name, folder).await?;
        }
        for old in replaced {
            // A table file of an older layout, or a folder: either way it is no longer listed.
            let path = db.join(old);
            let _ = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        }
        Ok(())
    }

    /// Registers the catalog's tables again where another session (another process, or another
    /// client of `heavytune serve`) changed it since: new and replaced tables show, dropped
    /// ones go. Session tables keep hiding stored ones of their names.
    pub async fn refresh(&self) -> Result<()> {
        if self.db.is_none() {
            return Ok(());
        }
        let catalog = self.read_catalog()?;
        let known: HashMap<String, String> = self.registered().clone();
        for (name, entry) in &catalog.tables {
            if known.get(name) != Some(&entry.file) {
                if self.shadowed().contains_key(name) {
                    let provider = self.stored_provider(&entry.file).await?;
                    self.shadowed().insert(name.clone(), provider);
                    self.registered().insert(name.clone(), entry.file.clone());
                } else {
                    self.register_stored(name, &entry.file).await?;
                }
            }
        }
        for name in known.keys().filter(|n| !catalog.tables.contains_key(*n)) {
            self.registered().remove(name);
            if self.shadowed().remove(name).is_none() {
                self.ctx.deregister_table(TableReference::bare(name.as_str()))?;
            }
        }
        Ok(())
    }

    /// The columns `sql` would return and the types of its `$n` parameters (unknown ones as
    /// NULL), planned without running it (a prepared statement's schemas).
    pub async fn prepare(&self, sql: &str) -> Result<(SchemaRef, SchemaRef)> {
        let ours = matches!(crate::templates::parse(sql), Ok(Statement::Drop { .. } | Statement::AlterTable(_)));
        if ours {
            let empty = Arc::new(arrow::datatypes::Schema::empty());
            return Ok((Arc::clone(&empty), empty));
        }
        let plan = self.ctx.state().create_logical_plan(sql).await?;
        let schema = Arc::new(plan.schema().as_arrow().clone());
        let mut types: Vec<(String, Option<DataType>)> = plan.get_parameter_types()?.into_iter().collect();
        types.sort_by_key(|(name, _)| name.trim_start_matches('$').parse::<usize>().unwrap_or(usize::MAX));
        let params = types
            .into_iter()
            .map(|(name, t)| arrow::datatypes::Field::new(name, t.unwrap_or(DataType::Null), true))
            .collect::<Vec<_>>();
        Ok((schema, Arc::new(arrow::datatypes::Schema::new(params))))
    }

    /// Runs `sql` with its `$1`, `$2`, ... parameters bound to `params`.
    pub async fn query_with_params(&self, sql: &str, params: Vec<datafusion::common::ScalarValue>) -> Result<Rows> {
        if params.is_empty() {
            return self.query(Query::Native(sql)).await;
        }
        let df = self.ctx.sql(sql).await?.with_param_values(params)?;
        rows_of(df).await
    }

    /// Every table a query can name: stored tables and this session's, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .ctx
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
            .map(|s| s.table_names())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Whether `name` is a table of this session only (not in the catalog, or hiding one).
    pub fn is_session_table(&self, name: &str) -> Result<bool> {
        Ok(self.shadowed().contains_key(name)
            || (self.ctx.table_exist(TableReference::bare(name))? && !self.is_stored(name)?))
    }
}

/// An I/O failure in the database folder: the engine's storage, so an engine error.
fn db_io(path: &Path, e: std::io::Error) -> Error {
    Error::engine("database folder", format!("{}: {e}", path.display()))
}

fn stamp() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    )
}

/// The table name of a one-part `ObjectName` (the embedded engine has one schema).
fn single_name(name: &ObjectName) -> Result<String> {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .map(|i| i.value.clone())
            .ok_or_else(|| Error::data("SQL", format!("{name} is not a table name"))),
        _ => Err(Error::data("SQL", format!("{name}: the embedded engine has one schema; use the bare table name"))),
    }
}

/// Parquet settings for our tables: no dictionary for float columns (their values rarely
/// repeat, so the attempt only costs time), delta encoding for integer and date columns,
/// chunk-level statistics only.
fn writer_properties(schema: &SchemaRef) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Chunk);
    for field in schema.fields() {
        let column = || ColumnPath::from(field.name().as_str());
        match field.data_type() {
            DataType::Float64 | DataType::Float32 => props = props.set_column_dictionary_enabled(column(), false),
            // Ids, day numbers and dates come in runs and steps: delta encoding stores them in
            // a few bits without hashing every value into a dictionary.
            DataType::Int32 | DataType::Int64 | DataType::Date32 => {
                props = props
                    .set_column_dictionary_enabled(column(), false)
                    .set_column_encoding(column(), Encoding::DELTA_BINARY_PACKED)
            }
            _ => {}
        }
    }
    props.build()
}

/// Table names are identifiers we also use as file names.
fn check_table_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("table name", format!("{name:?}: use letters, digits and '_', starting with a letter")))
    }
}

/// Writes one table's stream into `parts` Parquet files in parallel, each batch one row group
/// of one part; returns the rows written.
async fn write_parts(folder: &Path, table: TableSource, parts: usize) -> Result<u64> {
    let schema = Arc::clone(&table.rows.schema);
    let props = writer_properties(&schema);
    let mut senders = Vec::with_capacity(parts);
    let mut writers = Vec::with_capacity(parts);
    for p in 0..parts {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
        let path = folder.join(format!("part-{p}.parquet"));
        let (schema, props) = (Arc::clone(&schema), props.clone());
        writers.push(tokio::task::spawn_blocking(move || -> Result<u64> {
            let file = fs::File::create(&path).map_err(|e| db_io(&path, e))?;
            let mut writer =
                ArrowWriter::try_new(std::io::BufWriter::with_capacity(1 << 20, file), schema, Some(props))?;
            let mut rows = 0u64;
            while let Some(batch) = rx.blocking_recv() {
                writer.write(&batch)?;
                // One row group per batch: a batch's rows stay in one scan partition.
                writer.flush()?;
                rows += batch.num_rows() as u64;
            }
            writer.close()?;
            Ok(rows)
        }));
        senders.push(tx);
    }
    let mut stream = table.rows.stream;
    let mut failed = None;
    let mut next = 0usize;
    while let Some(batch) = stream.next().await {
        match batch {
            Ok(b) if b.num_rows() == 0 => {}
            Ok(b) => {
                if senders[next % parts].send(b).await.is_err() {
                    break; // that writer failed: its error comes back below
                }
                next += 1;
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(senders);
    let mut rows = 0;
    let mut first_error = failed;
    for w in writers {
        match w.await {
            Ok(Ok(r)) => rows += r,
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(Error::internal(format!("a Parquet writer stopped: {e}")));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(rows),
    }
}

async fn rows_of(df: DataFrame) -> Result<Rows> {
    let schema = Arc::new(df.schema().as_arrow().clone());
    let stream = df.execute_stream().await?.map(|b| b.map_err(Error::from));
    Ok(Rows { schema, stream: Box::pin(stream) })
}

#[async_trait::async_trait]
impl Engine for Embedded {
    fn kind(&self) -> EngineKind {
        EngineKind::Datafusion
    }

    fn describe(&self) -> String {
        match &self.db {
            Some(db) => format!("datafusion ({})", db.display()),
            None => "datafusion (session only)".to_owned(),
        }
    }

    async fn query(&self, query: Query<'_>) -> Result<Rows> {
        let df = match query {
            Query::Native(text) => {
                let stmt = crate::templates::parse(text);
                match stmt {
                    // Statements DataFusion itself does not run are ours to handle.
                    Ok(s @ (Statement::Drop { .. } | Statement::AlterTable(_) | Statement::Update(_))) => {
                        return self.query(Query::Ast(&s)).await;
                    }
                    _ => self.ctx.sql(text).await?,
                }
            }
            Query::Ast(Statement::Drop { object_type: ObjectType::Table, names, if_exists, .. }) => {
                self.drop_tables(names, *if_exists).await?;
                return Ok(Rows::from_batches(Arc::new(arrow::datatypes::Schema::empty()), Vec::new()));
            }
            Query::Ast(Statement::AlterTable(alter)) => {
                let [
                    AlterTableOperation::RenameTable {
                        table_name: RenameTableNameKind::To(to) | RenameTableNameKind::As(to),
                    },
                ] = alter.operations.as_slice()
                else {
                    return Err(Error::engine(
                        "ALTER TABLE",
                        "the embedded engine supports only ALTER TABLE ... RENAME TO",
                    ));
                };
                self.rename(&alter.name, to)?;
                return Ok(Rows::from_batches(Arc::new(arrow::datatypes::Schema::empty()), Vec::new()));
            }
            Query::Ast(stmt @ Statement::Update(_)) => return self.update(stmt).await,
            Query::Ast(stmt) => self.dataframe(stmt).await?,
        };
        rows_of(df).await
    }

    async fn explain(&self, stmt: &Statement, analyze: bool) -> Result<String> {
        let out = self.dataframe(stmt).await?.explain(false, analyze)?.collect().await?;
        Ok(arrow::util::pretty::pretty_format_batches(&out)?.to_string())
    }

    async fn ingest(&self, tables: Vec<TableSource>) -> Result<()> {
        let staged = self.stage(tables).await?;
        self.commit(vec![staged]).await
    }

    async fn schema(&self, table: &str) -> Result<Option<SchemaRef>> {
        if !self.ctx.table_exist(TableReference::bare(table))? {
            return Ok(None);
        }
        Ok(Some(self.ctx.table_provider(TableReference::bare(table)).await?.schema()))
    }

    async fn statistics(&self, table: &str) -> Result<TableStatistics> {
        if self.shadowed().contains_key(table) {
            return Ok(TableStatistics::default());
        }
        Ok(TableStatistics { rows: self.read_catalog()?.tables.get(table).map(|e| e.rows) })
    }

    async fn create_temporary(&self, table: TableSource) -> Result<()> {
        if let Some(replay) = &table.replay {
            // Kept as its recipe: every scan makes the batches again, so the session holds
            // nothing but the buffers the recipe shares.
            let provider = super::replayed::table(Arc::clone(replay))?;
            self.register_session(&table.name, provider)?;
            // Its series view beside it, over the same buffers (or none, replacing an old one).
            self.drop_series_view(&table.name).await?;
            if let Some(view) = replay.series(&table.name)? {
                let provider = super::replayed::dealt(view, self.threads)?;
                self.register_session(&crate::tables::SeriesView::name(&table.name), provider)?;
            }
            return Ok(());
        }
        let schema = Arc::clone(&table.rows.schema);
        let batches = table.rows.collect().await?.batches;
        let mem = self.memory_table(schema, batches)?;
        self.register_session(&table.name, Arc::new(mem))
    }

    async fn create_temporary_as(&self, name: &str, query: &Statement) -> Result<()> {
        let df = self.dataframe(query).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        // The plan's own partitions, each in its order.
        let partitions = df.collect_partitioned().await?;
        let mem = Arc::new(MemTable::try_new(schema, partitions)?);
        self.register_session(name, mem)
    }

    fn keeps_recipes(&self) -> bool {
        true
    }

    async fn prepare_statement(&self, stmt: &Statement) -> Result<Option<Box<dyn crate::engine::PreparedStatement>>> {
        Ok(Some(Box::new(self.plan_once(stmt).await?)))
    }

    async fn drop_temporary(&self, name: &str) -> Result<()> {
        if self.drop_session(name)? {
            // A series view goes with its table (it holds the table's buffers).
            self.drop_series_view(name).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::{Blocking, fetch_sql};
    use arrow::array::{Float64Array, Int32Array};
    use arrow::datatypes::{Field, Schema};

    fn table(name: &str, n: i32) -> TableSource {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("v", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from_iter_values(0..n)),
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64 * 0.5))),
            ],
        )
        .unwrap();
        TableSource::from_batches(name, schema, vec![batch])
    }

    fn rt() -> Blocking {
        Blocking::new(Some(2)).unwrap()
    }

    /// A statement planned once gives, every time it runs, the rows the statement gives when
    /// planned anew, and a plan's errors are DataFusion's (naming the missing table).
    #[test]
    fn a_statement_planned_once_runs_again_alike() {
        let rt = rt();
        rt.run(async {
            let e = Embedded::in_memory(Some(2));
            e.create_temporary(table("t", 50)).await?;
            let sql = "SELECT id, v * 2 AS w FROM t WHERE id % 3 = 1 ORDER BY id DESC";
            let stmt = crate::templates::parse(sql)?;
            let want = fetch_sql(&e, sql).await?;
            assert_eq!(want.num_rows(), 17);
            let planned = e.plan_once(&stmt).await?;
            for _ in 0..2 {
                let got = e.execute_planned(&planned).await?;
                assert_eq!(got.schema, want.schema);
                assert_eq!(got.batches, want.batches);
            }
            let missing = crate::templates::parse("SELECT id FROM nowhere")?;
            let err = e.plan_once(&missing).await.err().expect("no table nowhere");
            assert!(err.to_string().contains("nowhere"), "{err}");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn tables_persist_across_processes() {
        let dir = tempfile::tempdir().unwrap();
        let rt = rt();
        rt.run(async {
            Embedded::open(dir.path(), None).await?.ingest(vec![table("t", 10)]).await?;
            let reopened = Embedded::open(dir.path(), None).await?;
            let out = fetch_sql(&reopened, "SELECT count(*) AS n, sum(v) AS s FROM t").await?;
            let b = &out.batches[0];
            assert_eq!(b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().value(0), 10);
            assert_eq!(b.column(1).as_any().downcast_ref::<Float64Array>().unwrap().value(0), 22.5);
            assert_eq!(reopened.statistics("t").await?, TableStatistics { rows: Some(10) });
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn staged_tables_show_after_commit_and_other_sessions_see_them_on_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let a = rt.run(Embedded::open(dir.path(), Some(1))).unwrap();
        let b = rt.run(Embedded::open(dir.path(), Some(1))).unwrap();
        let staged = rt.run(a.stage(vec![table("t", 5)])).unwrap();
        assert_eq!(staged.rows(), 5);
        assert!(rt.run(a.schema("t")).unwrap().is_none(), "staged is not published");
        rt.run(a.commit(vec![staged])).unwrap();
        assert!(rt.run(a.schema("t")).unwrap().is_some());
        // b registered its tables before the commit: it sees t after a refresh.
        assert!(rt.run(b.schema("t")).unwrap().is_none());
        rt.run(b.refresh()).unwrap();
        assert_eq!(rt.run(fetch_sql(&b, "SELECT COUNT(*) AS n FROM t")).unwrap().i64s("n").unwrap(), [Some(5)]);
        // A staged set dropped uncommitted leaves no folder behind.
        let before: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        drop(rt.run(a.stage(vec![table("u", 3)])).unwrap());
        let after: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(before.len(), after.len());
        // A table dropped by one session goes from the other's on refresh.
        rt.run(a.query(Query::Native("DROP TABLE t"))).unwrap();
        rt.run(b.refresh()).unwrap();
        assert!(rt.run(b.schema("t")).unwrap().is_none());
        assert!(b.table_names().is_empty(), "{:?}", b.table_names());
    }

    #[test]
    fn reingest_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        rt().run(async {
            let e = Embedded::open(dir.path(), None).await?;
            e.ingest(vec![table("t", 10)]).await?;
            e.ingest(vec![table("t", 3)]).await?;
            assert_eq!(fetch_sql(&e, "SELECT * FROM t").await?.num_rows(), 3);
            Ok(())
        })
        .unwrap();
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|d| d.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 2, "catalog.json and one folder for t: {names:?}");
    }

    #[test]
    fn empty_tables_keep_their_schema() {
        let dir = tempfile::tempdir().unwrap();
        rt().run(async {
            let e = Embedded::open(dir.path(), None).await?;
            let t = table("t", 1);
            e.ingest(vec![TableSource::from_batches("t", t.rows.schema, vec![])]).await?;
            let out = fetch_sql(&Embedded::open(dir.path(), None).await?, "SELECT id, v FROM t").await?;
            assert_eq!((out.num_rows(), out.schema.fields().len()), (0, 2));
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn bad_table_names_and_sql_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        rt().run(async {
            let e = Embedded::open(dir.path(), None).await?;
            assert!(e.ingest(vec![table("../x", 1)]).await.is_err());
            assert!(e.query(Query::Native("SELEC 1")).await.is_err());
            assert!(e.explain(&crate::templates::parse("SELECT 1")?, false).await?.contains("plan"));
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn session_tables_hide_stored_ones_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        rt().run(async {
            let e = Embedded::open(dir.path(), None).await?;
            e.ingest(vec![table("t", 5)]).await?;
            e.create_temporary(table("t", 2)).await?;
            assert_eq!(fetch_sql(&e, "SELECT * FROM t").await?.num_rows(), 2);
            assert_eq!(e.statistics("t").await?.rows, None, "the session table has no catalog count");
            // A CTAS result renamed over it, as update_to_ctas's follow-ups do.
            e.query(Query::Native("CREATE TABLE t_ctas AS SELECT * FROM t WHERE id = 0")).await?.count().await?;
            fetch_sql(&e, "DROP TABLE t").await?;
            fetch_sql(&e, "ALTER TABLE t_ctas RENAME TO t").await?;
            assert_eq!(fetch_sql(&e, "SELECT * FROM t").await?.num_rows(), 1);
            e.drop_temporary("t").await?;
            assert_eq!(fetch_sql(&e, "SELECT * FROM t").await?.num_rows(), 5, "the stored table shows again");
            assert!(e.schema("t_ctas").await?.is_none());
            assert!(e.schema("nope").await?.is_none());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn drop_table_removes_a_stored_table_for_good() {
        let dir = tempfile::tempdir().unwrap();
        rt().run(async {
            let e = Embedded::open(dir.path(), None).await?;
            e.ingest(vec![table("t", 5), table("u", 1)]).await?;
            e.query(Query::Native("DROP TABLE t")).await?;
            let reopened = Embedded::open(dir.path(), None).await?;
            assert!(reopened.schema("t").await?.is_none());
            assert!(reopened.schema("u").await?.is_some());
            assert!(e.query(Query::Native("DROP TABLE t")).await.is_err());
            e.query(Query::Native("DROP TABLE IF EXISTS t")).await?;
            Ok(())
        })
        .unwrap();
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|d| d.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 2, "catalog.json and u's folder: {names:?}");
    }

    #[test]
    fn a_session_without_a_folder_refuses_to_store() {
        rt().run(async {
            let e = Embedded::in_memory(Some(1));
            let err = e.ingest(vec![table("t", 1)]).await.unwrap_err().to_string();
            assert!(err.contains("no database folder"), "{err}");
            e.create_temporary(table("t", 3)).await?;
            assert_eq!(fetch_sql(&e, "SELECT * FROM t").await?.num_rows(), 3);
            Ok(())
        })
        .unwrap();
    }

    /// Collects every repartition in `plan` whose parent is not a sort (a sort by strategy and
    /// day restores each strategy's day order whatever order the repartition delivered).
    fn repartitions_only_under_sorts(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>, bad: &mut Vec<String>) {
        for child in plan.children() {
            if child.name() == "RepartitionExec" && plan.name() != "SortExec" {
                bad.push(format!(
                    "{} over {}",
                    plan.name(),
                    datafusion::physical_plan::displayable(child.as_ref()).one_line()
                ));
            }
            repartitions_only_under_sorts(child, bad);
        }
    }

    /// Per-strategy sums must see each strategy's rows in day order on every run (issue 9): no
    /// stage template's plan on a stored table of several scan partitions may repartition rows
    /// on their way to a SUM, AVG or join, only on their way to a sort.
    #[test]
    fn stage_plans_never_repartition_rows_on_their_way_to_a_sum() {
        use crate::tables::TableNames;
        use crate::templates::{Params, bind, find};
        let dir = tempfile::tempdir().unwrap();
        let rt = Blocking::new(Some(3)).unwrap();
        rt.run(async {
            let wide = crate::synth::generate(&crate::synth::SynthConfig { strategies: 60, days: 12, seed: 3 });
            let names = TableNames::for_table("pnl");
            Embedded::open(dir.path(), Some(3)).await?.ingest(crate::ingest::table_sources(wide, &names)?).await?;
            let e = Embedded::open(dir.path(), Some(3)).await?;
            let params = Params { tables: Some(names), inverted: Some(vec![1, 4]), ..Params::default() };
            let mut checked = Vec::new();
            for name in
                ["ulta_strategies", "ulta_pnl", "ulta_report", "strategy_stats", "strategy_metrics", "standardize"]
            {
                let stmt = bind(find(name)?, &params)?;
                let query = match &stmt {
                    Statement::CreateTable(ct) => {
                        let query = Statement::Query(ct.query.clone().expect("a CREATE TABLE AS template"));
                        e.create_temporary_as(&ct.name.to_string(), &query).await?;
                        query
                    }
                    other => other.clone(),
                };
                let plan = e.dataframe(&query).await?.create_physical_plan().await?;
                assert!(
                    datafusion::physical_plan::displayable(plan.as_ref())
                        .indent(false)
                        .to_string()
                        .contains("DataSourceExec: file_groups={3 groups"),
                    "{name}: the test needs scans of several partitions"
                );
                let mut bad = Vec::new();
                repartitions_only_under_sorts(&plan, &mut bad);
                assert!(bad.is_empty(), "{name}: rows repartitioned on their way to {bad:?}");
                checked.push(name);
            }
            assert_eq!(checked.len(), 6);
            Ok(())
        })
        .unwrap();
    }
}
