//! Typed errors of the library, each in one class that the CLI turns into an exit code.

use std::fmt;
use std::path::PathBuf;

/// Where in an input file a problem sits (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// 1-based column index and, when known, the header name of that column.
    pub column: Option<(usize, Option<String>)>,
}

impl Location {
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location { file: file.into(), line: None, column: None }
    }
    pub fn line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }
    pub fn column(mut self, index: usize, name: Option<&str>) -> Self {
        self.column = Some((index, name.map(str::to_owned)));
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some((col, name)) = &self.column {
            write!(f, ", column {col}")?;
            if let Some(name) = name {
                write!(f, " ({name:?})")?;
            }
        }
        Ok(())
    }
}

/// The classes of failure, each with its own exit code (see [`ErrorClass::exit_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A flag or option has a value that cannot work.
    Usage,
    /// An input file, config, portfolio file, SQL text or data set is wrong.
    Input,
    /// The SQL engine failed, refused a query or returned something unexpected.
    Engine,
    /// A bug in heavytune, or the machine failed it (no space or no permission to write).
    Internal,
}

impl ErrorClass {
    /// 2 usage (also clap's own), 3 bad input, 4 engine, 5 internal.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorClass::Usage => 2,
            ErrorClass::Input => 3,
            ErrorClass::Engine => 4,
            ErrorClass::Internal => 5,
        }
    }
}

/// Every failure the library reports. Display texts carry their cause and no variant has a
/// `source()`, so a printed chain never repeats a cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading an input failed.
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },

    /// Writing an output failed (no space, no permission).
    #[error("writing {path}: {cause}")]
    Write { path: String, cause: std::io::Error },

    /// Bad input data: the location says where, the message what was expected.
    #[error("{location}: {message}")]
    Input { location: Location, message: String },

    /// A data set, SQL text or file that is wrong as a whole.
    #[error("{what}: {message}")]
    Data { what: &'static str, message: String },

    /// A flag or option value that cannot work.
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },

    /// The engine URL (printed without its password).
    #[error("engine URL {url}: {message}")]
    EngineUrl { url: String, message: String },

    /// The engine refused or failed a request, or answered something unexpected.
    #[error("{what}: {message}")]
    Engine { what: &'static str, message: String },

    #[error("{0}")]
    DataFusion(String),

    /// SQL text the engine could not parse.
    #[error("{0}")]
    Sql(String),

    #[error("{0}")]
    Arrow(String),

    #[error("{path}: could not draw the chart: {message}")]
    Plot { path: String, message: String },

    #[error("catalog {path}: {message}")]
    Catalog { path: String, message: String },

    /// A broken invariant: a bug to report.
    #[error("internal error: {0}")]
    Internal(String),

    /// An error with what heavytune was doing when it happened; its class is the inner one's.
    #[error("{what}: {inner}")]
    Context { what: &'static str, inner: Box<Error> },
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        // DataFusion wraps errors in context and diagnostics whose texts repeat the inner one:
        // keep the innermost text, said once.
        let root = e.find_root();
        match root {
            datafusion::error::DataFusionError::SQL(..) => Error::Sql(root.to_string()),
            _ => Error::DataFusion(root.to_string()),
        }
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Arrow(e.to_string())
    }
}

impl From<datafusion::parquet::errors::ParquetError> for Error {
    fn from(e: datafusion::parquet::errors::ParquetError) -> Self {
        Error::Engine { what: "parquet", message: e.to_string() }
    }
}

impl From<heavytune_kernels::UnknownMetric> for Error {
    fn from(e: heavytune_kernels::UnknownMetric) -> Self {
        Error::Invalid { what: "--metric", message: e.to_string() }
    }
}

impl Error {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, cause: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), cause }
    }
    pub(crate) fn write(path: impl AsRef<std::path::Path>, cause: std::io::Error) -> Self {
        Error::Write { path: path.as_ref().display().to_string(), cause }
    }
    pub(crate) fn input(location: Location, message: impl Into<String>) -> Self {
        Error::Input { location, message: message.into() }
    }
    /// A flag or option value that cannot work (`what` names it, e.g. `--max-size`).
    pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid { what, message: message.into() }
    }
    /// A data set, SQL text or file that is wrong as a whole.
    pub(crate) fn data(what: &'static str, message: impl Into<String>) -> Self {
        Error::Data { what, message: message.into() }
    }
    /// An engine failure or unexpected answer.
    pub(crate) fn engine(what: &'static str, message: impl Into<String>) -> Self {
        Error::Engine { what, message: message.into() }
    }
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }
    /// Says what was being done, keeping the error's class (and so its exit code).
    pub(crate) fn context(self, what: &'static str) -> Self {
        Error::Context { what, inner: Box::new(self) }
    }

    /// The class of this failure, for exit codes.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Invalid { .. } | Error::EngineUrl { .. } => ErrorClass::Usage,
            Error::Io { .. } | Error::Input { .. } | Error::Data { .. } | Error::Sql(_) => ErrorClass::Input,
            Error::Engine { .. } | Error::DataFusion(_) | Error::Catalog { .. } => ErrorClass::Engine,
            Error::Write { .. } | Error::Arrow(_) | Error::Plot { .. } | Error::Internal(_) => ErrorClass::Internal,
            Error::Context { inner, .. } => inner.class(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes as one line, each cause said once: a cause whose text the line
/// already holds is left out (libraries often repeat their cause in their own message).
pub fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !t.is_empty() && !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_say_their_cause_once() {
        let e = Error::io("nope.csv", std::io::Error::from(std::io::ErrorKind::NotFound));
        let text = chain_text(&e);
        assert_eq!(text.matches("not found").count(), 1, "{text}");
        assert!(text.starts_with("nope.csv: "), "{text}");
    }

    #[test]
    fn datafusion_errors_keep_the_root_text_once() {
        let inner = datafusion::error::DataFusionError::Plan("table 'x' not found".into());
        let wrapped = inner.context("planning");
        let e = Error::from(wrapped);
        let text = chain_text(&e);
        assert_eq!(text.matches("table 'x' not found").count(), 1, "{text}");
    }

    #[test]
    fn classes_map_to_distinct_exit_codes() {
        let codes: Vec<u8> = [ErrorClass::Usage, ErrorClass::Input, ErrorClass::Engine, ErrorClass::Internal]
            .iter()
            .map(|c| c.exit_code())
            .collect();
        assert_eq!(codes, [2, 3, 4, 5]);
    }

    #[test]
    fn context_keeps_the_class_and_says_the_cause_once() {
        let e = Error::Sql("expected FROM at line 1, column 9".into()).context("running the original query");
        assert_eq!(e.class(), ErrorClass::Input);
        assert_eq!(e.to_string(), "running the original query: expected FROM at line 1, column 9");
        assert_eq!(chain_text(&e), e.to_string());
        assert_eq!(Error::internal("x").context("y").class(), ErrorClass::Internal);
    }
}
