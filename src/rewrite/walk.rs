//! The walk the correlation rules share: every SELECT of a statement that computes a
//! pairwise correlation, wherever it stands (the top level, a CTE body, a derived table, a
//! subquery, the query of a CREATE TABLE AS or INSERT), visited with sqlparser's `VisitorMut`
//! innermost first. A rule sees each request and switches an option or says why not; a
//! request a rule changed is rebuilt in place, and the rest of the statement stays as written.

use std::ops::ControlFlow;

use sqlparser::ast::{Cte, Query, SetExpr, Statement, TableFactor, VisitMut, VisitorMut};

use super::ast::ident;
use super::corr::{CorrRequest, mentions_corr};
use super::{Fired, Transformed};

/// Where a request stands.
pub struct Site<'a> {
    /// 1 for the statement's own query, more for nested ones.
    pub depth: usize,
    /// The CTEs in scope there, outermost first.
    pub scope: &'a [Cte],
}

impl Site<'_> {
    pub fn describe(&self) -> String {
        if self.depth <= 1 { "the top-level SELECT".into() } else { format!("a SELECT nested {} deep", self.depth - 1) }
    }

    /// A refusal naming the node (where it stands and its text) and the failed condition.
    fn declined(&self, node: &str, why: &str) -> String {
        format!("{} `{}`: {why}", self.describe(), snippet(node))
    }
}

/// The request a rewritten SELECT reads its pairs for: `FROM ... AS ht_p<N>`.
fn marker_of(q: &Query, known: usize) -> Option<usize> {
    let SetExpr::Select(s) = q.body.as_ref() else { return None };
    let [twj] = s.from.as_slice() else { return None };
    let alias = match &twj.relation {
        TableFactor::Derived { alias: Some(a), .. } | TableFactor::Table { alias: Some(a), .. } => &a.name,
        _ => return None,
    };
    let n: usize = alias.value.strip_prefix("ht_p")?.parse().ok()?;
    (n < known && twj.joins.is_empty()).then_some(n)
}

fn snippet(text: &str) -> String {
    const MAX: usize = 160;
    if text.chars().count() <= MAX { text.to_owned() } else { text.chars().take(MAX).collect::<String>() + " ..." }
}

struct Walk<'r, F> {
    requests: &'r mut Vec<CorrRequest>,
    rule: F,
    /// The CTEs of each enclosing query.
    scopes: Vec<Vec<Cte>>,
    /// Whether each enclosing query is a request already rewritten (its insides are ours).
    markers: Vec<bool>,
    out: Transformed,
}

impl<F: FnMut(&mut CorrRequest, &Site) -> Result<String, String>> VisitorMut for Walk<'_, F> {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        self.scopes.push(q.with.as_ref().map(|w| w.cte_tables.clone()).unwrap_or_default());
        self.markers.push(marker_of(q, self.requests.len()).is_some());
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        self.markers.pop();
        if !self.markers.iter().any(|m| *m) {
            self.visit(q);
        }
        self.scopes.pop();
        ControlFlow::Continue(())
    }
}

impl<F: FnMut(&mut CorrRequest, &Site) -> Result<String, String>> Walk<'_, F> {
    fn visit(&mut self, q: &mut Query) {
        let existing = marker_of(q, self.requests.len());
        if existing.is_none() && !matches!(q.body.as_ref(), SetExpr::Select(s) if mentions_corr(s)) {
            return;
        }
        // Only for a request: the CTEs in scope and the text before.
        let scope: Vec<Cte> = self.scopes.iter().flatten().cloned().collect();
        let site = Site { depth: self.scopes.len(), scope: &scope };
        let before = q.to_string();
        let SetExpr::Select(s) = q.body.as_mut() else { return };
        let (mut req, n) = match existing {
            Some(n) => (self.requests[n].clone(), n),
            None => match CorrRequest::recognise(s, q.order_by.as_ref()) {
                Ok(mut r) => {
                    let n = self.requests.len();
                    r.marker = ident(&format!("ht_p{n}"));
                    (r, n)
                }
                Err(why) => {
                    self.out.declined.push(site.declined(&before, &why));
                    return;
                }
            },
        };
        match (self.rule)(&mut req, &site) {
            Ok(why) => {
                req.render(s, q.order_by.as_mut());
                let at = site.describe();
                if n == self.requests.len() {
                    self.requests.push(req);
                } else {
                    self.requests[n] = req;
                }
                self.out.fired.push(Fired { at, why, before, after: q.to_string() });
            }
            Err(why) => self.out.declined.push(site.declined(&before, &why)),
        }
    }
}

/// Offers every correlation request of the statement to `rule`: `Ok(why)` after switching an
/// option (the request is rebuilt in place), `Err(why not)` to leave it.
pub fn each_request(
    statement: &mut Statement,
    requests: &mut Vec<CorrRequest>,
    rule: impl FnMut(&mut CorrRequest, &Site) -> Result<String, String>,
) -> Transformed {
    let mut walk = Walk { requests, rule, scopes: Vec::new(), markers: Vec::new(), out: Transformed::default() };
    let _ = statement.visit(&mut walk);
    if walk.out.fired.is_empty() && walk.out.declined.is_empty() {
        walk.out.declined.push("no CORR(x.v, y.v) over a self-join anywhere in the statement".into());
    }
    walk.out
}

/// The tables the statement's correlation requests read (for the facts to gather).
pub fn request_tables(statement: &Statement) -> Vec<sqlparser::ast::ObjectName> {
    let mut found = Vec::new();
    struct Find<'a>(&'a mut Vec<sqlparser::ast::ObjectName>);
    impl sqlparser::ast::Visitor for Find<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            if let SetExpr::Select(s) = q.body.as_ref()
                && let Ok(r) = CorrRequest::recognise(s, q.order_by.as_ref())
            {
                self.0.push(r.table);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = sqlparser::ast::Visit::visit(statement, &mut Find(&mut found));
    found
}

/// What a rule makes of one query: not its pattern, to rewrite (why, and what the rewrite
/// needs), or left (why not).
pub enum Verdict<T> {
    Skip,
    Fire(String, T),
    Declined(String),
}

/// Offers every query of the statement, innermost first, to `check`; `apply` rewrites those it
/// fires on, in place. Collects the fragments before and after and the refusals (a query is
/// printed only for those).
pub fn each_query<T>(
    statement: &mut Statement,
    check: impl FnMut(&Query) -> Verdict<T>,
    apply: impl FnMut(&mut Query, T),
) -> Transformed {
    struct Queries<C, A> {
        check: C,
        apply: A,
        depth: usize,
        out: Transformed,
    }
    impl<T, C: FnMut(&Query) -> Verdict<T>, A: FnMut(&mut Query, T)> VisitorMut for Queries<C, A> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            let site = Site { depth: self.depth, scope: &[] };
            self.depth -= 1;
            match (self.check)(q) {
                Verdict::Skip => {}
                Verdict::Fire(why, needs) => {
                    let before = q.to_string();
                    (self.apply)(q, needs);
                    self.out.fired.push(Fired { at: site.describe(), why, before, after: q.to_string() })
                }
                Verdict::Declined(why) => self.out.declined.push(site.declined(&q.to_string(), &why)),
            }
            ControlFlow::Continue(())
        }
    }
    let mut walk = Queries { check, apply, depth: 0, out: Transformed::default() };
    let _ = statement.visit(&mut walk);
    walk.out
}
