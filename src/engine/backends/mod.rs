//! Engine backends, one file each: the embedded DataFusion engine and Arrow Flight SQL
//! servers; ODBC (HeavyDB, PostgreSQL) and Ballista join here.

mod embedded;
mod flightsql;

pub use embedded::{Embedded, Staged};
pub use flightsql::FlightSql;
