//! The embedded engine's UPDATE with `IN (SELECT ...)` in its WHERE. DataFusion 55 cannot plan
//! an UPDATE whose subquery aggregates (`UPDATE pnl SET pnl = -pnl WHERE strategy_id IN
//! (SELECT strategy_id FROM pnl GROUP BY strategy_id HAVING SUM(pnl) < 0)` fails with
//! `Schema error: No field named "sum(pnl.pnl)"`), which is how ULTA is written as an UPDATE.
//! Such a subquery reads the table as it is before the update, so the engine runs it first and
//! puts its values in as a list: the same rows are updated. (Where DataFusion does plan one,
//! its answer is not always the subquery's: with `ORDER BY s LIMIT 3` in the subquery it
//! updated other rows than the subquery run alone picks, in
//! `rewrites_an_update_of_the_strategies_a_subquery_picks`; so every such subquery runs first.)
//!
//! Only `IN (SELECT ...)` reached from the WHERE through AND, OR, NOT and parentheses is
//! listed, and only where the subquery runs on its own (a correlated one does not) and answers
//! one column of integers, finite floats, strings or dates (each value once); anything else is
//! left to DataFusion.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int32Type, Int64Type};
use sqlparser::ast::{Expr, Query, Statement, Value};

use crate::engine::QueryOutput;

/// The `IN (SELECT ...)` subqueries of an UPDATE's WHERE that may be listed, in the order
/// [`put_lists`] takes their lists.
pub(super) fn subqueries(stmt: &Statement) -> Vec<Query> {
    let mut found = Vec::new();
    if let Statement::Update(u) = stmt
        && let Some(mut w) = u.selection.clone()
    {
        // The same walk as put_lists', over a copy of the WHERE.
        walk_mut(&mut w, &mut |e| {
            if let Expr::InSubquery { subquery, .. } = e {
                found.push((**subquery).clone());
            }
        });
    }
    found
}

/// Puts each list in place of its subquery (`None`: that subquery is left as written).
pub(super) fn put_lists(stmt: &mut Statement, lists: Vec<Option<Vec<Expr>>>) {
    let Statement::Update(u) = stmt else { return };
    let Some(w) = &mut u.selection else { return };
    let mut lists = lists.into_iter();
    walk_mut(w, &mut |e| {
        let Expr::InSubquery { expr, negated, .. } = e else { return };
        let Some(Some(list)) = lists.next() else { return };
        let (expr, negated) = (expr.clone(), *negated);
        *e = if list.is_empty() {
            // `x IN ()` is not SQL; over no rows IN is false and NOT IN true, even for NULL x.
            Expr::value(Value::Boolean(negated))
        } else {
            Expr::InList { expr, list, negated }
        };
    });
}

/// A subquery's distinct answers as literals, when it is one column of a type written
/// exactly.
pub(super) fn literals(out: &QueryOutput) -> Option<Vec<Expr>> {
    if out.schema.fields().len() != 1 {
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    let mut list = Vec::new();
    for b in &out.batches {
        let a = b.column(0);
        for i in 0..a.len() {
            let v = if a.is_null(i) {
                Value::Null
            } else {
                match a.data_type() {
                    DataType::Int32 => Value::Number(a.as_primitive::<Int32Type>().value(i).to_string(), false),
                    DataType::Int64 => Value::Number(a.as_primitive::<Int64Type>().value(i).to_string(), false),
                    DataType::Float64 => {
                        let x = a.as_primitive::<Float64Type>().value(i);
                        // Rust prints the shortest text that reads back as the same f64.
                        if !x.is_finite() {
                            return None;
                        }
                        Value::Number(format!("{x:?}"), false)
                    }
                    DataType::Utf8 => Value::SingleQuotedString(a.as_string::<i32>().value(i).to_owned()),
                    DataType::Utf8View => Value::SingleQuotedString(a.as_string_view().value(i).to_owned()),
                    DataType::Date32 => {
                        let day = a.as_primitive::<Date32Type>().value(i);
                        let date = Date32Type::to_naive_date_opt(day)?;
                        let text = Expr::value(Value::SingleQuotedString(date.format("%Y-%m-%d").to_string()));
                        let e = Expr::Cast {
                            kind: sqlparser::ast::CastKind::Cast,
                            expr: Box::new(text),
                            data_type: sqlparser::ast::DataType::Date,
                            array: false,
                            format: None,
                        };
                        if seen.insert(e.to_string()) {
                            list.push(e);
                        }
                        continue;
                    }
                    _ => return None,
                }
            };
            let e = Expr::value(v);
            if seen.insert(e.to_string()) {
                list.push(e);
            }
        }
    }
    Some(list)
}

fn walk_mut(e: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    match e {
        Expr::BinaryOp { left, op, right } if is_logical(op) => {
            walk_mut(left, f);
            walk_mut(right, f);
        }
        Expr::Nested(inner) | Expr::UnaryOp { expr: inner, op: sqlparser::ast::UnaryOperator::Not } => {
            walk_mut(inner, f)
        }
        other => f(other),
    }
}

fn is_logical(op: &sqlparser::ast::BinaryOperator) -> bool {
    matches!(op, sqlparser::ast::BinaryOperator::And | sqlparser::ast::BinaryOperator::Or)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Blocking, Embedded, Engine, Query as EngineQuery, TableSource};
    use arrow::array::{Float64Array, Int32Array, RecordBatch, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn parse(sql: &str) -> Statement {
        crate::templates::parse(sql).unwrap()
    }

    #[test]
    fn lists_take_the_place_of_their_subqueries_in_order() {
        let mut s = parse(
            "UPDATE t SET v = -v WHERE (a IN (SELECT x FROM u) OR NOT b IN (SELECT y FROM w)) AND c NOT IN (SELECT z FROM q)",
        );
        let subs: Vec<String> = subqueries(&s).iter().map(|q| q.to_string()).collect();
        assert_eq!(subs, ["SELECT x FROM u", "SELECT y FROM w", "SELECT z FROM q"]);
        let one = || Expr::value(Value::Number("1".into(), false));
        put_lists(&mut s, vec![Some(vec![one(), one()]), None, Some(Vec::new())]);
        assert_eq!(s.to_string(), "UPDATE t SET v = -v WHERE (a IN (1, 1) OR NOT b IN (SELECT y FROM w)) AND true");
    }

    #[test]
    fn answers_become_exact_literals_or_none() {
        let out = |field: Field, a: Arc<dyn Array>| {
            let schema = Arc::new(Schema::new(vec![field]));
            QueryOutput { schema: schema.clone(), batches: vec![RecordBatch::try_new(schema, vec![a]).unwrap()] }
        };
        let text = |l: Vec<Expr>| l.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(",");
        let ints =
            out(Field::new("i", DataType::Int32, true), Arc::new(Int32Array::from(vec![Some(3), None, Some(3), None])));
        assert_eq!(text(literals(&ints).unwrap()), "3,NULL");
        let days =
            out(Field::new("d", DataType::Date32, false), Arc::new(arrow::array::Date32Array::from(vec![19724])));
        assert_eq!(text(literals(&days).unwrap()), "CAST('2024-01-02' AS DATE)");
        let x = 0.1 + 0.2;
        let floats = out(Field::new("f", DataType::Float64, false), Arc::new(Float64Array::from(vec![x])));
        assert_eq!(text(literals(&floats).unwrap()).parse::<f64>().unwrap(), x);
        let inf = out(Field::new("f", DataType::Float64, false), Arc::new(Float64Array::from(vec![f64::INFINITY])));
        assert!(literals(&inf).is_none());
        let names = out(Field::new("s", DataType::Utf8, false), Arc::new(StringArray::from(vec!["o'k"])));
        assert_eq!(text(literals(&names).unwrap()), "'o''k'");
    }

    /// The ULTA UPDATE that DataFusion 55 cannot plan runs, and flips exactly the losers.
    #[test]
    fn an_update_of_the_losing_strategies_runs_on_the_embedded_engine() {
        let rt = Blocking::new(Some(2)).unwrap();
        rt.run(async {
            let e = Embedded::in_memory(Some(2));
            let schema = Arc::new(Schema::new(vec![
                Field::new("strategy_id", DataType::Int32, false),
                Field::new("pnl", DataType::Float64, false),
            ]));
            let b = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int32Array::from(vec![0, 0, 1, 1, 2, 2])),
                    Arc::new(Float64Array::from(vec![1.0, -3.0, 2.0, 1.0, -1.0, 0.5])),
                ],
            )?;
            e.create_temporary(TableSource::from_batches("p", schema, vec![b])).await?;
            let update = parse(
                "UPDATE p SET pnl = -pnl WHERE strategy_id IN \
                 (SELECT strategy_id FROM p GROUP BY strategy_id HAVING SUM(pnl) < 0)",
            );
            e.query(EngineQuery::Ast(&update)).await?.collect().await?;
            let out = crate::engine::fetch_sql(&e, "SELECT pnl FROM p ORDER BY strategy_id, pnl").await?;
            let got: Vec<f64> = out.f64s("pnl")?.into_iter().flatten().collect();
            assert_eq!(got, [-1.0, 3.0, 1.0, 2.0, -0.5, 1.0]);
            Ok(())
        })
        .unwrap();
    }
}
