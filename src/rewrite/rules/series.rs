//! series_to_aggregate: running windows over each strategy's days, read by one GROUP BY, as
//! one ordered aggregate.
//!
//! The portable way to write a drawdown is a chain of CTEs with window functions: the running
//! sum of P&L in day order (`SUM(v) OVER (PARTITION BY k ORDER BY o ROWS BETWEEN UNBOUNDED
//! PRECEDING AND CURRENT ROW)`), its running peak (`MAX(...) OVER` the same window) and the
//! fall from it, then `MAX(fall)` per strategy; a mean beside every row (`AVG(v) OVER
//! (PARTITION BY k)`) gives the centred values. Each window sorts the long table. Where the
//! engine has heavytune's `ht_series(v, o)` aggregate, the GROUP BY reads the base table
//! directly and takes these figures from it: `MAX(fall)` becomes the series' `max_drawdown`,
//! `MIN(mean)` / `MAX(mean)` its `mean`, `SQRT(SUM((v - mean) * (v - mean)))` its `norm` and
//! `CASE WHEN MIN(v) = MAX(v) THEN 0 ELSE s / (SQRT(s) * SQRT(s)) END` (`s` that sum of squares)
//! its `z_squares`, the standardized values' summed squares, all summed in day order. The plain aggregates of the same column come from the same pass:
//! `SUM(v)`, `MIN(v)`, `MAX(v)` and the counts and sums of winning and losing days written as
//! `SUM(CASE WHEN v > 0 THEN 1 ELSE 0 END)` or `... THEN v ELSE 0 END` (and `< 0`). The other
//! aggregates stay as written, and the window CTEs go when nothing else reads them.
//!
//! The chain may also be written as nested derived tables (`FROM (SELECT ... OVER ...) AS e`)
//! instead of CTEs. A running window is `ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW` (or
//! `ROWS UNBOUNDED PRECEDING`), or the default frame (`RANGE ...`, what `OVER (PARTITION BY k
//! ORDER BY o)` means) where the engine's facts show the base table as a complete panel keyed
//! by (k, o): with no two rows of one k on the same o, a RANGE frame holds the same rows as
//! the ROWS frame.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Ident, ObjectName, Query, Select, SelectItem, SetExpr, TableFactor,
    TableWithJoins, Visit, VisitMut, Visitor, VisitorMut, WindowFrameBound, WindowFrameUnits, WindowType,
};

use super::super::ast::{self, ident};
use super::super::walk::{self, Verdict};
use super::super::{Context, Plan, Rule, Transformed};
use crate::engine::backends::functions::OrderedSeries;

/// Chains longer than this are left alone.
const MAX_LEVELS: usize = 8;

#[derive(Debug)]
pub struct SeriesToAggregate;

/// What a column of the window chain holds, in the base relation's columns.
#[derive(Debug, Clone, PartialEq)]
enum Col {
    Base(Ident),
    /// The running sum of v per k in o order.
    Running {
        v: String,
        k: String,
        o: String,
    },
    /// The running maximum of that running sum.
    Peak {
        v: String,
        k: String,
        o: String,
    },
    /// Peak minus running sum.
    Fall {
        v: String,
        k: String,
        o: String,
    },
    /// The mean of v per k.
    Mean {
        v: String,
        k: String,
    },
    /// Anything else: the expression in backticks, and why it is not one of the above where
    /// that says more (for messages).
    Other(String),
}

impl Col {
    fn what(&self) -> String {
        match self {
            Col::Base(i) => format!("the column {i}"),
            Col::Running { v, .. } => format!("the running sum of {v}"),
            Col::Peak { v, .. } => format!("the running peak of the sum of {v}"),
            Col::Fall { v, .. } => format!("the fall of the sum of {v} from its peak"),
            Col::Mean { v, .. } => format!("the mean of {v}"),
            Col::Other(what) => what.clone(),
        }
    }
}

/// One level of the chain, a CTE or a derived table: its SELECT and name (the alias of a
/// derived table).
struct Level<'a> {
    name: String,
    select: &'a Select,
    cte: bool,
}

/// What a level is, for messages.
fn level_kind(cte: bool) -> &'static str {
    if cte { "CTE" } else { "derived table" }
}

/// The window chain an aggregate reads, outermost first.
struct Chain<'a> {
    levels: Vec<Level<'a>>,
    /// (k, o) when the facts show the base table as a complete panel of id k keyed by o: a
    /// default (RANGE) frame ordered by o is then a running frame over rows.
    unique: Option<(String, String)>,
}

/// A window's frame, as the rule reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Frame {
    /// ROWS from the partition's first row to the current one.
    Running,
    /// No frame clause, or RANGE from the first row to the current one (the default).
    Default,
    Other,
}

fn frame(w: &sqlparser::ast::WindowSpec) -> Frame {
    let Some(fr) = &w.window_frame else { return Frame::Default };
    let to_current = matches!(fr.end_bound, None | Some(WindowFrameBound::CurrentRow));
    match (fr.units, &fr.start_bound, to_current) {
        (WindowFrameUnits::Rows, WindowFrameBound::Preceding(None), true) => Frame::Running,
        (WindowFrameUnits::Range, WindowFrameBound::Preceding(None), true) => Frame::Default,
        _ => Frame::Other,
    }
}

impl Chain<'_> {
    /// Output column `name` of level `at` (`at == len`: the base relation's column).
    fn column(&self, at: usize, name: &Ident) -> Col {
        let Some(level) = self.levels.get(at) else { return Col::Base(name.clone()) };
        let mut wildcard = false;
        for item in &level.select.projection {
            match item {
                SelectItem::ExprWithAlias { expr, alias } if alias.value == name.value => {
                    return self.classify(expr, at + 1);
                }
                SelectItem::UnnamedExpr(e) if super::super::corr::output_name(e).value == name.value => {
                    return self.classify(e, at + 1);
                }
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => wildcard = true,
                _ => {}
            }
        }
        if wildcard {
            self.column(at + 1, name)
        } else {
            Col::Other(format!("`{}.{name}` (no such column)", level.name))
        }
    }

    /// What `e`, read from level `from`, holds.
    fn classify(&self, e: &Expr, from: usize) -> Col {
        match e {
            Expr::Nested(inner) => self.classify(inner, from),
            Expr::Identifier(i) => self.column(from, i),
            Expr::CompoundIdentifier(parts) => match parts.last() {
                Some(i) => self.column(from, i),
                None => Col::Other(format!("`{e}`")),
            },
            Expr::BinaryOp { left, op: BinaryOperator::Minus, right } => {
                match (self.classify(left, from), self.classify(right, from)) {
                    (Col::Peak { v, k, o }, Col::Running { v: v2, k: k2, o: o2 })
                        if (&v, &k, &o) == (&v2, &k2, &o2) =>
                    {
                        Col::Fall { v, k, o }
                    }
                    // A side that says why it is not a window says it for the whole.
                    (l, r) => match [l, r].into_iter().find(|c| matches!(c, Col::Other(w) if w.ends_with(')'))) {
                        Some(inner) => Col::Other(format!("`{e}`, which reads {}", inner.what())),
                        None => Col::Other(format!("`{e}`")),
                    },
                }
            }
            Expr::Function(_) => self.window(e, from).unwrap_or_else(|| match self.why_not_window(e, from) {
                Some(why) => Col::Other(format!("`{e}` ({why})")),
                None => Col::Other(format!("`{e}`")),
            }),
            _ => Col::Other(format!("`{e}`")),
        }
    }

    /// Why a window function is not one the rule models (None: not a window function, or
    /// nothing to say beyond what it reads).
    fn why_not_window(&self, e: &Expr, from: usize) -> Option<String> {
        let Expr::Function(f) = e else { return None };
        let Some(WindowType::WindowSpec(w)) = &f.over else {
            return f.over.as_ref().map(|_| "a named window, which the rule does not look up".to_owned());
        };
        let name = function_name(e)?;
        if !matches!(name.as_str(), "SUM" | "MAX" | "AVG") {
            return Some(format!("{name} is not SUM, MAX or AVG, the windows of a drawdown or a mean"));
        }
        let base = |e: &Expr| self.base(e, from).is_some();
        match w.partition_by.as_slice() {
            [p] if base(p) => {}
            [p] => return Some(format!("it is partitioned by {p}, not by a column of the table")),
            ps => return Some(format!("it is partitioned by {} expressions, not by the id alone", ps.len())),
        }
        if name == "AVG" {
            return (!w.order_by.is_empty() || w.window_frame.is_some())
                .then(|| "a mean over the whole partition has no ORDER BY or frame".to_owned());
        }
        match w.order_by.as_slice() {
            [o] if o.options.asc == Some(false) => {
                return Some(format!("it is ordered by {} DESC; a running window reads the days ascending", o.expr));
            }
            [o] if o.options.nulls_first.is_some() || o.with_fill.is_some() => {
                return Some(format!("its ORDER BY {o} sets NULLS FIRST/LAST or WITH FILL"));
            }
            [o] if !base(&o.expr) => return Some(format!("it is ordered by {}, not by a column of the table", o.expr)),
            [_] => {}
            [] => return Some("it has no ORDER BY, so it is no running window".to_owned()),
            os => return Some(format!("it is ordered by {} expressions, not by the day alone", os.len())),
        }
        match frame(w) {
            Frame::Other => Some(format!(
                "its frame {} is not from the partition's first row to the current one",
                w.window_frame
                    .as_ref()
                    .map(|f| match &f.end_bound {
                        Some(end) => format!("{} BETWEEN {} AND {end}", f.units, f.start_bound),
                        None => format!("{} {}", f.units, f.start_bound),
                    })
                    .unwrap_or_default()
            )),
            Frame::Default if !self.default_frame_runs(w, from) => Some(
                "its default (RANGE) frame is a running window only where the facts show one row per id and \
                 day, which they do not here"
                    .to_owned(),
            ),
            _ if name == "MAX" => Some(match self.classify(plain_arg(e)?, from) {
                Col::Running { v, k, o } => format!(
                    "its argument is the running sum of {v} partitioned by {k} and ordered by {o}, while it is \
                     partitioned by {} and ordered by {}",
                    w.partition_by[0], w.order_by[0].expr
                ),
                arg => format!("its argument is {}, not the running sum of a column", arg.what()),
            }),
            _ => match self.classify(plain_arg(e)?, from) {
                Col::Base(_) => None,
                arg => Some(format!("its argument is {}, not a column of the table", arg.what())),
            },
        }
    }

    /// The base relation's column `e` reads from level `from`, if that is what it reads.
    fn base(&self, e: &Expr, from: usize) -> Option<String> {
        match self.classify(e, from) {
            Col::Base(i) => Some(i.value),
            _ => None,
        }
    }

    /// Whether a default frame is a running one here: the facts show the table as a complete
    /// panel of the window's partition and order columns.
    fn default_frame_runs(&self, w: &sqlparser::ast::WindowSpec, from: usize) -> bool {
        match (w.partition_by.as_slice(), w.order_by.as_slice()) {
            ([p], [o]) => match (self.base(p, from), self.base(&o.expr, from)) {
                (Some(k), Some(o)) => self.unique == Some((k, o)),
                _ => false,
            },
            _ => false,
        }
    }

    /// A recognised window function of `e`.
    fn window(&self, e: &Expr, from: usize) -> Option<Col> {
        let Expr::Function(f) = e else { return None };
        let Some(WindowType::WindowSpec(w)) = &f.over else { return None };
        let arg = plain_arg(e)?;
        if w.window_name.is_some() {
            return None;
        }
        let base = |e: &Expr| self.base(e, from);
        let [p] = w.partition_by.as_slice() else { return None };
        let k = base(p)?;
        let order = match w.order_by.as_slice() {
            [o] if o.options.asc != Some(false) && o.options.nulls_first.is_none() && o.with_fill.is_none() => {
                base(&o.expr)
            }
            _ => None,
        };
        let running_frame = match frame(w) {
            Frame::Running => true,
            Frame::Default => order.is_some() && self.default_frame_runs(w, from),
            Frame::Other => false,
        };
        match (function_name(e)?.as_str(), order, running_frame) {
            ("SUM", Some(o), true) => Some(Col::Running { v: base(arg)?, k, o }),
            ("MAX", Some(o), true) => match self.classify(arg, from) {
                Col::Running { v, k: k2, o: o2 } if k2 == k && o2 == o => Some(Col::Peak { v, k, o }),
                _ => None,
            },
            ("AVG", None, false) if w.order_by.is_empty() && w.window_frame.is_none() => {
                Some(Col::Mean { v: base(arg)?, k })
            }
            _ => None,
        }
    }

    /// Every classified window column of the chain.
    fn windows(&self) -> Vec<Col> {
        let mut out = Vec::new();
        for (at, level) in self.levels.iter().enumerate() {
            for item in &level.select.projection {
                let e = match item {
                    SelectItem::ExprWithAlias { expr, .. } | SelectItem::UnnamedExpr(expr) => expr,
                    _ => continue,
                };
                let c = self.classify(e, at + 1);
                if !matches!(c, Col::Base(_) | Col::Other(_)) {
                    out.push(c);
                }
            }
        }
        out
    }

    /// A window of the chain with the default frame and an ORDER BY that the facts do not show
    /// unique per partition (so it is not taken for a running window), for messages.
    fn unproven_default_frame(&self) -> Option<String> {
        struct Find<'c, 'a>(&'c Chain<'a>, Option<String>);
        impl Visitor for Find<'_, '_> {
            type Break = ();
            fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
                if let Expr::Function(f) = e
                    && let Some(WindowType::WindowSpec(w)) = &f.over
                    && !w.order_by.is_empty()
                    && frame(w) == Frame::Default
                {
                    let key = |e: &Expr| e.to_string();
                    let ko = match (w.partition_by.as_slice(), w.order_by.as_slice()) {
                        ([p], [o]) => Some((key(p), key(&o.expr))),
                        _ => None,
                    };
                    let proven = ko.is_some_and(|(k, o)| {
                        self.0
                            .unique
                            .as_ref()
                            .is_some_and(|(uk, uo)| k.ends_with(uk.as_str()) && o.ends_with(uo.as_str()))
                    });
                    if !proven {
                        self.1 = Some(e.to_string());
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            }
        }
        let mut f = Find(self, None);
        for level in &self.levels {
            let _ = level.select.projection.visit(&mut f);
            if f.1.is_some() {
                break;
            }
        }
        f.1.map(|w| {
            format!(
                "`{w}` has the default RANGE frame, the same rows as a running frame only where no two rows of a \
                 partition share their order; the facts do not show that (a complete panel on that key), so write \
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
            )
        })
    }

    /// The day order of v per k: the ORDER BY of the chain's running windows over it.
    fn order_of(&self, v: &str, k: &str) -> Result<String, String> {
        let orders: BTreeSet<String> = self
            .windows()
            .into_iter()
            .filter_map(|c| match c {
                Col::Running { v: v2, k: k2, o } | Col::Peak { v: v2, k: k2, o } | Col::Fall { v: v2, k: k2, o }
                    if v2 == v && k2 == k =>
                {
                    Some(o)
                }
                _ => None,
            })
            .collect();
        match orders.len() {
            1 => Ok(orders.into_iter().next().unwrap_or_default()),
            0 => Err(format!("no running window orders the days of {v} per {k}, so the mean has no day order")),
            _ => Err(format!("the running windows over {v} order the days differently ({orders:?})")),
        }
    }
}

/// The upper-cased name of a function call.
fn function_name(e: &Expr) -> Option<String> {
    let Expr::Function(f) = e else { return None };
    Some(f.name.to_string().to_uppercase())
}

/// The one plain argument of a call (no DISTINCT, FILTER or other clause).
fn plain_arg(e: &Expr) -> Option<&Expr> {
    match super::plain_args(e)?.as_slice() {
        [Some(a)] => Some(a),
        _ => None,
    }
}

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => strip(inner),
        other => other,
    }
}

/// Whether a SELECT computes a window function itself (in its outputs or QUALIFY; the
/// relations it reads are not looked into).
fn has_window(s: &Select) -> bool {
    struct Find(bool);
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if matches!(e, Expr::Function(f) if f.over.is_some()) {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Find(false);
    let _ = s.projection.visit(&mut f);
    let _ = s.qualify.visit(&mut f);
    f.0
}

/// The single relation a SELECT reads, by its one-part name.
fn single_table(s: &Select) -> Option<(&TableWithJoins, String)> {
    let [twj] = s.from.as_slice() else { return None };
    if !twj.joins.is_empty() {
        return None;
    }
    let TableFactor::Table { name, args: None, .. } = &twj.relation else { return None };
    let [part] = name.0.as_slice() else { return None };
    Some((twj, part.as_ident()?.value.clone()))
}

/// Why a SELECT of the chain is not a plain projection of windows, if it is not.
fn not_plain(s: &Select, q: &Query) -> Option<&'static str> {
    if s.distinct.is_some() || s.having.is_some() || s.qualify.is_some() || !s.named_window.is_empty() {
        return Some("DISTINCT, HAVING, QUALIFY or a named window");
    }
    if !matches!(&s.group_by, GroupByExpr::Expressions(g, _) if g.is_empty()) {
        return Some("a GROUP BY");
    }
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return Some("its own WITH, ORDER BY or LIMIT");
    }
    None
}

/// The SELECT of a query body, when it is one.
fn body_select(q: &Query) -> Option<&Select> {
    match q.body.as_ref() {
        SetExpr::Select(s) => Some(s),
        _ => None,
    }
}

/// Where the aggregate that reads a chain stands in its query.
#[derive(Debug, Clone, Copy)]
enum Target {
    Body,
    Cte(usize),
}

/// What the rule does to one query.
struct Change {
    target: Target,
    select: Select,
    /// The chain's CTEs, to drop when nothing reads them any more.
    chain: Vec<String>,
}

/// The tables read directly by SELECTs with a window `SUM` or `MAX` over one partition key
/// and one order, with the default frame: the rule takes those windows for running ones only
/// where the facts show such a table as a complete panel, so the facts are gathered for them.
pub fn default_frame_tables(statement: &sqlparser::ast::Statement) -> Vec<ObjectName> {
    struct Find(Vec<ObjectName>);
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            // A running SUM or MAX as the rule reads one, but with the default frame.
            let default_frame = |e: &Expr| {
                matches!(e, Expr::Function(f) if matches!(&f.over,
                    Some(WindowType::WindowSpec(w)) if w.partition_by.len() == 1 && w.order_by.len() == 1
                        && frame(w) == Frame::Default)
                    && matches!(function_name(e).as_deref(), Some("SUM" | "MAX")))
            };
            if let Some(s) = body_select(q)
                && let Some((_, name)) = single_table(s)
            {
                let mut found = false;
                let _ = sqlparser::ast::visit_expressions(&s.projection, |e| {
                    found |= default_frame(e);
                    if found { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
                });
                if found {
                    self.0.push(ObjectName::from(vec![Ident::new(name)]));
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Find(Vec::new());
    let _ = statement.visit(&mut f);
    f.0
}

/// The relation a SELECT reads when it reads one, without joins.
enum Source<'a> {
    /// A table or CTE, by its one-part name.
    Named(String),
    /// A derived table: its query, alias and whether the alias renames its columns.
    Derived(&'a Query, String, bool),
}

fn source(s: &Select) -> Option<Source<'_>> {
    if let Some((_, name)) = single_table(s) {
        return Some(Source::Named(name));
    }
    let [twj] = s.from.as_slice() else { return None };
    match &twj.relation {
        TableFactor::Derived { lateral: false, subquery, alias: Some(alias), sample: None } if twj.joins.is_empty() => {
            Some(Source::Derived(subquery, alias.name.value.clone(), !alias.columns.is_empty()))
        }
        _ => None,
    }
}

/// The chain of window SELECTs `s` reads: CTEs defined before position `before` of the
/// query's WITH, or derived tables, down to the relation the innermost one reads; `ctx`
/// says whether that relation is a complete panel.
fn chain_of<'a>(q: &'a Query, before: usize, s: &'a Select, ctx: &Context) -> Result<Option<Chain<'a>>, String> {
    let ctes = q.with.as_ref().map(|w| &w.cte_tables[..before]).unwrap_or_default();
    let mut levels: Vec<Level<'a>> = Vec::new();
    let mut limit = ctes.len();
    let mut current = s;
    let base = loop {
        let (name, query, cte, renamed) = match source(current) {
            Some(Source::Named(name)) => match ctes[..limit].iter().rposition(|c| c.alias.name.value == name) {
                Some(i) => {
                    limit = i;
                    (name, ctes[i].query.as_ref(), true, !ctes[i].alias.columns.is_empty())
                }
                None => break Some(name),
            },
            Some(Source::Derived(query, alias, renamed)) => (alias, query, false, renamed),
            None if levels.is_empty() => return Ok(None),
            None => {
                let last = &levels[levels.len() - 1].name;
                return Err(format!("{last} reads a join (or an unnamed derived table), not one relation"));
            }
        };
        let Some(sel) = body_select(query).filter(|sel| has_window(sel)) else {
            // Not a window level: the chain (if any) reads it as its base relation.
            break cte.then_some(name);
        };
        if levels.len() == MAX_LEVELS {
            return Err(format!("the chain of window levels is longer than {MAX_LEVELS}"));
        }
        if renamed {
            // The rule reads a level's columns by the names its SELECT gives them.
            return Err(format!(
                "{} {name} renames its columns in a list after its name, which the rule does not follow",
                level_kind(cte)
            ));
        }
        if let Some(why) = not_plain(sel, query) {
            return Err(format!("{} {name} has {why}", level_kind(cte)));
        }
        levels.push(Level { name, select: sel, cte });
        current = sel;
    };
    let Some(innermost) = levels.last() else { return Ok(None) };
    if single_table(innermost.select).is_none() {
        return Err(format!("{} reads a join or a derived table, not one table", innermost.name));
    }
    for l in &levels[..levels.len() - 1] {
        if l.select.selection.is_some() {
            return Err(format!(
                "{} {} filters rows after the windows are computed, where the aggregate would filter before",
                level_kind(l.cte),
                l.name
            ));
        }
    }
    let unique =
        base.and_then(|b| ctx.panel(&ObjectName::from(vec![Ident::new(b)]))).map(|p| (p.id.clone(), p.key.clone()));
    Ok(Some(Chain { levels, unique }))
}

/// Replaces the figures in an aggregate's expressions and unqualifies its columns.
struct Figures<'c, 'a> {
    chain: &'c Chain<'a>,
    key: String,
    error: Option<String>,
    found: Vec<(String, Expr)>,
}

const PLACEHOLDER: &str = "ht figure ";

impl Figures<'_, '_> {
    fn series(&self, v: &str, o: &str, field: &str) -> Expr {
        let call = ast::call(OrderedSeries::NAME, vec![Expr::Identifier(ident(v)), Expr::Identifier(ident(o))], None);
        ast::call("get_field", vec![call, ast::string(field)], None)
    }

    /// The figure `e` computes over the chain, if it is one.
    fn figure(&self, e: &Expr) -> Result<Option<Expr>, String> {
        if let Some(z) = self.z_squares(e)? {
            return Ok(Some(z));
        }
        let Expr::Function(f) = e else { return Ok(None) };
        if f.over.is_some() {
            return Err(format!("{e} is a window function over the aggregate"));
        }
        let (Some(name), Some(arg)) = (function_name(e), plain_arg(e)) else { return Ok(None) };
        let c = self.chain.classify(arg, 0);
        Ok(match (name.as_str(), c) {
            ("MAX", Col::Fall { v, k, o }) if k == self.key => Some(self.series(&v, &o, "max_drawdown")),
            ("MIN" | "MAX", Col::Mean { v, k }) if k == self.key => {
                Some(self.series(&v, &self.chain.order_of(&v, &k)?, "mean"))
            }
            ("SQRT", _) => self.squares(arg)?.map(|(v, o)| self.series(&v, &o, "norm")),
            // The plain aggregates of the ordered column come from the same pass.
            (op @ ("SUM" | "MIN" | "MAX"), Col::Base(v)) => self.plain(&v.value, &op.to_lowercase()),
            ("SUM", Col::Other(_)) => self.counted(arg).and_then(|(v, field)| self.plain(&v, field)),
            _ => None,
        })
    }

    /// Figure `field` of column `v`, when the chain orders its days (else the aggregate stays).
    fn plain(&self, v: &str, field: &str) -> Option<Expr> {
        self.chain.order_of(v, &self.key).ok().map(|o| self.series(v, &o, field))
    }

    /// `CASE WHEN v > 0 THEN 1 ELSE 0 END` (wins), `< 0` (losses), `THEN v` (gains, pains):
    /// the column and the figure.
    fn counted(&self, e: &Expr) -> Option<(String, &'static str)> {
        let Expr::Case { operand: None, conditions, else_result: Some(otherwise), .. } = strip(e) else { return None };
        let [when] = conditions.as_slice() else { return None };
        let Expr::BinaryOp { left, op, right } = strip(&when.condition) else { return None };
        let Col::Base(v) = self.chain.classify(left, 0) else { return None };
        let is = |e: &Expr, lit: &str| e.to_string() == lit;
        if !is(right, "0") || !is(otherwise, "0") {
            return None;
        }
        let same = matches!(self.chain.classify(&when.result, 0), Col::Base(r) if r.value == v.value);
        let field = match (op, is(&when.result, "1"), same) {
            (BinaryOperator::Gt, true, _) => "wins",
            (BinaryOperator::Lt, true, _) => "losses",
            (BinaryOperator::Gt, _, true) => "gains",
            (BinaryOperator::Lt, _, true) => "pains",
            _ => return None,
        };
        Some((v.value, field))
    }

    /// The summed squares of the standardized values, `CASE WHEN MIN(v) = MAX(v) THEN 0 ELSE
    /// s / (SQRT(s) * SQRT(s)) END` with `s` the summed squared deviations ([`Self::squares`])
    /// of the same column: the series' `z_squares` (summed value by value in day order).
    fn z_squares(&self, e: &Expr) -> Result<Option<Expr>, String> {
        let Expr::Case { operand: None, conditions, else_result: Some(otherwise), .. } = strip(e) else {
            return Ok(None);
        };
        let [when] = conditions.as_slice() else { return Ok(None) };
        let Expr::BinaryOp { left: low, op: BinaryOperator::Eq, right: high } = strip(&when.condition) else {
            return Ok(None);
        };
        let base = |e: &Expr, name: &str| match (function_name(e).as_deref() == Some(name), plain_arg(e)) {
            (true, Some(arg)) => match self.chain.classify(arg, 0) {
                Col::Base(v) => Some(v.value),
                _ => None,
            },
            _ => None,
        };
        let (Some(v), Some(w)) = (base(low, "MIN"), base(high, "MAX")) else { return Ok(None) };
        let Expr::BinaryOp { left: sum, op: BinaryOperator::Divide, right: by } = strip(otherwise) else {
            return Ok(None);
        };
        let Expr::BinaryOp { left: a, op: BinaryOperator::Multiply, right: b } = strip(by) else { return Ok(None) };
        let (a, b) = (strip(a), strip(b));
        if v != w || strip(&when.result).to_string() != "0" || function_name(a).as_deref() != Some("SQRT") {
            return Ok(None);
        }
        if a.to_string() != b.to_string() {
            return Ok(None);
        }
        let (Some((x, o)), Some(Some((y, _)))) =
            (self.squares(sum)?, plain_arg(a).map(|s| self.squares(s)).transpose()?)
        else {
            return Ok(None);
        };
        Ok((x == v && y == v).then(|| self.series(&v, &o, "z_squares")))
    }

    /// `SUM((v - mean) * (v - mean))`: the value column and its day order.
    fn squares(&self, e: &Expr) -> Result<Option<(String, String)>, String> {
        if function_name(e).as_deref() != Some("SUM") || matches!(e, Expr::Function(f) if f.over.is_some()) {
            return Ok(None);
        }
        let Some(Expr::BinaryOp { left, op: BinaryOperator::Multiply, right }) = plain_arg(e).map(strip) else {
            return Ok(None);
        };
        let (l, r) = (strip(left), strip(right));
        let Expr::BinaryOp { left: x, op: BinaryOperator::Minus, right: m } = l else { return Ok(None) };
        if l.to_string() != r.to_string() {
            return Ok(None);
        }
        match (self.chain.classify(x, 0), self.chain.classify(m, 0)) {
            (Col::Base(v), Col::Mean { v: mv, k }) if v.value == mv && k == self.key => {
                let o = self.chain.order_of(&mv, &k)?;
                Ok(Some((mv, o)))
            }
            _ => Ok(None),
        }
    }
}

impl VisitorMut for Figures<'_, '_> {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match self.figure(e) {
            Ok(Some(new)) => {
                let holder = format!("{PLACEHOLDER}{}", self.found.len());
                self.found.push((holder.clone(), new));
                *e = Expr::Identifier(Ident::with_quote('"', holder));
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(why) => {
                self.error = Some(why);
                ControlFlow::Break(())
            }
        }
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let name = match e {
            Expr::Identifier(i) if i.value.starts_with(PLACEHOLDER) => return ControlFlow::Continue(()),
            Expr::Identifier(i) => i.clone(),
            Expr::CompoundIdentifier(parts) => match parts.last() {
                Some(i) => i.clone(),
                None => return ControlFlow::Continue(()),
            },
            _ => return ControlFlow::Continue(()),
        };
        match self.chain.column(0, &name) {
            Col::Base(i) => {
                *e = Expr::Identifier(i);
                ControlFlow::Continue(())
            }
            other => {
                self.error = Some(format!(
                    "the aggregate reads {name}, {}, outside MAX(fall), MIN(mean), MAX(mean), \
                     SQRT(SUM((v - mean) * (v - mean))) or CASE WHEN MIN(v) = MAX(v) THEN 0 ELSE s / \
                     (SQRT(s) * SQRT(s)) END (s that sum), the forms the rule turns into ht_series figures",
                    other.what()
                ));
                ControlFlow::Break(())
            }
        }
    }
}

/// Puts the figures in place of their placeholders.
struct Install(Vec<(String, Expr)>);

impl VisitorMut for Install {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Identifier(i) = e
            && let Some((_, fig)) = self.0.iter().find(|(h, _)| *h == i.value)
        {
            *e = fig.clone();
        }
        ControlFlow::Continue(())
    }
}

/// The rewritten aggregate `s` of `q`, reading a chain before WITH position `before`: the
/// SELECT, the chain's CTEs and why. A refusal says also which window's default frame the
/// facts could not take for a running one, if any.
fn rewrite<'a>(
    q: &'a Query,
    before: usize,
    s: &'a Select,
    ctx: &Context,
) -> Result<Option<(Select, Vec<String>, String)>, String> {
    let Some(chain) = chain_of(q, before, s, ctx)? else { return Ok(None) };
    rewrite_chain(&chain, s).map(Some).map_err(|why| match chain.unproven_default_frame() {
        Some(frame) => format!("{why}; {frame}"),
        None => why,
    })
}

fn rewrite_chain(chain: &Chain<'_>, s: &Select) -> Result<(Select, Vec<String>, String), String> {
    let GroupByExpr::Expressions(keys, mods) = &s.group_by else {
        return Err("GROUP BY ALL: the rule needs the group key as a column".into());
    };
    let key = match (keys.as_slice(), mods.is_empty()) {
        ([k], true) => match chain.classify(k, 0) {
            Col::Base(i) => i.value,
            other => return Err(format!("the group key is {}, not a column of the base relation", other.what())),
        },
        _ => return Err("the aggregate groups by more or less than one key".into()),
    };
    let windows = chain.windows();
    if let Some(c) = windows.iter().find(|c| match c {
        Col::Running { k, .. } | Col::Peak { k, .. } | Col::Fall { k, .. } | Col::Mean { k, .. } => *k != key,
        _ => false,
    }) {
        return Err(format!("{} is partitioned by another column than the group key {key}", c.what()));
    }
    if s.selection.is_some() {
        return Err("the aggregate filters rows after the windows are computed (WHERE)".into());
    }
    if s.distinct.is_some() || s.qualify.is_some() || !s.named_window.is_empty() {
        return Err("the aggregate has DISTINCT, QUALIFY or a named window".into());
    }
    let mut out = s.clone();
    let mut fig = Figures { chain, key, error: None, found: Vec::new() };
    for item in &mut out.projection {
        let unnamed = matches!(item, SelectItem::UnnamedExpr(_));
        let before_len = fig.found.len();
        let _ = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.visit(&mut fig),
            other => return Err(format!("output {other} reads every column of the chain")),
        };
        if let Some(why) = fig.error.take() {
            return Err(why);
        }
        if unnamed && fig.found.len() > before_len {
            return Err(format!("output {item} has no name, and its name would change with the rewrite"));
        }
    }
    for part in out.having.iter_mut().chain(keys_mut(&mut out.group_by)) {
        let _ = part.visit(&mut fig);
        if let Some(why) = fig.error.take() {
            return Err(why);
        }
    }
    if fig.found.is_empty() {
        return Err("the aggregate reads none of the windows' figures through MAX, MIN or SQRT(SUM(...))".into());
    }
    let figures: BTreeSet<String> = fig.found.iter().map(|(_, e)| e.to_string()).collect();
    let mut install = Install(fig.found);
    let _ = VisitMut::visit(&mut out, &mut install);
    let innermost = chain.levels.last().map(|l| l.select).unwrap_or(s);
    out.from = innermost.from.clone();
    out.selection = innermost.selection.clone();
    let levels: Vec<String> = chain.levels.iter().map(|l| format!("{} {}", level_kind(l.cte), l.name)).collect();
    let why = format!(
        "the windows of {} become ordered aggregates over {}: {}",
        levels.join(", "),
        single_table(innermost).map(|(_, n)| n).unwrap_or_default(),
        figures.into_iter().collect::<Vec<_>>().join(", ")
    );
    let ctes = chain.levels.iter().filter(|l| l.cte).map(|l| l.name.clone()).collect();
    Ok((out, ctes, why))
}

fn keys_mut(g: &mut GroupByExpr) -> impl Iterator<Item = &mut Expr> {
    match g {
        GroupByExpr::Expressions(keys, _) => keys.iter_mut(),
        GroupByExpr::All(_) => [].iter_mut(),
    }
}

/// The first aggregate of `q` (a CTE body, then the body) that reads a window chain.
fn find(q: &Query, ctx: &Context) -> Result<Option<(Change, String)>, String> {
    let ctes = q.with.as_ref().map(|w| w.cte_tables.as_slice()).unwrap_or_default();
    let bodies = ctes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| body_select(&c.query).map(|s| (Target::Cte(i), i, s)))
        .chain(body_select(q).map(|s| (Target::Body, ctes.len(), s)));
    for (target, before, s) in bodies {
        if has_window(s) {
            continue;
        }
        if let Some((select, chain, why)) = rewrite(q, before, s, ctx)? {
            return Ok(Some((Change { target, select, chain }, why)));
        }
    }
    Ok(None)
}

/// One-part table names `q` reads, leaving out the bodies of the CTEs named in `skip`.
fn read_tables(q: &Query, skip: &BTreeSet<String>) -> BTreeSet<String> {
    struct Tables(BTreeSet<String>);
    impl Visitor for Tables {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, .. } = t
                && let [part] = name.0.as_slice()
                && let Some(i) = part.as_ident()
            {
                self.0.insert(i.value.clone());
            }
            ControlFlow::Continue(())
        }
    }
    let mut t = Tables(BTreeSet::new());
    if let Some(w) = &q.with {
        for c in w.cte_tables.iter().filter(|c| !skip.contains(&c.alias.name.value)) {
            let _ = c.query.visit(&mut t);
        }
    }
    let _ = q.body.visit(&mut t);
    if let Some(o) = &q.order_by {
        let _ = o.visit(&mut t);
    }
    t.0
}

fn apply(q: &mut Query, change: Change) {
    match change.target {
        Target::Body => {
            *q.body = SetExpr::Select(Box::new(change.select));
            // The ORDER BY names outputs or base columns, no longer qualified by the chain.
            if let Some(o) = &mut q.order_by {
                let _ = sqlparser::ast::visit_expressions_mut(o, |e| {
                    if let Expr::CompoundIdentifier(parts) = e
                        && let Some(last) = parts.last().cloned()
                    {
                        *e = Expr::Identifier(last);
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
        }
        Target::Cte(i) => {
            if let Some(w) = &mut q.with {
                *w.cte_tables[i].query.body = SetExpr::Select(Box::new(change.select));
            }
        }
    }
    // Drop the chain's CTEs that nothing else reads (each read only by the next one drops too).
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    loop {
        let read = read_tables(q, &dropped);
        let unread: Vec<&String> =
            change.chain.iter().filter(|n| !dropped.contains(*n) && !read.contains(*n)).collect();
        if unread.is_empty() {
            break;
        }
        dropped.extend(unread.into_iter().cloned());
    }
    if let Some(w) = &mut q.with {
        w.cte_tables.retain(|c| !dropped.contains(&c.alias.name.value));
        if w.cte_tables.is_empty() {
            q.with = None;
        }
    }
}

impl Rule for SeriesToAggregate {
    fn name(&self) -> &'static str {
        "series_to_aggregate"
    }

    fn description(&self) -> &'static str {
        "turn running-sum / running-peak / mean windows read by one GROUP BY into the ordered aggregate ht_series"
    }

    fn rewrite(&self, plan: &mut Plan, ctx: &Context) -> crate::error::Result<Transformed> {
        let check = |q: &Query| match find(q, ctx) {
            Ok(None) => Verdict::Skip,
            Err(why) => Verdict::Declined(why),
            Ok(Some(_)) if !ctx.capabilities.ordered_series => Verdict::Declined(
                "the target engine has no ht_series aggregate (heavytune's embedded engine and `heavytune \
                 serve` have it), so the window form stays"
                    .into(),
            ),
            Ok(Some((change, why))) => Verdict::Fire(why, change),
        };
        let mut t = walk::each_query(&mut plan.statement, check, apply);
        if t.fired.is_empty() && t.declined.is_empty() {
            t.declined.push("no GROUP BY reads a chain of CTEs or derived tables with running windows".into());
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineKind;
    use crate::rewrite::Panel;
    use crate::rewrite::testing::sql_plan;

    const DRAWDOWN: &str = "WITH equity AS (\
        SELECT strategy_id, seq, pnl, \
               SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS equity, \
               AVG(pnl) OVER (PARTITION BY strategy_id) AS mean \
        FROM pnl WHERE trade_date >= DATE '2024-01-02'), \
      falls AS (SELECT strategy_id, pnl, mean, \
               MAX(equity) OVER (PARTITION BY strategy_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - equity AS fall \
        FROM equity) \
      SELECT falls.strategy_id, SUM(pnl) AS roi, MAX(fall) AS dd, MIN(mean) AS mean, \
             SQRT(SUM((pnl - mean) * (pnl - mean))) AS norm \
      FROM falls GROUP BY falls.strategy_id ORDER BY falls.strategy_id";

    fn run(sql: &str, kind: EngineKind) -> (String, Transformed) {
        let mut plan = sql_plan(sql);
        let t = SeriesToAggregate.rewrite(&mut plan, &Context::for_kind(kind)).unwrap();
        (plan.statement.to_string(), t)
    }

    #[test]
    fn the_chain_becomes_one_aggregate_over_the_table() {
        let (sql, t) = run(DRAWDOWN, EngineKind::Datafusion);
        assert_eq!(t.fired.len(), 1, "{t:?}");
        assert_eq!(
            sql,
            "SELECT strategy_id, get_field(ht_series(pnl, seq), 'sum') AS roi, get_field(ht_series(pnl, seq), 'max_drawdown') AS dd, \
             get_field(ht_series(pnl, seq), 'mean') AS mean, get_field(ht_series(pnl, seq), 'norm') AS norm \
             FROM pnl WHERE trade_date >= DATE '2024-01-02' GROUP BY strategy_id ORDER BY strategy_id"
        );
    }

    /// The standardized values' summed squares, written from the moments' own aggregates, are
    /// the series' z_squares; written otherwise, they read the mean and the rule says so.
    #[test]
    fn the_standardized_squares_are_a_figure_too() {
        let s = "SUM((pnl - mean) * (pnl - mean))";
        let with = |z: &str| DRAWDOWN.replace(" AS norm ", &format!(" AS norm, {z} AS zz "));
        let z = format!("CASE WHEN MIN(pnl) = MAX(pnl) THEN 0 ELSE {s} / (SQRT({s}) * SQRT({s})) END");
        let (sql, t) = run(&with(&z), EngineKind::Datafusion);
        assert_eq!(t.fired.len(), 1, "{t:?}");
        assert!(sql.contains("get_field(ht_series(pnl, seq), 'norm') AS norm, get_field(ht_series(pnl, seq), 'z_squares') AS zz FROM pnl"), "{sql}");
        for near in [
            z.replace("THEN 0", "THEN 1"),
            z.replace("MAX(pnl)", "MAX(fall)"),
            z.replace(&format!("(SQRT({s}) * SQRT({s}))"), &format!("(SQRT({s}) * {s})")),
        ] {
            let (_, t) = run(&with(&near), EngineKind::Datafusion);
            assert!(t.fired.is_empty(), "{near}: {t:?}");
            assert!(t.declined.join(" ").contains("reads mean, the mean of pnl"), "{near}: {t:?}");
        }
    }

    #[test]
    fn engines_without_the_aggregate_keep_the_windows() {
        let (sql, t) = run(DRAWDOWN, EngineKind::Heavydb);
        assert!(t.fired.is_empty());
        assert!(t.declined.join(" ").contains("no ht_series aggregate"), "{t:?}");
        assert_eq!(sql, sql_plan(DRAWDOWN).statement.to_string());
    }

    #[test]
    fn preconditions_name_the_failing_node() {
        let declined = |sql: &str| run(sql, EngineKind::Datafusion).1.declined.join("; ");
        // A filter between the windows and the aggregate.
        let late = DRAWDOWN.replace("FROM equity)", "FROM equity WHERE pnl > 0)");
        assert!(declined(&late).contains("CTE falls filters rows after the windows"), "{}", declined(&late));
        // The running sum itself read by the aggregate.
        let raw = DRAWDOWN.replace("MAX(fall) AS dd", "MAX(fall) AS dd, SUM(mean) AS s");
        assert!(declined(&raw).contains("reads mean, the mean of pnl"), "{}", declined(&raw));
        // Windows partitioned by another column than the group key.
        let other = DRAWDOWN.replace("GROUP BY falls.strategy_id", "GROUP BY falls.pnl");
        assert!(declined(&other).contains("partitioned by another column"), "{}", declined(&other));
        // A RANGE frame is not a running sum over rows.
        let range = DRAWDOWN.replace(
            "ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS equity",
            "ORDER BY seq) AS equity",
        );
        assert!(!declined(&range).is_empty());
        assert!(run(&range, EngineKind::Datafusion).1.fired.is_empty());
        // A window that is not a running one says which of its parts is not.
        for (from, to, why) in [
            (
                "ORDER BY seq ROWS",
                "ORDER BY seq DESC ROWS",
                "ordered by seq DESC; a running window reads the days ascending",
            ),
            ("PARTITION BY strategy_id ORDER BY seq ROWS", "PARTITION BY zone ORDER BY seq ROWS", ""),
            (
                "BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS equity",
                "BETWEEN 19 PRECEDING AND CURRENT ROW) AS equity",
                "is not from the partition's first row",
            ),
            ("SUM(pnl) OVER", "SUM(pnl * 2) OVER", "its argument is `pnl * 2`, not a column of the table"),
        ] {
            let sql = DRAWDOWN.replacen(from, to, 1);
            assert_ne!(sql, DRAWDOWN, "{from}");
            let got = declined(&sql);
            assert!(run(&sql, EngineKind::Datafusion).1.fired.is_empty(), "{sql}");
            assert!(got.contains(why), "{got}");
        }
    }

    /// The chain written as nested derived tables, with `ROWS UNBOUNDED PRECEDING`, as CTEs.
    #[test]
    fn derived_tables_are_a_chain_too() {
        let sql = "SELECT strategy_id, MAX(peak - equity) AS dd, SUM(pnl) AS roi FROM (\
            SELECT strategy_id, pnl, equity, MAX(equity) OVER (PARTITION BY strategy_id ORDER BY seq ROWS UNBOUNDED PRECEDING) AS peak \
            FROM (SELECT strategy_id, seq, pnl, SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY seq ROWS UNBOUNDED PRECEDING) AS equity \
                  FROM pnl WHERE zone = 'A') AS e) AS d \
            GROUP BY strategy_id ORDER BY d.strategy_id";
        let (out, t) = run(sql, EngineKind::Datafusion);
        assert_eq!(t.fired.len(), 1, "{t:?}");
        assert!(t.fired[0].why.contains("derived table d, derived table e"), "{t:?}");
        assert_eq!(
            out,
            "SELECT strategy_id, get_field(ht_series(pnl, seq), 'max_drawdown') AS dd, get_field(ht_series(pnl, seq), 'sum') AS roi \
             FROM pnl WHERE zone = 'A' GROUP BY strategy_id ORDER BY strategy_id"
        );
        // Columns renamed by a list after the alias (here swapped): declined, for a derived
        // table as for a CTE.
        let renamed = sql.replace("AS e) AS d", "AS e(strategy_id, seq, equity, pnl)) AS d");
        let t = run(&renamed, EngineKind::Datafusion).1;
        assert!(t.fired.is_empty() && t.declined.join(" ").contains("derived table e renames its columns"), "{t:?}");
        let cte = DRAWDOWN.replace("falls AS (", "falls(strategy_id, pnl, mean, fall) AS (");
        let t = run(&cte, EngineKind::Datafusion).1;
        assert!(t.fired.is_empty() && t.declined.join(" ").contains("CTE falls renames its columns"), "{t:?}");
        // A filter between the levels still declines, naming the derived table.
        let late = sql.replace("AS e) AS d", "AS e WHERE pnl > 0) AS d");
        assert!(run(&late, EngineKind::Datafusion).1.declined.join(" ").contains("derived table d filters rows"));
    }

    /// `OVER (PARTITION BY k ORDER BY o)` (the default RANGE frame) is a running window where
    /// the facts show the table as a complete panel keyed by (k, o), and only there.
    #[test]
    fn default_frames_are_running_windows_on_a_complete_panel() {
        let sql = "WITH eq AS (SELECT strategy_id, trade_date, pnl, \
                   SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY trade_date) AS equity FROM pnl), \
                   dd AS (SELECT strategy_id, MAX(equity) OVER (PARTITION BY strategy_id ORDER BY trade_date \
                   RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - equity AS fall FROM eq) \
                   SELECT strategy_id, MAX(fall) AS dd FROM dd GROUP BY strategy_id";
        let with_panel = |id: &str, key: &str| {
            let mut ctx = Context::for_kind(EngineKind::Datafusion);
            ctx.panels.insert("pnl".into(), Panel { id: id.into(), key: key.into(), value: "pnl".into() });
            let mut plan = sql_plan(sql);
            let t = SeriesToAggregate.rewrite(&mut plan, &ctx).unwrap();
            (plan.statement.to_string(), t)
        };
        let (out, t) = with_panel("strategy_id", "trade_date");
        assert_eq!(t.fired.len(), 1, "{t:?}");
        assert_eq!(
            out,
            "SELECT strategy_id, get_field(ht_series(pnl, trade_date), 'max_drawdown') AS dd FROM pnl GROUP BY strategy_id"
        );
        // No facts, or a panel keyed by another column: the windows stay, and the refusal
        // names the frame.
        for (out, t) in [run(sql, EngineKind::Datafusion), with_panel("strategy_id", "seq")] {
            assert!(t.fired.is_empty(), "{t:?}");
            assert!(t.declined.join(" ").contains("has the default RANGE frame"), "{t:?}");
            assert_eq!(out, sql_plan(sql).statement.to_string());
        }
        let stmt = sql_plan(sql).statement;
        assert_eq!(default_frame_tables(&stmt).iter().map(|t| t.to_string()).collect::<Vec<_>>(), ["pnl", "eq"]);
    }

    #[test]
    fn other_readers_keep_their_ctes() {
        let ctes = &DRAWDOWN[..DRAWDOWN.find(" SELECT falls.strategy_id").unwrap()];
        let sql = format!(
            "{ctes}, s AS (SELECT strategy_id, MAX(fall) AS dd FROM falls GROUP BY strategy_id) \
             SELECT s.dd, (SELECT COUNT(*) FROM equity) AS n FROM s"
        );
        let (out, t) = run(&sql, EngineKind::Datafusion);
        assert_eq!(t.fired.len(), 1, "{sql}: {t:?}");
        assert!(out.contains("equity AS (") && !out.contains("falls AS ("), "{out}");
        assert!(
            out.contains("s AS (SELECT strategy_id, get_field(ht_series(pnl, seq), 'max_drawdown') AS dd FROM pnl"),
            "{out}"
        );
    }
}
