//! heavytune's numeric kernels: the steps after the SQL engine that SQL does badly.
//!
//! - [`series`]: one pass over a daily P&L series gives its sum, drawdown, wins and losses, for
//!   strategy metrics, portfolio fitness and charts alike.
//! - [`metrics`]: the six fitness metrics of the legacy config, one file each.
//! - [`standardize`]: centred, unit-norm columns, so a correlation is a dot product.
//! - [`fitness`]: batch fitness of candidate portfolios (the correlation penalty from
//!   standardized sums, never a strategy-by-strategy matrix).
//! - [`swap`]: single-strategy swaps scored from a portfolio's running sums.
//! - [`pages`]: large buffers on 2 MiB pages (fewer TLB misses for random row reads).
//! - [`corr`]: the correlation matrix product `Z Z^T`, streamed in blocks of rows.
//! - [`gpu`]: the same kernels on a GPU (CUDA through cudarc, NVRTC at run time).
//! - [`sources`]: the CUDA C sources of the GPU kernels (`cuda/`) and their entry points.
//!
//! The crate depends on no SQL engine and no CLI, so it can be built, tested and benchmarked
//! alone (`cargo test -p heavytune-kernels`).

pub mod corr;
pub mod fitness;
pub mod gpu;
pub mod metrics;
pub mod pages;
pub mod series;
pub mod sources;
pub mod standardize;
pub mod swap;

pub use corr::Standardized;
pub use fitness::{Balance, Eval, Evaluator, Penalty, Scratch};
pub use metrics::{DRAWDOWN_EPS, FitnessMetric, Metric, UnknownMetric, base_fitness};
pub use series::{SeriesStats, portfolio_returns};
pub use standardize::standardize;
pub use swap::Incremental;
