//! A remote engine over Arrow Flight SQL (`flightsql://[USER@]HOST:PORT`, `grpc://`,
//! `grpc+tls://`): `heavytune serve`, or another Flight SQL server.
//!
//! Statements travel as text in the server's dialect; results come back through [`wire`],
//! which decodes them without copying after the receive. What Flight SQL has no command for
//! (the server's plans, session tables made from a query, table statistics) goes through
//! heavytune's custom actions (`crate::flight`). Every call carries the session's bearer
//! token and a time limit.

mod wire;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{
    ActionBeginTransactionRequest, ActionBeginTransactionResult, ActionEndTransactionRequest, Any, CommandGetTables,
    CommandStatementIngest, CommandStatementQuery, DoPutUpdateResult, EndTransaction, ProstMessageExt,
    TableDefinitionOptions, TableExistsOption, TableNotExistOption,
};
use arrow_flight::{Action, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, Ticket};
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use sqlparser::ast::Statement;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::engine::{
    Capabilities, ConnectOptions, Engine, EngineKind, EngineUrl, Query, Rows, TableSource, TableStatistics,
};
use crate::error::{Error, Result};
use crate::flight::{self, CreateAsRequest, ExplainRequest, ServerInfo, TableRequest};

/// An Arrow Flight SQL server reached over gRPC.
pub struct FlightSql {
    channel: Channel,
    /// `Bearer <token>` of this session, when the server gave one.
    authorization: Option<String>,
    target: String,
    info: ServerInfo,
    timeout: Duration,
    /// Bytes of result bodies received, and of those copied while decoding (see [`wire`]).
    counters: Counters,
}

/// A tonic status as heavytune's error: the server's class where it sent one (so a bad query
/// exits as it would on the embedded engine), the code's meaning otherwise.
pub(crate) fn status_error(status: tonic::Status) -> Error {
    let class = status.metadata().get(flight::CLASS_KEY).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let message = status.message().to_owned();
    match (class.as_deref(), status.code()) {
        (Some("input"), _) => Error::Sql(message),
        (Some("usage"), _) => Error::Data { what: "the server refused the request", message },
        (_, tonic::Code::Unauthenticated) => Error::engine(
            "flightsql",
            format!("the server refused the credentials: {message} (check --user and the password variable)"),
        ),
        (_, tonic::Code::Unavailable) => Error::engine("flightsql", format!("the server is unavailable: {message}")),
        (_, tonic::Code::DeadlineExceeded) => {
            Error::engine("flightsql", format!("the call ran past its time limit (--timeout): {message}"))
        }
        (_, code) => Error::engine("flightsql server", format!("{message} ({code:?})")),
    }
}

/// A connection-level failure, with its causes.
pub(crate) fn transport_error(e: &(dyn std::error::Error + 'static)) -> Error {
    Error::engine("flightsql", format!("the connection failed: {}", transport_text(e)))
}

/// The causes of a connection-level failure, with a hint where TLS is on at one end only.
fn transport_text(e: &(dyn std::error::Error + 'static)) -> String {
    let text = crate::error::chain_text(e);
    let one_sided_tls = [
        "InvalidContentType",
        "corrupt message",
        "frame with invalid size",
        "protocol error",
        "tls handshake",
        "connection reset",
    ];
    if one_sided_tls.iter().any(|t| text.contains(t)) {
        format!(
            "{text} (is TLS on at both ends? A server uses TLS when started with --tls-cert; a client with --tls or grpc+tls://)"
        )
    } else {
        text
    }
}

/// `[user@]host:port` of a URL, and whether the scheme asks for TLS.
fn parse_target(url: &EngineUrl) -> Result<(Option<String>, String, u16)> {
    let rest = url.rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('?') {
        return Err(Error::EngineUrl {
            url: url.redacted(),
            message: "expected flightsql://[USER@]HOST:PORT (grpc://, grpc+tls:// likewise)".into(),
        });
    }
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_owned()), h),
        None => (None, rest),
    };
    let (host, port) = hostport.rsplit_once(':').ok_or_else(|| Error::EngineUrl {
        url: url.redacted(),
        message: "the port is missing: flightsql://HOST:PORT (heavytune serve listens on 50051 by default)".into(),
    })?;
    let port: u16 = port
        .parse()
        .map_err(|_| Error::EngineUrl { url: url.redacted(), message: format!("{port:?} is not a port number") })?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(Error::EngineUrl { url: url.redacted(), message: "the host is missing".into() });
    }
    Ok((user, host.to_owned(), port))
}

fn read_pem(path: &std::path::Path, what: &'static str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::invalid(what, format!("{}: {e}", path.display())))
}

impl FlightSql {
    /// Connects, logs in (a session of its own on the server) and reads what the server is.
    pub async fn connect(url: &EngineUrl, options: &ConnectOptions) -> Result<FlightSql> {
        let (url_user, host, port) = parse_target(url)?;
        let user = url_user.or_else(|| options.user.clone());
        let tls = url.scheme == "grpc+tls" || options.tls.enabled;
        let timeout = options.timeout.unwrap_or(Duration::from_secs(30));
        let target = format!("{host}:{port}");
        let uri_host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let scheme = if tls { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{uri_host}:{port}"))
            .map_err(|e| Error::EngineUrl { url: url.redacted(), message: format!("not a valid address: {e}") })?
            .connect_timeout(timeout)
            .timeout(timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(timeout)
            .keep_alive_while_idle(true)
            .initial_stream_window_size(16 << 20)
            .initial_connection_window_size(32 << 20)
            .max_frame_size(flight::MAX_FRAME_BYTES);
        if tls {
            let mut config = ClientTlsConfig::new().domain_name(host.clone());
            if let Some(ca) = &options.tls.ca {
                config = config.ca_certificate(Certificate::from_pem(read_pem(ca, "--tls-ca")?));
            }
            if let (Some(cert), Some(key)) = (&options.tls.cert, &options.tls.key) {
                config =
                    config.identity(Identity::from_pem(read_pem(cert, "--tls-cert")?, read_pem(key, "--tls-key")?));
            }
            endpoint = endpoint.tls_config(config).map_err(|e| transport_error(&e))?;
        } else if options.tls.ca.is_some() || options.tls.cert.is_some() {
            return Err(Error::invalid(
                "--tls-ca/--tls-cert",
                "they are for TLS connections: add --tls or use grpc+tls://",
            ));
        }
        let channel = tokio::time::timeout(timeout, endpoint.connect())
            .await
            .map_err(|_| {
                Error::engine("flightsql", format!("no connection to {target} within {} s", timeout.as_secs_f64()))
            })?
            .map_err(|e| {
                Error::engine(
                    "flightsql",
                    format!("cannot reach the Flight SQL server at {target}: {}", transport_text(&e)),
                )
            })?;
        let mut engine = FlightSql {
            channel,
            authorization: None,
            target,
            info: ServerInfo {
                server: String::new(),
                version: String::new(),
                kind: EngineKind::Datafusion,
                // Until the server says it is heavytune: another server's DataFusion lacks
                // heavytune's functions.
                capabilities: Capabilities { ordered_series: false, ..EngineKind::Datafusion.capabilities() },
            },
            timeout,
            counters: Counters::default(),
        };
        let basic = match (&user, &options.password) {
            (Some(u), Some(p)) => Some(flight::basic_header(u, p.expose())),
            (Some(u), None) => {
                return Err(Error::invalid(
                    "--password-env",
                    format!(
                        "user {u:?} needs a password: put it in HEAVYTUNE_PASSWORD or the variable --password-env names"
                    ),
                ));
            }
            (None, _) => None,
        };
        engine.authorization = engine.handshake(basic).await?;
        let info = engine.action(flight::ACTION_INFO, Vec::new()).await?;
        engine.info = serde_json::from_slice(&info)
            .map_err(|e| Error::engine("flightsql", format!("{} is not a heavytune server: {e}", engine.target)))?;
        Ok(engine)
    }

    fn client(&self) -> FlightServiceClient<Channel> {
        FlightServiceClient::new(self.channel.clone())
            .max_decoding_message_size(flight::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(flight::MAX_MESSAGE_BYTES)
    }

    /// A request with this session's token and the per-call time limit.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut r = self.authorized(message);
        r.set_timeout(self.timeout);
        r
    }

    /// A request with this session's token (and no time limit: an ingest takes as long as
    /// its rows).
    fn authorized<T>(&self, message: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(message);
        if let Some(a) = &self.authorization
            && let Ok(v) = a.parse()
        {
            r.metadata_mut().insert("authorization", v);
        }
        r
    }

    /// Basic credentials (or none) for a bearer token.
    async fn handshake(&self, basic: Option<String>) -> Result<Option<String>> {
        let request = HandshakeRequest { protocol_version: 0, payload: Default::default() };
        let mut r = tonic::Request::new(futures::stream::iter(vec![request]));
        r.set_timeout(self.timeout);
        if let Some(b) = basic {
            let value = b.parse().map_err(|_| Error::invalid("--user", "the user name cannot go in a header"))?;
            r.metadata_mut().insert("authorization", value);
        }
        let response = self.client().handshake(r).await.map_err(|s| match s.code() {
            tonic::Code::Unauthenticated => Error::engine(
                "flightsql",
                format!("{} refused the login: {} (check --user and the password variable)", self.target, s.message()),
            ),
            // The first call on a connection: a server speaking TLS to a plain client (or the
            // other way round) breaks it off in one of these ways.
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal | tonic::Code::Cancelled => {
                Error::engine("flightsql", format!("{}: {} (is TLS on at both ends?)", self.target, s.message()))
            }
            _ => status_error(s),
        })?;
        let token = response
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.starts_with("Bearer "))
            .map(str::to_owned);
        let _: Vec<_> = response.into_inner().try_collect().await.map_err(status_error)?;
        Ok(token)
    }

    /// Runs a custom action and returns its one result body.
    async fn action(&self, kind: &str, body: Vec<u8>) -> Result<bytes::Bytes> {
        let action = Action { r#type: kind.to_owned(), body: body.into() };
        let mut stream = self.client().do_action(self.request(action)).await.map_err(status_error)?.into_inner();
        let first = stream.message().await.map_err(status_error)?;
        Ok(first.map(|r| r.body).unwrap_or_default())
    }

    async fn action_json<T: serde::Serialize>(&self, kind: &str, body: &T) -> Result<bytes::Bytes> {
        let body = serde_json::to_vec(body).map_err(|e| Error::internal(format!("encoding {kind}: {e}")))?;
        self.action(kind, body).await
    }

    async fn flight_info(&self, command: impl ProstMessageExt) -> Result<FlightInfo> {
        let descriptor = FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
        Ok(self.client().get_flight_info(self.request(descriptor)).await.map_err(status_error)?.into_inner())
    }

    /// The rows of every endpoint of `info`, in order, decoded without copies.
    async fn rows(&self, info: FlightInfo) -> Result<Rows> {
        let schema: SchemaRef = Arc::new(info.clone().try_decode_schema()?);
        let tickets: VecDeque<Ticket> = info.endpoint.into_iter().filter_map(|e| e.ticket).collect();
        let channel = self.channel.clone();
        let authorization = self.authorization.clone();
        let idle = self.timeout;
        let counters = self.counters.clone();
        let state = (tickets, None::<wire::Decoder>, channel, authorization, counters);
        let stream =
            futures::stream::try_unfold(state, move |(mut tickets, mut current, ch, auth, counters)| async move {
                loop {
                    if let Some(decoder) = current.as_mut()
                        && let Some(d) = decoder.next().await?
                    {
                        counters.add(&d);
                        return Ok(Some((d.batch, (tickets, current, ch, auth, counters))));
                    }
                    // This endpoint is done: the next one.
                    let Some(ticket) = tickets.pop_front() else { return Ok(None) };
                    let reader =
                        wire::Reader::open(&ch, auth.as_deref(), &ticket, idle, flight::MAX_MESSAGE_BYTES).await?;
                    current = Some(wire::Decoder::start(reader).await?);
                }
            });
        let fitted = Arc::clone(&schema);
        let stream = stream.map(move |b: Result<RecordBatch>| {
            // The server's batches carry the announced schema; field metadata aside, take it.
            b.and_then(|b| Ok(RecordBatch::try_new(Arc::clone(&fitted), b.columns().to_vec())?))
        });
        Ok(Rows { schema, stream: Box::pin(stream) })
    }

    /// Writes a table through a DoPut of `CommandStatementIngest`, one batch a message (the
    /// server keeps batch boundaries). If the rows fail half way the stream ends with a broken
    /// message, so the server keeps nothing.
    async fn put(&self, table: TableSource, temporary: bool, transaction: Option<bytes::Bytes>) -> Result<i64> {
        let command = CommandStatementIngest {
            table_definition_options: Some(TableDefinitionOptions {
                if_not_exist: TableNotExistOption::Create.into(),
                if_exists: TableExistsOption::Replace.into(),
            }),
            table: table.name.clone(),
            schema: None,
            catalog: None,
            temporary,
            transaction_id: transaction,
            options: Default::default(),
        };
        let descriptor = FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
        let (fail_tx, mut fail_rx) = tokio::sync::oneshot::channel::<Error>();
        let failure = Arc::new(Failure { failed: Default::default(), tx: std::sync::Mutex::new(Some(fail_tx)) });
        let on_rows = Arc::clone(&failure);
        let rows = table.rows.stream.map(move |b| {
            b.map_err(|e| {
                let text = e.to_string();
                on_rows.fail(e);
                arrow_flight::error::FlightError::ExternalError(text.into())
            })
        });
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(Arc::clone(&table.rows.schema))
            .with_flight_descriptor(Some(descriptor))
            .with_max_flight_data_size(flight::MAX_MESSAGE_BYTES / 2)
            .build(rows);
        let on_encode = Arc::clone(&failure);
        // Up to the first failure (of the rows or of their encoding), then nothing more of them.
        let data = encoded
            .map(move |d| {
                // The rows' own failure came first where there was one (`fail` keeps the first).
                d.map_err(|e| on_encode.fail(Error::engine("flightsql", format!("encoding the rows: {e}")))).ok()
            })
            .take_while(|d| futures::future::ready(d.is_some()))
            .filter_map(futures::future::ready);
        // After a failure the stream must not end cleanly (that would be a whole table to the
        // server): it ends with a message that is no IPC message, which fails the server's
        // decoding, so the server drops what it staged before it answers.
        let tail = futures::stream::once(async move {
            failure
                .failed
                .load(Ordering::SeqCst)
                .then(|| FlightData { data_header: bytes::Bytes::from_static(BROKEN_OFF), ..Default::default() })
        })
        .filter_map(futures::future::ready);
        let request = data.chain(tail);
        let mut client = self.client();
        let r = self.authorized(request);
        let call = async {
            let mut results = client.do_put(r).await.map_err(status_error)?.into_inner();
            let result = results.message().await.map_err(status_error)?;
            let result =
                result.ok_or_else(|| Error::engine("flightsql", "the server ended the ingest without a result"))?;
            let update = DoPutUpdateResult::decode(result.app_metadata.as_ref())
                .map_err(|e| Error::engine("flightsql", format!("the server's ingest result does not decode: {e}")))?;
            Ok::<i64, Error>(update.record_count)
        };
        // The call runs to the server's answer also after a failure (the server refuses the
        // broken stream once it has dropped what it staged); the rows' own error wins.
        let answer = call.await;
        match fail_rx.try_recv() {
            Ok(e) => Err(e),
            Err(_) => answer,
        }
    }
}

/// The last message of an ingest whose rows failed on the client: an IPC header that does
/// not decode (its first word, read as a flatbuffer offset, points far past its end).
const BROKEN_OFF: &[u8] = b"heavytune: the rows of this ingest failed on the client; discard them";

/// The first failure of an ingest's rows, signalled once to the call that sends them.
struct Failure {
    failed: std::sync::atomic::AtomicBool,
    tx: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<Error>>>,
}

impl Failure {
    fn fail(&self, e: Error) {
        self.failed.store(true, Ordering::SeqCst);
        if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(e);
        }
    }
}

/// Where result streams add what they received and copied (shared with the engine).
#[derive(Clone, Default)]
struct Counters {
    copied: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
}

impl Counters {
    fn add(&self, d: &wire::Decoded) {
        self.copied.fetch_add(d.copied, Ordering::Relaxed);
        self.received.fetch_add(d.received, Ordering::Relaxed);
    }
}

#[async_trait::async_trait]
impl Engine for FlightSql {
    fn kind(&self) -> EngineKind {
        self.info.kind
    }

    fn capabilities(&self) -> Capabilities {
        self.info.capabilities
    }

    fn describe(&self) -> String {
        format!("flightsql ({}, {} {})", self.target, self.info.server, self.info.kind)
    }

    async fn query(&self, query: Query<'_>) -> Result<Rows> {
        let sql = match query {
            Query::Native(text) => text.to_owned(),
            Query::Ast(stmt) => crate::dialect::print(stmt, self.dialect())?,
        };
        let info = self.flight_info(CommandStatementQuery { query: sql, transaction_id: None }).await?;
        self.rows(info).await
    }

    async fn explain(&self, stmt: &Statement, analyze: bool) -> Result<String> {
        let sql = crate::dialect::print(stmt, self.dialect())?;
        let text = self.action_json(flight::ACTION_EXPLAIN, &ExplainRequest { sql, analyze }).await?;
        String::from_utf8(text.to_vec()).map_err(|_| Error::engine("flightsql", "the server's plan is not UTF-8"))
    }

    async fn ingest(&self, tables: Vec<TableSource>) -> Result<()> {
        // One transaction: the server publishes every table at its end, or none.
        let begin = Any::pack(&ActionBeginTransactionRequest {})?.encode_to_vec();
        let reply = self.action("BeginTransaction", begin).await?;
        let id = Any::decode(reply.as_ref())
            .ok()
            .and_then(|a| a.unpack::<ActionBeginTransactionResult>().ok().flatten())
            .map(|r| r.transaction_id)
            .ok_or_else(|| Error::engine("flightsql", "the server's BeginTransaction answer does not decode"))?;
        let mut outcome = Ok(());
        for t in tables {
            if let Err(e) = self.put(t, false, Some(id.clone())).await {
                outcome = Err(e);
                break;
            }
        }
        let action = if outcome.is_ok() { EndTransaction::Commit } else { EndTransaction::Rollback };
        let end = ActionEndTransactionRequest { transaction_id: id, action: action.into() };
        let ended = self.action("EndTransaction", Any::pack(&end)?.encode_to_vec()).await;
        outcome?;
        ended.map(|_| ())
    }

    async fn schema(&self, table: &str) -> Result<Option<SchemaRef>> {
        let command = CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: None,
            table_name_filter_pattern: Some(table.to_owned()),
            table_types: Vec::new(),
            include_schema: true,
        };
        let info = self.flight_info(command).await?;
        let out = self.rows(info).await?.collect().await?;
        let names = out.strings(out.index_of("table_name")?)?;
        let column = out.index_of("table_schema")?;
        let mut row = 0;
        for b in &out.batches {
            let schemas = b
                .column(column)
                .as_any()
                .downcast_ref::<arrow::array::BinaryArray>()
                .ok_or_else(|| Error::engine("flightsql", "the server's table_schema column is not binary"))?;
            for i in 0..b.num_rows() {
                // `_` and `%` are patterns to the server: take the exact name only.
                if names[row + i] == table {
                    let schema = arrow::ipc::convert::try_schema_from_ipc_buffer(schemas.value(i))?;
                    return Ok(Some(Arc::new(schema)));
                }
            }
            row += b.num_rows();
        }
        Ok(None)
    }

    async fn statistics(&self, table: &str) -> Result<TableStatistics> {
        let body = self.action_json(flight::ACTION_STATISTICS, &TableRequest { table: table.to_owned() }).await?;
        serde_json::from_slice(&body).map_err(|e| Error::engine("flightsql", format!("statistics do not decode: {e}")))
    }

    async fn create_temporary(&self, table: TableSource) -> Result<()> {
        self.put(table, true, None).await.map(|_| ())
    }

    async fn create_temporary_as(&self, name: &str, query: &Statement) -> Result<()> {
        let sql = crate::dialect::print(query, self.dialect())?;
        self.action_json(flight::ACTION_CREATE_TEMPORARY_AS, &CreateAsRequest { name: name.to_owned(), sql }).await?;
        Ok(())
    }

    async fn drop_temporary(&self, name: &str) -> Result<()> {
        self.action_json(flight::ACTION_DROP_TEMPORARY, &TableRequest { table: name.to_owned() }).await?;
        Ok(())
    }

    fn wire_bytes(&self) -> Option<(u64, u64)> {
        Some((self.counters.received.load(Ordering::Relaxed), self.counters.copied.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_bad_ones_say_what_is_expected() {
        let u = EngineUrl::parse("flightsql://ann@127.0.0.1:50051").unwrap();
        assert_eq!(parse_target(&u).unwrap(), (Some("ann".into()), "127.0.0.1".into(), 50051));
        let v6 = EngineUrl::parse("grpc://[::1]:7").unwrap();
        assert_eq!(parse_target(&v6).unwrap(), (None, "::1".into(), 7));
        for bad in ["flightsql://host", "flightsql://host:notaport", "flightsql://:1", "flightsql://h:1/db"] {
            let e = parse_target(&EngineUrl::parse(bad).unwrap()).unwrap_err().to_string();
            assert!(e.contains("flightsql://") || e.contains("port") || e.contains("host"), "{bad}: {e}");
        }
    }
}
