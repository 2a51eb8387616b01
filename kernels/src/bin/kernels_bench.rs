//! `kernels_bench`: the slim benchmark of the kernels crate (no SQL engine), to carry to a GPU
//! machine. On production-shape random data it measures batch fitness (full size-K
//! evaluations) and single-swap evaluations per second on the CPU and, when `--device` finds a
//! GPU, on it (transfers included) over a sweep of batch sizes, checks that the GPU's scores
//! are the CPU's bits, and writes one JSON record.
//!
//! kernels_bench [--strategies N] [--days D] [--size K] [--batches 1024,16384,...]
//!               [--seconds S] [--device auto|cpu|cuda[:N]] [--out FILE]

use std::sync::Arc;
use std::time::Instant;

use heavytune_kernels::gpu::{DeviceChoice, GpuFitness, Selected, select};
use heavytune_kernels::{Eval, Evaluator, Incremental, Metric, Penalty};
use rayon::prelude::*;

/// SplitMix64: a small deterministic generator (the crate has no `rand` outside its tests).
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// `k` distinct indices below `n` (k much smaller than n).
    fn portfolio(&mut self, n: usize, k: usize) -> Vec<u32> {
        let mut pf: Vec<u32> = Vec::with_capacity(k);
        while pf.len() < k {
            let c = self.below(n) as u32;
            if !pf.contains(&c) {
                pf.push(c);
            }
        }
        pf
    }
}

struct Options {
    strategies: usize,
    days: usize,
    size: usize,
    batches: Vec<usize>,
    seconds: f64,
    device: DeviceChoice,
    out: Option<String>,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        strategies: 25_544,
        days: 82,
        size: 50,
        batches: vec![1024, 4096, 16_384, 65_536, 262_144],
        seconds: 2.0,
        device: DeviceChoice::Auto,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{}", include_str!("kernels_bench.rs").lines().take(8).collect::<Vec<_>>().join("\n"));
            std::process::exit(0);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--strategies" => o.strategies = num(&value)?,
            "--days" => o.days = num(&value)?,
            "--size" => o.size = num(&value)?,
            "--batches" => o.batches = value.split(',').map(num).collect::<Result<_, _>>()?,
            "--seconds" => o.seconds = value.parse().map_err(|e| format!("--seconds {value}: {e}"))?,
            "--device" => o.device = value.parse().map_err(|e| format!("{e}"))?,
            "--out" => o.out = Some(value),
            other => return Err(format!("unknown flag {other} (see --help)")),
        }
    }
    if o.size == 0 || o.size * 2 > o.strategies || o.days == 0 || o.batches.contains(&0) {
        return Err("need 1 <= size <= strategies / 2, days >= 1 and batches >= 1".into());
    }
    Ok(o)
}

/// Runs `f` (which does `per_call` evaluations) until `seconds` pass; evaluations per second.
fn rate(seconds: f64, per_call: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let start = Instant::now();
    let mut calls = 0usize;
    while calls == 0 || start.elapsed().as_secs_f64() < seconds {
        f();
        calls += 1;
    }
    (calls * per_call) as f64 / start.elapsed().as_secs_f64()
}

/// A GPU failure ends the benchmark with its message (exit 4).
fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("kernels_bench: GPU: {e}");
    std::process::exit(4)
}

fn same(a: &Eval, b: &Eval) -> bool {
    let bits = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    bits(a.fitness, b.fitness) && bits(a.base_fitness, b.base_fitness) && bits(a.avg_corr, b.avg_corr)
}

fn main() {
    let o = parse().unwrap_or_else(|e| {
        eprintln!("kernels_bench: {e}");
        std::process::exit(2)
    });
    let mut rng = Mix(42);
    let values: Vec<f64> =
        (0..o.strategies * o.days).map(|_| (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 200.0 - 95.0).collect();
    let ev = Evaluator::new(&values, o.days, Metric::Ratio, Penalty::default(), None);
    let max_batch = *o.batches.iter().max().unwrap_or(&1);
    let portfolios: Vec<Vec<u32>> = (0..max_batch).map(|_| rng.portfolio(o.strategies, o.size)).collect();
    let swaps: Vec<(usize, u32)> = (0..65_536).map(|_| (rng.below(o.size), rng.below(o.strategies) as u32)).collect();

    let cpu_batch = 4096.min(max_batch);
    let cpu_full = rate(o.seconds, cpu_batch, || {
        std::hint::black_box(ev.evaluate_batch(&portfolios[..cpu_batch], 64));
    });
    let inc = Incremental::new(&ev, portfolios[0].clone(), &mut ev.scratch());
    let cpu_swaps = rate(o.seconds, swaps.len(), || {
        let n: f64 = swaps
            .par_chunks(1024)
            .map_init(
                || ev.scratch(),
                |s, chunk| chunk.iter().map(|&(p, x)| inc.try_swap(&ev, p, x, s).fitness).sum::<f64>(),
            )
            .sum();
        std::hint::black_box(n);
    });
    eprintln!(
        "CPU ({} threads): {cpu_full:.0} full evaluations/s, {cpu_swaps:.0} swaps/s",
        rayon::current_num_threads()
    );

    let gpu_json = match select(o.device) {
        Err(e) => {
            eprintln!("kernels_bench: {e}");
            std::process::exit(3)
        }
        Ok(Selected::Cpu { reason }) => {
            eprintln!("no GPU run: {reason}");
            serde_json::json!({ "skipped": reason })
        }
        Ok(Selected::Gpu(gpu)) => {
            let g = GpuFitness::new(Arc::clone(&gpu), &ev).unwrap_or_else(|e| fail(e));
            let sample = &portfolios[..256.min(max_batch)];
            let on_gpu = g.evaluate_batch(sample).unwrap_or_else(|e| fail(e));
            let mut s = ev.scratch();
            let bits_equal = sample.iter().zip(&on_gpu).all(|(pf, e)| same(&ev.evaluate(pf, &mut s), e));
            let mut sweep = Vec::new();
            for &b in &o.batches {
                let before = g.traffic();
                let r = rate(o.seconds, b, || {
                    std::hint::black_box(g.evaluate_batch(&portfolios[..b]).unwrap_or_else(|e| fail(e)));
                });
                let after = g.traffic();
                let evals = (after.evaluations - before.evaluations).max(1) as f64;
                let moved = (after.bytes_up + after.bytes_down - before.bytes_up - before.bytes_down) as f64;
                eprintln!("GPU batch {b}: {r:.0} evaluations/s, {:.1} bytes/evaluation", moved / evals);
                sweep.push(serde_json::json!({ "batch": b, "evaluations_per_second": r, "bytes_per_evaluation": moved / evals }));
            }
            let gpu_swaps = rate(o.seconds, swaps.len(), || {
                std::hint::black_box(g.try_swaps(&inc, &swaps).unwrap_or_else(|e| fail(e)));
            });
            eprintln!("GPU swaps: {gpu_swaps:.0}/s; scores equal the CPU's bits: {bits_equal}");
            serde_json::json!({
                "device": gpu.report(),
                "setup_bytes_up": g.traffic().setup_bytes_up,
                "batch_sweep": sweep,
                "swaps_per_second": gpu_swaps,
                "cpu_bits_equal_on_sample": bits_equal,
            })
        }
    };
    let record = serde_json::json!({
        "machine": { "arch": std::env::consts::ARCH, "os": std::env::consts::OS, "cpu_threads": rayon::current_num_threads() },
        "shape": { "strategies": o.strategies, "days": o.days, "size": o.size },
        "cpu": { "full_evaluations_per_second": cpu_full, "batch": cpu_batch, "swaps_per_second": cpu_swaps },
        "gpu": gpu_json,
    });
    let text = serde_json::to_string_pretty(&record).unwrap_or_default() + "\n";
    match &o.out {
        Some(path) => std::fs::write(path, text).unwrap_or_else(|e| {
            eprintln!("kernels_bench: writing {path}: {e}");
            std::process::exit(5)
        }),
        None => print!("{text}"),
    }
}
