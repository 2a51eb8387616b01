//! Property checks shared by the rules' tests: original and rewritten SQL on random data
//! (NULLs, constant strategies, ties, a single day, awkward names) must give the same rows.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Context, Panel, Plan, optimize};
use crate::ab::same_results;
use crate::engine::{Blocking, Embedded, Engine, TableSource, fetch, fetch_sql};
use crate::exec::{execute_plan, execute_statement};
use crate::sandbox::Sandbox;
use crate::templates::{self, Params};

pub const NAMES: &[&str] = &["S1", "S 2", "S3", "it's, 50%", "\"quoted\"", "S6", "S7", "S8"];

/// A plan of a template and a context that knows `pnl` as a complete panel.
pub fn plan_of(template: &str, candidates: &[&str]) -> (Plan, Context) {
    let params = Params {
        candidates: Some(candidates.iter().map(|s| s.to_string()).collect()),
        inverted: Some(vec![0, 2]),
        ..Params::default()
    };
    let stmt = templates::bind(templates::find(template).unwrap(), &params).unwrap();
    let mut ctx = Context::for_kind(crate::engine::EngineKind::Heavydb);
    ctx.panels.insert("pnl".into(), Panel { id: "strategy_id".into(), key: "trade_date".into(), value: "pnl".into() });
    let col = |n: &str, t: &str| super::Column { name: n.into(), sql_type: t.into() };
    ctx.columns.insert(
        "pnl".into(),
        vec![col("strategy_id", "INT"), col("trade_date", "DATE"), col("zone", "VARCHAR"), col("pnl", "DOUBLE")],
    );
    (Plan::new(stmt), ctx)
}

pub fn pair_corr_plan(candidates: &[&str]) -> (Plan, Context) {
    plan_of("pair_corr", candidates)
}

pub fn sql_plan(sql: &str) -> Plan {
    Plan::new(templates::parse(sql).unwrap())
}

/// One random data set in long form: (strategy, day index, value or NULL).
pub struct Case {
    pub n: usize,
    pub days: usize,
    pub values: Vec<Option<f64>>,
}

/// Quarter units keep sums exact, so the engine's one-pass CORR is exact enough to compare.
pub fn random_case(seed: u64, nulls: bool) -> Case {
    random_case_of(seed, nulls, None)
}

pub fn random_case_of(seed: u64, nulls: bool, n: Option<usize>) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = n.unwrap_or_else(|| rng.random_range(2..=NAMES.len()));
    let days = if seed.is_multiple_of(5) { 1 } else { rng.random_range(2..=7) };
    let mut values = Vec::with_capacity(n * days);
    for s in 0..n {
        let constant = rng.random_bool(0.2);
        let c = rng.random_range(-8..=8) as f64 * 0.25;
        for _ in 0..days {
            let v = if constant {
                c
            } else if rng.random_bool(0.3) {
                1.5 // ties across strategies and days
            } else {
                rng.random_range(-80..=80) as f64 * 0.25
            };
            values.push(if nulls && rng.random_bool(0.15) { None } else { Some(v + (s % 2) as f64) });
        }
    }
    Case { n, days, values }
}

/// A runtime for the tests' engine calls.
pub fn rt() -> Blocking {
    Blocking::new(Some(2)).unwrap()
}

pub fn engine_with(rt: &Blocking, case: &Case) -> (tempfile::TempDir, Embedded) {
    let dir = tempfile::tempdir().unwrap();
    let engine = rt.run(Embedded::open(dir.path(), None)).unwrap();
    let nullable = case.values.iter().any(Option::is_none);
    let pnl_schema = Arc::new(Schema::new(vec![
        Field::new("strategy_id", DataType::Int32, false),
        Field::new("trade_date", DataType::Date32, false),
        Field::new("zone", DataType::Utf8, true),
        Field::new("pnl", DataType::Float64, nullable),
    ]));
    let rows = case.n * case.days;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values((0..rows).map(|r| (r / case.days) as i32))),
        Arc::new(Date32Array::from_iter_values((0..rows).map(|r| 19_000 + (r % case.days) as i32))),
        Arc::new(StringArray::from(vec![None::<&str>; rows])),
        Arc::new(Float64Array::from(case.values.clone())),
    ];
    let pnl = RecordBatch::try_new(pnl_schema.clone(), cols).unwrap();
    let strategies = RecordBatch::try_new(
        crate::tables::strategies_schema(),
        vec![
            Arc::new(Int32Array::from_iter_values(0..case.n as i32)),
            Arc::new(StringArray::from_iter_values(NAMES[..case.n].iter())),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n("f", case.n))),
        ],
    )
    .unwrap();
    rt.run(engine.ingest(vec![
        TableSource::from_batches("pnl", pnl_schema, vec![pnl]),
        TableSource::from_batches("strategies", crate::tables::strategies_schema(), vec![strategies]),
    ]))
    .unwrap();
    (dir, engine)
}

/// Runs `rule` alone on `template` over many random cases; the results must match, and the
/// rule must fire on complete panels where its precondition is about the data.
pub fn assert_rule_keeps_results(rule: &str, template: &str) {
    let rt = rt();
    let mut fired = 0;
    for seed in 0..24u64 {
        let case = random_case(seed, seed % 3 == 2);
        let (_dir, engine) = engine_with(&rt, &case);
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 1000);
        let candidates: Vec<String> =
            NAMES[..case.n].iter().filter(|_| rng.random_bool(0.7)).map(|s| s.to_string()).collect();
        let candidates = if candidates.is_empty() { vec![NAMES[0].to_string()] } else { candidates };
        let params = Params { candidates: Some(candidates), ..Params::default() };
        let stmt = templates::bind(templates::find(template).unwrap(), &params).unwrap();
        let ctx = rt.run(Context::discover(&engine, &stmt)).unwrap();
        let outcome = optimize(stmt.clone(), &ctx, Some(&[rule.to_string()])).unwrap();
        let complete = case.values.iter().all(Option::is_some);
        if outcome.fired().contains(&rule) {
            fired += 1;
        } else if complete || rule == "symmetric_self_join" || rule == "candidate_pushdown" {
            panic!("{rule} did not fire on seed {seed}: {:?}", outcome.steps);
        }
        let original = rt.run(fetch(&engine, &stmt)).unwrap();
        let rewritten = rt
            .run(execute_plan(&engine, &outcome.plan))
            .unwrap_or_else(|e| panic!("{rule}, seed {seed}: {e}\n{}", outcome.plan.statement));
        if let Err(diff) = same_results(&original, &rewritten, 1e-9) {
            panic!("{rule} changed the results on seed {seed}: {diff}\n{}\n{}", stmt, outcome.plan.statement);
        }
    }
    assert!(fired > 0, "{rule} never fired");
}

/// The UPDATE of ulta_update against its CTAS, on in-memory copies (UPDATE needs one).
pub fn assert_update_rewrite_keeps_results() {
    assert_update_keeps_results_of(&|case| {
        let params = Params { inverted: Some(vec![0, (case.n - 1) as i64]), ..Params::default() };
        templates::bind(templates::find("ulta_update").unwrap(), &params).unwrap()
    });
}

/// As [`assert_update_rewrite_keeps_results`], for the UPDATE `stmt_of` gives each data set.
pub fn assert_update_keeps_results_of(stmt_of: &dyn Fn(&Case) -> sqlparser::ast::Statement) {
    let rt = rt();
    for seed in 0..8u64 {
        let case = random_case(seed, seed % 2 == 1);
        let (_dir, engine) = engine_with(&rt, &case);
        let stmt = stmt_of(&case);
        let mut ctx = rt.run(Context::discover(&engine, &stmt)).unwrap();
        ctx.capabilities = crate::engine::EngineKind::Heavydb.capabilities();
        let outcome = optimize(stmt.clone(), &ctx, None).unwrap();
        assert_eq!(outcome.fired(), vec!["update_to_ctas"], "{:?}", outcome.steps);
        // Each side on its own session copy (Parquet tables take no UPDATE); the plan's
        // follow-ups swap the CTAS result into place under the table's name.
        let (original, rewritten) = rt
            .run(async {
                let sandbox = Sandbox::new(&engine, &stmt, &outcome.plan).await?;
                let runs = async {
                    sandbox.reset(&engine).await?;
                    let rewritten = execute_plan(&engine, &outcome.plan).await?;
                    sandbox.reset(&engine).await?;
                    Ok((execute_statement(&engine, &stmt).await?, rewritten))
                }
                .await;
                sandbox.finish(&engine, runs).await
            })
            .unwrap();
        same_results(&original, &rewritten, 0.0).unwrap_or_else(|d| panic!("seed {seed}: {d}"));
        let stored = rt.run(fetch_sql(&engine, "SELECT * FROM pnl")).unwrap();
        assert_eq!(stored.num_rows(), case.n * case.days, "seed {seed}: the stored table is whole again");
    }
}

/// A wide table beside the long one: the column list and its long-table pivot agree.
pub fn assert_wide_rewrite_keeps_results(columns: &[&str]) {
    let rt = rt();
    for seed in 0..6u64 {
        let case = random_case_of(seed, false, Some(NAMES.len()));
        let (_dir, engine) = engine_with(&rt, &case);
        let mut fields = vec![Field::new("Date", DataType::Date32, false)];
        fields.extend(NAMES.iter().map(|n| Field::new(*n, DataType::Float64, true)));
        let schema = Arc::new(Schema::new(fields));
        let mut cols: Vec<ArrayRef> =
            vec![Arc::new(Date32Array::from_iter_values((0..case.days).map(|d| 19_000 + d as i32)))];
        for s in 0..NAMES.len() {
            cols.push(Arc::new(Float64Array::from(case.values[s * case.days..(s + 1) * case.days].to_vec())));
        }
        let wide = RecordBatch::try_new(schema.clone(), cols).unwrap();
        rt.run(engine.ingest(vec![TableSource::from_batches("pnl_wide", schema, vec![wide])])).unwrap();
        let params = Params { columns: Some(columns.iter().map(|s| s.to_string()).collect()), ..Params::default() };
        let stmt = templates::bind(templates::find("wide_select").unwrap(), &params).unwrap();
        let mut ctx = rt.run(Context::discover(&engine, &stmt)).unwrap();
        ctx.capabilities = crate::engine::EngineKind::Heavydb.capabilities();
        let outcome = optimize(stmt.clone(), &ctx, None).unwrap();
        assert_eq!(outcome.fired(), vec!["wide_to_long"], "{:?}", outcome.steps);
        let original = rt.run(fetch(&engine, &stmt)).unwrap();
        let rewritten = rt.run(execute_plan(&engine, &outcome.plan)).unwrap();
        same_results(&original, &rewritten, 0.0)
            .unwrap_or_else(|d| panic!("seed {seed}: {d}\n{}", outcome.plan.statement));
    }
}
