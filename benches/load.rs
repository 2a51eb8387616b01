//! Loading the production shape (25,544 strategies x 82 days, ~40 MB): parsing alone, and the
//! whole `heavytune load` path into the embedded engine. The pandas side-by-side run is
//! `benches/load_vs_pandas.py` (same file, same machine, one run).

use criterion::{Criterion, criterion_group, criterion_main};
use heavytune::engine::{Blocking, ConnectOptions, connect};
use heavytune::ingest::load_into;
use heavytune::load::{LoadOptions, read_inputs};
use heavytune::synth::{SynthConfig, generate, write_wide_csv};

fn bench_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("production_shape.csv");
    let table = generate(&SynthConfig::default());
    write_wide_csv(&table, &mut std::io::BufWriter::new(std::fs::File::create(&csv).expect("create"))).expect("write");
    drop(table);
    let inputs = vec![csv];

    let mut group = c.benchmark_group("load_production_shape");
    group.sample_size(20);
    group.bench_function("parse_wide_csv", |b| b.iter(|| read_inputs(&inputs, LoadOptions::default()).expect("parse")));
    let rt = Blocking::new(None).expect("runtime");
    let options = ConnectOptions { db: Some(dir.path().join("db")), ..ConnectOptions::default() };
    let engine = rt.run(connect("embedded", &options)).expect("engine");
    group.bench_function("load_into_datafusion", |b| {
        b.iter(|| rt.run(load_into(engine.as_ref(), &inputs, "pnl", LoadOptions::default())).expect("load"))
    });
    group.finish();
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
