//! heavytune: pick trading-strategy portfolios with SQL engines and local kernels.
//!
//! Data flows one way: [`load`] reads the input files; [`ingest`] puts them into an
//! [`engine`] as the long tables of [`tables`]; [`stages`] run the [`templates`] there, through
//! the [`rewrite`] rules, and pull the results as Arrow; the [`kernels`] crate and [`search`]
//! find the portfolios (on a GPU when [`device`] finds one); [`output`] writes what a person
//! or program reads. [`pipeline`] is that job end to end, configured by [`spec`] (flags over a
//! legacy [`config`]).
//!
//! Around it: [`strategy_metrics`] and [`performance`] (the legacy's per-strategy and portfolio
//! report figures), [`ulta`] (the legacy inversion), [`score`] (given portfolios), [`query`],
//! [`exec`], [`explain`], [`ab`] and [`sandbox`] (a query, its rewrite, their plans and
//! timings, statements that write run on session copies), [`synth`]
//! and [`calibration`] (production-shape test data); [`memory`] hands freed memory back after
//! the engine's stages.

pub mod ab;
pub mod calibration;
pub mod config;
pub mod device;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod exec;
pub mod explain;
pub mod fetch_bench;
pub mod flight;
pub mod ingest;
pub mod load;
pub mod memory;
pub mod output;
pub mod performance;
pub mod pipeline;
pub mod query;
pub mod rewrite;
pub mod sandbox;
pub mod score;
pub mod search;
pub mod serve;
pub mod spec;
pub mod stages;
pub mod strategy_metrics;
pub mod synth;
pub mod tables;
pub mod templates;
pub mod ulta;

pub use error::{Error, ErrorClass, Result};
pub use heavytune_kernels as kernels;
