//! update_to_ctas: an UPDATE (typically SET col = CASE ...) as CREATE TABLE AS SELECT.

use sqlparser::ast::{AssignmentTarget, Statement, TableFactor};

use super::super::{Context, Plan, Rule};
use crate::error::Result;
use crate::templates;

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

impl Rule for UpdateToCtas {
    fn name(&self) -> &'static str {
        "update_to_ctas"
    }

    fn description(&self) -> &'static str {
        "turn an UPDATE into CREATE TABLE AS SELECT (column stores rewrite whole chunks on UPDATE)"
    }

    fn check(&self, plan: &Plan, ctx: &Context) -> Result<String, String> {
        let p = parts(&plan.statement)?;
        // Where the engine has no UPDATE at all, the CTAS is the only way to run it.
        if ctx.capabilities.update && !ctx.capabilities.update_rewrites_fragments {
            return Err("the target engine updates rows in place, where a CTAS measured no faster \
                        (reports/README.md); the rule is for column stores such as HeavyDB (--target heavydb)"
                .into());
        }
        let columns = ctx.table_columns(&p.table).ok_or_else(|| format!("the columns of {} are unknown", p.table))?;
        for (c, _) in &p.assignments {
            if !columns.iter().any(|x| &x.name == c) {
                return Err(format!("{} has no column {c}", p.table));
            }
        }
        Ok(format!("{} of {} columns assigned: the whole table is rewritten once", p.assignments.len(), columns.len()))
    }

    fn rewrite(&self, mut plan: Plan, ctx: &Context) -> crate::error::Result<Plan> {
        let p = parts(&plan.statement).map_err(super::broken_precondition)?;
        let columns = ctx.table_columns(&p.table).cloned().unwrap_or_default();
        let items: Vec<String> = columns
            .iter()
            .map(|c| {
                let col = templates::quote_ident(&c.name);
                match p.assignments.iter().find(|(n, _)| n == &c.name) {
                    None => col,
                    Some((_, value)) => {
                        let value = match &p.selection {
                            Some(w) => format!("CASE WHEN {w} THEN {value} ELSE {col} END"),
                            None => value.to_string(),
                        };
                        format!("CAST({value} AS {}) AS {col}", c.sql_type)
                    }
                }
            })
            .collect();
        let target = format!("{}_ctas", p.table.to_string().trim_matches('"'));
        let target = templates::quote_ident(&target);
        plan.statement =
            templates::parse(&format!("CREATE TABLE {target} AS SELECT {} FROM {}", items.join(", "), p.table))?;
        plan.then = vec![
            templates::parse(&format!("DROP TABLE {}", p.table))?,
            templates::parse(&format!("ALTER TABLE {target} RENAME TO {}", p.table))?,
        ];
        plan.corr = Err("not a query".into());
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::*;

    #[test]
    fn rewrites_the_ulta_update_and_keeps_results() {
        let (plan, ctx) = plan_of("ulta_update", &[]);
        assert!(UpdateToCtas.check(&plan, &ctx).is_ok(), "{:?}", UpdateToCtas.check(&plan, &ctx));
        let out = UpdateToCtas.rewrite(plan, &ctx).unwrap();
        let sql = out.statement.to_string();
        assert!(sql.starts_with("CREATE TABLE \"pnl_ctas\" AS SELECT \"strategy_id\""), "{sql}");
        assert_eq!(out.then.len(), 2);
        assert_update_rewrite_keeps_results();
    }

    #[test]
    fn declines_what_it_cannot_express() {
        let e = UpdateToCtas.check(&sql_plan("UPDATE pnl SET pnl = 0"), &Context::default()).unwrap_err();
        assert!(e.contains("--target heavydb"), "{e}");
        let ctx = Context::for_kind(crate::engine::EngineKind::Heavydb);
        assert!(UpdateToCtas.check(&sql_plan("SELECT 1"), &ctx).unwrap_err().contains("not an UPDATE"));
        let e = UpdateToCtas.check(&sql_plan("UPDATE pnl SET pnl = 0"), &ctx).unwrap_err();
        assert!(e.contains("columns of pnl are unknown"), "{e}");
    }
}
