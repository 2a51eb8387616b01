//! Which engine a connection reaches, and what it can do: the facts the rewrite rules and the
//! stages read, instead of asking for an engine by name.

use crate::dialect::Dialect;

/// The engines heavytune knows. Capabilities and the printing dialect follow from the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Apache DataFusion in this process (the embedded default).
    Datafusion,
    /// PostgreSQL (over ODBC).
    Postgres,
    /// HeavyDB, the GPU SQL engine (over ODBC).
    Heavydb,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Datafusion => "datafusion",
            EngineKind::Postgres => "postgres",
            EngineKind::Heavydb => "heavydb",
        }
    }

    /// The engine whose dialect this is.
    pub fn of_dialect(dialect: Dialect) -> EngineKind {
        match dialect {
            Dialect::Datafusion => EngineKind::Datafusion,
            Dialect::Postgres => EngineKind::Postgres,
            Dialect::Heavydb => EngineKind::Heavydb,
        }
    }

    /// The dialect statements are printed in for this engine.
    pub fn dialect(self) -> Dialect {
        match self {
            EngineKind::Datafusion => Dialect::Datafusion,
            EngineKind::Postgres => Dialect::Postgres,
            EngineKind::Heavydb => Dialect::Heavydb,
        }
    }

    /// The engine's capabilities as documented by it (and, for DataFusion, measured here).
    pub fn capabilities(self) -> Capabilities {
        match self {
            EngineKind::Datafusion => Capabilities {
                // In-memory tables take UPDATE; Parquet tables do not.
                update: true,
                update_rewrites_fragments: false,
                ctas: CtasForm::Standard,
                // Every table a session creates is the session's own: nothing to mark.
                temporary_tables: TemporaryTables::SessionOnly,
                transactions: false,
                explain_analyze: true,
                wide_tables: true,
                // Partitions of session tables are scanned side by side.
                scans_in_insertion_order: false,
                // heavytune registers ht_series in its sessions (also behind `heavytune serve`).
                ordered_series: true,
            },
            EngineKind::Postgres => Capabilities {
                update: true,
                update_rewrites_fragments: false,
                ctas: CtasForm::Standard,
                temporary_tables: TemporaryTables::CreateTemporary,
                transactions: true,
                explain_analyze: true,
                wide_tables: false,
                scans_in_insertion_order: true,
                ordered_series: false,
            },
            EngineKind::Heavydb => Capabilities {
                update: true,
                // A column store: an UPDATE rewrites whole chunks of the columns it touches.
                update_rewrites_fragments: true,
                ctas: CtasForm::ParenthesizedWithOptions,
                temporary_tables: TemporaryTables::CreateTemporary,
                transactions: false,
                explain_analyze: false,
                // HeavyDB caps the columns of a table far below 25,544 strategies.
                wide_tables: false,
                scans_in_insertion_order: true,
                ordered_series: false,
            },
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How `CREATE TABLE ... AS` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CtasForm {
    /// `CREATE TABLE t AS SELECT ...`
    Standard,
    /// `CREATE TABLE t AS (SELECT ...) WITH (options)` (HeavyDB).
    ParenthesizedWithOptions,
}

/// How an engine keeps a table to one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TemporaryTables {
    /// Tables created in a session are never seen by others (an in-process engine).
    SessionOnly,
    /// `CREATE TEMPORARY TABLE`: dropped by the server when the session ends.
    CreateTemporary,
}

/// What an engine can do, as the rewrite rules and the stages ask it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capabilities {
    /// Runs `UPDATE` on (some of) its tables.
    pub update: bool,
    /// An `UPDATE` rewrites whole column fragments, so a `CREATE TABLE AS` pays.
    pub update_rewrites_fragments: bool,
    pub ctas: CtasForm,
    pub temporary_tables: TemporaryTables,
    /// `BEGIN` / `COMMIT` / `ROLLBACK` around several statements.
    pub transactions: bool,
    /// `EXPLAIN ANALYZE` runs a query and reports measured times.
    pub explain_analyze: bool,
    /// Tables of tens of thousands of columns are practical and cheap to read.
    pub wide_tables: bool,
    /// A table made by `CREATE TABLE AS ... ORDER BY` is scanned back in that order (a heap
    /// or fragment store), so sums over a later scan add rows in that order.
    #[serde(default)]
    pub scans_in_insertion_order: bool,
    /// Has heavytune's aggregate `ht_series(value, seq)` (the embedded engine's functions):
    /// a series' figures in day order in one pass, where running windows are the portable form.
    #[serde(default)]
    pub ordered_series: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_print_in_their_own_dialect() {
        for k in [EngineKind::Datafusion, EngineKind::Postgres, EngineKind::Heavydb] {
            assert_eq!(k.dialect().to_string(), k.name());
            assert_eq!(EngineKind::of_dialect(k.dialect()), k);
        }
        assert!(EngineKind::Heavydb.capabilities().update_rewrites_fragments);
        assert!(EngineKind::Datafusion.capabilities().wide_tables);
    }
}
