//! series_view: an aggregate per strategy of `ht_series` over a long table that the engine
//! also holds as a series view reads the view instead, without grouping rows.
//!
//! The series view `<t>_series` ([`SeriesView`]) has one row per strategy of `t` with its P&L
//! as a list in `seq` order and its count of rows. So
//! `SELECT strategy_id, get_field(ht_series(pnl, seq), 'norm') AS norm, COUNT(*) AS n FROM t
//! GROUP BY strategy_id` is
//! `SELECT strategy_id, get_field(ht_series_of(pnl), 'norm') AS norm, days AS n FROM t_series
//! AS t`: one row per strategy either way, `ht_series_of` computing the same figures from the
//! same values in the same order, bit for bit. The relation keeps the name it had (as its
//! alias), so qualified columns and the rest of the query read as written.
//!
//! Plain `SUM`, `AVG`, `MIN` and `MAX` of `pnl` per strategy (ULTA's figures) are figures of
//! the same series: `get_field(ht_series_of(pnl), 'sum')` and so on, bit for bit (see
//! [`figure_of`]).
//!
//! Preconditions, each named where it fails: the SELECT reads `t` alone and groups by its
//! `strategy_id` alone; it reads `pnl` and `seq` only as `ht_series(pnl, seq)` or a plain
//! aggregate of `pnl`, rows only as `COUNT(*)`, and no other column of `t` outside a WHERE;
//! every aggregate it computes is one of those; no DISTINCT, window or subquery; outputs that
//! hold a rewritten part are named (their names would change); a WHERE is a conjunction of
//! ranges on `trade_date` that holds for every day of `t` (the view's facts give the first and
//! last day), so no row is dropped. A HAVING then filters the view's rows (one per group) as a
//! WHERE, so it may not read an output by its name.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Ident, ObjectName, ObjectNamePart, Query, Select, SelectItem, SetExpr,
    TableFactor, Value, VisitMut, VisitorMut,
};

use super::super::ast::{self, ident};
use super::super::walk::{self, Verdict};
use super::super::{Context, Plan, Rule, Transformed};
use crate::engine::backends::functions::{OrderedSeries, SeriesOf};
use crate::load::dates::date_to_days;
use crate::tables::SeriesView as View;

#[derive(Debug)]
pub struct SeriesView;

/// The group key and date column of the long tables (crate::tables).
const ID: &str = "strategy_id";
const DATE: &str = "trade_date";

/// Scalar functions that read only their arguments, row by row: they may stand around the
/// rewritten parts (any other call is taken for an aggregate and declined).
const SCALARS: [&str; 14] = [
    "GET_FIELD",
    "ABS",
    "SQRT",
    "COALESCE",
    "NULLIF",
    "ROUND",
    "LN",
    "LOG",
    "EXP",
    "POWER",
    "GREATEST",
    "LEAST",
    "SIGN",
    "FLOOR",
];

/// The upper-cased last part of a function's name.
fn upper_name(name: &ObjectName) -> String {
    name.0.last().and_then(ObjectNamePart::as_ident).map(|i| i.value.to_uppercase()).unwrap_or_default()
}

/// The column an expression names, when it names one of the relation (bare, or qualified by
/// the relation's name in the query).
fn column<'e>(e: &'e Expr, qualifier: &Ident) -> Option<&'e str> {
    match e {
        Expr::Nested(inner) => column(inner, qualifier),
        Expr::Identifier(i) => Some(&i.value),
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [q, c] if q.value == qualifier.value => Some(&c.value),
            _ => None,
        },
        _ => None,
    }
}

/// A date literal (`DATE '...'`, `CAST('...' AS DATE)` or a bare ISO string), as days since
/// 1970-01-01.
fn date_literal(e: &Expr) -> Option<i32> {
    let text = match e {
        Expr::Nested(inner) => return date_literal(inner),
        Expr::TypedString(ts) if matches!(ts.data_type, sqlparser::ast::DataType::Date) => ts.value.value.clone(),
        Expr::Cast { expr, data_type: sqlparser::ast::DataType::Date, .. } => match expr.as_ref() {
            Expr::Value(v) => v.value.clone(),
            _ => return None,
        },
        Expr::Value(v) => v.value.clone(),
        _ => return None,
    };
    let Value::SingleQuotedString(s) = text else { return None };
    chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok().map(date_to_days)
}

/// A day since 1970-01-01 as an ISO date.
fn iso(day: i32) -> String {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|e| e.checked_add_signed(chrono::TimeDelta::days(day.into())))
        .map_or_else(|| format!("day {day}"), |d| d.to_string())
}

/// The conjuncts of a predicate.
fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Nested(inner) => conjuncts(inner),
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            let mut v = conjuncts(left);
            v.extend(conjuncts(right));
            v
        }
        other => vec![other],
    }
}

/// Whether a conjunct is a range on the date column that every day in `days` satisfies.
fn keeps_every_day(e: &Expr, q: &Ident, (first, last): (i32, i32)) -> bool {
    let is_date = |e: &Expr| column(e, q) == Some(DATE);
    match e {
        Expr::Between { expr, negated: false, low, high } if is_date(expr) => {
            matches!((date_literal(low), date_literal(high)), (Some(lo), Some(hi)) if lo <= first && last <= hi)
        }
        Expr::BinaryOp { left, op, right } => {
            // Written either way round: `trade_date >= d` or `d <= trade_date`.
            let (op, lit) = if is_date(left) {
                (op.clone(), right)
            } else if is_date(right) {
                let flipped = match op {
                    BinaryOperator::Lt => BinaryOperator::Gt,
                    BinaryOperator::LtEq => BinaryOperator::GtEq,
                    BinaryOperator::Gt => BinaryOperator::Lt,
                    BinaryOperator::GtEq => BinaryOperator::LtEq,
                    _ => return false,
                };
                (flipped, left)
            } else {
                return false;
            };
            let Some(d) = date_literal(lit) else { return false };
            match op {
                BinaryOperator::GtEq => first >= d,
                BinaryOperator::Gt => first > d,
                BinaryOperator::LtEq => last <= d,
                BinaryOperator::Lt => last < d,
                _ => false,
            }
        }
        _ => false,
    }
}

/// Rewrites the expressions of the SELECT: `ht_series(pnl, seq)` to `ht_series_of(pnl)`,
/// `COUNT(*)` to the view's day count; refuses any other read of the table's rows.
struct Parts<'a> {
    qualifier: &'a Ident,
    /// The table's columns other than the group key.
    columns: &'a [String],
    /// The rewritten parts, in the order their placeholders are numbered.
    found: Vec<Expr>,
    error: Option<String>,
}

/// Puts the rewritten parts in place of their placeholders.
struct Install(Vec<Expr>);

impl VisitorMut for Install {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Identifier(i) = e
            && let Some(n) = i.value.strip_prefix(PLACEHOLDER)
            && let Some(part) = n.parse::<usize>().ok().and_then(|n| self.0.get(n))
        {
            *e = part.clone();
        }
        ControlFlow::Continue(())
    }
}

impl Parts<'_> {
    /// The replacement of `e`, or `None` to look inside it.
    fn replace(&self, e: &Expr) -> Result<Option<Expr>, String> {
        match e {
            Expr::Function(f) => {
                let name = upper_name(&f.name);
                let args = if f.over.is_some() { None } else { super::plain_args(e) };
                match (name.as_str(), args.as_deref()) {
                    (n, Some([Some(v), Some(o)])) if n == OrderedSeries::NAME.to_uppercase() => {
                        match (column(v, self.qualifier), column(o, self.qualifier)) {
                            (Some(View::VALUES), Some(View::ORDER)) => {
                                Ok(Some(ast::call(SeriesOf::NAME, vec![(*v).clone()], None)))
                            }
                            _ => Err(format!(
                                "{e} orders another column or by another column than {}, {}",
                                View::VALUES,
                                View::ORDER
                            )),
                        }
                    }
                    ("COUNT", Some([None])) => Ok(Some(Expr::Identifier(ident(View::DAYS)))),
                    (n, Some([Some(v)]))
                        if column(v, self.qualifier) == Some(View::VALUES) && figure_of(n).is_some() =>
                    {
                        let series = ast::call(SeriesOf::NAME, vec![(*v).clone()], None);
                        Ok(Some(ast::call(
                            "get_field",
                            vec![series, ast::string(figure_of(n).unwrap_or_default())],
                            None,
                        )))
                    }
                    (n, Some(_)) if SCALARS.contains(&n) => Ok(None),
                    _ => Err(format!("{e} is an aggregate or a call the rule does not know to read one row at a time")),
                }
            }
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                Err(format!("{e} is a subquery, which may read the table's rows"))
            }
            _ => match column(e, self.qualifier) {
                Some(c) if self.columns.iter().any(|x| x == c) => {
                    Err(format!("{e} reads the column {c} outside ht_series({}, {})", View::VALUES, View::ORDER))
                }
                _ => Ok(None),
            },
        }
    }
}

/// The ht_series figure a plain aggregate of the values is: SUM and AVG add in day order, as
/// the engine's grouped SUM and AVG do over the table's rows (which a scan of a run's table
/// gives in that order, in one partition); the view's values are never NULL, so none is
/// skipped. MIN and MAX agree for the finite values a run's tables hold (non-finite cells are
/// read as 0), except that between 0.0 and -0.0 either sign may come out; the local path's
/// ULTA takes them as `f64::min`/`max` do, as `ht_series_of` does.
fn figure_of(aggregate: &str) -> Option<&'static str> {
    Some(match aggregate {
        "SUM" => "sum",
        "AVG" => "mean",
        "MIN" => "min",
        "MAX" => "max",
        _ => return None,
    })
}

/// Whether a SELECT aggregates the values plainly (`SUM(pnl)`, `MIN(pnl)`, ...).
fn aggregates_values(s: &Select) -> bool {
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions(s, |e| {
        if let Expr::Function(f) = e
            && f.over.is_none()
            && figure_of(&upper_name(&f.name)).is_some()
            && let Some([Some(v)]) = super::plain_args(e).as_deref()
            && super::super::corr::output_name(v).value == View::VALUES
        {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// Stands for a rewritten part while the walk goes on (its children are not the query's).
const PLACEHOLDER: &str = "ht part ";

impl VisitorMut for Parts<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if matches!(e, Expr::Identifier(i) if i.value.starts_with(PLACEHOLDER)) {
            return ControlFlow::Continue(());
        }
        match self.replace(e) {
            Ok(Some(new)) => {
                *e = Expr::Identifier(Ident::with_quote('"', format!("{PLACEHOLDER}{}", self.found.len())));
                self.found.push(new);
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(why) => {
                self.error = Some(why);
                ControlFlow::Break(())
            }
        }
    }
}

/// An output name of `projection` (other than the group key) that `e` reads bare.
fn output_read(e: &Expr, projection: &[SelectItem]) -> Option<String> {
    let names: Vec<&str> = projection
        .iter()
        .filter_map(|i| match i {
            SelectItem::ExprWithAlias { alias, .. } if alias.value != ID => Some(alias.value.as_str()),
            _ => None,
        })
        .collect();
    let mut found = None;
    let _ = sqlparser::ast::visit_expressions(e, |x| {
        if let Expr::Identifier(i) = x
            && names.contains(&i.value.as_str())
        {
            found = Some(i.value.clone());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// What the rule does to one query: its new SELECT and ORDER BY.
struct Change {
    select: Select,
    order_by: Option<sqlparser::ast::OrderBy>,
}

/// The single table a SELECT reads: its name, the name it goes by, and its factor.
fn relation(s: &Select) -> Option<(&ObjectName, Ident)> {
    let [twj] = s.from.as_slice() else { return None };
    if !twj.joins.is_empty() {
        return None;
    }
    let TableFactor::Table { name, alias, args: None, with_hints, version: None, partitions, sample: None, .. } =
        &twj.relation
    else {
        return None;
    };
    if !with_hints.is_empty() || !partitions.is_empty() || alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
        return None;
    }
    let [part] = name.0.as_slice() else { return None };
    let own = part.as_ident()?.clone();
    Some((name, alias.as_ref().map(|a| a.name.clone()).unwrap_or(own)))
}

/// Whether a SELECT calls ht_series (the rule's pattern).
fn calls_series(s: &Select) -> bool {
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions(s, |e| {
        if let Expr::Function(f) = e
            && upper_name(&f.name) == OrderedSeries::NAME.to_uppercase()
        {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

fn check(q: &Query, ctx: &Context) -> Verdict<Change> {
    let SetExpr::Select(s) = q.body.as_ref() else { return Verdict::Skip };
    let series = calls_series(s);
    // Plain aggregates of the values are the rule's where the table has a series view; over
    // any other table they are no concern of it (nothing to say).
    let over_a_view = relation(s).is_some_and(|(name, _)| ctx.series_of(name).is_some());
    if !(series || (aggregates_values(s) && over_a_view)) {
        return Verdict::Skip;
    }
    let Some((name, qualifier)) = relation(s) else {
        return Verdict::Declined(
            "the SELECT reads a join, a derived table or a table with hints, not one table".into(),
        );
    };
    let Some(view) = ctx.series_of(name) else {
        return Verdict::Declined(format!(
            "the engine holds no series view of {name} ({})",
            View::name(&name.to_string())
        ));
    };
    let Some(columns) = ctx.table_columns(name) else {
        return Verdict::Declined(format!("the columns of {name} are not known"));
    };
    let columns: Vec<String> = columns.iter().map(|c| c.name.clone()).filter(|c| c != ID).collect();
    match rewrite(q, s, &qualifier, &columns, view) {
        Ok(change) => Verdict::Fire(
            format!(
                "{name} grouped by {ID} is read from its series view {}, one row per strategy",
                View::name(&view.of)
            ),
            change,
        ),
        Err(why) => Verdict::Declined(why),
    }
}

fn rewrite(q: &Query, s: &Select, qualifier: &Ident, columns: &[String], view: &View) -> Result<Change, String> {
    let GroupByExpr::Expressions(keys, mods) = &s.group_by else {
        return Err("GROUP BY ALL: the rule needs the group key as a column".into());
    };
    match (keys.as_slice(), mods.is_empty()) {
        ([k], true) if column(k, qualifier) == Some(ID) => {}
        _ => return Err(format!("the SELECT does not group by {ID} alone")),
    }
    if s.distinct.is_some() || s.top.is_some() || s.into.is_some() || s.qualify.is_some() || !s.named_window.is_empty()
    {
        return Err("the SELECT has DISTINCT, TOP, INTO, QUALIFY or a named window".into());
    }
    if !s.lateral_views.is_empty()
        || s.prewhere.is_some()
        || !s.connect_by.is_empty()
        || !s.cluster_by.is_empty()
        || !s.distribute_by.is_empty()
        || !s.sort_by.is_empty()
        || s.exclude.is_some()
    {
        return Err("the SELECT has a clause the rule does not read (LATERAL VIEW, PREWHERE, CONNECT BY, CLUSTER/DISTRIBUTE/SORT BY, EXCLUDE)".into());
    }
    if let Some(w) = &s.selection
        && let Some(c) = conjuncts(w).into_iter().find(|c| !keeps_every_day(c, qualifier, view.days))
    {
        return Err(format!(
            "the WHERE's `{c}` is not a range on {DATE} that keeps every day of {} ({} to {}), so a series could lose days",
            view.of,
            iso(view.days.0),
            iso(view.days.1)
        ));
    }
    if let Some(h) = &s.having
        && let Some(name) = output_read(h, &s.projection)
    {
        return Err(format!("the HAVING reads the output {name}, which the WHERE it would become cannot"));
    }
    let mut out = s.clone();
    let mut parts = Parts { qualifier, columns, found: Vec::new(), error: None };
    for item in &mut out.projection {
        let before = parts.found.len();
        let unnamed = matches!(item, SelectItem::UnnamedExpr(_));
        let _ = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.visit(&mut parts),
            other => return Err(format!("output {other} reads every column of the table")),
        };
        if let Some(why) = parts.error.take() {
            return Err(why);
        }
        if unnamed && parts.found.len() > before {
            return Err(format!("output {item} has no name, and its name would change with the rewrite"));
        }
    }
    let mut having = out.having.take();
    let mut order_by = q.order_by.clone();
    let _ = having.visit(&mut parts);
    let _ = order_by.visit(&mut parts);
    if let Some(why) = parts.error.take() {
        return Err(why);
    }
    let mut install = Install(parts.found);
    let _ = out.projection.visit(&mut install);
    let _ = having.visit(&mut install);
    let _ = order_by.visit(&mut install);
    let view_name = ObjectName(vec![ObjectNamePart::Identifier(ident(&View::name(&view.of)))]);
    out.from = vec![ast::from(ast::table(&view_name, Some(qualifier)))];
    out.group_by = GroupByExpr::Expressions(Vec::new(), Vec::new());
    // Every row of the view is one group, and the WHERE keeps every row of the table.
    out.selection = having;
    Ok(Change { select: out, order_by })
}

fn apply(q: &mut Query, change: Change) {
    *q.body = SetExpr::Select(Box::new(change.select));
    q.order_by = change.order_by;
}

impl Rule for SeriesView {
    fn name(&self) -> &'static str {
        "series_view"
    }

    fn description(&self) -> &'static str {
        "read an aggregate of ht_series per strategy from the engine's series view of the table, without grouping rows"
    }

    fn rewrite(&self, plan: &mut Plan, ctx: &Context) -> crate::error::Result<Transformed> {
        let mut t = walk::each_query(&mut plan.statement, |q| check(q, ctx), apply);
        if t.fired.is_empty() && t.declined.is_empty() {
            t.declined.push("no SELECT calls ht_series, or aggregates the values of a table with a series view".into());
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::testing::sql_plan;

    /// Days 19724 (2024-01-03) to 19730 (2024-01-09).
    fn ctx() -> Context {
        let mut ctx = Context::default();
        ctx.series.insert("pnl".into(), View { of: "pnl".into(), days: (19725, 19731) });
        let columns = ["strategy_id", "seq", "trade_date", "zone", "pnl"];
        let column = |c: &&str| crate::rewrite::Column { name: c.to_string(), sql_type: String::new() };
        ctx.columns.insert("pnl".into(), columns.iter().map(column).collect());
        ctx
    }

    /// An embedded session holding `wide` as the run's tables `r` (with its series view).
    async fn session_over(
        wide: &crate::load::WideTable,
    ) -> crate::error::Result<(crate::engine::Embedded, crate::tables::TableNames)> {
        use crate::engine::Engine;
        let e = crate::engine::Embedded::in_memory(Some(2));
        let names = crate::tables::TableNames::for_table("r");
        let values = arrow::buffer::ScalarBuffer::from(wide.values.clone());
        for source in crate::ingest::sources_over(wide, crate::load::arriving::Arriving::now(values), &names, 64)? {
            e.create_temporary(source).await?;
        }
        Ok((e, names))
    }

    fn rules_but_this_one() -> Vec<String> {
        crate::rewrite::rules().iter().map(|r| r.name().to_owned()).filter(|n| n != "series_view").collect()
    }

    fn run(sql: &str) -> (String, Transformed) {
        let mut plan = sql_plan(sql);
        let t = SeriesView.rewrite(&mut plan, &ctx()).unwrap();
        (plan.statement.to_string(), t)
    }

    #[test]
    fn the_aggregate_reads_the_view_where_it_stands() {
        let (sql, t) = run("WITH s AS (SELECT p.strategy_id, get_field(ht_series(p.pnl, p.seq), 'norm') AS norm, \
             COUNT(*) AS n FROM pnl AS p WHERE p.trade_date BETWEEN DATE '2024-01-01' AND CAST('2024-12-31' AS DATE) \
             GROUP BY p.strategy_id HAVING COUNT(*) > 1) SELECT * FROM s ORDER BY norm LIMIT 3");
        assert_eq!(t.fired.len(), 1, "{t:?}");
        assert_eq!(
            sql,
            "WITH s AS (SELECT p.strategy_id, get_field(ht_series_of(p.pnl), 'norm') AS norm, days AS n \
             FROM pnl_series AS p WHERE days > 1) SELECT * FROM s ORDER BY norm LIMIT 3"
        );
        let (sql, t) = run("SELECT strategy_id, get_field(ht_series(pnl, seq), 'sum') AS roi FROM pnl \
             WHERE '2024-01-03' <= trade_date AND trade_date < DATE '2024-01-10' GROUP BY strategy_id ORDER BY roi");
        assert_eq!(t.fired.len(), 1, "{t:?}");
        assert_eq!(
            sql,
            "SELECT strategy_id, get_field(ht_series_of(pnl), 'sum') AS roi FROM pnl_series AS pnl ORDER BY roi"
        );
    }

    #[test]
    fn each_failed_precondition_is_named() {
        let cases = [
            (
                "SELECT strategy_id, get_field(ht_series(pnl, seq), 'sum') AS s FROM pnl WHERE trade_date > DATE '2024-01-03' GROUP BY strategy_id",
                "is not a range on trade_date that keeps every day of pnl (2024-01-03 to 2024-01-09)",
            ),
            (
                "SELECT strategy_id, get_field(ht_series(pnl, seq), 'sum') AS s FROM pnl WHERE pnl > 0 GROUP BY strategy_id",
                "`pnl > 0` is not a range",
            ),
            (
                "SELECT strategy_id, get_field(ht_series(pnl, seq), 'sum') AS s, VAR_POP(pnl) AS t FROM pnl GROUP BY strategy_id",
                "VAR_POP(pnl) is an aggregate",
            ),
            (
                "SELECT strategy_id, get_field(ht_series(pnl, seq), 'sum') AS s, MIN(strategy_id) AS m FROM pnl GROUP BY strategy_id",
                "MIN(strategy_id) is an aggregate",
            ),
            (
                "SELECT strategy_id, get_field(ht_series(pnl, trade_date), 'sum') AS s FROM pnl GROUP BY strategy_id",
                "orders another column",
            ),
            (
                "SELECT zone, get_field(ht_series(pnl, seq), 'sum') AS s FROM pnl GROUP BY zone",
                "does not group by strategy_id alone",
            ),
            (
                "SELECT strategy_id, MAX(zone) AS z, get_field(ht_series(pnl, seq), 'sum') AS s FROM pnl GROUP BY strategy_id",
                "MAX(zone) is an aggregate",
            ),
            ("SELECT strategy_id, get_field(ht_series(pnl, seq), 'sum') FROM pnl GROUP BY strategy_id", "has no name"),
            (
                "SELECT a.strategy_id, get_field(ht_series(a.pnl, a.seq), 'sum') AS s FROM pnl a JOIN strategies b ON a.strategy_id = b.strategy_id GROUP BY a.strategy_id",
                "a join",
            ),
            (
                "SELECT strategy_id, get_field(ht_series(pnl, seq), 'sum') AS s FROM other GROUP BY strategy_id",
                "no series view of other",
            ),
            (
                "SELECT strategy_id, get_field(ht_series(pnl, seq), 'sum') AS s FROM pnl GROUP BY strategy_id HAVING s > 0",
                "the HAVING reads the output s",
            ),
            (
                "SELECT DISTINCT strategy_id, get_field(ht_series(pnl, seq), 'sum') AS s FROM pnl GROUP BY strategy_id",
                "DISTINCT",
            ),
        ];
        for (sql, why) in cases {
            let (after, t) = run(sql);
            assert!(t.fired.is_empty(), "{sql}: {t:?}");
            assert!(t.declined.iter().any(|d| d.contains(why)), "{sql}: {:?}", t.declined);
            assert_eq!(after, sql_plan(sql).statement.to_string());
        }
        // Plain aggregates of the values: the rule's over a table with a series view only.
        let (sql, t) = run("SELECT strategy_id, SUM(pnl) AS s, MIN(p.pnl) AS lo FROM pnl AS p GROUP BY strategy_id");
        assert_eq!(t.fired.len(), 1, "{t:?}");
        assert_eq!(
            sql,
            "SELECT strategy_id, get_field(ht_series_of(pnl), 'sum') AS s, get_field(ht_series_of(p.pnl), 'min') AS lo \
             FROM pnl_series AS p"
        );
        let (_, t) = run("SELECT strategy_id, SUM(pnl) AS s FROM other GROUP BY strategy_id");
        assert!(t.fired.is_empty() && t.declined[0].starts_with("no SELECT calls ht_series"), "{t:?}");
        let (_, t) = run("SELECT strategy_id, SUM(DISTINCT pnl) AS s FROM pnl GROUP BY strategy_id");
        assert!(t.fired.is_empty(), "{t:?}");
        let (_, t) = run("SELECT strategy_id, SUM(pnl) AS s, STDDEV(pnl) AS sd FROM pnl GROUP BY strategy_id");
        assert!(t.declined.iter().any(|d| d.contains("STDDEV(pnl) is an aggregate")), "{t:?}");
    }

    /// ULTA's figures (SUM, MIN, MAX of the values per strategy) and the report read from the
    /// view give the grouped aggregates' rows bit for bit.
    #[test]
    fn ulta_figures_over_the_view_give_the_grouped_rows() {
        use crate::engine::{Blocking, fetch};
        let rt = Blocking::new(Some(2)).unwrap();
        for (strategies, days, seed) in [(300, 17, 3), (40, 1, 4)] {
            let mut wide = crate::synth::generate(&crate::synth::SynthConfig { strategies, days, seed });
            wide.values[..days].fill(-2.5);
            rt.run(async {
                let (e, names) = session_over(&wide).await?;
                let params = crate::templates::Params { tables: Some(names.clone()), ..Default::default() };
                let others = rules_but_this_one();
                let rows =
                    |o: crate::engine::QueryOutput| arrow::compute::concat_batches(&o.schema, &o.batches).unwrap();
                let figures = crate::templates::parse(
                    "SELECT strategy_id, SUM(pnl) AS roi, MIN(pnl) AS dd, MAX(r.pnl) AS best, AVG(pnl) AS mean, \
                     COUNT(*) AS n FROM r GROUP BY strategy_id ORDER BY strategy_id",
                )?;
                for (i, stmt) in [
                    figures,
                    crate::templates::bind(crate::templates::find("ulta_strategies")?, &params)?,
                    crate::templates::bind(crate::templates::find("ulta_report")?, &params)?,
                ]
                .into_iter()
                .enumerate()
                {
                    let ctx = Context::discover(&e, &stmt).await?;
                    let all = crate::rewrite::optimize(stmt.clone(), &ctx, None)?;
                    assert!(all.fired().contains(&"series_view"), "{i}: {:?}", all.steps);
                    let grouped = crate::rewrite::optimize(stmt, &ctx, Some(&others))?;
                    assert!(!grouped.fired().contains(&"series_view"));
                    let a = rows(crate::exec::execute_plan(&e, &all.plan).await?);
                    let b = rows(crate::exec::execute_plan(&e, &grouped.plan).await?);
                    assert!(a.num_rows() > 0 || i == 2, "{i}");
                    assert_eq!(a.columns(), b.columns(), "{i}");
                }
                // The figures query's own columns against the values.
                let out = rows(
                    fetch(&e, &crate::templates::parse("SELECT SUM(pnl) AS s FROM r WHERE strategy_id = 0")?).await?,
                );
                let want: f64 = wide.values[..days].iter().fold(0.0, |a, v| a + v);
                assert_eq!(out.column(0).as_any().downcast_ref::<arrow::array::Float64Array>().unwrap().value(0), want);
                Ok(())
            })
            .unwrap();
        }
    }

    /// On the embedded engine, over a long table it keeps with its series view, the run's
    /// strategy_stats reads the view, and its rows are those of the ht_series aggregate,
    /// bit for bit: random values, constant strategies, ties, one day.
    #[test]
    fn strategy_stats_over_the_view_gives_the_aggregate_s_rows() {
        use crate::engine::{Blocking, Engine, fetch};
        let rt = Blocking::new(Some(2)).unwrap();
        for (strategies, days, seed) in [(300, 17, 3), (40, 1, 4)] {
            let mut wide = crate::synth::generate(&crate::synth::SynthConfig { strategies, days, seed });
            // A flat strategy and one of ties (two values, each on several days).
            wide.values[..days].fill(2.5);
            for (d, v) in wide.values[days..2 * days].iter_mut().enumerate() {
                *v = if d % 2 == 0 { -1.0 } else { 1.0 };
            }
            rt.run(async {
                let (e, names) = session_over(&wide).await?;
                let params = crate::templates::Params { tables: Some(names.clone()), ..Default::default() };
                let stmt = crate::templates::bind(crate::templates::find("strategy_stats")?, &params)?;
                let ctx = Context::discover(&e, &stmt).await?;
                assert!(ctx.series.contains_key("r"), "{:?}", ctx.describe());
                let all = crate::rewrite::optimize(stmt.clone(), &ctx, None)?;
                assert!(all.fired().contains(&"series_view"), "{:?}", all.fired());
                let others = rules_but_this_one();
                let grouped = crate::rewrite::optimize(stmt, &ctx, Some(&others))?;
                assert!(grouped.fired().contains(&"series_to_aggregate"));
                let rows =
                    |o: crate::engine::QueryOutput| arrow::compute::concat_batches(&o.schema, &o.batches).unwrap();
                let (a, b) =
                    (rows(fetch(&e, &all.plan.statement).await?), rows(fetch(&e, &grouped.plan.statement).await?));
                assert_eq!(a.num_rows(), strategies);
                // The same columns and values (DataFusion passes the view's schema metadata on).
                assert_eq!(a.schema().fields(), b.schema().fields());
                assert_eq!(a.columns(), b.columns());
                // The view declares its rows in strategy order: its ORDER BY strategy_id sorts
                // nothing (the partitions, if several, are merged).
                let plan = e.explain(&all.plan.statement, false).await?;
                assert!(!plan.contains("SortExec:"), "{plan}");
                // The view goes with its table, and with it every reference to the values.
                e.drop_temporary(&names.pnl).await?;
                assert!(e.schema(&View::name(&names.pnl)).await?.is_none());
                Ok(())
            })
            .unwrap();
        }
    }
}
