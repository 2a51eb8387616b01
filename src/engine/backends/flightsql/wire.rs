//! DoGet read straight off the HTTP/2 stream, so that Arrow buffers are the received bytes.
//!
//! tonic's own decoder gathers each gRPC message into one growing buffer whose alignment
//! depends on its history, and arrow-flight's decoder then copies every message body that
//! is not 64-byte aligned, and every Arrow buffer that is not naturally aligned. Here the
//! FlightData protobuf is parsed as it arrives: the length of `data_body` comes before its
//! bytes, so they are copied once, out of the HTTP/2 frames (the receive, which tonic does as
//! well), into a fresh 64-byte aligned [`MutableBuffer`]. IPC buffers within a body are
//! 64-byte aligned by the writer, so every array of a batch is a slice of that one buffer:
//! [`Decoded::copied`] counts the bytes of any that are not, and is 0 for heavytune's tables.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::buffer::{Buffer, MutableBuffer};
use arrow::datatypes::SchemaRef;
use arrow::ipc::{self, MessageHeader, MetadataVersion};
use arrow_flight::Ticket;
use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use prost::Message;
use tonic::codegen::Service;
use tonic::transport::Channel;

use crate::error::{Error, Result};

const DO_GET_PATH: &str = "/arrow.flight.protocol.FlightService/DoGet";

/// FlightData fields (arrow `Flight.proto`).
const FIELD_DESCRIPTOR: u64 = 1;
const FIELD_HEADER: u64 = 2;
const FIELD_APP_METADATA: u64 = 3;
const FIELD_BODY: u64 = 1000;

/// What the stream failed with, as the engine reports it.
fn wire(message: impl Into<String>) -> Error {
    Error::engine("flightsql", message.into())
}

/// The HTTP/2 body of one DoGet, read in whole gRPC messages.
pub(crate) struct Reader {
    body: tonic::body::Body,
    chunks: VecDeque<Bytes>,
    ended: bool,
    trailers: Option<tonic::codegen::http::HeaderMap>,
    idle: Duration,
    max_message: usize,
}

/// One FlightData message: its IPC header and its body.
struct Part {
    header: Vec<u8>,
    body: Buffer,
}

/// A decoded batch and the bytes of its arrays that are not slices of the received body.
pub(crate) struct Decoded {
    pub batch: RecordBatch,
    pub copied: u64,
    pub received: u64,
}

impl Reader {
    /// Sends the DoGet for `ticket` and waits (at most `idle`) for the response headers.
    pub(crate) async fn open(
        channel: &Channel,
        authorization: Option<&str>,
        ticket: &Ticket,
        idle: Duration,
        max_message: usize,
    ) -> Result<Reader> {
        let message = ticket.encode_to_vec();
        let mut framed = Vec::with_capacity(5 + message.len());
        framed.push(0);
        framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
        framed.extend_from_slice(&message);
        let mut request = tonic::codegen::http::Request::builder()
            .method(tonic::codegen::http::Method::POST)
            .uri(DO_GET_PATH)
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        let request = request
            .body(tonic::body::Body::new(http_body_util::Full::new(Bytes::from(framed))))
            .map_err(|e| Error::internal(format!("building the DoGet request: {e}")))?;
        let mut channel = channel.clone();
        let response = tokio::time::timeout(idle, async {
            futures::future::poll_fn(|cx| channel.poll_ready(cx)).await?;
            channel.call(request).await
        })
        .await
        .map_err(|_| wire(format!("the server sent no answer to DoGet within {} s", idle.as_secs_f64())))?
        .map_err(|e| super::transport_error(&e))?;
        if response.status() != tonic::codegen::http::StatusCode::OK {
            return Err(wire(format!("the server answered DoGet with HTTP status {}", response.status())));
        }
        // A call that fails before any data answers with its status in the headers.
        if let Some(status) = tonic::Status::from_header_map(response.headers())
            && status.code() != tonic::Code::Ok
        {
            return Err(super::status_error(status));
        }
        Ok(Reader {
            body: response.into_body(),
            chunks: VecDeque::new(),
            ended: false,
            trailers: None,
            idle,
            max_message,
        })
    }

    /// Pulls the next HTTP/2 frame; false at the end of the body.
    async fn fill(&mut self) -> Result<bool> {
        if self.ended {
            return Ok(false);
        }
        loop {
            let frame = tokio::time::timeout(self.idle, self.body.frame()).await.map_err(|_| {
                wire(format!("the server sent nothing for {} s in the middle of a result", self.idle.as_secs_f64()))
            })?;
            match frame {
                None => {
                    self.ended = true;
                    return Ok(false);
                }
                Some(Err(status)) => return Err(super::status_error(status)),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => {
                        self.chunks.push_back(data);
                        return Ok(true);
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            self.trailers = Some(t);
                        }
                        self.ended = true;
                        return Ok(false);
                    }
                },
            }
        }
    }

    /// Hands `n` bytes to `sink`, slice by slice as they arrived.
    async fn read_with(&mut self, mut n: usize, mut sink: impl FnMut(&[u8])) -> Result<()> {
        while n > 0 {
            if self.chunks.is_empty() && !self.fill().await? {
                return Err(wire("the server closed the stream in the middle of a message"));
            }
            let Some(chunk) = self.chunks.front_mut() else { continue };
            let take = n.min(chunk.len());
            sink(&chunk[..take]);
            chunk.advance(take);
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
            n -= take;
        }
        Ok(())
    }

    async fn read_vec(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(n);
        self.read_with(n, |s| v.extend_from_slice(s)).await?;
        Ok(v)
    }

    async fn read_varint(&mut self, left: &mut usize) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            if *left == 0 {
                return Err(wire("a FlightData message ends inside a field"));
            }
            let mut byte = 0u8;
            self.read_with(1, |s| byte = s[0]).await?;
            *left -= 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(wire("a FlightData message has a malformed length"))
    }

    /// True at the end of the body (after the last message).
    async fn at_end(&mut self) -> Result<bool> {
        while self.chunks.is_empty() {
            if !self.fill().await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The next FlightData message, or `None` at the end of a call that succeeded.
    async fn next_part(&mut self) -> Result<Option<Part>> {
        if self.at_end().await? {
            if let Some(status) = self.trailers.as_ref().and_then(tonic::Status::from_header_map)
                && status.code() != tonic::Code::Ok
            {
                return Err(super::status_error(status));
            }
            if self.trailers.is_none() {
                return Err(wire("the stream ended without a gRPC status (the server or the connection went away)"));
            }
            return Ok(None);
        }
        let prefix = self.read_vec(5).await?;
        if prefix[0] != 0 {
            return Err(wire("the server sent a compressed message; heavytune asks for none"));
        }
        let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        if len > self.max_message {
            return Err(wire(format!(
                "a message of {len} bytes is over the {} byte limit (--timeout and the server's message size)",
                self.max_message
            )));
        }
        let mut left = len;
        let mut header = Vec::new();
        let mut body = None;
        while left > 0 {
            let key = self.read_varint(&mut left).await?;
            let (field, kind) = (key >> 3, key & 7);
            match kind {
                0 => {
                    self.read_varint(&mut left).await?;
                }
                2 => {
                    let n = self.read_varint(&mut left).await? as usize;
                    if n > left {
                        return Err(wire("a FlightData field is longer than its message"));
                    }
                    left -= n;
                    match field {
                        FIELD_HEADER => header = self.read_vec(n).await?,
                        FIELD_BODY => {
                            // The one receive copy: HTTP/2 frames into a 64-byte aligned buffer.
                            let mut buffer = MutableBuffer::with_capacity(n);
                            self.read_with(n, |s| buffer.extend_from_slice(s)).await?;
                            body = Some(Buffer::from(buffer));
                        }
                        FIELD_DESCRIPTOR | FIELD_APP_METADATA => self.read_with(n, |_| {}).await?,
                        _ => self.read_with(n, |_| {}).await?,
                    }
                }
                _ => return Err(wire(format!("a FlightData field has wire type {kind}, which it never has"))),
            }
        }
        Ok(Some(Part { header, body: body.unwrap_or_else(|| Buffer::from(MutableBuffer::new(0))) }))
    }
}

/// Decodes the messages of one DoGet: the schema first, then dictionaries and batches.
pub(crate) struct Decoder {
    reader: Reader,
    schema: SchemaRef,
    dictionaries: HashMap<i64, ArrayRef>,
    /// The message bodies the dictionaries were decoded from (their arrays are slices of them).
    dictionary_bodies: HashMap<i64, Buffer>,
}

impl Decoder {
    /// Reads up to the schema message (it comes first, also for a result of no rows).
    pub(crate) async fn start(mut reader: Reader) -> Result<Decoder> {
        let schema = loop {
            let Some(part) = reader.next_part().await? else {
                return Err(wire("the result stream ended before its schema"));
            };
            if part.header.is_empty() {
                continue; // metadata only
            }
            let message = ipc_message(&part.header)?;
            match message.header_type() {
                MessageHeader::Schema => {
                    let fb =
                        message.header_as_schema().ok_or_else(|| wire("an IPC schema message without a schema"))?;
                    break Arc::new(ipc::convert::fb_to_schema(fb));
                }
                other => return Err(wire(format!("the result stream began with {other:?} instead of a schema"))),
            }
        };
        Ok(Decoder { reader, schema, dictionaries: HashMap::new(), dictionary_bodies: HashMap::new() })
    }

    /// The next batch, or `None` at the end.
    pub(crate) async fn next(&mut self) -> Result<Option<Decoded>> {
        loop {
            let Some(part) = self.reader.next_part().await? else { return Ok(None) };
            if part.header.is_empty() {
                continue;
            }
            let message = ipc_message(&part.header)?;
            let version: MetadataVersion = message.version();
            match message.header_type() {
                MessageHeader::RecordBatch => {
                    let rb = message
                        .header_as_record_batch()
                        .ok_or_else(|| wire("a record batch message without a batch"))?;
                    if rb.compression().is_some() {
                        return Err(wire("the server sent a compressed batch; heavytune asks for none"));
                    }
                    let batch = ipc::reader::RecordBatchDecoder::try_new(
                        &part.body,
                        rb,
                        Arc::clone(&self.schema),
                        &self.dictionaries,
                        &version,
                    )?
                    .read_record_batch()?;
                    let mut bodies: Vec<&Buffer> = self.dictionary_bodies.values().collect();
                    bodies.push(&part.body);
                    let copied = copied_bytes(&batch, &bodies);
                    return Ok(Some(Decoded { batch, copied, received: part.body.len() as u64 }));
                }
                MessageHeader::DictionaryBatch => {
                    let d = message
                        .header_as_dictionary_batch()
                        .ok_or_else(|| wire("a dictionary message without a dictionary"))?;
                    if d.isDelta() {
                        return Err(wire("the server sent a dictionary delta; heavytune asks for whole dictionaries"));
                    }
                    let id = d.id();
                    ipc::reader::read_dictionary(&part.body, d, &self.schema, &mut self.dictionaries, &version)?;
                    self.dictionary_bodies.insert(id, part.body);
                }
                MessageHeader::Schema => return Err(wire("a second schema in one result stream")),
                other => return Err(wire(format!("an IPC message of type {other:?} in a result stream"))),
            }
        }
    }
}

fn ipc_message(header: &[u8]) -> Result<ipc::Message<'_>> {
    ipc::root_as_message(header).map_err(|e| wire(format!("the server sent an IPC header that does not decode: {e}")))
}

/// The bytes of `batch`'s buffers that lie inside none of `bodies` (copies made while
/// decoding).
pub(crate) fn copied_bytes(batch: &RecordBatch, bodies: &[&Buffer]) -> u64 {
    let ranges: Vec<(usize, usize)> =
        bodies.iter().map(|b| (b.as_ptr() as usize, b.as_ptr() as usize + b.len())).collect();
    let mut copied = 0u64;
    crate::engine::for_each_buffer(batch, |b| {
        let p = b.as_ptr() as usize;
        if !b.is_empty() && !ranges.iter().any(|&(start, end)| p >= start && p + b.len() <= end) {
            copied += b.len() as u64;
        }
    });
    copied
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int32Array};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn buffers_outside_the_body_count_as_copies() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new("b", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int32Array::from(vec![1, 2, 3])), Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0]))],
        )
        .unwrap();
        let elsewhere = Buffer::from(MutableBuffer::new(64));
        assert_eq!(copied_bytes(&batch, &[&elsewhere]), 3 * 4 + 3 * 8);
        // The Int32 column's own buffer as "the body": only the floats are outside it.
        let ints = batch.column(0).to_data().buffers()[0].clone();
        assert_eq!(copied_bytes(&batch, &[&ints]), 3 * 8);
        let floats = batch.column(1).to_data().buffers()[0].clone();
        assert_eq!(copied_bytes(&batch, &[&elsewhere, &ints, &floats]), 0);
    }
}
