//! wide_to_long: a column list over the wide table as a filter on the long table.

use sqlparser::ast::{Expr, SelectItem, SetExpr, Statement, TableFactor, Value};

use super::super::{Context, Plan, Rule};
use crate::error::Result;
use crate::templates;

/// `SELECT "Date", "S1", ..., "Sk" FROM <pnl>_wide` reads k of 25,544 columns of a table few
/// engines hold well (HeavyDB caps columns per table); the long table answers it with a filter
/// on k strategy names and a pivot by date.
#[derive(Debug)]
pub struct WideToLong;

fn columns(stmt: &Statement) -> Result<(sqlparser::ast::ObjectName, Vec<(String, String)>), String> {
    let Statement::Query(q) = stmt else { return Err("not a query".into()) };
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() {
        return Err("WITH, ORDER BY or LIMIT present".into());
    }
    let SetExpr::Select(s) = q.body.as_ref() else { return Err("not a single SELECT".into()) };
    if s.selection.is_some() || s.distinct.is_some() || s.having.is_some() || s.from.len() != 1 {
        return Err("not a plain column list FROM one table".into());
    }
    if !matches!(&s.group_by, sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty()) {
        return Err("GROUP BY present".into());
    }
    let from = &s.from[0];
    let TableFactor::Table { name, alias: None, args: None, .. } = &from.relation else {
        return Err("not reading one unaliased table".into());
    };
    if !from.joins.is_empty() {
        return Err("joins present".into());
    }
    let mut cols = Vec::new();
    for item in &s.projection {
        let (expr, out) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => return Err("a wildcard reads every column".into()),
        };
        let Expr::Identifier(c) = expr else { return Err(format!("output {expr} is not a column")) };
        cols.push((c.value.clone(), out.unwrap_or_else(|| c.value.clone())));
    }
    Ok((name.clone(), cols))
}

impl Rule for WideToLong {
    fn name(&self) -> &'static str {
        "wide_to_long"
    }

    fn description(&self) -> &'static str {
        "read a column list of the wide table as a filter on the long table, pivoted by date"
    }

    fn check(&self, plan: &Plan, ctx: &Context) -> Result<String, String> {
        let (table, cols) = columns(&plan.statement)?;
        if ctx.capabilities.wide_tables {
            return Err("the target engine reads wide tables well, where the long-table pivot measured slower \
                        (reports/README.md); the rule is for engines such as HeavyDB (--target heavydb)"
                .into());
        }
        let long =
            ctx.wide_of(&table).ok_or_else(|| format!("{table} is not known as the wide form of a long table"))?;
        if let Some((c, _)) = cols.iter().find(|(c, _)| c == "Zone" || c == "Day") {
            return Err(format!("column {c} has no counterpart in the long table's rows"));
        }
        let n = cols.iter().filter(|(c, _)| c != "Date").count();
        if n == 0 {
            return Err("no strategy column selected".into());
        }
        Ok(format!("{n} strategy columns of {table} become a filter on {}", long.pnl))
    }

    fn rewrite(&self, mut plan: Plan, ctx: &Context) -> crate::error::Result<Plan> {
        let (table, cols) = columns(&plan.statement).map_err(super::broken_precondition)?;
        let long = ctx.wide_of(&table).cloned().expect("checked");
        let literal = |s: &str| Value::SingleQuotedString(s.to_owned()).to_string();
        let items: Vec<String> = cols
            .iter()
            .map(|(c, out)| {
                if c == "Date" {
                    format!("p.trade_date AS {}", templates::quote_ident(out))
                } else {
                    format!("MAX(CASE WHEN s.name = {} THEN p.pnl END) AS {}", literal(c), templates::quote_ident(out))
                }
            })
            .collect();
        let names: Vec<String> = cols.iter().filter(|(c, _)| c != "Date").map(|(c, _)| literal(c)).collect();
        let sql = format!(
            "SELECT {} FROM {} AS p JOIN {} AS s ON s.strategy_id = p.strategy_id WHERE s.name IN ({}) GROUP BY p.trade_date",
            items.join(", "),
            templates::quote_ident(&long.pnl),
            templates::quote_ident(&long.strategies),
            names.join(", ")
        );
        plan.statement = templates::parse(&sql)?;
        plan.corr = Err("a pivot, not a correlation request".into());
        Ok(plan)
    }
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
        let e = WideToLong.check(&sql_plan("SELECT \"Date\", \"S1\" FROM pnl_wide"), &Context::default()).unwrap_err();
        assert!(e.contains("--target heavydb"), "{e}");
        let ctx = Context::for_kind(crate::engine::EngineKind::Heavydb);
        let e = WideToLong.check(&sql_plan("SELECT \"Date\", \"S1\" FROM pnl_wide"), &ctx).unwrap_err();
        assert!(e.contains("not known as the wide form"), "{e}");
        let e = WideToLong.check(&sql_plan("SELECT * FROM pnl_wide"), &ctx).unwrap_err();
        assert!(e.contains("wildcard"), "{e}");
    }
}
