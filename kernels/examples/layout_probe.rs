//! Measures the CPU batch fitness's memory layout against the single-pass layout that issue 13
//! proposes, on production-shape random data, two ways each, in one run (rounds alternate):
//!
//! - `panel`: today's [`Evaluator`]: each strategy's P&L and standardized values side by side
//!   (2 x days doubles per strategy, 33.5 MB at production shape);
//! - `single`: P&L rows only (16.8 MB, inside this machine's 32 MiB L3), the standardized sum
//!   computed on the fly from each strategy's mean and inverse norm;
//! - `single+prefetch`: the same, prefetching the row three members ahead;
//! - `exact+prefetch`: `(x - mean) / norm` instead of `* inv`: the standardized values the
//!   SQL template and the CPU compute today, bit for bit, at the cost of a division.
//!
//! The `* inv` variants are a probe, not a drop-in: they round differently from today's
//! `(x - mean) / norm`, so adopting them means changing the SQL template and the CPU together.
//! `N=600` puts the data in L2 and shows the compute ceiling.
//!
//! `cargo run --release -p heavytune-kernels --example layout_probe` (N=strategies optional).

use std::time::Instant;

use heavytune_kernels::{Evaluator, Metric, Penalty, base_fitness};
use rayon::prelude::*;

const D: usize = 82;
const K: usize = 50;
const BATCH: usize = 4096;

struct Single<'a> {
    values: &'a [f64],
    mean: Vec<f64>,
    inv: Vec<f64>,
    /// The norm, infinite for a flat strategy (so its values divide to 0).
    norm: Vec<f64>,
    zz: &'a [f64],
}

impl Single<'_> {
    fn fitness(&self, pf: &[u32], acc: &mut [f64], p: &mut [f64], prefetch: bool, exact: bool) -> f64 {
        acc.iter_mut().for_each(|a| *a = 0.0);
        let mut z2 = 0.0;
        for (j, &i) in pf.iter().enumerate() {
            #[cfg(target_arch = "x86_64")]
            if prefetch && let Some(&ahead) = pf.get(j + 3) {
                let row = &self.values[ahead as usize * D..(ahead as usize + 1) * D];
                for line in row.chunks(8) {
                    // SAFETY: a prefetch hint of a valid address; it reads nothing.
                    unsafe { std::arch::x86_64::_mm_prefetch(line.as_ptr().cast(), std::arch::x86_64::_MM_HINT_T0) };
                }
            }
            let row = &self.values[i as usize * D..(i as usize + 1) * D];
            let (m, iv, norm) = (self.mean[i as usize], self.inv[i as usize], self.norm[i as usize]);
            let (r, zs) = acc.split_at_mut(D);
            if exact {
                for ((r, z), &x) in r.iter_mut().zip(zs.iter_mut()).zip(row) {
                    *r += x;
                    *z += (x - m) / norm;
                }
            } else {
                for ((r, z), &x) in r.iter_mut().zip(zs.iter_mut()).zip(row) {
                    *r += x;
                    *z += (x - m) * iv;
                }
            }
            z2 += self.zz[i as usize];
        }
        let kf = K as f64;
        p.iter_mut().zip(&acc[..D]).for_each(|(p, a)| *p = a / kf);
        let (base, _) = base_fitness(Metric::Ratio, p);
        let zsum2: f64 = acc[D..].iter().map(|v| v * v).sum();
        base - 10.0 * (zsum2 - z2) / (kf * (kf - 1.0))
    }
}

fn per_second(seconds: f64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut reps = 0;
    while start.elapsed().as_secs_f64() < seconds {
        f();
        reps += 1;
    }
    (reps * BATCH) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(25_544);
    let mut state = 42u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let values: Vec<f64> = (0..n * D).map(|_| (next() % 20_000) as f64 / 100.0 - 95.0).collect();
    let ev = Evaluator::new(&values, D, Metric::Ratio, Penalty::default(), None);
    let portfolios: Vec<Vec<u32>> = (0..BATCH)
        .map(|_| {
            let mut pf = Vec::with_capacity(K);
            while pf.len() < K {
                let c = (next() % n as u64) as u32;
                if !pf.contains(&c) {
                    pf.push(c);
                }
            }
            pf
        })
        .collect();
    let (mut mean, mut inv, mut norms) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for s in 0..n {
        let x = &values[s * D..(s + 1) * D];
        let m = x.iter().sum::<f64>() / D as f64;
        let norm = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>().sqrt();
        (mean[s], inv[s], norms[s]) =
            (m, if norm > 0.0 { 1.0 / norm } else { 0.0 }, if norm > 0.0 { norm } else { f64::INFINITY });
    }
    let single = Single { values: &values, mean, inv, norm: norms, zz: ev.squared_norms() };
    let run_single = |prefetch: bool, exact: bool| {
        let v: Vec<f64> = portfolios
            .par_iter()
            .with_min_len(64)
            .map_init(|| (vec![0.0; 2 * D], vec![0.0; D]), |(a, p), pf| single.fitness(pf, a, p, prefetch, exact))
            .collect();
        std::hint::black_box(v);
    };
    println!("{n} strategies x {D} days, size {K}, batch {BATCH}, {} threads", rayon::current_num_threads());
    for round in 0..3 {
        let panel = per_second(2.0, || {
            std::hint::black_box(ev.evaluate_batch(&portfolios, 64));
        });
        let plain = per_second(2.0, || run_single(false, false));
        let prefetched = per_second(2.0, || run_single(true, false));
        let exact = per_second(2.0, || run_single(true, true));
        println!(
            "round {round}: panel {panel:.0}/s, single {plain:.0}/s ({:.2}x), single+prefetch {prefetched:.0}/s ({:.2}x), exact+prefetch {exact:.0}/s ({:.2}x)",
            plain / panel,
            prefetched / panel,
            exact / panel
        );
    }
}
