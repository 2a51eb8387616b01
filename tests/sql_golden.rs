//! Golden files of the HeavyDB text (HeavyDB cannot run here): every template, and the
//! rewritten forms of the correlation and ULTA queries. `HEAVYTUNE_BLESS=1` rewrites them.

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

fn check(name: &str, text: &str) {
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
