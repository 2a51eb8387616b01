//! update_to_ctas: an UPDATE (typically SET col = CASE ...) as CREATE TABLE AS SELECT.

use sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder;
use sqlparser::ast::{AssignmentTarget, Expr, Ident, ObjectName, SelectItem, Statement, TableFactor};

use super::super::ast;
use super::super::{Context, Plan, Rule, Transformed};
use crate::error::Result;

/// Column stores such as HeavyDB rewrite whole chunks on UPDATE; a CTAS writes the new table
/// once. Every column keeps its place; an assigned one becomes
/// `CAST(CASE WHEN <where> THEN <value> ELSE <column> END AS <type>)`. The new table is
/// `<table>_ctas`, swapped into place by the plan's follow-up statements (DROP, then RENAME).
#[derive(Debug)]
pub struct UpdateToCtas;

struct Parts {
    table: sqlparser::ast::ObjectName,
    assignments: Vec<(String, sqlparser::ast::Expr)>,
    selection: Option<sqlparser::ast::Expr>,
}

fn parts(stmt: &Statement) -> Result<Parts, String> {
    let Statement::Update(u) = stmt else { return Err("not an UPDATE".into()) };
    if u.from.is_some() || u.returning.is_some() || u.output.is_some() || u.or.is_some() {
        return Err("UPDATE with FROM, RETURNING, OUTPUT or OR is not rewritten".into());
    }
    if !u.order_by.is_empty() || u.limit.is_some() || !u.table.joins.is_empty() {
        return Err("UPDATE with ORDER BY, LIMIT or joins is not rewritten".into());
    }
    let TableFactor::Table { name, alias: None, .. } = &u.table.relation else {
        return Err("the updated table is not a plain, unaliased table".into());
    };
    let mut assignments = Vec::new();
    for a in &u.assignments {
        let AssignmentTarget::ColumnName(col) = &a.target else {
            return Err("tuple assignments are not rewritten".into());
        };
        let [part] = col.0.as_slice() else { return Err(format!("assignment target {col} is not a bare column")) };
        let ident = part.as_ident().ok_or_else(|| format!("assignment target {col} is not a column"))?;
        assignments.push((ident.value.clone(), a.value.clone()));
    }
    Ok(Parts { table: name.clone(), assignments, selection: u.selection.clone() })
}

impl UpdateToCtas {
    fn check(&self, plan: &Plan, ctx: &Context) -> Result<(Parts, String), String> {
        let p = parts(&plan.statement)?;
        // Where the engine has no UPDATE at all, the CTAS is the only way to run it.
        if ctx.capabilities.update && !ctx.capabilities.update_rewrites_fragments {
            return Err("the target engine updates rows in place, where a CTAS measured no faster \
                        (reports/README.md); the rule is for column stores such as HeavyDB (--target heavydb)"
                .into());
        }
        if let Some(w) = &p.selection {
            let mut sub = false;
            let _ = sqlparser::ast::visit_expressions(w, |e: &Expr| {
                sub |= matches!(e, Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. });
                std::ops::ControlFlow::<()>::Continue(())
            });
            if sub {
                return Err(format!(
                    "the WHERE clause {w} holds a subquery, which the CTAS would evaluate inside a CASE \
                     expression of its projection, where engines plan it poorly or not at all (DataFusion 55 does not)"
                ));
            }
        }
        let columns = ctx.table_columns(&p.table).ok_or_else(|| format!("the columns of {} are unknown", p.table))?;
        for (c, _) in &p.assignments {
            if !columns.iter().any(|x| &x.name == c) {
                return Err(format!("{} has no column {c}", p.table));
            }
        }
        let why =
            format!("{} of {} columns assigned: the whole table is rewritten once", p.assignments.len(), columns.len());
        Ok((p, why))
    }
}

impl Rule for UpdateToCtas {
    fn name(&self) -> &'static str {
        "update_to_ctas"
    }

    fn description(&self) -> &'static str {
        "turn an UPDATE into CREATE TABLE AS SELECT (column stores rewrite whole chunks on UPDATE)"
    }

    fn rewrite(&self, plan: &mut Plan, ctx: &Context) -> crate::error::Result<Transformed> {
        let (p, why) = match self.check(plan, ctx) {
            Ok(ok) => ok,
            Err(why) => return Ok(Transformed::no(why)),
        };
        let columns = ctx.table_columns(&p.table).cloned().unwrap_or_default();
        let items: Vec<SelectItem> = columns
            .iter()
            .map(|c| {
                let name = Ident::with_quote('"', &c.name);
                match p.assignments.iter().find(|(n, _)| n == &c.name) {
                    None => SelectItem::UnnamedExpr(Expr::Identifier(name)),
                    Some((_, value)) => {
                        let value = match &p.selection {
                            Some(w) => ast::case_when(w.clone(), value.clone(), Expr::Identifier(name.clone())),
                            None => value.clone(),
                        };
                        ast::item(ast::cast(value, &c.sql_type), &name)
                    }
                }
            })
            .collect();
        let bare = crate::templates::bare_name(&p.table);
        let target = ObjectName::from(vec![Ident::with_quote('"', format!("{bare}_ctas"))]);
        let select = ast::select(items, vec![ast::from(ast::table(&p.table, None))], None, Vec::new());
        let before = plan.statement.to_string();
        plan.statement = Statement::CreateTable(
            CreateTableBuilder::new(target.clone()).query(Some(Box::new(ast::select_query(select)))).build(),
        );
        plan.then = vec![ast::drop_table(&p.table), ast::rename_table(&target, &p.table)];
        let after =
            std::iter::once(&plan.statement).chain(&plan.then).map(|s| s.to_string()).collect::<Vec<_>>().join("; ");
        Ok(Transformed::yes("the statement", why, before, after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn rewrites_the_ulta_update_and_keeps_results() {
        let (mut plan, ctx) = plan_of("ulta_update", &[]);
        let t = UpdateToCtas.rewrite(&mut plan, &ctx).unwrap();
        assert!(t.changed(), "{:?}", t.declined);
        let sql = plan.statement.to_string();
        assert!(sql.starts_with("CREATE TABLE \"pnl_ctas\" AS SELECT \"strategy_id\""), "{sql}");
        assert_eq!(plan.then.len(), 2);
        assert_update_rewrite_keeps_results();
    }

    #[test]
    fn declines_what_it_cannot_express() {
        let no = |sql: &str, ctx: &Context| UpdateToCtas.rewrite(&mut sql_plan(sql), ctx).unwrap().declined.join("; ");
        assert!(no("UPDATE pnl SET pnl = 0", &Context::default()).contains("--target heavydb"));
        let ctx = Context::for_kind(crate::engine::EngineKind::Heavydb);
        assert!(no("SELECT 1", &ctx).contains("not an UPDATE"));
        assert!(no("UPDATE pnl SET pnl = 0", &ctx).contains("columns of pnl are unknown"));
    }
}
