//! Functions heavytune registers in the embedded engine, one per file, listed in [`all`]. The
//! rewrite rules use them only where the engine says it has them
//! ([`crate::engine::Capabilities::ordered_series`]).

mod series;

use datafusion::logical_expr::AggregateUDF;

pub use series::OrderedSeries;

/// Every aggregate function the embedded engine registers.
pub fn all() -> Vec<AggregateUDF> {
    vec![AggregateUDF::from(OrderedSeries::new())]
}
