//! What heavytune's Flight SQL server (`serve`) and its `flightsql://` engine agree on beyond
//! the Flight SQL protocol: Basic credentials as every client sends them, the custom actions
//! for what Flight SQL has no command for, the error class carried with a status, and the
//! schema a result travels in.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::ErrorClass;

/// Custom `DoAction` types: a JSON body in, one JSON result out.
pub const ACTION_INFO: &str = "heavytune.info";
pub const ACTION_EXPLAIN: &str = "heavytune.explain";
pub const ACTION_STATISTICS: &str = "heavytune.statistics";
pub const ACTION_CREATE_TEMPORARY_AS: &str = "heavytune.create_temporary_as";
pub const ACTION_DROP_TEMPORARY: &str = "heavytune.drop_temporary";

/// Status metadata key holding heavytune's error class (`usage`, `input`, `engine`,
/// `internal`), so the client's exit code is the embedded engine's.
pub const CLASS_KEY: &str = "heavytune-error-class";

/// Largest gRPC message either side accepts (tonic's default is 4 MiB; ADBC's Go client sends
/// up to 16 MiB, and one ingest batch is one message).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Largest HTTP/2 frame either side accepts (the most HTTP/2 allows; 16 KiB by default):
/// a result then travels in a few large frames instead of thousands of small ones, each a
/// read on the socket.
pub const MAX_FRAME_BYTES: u32 = (1 << 24) - 1;

/// DoGet messages are cut near this size (arrow-flight's default target; under every
/// client's receive limit).
pub const TARGET_MESSAGE_BYTES: usize = 2 << 20;

/// What `heavytune.info` answers: the engine behind the server and what it can do.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServerInfo {
    pub server: String,
    pub version: String,
    pub kind: crate::engine::EngineKind,
    pub capabilities: crate::engine::Capabilities,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExplainRequest {
    pub sql: String,
    pub analyze: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TableRequest {
    pub table: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CreateAsRequest {
    pub name: String,
    pub sql: String,
}

/// The value of an `authorization: Basic ...` header for `user` and `password`.
pub fn basic_header(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// User and password of an `authorization: Basic ...` header, with or without `=` padding
/// (Go clients such as ADBC's leave it off).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic "))?;
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let decoded = engine.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

pub fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Usage => "usage",
        ErrorClass::Input => "input",
        ErrorClass::Engine => "engine",
        ErrorClass::Internal => "internal",
    }
}

/// The schema a result travels in: the engine's, every column nullable, so that the schema
/// announced in FlightInfo before the query runs is the one of every batch (Flight SQL
/// clients such as ADBC refuse a stream whose schema differs, and an engine's batches may be
/// stricter than its plan says). Dictionary columns stay dictionaries: the server sends each
/// batch's dictionary with it.
pub fn wire_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> =
        schema.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect();
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;

    #[test]
    fn basic_credentials_decode_with_or_without_padding() {
        let padded = basic_header("ann", "s3cret:xy");
        assert_eq!(parse_basic(&padded), Some(("ann".into(), "s3cret:xy".into())));
        let unpadded = padded.trim_end_matches('=').to_owned();
        assert_ne!(unpadded, padded, "this pair must need padding to test it");
        assert_eq!(parse_basic(&unpadded), Some(("ann".into(), "s3cret:xy".into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[test]
    fn wire_schemas_keep_types_and_allow_nulls() {
        let s = Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("zone", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        ]);
        let w = wire_schema(&s);
        assert_eq!(w.field(0).data_type(), &DataType::Int32);
        assert_eq!(w.field(1).data_type(), s.field(1).data_type());
        assert!(w.fields().iter().all(|f| f.is_nullable()));
    }
}
