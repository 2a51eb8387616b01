//! heavytune: pick trading-strategy portfolios with SQL engines and local kernels.
//!
//! Data flows one way: [`load`] (input files) -> [`engine`] (SQL over Arrow) -> [`report`].
//! [`synth`] makes production-shape data; [`metrics`] holds the legacy formulas.

pub mod calibration;
pub mod config;
pub mod engine;
pub mod error;
pub mod fitness;
pub mod ingest;
pub mod load;
pub mod metrics;
pub mod pipeline;
pub mod report;
pub mod search;
pub mod synth;
pub mod ulta;

pub use error::{Error, Result};
