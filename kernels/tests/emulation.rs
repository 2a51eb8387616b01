//! The CUDA kernel sources (`cuda/*.cu`), compiled as host C++ under `cuda/emulation/`
//! (one OS thread per CUDA thread, a barrier per warp) and run on random batches with edge
//! cases against the CPU evaluator: every output must be the CPU's bits. A deliberately broken
//! copy of a kernel must fail the same comparison. What this does not check (the GPU's compiled
//! code, races a barrier-per-call schedule hides, speed) is listed in kernels/README.md.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use heavytune_kernels::{Eval, Evaluator, Incremental, Metric, Penalty};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CUDA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/cuda");

/// Compiles `cuda_dir/emulation/runner.cpp` (which includes the kernel sources) into `out`.
fn build_runner(cuda_dir: &Path, out: &Path) -> PathBuf {
    let target = env!("HEAVYTUNE_KERNELS_TARGET");
    let compiler = cc::Build::new()
        .cpp(true)
        .target(target)
        .host(target)
        .opt_level(1)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .get_compiler();
    let binary = out.join("ht_emulated_kernels");
    let status = compiler
        .to_command()
        .args(["-std=c++20", "-ffp-contract=off", "-pthread", "-Wall", "-Werror", "-o"])
        .arg(&binary)
        .arg(cuda_dir.join("emulation/runner.cpp"))
        .status()
        .expect("the C++ compiler cc found must start");
    assert!(status.success(), "compiling the emulated kernels failed");
    binary
}

fn runner() -> &'static Path {
    static RUNNER: OnceLock<PathBuf> = OnceLock::new();
    RUNNER.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("emulation");
        std::fs::create_dir_all(&dir).unwrap();
        build_runner(Path::new(CUDA), &dir)
    })
}

/// A data set and scoring rule.
struct Case {
    ev: Evaluator,
    d: usize,
}

fn case(seed: u64, n: usize, d: usize, metric: Metric, balanced: bool, threshold: f64) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values: Vec<f64> = (0..n * d).map(|_| (rng.random_range(-400..400) as f64) * 0.37).collect();
    // Constant strategies (flat: z = 0), and one with a NaN and one with an infinity.
    for s in [1usize, 4] {
        values[s * d..(s + 1) * d].iter_mut().for_each(|v| *v = 2.5);
    }
    if n > 7 && d > 1 {
        values[6 * d + 1] = f64::NAN;
        values[7 * d] = f64::INFINITY;
    }
    let balance = balanced.then(|| common::three_label_balance(n));
    let penalty = Penalty { weight: 10.0, drawdown_threshold: threshold };
    Case { ev: Evaluator::new(&values, d, metric, penalty, balance), d }
}

/// The runner's input header and data set (see runner.cpp).
fn encode_case(buf: &mut Vec<u8>, kernel: u32, c: &Case, k: usize, count: usize, block: i32) {
    let ev = &c.ev;
    let (desired, labels) = match ev.balance() {
        Some(b) => (b.desired.iter().flat_map(|&(l, n)| [l as i32, n as i32]).collect(), Some(&b.labels)),
        None => (Vec::new(), None),
    };
    buf.extend(kernel.to_le_bytes());
    let ints = [
        ev.n_strategies() as i32,
        c.d as i32,
        k as i32,
        count as i32,
        ev.metric().id(),
        (desired.len() / 2) as i32,
        labels.is_some() as i32,
        block,
    ];
    ints.iter().for_each(|i| buf.extend(i.to_le_bytes()));
    let factor = ev.balance().map_or(0.0, |b| b.factor);
    for x in [ev.penalty().weight, ev.penalty().drawdown_threshold, factor] {
        buf.extend(x.to_le_bytes());
    }
    ev.values().iter().chain(&ev.strategy_constants()).for_each(|x| buf.extend(x.to_le_bytes()));
    if let Some(l) = labels {
        l.iter().for_each(|x| buf.extend(x.to_le_bytes()));
    }
    desired.iter().for_each(|x| buf.extend(x.to_le_bytes()));
}

fn run(binary: &Path, input: &[u8], count: usize) -> Vec<[f64; 3]> {
    let mut child =
        Command::new(binary).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "runner failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout.len(), count * 24, "three doubles per candidate");
    out.stdout
        .chunks_exact(24)
        .map(|c| {
            let f = |i: usize| f64::from_le_bytes(c[i * 8..i * 8 + 8].try_into().unwrap());
            [f(0), f(1), f(2)]
        })
        .collect()
}

fn batch_on(binary: &Path, c: &Case, portfolios: &[Vec<u32>], block: i32) -> Vec<[f64; 3]> {
    let k = portfolios[0].len();
    let mut buf = Vec::new();
    encode_case(&mut buf, 0, c, k, portfolios.len(), block);
    portfolios.iter().flatten().for_each(|m| buf.extend(m.to_le_bytes()));
    run(binary, &buf, portfolios.len())
}

fn swaps_on(binary: &Path, c: &Case, inc: &Incremental, swaps: &[(usize, u32)], block: i32) -> Vec<[f64; 3]> {
    let mut buf = Vec::new();
    encode_case(&mut buf, 1, c, inc.members().len(), swaps.len(), block);
    inc.sums().iter().for_each(|x| buf.extend(x.to_le_bytes()));
    buf.extend(inc.sum_squared_norms().to_le_bytes());
    inc.members().iter().for_each(|m| buf.extend(m.to_le_bytes()));
    swaps.iter().for_each(|(p, _)| buf.extend((*p as i32).to_le_bytes()));
    swaps.iter().for_each(|(_, s)| buf.extend(s.to_le_bytes()));
    run(binary, &buf, swaps.len())
}

/// The first difference between the kernel's outputs and the CPU's, bit for bit (NaN equals NaN).
fn first_difference(kernel: &[[f64; 3]], cpu: &[Eval]) -> Option<String> {
    let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    kernel.iter().zip(cpu).enumerate().find_map(|(i, (g, c))| {
        let want = [c.fitness, c.base_fitness, c.avg_corr];
        (!g.iter().zip(want).all(|(a, b)| same(*a, b))).then(|| format!("candidate {i}: kernel {g:?}, CPU {want:?}"))
    })
}

fn portfolios(rng: &mut ChaCha8Rng, n: usize, k: usize, count: usize) -> Vec<Vec<u32>> {
    (0..count).map(|_| rand::seq::index::sample(rng, n, k).into_iter().map(|i| i as u32).collect()).collect()
}

/// Random batches over every metric and edge case: sizes 1, 2 and large; a single day; days
/// that leave the last warp's lanes partly idle; batches that leave the last block partly
/// empty; constant strategies; NaN and inf; balanced mode; the halved penalty.
fn batch_differences(binary: &Path) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut found = Vec::new();
    for (i, metric) in Metric::ALL.into_iter().enumerate() {
        for (n, d, k, count, block) in
            [(40, 82, 7, 37, 64), (12, 1, 3, 9, 32), (30, 20, 1, 5, 96), (60, 33, 25, 11, 64)]
        {
            let c = case(i as u64 * 7 + d as u64, n, d, metric, i % 2 == 0, if i % 3 == 0 { 1e9 } else { 0.0 });
            let mut pfs = portfolios(&mut rng, n, k, count);
            if k > 1 {
                pfs[0][..2].copy_from_slice(&[1, 4]); // two constant strategies together
            }
            let mut s = c.ev.scratch();
            let cpu: Vec<Eval> = pfs.iter().map(|pf| c.ev.evaluate(pf, &mut s)).collect();
            if let Some(diff) = first_difference(&batch_on(binary, &c, &pfs, block), &cpu) {
                found.push(format!("{metric}, n {n}, d {d}, k {k}: {diff}"));
            }
        }
    }
    found
}

#[test]
fn batch_fitness_kernel_gives_the_cpu_bits() {
    let found = batch_differences(runner());
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn swap_kernel_gives_the_cpu_bits() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (i, metric) in Metric::ALL.into_iter().enumerate() {
        for (n, d, k) in [(50, 82, 9), (10, 1, 2), (20, 40, 1)] {
            let c = case(100 + i as u64, n, d, metric, i % 2 == 1, if i == 2 { 1e9 } else { 0.0 });
            let mut s = c.ev.scratch();
            let members = portfolios(&mut rng, n, k, 1).remove(0);
            let inc = Incremental::new(&c.ev, members, &mut s);
            let swaps: Vec<(usize, u32)> =
                (0..45).map(|_| (rng.random_range(0..k), rng.random_range(0..n as u32))).collect();
            let cpu: Vec<Eval> = swaps.iter().map(|&(p, s_in)| inc.try_swap(&c.ev, p, s_in, &mut s)).collect();
            let kernel = swaps_on(runner(), &c, &inc, &swaps, 64);
            if let Some(diff) = first_difference(&kernel, &cpu) {
                panic!("{metric}, n {n}, d {d}, k {k}: {diff}");
            }
        }
    }
}

#[test]
fn a_broken_kernel_fails_the_comparison() {
    // A copy of the sources whose lanes skip the last day: the last partial warp's work.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("emulation_broken");
    std::fs::create_dir_all(dir.join("emulation")).unwrap();
    for f in ["series.cuh", "fitness.cu", "swap.cu", "emulation/cuda_emulation.h", "emulation/runner.cpp"] {
        std::fs::copy(Path::new(CUDA).join(f), dir.join(f)).unwrap();
    }
    let fitness = std::fs::read_to_string(dir.join("fitness.cu")).unwrap();
    let needle = "for (int c = lane; c < d; c += 32) {\n            const double x = row[c];";
    assert!(fitness.contains(needle), "the mutation's target moved: update this test");
    std::fs::write(dir.join("fitness.cu"), fitness.replace(needle, &needle.replace("c < d;", "c < d - 1;"))).unwrap();
    let broken = build_runner(&dir, &dir);
    assert!(!batch_differences(&broken).is_empty(), "a kernel that drops a column passed the comparison");
}
