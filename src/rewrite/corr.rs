//! The pairwise-correlation request as users write it, recognised in one SELECT wherever it
//! stands: `CORR(x.v, y.v)` over a self-join of a long table on its key, grouped by both sides'
//! ids. The join may be `JOIN ... ON` or a comma join with the key in WHERE; the candidate set
//! an `IN (SELECT ...)`, an `IN (list)`, an `EXISTS`, a derived side or a join to a CTE or
//! table; the ids may be related (`a.id < b.id`, `<>`); outputs, HAVING and the enclosing
//! ORDER BY may compute anything of the two ids and the correlation.
//!
//! The correlation rules switch the request's options (filters below the join, pre-centred
//! values, one half of the symmetric pairs, the kernel) and [`CorrRequest::render`] rebuilds
//! the SELECT as AST nodes: the pairs `(ht_id_a, ht_id_b, ht_corr)` in a derived table named
//! by the request's marker, and the user's outputs over it.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Cte, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, JoinConstraint,
    JoinOperator, ObjectName, OrderBy, OrderByKind, Query, Select, SelectItem, SetExpr, TableFactor, Value, Visit,
    Visitor,
};

use super::ast::{self, col, ident};

/// What one output column of the direct kernel plan holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CorrOutput {
    IdA,
    IdB,
    Corr,
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
    /// Conditions on one side, as written (qualified by the side's alias).
    pub filters_a: Vec<Expr>,
    pub filters_b: Vec<Expr>,
    /// Conditions already below the join in a derived side, as written there.
    pub below_a: Vec<Expr>,
    pub below_b: Vec<Expr>,
    /// `a.id <op> b.id`, as a relation from side a to side b.
    pub relation: Option<BinaryOperator>,
    /// The outputs, each named (unnamed ones get the name the statement's output had).
    pub outputs: Vec<(Expr, Ident)>,
    pub having: Option<Expr>,
    /// Side filters sit in derived tables below the join.
    pub pushdown: bool,
    /// Correlations come from pre-centred, unit-norm values (per-strategy moments once).
    pub moments: bool,
    /// Only pairs with id_a <= id_b are computed, the rest mirrored.
    pub symmetric: bool,
    /// The session table the kernel fills with the pairs, when the kernel answers.
    pub kernel: Option<Ident>,
    /// The alias of the derived table the rewritten SELECT reads its pairs from.
    pub marker: Ident,
}

const ID_A: &str = "ht_id_a";
const ID_B: &str = "ht_id_b";
const CORR: &str = "ht_corr";

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

pub(crate) fn conjuncts(e: &Expr, out: &mut Vec<Expr>) {
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

/// `e` with `from.c` read as `to.c`.
fn renamed(e: &Expr, from: &Ident, to: &Ident) -> Expr {
    let mut e = e.clone();
    let _ = sqlparser::ast::visit_expressions_mut(&mut e, |x: &mut Expr| {
        if let Expr::CompoundIdentifier(parts) = x
            && parts.len() == 2
            && same(&parts[0], from)
        {
            parts[0] = to.clone();
        }
        ControlFlow::<()>::Continue(())
    });
    e
}

/// Whether an expression holds a subquery (scalar, IN or EXISTS).
pub(crate) fn has_subquery(e: &Expr) -> bool {
    let mut sub = false;
    let _ = sqlparser::ast::visit_expressions(e, |x: &Expr| {
        sub |= matches!(x, Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. });
        ControlFlow::<()>::Continue(())
    });
    sub
}

/// The qualifiers among `names` that an expression refers to, subqueries included.
fn qualifiers(e: &Expr, names: &[Ident]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let _ = sqlparser::ast::visit_expressions(e, |x: &Expr| {
        if let Expr::CompoundIdentifier(parts) = x
            && parts.len() >= 2
            && names.iter().any(|n| same(n, &parts[0]))
        {
            found.insert(parts[0].value.clone());
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// `CORR(x.v, y.v)` -> (x, y, v).
fn corr_call(e: &Expr) -> Option<(Ident, Ident, Ident)> {
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
    let ((qx, vx), (qy, vy)) = (qualified(x)?, qualified(y)?);
    (same(vx, vy) && !same(qx, qy)).then(|| (qx.clone(), qy.clone(), vx.clone()))
}

/// The first CORR(x.v, y.v) among expressions, outside subqueries.
fn first_corr<'a>(exprs: impl Iterator<Item = &'a Expr>) -> Option<(Ident, Ident, Ident)> {
    struct Find(Option<(Ident, Ident, Ident)>, usize);
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.1 += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.1 -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if self.1 == 0
                && let Some(c) = corr_call(e)
            {
                self.0 = Some(c);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut find = Find(None, 0);
    for e in exprs {
        if e.visit(&mut find).is_break() {
            break;
        }
    }
    find.0
}

/// Whether a SELECT computes a CORR of two qualified columns (outside subqueries): the shape
/// the correlation rules look at, so their refusals are worth reporting.
pub fn mentions_corr(s: &Select) -> bool {
    first_corr(select_exprs(s)).is_some()
}

fn select_exprs(s: &Select) -> impl Iterator<Item = &Expr> {
    s.projection
        .iter()
        .filter_map(|i| match i {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        })
        .chain(s.having.iter())
}

/// The name a statement's output column has when it is not named: the column's for a column
/// reference, else the expression as written.
pub fn output_name(e: &Expr) -> Ident {
    match e {
        Expr::Identifier(i) => i.clone(),
        Expr::CompoundIdentifier(parts) => parts.last().cloned().unwrap_or_else(|| ident("?column?")),
        other => Ident::with_quote('"', other.to_string()),
    }
}

/// A relation of the FROM clause: its name in the query and the factor as written.
struct Relation<'a> {
    name: Ident,
    factor: &'a TableFactor,
}

/// The name a FROM item goes by: its alias, else its table's last name part.
pub(crate) fn relation_name(tf: &TableFactor) -> Option<Ident> {
    match tf {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => Some(a.name.clone()),
        TableFactor::Table { name, alias: None, .. } => name.0.last().and_then(|p| p.as_ident()).cloned(),
        _ => None,
    }
}

/// A side of the self-join: the table and the filters already below the join.
fn side(tf: &TableFactor) -> Result<(ObjectName, Vec<Expr>), String> {
    match tf {
        TableFactor::Table { name, args: None, with_hints, alias, .. }
            if with_hints.is_empty() && alias.as_ref().is_none_or(|a| a.columns.is_empty()) =>
        {
            Ok((name.clone(), Vec::new()))
        }
        TableFactor::Derived { subquery, lateral: false, alias: Some(alias), .. } if alias.columns.is_empty() => {
            let SetExpr::Select(s) = subquery.body.as_ref() else {
                return Err(format!("side {} is not a plain SELECT", alias.name));
            };
            let star = matches!(s.projection.as_slice(), [SelectItem::Wildcard(_)]);
            if !star
                || s.from.len() != 1
                || !s.from[0].joins.is_empty()
                || subquery.with.is_some()
                || subquery.limit_clause.is_some()
                || s.distinct.is_some()
                || !matches!(&s.group_by, GroupByExpr::Expressions(g, _) if g.is_empty())
            {
                return Err(format!("side {} is not SELECT * FROM <table> WHERE ...", alias.name));
            }
            let TableFactor::Table { name, args: None, alias: None, .. } = &s.from[0].relation else {
                return Err(format!("side {} does not read one unaliased table", alias.name));
            };
            let mut filters = Vec::new();
            if let Some(sel) = &s.selection {
                conjuncts(sel, &mut filters);
            }
            Ok((name.clone(), filters))
        }
        other => Err(format!("side {other} is not a table or SELECT * FROM a table")),
    }
}

/// One WHERE / ON conjunct, classified.
enum Conjunct {
    /// `x.c = y.c` between the two sides.
    SidesEqual(Ident),
    /// `x.c <op> y.c` between the two sides, oriented from side a to side b.
    SidesRelated(Ident, BinaryOperator),
    /// `side.c = t.d` with t another relation of the FROM clause.
    Link {
        side_a: bool,
        column: Ident,
        other: Ident,
        other_column: Ident,
    },
    A(Expr),
    B(Expr),
    /// A condition on another relation's own columns: part of its candidate set.
    Other(Ident, Expr),
}

fn flip(op: &BinaryOperator) -> Option<BinaryOperator> {
    Some(match op {
        BinaryOperator::Lt => BinaryOperator::Gt,
        BinaryOperator::LtEq => BinaryOperator::GtEq,
        BinaryOperator::Gt => BinaryOperator::Lt,
        BinaryOperator::GtEq => BinaryOperator::LtEq,
        BinaryOperator::NotEq => BinaryOperator::NotEq,
        BinaryOperator::Eq => BinaryOperator::Eq,
        _ => return None,
    })
}

fn classify(c: &Expr, a: &Ident, b: &Ident, others: &[Ident]) -> Result<Conjunct, String> {
    if let Expr::BinaryOp { left, op, right } = c
        && let (Some((ql, cl)), Some((qr, cr))) = (qualified(left), qualified(right))
    {
        let orient = if same(ql, a) && same(qr, b) {
            Some(op.clone())
        } else if same(ql, b) && same(qr, a) {
            flip(op)
        } else {
            None
        };
        if let Some(op) = orient {
            if !same(cl, cr) {
                return Err(format!("condition {c} compares different columns of the two sides"));
            }
            return match op {
                BinaryOperator::Eq => Ok(Conjunct::SidesEqual(cl.clone())),
                BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::NotEq => Ok(Conjunct::SidesRelated(cl.clone(), op)),
                other => Err(format!("condition {c}: {other} between the sides is not modelled")),
            };
        }
        if *op == BinaryOperator::Eq {
            let link =
                |side: &Ident, other: &Ident| (same(side, a) || same(side, b)) && others.iter().any(|x| same(x, other));
            if link(ql, qr) {
                return Ok(Conjunct::Link {
                    side_a: same(ql, a),
                    column: cl.clone(),
                    other: qr.clone(),
                    other_column: cr.clone(),
                });
            }
            if link(qr, ql) {
                return Ok(Conjunct::Link {
                    side_a: same(qr, a),
                    column: cr.clone(),
                    other: ql.clone(),
                    other_column: cl.clone(),
                });
            }
        }
    }
    let mut names = vec![a.clone(), b.clone()];
    names.extend(others.iter().cloned());
    let refs = qualifiers(c, &names);
    let only = |n: &Ident| refs.len() == 1 && refs.contains(&n.value);
    if only(a) {
        Ok(Conjunct::A(c.clone()))
    } else if only(b) {
        Ok(Conjunct::B(c.clone()))
    } else if let Some(o) = others.iter().find(|o| only(o)) {
        Ok(Conjunct::Other(o.clone(), c.clone()))
    } else if refs.is_empty() {
        Err(format!("condition {c} reads neither side of the self-join"))
    } else {
        Err(format!(
            "condition {c} relates {} in a way the rules do not model",
            refs.into_iter().collect::<Vec<_>>().join(" and ")
        ))
    }
}

/// What a term of the pairs is: a side's id or the correlation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Term {
    IdA,
    IdB,
    Corr,
}

impl CorrRequest {
    /// Recognises the request in one SELECT (with the ORDER BY of its query, which the rewrite
    /// must keep meaning the same), or says which condition fails.
    pub fn recognise(s: &Select, order_by: Option<&OrderBy>) -> Result<CorrRequest, String> {
        let (x, y, value) = first_corr(select_exprs(s)).ok_or("no CORR(x.v, y.v) of two aliases among the outputs")?;
        if s.distinct.is_some() || !s.named_window.is_empty() || s.qualify.is_some() || s.top.is_some() {
            return Err("DISTINCT, TOP, WINDOW or QUALIFY present".into());
        }
        if s.into.is_some() || !s.lateral_views.is_empty() || s.prewhere.is_some() || !s.connect_by.is_empty() {
            return Err("INTO, LATERAL VIEW, PREWHERE or CONNECT BY present".into());
        }
        // Every relation of the FROM clause and every condition, ON and WHERE alike.
        let mut relations: Vec<Relation> = Vec::new();
        let mut pool: Vec<Expr> = Vec::new();
        for twj in &s.from {
            for (factor, op) in std::iter::once((&twj.relation, None))
                .chain(twj.joins.iter().map(|j| (&j.relation, Some(&j.join_operator))))
            {
                let name =
                    relation_name(factor).ok_or_else(|| format!("FROM item {factor} has no name to refer to it by"))?;
                match op {
                    None | Some(JoinOperator::CrossJoin(JoinConstraint::None)) => {}
                    Some(JoinOperator::Join(JoinConstraint::On(on)) | JoinOperator::Inner(JoinConstraint::On(on))) => {
                        conjuncts(on, &mut pool)
                    }
                    Some(
                        JoinOperator::Join(JoinConstraint::Using(columns))
                        | JoinOperator::Inner(JoinConstraint::Using(columns)),
                    ) => {
                        // `l JOIN r USING (c)` is `l.c = r.c` (the query reads c only through
                        // the two relations' names here), where l is one relation: with more
                        // on the left, c would be ambiguous.
                        let [left] = relations.as_slice() else {
                            return Err(format!(
                                "the join to {factor} is USING with more than one relation on its left; write it with ON"
                            ));
                        };
                        for c in columns {
                            let [part] = c.0.as_slice() else {
                                return Err(format!("USING column {c} is not a bare name"));
                            };
                            let c = part.as_ident().ok_or_else(|| format!("USING column {c} is not a column"))?;
                            pool.push(ast::binary(col(&left.name, c), BinaryOperator::Eq, col(&name, c)));
                        }
                    }
                    Some(_) => return Err(format!("the join to {factor} is not an inner join with ON or USING")),
                }
                relations.push(Relation { name, factor });
            }
        }
        if let Some(w) = &s.selection {
            conjuncts(w, &mut pool);
        }
        let find = |n: &Ident| relations.iter().find(|r| same(&r.name, n));
        let (ra, rb) = (
            find(&x).ok_or(format!("CORR reads {x}, which the FROM clause does not name"))?,
            find(&y).ok_or(format!("CORR reads {y}, which the FROM clause does not name"))?,
        );
        let (table, below_a) = side(ra.factor)?;
        let (table_b, below_b) = side(rb.factor)?;
        if table != table_b {
            return Err(format!("CORR reads {table} and {table_b}: not a self-join"));
        }
        let (alias_a, alias_b) = (x, y);
        let others: Vec<Ident> = relations
            .iter()
            .filter(|r| !same(&r.name, &alias_a) && !same(&r.name, &alias_b))
            .map(|r| r.name.clone())
            .collect();
        let (mut key, mut related, mut links) = (None::<Ident>, None, Vec::new());
        let (mut filters_a, mut filters_b) = (Vec::new(), Vec::new());
        let mut of_others: Vec<(Ident, Expr)> = Vec::new();
        for c in &pool {
            match classify(c, &alias_a, &alias_b, &others)? {
                Conjunct::SidesEqual(k) => match &key {
                    Some(k0) if !same(k0, &k) => {
                        return Err(format!("the sides are joined on {k0} and on {k}: one key column is modelled"));
                    }
                    _ => key = Some(k),
                },
                Conjunct::SidesRelated(column, op) => {
                    if related.is_some() {
                        return Err(format!("condition {c}: a second relation between the sides"));
                    }
                    related = Some((column, op, c.clone()));
                }
                Conjunct::Link { side_a, column, other, other_column } => {
                    links.push((side_a, column, other, other_column, c.clone()))
                }
                Conjunct::A(e) => filters_a.push(e),
                Conjunct::B(e) => filters_b.push(e),
                Conjunct::Other(o, e) => of_others.push((o, e)),
            }
        }
        let key = key.ok_or_else(|| format!("no condition {alias_a}.<key> = {alias_b}.<key> joins the two sides"))?;
        // A condition on one side's key holds on the other's too, as the join makes the keys
        // equal: `a.trade_date BETWEEN x AND y` is also `b.trade_date BETWEEN x AND y`.
        let on_key =
            |f: &Expr, alias: &Ident| !has_subquery(f) && reads_beyond(f, Some(alias), &[key.value.as_str()]).is_none();
        let implied_b: Vec<Expr> =
            filters_a.iter().filter(|f| on_key(f, &alias_a)).map(|f| renamed(f, &alias_a, &alias_b)).collect();
        let implied_a: Vec<Expr> =
            filters_b.iter().filter(|f| on_key(f, &alias_b)).map(|f| renamed(f, &alias_b, &alias_a)).collect();
        for (implied, filters) in [(implied_a, &mut filters_a), (implied_b, &mut filters_b)] {
            for f in implied {
                if !filters.iter().any(|g| g.to_string() == f.to_string()) {
                    filters.push(f);
                }
            }
        }
        let outputs = named_outputs(s)?;
        let id = group_id(s, &outputs, &alias_a, &alias_b)?;
        if same(&id, &key) || same(&value, &id) || same(&value, &key) {
            return Err(format!("the id {id}, key {key} and value {value} are not three different columns"));
        }
        let relation = match related {
            None => None,
            Some((column, op, _)) if same(&column, &id) => Some(op),
            Some((_, _, c)) => {
                return Err(format!("condition {c} relates the sides on a column other than the id {id}"));
            }
        };
        // A join to another relation on a side's id is a semi-join filter on that side: each id
        // repeated k times repeats every day of its pairs k times, which leaves CORR unchanged.
        for other in &others {
            let mine: Vec<_> = links.iter().filter(|l| same(&l.2, other)).collect();
            let [(side_a, column, _, other_column, c)] = mine.as_slice() else {
                return Err(format!(
                    "{other} is joined by {} conditions; a candidate set is joined on one id",
                    mine.len()
                ));
            };
            if !same(column, &id) {
                return Err(format!("condition {c} joins {other} on {column}, not on the id {id}"));
            }
            let factor = relations.iter().find(|r| same(&r.name, other)).expect("named above").factor;
            let (alias, ids) = if *side_a { (&alias_a, &mut filters_a) } else { (&alias_b, &mut filters_b) };
            // The candidate relation under one name, so both sides' filters compare equal.
            let cand = ident("ht_cand");
            let mut factor = factor.clone();
            if let TableFactor::Table { alias, .. } | TableFactor::Derived { alias, .. } = &mut factor {
                *alias = Some(sqlparser::ast::TableAlias {
                    explicit: true,
                    name: cand.clone(),
                    columns: Vec::new(),
                    at: None,
                });
            }
            // Its own conditions go with it, read through the same name.
            let own = of_others.iter().filter(|(o, _)| same(o, other)).map(|(_, e)| renamed(e, other, &cand));
            let pick = ast::select(
                vec![SelectItem::UnnamedExpr(col(&cand, other_column))],
                vec![ast::from(factor)],
                ast::and_all(own),
                Vec::new(),
            );
            ids.push(ast::in_subquery(col(alias, &id), ast::select_query(pick)));
        }
        let mut req = CorrRequest {
            table,
            alias_a,
            alias_b,
            id,
            key,
            value,
            filters_a,
            filters_b,
            below_a,
            below_b,
            relation,
            outputs: Vec::new(),
            having: s.having.clone(),
            pushdown: false,
            moments: false,
            symmetric: false,
            kernel: None,
            marker: ident("ht_p"),
        };
        // Outputs, HAVING and ORDER BY may read the ids and the correlation, nothing else.
        for (e, name) in outputs {
            req.over_pairs(&e, false).map_err(|why| format!("output {e}: {why}"))?;
            req.outputs.push((e, name));
        }
        if let Some(h) = &req.having {
            req.over_pairs(h, false).map_err(|why| format!("HAVING {h}: {why}"))?;
        }
        if let Some(OrderBy { kind: OrderByKind::Expressions(list), .. }) = order_by {
            for o in list {
                req.over_pairs(&o.expr, true).map_err(|why| format!("ORDER BY {}: {why}", o.expr))?;
            }
        }
        Ok(req)
    }

    fn term(&self, e: &Expr) -> Option<Term> {
        if let Some((q, c)) = qualified(e)
            && same(c, &self.id)
        {
            if same(q, &self.alias_a) {
                return Some(Term::IdA);
            }
            if same(q, &self.alias_b) {
                return Some(Term::IdB);
            }
        }
        match corr_call(e) {
            Some((x, y, v))
                if same(&v, &self.value)
                    && ((same(&x, &self.alias_a) && same(&y, &self.alias_b))
                        || (same(&x, &self.alias_b) && same(&y, &self.alias_a))) =>
            {
                Some(Term::Corr)
            }
            _ => None,
        }
    }

    /// The expression with the ids and the correlation read from the pairs table `p`.
    pub fn to_pairs(&self, e: &Expr, p: &Ident) -> Expr {
        let mut e = e.clone();
        let _ = sqlparser::ast::visit_expressions_mut(&mut e, |x: &mut Expr| {
            if let Some(t) = self.term(x) {
                *x = col(
                    p,
                    &ident(match t {
                        Term::IdA => ID_A,
                        Term::IdB => ID_B,
                        Term::Corr => CORR,
                    }),
                );
            }
            ControlFlow::<()>::Continue(())
        });
        e
    }

    /// Ok when `e` reads only the ids and the correlation (and, with `aliases`, output names).
    fn over_pairs(&self, e: &Expr, aliases: bool) -> Result<(), String> {
        let p = ident("ht_pairs_check");
        let e = self.to_pairs(e, &p);
        let mut why = None;
        let _ = sqlparser::ast::visit_expressions(&e, |x: &Expr| {
            why = match x {
                Expr::CompoundIdentifier(parts) if parts.len() == 2 && same(&parts[0], &p) => None,
                Expr::CompoundIdentifier(_) => Some(format!("reads {x}, neither side's id nor the correlation")),
                Expr::Identifier(i) if !aliases => Some(format!("reads the unqualified column {i}")),
                Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => Some("holds a subquery".into()),
                Expr::Function(f) if f.over.is_none() && is_aggregate(&f.name.to_string()) => {
                    Some(format!("the aggregate {} is not CORR", f.name))
                }
                _ => None,
            };
            if why.is_some() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        });
        why.map_or(Ok(()), Err)
    }

    /// Whether both sides carry the same filters (as sets, alias removed).
    pub fn symmetric_filters(&self) -> bool {
        self.side_key(&self.alias_a, &self.filters_a, &self.below_a)
            == self.side_key(&self.alias_b, &self.filters_b, &self.below_b)
    }

    fn side_key(&self, alias: &Ident, filters: &[Expr], below: &[Expr]) -> BTreeSet<String> {
        let placeholder = ident("ht_side");
        filters
            .iter()
            .map(|f| {
                let mut f = renamed(f, alias, &placeholder);
                let _ = sqlparser::ast::visit_expressions_mut(&mut f, |x: &mut Expr| {
                    // A list is a set: (1, 2, 3) and (3, 2, 1) filter alike.
                    if let Expr::InList { list, .. } = x {
                        list.sort_by_key(|e| e.to_string());
                        list.dedup_by(|x, y| x.to_string() == y.to_string());
                    }
                    ControlFlow::<()>::Continue(())
                });
                format!("q:{f}")
            })
            .chain(below.iter().map(|f| format!("b:{f}")))
            .collect()
    }

    /// The first column a side filter reads that is not the id or the key, or a construct we
    /// do not look into; None when filters keep whole strategies' days.
    pub fn filter_beyond_id_and_key(&self) -> Option<String> {
        let allowed = [self.id.value.as_str(), self.key.value.as_str()];
        let side = |alias: &Ident, filters: &[Expr], below: &[Expr]| {
            filters
                .iter()
                .find_map(|f| reads_beyond(f, Some(alias), &allowed))
                .or_else(|| below.iter().find_map(|f| reads_beyond(f, None, &allowed)))
        };
        side(&self.alias_a, &self.filters_a, &self.below_a)
            .or_else(|| side(&self.alias_b, &self.filters_b, &self.below_b))
    }

    pub fn has(&self, kind: CorrOutput) -> bool {
        let want = match kind {
            CorrOutput::IdA => Term::IdA,
            CorrOutput::IdB => Term::IdB,
            CorrOutput::Corr => Term::Corr,
        };
        self.outputs.iter().any(|(e, _)| self.term(e) == Some(want))
    }

    /// The outputs as (id a | id b | corr, name) when each is exactly one of those terms:
    /// what the kernel can answer directly.
    pub fn plain_outputs(&self) -> Option<Vec<(CorrOutput, String)>> {
        self.outputs
            .iter()
            .map(|(e, name)| {
                let kind = match self.term(e)? {
                    Term::IdA => CorrOutput::IdA,
                    Term::IdB => CorrOutput::IdB,
                    Term::Corr => CorrOutput::Corr,
                };
                Some((kind, name.value.clone()))
            })
            .collect()
    }

    /// A side as a FROM item: the table, or a derived table holding its filters below the join.
    fn side_factor(&self, alias: &Ident, filters: &[Expr], below: &[Expr]) -> sqlparser::ast::TableFactor {
        let pushed: Vec<Expr> =
            below.iter().cloned().chain(if self.pushdown { filters.to_vec() } else { Vec::new() }).collect();
        if pushed.is_empty() {
            return ast::table(&self.table, Some(alias));
        }
        let inner = ast::select(
            vec![ast::star()],
            vec![ast::from(ast::table(&self.table, Some(alias)))],
            ast::and_all(pushed),
            Vec::new(),
        );
        ast::derived(ast::select_query(inner), alias)
    }

    /// The CTEs `<name>_c` (centred values, NULL for a constant strategy) and `<name>` (unit-norm
    /// values `ht_z`) of one side: `(ht_id, ht_key, ht_z)`.
    fn z_ctes(&self, name: &str, alias: &Ident, filters: &[Expr], below: &[Expr]) -> Vec<(Ident, Query)> {
        let (id, key, v) = (col(alias, &self.id), col(alias, &self.key), col(alias, &self.value));
        let window = |f: &str| ast::call(f, vec![v.clone()], Some(vec![id.clone()]));
        let centred = ast::case_when(
            ast::binary(window("MIN"), BinaryOperator::Eq, window("MAX")),
            ast::null(),
            ast::binary(v.clone(), BinaryOperator::Minus, window("AVG")),
        );
        let conditions = below.iter().chain(filters).cloned();
        let c = ast::select(
            vec![
                ast::item(id.clone(), &ident("ht_id")),
                ast::item(key, &ident("ht_key")),
                ast::item(centred, &ident("ht_c")),
            ],
            vec![ast::from(ast::table(&self.table, Some(alias)))],
            ast::and_all(conditions),
            Vec::new(),
        );
        let (hc, hid) = (Expr::Identifier(ident("ht_c")), Expr::Identifier(ident("ht_id")));
        let norm = ast::call(
            "SQRT",
            vec![ast::call(
                "SUM",
                vec![ast::binary(hc.clone(), BinaryOperator::Multiply, hc.clone())],
                Some(vec![hid.clone()]),
            )],
            None,
        );
        let c_name = ident(&format!("{name}_c"));
        let z = ast::select(
            vec![
                SelectItem::UnnamedExpr(hid),
                SelectItem::UnnamedExpr(Expr::Identifier(ident("ht_key"))),
                ast::item(ast::binary(hc, BinaryOperator::Divide, norm), &ident("ht_z")),
            ],
            vec![ast::from(ast::table(&ObjectName::from(vec![c_name.clone()]), None))],
            None,
            Vec::new(),
        );
        vec![(c_name, ast::select_query(c)), (ident(name), ast::select_query(z))]
    }

    /// The pairs `(ht_id_a, ht_id_b, ht_corr)` under the current options, as a query.
    pub fn pairs_query(&self) -> Query {
        let (a, b) = (&self.alias_a, &self.alias_b);
        let mut ctes = Vec::new();
        let mut wheres = Vec::new();
        let (from, ida, idb, corr) = if self.moments {
            ctes.extend(self.z_ctes("ht_za", a, &self.filters_a, &self.below_a));
            let right = if self.symmetric_filters() {
                "ht_za"
            } else {
                ctes.extend(self.z_ctes("ht_zb", b, &self.filters_b, &self.below_b));
                "ht_zb"
            };
            let (hid, hkey, hz) = (ident("ht_id"), ident("ht_key"), ident("ht_z"));
            let from = ast::join(
                ast::table(&ObjectName::from(vec![ident("ht_za")]), Some(a)),
                ast::table(&ObjectName::from(vec![ident(right)]), Some(b)),
                ast::binary(col(a, &hkey), BinaryOperator::Eq, col(b, &hkey)),
            );
            let sum = ast::call("SUM", vec![ast::binary(col(a, &hz), BinaryOperator::Multiply, col(b, &hz))], None);
            (from, col(a, &hid), col(b, &hid), sum)
        } else {
            let from = ast::join(
                self.side_factor(a, &self.filters_a, &self.below_a),
                self.side_factor(b, &self.filters_b, &self.below_b),
                ast::binary(col(a, &self.key), BinaryOperator::Eq, col(b, &self.key)),
            );
            if !self.pushdown {
                wheres.extend(self.filters_a.iter().chain(&self.filters_b).cloned());
            }
            let corr = ast::call("CORR", vec![col(a, &self.value), col(b, &self.value)], None);
            (from, col(a, &self.id), col(b, &self.id), corr)
        };
        if self.symmetric {
            wheres.push(ast::binary(ida.clone(), BinaryOperator::LtEq, idb.clone()));
        } else if let Some(op) = &self.relation {
            wheres.push(ast::binary(ida.clone(), op.clone(), idb.clone()));
        }
        let grouped = ast::select(
            vec![
                ast::item(ida.clone(), &ident(ID_A)),
                ast::item(idb.clone(), &ident(ID_B)),
                ast::item(corr, &ident(CORR)),
            ],
            vec![from],
            ast::and_all(wheres),
            vec![ida, idb],
        );
        if !self.symmetric {
            return ast::query(ctes, SetExpr::Select(Box::new(grouped)));
        }
        // Mirror the half: every pair once as computed, and once swapped off the diagonal.
        let (half, mirror, side) = (ident("ht_half"), ident("ht_mirror"), ident("ht_side"));
        ctes.push((half.clone(), ast::select_query(grouped)));
        let is_first = || ast::binary(col(&mirror, &side), BinaryOperator::Eq, ast::int(0));
        let pick = |first: &str, second: &str| {
            ast::case_when(is_first(), col(&half, &ident(first)), col(&half, &ident(second)))
        };
        let zero = ast::select(vec![ast::item(ast::int(0), &side)], Vec::new(), None, Vec::new());
        let one = ast::select(vec![ast::item(ast::int(1), &side)], Vec::new(), None, Vec::new());
        let sides = ast::query(Vec::new(), ast::union_all(zero, one));
        let body = ast::select(
            vec![
                ast::item(pick(ID_A, ID_B), &ident(ID_A)),
                ast::item(pick(ID_B, ID_A), &ident(ID_B)),
                ast::item(col(&half, &ident(CORR)), &ident(CORR)),
            ],
            vec![ast::cross_join(
                ast::table(&ObjectName::from(vec![half.clone()]), None),
                ast::derived(sides, &mirror),
            )],
            Some(ast::binary(
                is_first(),
                BinaryOperator::Or,
                ast::binary(col(&half, &ident(ID_A)), BinaryOperator::NotEq, col(&half, &ident(ID_B))),
            )),
            Vec::new(),
        );
        ast::query(ctes, SetExpr::Select(Box::new(body)))
    }

    /// Rebuilds the SELECT (and its query's ORDER BY) under the current options: the user's
    /// outputs over the pairs, which come from the kernel's table or from the pairs query.
    pub fn render(&self, select: &mut Select, order_by: Option<&mut OrderBy>) {
        let p = &self.marker;
        let source = match &self.kernel {
            Some(t) => ast::table(&ObjectName::from(vec![t.clone()]), Some(p)),
            None => ast::derived(self.pairs_query(), p),
        };
        let mut wheres = Vec::new();
        if let Some(op) = &self.relation
            && (self.symmetric || self.kernel.is_some())
        {
            wheres.push(ast::binary(col(p, &ident(ID_A)), op.clone(), col(p, &ident(ID_B))));
        }
        wheres.extend(self.having.iter().map(|h| self.to_pairs(h, p)));
        // Unnamed outputs of the same name (a.id, b.id) are told apart by the text they had.
        let mut seen = BTreeSet::new();
        let projection = self
            .outputs
            .iter()
            .map(|(e, name)| {
                let name =
                    if seen.insert(name.value.clone()) { name.clone() } else { Ident::with_quote('"', e.to_string()) };
                ast::item(self.to_pairs(e, p), &name)
            })
            .collect();
        *select = ast::select(projection, vec![ast::from(source)], ast::and_all(wheres), Vec::new());
        if let Some(OrderBy { kind: OrderByKind::Expressions(list), .. }) = order_by {
            for o in list {
                o.expr = self.to_pairs(&o.expr, p);
            }
        }
    }

    /// The kernel's input: `(ht_id, ht_key, ht_z)` of the candidates, ordered by id then key,
    /// with the CTEs in scope where the request stands.
    pub fn kernel_query(&self, scope: &[Cte]) -> Query {
        // Only the CTEs the filters read, directly or through each other, in their order.
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        let names_read = |e: &Expr, into: &mut BTreeSet<String>| {
            let _ = sqlparser::ast::visit_relations(e, |r: &ObjectName| {
                into.insert(crate::templates::bare_name(r));
                ControlFlow::<()>::Continue(())
            });
        };
        for f in self.filters_a.iter().chain(&self.below_a) {
            names_read(f, &mut wanted);
        }
        let mut keep = vec![false; scope.len()];
        for (i, c) in scope.iter().enumerate().rev() {
            if wanted.contains(&c.alias.name.value) && !keep[i] {
                keep[i] = true;
                let _ = sqlparser::ast::visit_relations(&*c.query, |r: &ObjectName| {
                    wanted.insert(crate::templates::bare_name(r));
                    ControlFlow::<()>::Continue(())
                });
            }
        }
        let mut ctes: Vec<(Ident, Query)> = scope
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(c, _)| (c.alias.name.clone(), (*c.query).clone()))
            .collect();
        ctes.extend(self.z_ctes("ht_za", &self.alias_a, &self.filters_a, &self.below_a));
        let s = ast::select(
            vec![
                ast::item(Expr::Identifier(ident("ht_id")), &ident("ht_id")),
                ast::item(Expr::Identifier(ident("ht_key")), &ident("ht_key")),
                SelectItem::UnnamedExpr(Expr::Identifier(ident("ht_z"))),
            ],
            vec![ast::from(ast::table(&ObjectName::from(vec![ident("ht_za")]), None))],
            None,
            Vec::new(),
        );
        let mut q = ast::query(ctes, SetExpr::Select(Box::new(s)));
        q.order_by = Some(OrderBy {
            kind: OrderByKind::Expressions(
                ["ht_id", "ht_key"]
                    .iter()
                    .map(|c| sqlparser::ast::OrderByExpr {
                        expr: Expr::Identifier(ident(c)),
                        options: sqlparser::ast::OrderByOptions { asc: None, nulls_first: None },
                        with_fill: None,
                    })
                    .collect(),
            ),
            interpolate: None,
        });
        q
    }
}

/// Aggregate functions other than CORR that outputs over the pairs cannot hold.
fn is_aggregate(name: &str) -> bool {
    const AGGREGATES: &[&str] = &[
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "stddev",
        "stddev_samp",
        "stddev_pop",
        "variance",
        "var_samp",
        "var_pop",
        "covar_samp",
        "covar_pop",
        "corr",
        "array_agg",
        "string_agg",
        "median",
        "approx_median",
        "bool_and",
        "bool_or",
        "first_value",
        "last_value",
        "regr_slope",
    ];
    AGGREGATES.contains(&name.to_ascii_lowercase().as_str())
}

/// The outputs, each with its name.
fn named_outputs(s: &Select) -> Result<Vec<(Expr, Ident)>, String> {
    s.projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } => Ok((expr.clone(), alias.clone())),
            SelectItem::UnnamedExpr(e) => Ok((e.clone(), output_name(e))),
            other => Err(format!("output {other} is a wildcard: list the outputs")),
        })
        .collect()
}

/// The id column from `GROUP BY a.id, b.id` (in either order, by position or output name).
fn group_id(s: &Select, outputs: &[(Expr, Ident)], a: &Ident, b: &Ident) -> Result<Ident, String> {
    let GroupByExpr::Expressions(groups, modifiers) = &s.group_by else {
        return Err("GROUP BY ALL is not modelled: group by both sides' ids".into());
    };
    if !modifiers.is_empty() {
        return Err("GROUP BY with ROLLUP, CUBE or TOTALS is not modelled".into());
    }
    let resolve = |g: &Expr| -> Option<Expr> {
        match g {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => {
                    n.parse::<usize>().ok().and_then(|i| outputs.get(i.checked_sub(1)?)).map(|o| o.0.clone())
                }
                _ => None,
            },
            Expr::Identifier(i) => outputs.iter().find(|(_, n)| same(n, i)).map(|o| o.0.clone()),
            other => Some(other.clone()),
        }
    };
    let [g1, g2] = groups.as_slice() else {
        return Err(format!("GROUP BY has {} expressions: group by both sides' ids", groups.len()));
    };
    let (e1, e2) = (
        resolve(g1).ok_or(format!("GROUP BY {g1} names no output"))?,
        resolve(g2).ok_or(format!("GROUP BY {g2} names no output"))?,
    );
    match (qualified(&e1), qualified(&e2)) {
        (Some((q1, c1)), Some((q2, c2)))
            if same(c1, c2) && ((same(q1, a) && same(q2, b)) || (same(q1, b) && same(q2, a))) =>
        {
            Ok(c1.clone())
        }
        _ => Err(format!("GROUP BY {g1}, {g2} is not both sides' id ({a}.id, {b}.id)")),
    }
}

/// The first column `e` reads beyond `allowed`: `alias.c` anywhere (correlated subqueries
/// included), bare columns outside subqueries (without `alias`: the side's own table).
fn reads_beyond(e: &Expr, alias: Option<&Ident>, allowed: &[&str]) -> Option<String> {
    struct Scan<'a> {
        alias: Option<&'a Ident>,
        allowed: &'a [&'a str],
        depth: usize,
        found: Option<String>,
    }
    impl Visitor for Scan<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            let bad = match e {
                Expr::CompoundIdentifier(parts)
                    if parts.len() == 2 && self.alias.is_some_and(|a| same(a, &parts[0])) =>
                {
                    !self.allowed.contains(&parts[1].value.as_str())
                }
                Expr::Identifier(i) if self.depth == 0 => {
                    self.alias.is_some() || !self.allowed.contains(&i.value.as_str())
                }
                _ => false,
            };
            if bad {
                self.found = Some(e.to_string());
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut scan = Scan { alias, allowed, depth: 0, found: None };
    let _ = e.visit(&mut scan);
    scan.found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates;

    fn req(sql: &str) -> Result<CorrRequest, String> {
        let stmt = templates::parse(sql).unwrap();
        let sqlparser::ast::Statement::Query(q) = stmt else { panic!() };
        let SetExpr::Select(s) = q.body.as_ref() else { panic!() };
        CorrRequest::recognise(s, q.order_by.as_ref())
    }

    #[test]
    fn recognises_the_template() {
        let params = templates::Params { candidates: Some(vec!["x".into()]), ..Default::default() };
        let stmt = templates::bind(templates::find("pair_corr").unwrap(), &params).unwrap();
        let r = req(&stmt.to_string()).unwrap();
        assert_eq!(
            (r.id.value.as_str(), r.key.value.as_str(), r.value.value.as_str()),
            ("strategy_id", "trade_date", "pnl")
        );
        assert_eq!((r.filters_a.len(), r.filters_b.len()), (2, 2));
        assert!(r.symmetric_filters());
        assert_eq!(r.filter_beyond_id_and_key(), None);
    }

    #[test]
    fn recognises_the_ways_users_write_it() {
        for sql in [
            "SELECT a.id, b.id, CORR(b.v, a.v) FROM t a, t b WHERE a.k = b.k AND a.id < b.id GROUP BY a.id, b.id",
            "SELECT x.id AS p, y.id AS q, CORR(x.v, y.v) AS c FROM t x JOIN t y ON y.k = x.k AND x.id <> y.id \
             WHERE x.id IN (1, 2) AND y.id IN (1, 2) GROUP BY 1, 2 ORDER BY c DESC",
            "SELECT a.id AS p, b.id AS q, ROUND(CORR(a.v, b.v), 3) AS c FROM t a JOIN top ta ON ta.sid = a.id \
             JOIN t b ON a.k = b.k JOIN top tb ON b.id = tb.sid GROUP BY a.id, b.id HAVING CORR(a.v, b.v) > 0.5",
            "SELECT a.id AS p, b.id AS q, CORR(a.v, b.v) AS c FROM t a JOIN t b ON a.k = b.k WHERE \
             EXISTS (SELECT 1 FROM top WHERE top.sid = a.id) AND EXISTS (SELECT 1 FROM top WHERE top.sid = b.id) GROUP BY p, q",
        ] {
            let r = req(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!((r.id.value.as_str(), r.key.value.as_str(), r.value.value.as_str()), ("id", "k", "v"), "{sql}");
            assert!(r.symmetric_filters(), "{sql}");
        }
        let r =
            req("SELECT a.id, b.id, CORR(b.v, a.v) FROM t a, t b WHERE a.k = b.k AND b.id > a.id GROUP BY a.id, b.id")
                .unwrap();
        assert_eq!(r.relation, Some(BinaryOperator::Gt));
    }

    #[test]
    fn says_what_does_not_match() {
        let e = |sql: &str| req(sql).unwrap_err();
        assert!(e("SELECT 1").contains("CORR"));
        assert!(
            e("SELECT a.id AS x, CORR(a.v, b.w) AS c FROM t a JOIN t b ON a.k = b.k GROUP BY a.id, b.id")
                .contains("CORR")
        );
        assert!(
            e("SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN u b ON a.k = b.k GROUP BY a.id, b.id")
                .contains("not a self-join")
        );
        assert!(e("SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN t b ON a.k = b.k WHERE a.v > b.v GROUP BY a.id, b.id").contains("other than the id"));
        assert!(e("SELECT a.id AS x, COUNT(*) AS n, CORR(a.v, b.v) AS c FROM t a JOIN t b ON a.k = b.k GROUP BY a.id, b.id").contains("COUNT"));
        assert!(
            e("SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a LEFT JOIN t b ON a.k = b.k GROUP BY a.id, b.id")
                .contains("inner join")
        );
        assert!(
            e("SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN t b ON a.id = b.id GROUP BY a.id, b.id")
                .contains("not three different")
        );
    }

    #[test]
    fn value_filters_are_found() {
        let r = req("SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN t b ON a.k = b.k WHERE a.v > 0 AND b.v > 0 GROUP BY a.id, b.id")
            .unwrap();
        assert_eq!(r.filter_beyond_id_and_key().as_deref(), Some("a.v"));
        let r = req("SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN t b ON a.k = b.k WHERE \
                     EXISTS (SELECT 1 FROM top WHERE top.sid = a.id AND top.w > 0) GROUP BY a.id, b.id")
        .unwrap();
        assert_eq!(r.filter_beyond_id_and_key(), None);
        assert!(!r.symmetric_filters());
    }

    /// USING as ON, a key range on one side put on both, lists compared as sets, and a
    /// candidate relation's own conditions kept with it.
    #[test]
    fn user_spellings_come_to_the_same_request() {
        let q = "SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN t b";
        let r = req(&format!("{q} USING (k) WHERE a.id IN (1, 2) AND b.id IN (2, 1, 2) GROUP BY a.id, b.id")).unwrap();
        assert_eq!(r.key.value, "k");
        assert!(r.symmetric_filters());
        let r = req(&format!("{q} ON a.k = b.k WHERE a.k BETWEEN 3 AND 9 GROUP BY a.id, b.id")).unwrap();
        assert_eq!(r.filters_b.iter().map(|f| f.to_string()).collect::<Vec<_>>(), ["b.k BETWEEN 3 AND 9"]);
        assert!(r.symmetric_filters());
        // A range over the key and another column is not the key's alone.
        let r = req(&format!("{q} ON a.k = b.k WHERE a.k > a.v GROUP BY a.id, b.id")).unwrap();
        assert!(r.filters_b.is_empty() && !r.symmetric_filters());
        let r = req("SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN s sa ON sa.id = a.id JOIN t b ON a.k = b.k \
             JOIN s sb ON sb.id = b.id WHERE sa.name LIKE 'x%' AND sb.name LIKE 'x%' GROUP BY a.id, b.id")
        .unwrap();
        assert!(r.symmetric_filters());
        assert!(r.filters_a[0].to_string().contains("WHERE ht_cand.name LIKE 'x%'"), "{}", r.filters_a[0]);
        let e = req(
            "SELECT a.id AS x, CORR(a.v, b.v) AS c FROM t a JOIN s sa ON sa.id = a.id JOIN t b USING (k) GROUP BY a.id, b.id",
        )
        .unwrap_err();
        assert!(e.contains("USING with more than one relation on its left"), "{e}");
    }
}
