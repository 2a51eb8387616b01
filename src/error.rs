//! Typed errors of the library; the CLI turns them into messages and exit codes.

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

/// Every failure the library reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },

    /// Bad input data: the location says where, the message what was expected.
    #[error("{location}: {message}")]
    Input { location: Location, message: String },

    #[error("engine URL {url:?}: {message}")]
    EngineUrl { url: String, message: String },

    #[error("no table named {name:?} in {db}; known tables: {known}")]
    UnknownTable { name: String, db: String, known: String },

    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },

    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),

    #[error(transparent)]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),

    #[error("{path}: could not draw the chart: {message}")]
    Plot { path: String, message: String },

    #[error("catalog {path}: {message}")]
    Catalog { path: String, message: String },
}

impl Error {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), source }
    }
    pub(crate) fn input(location: Location, message: impl Into<String>) -> Self {
        Error::Input { location, message: message.into() }
    }
    pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid { what, message: message.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
