//! Printing statements for the engines we target: DataFusion (as parsed), PostgreSQL and
//! HeavyDB. A construct an engine cannot express is an error, never silently wrong SQL.

use std::ops::ControlFlow;

use sqlparser::ast::{DataType, Expr, Statement, VisitMut, VisitorMut};

use crate::error::{Error, Result};

/// Rows per HeavyDB fragment for the tables we create (as in `schema/heavydb.sql`). HeavyDB's
/// default is 32 M rows ("It defaults to 32 million rows", HeavyDB docs, DDL > Tables >
/// CREATE TABLE, `fragment_size`): the 2,094,608 rows of a production load would be one
/// fragment, which one GPU scans alone. 524,288 gives four.
pub const HEAVYDB_FRAGMENT_SIZE: u64 = 524_288;

/// The functions HeavyDB runs over a window (HeavyDB docs, SQL > Data Manipulation > Window
/// Functions; `SqlWindowFunctionKind` in its source): aggregates MIN/MAX/AVG/SUM/COUNT and the
/// conditional counts, ranking, offsets and fills. CORR, COVAR_* and STDDEV are not among
/// them.
pub const HEAVYDB_WINDOW_FUNCTIONS: &[&str] = &[
    "MIN",
    "MAX",
    "AVG",
    "SUM",
    "COUNT",
    "COUNT_IF",
    "SUM_IF",
    "ROW_NUMBER",
    "RANK",
    "DENSE_RANK",
    "PERCENT_RANK",
    "CUME_DIST",
    "NTILE",
    "LAG",
    "LEAD",
    "FIRST_VALUE",
    "LAST_VALUE",
    "NTH_VALUE",
    "LAG_IN_FRAME",
    "LEAD_IN_FRAME",
    "FORWARD_FILL",
    "BACKWARD_FILL",
    "CONDITIONAL_CHANGE_EVENT",
];

/// A SQL dialect heavytune prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    #[default]
    Datafusion,
    Postgres,
    Heavydb,
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dialect::Datafusion => "datafusion",
            Dialect::Postgres => "postgres",
            Dialect::Heavydb => "heavydb",
        })
    }
}

struct Adapt {
    dialect: Dialect,
    error: Option<String>,
}

impl Adapt {
    fn data_type(&self, t: &mut DataType) {
        match (self.dialect, &*t) {
            (Dialect::Postgres, DataType::Double(_)) => *t = DataType::DoublePrecision,
            (Dialect::Heavydb, DataType::Varchar(_) | DataType::String(_)) => *t = DataType::Text,
            _ => {}
        }
    }
}

impl VisitorMut for Adapt {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Cast { data_type, .. } => self.data_type(data_type),
            Expr::Function(f) if self.dialect == Dialect::Heavydb && f.over.is_some() => {
                let name = f.name.to_string().to_ascii_uppercase();
                if !HEAVYDB_WINDOW_FUNCTIONS.contains(&name.as_str()) {
                    self.error = Some(format!(
                        "HeavyDB cannot run {name} as a window function ({f}); its window functions are {} \
                         (HeavyDB docs, SQL > Data Manipulation > Window Functions); compute it per group and join back",
                        HEAVYDB_WINDOW_FUNCTIONS.join(", ")
                    ));
                    return ControlFlow::Break(());
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, stmt: &mut Statement) -> ControlFlow<()> {
        if let Statement::CreateTable(ct) = stmt {
            for c in &mut ct.columns {
                self.data_type(&mut c.data_type);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Prints `stmt` for `dialect`.
pub fn print(stmt: &Statement, dialect: Dialect) -> Result<String> {
    let mut stmt = stmt.clone();
    let mut adapt = Adapt { dialect, error: None };
    let _ = stmt.visit(&mut adapt);
    if let Some(message) = adapt.error {
        return Err(Error::data("dialect", message));
    }
    let ctas = crate::engine::EngineKind::of_dialect(dialect).capabilities().ctas;
    match &stmt {
        // HeavyDB's CTAS puts the table options after the query: `CREATE [TEMPORARY] TABLE t
        // AS (SELECT ...) WITH (...)` (HeavyDB's DDL grammar, `SqlCreateTable`).
        Statement::CreateTable(ct) if ct.query.is_some() => match (ctas, &ct.query) {
            (crate::engine::CtasForm::ParenthesizedWithOptions, Some(query)) => Ok(format!(
                "CREATE {}TABLE {} AS ({query}) WITH (fragment_size = {HEAVYDB_FRAGMENT_SIZE})",
                if ct.temporary { "TEMPORARY " } else { "" },
                ct.name
            )),
            _ => Ok(stmt.to_string()),
        },
        // HeavyDB docs, DDL > Tables > CREATE TABLE: `<column> <type> [NOT NULL] [DEFAULT
        // <value>] [ENCODING <encodingSpec>]`: the encoding comes last. Text columns are
        // dictionary-encoded and dates stored as days, as schema/heavydb.sql declares them.
        Statement::CreateTable(ct) if dialect == Dialect::Heavydb => {
            if !ct.constraints.is_empty() {
                return Err(Error::data("dialect", "HeavyDB tables take no key or check constraints"));
            }
            let columns: Vec<String> = ct
                .columns
                .iter()
                .map(|c| match c.data_type {
                    DataType::Text => format!("{c} ENCODING DICT(32)"),
                    DataType::Date => format!("{c} ENCODING DAYS(32)"),
                    _ => c.to_string(),
                })
                .collect();
            Ok(format!(
                "CREATE {}TABLE {} ({}) WITH (fragment_size = {HEAVYDB_FRAGMENT_SIZE})",
                if ct.temporary { "TEMPORARY " } else { "" },
                ct.name,
                columns.join(", ")
            ))
        }
        _ => Ok(stmt.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::parse;

    #[test]
    fn postgres_spells_double_precision() {
        let s = parse("SELECT CAST(x AS DOUBLE) FROM t").unwrap();
        assert_eq!(print(&s, Dialect::Postgres).unwrap(), "SELECT CAST(x AS DOUBLE PRECISION) FROM t");
        assert_eq!(print(&s, Dialect::Datafusion).unwrap(), "SELECT CAST(x AS DOUBLE) FROM t");
    }

    #[test]
    fn heavydb_ctas_and_ddl() {
        let s = parse("CREATE TABLE t2 AS SELECT a FROM t").unwrap();
        assert_eq!(
            print(&s, Dialect::Heavydb).unwrap(),
            "CREATE TABLE t2 AS (SELECT a FROM t) WITH (fragment_size = 524288)"
        );
        // HeavyDB docs, DDL > Tables > CREATE TABLE: NOT NULL before ENCODING.
        let s = parse("CREATE TEMPORARY TABLE s (id INT NOT NULL, name VARCHAR NOT NULL, d DATE, z VARCHAR)").unwrap();
        assert_eq!(
            print(&s, Dialect::Heavydb).unwrap(),
            "CREATE TEMPORARY TABLE s (id INT NOT NULL, name TEXT NOT NULL ENCODING DICT(32), d DATE ENCODING DAYS(32), \
             z TEXT ENCODING DICT(32)) WITH (fragment_size = 524288)"
        );
        let s = parse("CREATE TEMPORARY TABLE t2 AS SELECT a FROM t").unwrap();
        assert_eq!(
            print(&s, Dialect::Heavydb).unwrap(),
            "CREATE TEMPORARY TABLE t2 AS (SELECT a FROM t) WITH (fragment_size = 524288)"
        );
    }

    #[test]
    fn heavydb_rejects_corr_in_a_window() {
        let s = parse("SELECT CORR(a, b) OVER (PARTITION BY k) FROM t").unwrap();
        let e = print(&s, Dialect::Heavydb).unwrap_err().to_string();
        assert!(e.contains("HeavyDB cannot run CORR as a window function"), "{e}");
        assert!(print(&s, Dialect::Postgres).is_ok());
        for ok in [
            "SUM(x) OVER (PARTITION BY k ORDER BY s ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)",
            "LAG(x) OVER (ORDER BY s)",
            "ROW_NUMBER() OVER (ORDER BY s)",
        ] {
            assert!(print(&parse(&format!("SELECT {ok} FROM t")).unwrap(), Dialect::Heavydb).is_ok(), "{ok}");
        }
        let s = parse("SELECT STDDEV_POP(x) OVER (PARTITION BY k) FROM t").unwrap();
        assert!(print(&s, Dialect::Heavydb).is_err());
    }
}
