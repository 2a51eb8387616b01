//! The query templates of `sql/`, parsed with `sqlparser` and bound through the AST.
//!
//! Values never go into the text: `$candidates` becomes a list of string literals, `$inverted`
//! a list of integers, `$columns` a list of quoted identifiers, `$date_from`/`$date_to` date
//! casts; table names are swapped on the parsed relations.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    CastKind, DataType, Expr, Ident, ObjectName, SelectItem, Statement, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::error::{Error, Result};
use crate::tables::TableNames;

/// One template: its name (the file stem), its header comment and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! template {
    ($name:literal) => {
        Template { name: $name, text: include_str!(concat!("../sql/", $name, ".sql")) }
    };
}

/// Every template: those a run uses first, in its order.
pub const TEMPLATES: &[Template] = &[
    template!("ulta_strategies"),
    template!("ulta_pnl"),
    template!("ulta_report"),
    template!("strategy_stats"),
    template!("ulta_update"),
    template!("strategy_metrics"),
    template!("standardize"),
    template!("pair_corr"),
    template!("pair_corr_all"),
    template!("wide_select"),
];

impl Template {
    /// The header comment, without the `--` markers: what the query computes.
    pub fn description(&self) -> String {
        self.text
            .lines()
            .take_while(|l| l.starts_with("--"))
            .map(|l| l.trim_start_matches("--").trim())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Looks a template up by name; an unknown name lists the known ones.
pub fn find(name: &str) -> Result<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name).ok_or_else(|| {
        Error::invalid(
            "--query",
            format!(
                "no template named {name:?}; known templates: {}",
                TEMPLATES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

/// Values for a template's placeholders.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// Names of the long tables (`pnl`, `strategies` in the templates).
    pub tables: Option<TableNames>,
    pub candidates: Option<Vec<String>>,
    pub inverted: Option<Vec<i64>>,
    pub columns: Option<Vec<String>>,
    /// `YYYY-MM-DD`, inclusive.
    pub date_from: Option<String>,
    pub date_to: Option<String>,
}

/// The dates `$date_from` and `$date_to` stand for when no range is given: every day.
pub const EVERY_DAY: (&str, &str) = ("0001-01-01", "9999-12-31");

/// A double-quoted SQL identifier, embedded quotes doubled (sqlparser's own printing).
pub fn quote_ident(name: &str) -> String {
    Ident::with_quote('"', name).to_string()
}

/// A table name as an identifier: bare when engines read it as written (lower case letters,
/// digits, `_`), quoted otherwise, so `--table June` reaches the table `June`.
pub fn table_ident(name: &str) -> Ident {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { Ident::new(name) } else { Ident::with_quote('"', name) }
}

/// The unquoted name of a table (the last part of a qualified name).
pub fn bare_name(name: &ObjectName) -> String {
    name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_else(|| name.to_string())
}

/// Parses one SQL statement; a syntax error names its line and column.
pub fn parse(sql: &str) -> Result<Statement> {
    let mut statements =
        Parser::parse_sql(&GenericDialect {}, sql).map_err(|e| Error::data("SQL", format!("does not parse: {e}")))?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(Error::data("SQL", "no statement found")),
        n => Err(Error::data("SQL", format!("expected one statement, found {n}"))),
    }
}

/// Parses a template and binds its parameters.
pub fn bind(template: &Template, params: &Params) -> Result<Statement> {
    let mut stmt = parse(template.text)?;
    bind_statement(&mut stmt, params)
        .map_err(|message| Error::invalid("template parameters", format!("{}: {message}", template.name)))?;
    Ok(stmt)
}

/// Binds placeholders and table names in an already parsed statement (also user SQL).
pub fn bind_statement(stmt: &mut Statement, params: &Params) -> std::result::Result<(), String> {
    let names = params.tables.clone().unwrap_or_else(|| TableNames::for_table(crate::tables::DEFAULT_TABLE));
    let mut renames = BTreeMap::new();
    renames.insert("pnl_ulta", format!("{}_ulta", names.pnl));
    renames.insert("strategies_ulta", format!("{}_ulta", names.strategies));
    renames.insert("pnl_wide", format!("{}_wide", names.pnl));
    renames.insert("pnl", names.pnl.clone());
    renames.insert("strategies", names.strategies.clone());
    let _ = sqlparser::ast::visit_relations_mut(stmt, |rel: &mut ObjectName| {
        if let [part] = rel.0.as_slice()
            && let Some(ident) = part.as_ident()
            && ident.quote_style.is_none()
            && let Some(new) = renames.get(ident.value.as_str())
        {
            *rel = ObjectName::from(vec![table_ident(new)]);
        }
        ControlFlow::<()>::Continue(())
    });
    let mut binder = Binder { params, error: None };
    let _ = stmt.visit(&mut binder);
    binder.error.map_or(Ok(()), Err)
}

struct Binder<'a> {
    params: &'a Params,
    error: Option<String>,
}

fn string(s: &str) -> Expr {
    Expr::Value(ValueWithSpan::from(Value::SingleQuotedString(s.to_owned())))
}

fn date(s: &str) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(string(s)),
        data_type: DataType::Date,
        array: false,
        format: None,
    }
}

fn placeholder(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }) => Some(p.as_str()),
        _ => None,
    }
}

impl Binder<'_> {
    fn fail(&mut self, message: String) -> ControlFlow<()> {
        self.error.get_or_insert(message);
        ControlFlow::Break(())
    }

    fn list(&self, name: &str) -> Option<std::result::Result<Vec<Expr>, String>> {
        let need = |what: &str, flag: &str| Err(format!("${name} needs {what} ({flag})"));
        let empty = |flag: &str| Err(format!("${name} is an empty list ({flag})"));
        Some(match name {
            "$candidates" => match &self.params.candidates {
                None => need("strategy names", "--candidate NAME, --candidates-file or --sample N"),
                Some(v) if v.is_empty() => empty("give at least one strategy name"),
                Some(v) => Ok(v.iter().map(|s| string(s)).collect()),
            },
            "$inverted" => match &self.params.inverted {
                None => need("strategy ids", "--inverted ID"),
                Some(v) if v.is_empty() => empty("give at least one strategy id"),
                Some(v) => Ok(v
                    .iter()
                    .map(|i| Expr::Value(ValueWithSpan::from(Value::Number(i.to_string(), false))))
                    .collect()),
            },
            _ => return None,
        })
    }
}

impl VisitorMut for Binder<'_> {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut sqlparser::ast::Select) -> ControlFlow<()> {
        let mut items = Vec::with_capacity(select.projection.len());
        for item in select.projection.drain(..) {
            match &item {
                SelectItem::UnnamedExpr(e) if placeholder(e) == Some("$columns") => match &self.params.columns {
                    Some(cols) if !cols.is_empty() => items.extend(
                        cols.iter()
                            .map(|c| SelectItem::UnnamedExpr(Expr::Identifier(Ident::with_quote('"', c.clone())))),
                    ),
                    _ => {
                        self.error.get_or_insert("$columns needs strategy names (--candidate NAME ...)".into());
                        items.push(item);
                    }
                },
                _ => items.push(item),
            }
        }
        select.projection = items;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::InList { list, .. } = expr
            && let [only] = list.as_slice()
            && let Some(name) = placeholder(only)
            && let Some(bound) = self.list(name)
        {
            match bound {
                Ok(values) => *list = values,
                Err(message) => return self.fail(message),
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Some(name) = placeholder(expr) else { return ControlFlow::Continue(()) };
        let bound = match name {
            "$date_from" => date(self.params.date_from.as_deref().unwrap_or(EVERY_DAY.0)),
            "$date_to" => date(self.params.date_to.as_deref().unwrap_or(EVERY_DAY.1)),
            "$columns" => return ControlFlow::Continue(()),
            other => return self.fail(format!("unknown parameter {other}")),
        };
        *expr = bound;
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_says_what_it_computes() {
        let params = Params {
            candidates: Some(vec!["a".into()]),
            inverted: Some(vec![1]),
            columns: Some(vec!["a".into()]),
            ..Params::default()
        };
        for t in TEMPLATES {
            assert!(t.description().len() > 40, "{}: header comment", t.name);
            let stmt = bind(t, &params).unwrap_or_else(|e| panic!("{}: {e}", t.name));
            assert!(!stmt.to_string().contains('$'), "{}: unbound placeholder in {stmt}", t.name);
        }
    }

    #[test]
    fn awkward_names_survive_binding() {
        let names = vec!["it's, 50% \"odd\"".to_string(), "two  spaces".into()];
        let params = Params { candidates: Some(names.clone()), ..Params::default() };
        let sql = bind(find("pair_corr").unwrap(), &params).unwrap().to_string();
        // The printed SQL parses back to the same literals.
        let again = parse(&sql).unwrap();
        let mut seen = Vec::new();
        let _ = sqlparser::ast::visit_expressions(&again, |e: &Expr| {
            if let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(s), .. }) = e {
                seen.push(s.clone());
            }
            ControlFlow::<()>::Continue(())
        });
        for n in &names {
            assert!(seen.contains(n), "{n:?} lost in {sql}");
        }
    }

    #[test]
    fn missing_parameters_and_unknown_names_are_clear() {
        let e = bind(find("pair_corr").unwrap(), &Params::default()).unwrap_err().to_string();
        assert!(e.contains("$candidates") && e.contains("--candidate"), "{e}");
        let e = find("nope").unwrap_err().to_string();
        assert!(e.contains("pair_corr") && e.contains("standardize"), "{e}");
        let e = parse("SELECT * FORM t").unwrap_err().to_string();
        assert!(e.contains("Line: 1"), "{e}");
    }

    #[test]
    fn table_names_keep_their_case() {
        let params = Params { tables: Some(TableNames::for_table("June")), ..Params::default() };
        let sql = bind(find("standardize").unwrap(), &params).unwrap().to_string();
        assert!(sql.contains("FROM \"June\"") && !sql.contains("FROM June "), "{sql}");
    }

    #[test]
    fn tables_follow_the_table_option() {
        let params = Params { tables: Some(TableNames::for_table("prod")), ..Params::default() };
        let sql = bind(find("ulta_pnl").unwrap(), &params).unwrap().to_string();
        assert!(sql.contains("CREATE TABLE prod_ulta") && sql.contains("FROM prod AS p"), "{sql}");
        assert!(sql.contains("JOIN prod_strategies_ulta"), "{sql}");
    }
}
