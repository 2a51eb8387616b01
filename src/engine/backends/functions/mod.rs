//! Functions heavytune registers in the embedded engine, one per file, listed in [`all`] and
//! [`scalars`]. The rewrite rules use them only where the engine says it has them
//! ([`crate::engine::Capabilities::ordered_series`]).

mod series;
mod series_of;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

pub use series::OrderedSeries;
pub use series_of::SeriesOf;

/// Every aggregate function the embedded engine registers.
pub fn all() -> Vec<AggregateUDF> {
    vec![AggregateUDF::from(OrderedSeries::new())]
}

/// Every scalar function the embedded engine registers.
pub fn scalars() -> Vec<ScalarUDF> {
    vec![ScalarUDF::from(SeriesOf::new())]
}
