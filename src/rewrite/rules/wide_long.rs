//! wide_to_long: a column list over the wide table as a filter on the long table.

use sqlparser::ast::{BinaryOperator, Expr, Ident, ObjectName, Query, SelectItem, SetExpr, TableFactor};

use super::super::ast::{self, col, ident};
use super::super::walk::{self, Verdict};
use super::super::{Context, Plan, Rule, Transformed};
use crate::tables::TableNames;

/// `SELECT "Date", "S1", ..., "Sk" FROM <pnl>_wide` reads k of 25,544 columns of a table few
/// engines hold well (HeavyDB caps columns per table); the long table answers it with a filter
/// on k strategy names and a pivot by date.
#[derive(Debug)]
pub struct WideToLong;

/// A wide table and the (column, output name) pairs a query reads of it.
type ColumnList = (ObjectName, Vec<(String, Ident)>);

/// The wide table and its (column, output name) list, when the query is a plain column list.
fn columns(q: &Query) -> Result<Option<ColumnList>, String> {
    let SetExpr::Select(s) = q.body.as_ref() else { return Ok(None) };
    let [from] = s.from.as_slice() else { return Ok(None) };
    let TableFactor::Table { name, alias, args: None, .. } = &from.relation else { return Ok(None) };
    if !crate::templates::bare_name(name).ends_with("_wide") {
        return Ok(None);
    }
    if q.with.is_some() {
        return Err("WITH present at this level".into());
    }
    if alias.is_some() || !from.joins.is_empty() {
        return Err("the wide table is aliased or joined".into());
    }
    if s.selection.is_some() || s.distinct.is_some() || s.having.is_some() {
        return Err("not a plain column list: WHERE, DISTINCT or HAVING present".into());
    }
    if !matches!(&s.group_by, sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty()) {
        return Err("GROUP BY present".into());
    }
    let mut cols = Vec::new();
    for item in &s.projection {
        let (expr, out) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
            _ => return Err("a wildcard reads every column".into()),
        };
        let Expr::Identifier(c) = expr else { return Err(format!("output {expr} is not a column")) };
        cols.push((c.value.clone(), out.unwrap_or_else(|| c.clone())));
    }
    Ok(Some((name.clone(), cols)))
}

impl Rule for WideToLong {
    fn name(&self) -> &'static str {
        "wide_to_long"
    }

    fn description(&self) -> &'static str {
        "read a column list of the wide table as a filter on the long table, pivoted by date"
    }

    fn rewrite(&self, plan: &mut Plan, ctx: &Context) -> crate::error::Result<Transformed> {
        let check = |q: &Query| {
            let (table, cols) = match columns(q) {
                Ok(Some(found)) => found,
                Ok(None) => return Verdict::Skip,
                Err(why) => return Verdict::Declined(why),
            };
            if ctx.capabilities.wide_tables {
                return Verdict::Declined(
                    "the target engine reads wide tables well, where the long-table pivot measured slower \
                     (reports/README.md); the rule is for engines such as HeavyDB (--target heavydb)"
                        .into(),
                );
            }
            let Some(long) = ctx.wide_of(&table) else {
                return Verdict::Declined(format!("{table} is not known as the wide form of a long table"));
            };
            if let Some((c, _)) = cols.iter().find(|(c, _)| c == "Zone" || c == "Day") {
                return Verdict::Declined(format!("column {c} has no counterpart in the long table's rows"));
            }
            let n = cols.iter().filter(|(c, _)| c != "Date").count();
            if n == 0 {
                return Verdict::Declined("no strategy column selected".into());
            }
            let why = format!("{n} strategy columns of {table} become a filter on {}", long.pnl);
            Verdict::Fire(why, (cols, long.clone()))
        };
        let apply = |q: &mut Query, (cols, long): (Vec<(String, Ident)>, TableNames)| {
            pivot(q, &cols, &long.pnl, &long.strategies)
        };
        let mut t = walk::each_query(&mut plan.statement, check, apply);
        if t.fired.is_empty() && t.declined.is_empty() {
            t.declined.push("no column list of a wide table (<table>_wide) in the statement".into());
        }
        Ok(t)
    }
}

/// `SELECT p.trade_date AS "Date", MAX(CASE WHEN s.name = 'S1' THEN p.pnl END) AS "S1", ...
/// FROM pnl AS p JOIN strategies AS s ON s.strategy_id = p.strategy_id WHERE s.name IN (...)
/// GROUP BY p.trade_date`, keeping the query's ORDER BY and LIMIT.
fn pivot(q: &mut Query, cols: &[(String, Ident)], pnl: &str, strategies: &str) {
    let (p, s) = (ident("p"), ident("s"));
    let name = |c: &str| col(&s, &ident(c));
    let items = cols
        .iter()
        .map(|(c, out)| {
            if c == "Date" {
                ast::item(col(&p, &ident("trade_date")), out)
            } else {
                let pick = ast::case_when(
                    ast::binary(name("name"), BinaryOperator::Eq, ast::string(c)),
                    col(&p, &ident("pnl")),
                    ast::null(),
                );
                ast::item(ast::call("MAX", vec![pick], None), out)
            }
        })
        .collect();
    let names = cols.iter().filter(|(c, _)| c != "Date").map(|(c, _)| ast::string(c)).collect();
    let from = ast::join(
        ast::table(&ObjectName::from(vec![crate::templates::table_ident(pnl)]), Some(&p)),
        ast::table(&ObjectName::from(vec![crate::templates::table_ident(strategies)]), Some(&s)),
        ast::binary(name("strategy_id"), BinaryOperator::Eq, col(&p, &ident("strategy_id"))),
    );
    let filter = Expr::InList { expr: Box::new(name("name")), list: names, negated: false };
    let select = ast::select(items, vec![from], Some(filter), vec![col(&p, &ident("trade_date"))]);
    *q.body = SetExpr::Select(Box::new(select));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn rewrites_the_template_and_keeps_results() {
        assert_wide_rewrite_keeps_results(&["S1", "it's, 50%", "S 2", "\"quoted\""]);
    }

    #[test]
    fn declines_unknown_tables_and_wildcards() {
        let no = |sql: &str, ctx: &Context| WideToLong.rewrite(&mut sql_plan(sql), ctx).unwrap().declined.join("; ");
        assert!(no("SELECT \"Date\", \"S1\" FROM pnl_wide", &Context::default()).contains("--target heavydb"));
        let ctx = Context::for_kind(crate::engine::EngineKind::Heavydb);
        assert!(no("SELECT \"Date\", \"S1\" FROM pnl_wide", &ctx).contains("not known as the wide form"));
        assert!(no("SELECT * FROM pnl_wide", &ctx).contains("wildcard"));
    }
}
