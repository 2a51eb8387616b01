//! The Flight SQL service: each call authenticated, handed to the caller's embedded session,
//! and its answer encoded as Flight data. Errors go to the calling client only, with
//! heavytune's error class in the status metadata.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::{DictionaryHandling, FlightDataEncoderBuilder};
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionBeginTransactionRequest, ActionBeginTransactionResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, ActionEndTransactionRequest,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery,
    CommandStatementUpdate, DoPutPreparedStatementResult, EndTransaction, ProstMessageExt, SqlInfo,
    SqlSupportedTransaction, TableExistsOption, TableNotExistOption, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc,
    Ticket,
};
use bytes::Bytes;
use datafusion::common::ScalarValue;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};

use super::sessions::{Session, Sessions, random_bytes};
use crate::engine::{Engine, Query, Rows, TableSource};
use crate::error::{Error, ErrorClass};
use crate::flight::{self, CreateAsRequest, ExplainRequest, ServerInfo, TableRequest};

/// The catalog and schema every table of the embedded engine is in.
const CATALOG: &str = "datafusion";
const SCHEMA: &str = "public";

/// A result not yet fetched is dropped (and its query cancelled) after this long.
const PENDING_TTL: Duration = Duration::from_secs(600);

type DataStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static>>;

/// A statement's rows between GetFlightInfo (which runs it, once) and DoGet.
struct Pending {
    session: u64,
    rows: Rows,
    schema: SchemaRef,
    created: Instant,
}

/// A prepared statement: its text and the parameters bound to it.
struct Prepared {
    session: u64,
    sql: String,
    params: Vec<ScalarValue>,
}

pub(crate) struct Service {
    sessions: Sessions,
    pending: Mutex<HashMap<Vec<u8>, Pending>>,
    prepared: Mutex<HashMap<Vec<u8>, Prepared>>,
    sql_info: SqlInfoData,
    info: Vec<u8>,
    /// Becomes true when the grace period of a shutdown ends: streams still running stop.
    stop: watch::Receiver<bool>,
}

/// A library error as a status for the one client that caused it.
pub(crate) fn status(e: Error) -> Status {
    let class = e.class();
    let message = e.to_string();
    let code = match class {
        ErrorClass::Usage | ErrorClass::Input => tonic::Code::InvalidArgument,
        ErrorClass::Engine if message.contains("not found") || message.contains("no table named") => {
            tonic::Code::NotFound
        }
        ErrorClass::Engine => tonic::Code::InvalidArgument,
        ErrorClass::Internal => tonic::Code::Internal,
    };
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(flight::CLASS_KEY, tonic::metadata::MetadataValue::from_static(flight::class_name(class)));
    Status::with_metadata(code, message, metadata)
}

fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8], action: &str) -> Result<T, Status> {
    serde_json::from_slice(body)
        .map_err(|e| Status::invalid_argument(format!("{action}: the body does not decode: {e}")))
}

fn flight_status(e: FlightError) -> Status {
    match e {
        FlightError::Tonic(s) => *s,
        other => Status::internal(other.to_string()),
    }
}

/// Fits a batch to the schema its stream announced (nullable; a column of another type than
/// the plan said is cast).
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, FlightError> {
    let columns =
        batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() { Ok(Arc::clone(c)) } else { arrow::compute::cast(c, f.data_type()) }
            })
            .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Ends `stream` with an error when the server's grace period runs out.
fn until_stopped(stream: DataStream, stop: watch::Receiver<bool>) -> DataStream {
    let shut = || Status::unavailable("the server is shutting down; the query was cancelled");
    Box::pin(futures::stream::unfold((stream, stop, false), move |(mut s, mut stop, done)| async move {
        if done {
            return None;
        }
        if *stop.borrow() {
            return Some((Err(shut()), (s, stop, true)));
        }
        tokio::select! {
            item = s.next() => item.map(|i| (i, (s, stop, false))),
            _ = stop.changed() => Some((Err(shut()), (s, stop, true))),
        }
    }))
}

fn ipc_schema(schema: &Schema) -> Result<Bytes, Status> {
    let message: Result<IpcMessage, _> = SchemaAsIpc::new(schema, &Default::default()).try_into();
    message.map(|IpcMessage(b)| b).map_err(|e| Status::internal(format!("encoding a schema: {e}")))
}

impl Service {
    pub fn new(sessions: Sessions, stop: watch::Receiver<bool>) -> crate::error::Result<Self> {
        let kind = crate::engine::EngineKind::Datafusion;
        let server = ServerInfo {
            server: "heavytune".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind,
            capabilities: kind.capabilities(),
        };
        let mut b = SqlInfoDataBuilder::new();
        b.append(SqlInfo::FlightSqlServerName, "heavytune");
        b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
        b.append(SqlInfo::FlightSqlServerSql, true);
        b.append(SqlInfo::FlightSqlServerSubstrait, false);
        b.append(SqlInfo::FlightSqlServerReadOnly, false);
        // Transactions exist for heavytune's own all-or-nothing loads, but are not offered
        // to other clients: ADBC, seeing them, would leave autocommit.
        b.append(SqlInfo::FlightSqlServerTransaction, SqlSupportedTransaction::None as i32);
        b.append(SqlInfo::FlightSqlServerCancel, false);
        b.append(SqlInfo::FlightSqlServerBulkIngestion, true);
        b.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
        let sql_info = b.build().map_err(|e| Error::internal(format!("SqlInfo: {e}")))?;
        let info = serde_json::to_vec(&server).map_err(|e| Error::internal(format!("server info: {e}")))?;
        Ok(Service { sessions, pending: Mutex::default(), prepared: Mutex::default(), sql_info, info, stop })
    }

    async fn session<T>(&self, request: &Request<T>) -> Result<Arc<Session>, Status> {
        self.sessions.session(request.metadata()).await
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn prepared(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Prepared>> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a statement now (once: DDL takes effect here) and keeps its rows for DoGet.
    async fn run(
        &self,
        session: &Session,
        sql: &str,
        params: Vec<ScalarValue>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let rows = session.engine.query_with_params(sql, params).await.map_err(status)?;
        let schema = flight::wire_schema(&rows.schema);
        let handle = random_bytes::<16>()?.to_vec();
        {
            let mut pending = self.pending();
            pending.retain(|_, p| p.created.elapsed() < PENDING_TTL);
            pending.insert(
                handle.clone(),
                Pending { session: session.id, rows, schema: Arc::clone(&schema), created: Instant::now() },
            );
        }
        let ticket = TicketStatementQuery { statement_handle: handle.into() };
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(internal)?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())))
            .with_descriptor(descriptor)
            .with_total_records(-1)
            .with_ordered(true);
        Ok(Response::new(info))
    }

    /// A FlightInfo whose ticket is the command itself (catalog calls, answered in DoGet).
    fn info_for(
        &self,
        command: impl ProstMessageExt,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(command.as_any().encode_to_vec());
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(internal)?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    fn one_batch(&self, batch: RecordBatch) -> Response<DataStream> {
        let schema = batch.schema();
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::once(async { Ok(batch) }))
            .map_err(flight_status);
        Response::new(Box::pin(stream))
    }

    /// Statement counts of a DML result (`count` of DataFusion's INSERT), else 0.
    async fn count_of(rows: Rows) -> Result<i64, Status> {
        let out = rows.collect().await.map_err(status)?;
        if out.schema.fields().len() == 1 && out.schema.field(0).name() == "count" {
            return Ok(out.i64s("count").map_err(status)?.into_iter().flatten().sum());
        }
        Ok(0)
    }

    /// The bound values of each row of a parameter batch.
    async fn parameters(stream: PeekableFlightDataStream) -> Result<Vec<Vec<ScalarValue>>, Status> {
        let batches: Vec<RecordBatch> =
            arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(stream.map_err(FlightError::from))
                .try_collect()
                .await
                .map_err(flight_status)?;
        let mut rows = Vec::new();
        for b in &batches {
            for r in 0..b.num_rows() {
                let row = b
                    .columns()
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c, r))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Status::invalid_argument(format!("a parameter value: {e}")))?;
                rows.push(row);
            }
        }
        Ok(rows)
    }

    fn take_prepared(&self, handle: &[u8], session: &Session) -> Result<(String, Vec<ScalarValue>), Status> {
        let prepared = self.prepared();
        match prepared.get(handle) {
            Some(p) if p.session == session.id => Ok((p.sql.clone(), p.params.clone())),
            _ => Err(Status::not_found("no such prepared statement in this session (closed, or never made)")),
        }
    }
}

#[tonic::async_trait]
impl FlightSqlService for Service {
    type FlightService = Service;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        let token = self.sessions.login(request.metadata()).await?;
        let bearer = format!("Bearer {token}");
        let reply = HandshakeResponse { protocol_version: 0, payload: token.into_bytes().into() };
        let mut response: Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>> =
            Response::new(Box::pin(futures::stream::iter(vec![Ok(reply)])));
        let value = bearer.parse().map_err(|_| Status::internal("a token that is no header value"))?;
        response.metadata_mut().insert("authorization", value);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request).await?;
        self.run(&session, &query.query, Vec::new(), request.into_inner()).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request).await?;
        let (sql, params) = self.take_prepared(&query.prepared_statement_handle, &session)?;
        self.run(&session, &sql, params, request.into_inner()).await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.into_builder().schema();
        self.info_for(query, &schema, request.into_inner())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.clone().into_builder().schema();
        self.info_for(query, &schema, request.into_inner())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.clone().into_builder().schema();
        self.info_for(query, &schema, request.into_inner())
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.into_builder().schema();
        self.info_for(query, &schema, request.into_inner())
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let schema = query.clone().into_builder(&self.sql_info).schema();
        self.info_for(query, &schema, request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request).await?;
        let pending = {
            let mut pending = self.pending();
            match pending.get(ticket.statement_handle.as_ref()) {
                Some(p) if p.session == session.id => pending.remove(ticket.statement_handle.as_ref()),
                _ => None,
            }
        };
        let Some(pending) = pending else {
            return Err(Status::not_found(
                "no such result: it was fetched already, or expired, or is another session's",
            ));
        };
        let schema = pending.schema;
        let to = Arc::clone(&schema);
        let batches = pending
            .rows
            .stream
            .map(move |b| b.map_err(|e| FlightError::Tonic(Box::new(status(e)))).and_then(|b| conform(b, &to)));
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .with_dictionary_handling(DictionaryHandling::Resend)
            .with_max_flight_data_size(flight::TARGET_MESSAGE_BYTES)
            .build(batches)
            .map_err(flight_status);
        Ok(Response::new(until_stopped(Box::pin(stream), self.stop.clone())))
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request).await?;
        let mut b = query.into_builder();
        b.append(CATALOG);
        Ok(self.one_batch(b.build().map_err(internal)?))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request).await?;
        let mut b = query.into_builder();
        b.append(CATALOG, SCHEMA);
        Ok(self.one_batch(b.build().map_err(internal)?))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request).await?;
        let mut b = query.into_builder();
        for name in session.engine.table_names() {
            let schema = session.engine.schema(&name).await.map_err(status)?;
            if let Some(schema) = schema {
                b.append(CATALOG, SCHEMA, &name, "TABLE", &schema).map_err(internal)?;
            }
        }
        Ok(self.one_batch(b.build().map_err(internal)?))
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request).await?;
        let mut b = query.into_builder();
        b.append("TABLE");
        Ok(self.one_batch(b.build().map_err(internal)?))
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request).await?;
        let batch = query.into_builder(&self.sql_info).build().map_err(internal)?;
        Ok(self.one_batch(batch))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.session(&request).await?;
        let rows = session.engine.query(Query::Native(&command.query)).await.map_err(status)?;
        Self::count_of(rows).await
    }

    async fn do_put_statement_ingest(
        &self,
        command: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.session(&request).await?;
        for (what, value) in [("catalog", &command.catalog), ("schema", &command.schema)] {
            if let Some(v) = value
                && !v.is_empty()
                && v != CATALOG
                && v != SCHEMA
            {
                return Err(Status::not_found(format!("no {what} {v:?}: tables are in {CATALOG}.{SCHEMA}")));
            }
        }
        let name = command.table.clone();
        let options = command.table_definition_options.unwrap_or_default();
        let exists = session.engine.schema(&name).await.map_err(status)?.is_some();
        let if_exists = TableExistsOption::try_from(options.if_exists).unwrap_or(TableExistsOption::Unspecified);
        let if_not_exist =
            TableNotExistOption::try_from(options.if_not_exist).unwrap_or(TableNotExistOption::Unspecified);
        match (exists, if_exists, if_not_exist) {
            (true, TableExistsOption::Replace, _) => {}
            (true, TableExistsOption::Append, _) => {
                return Err(Status::unimplemented(format!(
                    "table {name:?} exists and the embedded engine does not append to a table: ingest with mode replace"
                )));
            }
            (true, _, _) => return Err(Status::already_exists(format!("table {name:?} exists (ingest mode create)"))),
            (false, _, TableNotExistOption::Fail) => {
                return Err(Status::not_found(format!("no table named {name:?} to add rows to (ingest mode append)")));
            }
            (false, _, _) => {}
        }
        let mut stream = request.into_inner();
        let schema = match stream.peek().await {
            Some(Ok(first)) => Schema::try_from(first)
                .map_err(|e| Status::invalid_argument(format!("the ingest's first message is no schema: {e}")))?,
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(Status::invalid_argument("an ingest without data")),
        };
        let batches =
            arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(stream.map_err(FlightError::from))
                .map_err(|e| Error::engine("ingest", format!("the client's stream broke off: {e}")));
        let counted = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let counter = Arc::clone(&counted);
        let batches = batches.inspect_ok(move |b| {
            counter.fetch_add(b.num_rows() as i64, std::sync::atomic::Ordering::Relaxed);
        });
        let source = TableSource::streamed(name.clone(), Rows { schema: Arc::new(schema), stream: Box::pin(batches) });
        if command.temporary {
            session.engine.create_temporary(source).await.map_err(status)?;
            return Ok(counted.load(std::sync::atomic::Ordering::Relaxed));
        }
        // Staged first: a stream that breaks off leaves nothing (the staged folders go).
        let staged = session.engine.stage(vec![source]).await.map_err(status)?;
        let rows = staged.rows() as i64;
        match command.transaction_id {
            Some(id) => {
                let mut txns = session.transactions.lock().unwrap_or_else(|e| e.into_inner());
                let Some(list) = txns.get_mut(id.as_ref()) else {
                    return Err(Status::not_found("no such transaction in this session"));
                };
                list.push(staged);
            }
            None => session.engine.commit(vec![staged]).await.map_err(status)?,
        }
        Ok(rows)
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let session = self.session(&request).await?;
        self.take_prepared(&query.prepared_statement_handle, &session)?;
        let rows = Self::parameters(request.into_inner()).await?;
        let params = match rows.len() {
            0 => Vec::new(),
            1 => rows.into_iter().next().unwrap_or_default(),
            n => return Err(Status::invalid_argument(format!("{n} parameter rows for a query: bind one at a time"))),
        };
        if let Some(p) = self.prepared().get_mut(query.prepared_statement_handle.as_ref()) {
            p.params = params;
        }
        Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(query.prepared_statement_handle) })
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.session(&request).await?;
        let (sql, bound) = self.take_prepared(&query.prepared_statement_handle, &session)?;
        let mut rows = Self::parameters(request.into_inner()).await?;
        if rows.is_empty() {
            rows.push(bound);
        }
        let mut count = 0;
        for params in rows {
            let out = session.engine.query_with_params(&sql, params).await.map_err(status)?;
            count += Self::count_of(out).await?;
        }
        Ok(count)
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let session = self.session(&request).await?;
        let (dataset, parameters) = session.engine.prepare(&query.query).await.map_err(status)?;
        let handle = random_bytes::<16>()?.to_vec();
        self.prepared().insert(handle.clone(), Prepared { session: session.id, sql: query.query, params: Vec::new() });
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: ipc_schema(&flight::wire_schema(&dataset))?,
            parameter_schema: ipc_schema(&parameters)?,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let session = self.session(&request).await?;
        let mut prepared = self.prepared();
        if prepared.get(query.prepared_statement_handle.as_ref()).is_some_and(|p| p.session == session.id) {
            prepared.remove(query.prepared_statement_handle.as_ref());
        }
        Ok(())
    }

    async fn do_action_begin_transaction(
        &self,
        _query: ActionBeginTransactionRequest,
        request: Request<Action>,
    ) -> Result<ActionBeginTransactionResult, Status> {
        let session = self.session(&request).await?;
        let id = random_bytes::<16>()?.to_vec();
        session.transactions.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), Vec::new());
        Ok(ActionBeginTransactionResult { transaction_id: id.into() })
    }

    async fn do_action_end_transaction(
        &self,
        query: ActionEndTransactionRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let session = self.session(&request).await?;
        let staged =
            session.transactions.lock().unwrap_or_else(|e| e.into_inner()).remove(query.transaction_id.as_ref());
        let Some(staged) = staged else { return Err(Status::not_found("no such transaction in this session")) };
        match EndTransaction::try_from(query.action) {
            Ok(EndTransaction::Commit) => session.engine.commit(staged).await.map_err(status),
            // Dropped: the staged folders go.
            Ok(EndTransaction::Rollback) => Ok(()),
            _ => Err(Status::invalid_argument("EndTransaction must commit or roll back")),
        }
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        let session = self.session(&request).await?;
        let action = request.into_inner();
        let body: Bytes = match action.r#type.as_str() {
            flight::ACTION_INFO => self.info.clone().into(),
            flight::ACTION_EXPLAIN => {
                let r: ExplainRequest = decode_json(&action.body, &action.r#type)?;
                let stmt = crate::templates::parse(&r.sql).map_err(status)?;
                session.engine.explain(&stmt, r.analyze).await.map_err(status)?.into_bytes().into()
            }
            flight::ACTION_STATISTICS => {
                let r: TableRequest = decode_json(&action.body, &action.r#type)?;
                let s = session.engine.statistics(&r.table).await.map_err(status)?;
                serde_json::to_vec(&s).map_err(|e| Status::internal(e.to_string()))?.into()
            }
            flight::ACTION_CREATE_TEMPORARY_AS => {
                let r: CreateAsRequest = decode_json(&action.body, &action.r#type)?;
                let stmt = crate::templates::parse(&r.sql).map_err(status)?;
                session.engine.create_temporary_as(&r.name, &stmt).await.map_err(status)?;
                Bytes::new()
            }
            flight::ACTION_DROP_TEMPORARY => {
                let r: TableRequest = decode_json(&action.body, &action.r#type)?;
                session.engine.drop_temporary(&r.table).await.map_err(status)?;
                Bytes::new()
            }
            other => return Err(Status::invalid_argument(format!("unknown action {other:?}"))),
        };
        let result = arrow_flight::Result { body };
        Ok(Response::new(Box::pin(futures::stream::iter(vec![Ok(result)]))))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}
