//! update_to_ctas: an UPDATE (typically SET col = CASE ...) as CREATE TABLE AS SELECT.

use sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder;
use sqlparser::ast::{
    AssignmentTarget, Distinct, Expr, Ident, Join, JoinConstraint, JoinOperator, ObjectName, Query, SelectItem,
    SetExpr, Statement, TableFactor, TableWithJoins,
};

use super::super::ast;
use super::super::corr::{has_subquery, relation_name};
use super::super::{Context, Plan, Rule, Transformed};
use crate::error::Result;

/// Column stores such as HeavyDB rewrite whole chunks on UPDATE; a CTAS writes the new table
/// once. Every column keeps its place; an assigned one becomes
/// `CAST(CASE WHEN <where> THEN <value> ELSE <column> END AS <type>)`. The new table is
/// `<table>_ctas`, swapped into place by the plan's follow-up statements (DROP, then RENAME).
///
/// A WHERE conjunct `col IN (SELECT k ...)` (how ULTA picks its losers) would put the subquery
/// inside the CASE, where engines plan it poorly or not at all; it becomes a LEFT JOIN to the
/// subquery's distinct values instead, the conjunct `ht_inN.ht_key IS NOT NULL`: a row
/// matches exactly where its `col` equals one of them, which is where IN is true.
#[derive(Debug)]
pub struct UpdateToCtas;

struct Parts {
    table: sqlparser::ast::ObjectName,
    alias: Option<Ident>,
    assignments: Vec<(String, sqlparser::ast::Expr)>,
    selection: Option<sqlparser::ast::Expr>,
}

/// The WHERE as conjuncts without subqueries, and the `col IN (SELECT ...)` ones.
struct Where {
    plain: Vec<Expr>,
    /// The column, the subquery and the name of the subquery's column.
    members: Vec<(Expr, Query, Ident)>,
}

/// The key column of a membership's derived table.
const KEY: &str = "ht_key";

/// Splits the WHERE: every conjunct holding a subquery must be `col IN (SELECT one named
/// column ...)` over a column of the updated table (`name`: the name it goes by), and the
/// subquery must not read that table's columns (a correlated subquery).
fn split_where(w: &Expr, name: &Ident) -> Result<Where, String> {
    let mut all = Vec::new();
    super::super::corr::conjuncts(w, &mut all);
    let mut out = Where { plain: Vec::new(), members: Vec::new() };
    for c in all {
        if !has_subquery(&c) {
            out.plain.push(c);
            continue;
        }
        let mut bare = &c;
        while let Expr::Nested(inner) = bare {
            bare = inner;
        }
        let Expr::InSubquery { expr, subquery, negated: false } = bare else {
            return Err(format!(
                "the WHERE conjunct {c} holds a subquery other than `column IN (SELECT ...)`, which the CTAS \
                 would evaluate inside a CASE expression, where engines plan it poorly or not at all (DataFusion 55 does not)"
            ));
        };
        let column_of_table = match expr.as_ref() {
            Expr::Identifier(_) => true,
            Expr::CompoundIdentifier(p) => p.len() == 2 && same_name(&p[0], name),
            _ => false,
        };
        if !column_of_table {
            return Err(format!("in the WHERE conjunct {c}, {expr} is not a column of the updated table"));
        }
        let SetExpr::Select(sel) = subquery.body.as_ref() else {
            return Err(format!("the subquery of {c} is not a plain SELECT"));
        };
        let [item] = sel.projection.as_slice() else {
            return Err(format!("the subquery of {c} does not select exactly one column"));
        };
        let Some(named) = output_name(item) else {
            return Err(format!("the subquery of {c} selects {item}, which has no name to join on: name it (AS ...)"));
        };
        if let Some(outer) = reads_outer(subquery, name) {
            return Err(format!(
                "the subquery of {c} reads {outer} of the updated table {name} (a correlated subquery, which a \
                 derived table cannot read)"
            ));
        }
        out.members.push(((**expr).clone(), (**subquery).clone(), named));
    }
    Ok(out)
}

/// Whether two names are the same, as an unquoted name matches whatever its case.
fn same_name(a: &Ident, b: &Ident) -> bool {
    match (a.quote_style, b.quote_style) {
        (None, None) => a.value.eq_ignore_ascii_case(&b.value),
        _ => a.value == b.value,
    }
}

/// The name of a subquery's output column: its alias, or the column it names.
fn output_name(item: &SelectItem) -> Option<Ident> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.clone()),
        SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.clone()),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last().cloned(),
        _ => None,
    }
}

/// The first `name.column` a subquery reads where none of its own relations goes by `name`.
fn reads_outer(subquery: &Query, name: &Ident) -> Option<String> {
    struct Scan<'a> {
        name: &'a Ident,
        own: bool,
        found: Option<String>,
    }
    impl sqlparser::ast::Visitor for Scan<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> std::ops::ControlFlow<()> {
            self.own |= relation_name(t).is_some_and(|g| same_name(&g, self.name));
            std::ops::ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
            if let Expr::CompoundIdentifier(p) = e
                && p.len() == 2
                && same_name(&p[0], self.name)
                && self.found.is_none()
            {
                self.found = Some(e.to_string());
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut scan = Scan { name, own: false, found: None };
    let _ = sqlparser::ast::Visit::visit(subquery, &mut scan);
    if scan.own { None } else { scan.found }
}

/// `LEFT JOIN (SELECT DISTINCT ht_subN.<its column> AS ht_key FROM (<subquery>) AS ht_subN)
/// AS ht_inN ON col = ht_inN.ht_key`: the subquery stays as written.
fn membership_join(n: usize, column: Expr, subquery: Query, named: &Ident) -> Join {
    let key = ast::ident(KEY);
    let sub = ast::ident(&format!("ht_sub{n}"));
    let inner = ast::derived(subquery, &sub);
    let mut distinct =
        ast::select(vec![ast::item(ast::col(&sub, named), &key)], vec![ast::from(inner)], None, Vec::new());
    distinct.distinct = Some(Distinct::Distinct);
    let alias = ast::ident(&format!("ht_in{n}"));
    Join {
        relation: ast::derived(ast::select_query(distinct), &alias),
        global: false,
        join_operator: JoinOperator::LeftOuter(JoinConstraint::On(ast::binary(
            column,
            sqlparser::ast::BinaryOperator::Eq,
            ast::col(&alias, &key),
        ))),
    }
}

fn parts(stmt: &Statement) -> Result<Parts, String> {
    let Statement::Update(u) = stmt else { return Err("not an UPDATE".into()) };
    if u.from.is_some() || u.returning.is_some() || u.output.is_some() || u.or.is_some() {
        return Err("UPDATE with FROM, RETURNING, OUTPUT or OR is not rewritten".into());
    }
    if !u.order_by.is_empty() || u.limit.is_some() || !u.table.joins.is_empty() {
        return Err("UPDATE with ORDER BY, LIMIT or joins is not rewritten".into());
    }
    let TableFactor::Table { name, alias, args: None, .. } = &u.table.relation else {
        return Err("the updated table is not a plain table".into());
    };
    if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
        return Err("the updated table's alias renames its columns".into());
    }
    let mut assignments = Vec::new();
    for a in &u.assignments {
        let AssignmentTarget::ColumnName(col) = &a.target else {
            return Err("tuple assignments are not rewritten".into());
        };
        let [part] = col.0.as_slice() else { return Err(format!("assignment target {col} is not a bare column")) };
        let ident = part.as_ident().ok_or_else(|| format!("assignment target {col} is not a column"))?;
        assignments.push((ident.value.clone(), a.value.clone()));
    }
    Ok(Parts {
        table: name.clone(),
        alias: alias.as_ref().map(|a| a.name.clone()),
        assignments,
        selection: u.selection.clone(),
    })
}

impl UpdateToCtas {
    fn check(&self, plan: &Plan, ctx: &Context) -> Result<(Parts, Where, String), String> {
        let p = parts(&plan.statement)?;
        // Where the engine has no UPDATE at all, the CTAS is the only way to run it.
        if ctx.capabilities.update && !ctx.capabilities.update_rewrites_fragments {
            return Err("the target engine updates rows in place, where a CTAS measured no faster \
                        (reports/README.md); the rule is for column stores such as HeavyDB (--target heavydb)"
                .into());
        }
        let split = match &p.selection {
            Some(w) => {
                let bare = crate::templates::bare_name(&p.table);
                split_where(w, &p.alias.clone().unwrap_or_else(|| Ident::new(bare)))?
            }
            None => Where { plain: Vec::new(), members: Vec::new() },
        };
        if p.assignments.iter().any(|(_, v)| has_subquery(v)) {
            return Err("an assigned value holds a subquery".into());
        }
        let columns = ctx.table_columns(&p.table).ok_or_else(|| format!("the columns of {} are unknown", p.table))?;
        for (c, _) in &p.assignments {
            if !columns.iter().any(|x| &x.name == c) {
                return Err(format!("{} has no column {c}", p.table));
            }
        }
        let mut why =
            format!("{} of {} columns assigned: the whole table is rewritten once", p.assignments.len(), columns.len());
        if !split.members.is_empty() {
            why.push_str(&format!(
                "; {} IN (SELECT ...) of the WHERE as LEFT JOINs to the subqueries' distinct values",
                split.members.len()
            ));
        }
        Ok((p, split, why))
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
        let (p, split, why) = match self.check(plan, ctx) {
            Ok(ok) => ok,
            Err(why) => return Ok(Transformed::no(why)),
        };
        let columns = ctx.table_columns(&p.table).cloned().unwrap_or_default();
        let joins: Vec<Join> = split
            .members
            .into_iter()
            .enumerate()
            .map(|(n, (column, q, named))| membership_join(n, column, q, &named))
            .collect();
        let matched = (0..joins.len())
            .map(|n| Expr::IsNotNull(Box::new(ast::col(&ast::ident(&format!("ht_in{n}")), &ast::ident(KEY)))));
        let selection = ast::and_all(split.plain.into_iter().chain(matched));
        let items: Vec<SelectItem> = columns
            .iter()
            .map(|c| {
                let name = Ident::with_quote('"', &c.name);
                match p.assignments.iter().find(|(n, _)| n == &c.name) {
                    None => SelectItem::UnnamedExpr(Expr::Identifier(name)),
                    Some((_, value)) => {
                        let value = match &selection {
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
        let from = TableWithJoins { relation: ast::table(&p.table, p.alias.as_ref()), joins };
        let select = ast::select(items, vec![from], None, Vec::new());
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

    /// ULTA as users write it: the losers picked by a subquery, the table aliased or not.
    #[test]
    fn rewrites_an_update_of_the_strategies_a_subquery_picks() {
        for sql in [
            "UPDATE pnl SET pnl = -pnl WHERE strategy_id IN \
             (SELECT strategy_id FROM pnl GROUP BY strategy_id HAVING SUM(pnl) < 0)",
            "UPDATE pnl AS p SET pnl = -p.pnl WHERE p.trade_date > DATE '2020-01-02' AND p.strategy_id IN \
             (SELECT q.strategy_id AS s FROM pnl q WHERE q.pnl > 0 ORDER BY s LIMIT 3)",
            // The subquery reuses the alias for its own table, and the conjunct is parenthesised.
            "UPDATE pnl AS p SET pnl = -p.pnl WHERE (p.strategy_id IN \
             (SELECT p.strategy_id FROM pnl p GROUP BY p.strategy_id HAVING MIN(p.pnl) < 0))",
            "UPDATE pnl SET pnl = -pnl WHERE PNL.strategy_id IN (SELECT strategy_id FROM strategies WHERE name > 'S')",
        ] {
            assert_update_keeps_results_of(&|_| crate::templates::parse(sql).unwrap());
        }
        let (_, ctx) = plan_of("ulta_update", &[]);
        let mut plan = sql_plan(
            "UPDATE pnl SET pnl = -pnl WHERE strategy_id IN (SELECT strategy_id FROM pnl GROUP BY strategy_id HAVING SUM(pnl) < 0)",
        );
        assert!(UpdateToCtas.rewrite(&mut plan, &ctx).unwrap().changed());
        let sql = plan.statement.to_string();
        assert!(
            sql.contains(
                "FROM pnl LEFT OUTER JOIN (SELECT DISTINCT ht_sub0.strategy_id AS ht_key FROM (SELECT strategy_id FROM pnl \
                 GROUP BY strategy_id HAVING SUM(pnl) < 0) AS ht_sub0) AS ht_in0 ON strategy_id = ht_in0.ht_key"
            ) && sql.contains("CASE WHEN ht_in0.ht_key IS NOT NULL THEN -pnl ELSE \"pnl\" END"),
            "{sql}"
        );
    }

    #[test]
    fn declines_what_it_cannot_express() {
        let no = |sql: &str, ctx: &Context| UpdateToCtas.rewrite(&mut sql_plan(sql), ctx).unwrap().declined.join("; ");
        assert!(no("UPDATE pnl SET pnl = 0", &Context::default()).contains("--target heavydb"));
        let ctx = Context::for_kind(crate::engine::EngineKind::Heavydb);
        assert!(no("SELECT 1", &ctx).contains("not an UPDATE"));
        assert!(no("UPDATE pnl SET pnl = 0", &ctx).contains("columns of pnl are unknown"));
        let (_, ctx) = plan_of("ulta_update", &[]);
        for (sql, why) in [
            ("UPDATE pnl SET pnl = 0 WHERE EXISTS (SELECT 1 FROM strategies)", "other than `column IN (SELECT ...)`"),
            ("UPDATE pnl SET pnl = 0 WHERE strategy_id NOT IN (SELECT 1)", "other than `column IN (SELECT ...)`"),
            ("UPDATE pnl SET pnl = 0 WHERE strategy_id = 1 OR strategy_id IN (SELECT 1)", "other than"),
            ("UPDATE pnl SET pnl = 0 WHERE strategy_id + 1 IN (SELECT 1)", "is not a column of the updated table"),
            ("UPDATE pnl SET pnl = 0 WHERE strategy_id IN (SELECT 1, 2)", "exactly one column"),
            ("UPDATE pnl SET pnl = 0 WHERE strategy_id IN (SELECT 1 + 1)", "no name to join on"),
            (
                "UPDATE pnl SET pnl = 0 WHERE strategy_id IN (SELECT s.strategy_id FROM strategies s WHERE s.file_label = PNL.zone)",
                "reads PNL.zone of the updated table pnl (a correlated subquery",
            ),
            ("UPDATE pnl SET pnl = 0 WHERE strategy_id IN (SELECT 1 UNION SELECT 2)", "not a plain SELECT"),
            (
                "UPDATE pnl AS p SET pnl = 0 WHERE strategy_id IN (SELECT s.strategy_id FROM strategies s WHERE s.strategy_id = p.strategy_id)",
                "correlated",
            ),
            ("UPDATE pnl SET pnl = (SELECT 1)", "assigned value holds a subquery"),
        ] {
            let got = no(sql, &ctx);
            assert!(got.contains(why), "{sql}: {got}");
        }
    }
}
