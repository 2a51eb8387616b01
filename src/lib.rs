//! heavytune: pick trading-strategy portfolios with SQL engines and local kernels.
//!
//! Data flows one way: [`load`] (input files) -> [`engine`] (SQL over Arrow, from the
//! [`templates`] through the [`rewrite`] rules) -> [`kernels`] and [`fitness`]/[`search`] ->
//! [`report`]. [`synth`] makes production-shape data; [`metrics`] holds the legacy formulas.

pub mod ab;
pub mod calibration;
pub mod config;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod fitness;
pub mod ingest;
pub mod kernels;
pub mod load;
pub mod metrics;
pub mod pipeline;
pub mod report;
pub mod rewrite;
pub mod search;
pub mod stages;
pub mod synth;
pub mod templates;
pub mod ulta;

pub use error::{Error, Result};
