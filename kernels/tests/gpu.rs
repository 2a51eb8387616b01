//! The GPU test set: the kernels on a real GPU against the CPU path. Ignored without one; on
//! a GPU machine (which has no Rust: build `cargo test -p heavytune-kernels --test gpu
//! --no-run` here and carry the binary) run it with `--ignored`.

mod common;

use std::sync::Arc;

use heavytune_kernels::gpu::{Gpu, GpuCorr, GpuFitness};
use heavytune_kernels::{Eval, Evaluator, Incremental, Metric, Penalty, Standardized};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn evaluator(seed: u64, n: usize, d: usize, metric: Metric, balanced: bool) -> Evaluator {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values: Vec<f64> = (0..n * d).map(|_| rng.random_range(-400..400) as f64 * 0.37).collect();
    values[d..2 * d].iter_mut().for_each(|v| *v = 2.5); // a constant strategy
    values[3 * d] = f64::NAN;
    values[4 * d] = f64::INFINITY;
    let balance = balanced.then(|| common::three_label_balance(n));
    Evaluator::new(&values, d, metric, Penalty { weight: 10.0, drawdown_threshold: 0.5 }, balance)
}

fn same(a: &Eval, b: &Eval) -> bool {
    let bits = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    bits(a.fitness, b.fitness) && bits(a.base_fitness, b.base_fitness) && bits(a.avg_corr, b.avg_corr)
}

fn gpu() -> Arc<Gpu> {
    Arc::new(Gpu::open(0).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
#[ignore = "needs a GPU: run this binary with --ignored on a GPU machine"]
fn batch_fitness_on_the_gpu_gives_the_cpu_bits() {
    let gpu = gpu();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (i, metric) in Metric::ALL.into_iter().enumerate() {
        for (n, d, k, count) in [(2000, 82, 50, 4099), (30, 1, 3, 33), (100, 40, 1, 7)] {
            let ev = evaluator(i as u64, n, d, metric, i % 2 == 0);
            let g = GpuFitness::new(gpu.clone(), &ev).unwrap();
            let pfs: Vec<Vec<u32>> = (0..count)
                .map(|_| rand::seq::index::sample(&mut rng, n, k).into_iter().map(|x| x as u32).collect())
                .collect();
            let on_gpu = g.evaluate_batch(&pfs).unwrap();
            let mut s = ev.scratch();
            for (pf, e) in pfs.iter().zip(&on_gpu) {
                let cpu = ev.evaluate(pf, &mut s);
                assert!(same(&cpu, e), "{metric} n {n} d {d} k {k}: GPU {e:?} CPU {cpu:?}");
            }
            let t = g.traffic();
            assert_eq!(t.evaluations, count as u64);
            assert_eq!(t.bytes_up, (count * k * 4) as u64);
        }
    }
}

#[test]
#[ignore = "needs a GPU: run this binary with --ignored on a GPU machine"]
fn swaps_on_the_gpu_give_the_cpu_bits() {
    let gpu = gpu();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for metric in Metric::ALL {
        let ev = evaluator(9, 500, 82, metric, true);
        let g = GpuFitness::new(gpu.clone(), &ev).unwrap();
        let mut s = ev.scratch();
        let inc = Incremental::new(&ev, (10..60).collect(), &mut s);
        let swaps: Vec<(usize, u32)> = (0..1000).map(|_| (rng.random_range(0..50), rng.random_range(0..500))).collect();
        let on_gpu = g.try_swaps(&inc, &swaps).unwrap();
        for (&(p, x), e) in swaps.iter().zip(&on_gpu) {
            let cpu = inc.try_swap(&ev, p, x, &mut s);
            assert!(same(&cpu, e), "{metric}: swap ({p}, {x}) GPU {e:?} CPU {cpu:?}");
        }
    }
}

#[test]
#[ignore = "needs a GPU: run this binary with --ignored on a GPU machine"]
fn correlation_blocks_on_the_gpu_match_the_cpu() {
    let gpu = gpu();
    let ev = evaluator(3, 700, 82, Metric::Ratio, false);
    let n = ev.n_strategies();
    let z: Vec<f64> = (0..n as u32).flat_map(|s| ev.standardized(s).to_vec()).collect();
    let flat = (0..n as u32).map(|s| ev.squared_norms()[s as usize] == 0.0).collect();
    let st = Standardized { n, d: 82, z, flat };
    let g = GpuCorr::new(gpu, &st).unwrap();
    let rows = 100..357;
    let (mut cpu, mut on_gpu) = (vec![0.0; rows.len() * n], vec![0.0; rows.len() * n]);
    st.gram_block(rows.clone(), &mut cpu);
    g.gram_block(rows, &mut on_gpu).unwrap();
    for (i, (a, b)) in cpu.iter().zip(&on_gpu).enumerate() {
        assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "value {i}: CPU {a} GPU {b}");
    }
}
