//! Issue 2: synthetic data written as CSV, loaded into the engine and read back bit for bit,
//! and the loader's values checked against the legacy parity vectors.

mod common;

use arrow::array::AsArray;
use arrow::datatypes::{Date32Type, Float64Type, Int32Type};
use heavytune::engine::{Blocking, ConnectOptions, Engine, connect, fetch_sql};
use heavytune::ingest::load_into;
use heavytune::load::{LoadOptions, read_inputs};
use heavytune::strategy_metrics::strategy_metrics;
use heavytune::synth::{SynthConfig, generate, write_wide_csv};

#[test]
fn synthetic_csv_round_trips_through_the_engine_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // The production shape: 25,544 strategies x 82 days.
    let table = generate(&SynthConfig::default());
    let csv = dir.path().join("synth.csv");
    write_wide_csv(&table, &mut std::fs::File::create(&csv).unwrap()).unwrap();

    let rt = Blocking::new(None).unwrap();
    let options = ConnectOptions { db: Some(dir.path().join("db")), ..ConnectOptions::default() };
    let engine = rt.run(connect("embedded", &options)).unwrap();
    let summary = rt.run(load_into(engine.as_ref(), &[csv], "pnl", LoadOptions::default())).unwrap();
    assert_eq!((summary.strategies, summary.days, summary.pnl_rows), (25_544, 82, 2_094_608));
    let counts = rt
        .run(fetch_sql(
            engine.as_ref(),
            "SELECT (SELECT count(*) FROM pnl) AS p, (SELECT count(*) FROM strategies) AS s",
        ))
        .unwrap();
    let b = &counts.batches[0];
    assert_eq!(b.column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0), 2_094_608);
    assert_eq!(b.column(1).as_primitive::<arrow::datatypes::Int64Type>().value(0), 25_544);

    // A second process sees the same tables.
    let engine: Box<dyn Engine> = rt.run(connect("embedded", &options)).unwrap();
    let out = rt
        .run(fetch_sql(
            engine.as_ref(),
            "SELECT strategy_id, trade_date, pnl FROM pnl ORDER BY strategy_id, trade_date",
        ))
        .unwrap();
    let mut i = 0;
    for b in &out.batches {
        let ids = b.column(0).as_primitive::<Int32Type>();
        let dates = b.column(1).as_primitive::<Date32Type>();
        let pnl = b.column(2).as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            let (s, d) = (i / 82, i % 82);
            assert_eq!(ids.value(r) as usize, s);
            assert_eq!(dates.value(r), table.dates[d]);
            assert_eq!(pnl.value(r).to_bits(), table.values[i].to_bits(), "strategy {s} day {d}");
            i += 1;
        }
    }
    assert_eq!(i, 2_094_608);
    let names = rt.run(fetch_sql(engine.as_ref(), "SELECT name FROM strategies ORDER BY strategy_id")).unwrap();
    // DataFusion reads Parquet text as Utf8View: cast to plain Utf8 to compare.
    let got: Vec<String> = names
        .batches
        .iter()
        .flat_map(|b| {
            let col = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
            col.as_string::<i32>().iter().map(|s| s.unwrap().to_owned()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(got, table.names);
}

fn close(a: f64, b: f64) -> bool {
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn loaded_parity_data_gives_the_legacy_strategy_metrics() {
    let table = read_inputs(&[common::parity("small.csv")], LoadOptions::default()).unwrap();
    assert_eq!(table.missing_cells, 30);
    let expected = std::fs::read_to_string(common::parity("strategy_metrics.csv")).unwrap();
    let mut rows = 0;
    for line in expected.lines().skip(1) {
        let f: Vec<&str> = line.rsplitn(6, ',').collect();
        let raw = f[5];
        let name = if raw.starts_with('"') { raw[1..raw.len() - 1].replace("\"\"", "\"") } else { raw.to_owned() };
        let s = table.names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("no strategy {name:?}"));
        let m = strategy_metrics(table.strategy(s));
        let want: Vec<f64> = f[..5].iter().rev().map(|x| x.parse().unwrap()).collect();
        let got = [m.roi, m.max_drawdown, m.win_percentage, m.profit_factor, m.expectancy];
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(close(*g, *w), "{name} metric {k}: got {g}, want {w}");
        }
        rows += 1;
    }
    assert_eq!(rows, table.n_strategies());
}
