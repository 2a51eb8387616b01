//! Issue 9: one answer on every path. Random wide files with the cases where the engine path
//! and the in-process path used to part (constant strategies, a constant 0.1, dates out of
//! order, empty, `inf`, `-inf` and `NaN` cells, strongly losing strategies for ULTA), run both
//! ways: ULTA decisions, strategy metrics, standardized values and the best portfolios must be
//! the same bits, on any engine thread count; and every search must finish.

mod common;

use std::path::Path;

use heavytune::engine::{Blocking, Embedded, Temporaries};
use heavytune::kernels::{Metric, Penalty, standardize};
use heavytune::load::{LoadOptions, read_inputs};
use heavytune::pipeline::{RunOutcome, RunSpec, Source, run};
use heavytune::search::Params;
use heavytune::stages::{EngineStats, StageInput, Stats, engine_stats};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random wide CSV with the edge cases; returns its text.
fn random_csv(seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(6..=24);
    let d = if seed.is_multiple_of(7) { 1 } else { rng.random_range(2..=14) };
    let mut dates: Vec<u32> = (1..=d as u32).collect();
    if rng.random_bool(0.5) {
        // Out of order: the legacy keeps file order.
        dates.reverse();
        if d > 2 {
            dates.swap(0, d / 2);
        }
    }
    let kinds: Vec<u32> = (0..n).map(|_| rng.random_range(0..8)).collect();
    let mut text = String::from("Date");
    for s in 0..n {
        text.push_str(&format!(",S{s}"));
    }
    text.push('\n');
    for (t, day) in dates.iter().enumerate() {
        text.push_str(&format!("2024-03-{day:02}"));
        for (s, kind) in kinds.iter().enumerate() {
            let cell = match kind {
                0 => "0.1".to_owned(),                                     // constant, mean rounds away from 0.1
                1 => "125.5".to_owned(),                                   // constant
                2 => format!("{:.2}", -rng.random_range(0.0..90.0) + 5.0), // strongly losing: ULTA
                3 if t == 0 => ["inf", "-inf", "nan", "", "x"][s % 5].to_owned(),
                _ if rng.random_bool(0.05) => ["", "inf", "NaN", "-inf"][rng.random_range(0..4)].to_owned(),
                _ => format!("{:.3}", rng.random_range(-100.0..100.0)),
            };
            text.push(',');
            text.push_str(&cell);
        }
        text.push('\n');
    }
    text
}

fn spec(stats: Stats, ulta: bool, n: usize) -> RunSpec {
    RunSpec {
        min_size: 1,
        max_size: 3.min(n),
        metric: Metric::Ratio,
        algorithms: (0..8).collect(),
        params: Params { generations: 4, population: 4, ..Params::default() },
        ulta,
        penalty: Penalty::default(),
        balanced: None,
        seed: 9,
        strat_limit: None,
        stats,
        device: heavytune::kernels::gpu::DeviceChoice::Cpu,
    }
}

fn stage_stats(rt: &Blocking, path: &Path, ulta: bool, threads: usize) -> EngineStats {
    let table = read_inputs(&[path.to_path_buf()], LoadOptions::default()).unwrap();
    let engine = Embedded::in_memory(Some(threads));
    rt.run(async {
        let mut temps = Temporaries::new(&engine);
        let result = engine_stats(&mut temps, StageInput::Wide(table), ulta).await;
        temps.finish(result).await
    })
    .unwrap()
}

/// The same bits everywhere, or the first place they differ.
fn assert_same_bits(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    if let Some(i) = (0..a.len()).find(|&i| a[i].to_bits() != b[i].to_bits()) {
        panic!("{what}: first difference at {i}: {:e} against {:e}", a[i], b[i]);
    }
}

fn summary(o: &RunOutcome) -> Vec<(usize, Vec<u32>, u64, &'static str)> {
    o.sizes
        .iter()
        .map(|s| {
            (
                s.result.size,
                s.result.best.portfolio.clone(),
                s.result.best.eval.fitness.to_bits(),
                s.result.best.algorithm,
            )
        })
        .collect()
}

#[test]
fn engine_and_local_paths_agree_bit_for_bit() {
    let rt = Blocking::new(Some(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..24u64 {
        let path = dir.path().join(format!("case{seed}.csv"));
        std::fs::write(&path, random_csv(seed)).unwrap();
        let local_table = read_inputs(std::slice::from_ref(&path), LoadOptions::default()).unwrap();
        assert!(local_table.values.iter().all(|v| v.is_finite()), "seed {seed}: non-finite cells are missing cells");
        for ulta in [false, true] {
            let ctx = format!("seed {seed}, ulta {ulta}");
            // The stages: the same values, standardized values and metrics on 1 and 2 threads.
            let one = stage_stats(&rt, &path, ulta, 1);
            let two = stage_stats(&rt, &path, ulta, 2);
            assert_same_bits(&one.z(), &two.z(), &format!("{ctx}: z on 1 and 2 threads"));
            let d = one.table.n_days();
            let mut z = vec![0.0; one.values().len()];
            for (x, zr) in one.values().chunks(d).zip(z.chunks_mut(d)) {
                standardize(x, zr);
            }
            assert_same_bits(&one.z(), &z, &format!("{ctx}: engine z against the local standardize"));

            let engine = Embedded::in_memory(Some(2));
            let n = local_table.n_strategies();
            let e =
                rt.run(run(&Source::Files(vec![path.clone()]), &spec(Stats::Engine, ulta, n), Some(&engine), &|_| {}));
            let l = rt.run(run(&Source::Files(vec![path.clone()]), &spec(Stats::Local, ulta, n), None, &|_| {}));
            let (e, l) = (e.unwrap(), l.unwrap());
            assert_eq!(e.inversions, l.inversions, "{ctx}: ULTA decisions and figures");
            assert_eq!(e.table.names, l.table.names, "{ctx}: column order after ULTA");
            assert_same_bits(&e.table.values, &l.table.values, &format!("{ctx}: values"));
            assert_eq!(e.table.missing_cells, l.table.missing_cells, "{ctx}: missing cells");
            let m = |o: &RunOutcome| -> Vec<[u64; 5]> {
                o.strategy_metrics
                    .iter()
                    .map(|m| [m.roi, m.max_drawdown, m.win_percentage, m.profit_factor, m.expectancy].map(f64::to_bits))
                    .collect()
            };
            assert_eq!(m(&e), m(&l), "{ctx}: strategy metrics");
            assert_eq!(summary(&e), summary(&l), "{ctx}: best portfolios");
        }
    }
}

/// Over several files (merged, not transposed) and with a strategy limit (the first strategies
/// kept), the engine path answers as the in-process path does, bit for bit.
#[test]
fn merged_files_and_a_strategy_limit_answer_alike_on_both_paths() {
    let rt = Blocking::new(Some(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    std::fs::write(&a, random_csv(3)).unwrap();
    std::fs::write(&b, random_csv(5)).unwrap();
    for (files, limit) in [(vec![a.clone()], Some(4)), (vec![a.clone(), b.clone()], None), (vec![a, b], Some(9))] {
        let ctx = format!("{} files, limit {limit:?}", files.len());
        let n = read_inputs(&files, LoadOptions::default()).unwrap().n_strategies();
        let spec = |stats| RunSpec { strat_limit: limit, ..spec(stats, false, limit.map_or(n, |l| l.min(n))) };
        let engine = Embedded::in_memory(Some(2));
        let e = rt.run(run(&Source::Files(files.clone()), &spec(Stats::Engine), Some(&engine), &|_| {})).unwrap();
        let l = rt.run(run(&Source::Files(files), &spec(Stats::Local), None, &|_| {})).unwrap();
        assert_eq!(e.table.names, l.table.names, "{ctx}: strategies");
        assert_eq!(e.table.n_strategies(), limit.map_or(n, |l| l.min(n)), "{ctx}: the limit holds");
        assert_same_bits(&e.table.values, &l.table.values, &format!("{ctx}: values"));
        assert_eq!(e.table.missing_cells, l.table.missing_cells, "{ctx}: missing cells");
        let roi = |o: &RunOutcome| o.strategy_metrics.iter().map(|m| m.roi.to_bits()).collect::<Vec<_>>();
        assert_eq!(roi(&e), roi(&l), "{ctx}: strategy metrics");
        assert_eq!(summary(&e), summary(&l), "{ctx}: best portfolios");
    }
}

#[test]
fn constant_strategies_have_no_correlation_on_either_path() {
    let rt = Blocking::new(Some(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flat.csv");
    std::fs::write(&path, "Date,A,B,C\n2024-01-02,0.1,125.5,1\n2024-01-03,0.1,125.5,-2\n2024-01-04,0.1,125.5,4\n")
        .unwrap();
    let st = stage_stats(&rt, &path, false, 2);
    assert!(st.z()[..6].iter().all(|&v| v == 0.0), "{:?}", &st.z()[..6]);
    assert!(st.z()[6..].iter().any(|&v| v != 0.0));
}

#[test]
fn null_and_non_finite_values_of_a_stored_table_are_missing_cells_on_both_paths() {
    use arrow::array::{Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use heavytune::engine::{Engine, TableSource};
    use std::sync::Arc;

    let rt = Blocking::new(Some(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (n, d) = (6usize, 5usize);
    let schema = Arc::new(Schema::new(vec![
        Field::new("strategy_id", DataType::Int64, false),
        Field::new("seq", DataType::Int32, false),
        Field::new("trade_date", DataType::Date32, false),
        Field::new("zone", DataType::Utf8, true),
        Field::new("pnl", DataType::Float64, true),
    ]));
    let mut values: Vec<Option<f64>> = (0..n * d).map(|i| Some(((i * 37) % 23) as f64 - 11.0)).collect();
    values[3] = None;
    values[7] = Some(f64::INFINITY);
    values[12] = Some(f64::NAN);
    let pnl = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(arrow::array::Int64Array::from_iter_values((0..n * d).map(|r| (r / d) as i64))),
            Arc::new(Int32Array::from_iter_values((0..n * d).map(|r| (r % d) as i32))),
            Arc::new(Date32Array::from_iter_values((0..n * d).map(|r| 19_800 + (r % d) as i32))),
            Arc::new(StringArray::from(vec![None::<&str>; n * d])),
            Arc::new(Float64Array::from(values)),
        ],
    )
    .unwrap();
    let strategies = RecordBatch::try_new(
        heavytune::tables::strategies_schema(),
        vec![
            Arc::new(Int32Array::from_iter_values(0..n as i32)),
            Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("S{i}")))),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n("f", n))),
        ],
    )
    .unwrap();
    let engine = rt.run(Embedded::open(dir.path(), Some(2))).unwrap();
    rt.run(engine.ingest(vec![
        TableSource::from_batches("pnl", schema, vec![pnl]),
        TableSource::from_batches("strategies", heavytune::tables::strategies_schema(), vec![strategies]),
    ]))
    .unwrap();
    let source = Source::Table("pnl".into());
    for ulta in [false, true] {
        let e = rt.run(run(&source, &spec(Stats::Engine, ulta, n), Some(&engine), &|_| {})).unwrap();
        let l = rt.run(run(&source, &spec(Stats::Local, ulta, n), Some(&engine), &|_| {})).unwrap();
        assert_eq!((e.table.missing_cells, l.table.missing_cells), (3, 3), "ulta {ulta}");
        assert!(e.warnings.iter().any(|w| w.contains("3 missing")), "{:?}", e.warnings);
        assert_same_bits(&e.table.values, &l.table.values, "values");
        assert_eq!(summary(&e), summary(&l), "ulta {ulta}");
    }
}

#[test]
fn strategies_split_over_batches_and_partitions_still_sum_in_day_order() {
    use heavytune::synth::{SynthConfig, generate, write_wide_csv};
    // 3,300 strategies x 82 days is more than one 256 K-row batch: the engine sees several
    // batches and, on 2 and 3 threads, several partitions.
    let rt = Blocking::new(Some(3)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.csv");
    let table = generate(&SynthConfig { strategies: 3_300, days: 82, seed: 4 });
    write_wide_csv(&table, &mut std::fs::File::create(&path).unwrap()).unwrap();
    let local = read_inputs(std::slice::from_ref(&path), LoadOptions::default()).unwrap();
    let d = local.n_days();
    let mut z = vec![0.0; local.values.len()];
    for (x, zr) in local.values.chunks(d).zip(z.chunks_mut(d)) {
        standardize(x, zr);
    }
    let metrics: Vec<[u64; 5]> = local
        .values
        .chunks(d)
        .map(|r| {
            let m = heavytune::strategy_metrics::strategy_metrics(r);
            [m.roi, m.max_drawdown, m.win_percentage, m.profit_factor, m.expectancy].map(f64::to_bits)
        })
        .collect();
    for threads in [1, 2, 3] {
        let st = stage_stats(&rt, &path, false, threads);
        // Over files, the values went onto pages while the engine ran, and come back there.
        assert!(st.placed.is_some() && st.table.values.is_empty(), "{threads} threads: values placed");
        assert_same_bits(st.values(), &local.values, &format!("{threads} threads: values"));
        assert_same_bits(&st.z(), &z, &format!("{threads} threads: z"));
        let m: Vec<[u64; 5]> = st
            .metrics
            .iter()
            .map(|m| [m.roi, m.max_drawdown, m.win_percentage, m.profit_factor, m.expectancy].map(f64::to_bits))
            .collect();
        if let Some(i) = (0..m.len()).find(|&i| m[i] != metrics[i]) {
            panic!("{threads} threads: strategy metrics of strategy {i} differ: {:?} against {:?}", m[i], metrics[i]);
        }
    }
    // Stored: loaded on one thread (one Parquet part), run on 1, 2 and 3.
    let db = dir.path().join("db");
    let loader = rt.run(Embedded::open(&db, Some(1))).unwrap();
    rt.run(heavytune::ingest::load_into(&loader, std::slice::from_ref(&path), "pnl", LoadOptions::default())).unwrap();
    for threads in [1, 2, 3] {
        let engine = rt.run(Embedded::open(&db, Some(threads))).unwrap();
        let st = rt
            .run(async {
                let mut temps = Temporaries::new(&engine);
                let input = StageInput::Stored { tables: heavytune::tables::TableNames::for_table("pnl"), limit: None };
                let result = engine_stats(&mut temps, input, false).await;
                temps.finish(result).await
            })
            .unwrap();
        assert_same_bits(st.values(), &local.values, &format!("stored, {threads} threads: values"));
        assert_same_bits(&st.z(), &z, &format!("stored, {threads} threads: z"));
        let m: Vec<[u64; 5]> = st
            .metrics
            .iter()
            .map(|m| [m.roi, m.max_drawdown, m.win_percentage, m.profit_factor, m.expectancy].map(f64::to_bits))
            .collect();
        assert!(m == metrics, "stored, {threads} threads: strategy metrics differ");
    }
}
