//! The rewrite rules' A/B pairs on DataFusion (the same pairs `heavytune bench ab` runs):
//! each template as written against the plan after one rule, or after all of them, on
//! production-shape synthetic data. Also the engine stages of a run (ULTA, metrics,
//! standardization) on the full 25,544 x 82 table, and the run's own metrics statement
//! (`strategy_stats` over the session tables of a run over files) taken apart: binding and
//! rewriting, DataFusion's planning, planning and executing, executing a plan made once (the
//! stage with no planning left), beside the in-process stages it replaces, in the same run.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use heavytune::engine::{Blocking, Embedded, Engine, EngineKind, TableSource, fetch_sql};
use heavytune::exec::{execute_plan, execute_statement, standardized_rows};
use heavytune::ingest::table_sources;
use heavytune::rewrite::{Context, optimize};
use heavytune::synth::{SynthConfig, generate};
use heavytune::tables::TableNames;
use heavytune::templates::{self, Params};

fn engine(rt: &Blocking, strategies: usize) -> (tempfile::TempDir, Embedded, Vec<String>) {
    let table = generate(&SynthConfig { strategies, ..SynthConfig::default() });
    let names = table.names.clone();
    let dir = tempfile::tempdir().unwrap();
    let e = rt.run(Embedded::open(dir.path(), None)).unwrap();
    rt.run(e.ingest(table_sources(table, &TableNames::for_table("pnl")).unwrap())).unwrap();
    (dir, e, names)
}

fn wide_table(rt: &Blocking, e: &Embedded, names: &[String]) -> TableSource {
    use arrow::array::{ArrayRef, AsArray, RecordBatch};
    use arrow::datatypes::{DataType, Field, Float64Type, Schema};
    use std::sync::Arc;
    let out = rt.run(fetch_sql(e, "SELECT trade_date, pnl FROM pnl ORDER BY strategy_id, trade_date")).unwrap();
    let dates = out.batches[0].column(0).slice(0, out.num_rows() / names.len());
    let mut values = Vec::new();
    for b in &out.batches {
        values.extend_from_slice(b.column(1).as_primitive::<Float64Type>().values());
    }
    let days = dates.len();
    let mut fields = vec![Field::new("Date", DataType::Date32, false)];
    fields.extend(names.iter().map(|n| Field::new(n, DataType::Float64, false)));
    let mut cols: Vec<ArrayRef> = vec![dates];
    for s in 0..names.len() {
        cols.push(Arc::new(arrow::array::Float64Array::from(values[s * days..(s + 1) * days].to_vec())));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    TableSource::from_batches("pnl_wide", schema, vec![batch])
}

#[allow(clippy::too_many_arguments)]
fn pair(
    c: &mut Criterion,
    rt: &Blocking,
    e: &Embedded,
    group: &str,
    template: &str,
    params: &Params,
    rules: &[&[&str]],
) {
    let stmt = templates::bind(templates::find(template).unwrap(), params).unwrap();
    let mut ctx = rt.run(Context::discover(e, &stmt)).unwrap();
    // Plan for HeavyDB so the rules that decline on DataFusion still get measured here.
    ctx.capabilities = EngineKind::Heavydb.capabilities();
    let mut g = c.benchmark_group(group);
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.bench_function("original", |b| b.iter(|| rt.run(execute_statement(e, &stmt)).unwrap()));
    for rs in rules {
        let only: Vec<String> = rs.iter().map(|s| s.to_string()).collect();
        let outcome = optimize(stmt.clone(), &ctx, Some(&only)).unwrap();
        assert_eq!(outcome.fired().len(), rs.len(), "{group}: {:?}", outcome.steps);
        g.bench_function(rs.join("+"), |b| b.iter(|| rt.run(execute_plan(e, &outcome.plan)).unwrap()));
    }
    g.finish();
}

fn bench_rules(c: &mut Criterion) {
    // 200 candidates of 2,000 strategies: the naive self-join makes 200^2 x 82 rows.
    let rt = Blocking::new(None).unwrap();
    let (_dir, e, names) = engine(&rt, 2_000);
    let candidates: Vec<String> = names.iter().step_by(10).cloned().collect();
    let params = Params { candidates: Some(candidates), ..Params::default() };
    pair(
        c,
        &rt,
        &e,
        "pair_corr_200",
        "pair_corr",
        &params,
        &[
            &["candidate_pushdown"],
            &["symmetric_self_join"],
            &["corr_by_moments"],
            &["candidate_pushdown", "corr_by_moments", "symmetric_self_join"],
            &["correlation_to_kernel"],
        ],
    );

    // The wide table of the same 2,000 strategies (Date, then one column each), in memory.
    let wide = wide_table(&rt, &e, &names);
    rt.run(e.create_temporary(wide)).unwrap();
    let params = Params { columns: Some(names.iter().step_by(40).cloned().collect()), ..Params::default() };
    pair(c, &rt, &e, "wide_select_50_of_2000", "wide_select", &params, &[&["wide_to_long"]]);

    // UPDATE needs an in-memory table; the CTAS reads the same one.
    let out = rt.run(fetch_sql(&e, "SELECT * FROM pnl")).unwrap();
    rt.run(e.create_temporary(TableSource::from_batches("pnl", out.schema, out.batches))).unwrap();
    let params = Params { inverted: Some((0..2_000).step_by(3).collect()), ..Params::default() };
    pair(c, &rt, &e, "ulta_update", "ulta_update", &params, &[&["update_to_ctas"]]);
}

fn bench_engine_stages(c: &mut Criterion) {
    let rt = Blocking::new(None).unwrap();
    let (_dir, e, _) = engine(&rt, 25_544);

    // The full 25,544-strategy request through the correlation_to_kernel plan: the engine's
    // standardized values, then Z Z^T streamed in blocks into a reducer (the n^2 = 652 M pairs
    // would be 5.2 GB as a matrix). The naive self-join (2,094,608^2 / 82 rows) cannot finish.
    let stmt = templates::bind(templates::find("pair_corr_all").unwrap(), &Params::default()).unwrap();
    let ctx = rt.run(Context::discover(&e, &stmt)).unwrap();
    let outcome = optimize(stmt, &ctx, Some(&["correlation_to_kernel".to_string()])).unwrap();
    assert_eq!(outcome.fired(), ["correlation_to_kernel"]);
    let mut g = c.benchmark_group("pair_corr_all_25544");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(20));
    g.bench_function("correlation_to_kernel_streamed", |b| {
        b.iter(|| {
            let out = rt.run(execute_statement(&e, &outcome.plan.statement)).unwrap();
            let (_, z) = standardized_rows(&out).unwrap();
            let strong = std::sync::atomic::AtomicUsize::new(0);
            z.for_each_block(|_, block| {
                let n = block.iter().filter(|v| v.abs() > 0.5).count();
                strong.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            });
            strong.into_inner()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("engine_stages_25544x82");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5));
    for name in ["ulta_strategies", "strategy_metrics", "standardize"] {
        let stmt = templates::bind(templates::find(name).unwrap(), &Params::default()).unwrap();
        g.bench_function(name, |b| b.iter(|| rt.run(execute_statement(&e, &stmt)).unwrap()));
    }
    g.finish();
}

/// `strategy_stats` as a run over files sends it (no ORDER BY), over session tables made as the
/// run makes them (a replayed long table and its series view, over the values, not a copy),
/// in parts; and `--stats local`'s metrics and standardization of the same values.
fn bench_run_statement(c: &mut Criterion) {
    use heavytune::kernels::pages::HugeVec;
    use heavytune::kernels::{Evaluator, Metric, Penalty};
    use heavytune::load::arriving::{Arriving, shared_pages};
    use heavytune::strategy_metrics::{StrategyMetrics, strategy_metrics};
    use rayon::prelude::*;

    let rt = Blocking::new(None).unwrap();
    let table = generate(&SynthConfig::default());
    let e = Embedded::in_memory(None);
    let names = TableNames::for_table("ht_run_input");
    // The values as a run lays them out (written into HugeVec::zeroed by the loader, moved to
    // the 2 MiB boundary), for the engine's tables and for the local stages alike.
    let laid_out = || {
        let mut values = HugeVec::zeroed(table.values.len());
        values.copy_from_slice(&table.values);
        values
    };
    let pages = std::sync::Arc::new(HugeVec::moved(laid_out()));
    pages.advise();
    let values = Arriving::now(shared_pages(&pages));
    let long = heavytune::load::long::REPLAY_BATCH_ROWS;
    for source in heavytune::ingest::sources_over(&table, values, &names, long).unwrap() {
        rt.run(e.create_temporary(source)).unwrap();
    }
    let rewritten = || {
        let stmt = heavytune::stages::stats_statement(&names).unwrap();
        let ctx = rt.run(Context::discover(&e, &stmt)).unwrap();
        optimize(stmt, &ctx, None).unwrap()
    };
    assert_eq!(rewritten().fired(), ["series_to_aggregate", "series_view"]);
    let plan = rewritten().plan;
    let rows = rt.run(execute_plan(&e, &plan)).unwrap().num_rows();
    assert_eq!(rows, table.n_strategies());

    let mut g = c.benchmark_group("run_strategy_stats_25544x82");
    g.sample_size(30).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4));
    g.bench_function("engine_bind_and_rewrite", |b| b.iter(rewritten));
    // EXPLAIN: the logical plan, its optimization and the physical plan, as text.
    g.bench_function("engine_datafusion_plan", |b| b.iter(|| rt.run(e.explain(&plan.statement, false)).unwrap()));
    g.bench_function("engine_plan_and_execute", |b| b.iter(|| rt.run(execute_plan(&e, &plan)).unwrap()));
    g.bench_function("engine_whole_statement", |b| b.iter(|| rt.run(execute_plan(&e, &rewritten().plan)).unwrap()));
    let d = table.n_days();
    // The stage as it would be with no planning at all (a plan made once, as a prepared
    // statement would keep it): executing, reading the rows into metrics and moments, and
    // standardizing the values by those moments, against local's stage on the same values.
    let planned = rt.run(e.plan_once(&plan.statement)).unwrap();
    g.bench_function("engine_execute_planned", |b| b.iter(|| rt.run(e.execute_planned(&planned)).unwrap()));
    let rows = rt.run(e.execute_planned(&planned)).unwrap();
    let n = table.n_strategies();
    g.bench_function("engine_read_stats", |b| b.iter(|| heavytune::stages::read_stats(&rows, n).unwrap()));
    let (_, moments, squares) = heavytune::stages::read_stats(&rows, n).unwrap();
    let exact = heavytune::stages::squares_from_figures(&plan.statement);
    assert!(exact, "the run's statement reads z_squares from the series figures");
    let standardize = |values, moments, squares| {
        Evaluator::with_moments_placed(values, moments, Some(squares), d, Metric::Ratio, Penalty::default(), None)
    };
    g.bench_function("engine_standardize_by_moments", |b| {
        b.iter_batched(
            || (HugeVec::moved(laid_out()), moments.clone(), squares.clone()),
            |(values, moments, squares)| standardize(values, moments, squares),
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("engine_stage_planned_once", |b| {
        b.iter_batched(
            || HugeVec::moved(laid_out()),
            |values| {
                let out = rt.run(e.execute_planned(&planned)).unwrap();
                let (metrics, moments, squares) = heavytune::stages::read_stats(&out, n).unwrap();
                (metrics, standardize(values, moments, squares))
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("local_metrics_and_standardize", |b| {
        b.iter_batched(
            laid_out,
            |values| {
                let metrics: Vec<StrategyMetrics> = values.par_chunks(d).map(strategy_metrics).collect();
                let ev = Evaluator::from_values(values, d, Metric::Ratio, Penalty::default(), None);
                (metrics, ev)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_rules, bench_engine_stages, bench_run_statement);
criterion_main!(benches);
