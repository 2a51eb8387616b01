//! A SQL server over ODBC (`odbc://<connection string>`, `heavydb://USER@HOST[:PORT]/DB`):
//! HeavyDB in production, PostgreSQL in the tests.
//!
//! The server says what it is (`SQL_DBMS_NAME`) when the connection opens; statements are
//! printed in its dialect and the rewrite rules read its capabilities. Results come back
//! through arrow-odbc's columnar reader as Arrow batches; tables go in through arrow-odbc's
//! writer, whole batches bound as parameter arrays. ODBC is blocking: every call runs on
//! tokio's blocking pool, one at a time on the session's one connection (a session's
//! temporary tables live on it).

mod connection_string;
mod ddl;
mod drivers;
mod errors;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use arrow_odbc::{OdbcReaderBuilder, OdbcWriter};
use odbc_api::{Connection, ConnectionOptions};
use sqlparser::ast::Statement;

use connection_string::ConnectionString;
pub use connection_string::redact;
use ddl::create_table;
pub use ddl::stored_tables;

use crate::dialect::{Dialect, print};
use crate::engine::{ConnectOptions, Engine, EngineKind, EngineUrl, Query, Rows, TableSource, TableStatistics};
use crate::error::{Error, Result};
use crate::tables::TableNames;
use crate::templates::quote_ident;
use errors::{arrow_odbc_error, connect_error, statement_error};

/// Rows per fetched batch and per bound parameter array (see reports/README.md, "ODBC").
pub const DEFAULT_BATCH_ROWS: usize = 8_192;
/// The environment variable that overrides [`DEFAULT_BATCH_ROWS`] (for measuring).
pub const BATCH_ROWS_VAR: &str = "HEAVYTUNE_ODBC_BATCH_ROWS";
/// Longest text value fetched (bytes); drivers that report no length for TEXT get this buffer.
const MAX_TEXT_BYTES: usize = 4096;
/// Largest fetch buffer per batch.
const MAX_BATCH_BYTES: usize = 64 << 20;
/// Rows per INSERT statement on PostgreSQL (a multi-row VALUES list; see reports/README.md,
/// "ODBC"); HeavyDB gets one row a statement, its documented form with parameters.
pub const DEFAULT_ROWS_PER_INSERT: usize = 1_000;
/// The environment variable that overrides [`DEFAULT_ROWS_PER_INSERT`] (for measuring).
pub const ROWS_PER_INSERT_VAR: &str = "HEAVYTUNE_ODBC_ROWS_PER_INSERT";
/// Most parameters one statement may carry (PostgreSQL's protocol limit).
const MAX_PARAMETERS: usize = 65_535;
/// Prefix of the staging tables a load writes on servers without transactions.
const STAGE_PREFIX: &str = "ht_stage_";

/// A server reached through an ODBC driver.
pub struct Odbc {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Mutex<Connection<'static>>,
    kind: EngineKind,
    /// The server's own name and version, as the driver reports them.
    dbms: String,
    /// The connection string as it may be printed.
    shown: String,
    timeout: Option<usize>,
    batch_rows: usize,
    /// Rows per INSERT statement (parameter sets of that many rows).
    rows_per_insert: usize,
    /// Session tables this session created (the only ones `drop_temporary` drops).
    temporaries: Mutex<BTreeSet<String>>,
}

/// The engine a driver's `SQL_DBMS_NAME` names.
pub fn kind_of_dbms(name: &str) -> Option<EngineKind> {
    let n = name.to_ascii_lowercase();
    if n.contains("postgres") {
        Some(EngineKind::Postgres)
    } else if ["heavy", "omnisci", "mapd"].iter().any(|h| n.contains(h)) {
        Some(EngineKind::Heavydb)
    } else {
        None
    }
}

/// A positive row count from `var`, else `default`.
fn rows_setting(var: &'static str, default: usize) -> Result<usize> {
    match std::env::var(var) {
        Err(_) => Ok(default),
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::invalid(var, format!("{v:?} is not a positive number of rows"))),
    }
}

impl Odbc {
    /// Connects: `odbc://` passes its connection string to the driver manager unchanged (the
    /// user and the password added from the options where it names none); `heavydb://` builds
    /// one for HeavyDB's driver.
    pub async fn connect(url: &EngineUrl, options: &ConnectOptions) -> Result<Odbc> {
        let mut cs = match url.scheme.as_str() {
            "heavydb" => connection_string::heavydb(&url.rest)?,
            _ => ConnectionString::parse(&url.rest).map_err(|message| Error::EngineUrl {
                url: url.redacted(),
                message: format!("the ODBC connection string does not parse: {message}"),
            })?,
        };
        if cs.attributes.is_empty() {
            return Err(Error::EngineUrl {
                url: url.redacted(),
                message: "the connection string is empty: odbc://DSN=name;... or odbc://Driver={...};Server=...;..."
                    .into(),
            });
        }
        if !cs.has_user()
            && let Some(user) = &options.user
        {
            cs.push("UID", user);
        }
        if !cs.has_password()
            && let Some(password) = &options.password
        {
            cs.push("PWD", password.expose());
        }
        let shown = format!("{}://{}", url.scheme, cs.redacted());
        let driver = cs.get("Driver").map(str::to_owned);
        drivers::resolve(&mut cs);
        let dsn = cs.get("DSN").map(str::to_owned);
        let timeout = options.timeout.map(|t| t.as_secs().max(1) as usize);
        let login_timeout = options.timeout.unwrap_or(Duration::from_secs(30)).as_secs().max(1) as u32;
        let text = cs.to_driver_text();
        let batch_rows = rows_setting(BATCH_ROWS_VAR, DEFAULT_BATCH_ROWS)?;
        let rows_per_insert = rows_setting(ROWS_PER_INSERT_VAR, DEFAULT_ROWS_PER_INSERT)?;
        let inner = blocking(move || {
            let env = odbc_api::environment()
                .map_err(|e| Error::engine("odbc", format!("the ODBC driver manager failed to start: {e}")))?;
            let options = ConnectionOptions { login_timeout_sec: Some(login_timeout), ..ConnectionOptions::default() };
            let connection = env
                .connect_with_connection_string(&text, options)
                .map_err(|e| connect_error(e, driver.as_deref(), dsn.as_deref()))?;
            let dbms = connection
                .database_management_system_name()
                .map_err(|e| statement_error(&e, "odbc: the server's name (SQL_DBMS_NAME)"))?;
            let kind = kind_of_dbms(&dbms).ok_or_else(|| {
                Error::engine(
                    "odbc",
                    format!("the server is {dbms:?}; heavytune speaks HeavyDB's and PostgreSQL's SQL over ODBC"),
                )
            })?;
            Ok(Inner {
                connection: Mutex::new(connection),
                rows_per_insert: if kind == EngineKind::Postgres { rows_per_insert } else { 1 },
                kind,
                dbms,
                shown,
                timeout,
                batch_rows,
                temporaries: Mutex::new(BTreeSet::new()),
            })
        })
        .await?;
        Ok(Odbc { inner: Arc::new(inner) })
    }

    /// The load path of servers without transactions (HeavyDB: staging tables renamed into
    /// place), run whatever the server is, so the tests can run it against PostgreSQL.
    #[doc(hidden)]
    pub async fn ingest_staged(&self, tables: Vec<TableSource>) -> Result<()> {
        let received_tables = received_all(tables).await?;
        self.with(move |inner| inner.ingest_staged(&*inner.lock()?, &received_tables)).await
    }

    /// Runs `f` with the session on the blocking pool.
    async fn with<T: Send + 'static>(&self, f: impl FnOnce(&Inner) -> Result<T> + Send + 'static) -> Result<T> {
        let inner = Arc::clone(&self.inner);
        blocking(move || f(&inner)).await
    }

    fn dialect_of(&self) -> Dialect {
        self.inner.kind.dialect()
    }
}

/// Runs blocking ODBC work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::internal(format!("an ODBC call failed to finish: {e}")))?
}

impl Inner {
    fn lock(&self) -> Result<MutexGuard<'_, Connection<'static>>> {
        self.connection.lock().map_err(|_| Error::internal("an earlier ODBC call panicked; reconnect"))
    }

    /// Runs one statement and collects its rows (none for a statement without a result).
    fn run(
        &self,
        connection: &Connection<'static>,
        sql: &str,
        what: &'static str,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let cursor = connection.execute(sql, (), self.timeout).map_err(|e| statement_error(&e, what))?;
        let Some(mut cursor) = cursor else {
            return Ok((Arc::new(Schema::empty()), Vec::new()));
        };
        let schema = wide_floats(
            arrow_odbc::arrow_schema_from(&mut cursor, Some(&self.dbms), false)
                .map_err(|e| arrow_odbc_error(&e, what))?,
        );
        let reader = OdbcReaderBuilder::new()
            .with_schema(schema)
            .with_max_num_rows_per_batch(self.batch_rows)
            .with_max_bytes_per_batch(MAX_BATCH_BYTES)
            .with_max_text_size(MAX_TEXT_BYTES)
            .with_dbms_name(self.dbms.clone())
            .build(cursor)
            .map_err(|e| arrow_odbc_error(&e, what))?;
        let schema = reader.schema();
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| arrow_odbc_error(&e, what))?;
        Ok((schema, batches))
    }

    fn execute(&self, connection: &Connection<'static>, sql: &str, what: &'static str) -> Result<()> {
        connection.execute(sql, (), self.timeout).map_err(|e| statement_error(&e, what))?;
        Ok(())
    }

    /// Inserts `batches` into `table`, in their order: `rows_per_insert` rows per statement,
    /// statements bound to parameter arrays of `batch_rows` rows in all.
    fn insert(
        &self,
        connection: &Connection<'static>,
        table: &str,
        schema: &Schema,
        batches: &[RecordBatch],
    ) -> Result<u64> {
        let (schema, batches) = writable(schema, batches)?;
        let all = arrow::compute::concat_batches(&schema, &batches)?;
        let total = all.num_rows();
        let per_statement = self.rows_per_insert.min(MAX_PARAMETERS / schema.fields().len().max(1)).max(1);
        // Whole groups of `per_statement` rows through one multi-row statement each, the rest
        // a row a parameter set; each statement bound to arrays of `batch_rows` rows in all.
        let grouped = if per_statement > 1 { total / per_statement * per_statement } else { 0 };
        if grouped > 0 {
            let wide = regroup(&all.slice(0, grouped), per_statement)?;
            self.insert_arrays(connection, table, &schema, per_statement, &wide)?;
        }
        if total > grouped {
            self.insert_arrays(connection, table, &schema, 1, &all.slice(grouped, total - grouped))?;
        }
        Ok(total as u64)
    }

    /// `INSERT INTO table (columns) VALUES (?, ...), ...` with `rows` row groups, executed
    /// with `batch` as parameter arrays (one parameter set per row of `batch`).
    fn insert_arrays(
        &self,
        connection: &Connection<'static>,
        table: &str,
        schema: &Schema,
        rows: usize,
        batch: &RecordBatch,
    ) -> Result<()> {
        let columns: Vec<String> = schema.fields().iter().map(|f| quote_ident(f.name())).collect();
        let group = format!("({})", vec!["?"; columns.len()].join(", "));
        let values = vec![group; rows].join(", ");
        let sql = format!("INSERT INTO {} ({}) VALUES {values}", quote_ident(table), columns.join(", "));
        let prepared = connection.prepare(&sql).map_err(|e| statement_error(&e, "odbc: preparing the insert"))?;
        let sets = (self.batch_rows / rows).max(1);
        let mut writer =
            OdbcWriter::new(sets, &batch.schema(), prepared).map_err(|e| arrow_odbc_error(&e, "odbc: insert"))?;
        writer.write_batch(batch).map_err(|e| arrow_odbc_error(&e, "odbc: insert"))?;
        writer.flush().map_err(|e| arrow_odbc_error(&e, "odbc: insert"))?;
        Ok(())
    }

    fn create_and_fill(
        &self,
        connection: &Connection<'static>,
        table: &TableSourceBatches,
        temporary: bool,
    ) -> Result<()> {
        let ddl = create_table(&table.name, &table.schema, temporary, self.kind.name())?;
        self.execute(connection, &print(&ddl, self.kind.dialect())?, "odbc: create table")?;
        self.insert(connection, &table.name, &table.schema, &table.batches)?;
        Ok(())
    }
}

/// The result schema with every floating column as Float64. Drivers describe a double as
/// `SQL_FLOAT(p)` with `p` in decimal digits (psqlODBC: 17), which arrow-odbc reads as binary
/// precision and maps to Float32, losing half the bits; a real column read as a double loses
/// nothing.
fn wide_floats(schema: Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Float32 | DataType::Float16 => Field::new(f.name(), DataType::Float64, f.is_nullable()),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// `batch` (a multiple of `k` rows) as parameter sets of `k` rows each: row `i` of the result
/// holds rows `i*k .. i*k+k` side by side, column `j*n + c` being column `c` of row `i*k + j`.
fn regroup(batch: &RecordBatch, k: usize) -> Result<RecordBatch> {
    let sets = batch.num_rows() / k;
    let mut fields = Vec::with_capacity(k * batch.num_columns());
    let mut columns = Vec::with_capacity(k * batch.num_columns());
    for j in 0..k {
        let rows = arrow::array::UInt32Array::from_iter_values((0..sets).map(|i| (i * k + j) as u32));
        for (c, f) in batch.schema().fields().iter().enumerate() {
            fields.push(Field::new(format!("r{j}_{}", f.name()), f.data_type().clone(), f.is_nullable()));
            columns.push(arrow::compute::take(batch.column(c), &rows, None)?);
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// Batches as arrow-odbc's writer takes them: dictionary-encoded text as plain text.
fn writable(schema: &Schema, batches: &[RecordBatch]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let plain = |t: &DataType| match t {
        DataType::Dictionary(_, v) => (**v).clone(),
        t => t.clone(),
    };
    let fields: Vec<Field> =
        schema.fields().iter().map(|f| Field::new(f.name(), plain(f.data_type()), f.is_nullable())).collect();
    let target = Arc::new(Schema::new(fields));
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let columns = b
            .columns()
            .iter()
            .zip(target.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() { Ok(Arc::clone(c)) } else { arrow::compute::cast(c, f.data_type()) }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        out.push(RecordBatch::try_new(Arc::clone(&target), columns)?);
    }
    Ok((target, out))
}

/// A table to write, its rows already received.
struct TableSourceBatches {
    name: String,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

async fn received(table: TableSource) -> Result<TableSourceBatches> {
    let schema = Arc::clone(&table.rows.schema);
    let batches = table.rows.collect().await?.batches;
    Ok(TableSourceBatches { name: table.name, schema, batches })
}

/// Every table's rows, received in order (a stream that fails fails the load before anything
/// reaches the server).
async fn received_all(tables: Vec<TableSource>) -> Result<Vec<TableSourceBatches>> {
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        out.push(received(t).await?);
    }
    Ok(out)
}

/// Whether `tables` is the stored pair a load writes (P&L and its strategies), and its names.
fn stored_pair(tables: &[TableSourceBatches]) -> Option<TableNames> {
    let names = |s: &SchemaRef| s.fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>();
    let pnl_cols = names(&crate::tables::pnl_schema());
    let pnl = tables.iter().find(|t| names(&t.schema) == pnl_cols)?;
    let pair = TableNames::for_table(&pnl.name);
    let strategies = tables.iter().find(|t| t.name == pair.strategies)?;
    (tables.len() == 2 && names(&strategies.schema) == names(&crate::tables::strategies_schema())).then_some(pair)
}

#[async_trait::async_trait]
impl Engine for Odbc {
    fn kind(&self) -> EngineKind {
        self.inner.kind
    }

    fn describe(&self) -> String {
        format!("{} over ODBC ({}; {})", self.inner.kind, self.inner.dbms, self.inner.shown)
    }

    async fn query(&self, query: Query<'_>) -> Result<Rows> {
        let sql = match query {
            Query::Ast(stmt) => print(stmt, self.dialect_of())?,
            Query::Native(text) => text.to_owned(),
        };
        let (schema, batches) = self
            .with(move |inner| {
                let connection = inner.lock()?;
                inner.run(&connection, &sql, "odbc query")
            })
            .await?;
        Ok(Rows::from_batches(schema, batches))
    }

    async fn explain(&self, stmt: &Statement, analyze: bool) -> Result<String> {
        let caps = self.capabilities();
        if analyze && !caps.explain_analyze {
            return Err(Error::engine(
                "explain",
                format!("{} has no EXPLAIN ANALYZE; run explain without --analyze", self.inner.kind),
            ));
        }
        let sql = print(stmt, self.dialect_of())?;
        let text = match (self.inner.kind, analyze) {
            (EngineKind::Postgres, true) => format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"),
            _ => format!("EXPLAIN {sql}"),
        };
        let (_, batches) = self
            .with(move |inner| {
                let connection = inner.lock()?;
                inner.run(&connection, &text, "explain")
            })
            .await?;
        let out = crate::engine::QueryOutput {
            schema: batches.first().map(|b| b.schema()).unwrap_or_else(|| Arc::new(Schema::empty())),
            batches,
        };
        if out.schema.fields().is_empty() {
            return Ok(String::new());
        }
        Ok(out.strings(0)?.join("\n"))
    }

    async fn ingest(&self, tables: Vec<TableSource>) -> Result<()> {
        let received_tables = received_all(tables).await?;
        self.with(move |inner| {
            let connection = inner.lock()?;
            if inner.kind.capabilities().transactions {
                inner.ingest_in_transaction(&connection, &received_tables)
            } else {
                inner.ingest_staged(&connection, &received_tables)
            }
        })
        .await
    }

    async fn schema(&self, table: &str) -> Result<Option<SchemaRef>> {
        let sql = format!("SELECT * FROM {} WHERE 1 = 0", quote_ident(table));
        self.with(move |inner| {
            let connection = inner.lock()?;
            match inner.run(&connection, &sql, "odbc: table schema") {
                Ok((schema, _)) => Ok(Some(schema)),
                // SQLSTATE 42P01 (PostgreSQL) and 42S02 (ODBC): no such table.
                Err(Error::Sql(m)) if m.contains("42P01") || m.contains("42S02") || m.contains("does not exist") => {
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn statistics(&self, table: &str) -> Result<TableStatistics> {
        if self.inner.kind != EngineKind::Postgres {
            return Ok(TableStatistics::default());
        }
        // The planner's estimate, kept by ANALYZE (a load runs it); -1 when never analysed.
        let literal = format!("'{}'", quote_ident(table).replace('\'', "''"));
        let sql = format!("SELECT CAST(reltuples AS BIGINT) AS n FROM pg_class WHERE oid = to_regclass({literal})");
        let (schema, batches) = self
            .with(move |inner| {
                let connection = inner.lock()?;
                inner.run(&connection, &sql, "odbc: table statistics")
            })
            .await?;
        let out = crate::engine::QueryOutput { schema, batches };
        let rows = out.i64s("n")?.first().copied().flatten().filter(|&n| n >= 0).map(|n| n as u64);
        Ok(TableStatistics { rows })
    }

    async fn create_temporary(&self, table: TableSource) -> Result<()> {
        let table = received(table).await?;
        let name = table.name.clone();
        self.with(move |inner| {
            let connection = inner.lock()?;
            inner.create_and_fill(&connection, &table, true)?;
            if inner.kind == EngineKind::Postgres {
                inner.execute(
                    &connection,
                    &format!("ANALYZE {}", quote_ident(&table.name)),
                    "odbc: analyze session table",
                )?;
            }
            inner.temporaries.lock().map_err(|_| Error::internal("temporaries lock"))?.insert(table.name.clone());
            Ok(())
        })
        .await
        .map_err(|e| in_table(e, &name))
    }

    async fn create_temporary_as(&self, name: &str, query: &Statement) -> Result<()> {
        let select = print(query, self.dialect_of())?;
        let sql = match self.capabilities().ctas {
            crate::engine::CtasForm::Standard => format!("CREATE TEMPORARY TABLE {} AS {select}", quote_ident(name)),
            crate::engine::CtasForm::ParenthesizedWithOptions => {
                format!("CREATE TEMPORARY TABLE {} AS ({select})", quote_ident(name))
            }
        };
        let analyze = (self.inner.kind == EngineKind::Postgres).then(|| format!("ANALYZE {}", quote_ident(name)));
        let name = name.to_owned();
        self.with(move |inner| {
            let connection = inner.lock()?;
            inner.execute(&connection, &sql, "odbc: create session table")?;
            // PostgreSQL's autovacuum never analyses a session's tables: without statistics
            // the planner guesses their sizes (and may hash the long side of a join).
            if let Some(analyze) = &analyze {
                inner.execute(&connection, analyze, "odbc: analyze session table")?;
            }
            inner.temporaries.lock().map_err(|_| Error::internal("temporaries lock"))?.insert(name);
            Ok(())
        })
        .await
    }

    async fn drop_temporary(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        let kind = self.inner.kind;
        self.with(move |inner| {
            let mut temporaries = inner.temporaries.lock().map_err(|_| Error::internal("temporaries lock"))?;
            if !temporaries.contains(&name) {
                return Ok(());
            }
            // PostgreSQL: the session's own schema, so a stored table of the name is never hit.
            let target = match kind {
                EngineKind::Postgres => format!("pg_temp.{}", quote_ident(&name)),
                _ => quote_ident(&name),
            };
            let connection = inner.lock()?;
            inner.execute(&connection, &format!("DROP TABLE IF EXISTS {target}"), "odbc: drop session table")?;
            temporaries.remove(&name);
            Ok(())
        })
        .await
    }
}

/// The two ways a load publishes its tables.
impl Inner {
    /// The load on a server with transactions: the old tables dropped, the new ones created and
    /// filled, all in one transaction; a failure rolls everything back, the old tables intact.
    fn ingest_in_transaction(&self, connection: &Connection<'static>, tables: &[TableSourceBatches]) -> Result<()> {
        let (dialect, pair) = (self.kind.dialect(), stored_pair(tables));
        let pair = pair.as_ref();
        connection.set_autocommit(false).map_err(|e| statement_error(&e, "odbc: starting the load's transaction"))?;
        let outcome = (|| -> Result<()> {
            match pair {
                Some(names) => {
                    // P&L first: it refers to the strategies.
                    self.execute(connection, &format!("DROP TABLE IF EXISTS {}", quote_ident(&names.pnl)), "load")?;
                    self.execute(
                        connection,
                        &format!("DROP TABLE IF EXISTS {}", quote_ident(&names.strategies)),
                        "load",
                    )?;
                    let ddl = stored_tables(dialect, names)?;
                    let (tables_ddl, index_ddl): (Vec<_>, Vec<_>) =
                        ddl.iter().partition(|s| s.starts_with("CREATE TABLE"));
                    for s in &tables_ddl {
                        self.execute(connection, s, "load: create table")?;
                    }
                    for name in [&names.strategies, &names.pnl] {
                        let t =
                            tables.iter().find(|t| &t.name == name).ok_or_else(|| Error::internal("stored pair"))?;
                        self.insert(connection, &t.name, &t.schema, &t.batches).map_err(|e| in_table(e, &t.name))?;
                    }
                    for s in &index_ddl {
                        self.execute(connection, s, "load: create index")?;
                    }
                }
                None => {
                    for t in tables {
                        self.execute(connection, &format!("DROP TABLE IF EXISTS {}", quote_ident(&t.name)), "load")?;
                        self.create_and_fill(connection, t, false).map_err(|e| in_table(e, &t.name))?;
                    }
                }
            }
            connection.commit().map_err(|e| statement_error(&e, "load: commit"))
        })();
        if outcome.is_err() {
            // The server rolls back by itself when the connection is gone.
            let _ = connection.rollback();
        }
        let _ = connection.set_autocommit(true);
        outcome.map_err(nothing_published)?;
        // Fresh statistics for the planner (and for `statistics`). The tables are published by
        // now: a failure here only leaves the planner guessing, never a failed load.
        for t in tables {
            let _ = self.execute(connection, &format!("ANALYZE {}", quote_ident(&t.name)), "load: analyze");
        }
        Ok(())
    }

    /// The load on a server without transactions (HeavyDB): every table written under a staging
    /// name first; only when all are full are the old ones dropped and the new renamed into place.
    fn ingest_staged(&self, connection: &Connection<'static>, tables: &[TableSourceBatches]) -> Result<()> {
        let (dialect, pair) = (self.kind.dialect(), stored_pair(tables));
        let pair = pair.as_ref();
        let stage = |name: &str| format!("{STAGE_PREFIX}{name}");
        let staged: Vec<String> = tables.iter().map(|t| stage(&t.name)).collect();
        let drop_staged = || {
            for s in &staged {
                let _ = self.execute(connection, &format!("DROP TABLE IF EXISTS {}", quote_ident(s)), "load: cleanup");
            }
        };
        drop_staged();
        let filled = (|| -> Result<()> {
            match pair {
                Some(names) => {
                    let staged_names = TableNames { pnl: stage(&names.pnl), strategies: stage(&names.strategies) };
                    for s in stored_tables(dialect, &staged_names)? {
                        self.execute(connection, &s, "load: create table")?;
                    }
                    for t in tables {
                        self.insert(connection, &stage(&t.name), &t.schema, &t.batches)
                            .map_err(|e| in_table(e, &t.name))?;
                    }
                }
                None => {
                    for t in tables {
                        let staged = TableSourceBatches {
                            name: stage(&t.name),
                            schema: Arc::clone(&t.schema),
                            batches: t.batches.clone(),
                        };
                        self.create_and_fill(connection, &staged, false).map_err(|e| in_table(e, &t.name))?;
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = filled {
            drop_staged();
            return Err(nothing_published(e));
        }
        for t in tables {
            self.execute(connection, &format!("DROP TABLE IF EXISTS {}", quote_ident(&t.name)), "load: replace")?;
            self.execute(
                connection,
                &format!("ALTER TABLE {} RENAME TO {}", quote_ident(&stage(&t.name)), quote_ident(&t.name)),
                "load: replace",
            )?;
        }
        Ok(())
    }
}

/// `e` with the table it happened to named in its message (its class unchanged).
fn in_table(e: Error, table: &str) -> Error {
    match e {
        Error::Sql(m) => Error::Sql(format!("table {table:?}: {m}")),
        Error::Engine { what, message } => Error::Engine { what, message: format!("table {table:?}: {message}") },
        Error::Data { what, message } => Error::Data { what, message: format!("table {table:?}: {message}") },
        e => e,
    }
}

fn nothing_published(e: Error) -> Error {
    Error::Context {
        what: "the load failed and was rolled back; the previous tables are as they were",
        inner: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int32Array, StringArray};
    use arrow::datatypes::Int32Type;

    #[test]
    fn regrouped_rows_keep_their_order_across_a_parameter_set() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from_iter_values(0..6)),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c"), Some("d"), Some("e"), Some("f")])),
            ],
        )
        .unwrap();
        let wide = regroup(&batch, 3).unwrap();
        assert_eq!((wide.num_rows(), wide.num_columns()), (2, 6));
        // Set 1 holds rows 3, 4, 5: id and s of each, side by side.
        let ids: Vec<i32> = (0..3).map(|j| wide.column(2 * j).as_primitive::<Int32Type>().value(1)).collect();
        assert_eq!(ids, [3, 4, 5]);
        assert!(wide.column(3).is_null(0), "row 1's NULL stays at set 0, group 1");
        assert_eq!(wide.column(5).as_string::<i32>().value(1), "f");
    }

    #[test]
    fn doubles_stay_doubles() {
        let s = wide_floats(Schema::new(vec![
            Field::new("x", DataType::Float32, true),
            Field::new("n", DataType::Int32, false),
        ]));
        assert_eq!(s.field(0).data_type(), &DataType::Float64);
        assert_eq!(s.field(1).data_type(), &DataType::Int32);
        assert_eq!(kind_of_dbms("PostgreSQL"), Some(EngineKind::Postgres));
        assert_eq!(kind_of_dbms("HeavyDB"), Some(EngineKind::Heavydb));
        assert_eq!(kind_of_dbms("OmniSciDB"), Some(EngineKind::Heavydb));
        assert_eq!(kind_of_dbms("Microsoft SQL Server"), None);
    }
}
