//! Printing statements for the engines we target: DataFusion (as parsed), PostgreSQL and
//! HeavyDB. A construct an engine cannot express is an error, never silently wrong SQL.

use std::ops::ControlFlow;

use sqlparser::ast::{DataType, Expr, Statement, VisitMut, VisitorMut};

use crate::error::{Error, Result};

/// Rows per HeavyDB fragment for the tables we create (as in `schema/heavydb.sql`).
pub const HEAVYDB_FRAGMENT_SIZE: u64 = 524_288;

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
                if matches!(name.as_str(), "CORR" | "COVAR_POP" | "COVAR_SAMP") {
                    self.error = Some(format!(
                        "HeavyDB cannot run {name} inside a window function ({f}); compute it per group and join back"
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
        // HeavyDB's CTAS puts the table options after the query.
        Statement::CreateTable(ct) if ct.query.is_some() => match (ctas, &ct.query) {
            (crate::engine::CtasForm::ParenthesizedWithOptions, Some(query)) => {
                Ok(format!("CREATE TABLE {} AS ({query}) WITH (fragment_size = {HEAVYDB_FRAGMENT_SIZE})", ct.name))
            }
            _ => Ok(stmt.to_string()),
        },
        Statement::CreateTable(ct) if dialect == Dialect::Heavydb => {
            let mut text = stmt.to_string();
            // Dictionary-encoded text columns, as schema/heavydb.sql declares them.
            for c in &ct.columns {
                if c.data_type == DataType::Text {
                    let plain = format!("{} TEXT", c.name);
                    text = text.replacen(&plain, &format!("{} TEXT ENCODING DICT(32)", c.name), 1);
                }
            }
            Ok(format!("{text} WITH (fragment_size = {HEAVYDB_FRAGMENT_SIZE})"))
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
        let s = parse("CREATE TABLE s (id INT NOT NULL, name VARCHAR NOT NULL)").unwrap();
        assert_eq!(
            print(&s, Dialect::Heavydb).unwrap(),
            "CREATE TABLE s (id INT NOT NULL, name TEXT ENCODING DICT(32) NOT NULL) WITH (fragment_size = 524288)"
        );
    }

    #[test]
    fn heavydb_rejects_corr_in_a_window() {
        let s = parse("SELECT CORR(a, b) OVER (PARTITION BY k) FROM t").unwrap();
        let e = print(&s, Dialect::Heavydb).unwrap_err().to_string();
        assert!(e.contains("HeavyDB cannot run CORR inside a window"), "{e}");
        assert!(print(&s, Dialect::Postgres).is_ok());
    }
}
