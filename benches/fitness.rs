//! Fitness evaluation on the production shape (25,544 strategies x 82 days), size-50
//! portfolios: our standardized-sums evaluation against the legacy's way (portfolio mean plus
//! lookups in a precomputed correlation matrix, on a 2,000-strategy subset so the matrix fits),
//! batch sizes for the parallel batch path, single-swap incremental scoring, and the whole
//! search at legacy budgets (sizes 35..60, eight algorithms).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;

use heavytune::kernels::{Evaluator, Incremental, Metric, Penalty, base_fitness, portfolio_returns};
use heavytune::search::{Features, Params, Scorer, optimize};
use heavytune::synth::{SynthConfig, generate};

const SIZE: usize = 50;
const BATCH: usize = 4096;

fn portfolios(n: usize, count: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count).map(|_| index::sample(&mut rng, n, SIZE).into_iter().map(|i| i as u32).collect()).collect()
}

/// The legacy scoring: mean returns, metric, then the mean of corr[i][j] over pairs.
fn legacy_score(values: &[f64], d: usize, corr: &[f64], n: usize, pf: &[u32]) -> f64 {
    let p = portfolio_returns(values, d, pf);
    let (base, _) = base_fitness(Metric::Ratio, &p);
    let mut sum = 0.0;
    for (a, &i) in pf.iter().enumerate() {
        for &j in &pf[a + 1..] {
            sum += corr[i as usize * n + j as usize];
        }
    }
    base - 10.0 * sum / (pf.len() * (pf.len() - 1) / 2) as f64
}

fn bench_fitness(c: &mut Criterion) {
    let table = generate(&SynthConfig::default());
    let d = table.n_days();
    let ev = Evaluator::new(&table.values, d, Metric::Ratio, Penalty::default(), None);

    // Legacy comparison on a 2,000-strategy subset: its matrix is 32 MB instead of 5.2 GB.
    let sub_n = 2000;
    let sub_values = &table.values[..sub_n * d];
    let sub_ev = Evaluator::new(sub_values, d, Metric::Ratio, Penalty::default(), None);
    let mut corr = vec![0.0; sub_n * sub_n];
    let z: Vec<Vec<f64>> = (0..sub_n as u32).map(|i| sub_ev.standardized(i)).collect();
    for i in 0..sub_n {
        for j in 0..sub_n {
            corr[i * sub_n + j] = z[i].iter().zip(&z[j]).map(|(a, b)| a * b).sum();
        }
    }
    let sub_pfs = portfolios(sub_n, 1024, 1);
    let mut g = c.benchmark_group("score_size50_subset2000_1thread");
    g.throughput(Throughput::Elements(sub_pfs.len() as u64));
    g.bench_function("legacy_matrix_lookup", |b| {
        b.iter(|| sub_pfs.iter().map(|pf| legacy_score(sub_values, d, &corr, sub_n, pf)).sum::<f64>())
    });
    g.bench_function("standardized_sums", |b| {
        let mut s = sub_ev.scratch();
        b.iter(|| sub_pfs.iter().map(|pf| sub_ev.evaluate(pf, &mut s).fitness).sum::<f64>())
    });
    g.finish();

    let pfs = portfolios(ev.n_strategies(), BATCH, 2);
    let mut g = c.benchmark_group("score_size50_production");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("one_thread", |b| {
        let mut s = ev.scratch();
        b.iter(|| pfs.iter().map(|pf| ev.evaluate(pf, &mut s).fitness).sum::<f64>())
    });
    for batch in [1usize, 8, 64, 512] {
        g.bench_with_input(BenchmarkId::new("rayon_batch", batch), &batch, |b, &batch| {
            b.iter(|| ev.evaluate_batch(&pfs, batch))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("single_swap_size50_production");
    let mut s = ev.scratch();
    let inc = Incremental::new(&ev, pfs[0].clone(), &mut s);
    let incoming: Vec<u32> = pfs[1].iter().copied().filter(|x| !pfs[0].contains(x)).collect();
    g.throughput(Throughput::Elements(incoming.len() as u64));
    g.bench_function("incremental", |b| {
        b.iter(|| {
            incoming.iter().enumerate().map(|(k, &x)| inc.try_swap(&ev, k % SIZE, x, &mut s).fitness).sum::<f64>()
        })
    });
    g.bench_function("full_rescore", |b| {
        b.iter(|| {
            incoming
                .iter()
                .enumerate()
                .map(|(k, &x)| {
                    let mut pf = pfs[0].clone();
                    pf[k % SIZE] = x;
                    ev.evaluate(&pf, &mut s).fitness
                })
                .sum::<f64>()
        })
    });
    g.finish();

    let features = Features::new(&ev);
    let mut g = c.benchmark_group("search_production");
    g.sample_size(10);
    g.bench_function("sizes35_60_all8_legacy_budgets", |b| {
        b.iter(|| {
            optimize(Scorer::cpu(&ev), &features, 35..=60, &(0..8).collect::<Vec<_>>(), &Params::default(), 42, &|_| {})
        })
    });
    g.finish();
}

criterion_group!(benches, bench_fitness);
criterion_main!(benches);
