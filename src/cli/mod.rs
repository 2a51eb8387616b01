//! One file per command: its flags (with their `--help`), a call into the library, and the
//! printing of what it returned.

pub mod explain;
pub mod load;
pub mod run;
pub mod serve;
pub mod sql;
pub mod synth;

use heavytune::ErrorClass;

/// A usage mistake found at the command line (exit code 2).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// The class of an error, for the exit code: the library's own, else internal.
pub fn class_of(e: &anyhow::Error) -> ErrorClass {
    for cause in e.chain() {
        if let Some(h) = cause.downcast_ref::<heavytune::Error>() {
            return h.class();
        }
        if cause.is::<Usage>() {
            return ErrorClass::Usage;
        }
    }
    ErrorClass::Internal
}

/// Prints warnings on stderr (unless quiet).
pub fn warn_all(global: &crate::Global, warnings: &[String]) {
    if !global.quiet {
        for w in warnings {
            eprintln!("warning: {w}");
        }
    }
}
