//! Engine URLs and connection options: credentials and TLS for remote engines, the database
//! folder and thread cap for the embedded one. A password never appears in a message.

use std::path::PathBuf;
use std::time::Duration;

use super::Engine;
use super::backends::Embedded;
use crate::error::{Error, Result};

/// A password: kept out of `Debug` output and every message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Reads the environment variable `var` (unset or empty: none).
    pub fn from_env(var: &str) -> Result<Option<Secret>> {
        match std::env::var(var) {
            Ok(v) if v.is_empty() => Ok(None),
            Ok(v) => Ok(Some(Secret(v))),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::invalid("--password-env", format!("the variable {var} is not valid UTF-8")))
            }
        }
    }

    /// The password itself, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// TLS settings for engines reached over the network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// Use TLS (also implied by a `grpc+tls://` URL).
    pub enabled: bool,
    /// Certificate authority to trust instead of the system's.
    pub ca: Option<PathBuf>,
    /// Client certificate and key, for servers that ask for one.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// How to reach an engine.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// The embedded engine's database folder; `None` gives a session of its own with no
    /// stored tables (a run that only reads files never opens a database folder).
    pub db: Option<PathBuf>,
    /// Most threads the engine's work may use (`--threads`); `None` is every core.
    pub threads: Option<usize>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub tls: Tls,
    /// Connect and per-call time limit for remote engines.
    pub timeout: Option<Duration>,
}

/// Engine URL schemes heavytune knows of besides `embedded`; all run but `ballista`, which is
/// planned.
pub const PLANNED_SCHEMES: &[(&str, &str)] = &[
    ("flightsql", "Arrow Flight SQL (grpc://host:port and grpc+tls://host:port also accepted)"),
    ("odbc", "HeavyDB or PostgreSQL over ODBC: odbc://<ODBC connection string>"),
    ("heavydb", "HeavyDB over its ODBC driver: heavydb://USER@HOST[:PORT]/DATABASE"),
    ("ballista", "Apache Ballista cluster"),
];

/// An engine URL split into its scheme and the rest.
#[derive(Clone, PartialEq, Eq)]
pub struct EngineUrl {
    pub scheme: String,
    /// Everything after `scheme://` (an ODBC connection string, or `[user@]host:port[/db]`).
    pub rest: String,
}

impl EngineUrl {
    pub fn parse(url: &str) -> Result<EngineUrl> {
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r.to_owned()),
            None => (url.to_ascii_lowercase(), String::new()),
        };
        let parsed = EngineUrl { scheme, rest };
        if parsed.scheme != "odbc" && parsed.authority_password() {
            return Err(Error::EngineUrl {
                url: parsed.redacted(),
                message: "a password in the URL ends up in shell history and process lists; \
                          put it in HEAVYTUNE_PASSWORD (or the variable --password-env names) instead"
                    .into(),
            });
        }
        Ok(parsed)
    }

    /// `user:password@` in the authority part.
    fn authority_password(&self) -> bool {
        let authority = self.rest.split(['/', '?']).next().unwrap_or("");
        authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
    }

    /// The URL as it may be printed: passwords (`user:secret@`, `PWD=...;`, `password=...`)
    /// replaced by `***`.
    pub fn redacted(&self) -> String {
        if self.scheme == "odbc" {
            // Parsed as a connection string: braced values may hold `;`.
            return format!("odbc://{}", super::backends::odbc::redact(&self.rest));
        }
        let mut rest = self.rest.clone();
        // user:password@host
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            rest.replace_range(colon + 1..at, "***");
        }
        // key=value pairs of connection strings and query parameters.
        let mut out = String::with_capacity(rest.len());
        for part in rest.split_inclusive([';', '&', '?']) {
            match part.split_once('=') {
                Some((key, value)) if is_password_key(key) => {
                    let end = value.chars().last().filter(|c| matches!(c, ';' | '&' | '?'));
                    out.push_str(key);
                    out.push_str("=***");
                    if let Some(c) = end {
                        out.push(c);
                    }
                }
                _ => out.push_str(part),
            }
        }
        if out.is_empty() { self.scheme.clone() } else { format!("{}://{out}", self.scheme) }
    }
}

fn is_password_key(key: &str) -> bool {
    let k = key.trim().trim_start_matches(['?', ';', '&']).to_ascii_lowercase();
    matches!(k.as_str(), "pwd" | "password" | "pass" | "passwd")
}

impl std::fmt::Debug for EngineUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Opens the engine named by `url`: `embedded` (the default) is DataFusion over `options.db`.
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Box<dyn Engine>> {
    let parsed = EngineUrl::parse(url)?;
    if let Some(0) = options.threads {
        return Err(Error::invalid("--threads", "must be at least 1"));
    }
    match parsed.scheme.as_str() {
        "embedded" | "datafusion" => {
            let engine = match &options.db {
                Some(db) => Embedded::open(db, options.threads).await?,
                None => Embedded::in_memory(options.threads),
            };
            Ok(Box::new(engine))
        }
        "flightsql" | "grpc" | "grpc+tls" => Ok(Box::new(super::backends::FlightSql::connect(&parsed, options).await?)),
        "odbc" | "heavydb" => Ok(Box::new(super::backends::Odbc::connect(&parsed, options).await?)),
        s if PLANNED_SCHEMES.iter().any(|(p, _)| *p == s) => Err(Error::EngineUrl {
            url: parsed.redacted(),
            message: "this engine is not supported yet; use --engine embedded (DataFusion, the default)".to_owned(),
        }),
        s => Err(Error::EngineUrl {
            url: parsed.redacted(),
            message: format!(
                "unknown engine scheme {s:?}; expected embedded, or later one of {}",
                PLANNED_SCHEMES.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let odbc = EngineUrl::parse("odbc://Driver={PostgreSQL};Server=h;UID=u;PWD=hunter2;Port=5432").unwrap();
        let shown = odbc.redacted();
        assert!(!shown.contains("hunter2") && shown.contains("PWD=***;") && shown.contains("Port=5432"), "{shown}");
        let q = EngineUrl::parse("odbc://DSN=x;password=s3cret").unwrap();
        assert!(!q.redacted().contains("s3cret"), "{}", q.redacted());
        assert!(!format!("{q:?}").contains("s3cret"));
        let e = EngineUrl::parse("flightsql://bob:hunter2@127.0.0.1:50051").unwrap_err().to_string();
        assert!(!e.contains("hunter2") && e.contains("HEAVYTUNE_PASSWORD"), "{e}");
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    #[test]
    fn planned_and_unknown_schemes_are_clear_errors() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let opts = ConnectOptions::default();
        let planned = rt.block_on(connect("ballista://127.0.0.1:50050", &opts)).err().unwrap().to_string();
        assert!(planned.contains("not supported yet"), "{planned}");
        // A driver that is not installed: named, with how to install it; no password shown.
        let odbc = rt
            .block_on(connect("odbc://Driver={No Such Driver 7};Server=h;PWD={top;secret}", &opts))
            .err()
            .unwrap()
            .to_string();
        assert!(odbc.contains("\"No Such Driver 7\" is not installed") && odbc.contains("apt-get install"), "{odbc}");
        assert!(!odbc.contains("top") && !odbc.contains("secret"), "{odbc}");
        let syntax = rt.block_on(connect("odbc://Driver={x;PWD=s3cret", &opts)).err().unwrap().to_string();
        assert!(syntax.contains("column 8") && !syntax.contains("s3cret"), "{syntax}");
        let unknown = rt.block_on(connect("mysql://x", &opts)).err().unwrap().to_string();
        assert!(unknown.contains("unknown engine scheme"), "{unknown}");
        assert!(rt.block_on(connect("embedded", &opts)).is_ok());
    }
}
