//! Measures the CPU batch fitness's layout against the one it replaced and one it could go to,
//! on production-shape random data, in one run (the layouts alternate within each round):
//!
//! - `panel`: the former layout, each strategy's P&L and standardized values side by side
//!   (2 x days doubles per strategy, 33.5 MB at production shape), as this probe sums it;
//! - `evaluator`: today's [`Evaluator`]: P&L rows (16.8 MB at production shape, inside this
//!   machine's 32 MiB L3) with the standardized values computed on the fly as
//!   `(x - mean) / norm` (the same bits), the row three members ahead prefetched; below
//!   `STORE_Z_MAX_BYTES` (as with `N=600`) it reads stored standardized values instead;
//! - `mul`: the same with `(x - mean) * inv_norm`, which rounds differently (adopting it would
//!   mean changing the SQL template and the CPU together).
//!
//! `N=600` puts the data in L2 and shows the compute ceiling. Run with
//! `cargo run --release -p heavytune-kernels --example layout_probe`.

use std::time::Instant;

use heavytune_kernels::{Evaluator, Metric, Penalty, base_fitness};
use rayon::prelude::*;

const D: usize = 82;
const K: usize = 50;
const BATCH: usize = 4096;

/// One portfolio's fitness with its scratch buffers.
type Score<'a> = dyn Fn(&[u32], &mut [f64], &mut [f64]) -> f64 + Sync + 'a;

/// The former [returns | z] rows, or the P&L rows with a multiplication by the inverse norm.
struct Probe<'a> {
    panel: Vec<f64>,
    values: &'a [f64],
    mean: Vec<f64>,
    inv: Vec<f64>,
    zz: &'a [f64],
}

impl Probe<'_> {
    fn finish(acc: &[f64], p: &mut [f64], z2: f64) -> f64 {
        let kf = K as f64;
        p.iter_mut().zip(&acc[..D]).for_each(|(p, a)| *p = a / kf);
        let (base, _) = base_fitness(Metric::Ratio, p);
        let zsum2: f64 = acc[D..].iter().map(|v| v * v).sum();
        base - 10.0 * (zsum2 - z2) / (kf * (kf - 1.0))
    }

    fn panel_fitness(&self, pf: &[u32], acc: &mut [f64], p: &mut [f64]) -> f64 {
        acc.iter_mut().for_each(|a| *a = 0.0);
        let mut z2 = 0.0;
        for &i in pf {
            let row = &self.panel[i as usize * 2 * D..(i as usize + 1) * 2 * D];
            acc.iter_mut().zip(row).for_each(|(a, x)| *a += x);
            z2 += self.zz[i as usize];
        }
        Self::finish(acc, p, z2)
    }

    fn mul_fitness(&self, pf: &[u32], acc: &mut [f64], p: &mut [f64]) -> f64 {
        acc.iter_mut().for_each(|a| *a = 0.0);
        let mut z2 = 0.0;
        for (j, &i) in pf.iter().enumerate() {
            #[cfg(target_arch = "x86_64")]
            if let Some(&ahead) = pf.get(j + 3) {
                for line in self.values[ahead as usize * D..(ahead as usize + 1) * D].chunks(8) {
                    // SAFETY: a prefetch hint of a valid address; it reads nothing.
                    unsafe { std::arch::x86_64::_mm_prefetch(line.as_ptr().cast(), std::arch::x86_64::_MM_HINT_T0) };
                }
            }
            let row = &self.values[i as usize * D..(i as usize + 1) * D];
            let (m, iv) = (self.mean[i as usize], self.inv[i as usize]);
            let (r, zs) = acc.split_at_mut(D);
            for ((r, z), &x) in r.iter_mut().zip(zs.iter_mut()).zip(row) {
                *r += x;
                *z += (x - m) * iv;
            }
            z2 += self.zz[i as usize];
        }
        Self::finish(acc, p, z2)
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
    let (mut mean, mut inv) = (vec![0.0; n], vec![0.0; n]);
    for s in 0..n {
        let x = &values[s * D..(s + 1) * D];
        let m = x.iter().sum::<f64>() / D as f64;
        let norm = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>().sqrt();
        (mean[s], inv[s]) = (m, if norm > 0.0 { 1.0 / norm } else { 0.0 });
    }
    let probe = Probe { panel: ev.panel(), values: &values, mean, inv, zz: ev.squared_norms() };
    let run = |f: &Score| {
        let v: Vec<f64> = portfolios
            .par_iter()
            .with_min_len(64)
            .map_init(|| (vec![0.0; 2 * D], vec![0.0; D]), |(a, p), pf| f(pf, a, p))
            .collect();
        std::hint::black_box(v);
    };
    println!("{n} strategies x {D} days, size {K}, batch {BATCH}, {} threads", rayon::current_num_threads());
    for round in 0..3 {
        let panel = per_second(2.0, || run(&|pf, a, p| probe.panel_fitness(pf, a, p)));
        let evaluator = per_second(2.0, || {
            std::hint::black_box(ev.evaluate_batch(&portfolios, 64));
        });
        let mul = per_second(2.0, || run(&|pf, a, p| probe.mul_fitness(pf, a, p)));
        println!(
            "round {round}: panel {panel:.0}/s, evaluator {evaluator:.0}/s ({:.2}x), mul {mul:.0}/s ({:.2}x)",
            evaluator / panel,
            mul / panel
        );
    }
}
