//! Tables in the server's dialect: the stored pair `load` writes from `schema/` (PostgreSQL's
//! file as written, with its keys and index; HeavyDB's as printed from the generic shape, which
//! a test holds equal to `schema/heavydb.sql`), and any other table from its Arrow schema.

use std::ops::ControlFlow;

use arrow::datatypes::{DataType, Schema};
use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Statement, VisitMut, VisitorMut};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::dialect::{Dialect, print};
use crate::error::{Error, Result};
use crate::tables::TableNames;
use crate::templates::table_ident;

/// `schema/postgresql.sql`: the stored tables with their keys and index.
const POSTGRES_SCHEMA: &str = include_str!("../../../../schema/postgresql.sql");

/// The generic SQL type of an Arrow type, or `None` when heavytune cannot store it.
fn sql_type(t: &DataType) -> Option<String> {
    Some(match t {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "SMALLINT".into(),
        DataType::Int32 | DataType::UInt16 => "INTEGER".into(),
        DataType::Int64 | DataType::UInt32 => "BIGINT".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8) => "VARCHAR".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Decimal128(p, s) if *s >= 0 => format!("DECIMAL({p}, {s})"),
        _ => return None,
    })
}

/// `CREATE [TEMPORARY] TABLE name (...)` for `schema`, in the generic dialect (print it with
/// [`print`] for the server). A column of a type no server table can hold is an error naming it.
pub fn create_table(name: &str, schema: &Schema, temporary: bool, engine: &str) -> Result<Statement> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let t = sql_type(f.data_type()).ok_or_else(|| {
            Error::data(
                "table",
                format!(
                    "column {:?} of {name:?} is {}, which heavytune cannot store in {engine} \
                     (numbers, text, booleans, dates and timestamps can be stored)",
                    f.name(),
                    f.data_type()
                ),
            )
        })?;
        let null = if f.is_nullable() { "" } else { " NOT NULL" };
        columns.push(format!("{} {t}{null}", table_ident(f.name())));
    }
    let temporary = if temporary { "TEMPORARY " } else { "" };
    crate::templates::parse(&format!("CREATE {temporary}TABLE {} ({})", table_ident(name), columns.join(", ")))
}

/// Renames the stored tables of the schema files to `names`.
struct Rename<'a> {
    names: &'a TableNames,
}

impl Rename<'_> {
    fn rename(&self, name: &mut ObjectName) {
        let to = match crate::templates::bare_name(name).as_str() {
            "pnl" => &self.names.pnl,
            "strategies" => &self.names.strategies,
            _ => return,
        };
        *name = ObjectName(vec![ObjectNamePart::Identifier(table_ident(to))]);
    }
}

impl VisitorMut for Rename<'_> {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        self.rename(relation);
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, stmt: &mut Statement) -> ControlFlow<()> {
        match stmt {
            Statement::CreateTable(ct) => {
                self.rename(&mut ct.name);
                for c in &mut ct.columns {
                    for o in &mut c.options {
                        if let sqlparser::ast::ColumnOption::ForeignKey(fk) = &mut o.option {
                            self.rename(&mut fk.foreign_table);
                        }
                    }
                }
            }
            Statement::CreateIndex(ci) => {
                self.rename(&mut ci.table_name);
                // Index names are the schema's: pnl_strategy_seq -> <pnl>_strategy_seq.
                if let Some(n) = &mut ci.name
                    && let Some(suffix) = crate::templates::bare_name(n).strip_prefix("pnl_")
                {
                    *n = ObjectName(vec![ObjectNamePart::Identifier(Ident::with_quote(
                        '"',
                        format!("{}_{suffix}", self.names.pnl),
                    ))]);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The statements that create the stored pair under `names`, in order (strategies first, the
/// tables before their index), printed for `dialect`.
pub fn stored_tables(dialect: Dialect, names: &TableNames) -> Result<Vec<String>> {
    match dialect {
        Dialect::Postgres => {
            let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, POSTGRES_SCHEMA)
                .map_err(|e| Error::internal(format!("schema/postgresql.sql does not parse: {e}")))?;
            for s in &mut stmts {
                let _ = s.visit(&mut Rename { names });
            }
            Ok(stmts.iter().map(|s| s.to_string()).collect())
        }
        _ => {
            let engine = dialect.to_string();
            let strategies = create_table(&names.strategies, &crate::tables::strategies_schema(), false, &engine)?;
            let pnl = create_table(&names.pnl, &crate::tables::pnl_schema(), false, &engine)?;
            Ok(vec![print(&strategies, dialect)?, print(&pnl, dialect)?])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;

    /// A SQL file's statements without comments, blanks collapsed.
    fn statements(sql: &str) -> Vec<String> {
        let text: String = sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join(" ");
        text.split(';')
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ").replace("( ", "(").replace(" )", ")"))
            .filter(|s| !s.is_empty())
            .collect()
    }

    #[test]
    fn heavydb_tables_are_schema_heavydb_sql() {
        let printed = stored_tables(Dialect::Heavydb, &TableNames::for_table("pnl")).unwrap();
        let file = statements(include_str!("../../../../schema/heavydb.sql"));
        assert_eq!(printed, file);
    }

    #[test]
    fn postgres_tables_follow_the_names() {
        let s = stored_tables(Dialect::Postgres, &TableNames::for_table("June")).unwrap();
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[0].starts_with("CREATE TABLE \"June_strategies\" (strategy_id INTEGER PRIMARY KEY"), "{}", s[0]);
        assert!(s[1].contains("CREATE TABLE \"June\"") && s[1].contains("REFERENCES \"June_strategies\""), "{}", s[1]);
        assert_eq!(s[2], "CREATE INDEX \"June_strategy_seq\" ON \"June\"(strategy_id, seq)");
        let d = stored_tables(Dialect::Postgres, &TableNames::for_table("pnl")).unwrap();
        assert!(d[1].contains("REFERENCES strategies"), "{}", d[1]);
    }

    #[test]
    fn types_a_server_cannot_store_are_named() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("tags", DataType::List(Field::new("item", DataType::Utf8, true).into()), true),
        ]);
        let e = create_table("t", &schema, true, "postgres").unwrap_err().to_string();
        assert!(e.contains("\"tags\"") && e.contains("List") && e.contains("postgres"), "{e}");
        let ok = Schema::new(vec![Field::new("it's", DataType::Utf8, true)]);
        let s = print(&create_table("My T", &ok, true, "postgres").unwrap(), Dialect::Postgres).unwrap();
        assert_eq!(s, "CREATE TEMPORARY TABLE \"My T\" (\"it's\" VARCHAR)");
    }
}
