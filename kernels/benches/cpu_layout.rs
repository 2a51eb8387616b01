//! The CPU batch fitness and single-swap scoring against the layout they replaced, in one run,
//! on the production shape (25,544 strategies x 82 days of random P&L, size-50 portfolios,
//! batches of 4,096 over rayon's threads):
//!
//! - `old_layout`: the evaluator as it was before (commit 981768a), copied here as the
//!   baseline: P&L rows with each standardized value computed as `(x - mean) / norm` (a
//!   division per value), baseline SSE2 code, rows prefetched three members ahead within a
//!   portfolio only, and the series recurrence with branches on each day's sign and `f64::max`;
//! - `evaluator`: today's [`Evaluator`] and [`Incremental`]: `(x - mean) * inv_norm`, row sums
//!   compiled for the widest vectors the CPU has, the prefetch running on into the next
//!   candidate with each strategy's constants, the values on 2 MiB pages where the OS allows,
//!   a branchless recurrence, and in a batch each candidate's scoring spread over the next
//!   candidate's row sums.
//!
//! - `rows_only`: the floor of any layout that reads the members' P&L rows: the 50 rows summed
//!   (with the same prefetch), no standardized values, no scoring, over the evaluator's values
//!   (on 2 MiB pages where the OS allows: the bench prints how many); `rows_only_4k_pages`
//!   the same over the values as allocated. At production shape the rows come from memory, so
//!   these are about the rates the machine's memory allows.
//!
//! Run with `cargo bench -p heavytune-kernels --bench cpu_layout`; criterion prints the
//! evaluations per second of each (`thrpt`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use heavytune_kernels::standardize::{Moments, squared_norm};
use heavytune_kernels::{Evaluator, Incremental, Metric, Penalty, SeriesStats};
use rayon::prelude::*;

const D: usize = 82;
const N: usize = 25_544;
const K: usize = 50;
const BATCH: usize = 4096;
const SWAPS: usize = 16_384;

/// The old layout: P&L rows, each strategy's moments and |z|^2 in arrays of their own.
struct OldLayout<'a> {
    values: &'a [f64],
    moments: Vec<Moments>,
    zz: Vec<f64>,
}

/// Strategy `s`'s row of `values`.
fn row(values: &[f64], s: u32) -> &[f64] {
    &values[s as usize * D..(s as usize + 1) * D]
}

/// Asks for strategy `s`'s row ahead of its use, every line (the old layout's prefetch).
fn prefetch_row(values: &[f64], s: u32) {
    #[cfg(target_arch = "x86_64")]
    for line in row(values, s).chunks(8) {
        // SAFETY: a prefetch hint inside `values`.
        unsafe { std::arch::x86_64::_mm_prefetch(line.as_ptr().cast(), std::arch::x86_64::_MM_HINT_T0) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (values, s);
}

/// The old series recurrence (branches on the sign, `f64::max`).
fn old_series(r: &[f64]) -> SeriesStats {
    let mut s = SeriesStats::default();
    for &x in r {
        s.days += 1;
        s.sum += x;
        s.peak = s.peak.max(s.sum);
        let fall = s.peak - s.sum;
        s.max_drawdown = s.max_drawdown.max(fall);
        if x > 0.0 {
            s.wins += 1;
            s.gains += x;
        } else if x < 0.0 {
            s.losses += 1;
            s.pains += x;
        }
    }
    s
}

impl OldLayout<'_> {
    fn returns(&self, s: u32) -> &[f64] {
        row(self.values, s)
    }

    fn finish(acc: &[f64], k: usize, zz: f64, p: &mut [f64]) -> f64 {
        let kf = k as f64;
        p.iter_mut().zip(&acc[..D]).for_each(|(p, a)| *p = a / kf);
        let base = Metric::Ratio.unit().value(&old_series(p));
        let zsum2: f64 = acc[D..].iter().map(|v| v * v).sum();
        base - 10.0 * (zsum2 - zz) / (kf * (kf - 1.0))
    }

    fn evaluate(&self, portfolio: &[u32], acc: &mut [f64], p: &mut [f64]) -> f64 {
        acc.iter_mut().for_each(|a| *a = 0.0);
        let mut zz = 0.0;
        for (j, &i) in portfolio.iter().enumerate() {
            if let Some(&ahead) = portfolio.get(j + 3) {
                prefetch_row(self.values, ahead);
            }
            let (r, z) = acc.split_at_mut(D);
            let m = self.moments[i as usize];
            let x = self.returns(i);
            if m.flat {
                r.iter_mut().zip(x).for_each(|(a, v)| *a += v);
            } else {
                for ((a, b), &v) in r.iter_mut().zip(z.iter_mut()).zip(x) {
                    *a += v;
                    *b += (v - m.mean) / m.norm;
                }
            }
            zz += self.zz[i as usize];
        }
        Self::finish(acc, portfolio.len(), zz, p)
    }

    /// The old single swap: the incoming row's z by division, the members' kept.
    fn try_swap(
        &self,
        base: &[f64],
        base_zz: f64,
        out: u32,
        out_z: &[f64],
        incoming: u32,
        scratch: &mut Scratch,
    ) -> f64 {
        let m = self.moments[incoming as usize];
        let x_in = self.returns(incoming);
        scratch.p.iter_mut().zip(x_in).for_each(|(z, &v)| *z = m.z(v));
        let x_out = self.returns(out);
        let (acc_r, acc_z) = scratch.acc.split_at_mut(D);
        for t in 0..D {
            acc_r[t] = base[t] + x_in[t] - x_out[t];
            acc_z[t] = base[D + t] + scratch.p[t] - out_z[t];
        }
        let zz = base_zz - self.zz[out as usize] + self.zz[incoming as usize];
        Self::finish(&scratch.acc, K, zz, &mut scratch.p)
    }
}

/// The members' P&L rows summed, nothing else (the same prefetch; baseline vectors, as
/// memory, not arithmetic, sets this rate).
fn rows_only(values: &[f64], portfolio: &[u32], acc: &mut [f64]) -> f64 {
    let r = &mut acc[..D];
    r.fill(0.0);
    for (j, &i) in portfolio.iter().enumerate() {
        if let Some(&ahead) = portfolio.get(j + 3) {
            prefetch_row(values, ahead);
        }
        r.iter_mut().zip(row(values, i)).for_each(|(a, v)| *a += v);
    }
    r[0]
}

struct Scratch {
    acc: Vec<f64>,
    p: Vec<f64>,
}

fn scratch() -> Scratch {
    Scratch { acc: vec![0.0; 2 * D], p: vec![0.0; D] }
}

/// SplitMix64, as kernels_bench draws its data.
fn mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn bench(c: &mut Criterion) {
    let mut rng = 42u64;
    let values: Vec<f64> =
        (0..N * D).map(|_| (mix(&mut rng) >> 11) as f64 / (1u64 << 53) as f64 * 200.0 - 95.0).collect();
    let portfolios: Vec<Vec<u32>> = (0..BATCH)
        .map(|_| {
            let mut pf = Vec::with_capacity(K);
            while pf.len() < K {
                let s = (mix(&mut rng) % N as u64) as u32;
                if !pf.contains(&s) {
                    pf.push(s);
                }
            }
            pf
        })
        .collect();
    let swaps: Vec<(usize, u32)> =
        (0..SWAPS).map(|_| ((mix(&mut rng) % K as u64) as usize, (mix(&mut rng) % N as u64) as u32)).collect();

    let ev = Evaluator::new(&values, D, Metric::Ratio, Penalty::default(), None);
    let moments: Vec<Moments> = values.chunks(D).map(Moments::of).collect();
    let zz = values
        .chunks(D)
        .zip(&moments)
        .map(|(x, m)| squared_norm(&x.iter().map(|&v| m.z(v)).collect::<Vec<f64>>()))
        .collect();
    let old = OldLayout { values: &values, moments, zz };
    eprintln!("evaluator: P&L values on {} pages of 2 MiB", ev.huge_pages());

    let mut g = c.benchmark_group("full_evaluations_size50_production");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("old_layout", |b| {
        b.iter(|| {
            let v: Vec<f64> = portfolios
                .par_iter()
                .with_min_len(64)
                .map_init(scratch, |s, pf| old.evaluate(pf, &mut s.acc, &mut s.p))
                .collect();
            std::hint::black_box(v)
        })
    });
    g.bench_function("evaluator", |b| b.iter(|| std::hint::black_box(ev.evaluate_batch(&portfolios, 64))));
    for (name, rows) in [("rows_only", ev.values()), ("rows_only_4k_pages", &values[..])] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let v: Vec<f64> = portfolios
                    .par_iter()
                    .with_min_len(64)
                    .map_init(scratch, |s, pf| rows_only(rows, pf, &mut s.acc))
                    .collect();
                std::hint::black_box(v)
            })
        });
    }
    g.finish();

    let pf = portfolios[0].clone();
    let inc = Incremental::new(&ev, pf.clone(), &mut ev.scratch());
    let mut base = scratch();
    old.evaluate(&pf, &mut base.acc, &mut base.p);
    let base_zz: f64 = pf.iter().map(|&i| old.zz[i as usize]).sum();
    let member_z: Vec<Vec<f64>> =
        pf.iter().map(|&i| old.returns(i).iter().map(|&v| old.moments[i as usize].z(v)).collect()).collect();
    let mut g = c.benchmark_group("single_swaps_size50_production");
    g.throughput(Throughput::Elements(SWAPS as u64));
    g.bench_function("old_layout", |b| {
        b.iter(|| {
            swaps
                .par_chunks(1024)
                .map_init(scratch, |s, chunk| {
                    chunk
                        .iter()
                        .map(|&(pos, x)| old.try_swap(&base.acc, base_zz, pf[pos], &member_z[pos], x, s))
                        .sum::<f64>()
                })
                .sum::<f64>()
        })
    });
    g.bench_function("evaluator", |b| {
        b.iter(|| {
            swaps
                .par_chunks(1024)
                .map_init(
                    || ev.scratch(),
                    |s, chunk| chunk.iter().map(|&(pos, x)| inc.try_swap(&ev, pos, x, s).fitness).sum::<f64>(),
                )
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
