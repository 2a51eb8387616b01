//! Golden files of the HeavyDB text (HeavyDB cannot run here): every template, the rewritten
//! forms of the correlation and ULTA queries, and the tables `load` creates.
//! `HEAVYTUNE_BLESS=1` rewrites them; each is checked against HeavyDB's documented grammar,
//! the section named in [`DOCS`] (HeavyDB docs: https://docs.heavy.ai, also
//! https://docs.nvidia.com/heavyai; where a construct is documented only in HeavyDB's own
//! grammar, heavyai/heavydb's `java/calcite/src/main/codegen/includes/ddlParser.ftl`).
//!
//! HeavyDB's semantics where they differ from DataFusion's, and how the text accounts for
//! them: CORR is computed as covar_pop / (stddev_pop * stddev_pop) and is NULL for a
//! zero-variance column (its Calcite rewrite `expandCorrelation`): the rewritten correlation
//! gives NULL for a constant strategy the same way (its centred values are NULL); window
//! functions are MIN/MAX/AVG/SUM/COUNT, ranking, LAG/LEAD, FIRST/LAST/NTH_VALUE and fills (no
//! CORR OVER: `dialect::print` refuses it); the default fragment size is 32 M rows, so every
//! table heavytune creates says `fragment_size` (524,288: four fragments for a production
//! load).

use std::path::PathBuf;

use heavytune::dialect::{Dialect, print};
use heavytune::engine::EngineKind;
use heavytune::rewrite::{self, Column, Context, Panel};
use heavytune::templates::{self, Params, TEMPLATES};

fn params() -> Params {
    Params {
        candidates: Some(vec!["S1".into(), "it's, 50%".into()]),
        inverted: Some(vec![3, 5]),
        columns: Some(vec!["S1".into(), "S 2".into()]),
        date_from: Some("2024-01-01".into()),
        date_to: Some("2024-06-30".into()),
        ..Params::default()
    }
}

fn context() -> Context {
    let mut ctx = Context::for_kind(EngineKind::Heavydb);
    ctx.panels.insert("pnl".into(), Panel { id: "strategy_id".into(), key: "trade_date".into(), value: "pnl".into() });
    let col = |n: &str, t: &str| Column { name: n.into(), sql_type: t.into() };
    ctx.columns.insert(
        "pnl".into(),
        vec![col("strategy_id", "INT"), col("trade_date", "DATE"), col("zone", "VARCHAR"), col("pnl", "DOUBLE")],
    );
    ctx
}

/// Each golden file and the part of HeavyDB's documentation its text was checked against.
const DOCS: &[(&str, &str)] = &[
    (
        "ulta_strategies",
        "DDL > Tables > CREATE TABLE AS SELECT: CREATE TABLE t AS (SELECT ...) WITH (fragment_size = n); DML > Window Functions (ROW_NUMBER); Functions and Operators (||)",
    ),
    ("ulta_pnl", "DDL > Tables > CREATE TABLE AS SELECT"),
    ("ulta_report", "DML > SELECT (WITH, JOIN, ORDER BY); Functions and Operators > Type Casts (CAST AS DOUBLE)"),
    ("ulta_update", "DML > UPDATE: UPDATE table SET column = expression [WHERE ...]"),
    (
        "strategy_stats",
        "DML > Window Functions: SUM/MAX OVER (PARTITION BY ... ORDER BY ... ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), AVG OVER (PARTITION BY ...); Functions and Operators > Mathematical Functions (SQRT)",
    ),
    (
        "strategy_metrics",
        "DML > Window Functions: SUM/MAX OVER (PARTITION BY ... ORDER BY ... ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)",
    ),
    ("standardize", "DML > SELECT (WITH, GROUP BY, JOIN); Functions and Operators > Mathematical Functions (SQRT)"),
    (
        "pair_corr",
        "Functions and Operators > Statistical and Aggregate Functions (CORR: NULL for a zero-variance column)",
    ),
    ("pair_corr_all", "Functions and Operators > Statistical and Aggregate Functions (CORR)"),
    ("wide_select", "DDL > Tables > Nomenclature Constraints: names with other characters in double quotes"),
    (
        "rewritten_pair_corr_sql_rules",
        "DML > Window Functions (MIN/MAX/AVG/SUM OVER PARTITION BY; no CORR OVER); UNION ALL; CROSS JOIN",
    ),
    ("rewritten_pair_corr_kernel", "DML > Window Functions (MIN/MAX/AVG/SUM OVER PARTITION BY)"),
    (
        "rewritten_ulta_update",
        "DDL > Tables: CREATE TABLE AS SELECT, DROP TABLE [IF EXISTS], ALTER TABLE t RENAME TO t2",
    ),
    (
        "create_stored_tables",
        "DDL > Tables > CREATE TABLE: <column> <type> [NOT NULL] [DEFAULT <value>] [ENCODING <encodingSpec>]; Datatypes and Fixed Encoding (TEXT ENCODING DICT(32), DATE ENCODING DAYS(32)); WITH (fragment_size = n)",
    ),
];

fn check(name: &str, text: &str) {
    assert!(DOCS.iter().any(|(n, _)| *n == name), "{name}: no documentation section cited in DOCS");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/heavydb").join(format!("{name}.sql"));
    let text = format!("{text}\n");
    if std::env::var_os("HEAVYTUNE_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e} (HEAVYTUNE_BLESS=1 cargo test --test sql_golden writes it)", path.display())
    });
    assert_eq!(text, want, "{name}: HeavyDB text changed; if intended, bless the golden file");
}

#[test]
fn templates_print_for_heavydb() {
    for t in TEMPLATES {
        let stmt = templates::bind(t, &params()).unwrap();
        check(t.name, &print(&stmt, Dialect::Heavydb).unwrap());
    }
}

#[test]
fn rewritten_queries_print_for_heavydb() {
    let ctx = context();
    for (name, template, rules) in [
        (
            "rewritten_pair_corr_sql_rules",
            "pair_corr",
            vec!["candidate_pushdown", "corr_by_moments", "symmetric_self_join"],
        ),
        ("rewritten_pair_corr_kernel", "pair_corr", vec!["correlation_to_kernel"]),
        ("rewritten_ulta_update", "ulta_update", vec!["update_to_ctas"]),
    ] {
        let stmt = templates::bind(templates::find(template).unwrap(), &params()).unwrap();
        let rules: Vec<String> = rules.into_iter().map(str::to_owned).collect();
        let out = rewrite::optimize(stmt, &ctx, Some(&rules)).unwrap();
        assert_eq!(out.fired().len(), rules.len(), "{name}: {:?}", out.steps);
        let mut text = print(&out.plan.statement, Dialect::Heavydb).unwrap();
        for f in &out.plan.then {
            text.push_str(";\n");
            text.push_str(&print(f, Dialect::Heavydb).unwrap());
        }
        check(name, &text);
    }
}

#[test]
fn stored_tables_print_for_heavydb() {
    // NOT NULL before ENCODING, as HeavyDB documents the column grammar.
    let ddl = heavytune::engine::backends::odbc::stored_tables(
        Dialect::Heavydb,
        &heavytune::tables::TableNames::for_table("pnl"),
    )
    .unwrap();
    assert!(ddl[0].contains("name TEXT NOT NULL ENCODING DICT(32)"), "{}", ddl[0]);
    check("create_stored_tables", &ddl.join(";\n"));
}
