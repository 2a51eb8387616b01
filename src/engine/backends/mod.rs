//! Engine backends, one file each. Only the embedded DataFusion engine runs today; remote
//! backends (Arrow Flight SQL, ODBC for HeavyDB and PostgreSQL, Ballista) join here.

mod embedded;

pub use embedded::Embedded;
