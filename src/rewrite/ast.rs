//! Constructors of the AST nodes the rules build. Rules never print and re-parse SQL text:
//! every new node is made here, identifiers keep the quoting they were written with, and
//! names we introduce (`ht_...`) are plain lower-case identifiers no dialect needs to quote.

use sqlparser::ast::helpers::attached_token::AttachedToken;
use sqlparser::ast::{
    BinaryOperator, CaseWhen, Cte, Distinct, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, GroupByExpr, Ident, Join, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, Query,
    Select, SelectFlavor, SelectItem, SetExpr, SetOperator, SetQuantifier, TableAlias, TableFactor, TableWithJoins,
    Value, WindowSpec, WindowType, With,
};

/// An identifier as written (no quotes).
pub fn ident(name: &str) -> Ident {
    Ident::new(name)
}

/// `q.c`.
pub fn col(q: &Ident, c: &Ident) -> Expr {
    Expr::CompoundIdentifier(vec![q.clone(), c.clone()])
}

/// An integer literal.
pub fn int(v: i64) -> Expr {
    Expr::value(Value::Number(v.to_string(), false))
}

/// A string literal.
pub fn string(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_owned()))
}

pub fn null() -> Expr {
    Expr::value(Value::Null)
}

pub fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp { left: Box::new(left), op, right: Box::new(right) }
}

/// The conjunction of the parts (each parenthesised where it is itself an OR), or None.
pub fn and_all(parts: impl IntoIterator<Item = Expr>) -> Option<Expr> {
    parts.into_iter().map(nest_or).reduce(|l, r| binary(l, BinaryOperator::And, r))
}

fn nest_or(e: Expr) -> Expr {
    match e {
        Expr::BinaryOp { op: BinaryOperator::Or, .. } => Expr::Nested(Box::new(e)),
        other => other,
    }
}

/// `name(args...)`, optionally `OVER (PARTITION BY ...)`.
pub fn call(name: &str, args: Vec<Expr>, partition_by: Option<Vec<Expr>>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(ident(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e))).collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: partition_by.map(|p| {
            WindowType::WindowSpec(WindowSpec {
                window_name: None,
                partition_by: p,
                order_by: Vec::new(),
                window_frame: None,
            })
        }),
        within_group: Vec::new(),
    })
}

/// `CASE WHEN cond THEN then ELSE otherwise END`.
pub fn case_when(cond: Expr, then: Expr, otherwise: Expr) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen { condition: cond, result: then }],
        else_result: Some(Box::new(otherwise)),
    }
}

/// `expr AS alias`.
pub fn item(expr: Expr, alias: &Ident) -> SelectItem {
    SelectItem::ExprWithAlias { expr, alias: alias.clone() }
}

/// `SELECT *`.
pub fn star() -> SelectItem {
    SelectItem::Wildcard(Default::default())
}

fn table_alias(name: &Ident) -> TableAlias {
    TableAlias { explicit: true, name: name.clone(), columns: Vec::new(), at: None }
}

/// `name AS alias` (or just `name`).
pub fn table(name: &ObjectName, alias: Option<&Ident>) -> TableFactor {
    TableFactor::Table {
        name: name.clone(),
        alias: alias.map(table_alias),
        args: None,
        with_hints: Vec::new(),
        version: None,
        with_ordinality: false,
        partitions: Vec::new(),
        json_path: None,
        sample: None,
        index_hints: Vec::new(),
    }
}

/// `(query) AS alias`.
pub fn derived(query: Query, alias: &Ident) -> TableFactor {
    TableFactor::Derived { lateral: false, subquery: Box::new(query), alias: Some(table_alias(alias)), sample: None }
}

/// `left JOIN right ON on`.
pub fn join(left: TableFactor, right: TableFactor, on: Expr) -> TableWithJoins {
    TableWithJoins {
        relation: left,
        joins: vec![Join { relation: right, global: false, join_operator: JoinOperator::Join(JoinConstraint::On(on)) }],
    }
}

/// `left CROSS JOIN right`.
pub fn cross_join(left: TableFactor, right: TableFactor) -> TableWithJoins {
    TableWithJoins {
        relation: left,
        joins: vec![Join {
            relation: right,
            global: false,
            join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
        }],
    }
}

pub fn from(relation: TableFactor) -> TableWithJoins {
    TableWithJoins { relation, joins: Vec::new() }
}

/// A SELECT with nothing but what is given.
pub fn select(
    projection: Vec<SelectItem>,
    from: Vec<TableWithJoins>,
    selection: Option<Expr>,
    group_by: Vec<Expr>,
) -> Select {
    Select {
        select_token: AttachedToken::empty(),
        optimizer_hints: Vec::new(),
        distinct: None::<Distinct>,
        select_modifiers: None,
        top: None,
        top_before_distinct: false,
        projection,
        exclude: None,
        into: None,
        from,
        lateral_views: Vec::new(),
        prewhere: None,
        selection,
        connect_by: Vec::new(),
        group_by: GroupByExpr::Expressions(group_by, Vec::new()),
        cluster_by: Vec::new(),
        distribute_by: Vec::new(),
        sort_by: Vec::new(),
        having: None,
        named_window: Vec::new(),
        qualify: None,
        window_before_qualify: false,
        value_table_mode: None,
        flavor: SelectFlavor::Standard,
    }
}

/// A query of a body, with CTEs when any.
pub fn query(ctes: Vec<(Ident, Query)>, body: SetExpr) -> Query {
    let with = (!ctes.is_empty()).then(|| With {
        with_token: AttachedToken::empty(),
        recursive: false,
        cte_tables: ctes
            .into_iter()
            .map(|(name, q)| Cte {
                alias: TableAlias { explicit: false, ..table_alias(&name) },
                query: Box::new(q),
                from: None,
                materialized: None,
                closing_paren_token: AttachedToken::empty(),
            })
            .collect(),
    });
    Query {
        with,
        body: Box::new(body),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}

/// A query of one SELECT.
pub fn select_query(s: Select) -> Query {
    query(Vec::new(), SetExpr::Select(Box::new(s)))
}

/// `left UNION ALL right`.
pub fn union_all(left: Select, right: Select) -> SetExpr {
    SetExpr::SetOperation {
        left: Box::new(SetExpr::Select(Box::new(left))),
        op: SetOperator::Union,
        set_quantifier: SetQuantifier::All,
        right: Box::new(SetExpr::Select(Box::new(right))),
    }
}

/// `expr IN (query)`.
pub fn in_subquery(expr: Expr, subquery: Query) -> Expr {
    Expr::InSubquery { expr: Box::new(expr), subquery: Box::new(subquery), negated: false }
}

/// `CAST(expr AS type)`, the type named as the engine reported it.
pub fn cast(expr: Expr, sql_type: &str) -> Expr {
    Expr::Cast {
        kind: sqlparser::ast::CastKind::Cast,
        expr: Box::new(expr),
        data_type: data_type(sql_type),
        array: false,
        format: None,
    }
}

/// The type of a SQL type name as [`super::facts::sql_type`] spells it.
fn data_type(name: &str) -> sqlparser::ast::DataType {
    use sqlparser::ast::{DataType, ExactNumberInfo};
    match name {
        "DOUBLE" => DataType::Double(ExactNumberInfo::None),
        "FLOAT" => DataType::Float(ExactNumberInfo::None),
        "BIGINT" => DataType::BigInt(None),
        "INT" => DataType::Int(None),
        "SMALLINT" => DataType::SmallInt(None),
        "BOOLEAN" => DataType::Boolean,
        "DATE" => DataType::Date,
        "VARCHAR" => DataType::Varchar(None),
        other => DataType::Custom(ObjectName::from(vec![ident(other)]), Vec::new()),
    }
}

/// `DROP TABLE name`.
pub fn drop_table(name: &ObjectName) -> sqlparser::ast::Statement {
    sqlparser::ast::Statement::Drop {
        object_type: sqlparser::ast::ObjectType::Table,
        if_exists: false,
        names: vec![name.clone()],
        cascade: false,
        restrict: false,
        purge: false,
        temporary: false,
        table: None,
    }
}

/// `ALTER TABLE from RENAME TO to`.
pub fn rename_table(from: &ObjectName, to: &ObjectName) -> sqlparser::ast::Statement {
    sqlparser::ast::Statement::AlterTable(sqlparser::ast::AlterTable {
        name: from.clone(),
        if_exists: false,
        only: false,
        operations: vec![sqlparser::ast::AlterTableOperation::RenameTable {
            table_name: sqlparser::ast::RenameTableNameKind::To(to.clone()),
        }],
        location: None,
        on_cluster: None,
        table_type: None,
        end_token: AttachedToken::empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_nodes_print_as_sql_that_parses_back_the_same() {
        let (a, b, id) = (ident("a"), ident("b"), Ident::with_quote('"', "it's id"));
        let t = ObjectName(vec![ObjectNamePart::Identifier(ident("pnl"))]);
        let avg = call("AVG", vec![col(&a, &id)], Some(vec![col(&a, &id)]));
        let s = select(
            vec![item(case_when(binary(avg, BinaryOperator::Gt, int(0)), null(), string("x'y")), &ident("c"))],
            vec![join(
                table(&t, Some(&a)),
                table(&t, Some(&b)),
                binary(col(&a, &id), BinaryOperator::Eq, col(&b, &id)),
            )],
            and_all([binary(col(&a, &id), BinaryOperator::Lt, int(3)), binary(int(1), BinaryOperator::Or, int(2))]),
            vec![col(&a, &id)],
        );
        let q = query(vec![(ident("h"), select_query(s.clone()))], SetExpr::Select(Box::new(s)));
        let text = q.to_string();
        assert!(text.contains("\"it's id\""), "{text}");
        let back = crate::templates::parse(&text).unwrap();
        assert_eq!(back.to_string(), text);
    }
}
