//! Engine backends, one module each: the embedded DataFusion engine, Arrow Flight SQL servers
//! and SQL servers over ODBC (HeavyDB, PostgreSQL); Ballista joins here.

mod embedded;
mod flightsql;
pub mod functions;
pub mod odbc;
mod partition_threads;
mod replayed;
mod update_in;
mod yielding_joins;

pub use embedded::{Embedded, Planned, Staged};
pub use flightsql::FlightSql;
pub use odbc::Odbc;
