//! The pairwise-correlation request as users write it, recognised from the AST:
//! `SELECT a.id AS x, b.id AS y, CORR(a.v, b.v) AS c FROM t AS a JOIN t AS b ON a.k = b.k
//! WHERE <filters on a> AND <filters on b> GROUP BY a.id, b.id`.
//!
//! The correlation rules switch the request's options (filters below the join, pre-centred
//! values, one half of the symmetric pairs) and print it back as SQL, which is parsed again.
//! Identifiers and filters are printed by `sqlparser` itself, so quoting survives.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, JoinConstraint,
    JoinOperator, ObjectName, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins,
};

use crate::error::Result;
use crate::templates;

/// What one output column of the request holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CorrOutput {
    IdA,
    IdB,
    Corr,
}

/// One WHERE conjunct on one side, as written and with the side's alias removed.
#[derive(Debug, Clone, PartialEq)]
pub struct SideFilter {
    pub qualified: Expr,
    pub stripped: Expr,
}

/// A recognised pairwise-correlation request and the options the rules have switched on.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrRequest {
    pub table: ObjectName,
    pub alias_a: Ident,
    pub alias_b: Ident,
    pub id: Ident,
    pub key: Ident,
    pub value: Ident,
    pub filters_a: Vec<SideFilter>,
    pub filters_b: Vec<SideFilter>,
    pub outputs: Vec<(CorrOutput, Ident)>,
    /// Side filters sit in derived tables below the join.
    pub pushdown: bool,
    /// Correlations come from pre-centred, unit-norm values (per-strategy moments once).
    pub moments: bool,
    /// Only pairs with id_a <= id_b are computed, the rest mirrored.
    pub symmetric: bool,
}

fn same(a: &Ident, b: &Ident) -> bool {
    a.value == b.value
}

/// `alias.column` as written, or None.
fn qualified(e: &Expr) -> Option<(&Ident, &Ident)> {
    match e {
        Expr::CompoundIdentifier(parts) if parts.len() == 2 => Some((&parts[0], &parts[1])),
        _ => None,
    }
}

fn conjuncts(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) if matches!(**inner, Expr::BinaryOp { op: BinaryOperator::And, .. }) => {
            conjuncts(inner, out)
        }
        other => out.push(other.clone()),
    }
}

/// The aliases among `a`, `b` that an expression refers to (anywhere, subqueries included).
fn sides(e: &Expr, a: &Ident, b: &Ident) -> (bool, bool) {
    let (mut on_a, mut on_b) = (false, false);
    let _ = sqlparser::ast::visit_expressions(e, |x: &Expr| {
        if let Expr::CompoundIdentifier(parts) = x
            && parts.len() >= 2
        {
            on_a |= same(&parts[0], a);
            on_b |= same(&parts[0], b);
        }
        ControlFlow::<()>::Continue(())
    });
    (on_a, on_b)
}

fn strip(e: &Expr, alias: &Ident) -> Expr {
    let mut e = e.clone();
    let _ = sqlparser::ast::visit_expressions_mut(&mut e, |x: &mut Expr| {
        if let Expr::CompoundIdentifier(parts) = x
            && parts.len() == 2
            && same(&parts[0], alias)
        {
            *x = Expr::Identifier(parts[1].clone());
        }
        ControlFlow::<()>::Continue(())
    });
    e
}

/// A side of the self-join: the table, its alias and filters already below the join.
fn side(tf: &TableFactor) -> std::result::Result<(ObjectName, Ident, Vec<Expr>), String> {
    match tf {
        TableFactor::Table { name, alias: Some(alias), args: None, with_hints, .. }
            if alias.columns.is_empty() && with_hints.is_empty() =>
        {
            Ok((name.clone(), alias.name.clone(), Vec::new()))
        }
        TableFactor::Derived { subquery, alias: Some(alias), lateral: false, .. } if alias.columns.is_empty() => {
            let SetExpr::Select(s) = subquery.body.as_ref() else { return Err("a side is not a plain SELECT".into()) };
            let star = matches!(s.projection.as_slice(), [SelectItem::Wildcard(_)]);
            if !star || s.from.len() != 1 || !s.from[0].joins.is_empty() || subquery.with.is_some() {
                return Err("a side's subquery is not SELECT * FROM <table> WHERE ...".into());
            }
            let (name, _, _) = match &s.from[0].relation {
                TableFactor::Table { name, args: None, .. } => (name.clone(), (), ()),
                _ => return Err("a side's subquery does not read a table".into()),
            };
            let mut filters = Vec::new();
            if let Some(sel) = &s.selection {
                conjuncts(sel, &mut filters);
            }
            Ok((name, alias.name.clone(), filters))
        }
        TableFactor::Table { alias: None, .. } => Err("both sides of the self-join need an alias".into()),
        _ => Err("a side of the join is not a table".into()),
    }
}

/// `CORR(a.v, b.v)` -> v.
fn corr_of(e: &Expr, a: &Ident, b: &Ident) -> Option<Ident> {
    let Expr::Function(f) = e else { return None };
    let name = f.name.to_string();
    if !name.eq_ignore_ascii_case("corr") || f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else { return None };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    let args: Vec<&Expr> = list
        .args
        .iter()
        .filter_map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect();
    let [x, y] = args.as_slice() else { return None };
    let ((qa, va), (qb, vb)) = (qualified(x)?, qualified(y)?);
    (same(qa, a) && same(qb, b) && same(va, vb)).then(|| va.clone())
}

impl CorrRequest {
    /// Recognises the request in a statement, or says what does not match.
    pub fn recognise(stmt: &Statement) -> std::result::Result<CorrRequest, String> {
        let Statement::Query(q) = stmt else { return Err("not a query".into()) };
        if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
            return Err("not a plain SELECT (WITH, ORDER BY or LIMIT around it)".into());
        }
        let SetExpr::Select(s) = q.body.as_ref() else { return Err("not a single SELECT".into()) };
        if s.distinct.is_some() || s.having.is_some() || !s.named_window.is_empty() || s.qualify.is_some() {
            return Err("DISTINCT, HAVING, WINDOW or QUALIFY present".into());
        }
        let [TableWithJoins { relation, joins }] = s.from.as_slice() else {
            return Err("not one FROM item".into());
        };
        let [join] = joins.as_slice() else { return Err("not a self-join of two sides".into()) };
        let on = match &join.join_operator {
            JoinOperator::Join(JoinConstraint::On(on)) | JoinOperator::Inner(JoinConstraint::On(on)) => on,
            _ => return Err("the join is not an inner join with ON".into()),
        };
        let (table, alias_a, below_a) = side(relation)?;
        let (table_b, alias_b, below_b) = side(&join.relation)?;
        if table != table_b {
            return Err(format!("a join of {table} with {table_b}, not a self-join"));
        }
        if same(&alias_a, &alias_b) {
            return Err("both sides have the same alias".into());
        }
        let key = match on {
            Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => match (qualified(left), qualified(right)) {
                (Some((l, lk)), Some((r, rk))) if same(lk, rk) && same(l, &alias_a) && same(r, &alias_b) => lk.clone(),
                (Some((l, lk)), Some((r, rk))) if same(lk, rk) && same(l, &alias_b) && same(r, &alias_a) => lk.clone(),
                _ => return Err("the join condition is not a.key = b.key on one column".into()),
            },
            _ => return Err("the join condition is not a single equality".into()),
        };
        let GroupByExpr::Expressions(groups, modifiers) = &s.group_by else {
            return Err("GROUP BY ALL is not supported".into());
        };
        let id = match (groups.as_slice(), modifiers.is_empty()) {
            ([g1, g2], true) => match (qualified(g1), qualified(g2)) {
                (Some((qa, ia)), Some((qb, ib))) if same(qa, &alias_a) && same(qb, &alias_b) && same(ia, ib) => {
                    ia.clone()
                }
                _ => return Err("GROUP BY is not a.id, b.id on one column".into()),
            },
            _ => return Err("GROUP BY is not a.id, b.id".into()),
        };
        let mut outputs = Vec::new();
        let mut value: Option<Ident> = None;
        for item in &s.projection {
            let SelectItem::ExprWithAlias { expr, alias } = item else {
                return Err(format!(
                    "output {item} has no alias: name every output column (AS name) so rewrites keep the names"
                ));
            };
            let kind = match qualified(expr) {
                Some((q, c)) if same(c, &id) && same(q, &alias_a) => CorrOutput::IdA,
                Some((q, c)) if same(c, &id) && same(q, &alias_b) => CorrOutput::IdB,
                _ => match corr_of(expr, &alias_a, &alias_b) {
                    Some(v) if value.as_ref().is_none_or(|w| same(w, &v)) => {
                        value = Some(v);
                        CorrOutput::Corr
                    }
                    _ => return Err(format!("output {expr} is neither a side's id nor CORR(a.v, b.v)")),
                },
            };
            outputs.push((kind, alias.clone()));
        }
        let value = value.ok_or("no CORR(a.v, b.v) among the outputs")?;
        let mut where_conjuncts = Vec::new();
        if let Some(sel) = &s.selection {
            conjuncts(sel, &mut where_conjuncts);
        }
        let (mut filters_a, mut filters_b) = (Vec::new(), Vec::new());
        for c in where_conjuncts {
            match sides(&c, &alias_a, &alias_b) {
                (true, false) => filters_a.push(SideFilter { stripped: strip(&c, &alias_a), qualified: c }),
                (false, true) => filters_b.push(SideFilter { stripped: strip(&c, &alias_b), qualified: c }),
                _ => return Err(format!("WHERE condition {c} is not about one side")),
            }
        }
        let pushdown = !below_a.is_empty() || !below_b.is_empty();
        if pushdown && !(filters_a.is_empty() && filters_b.is_empty()) {
            return Err("filters both below and above the join".into());
        }
        // Filters already below the join keep that place (pushdown stays on), so their
        // qualified form is never printed.
        let below = |e: Expr| SideFilter { qualified: e.clone(), stripped: e };
        filters_a.extend(below_a.into_iter().map(below));
        filters_b.extend(below_b.into_iter().map(below));
        Ok(CorrRequest {
            table,
            alias_a,
            alias_b,
            id,
            key,
            value,
            filters_a,
            filters_b,
            outputs,
            pushdown,
            moments: false,
            symmetric: false,
        })
    }

    /// Whether both sides carry the same filters (as sets, alias removed).
    pub fn symmetric_filters(&self) -> bool {
        let set = |f: &[SideFilter]| f.iter().map(|x| x.stripped.to_string()).collect::<BTreeSet<_>>();
        set(&self.filters_a) == set(&self.filters_b)
    }

    pub fn has(&self, kind: CorrOutput) -> bool {
        self.outputs.iter().any(|(k, _)| *k == kind)
    }

    /// The first column a side filter reads outside subqueries that is not the id or the key,
    /// or a construct we do not look into; None when filters keep whole strategies' days.
    pub fn filter_beyond_id_and_key(&self) -> Option<String> {
        let allowed = [self.id.value.as_str(), self.key.value.as_str()];
        self.filters_a.iter().chain(&self.filters_b).find_map(|f| outer_column_outside(&f.stripped, &allowed))
    }

    fn cte_z(&self, name: &str, filters: &[SideFilter]) -> String {
        let (t, id, key, v) = (&self.table, &self.id, &self.key, &self.value);
        let filter = and(filters.iter().map(|f| f.stripped.to_string()));
        let filter = if filter.is_empty() { String::new() } else { format!(" WHERE {filter}") };
        format!(
            "{name}_c AS (SELECT {id}, {key}, CASE WHEN MIN({v}) OVER (PARTITION BY {id}) = MAX({v}) OVER (PARTITION BY {id}) \
             THEN NULL ELSE {v} - AVG({v}) OVER (PARTITION BY {id}) END AS ht_centred FROM {t}{filter}), \
             {name} AS (SELECT {id}, {key}, ht_centred / SQRT(SUM(ht_centred * ht_centred) OVER (PARTITION BY {id})) AS ht_z \
             FROM {name}_c)"
        )
    }

    fn side_sql(&self, alias: &Ident, filters: &[SideFilter]) -> String {
        let t = &self.table;
        if self.pushdown && !filters.is_empty() {
            format!("(SELECT * FROM {t} WHERE {}) AS {alias}", and(filters.iter().map(|f| f.stripped.to_string())))
        } else {
            format!("{t} AS {alias}")
        }
    }

    /// The request as SQL text under its current options.
    pub fn sql(&self) -> String {
        let (a, b, id, key, v) = (&self.alias_a, &self.alias_b, &self.id, &self.key, &self.value);
        let mut ctes = Vec::new();
        let (from, mut wheres) = if self.moments {
            ctes.push(self.cte_z("ht_za", &self.filters_a));
            let right = if self.symmetric_filters() {
                "ht_za".to_owned()
            } else {
                ctes.push(self.cte_z("ht_zb", &self.filters_b));
                "ht_zb".to_owned()
            };
            (format!("ht_za AS {a} JOIN {right} AS {b} ON {a}.{key} = {b}.{key}"), Vec::new())
        } else {
            let from = format!(
                "{} JOIN {} ON {a}.{key} = {b}.{key}",
                self.side_sql(a, &self.filters_a),
                self.side_sql(b, &self.filters_b)
            );
            let wheres: Vec<String> = if self.pushdown {
                Vec::new()
            } else {
                self.filters_a.iter().chain(&self.filters_b).map(|f| f.qualified.to_string()).collect()
            };
            (from, wheres)
        };
        if self.symmetric {
            wheres.push(format!("{a}.{id} <= {b}.{id}"));
        }
        let corr = if self.moments { format!("SUM({a}.ht_z * {b}.ht_z)") } else { format!("CORR({a}.{v}, {b}.{v})") };
        let items: Vec<String> = self
            .outputs
            .iter()
            .map(|(kind, name)| match kind {
                CorrOutput::IdA => format!("{a}.{id} AS {name}"),
                CorrOutput::IdB => format!("{b}.{id} AS {name}"),
                CorrOutput::Corr => format!("{corr} AS {name}"),
            })
            .collect();
        let wheres = and(wheres.into_iter());
        let wheres = if wheres.is_empty() { String::new() } else { format!(" WHERE {wheres}") };
        let grouped = format!("SELECT {} FROM {from}{wheres} GROUP BY {a}.{id}, {b}.{id}", items.join(", "));
        let body = if self.symmetric {
            let xa = self.output_name(CorrOutput::IdA).expect("symmetric needs both ids");
            let xb = self.output_name(CorrOutput::IdB).expect("symmetric needs both ids");
            ctes.push(format!("ht_half AS ({grouped})"));
            let outer: Vec<String> = self
                .outputs
                .iter()
                .map(|(kind, name)| match kind {
                    CorrOutput::IdA => {
                        format!("CASE WHEN ht_mirror.ht_side = 0 THEN ht_half.{xa} ELSE ht_half.{xb} END AS {name}")
                    }
                    CorrOutput::IdB => {
                        format!("CASE WHEN ht_mirror.ht_side = 0 THEN ht_half.{xb} ELSE ht_half.{xa} END AS {name}")
                    }
                    CorrOutput::Corr => format!("ht_half.{name} AS {name}"),
                })
                .collect();
            format!(
                "SELECT {} FROM ht_half CROSS JOIN (SELECT 0 AS ht_side UNION ALL SELECT 1 AS ht_side) AS ht_mirror \
                 WHERE ht_mirror.ht_side = 0 OR ht_half.{xa} <> ht_half.{xb}",
                outer.join(", ")
            )
        } else {
            grouped
        };
        if ctes.is_empty() { body } else { format!("WITH {} {body}", ctes.join(", ")) }
    }

    /// The SQL of the kernel plan: (id, key, z) of the candidate strategies, ordered.
    pub fn kernel_sql(&self) -> String {
        format!(
            "WITH {} SELECT {id} AS ht_id, {key} AS ht_key, ht_z FROM ht_za ORDER BY ht_id, ht_key",
            self.cte_z("ht_za", &self.filters_a),
            id = self.id,
            key = self.key
        )
    }

    pub fn output_name(&self, kind: CorrOutput) -> Option<&Ident> {
        self.outputs.iter().find(|(k, _)| *k == kind).map(|(_, n)| n)
    }

    /// The statement for the current options.
    pub fn statement(&self) -> Result<Statement> {
        templates::parse(&self.sql())
    }
}

fn and(parts: impl Iterator<Item = String>) -> String {
    parts.map(|p| format!("({p})")).collect::<Vec<_>>().join(" AND ")
}

/// The first outer column of `e` not in `allowed` (subqueries are not looked into: they read
/// other tables), or a description of a construct we do not analyse.
fn outer_column_outside(e: &Expr, allowed: &[&str]) -> Option<String> {
    let go = |x: &Expr| outer_column_outside(x, allowed);
    match e {
        Expr::Identifier(i) => (!allowed.contains(&i.value.as_str())).then(|| i.value.clone()),
        Expr::CompoundIdentifier(_) => Some(e.to_string()),
        Expr::Value(_) | Expr::TypedString { .. } => None,
        Expr::BinaryOp { left, right, .. } => go(left).or_else(|| go(right)),
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::Cast { expr, .. } => go(expr),
        Expr::IsNull(x) | Expr::IsNotNull(x) => go(x),
        Expr::InList { expr, list, .. } => go(expr).or_else(|| list.iter().find_map(go)),
        Expr::InSubquery { expr, .. } => go(expr),
        Expr::Between { expr, low, high, .. } => go(expr).or_else(|| go(low)).or_else(|| go(high)),
        other => Some(format!("{other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(sql: &str) -> std::result::Result<CorrRequest, String> {
        CorrRequest::recognise(&templates::parse(sql).unwrap())
    }

    #[test]
    fn recognises_the_template() {
        let params = templates::Params { candidates: Some(vec!["x".into()]), ..Default::default() };
        let stmt = templates::bind(templates::find("pair_corr").unwrap(), &params).unwrap();
        let r = CorrRequest::recognise(&stmt).unwrap();
        assert_eq!(
            (r.id.value.as_str(), r.key.value.as_str(), r.value.value.as_str()),
            ("strategy_id", "trade_date", "pnl")
        );
        assert_eq!((r.filters_a.len(), r.filters_b.len()), (2, 2));
        assert!(r.symmetric_filters());
        assert_eq!(r.filter_beyond_id_and_key(), None);
        // Printing it back with no option switched on gives an equivalent query that parses.
        assert_eq!(CorrRequest::recognise(&r.statement().unwrap()).unwrap().outputs, r.outputs);
    }

    #[test]
    fn says_what_does_not_match() {
        assert!(req("SELECT 1").unwrap_err().contains("FROM"));
        let e = req("SELECT a.id, b.id AS y, CORR(a.v, b.v) AS c FROM t a JOIN t b ON a.k = b.k GROUP BY a.id, b.id");
        assert!(e.unwrap_err().contains("alias"));
        let e = req("SELECT a.id AS x, CORR(a.v, b.w) AS c FROM t a JOIN t b ON a.k = b.k GROUP BY a.id, b.id");
        assert!(e.unwrap_err().contains("CORR"));
        let e = req("SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN u b ON a.k = b.k GROUP BY a.id, b.id");
        assert!(e.unwrap_err().contains("not a self-join"));
        let e = req(
            "SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN t b ON a.k = b.k WHERE a.v > b.v GROUP BY a.id, b.id",
        );
        assert!(e.unwrap_err().contains("one side"));
    }

    #[test]
    fn value_filters_are_found() {
        let r = req("SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN t b ON a.k = b.k WHERE a.v > 0 AND b.v > 0 GROUP BY a.id, b.id")
            .unwrap();
        assert_eq!(r.filter_beyond_id_and_key().as_deref(), Some("v"));
    }
}
