//! Search: find the best equal-weight portfolio of each size. Eight algorithms, each one small
//! unit in `algorithms/`, registered in [`registry`]; all randomness flows from one seed, one
//! stream per (size, algorithm), so results do not depend on thread count or scheduling.

mod algorithms;

use std::time::Instant;

use rand::Rng;
use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use heavytune_kernels::gpu::GpuFitness;
use heavytune_kernels::{Eval, Evaluator, Incremental, Scratch, SeriesStats};

use crate::error::{Error, Result};

pub use algorithms::registry;

/// Search knobs shared by all algorithms; the defaults are the legacy production config.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Params {
    /// Generations (GA, PSO, DE); also scales SA (20x), HC (4x), ACO and BO (1x).
    pub generations: usize,
    /// Population (GA, DE), swarm (PSO) and batch of random search.
    pub population: usize,
    /// Per-gene mutation probability (GA, PSO turbulence).
    pub mutation_rate: f64,
    /// Candidates per parallel evaluation task.
    pub batch: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params { generations: 50, population: 30, mutation_rate: 0.1, batch: DEFAULT_BATCH }
    }
}

/// Most members of a population (GA, DE) or swarm (PSO): each is a portfolio held in memory.
pub const MAX_POPULATION: usize = 100_000;
/// Most generations.
pub const MAX_GENERATIONS: usize = 10_000_000;
/// Most evaluations one algorithm may spend on one size (generations x population).
pub const MAX_BUDGET: usize = 10_000_000_000;

/// Candidates per rayon task: 64 scored 147 K size-50 portfolios/s on 2 cores against 107-134 K
/// for 1, 8 and 512 (`benches/fitness.rs`, reports/README.md); a whole run is insensitive to it.
pub const DEFAULT_BATCH: usize = 64;

/// Per-strategy features (standardized), for algorithms that prefer promising strategies.
#[derive(Debug, Clone)]
pub struct Features {
    /// Fitness of each strategy alone, under the run's metric.
    pub single: Vec<f64>,
    /// `FEATURES` standardized values per strategy: single fitness, ROI, -max drawdown, win rate.
    pub values: Vec<[f64; FEATURES]>,
}

/// Length of a strategy's feature vector.
pub const FEATURES: usize = 4;

impl Features {
    /// Computes the features of every strategy of `ev`.
    pub fn new(ev: &Evaluator) -> Self {
        let n = ev.n_strategies();
        let raw: Vec<[f64; FEATURES]> = (0..n as u32)
            .into_par_iter()
            .map_init(
                || ev.scratch(),
                |s, i| {
                    let m = SeriesStats::of(ev.returns(i));
                    [ev.evaluate(&[i], s).fitness, m.sum, -m.max_drawdown, m.win_rate()]
                },
            )
            .collect();
        let single = raw.iter().map(|f| f[0]).collect();
        let mut values = raw;
        for f in 0..FEATURES {
            let col: Vec<f64> = values.iter().map(|v| v[f]).filter(|x| x.is_finite()).collect();
            let mean = col.iter().sum::<f64>() / col.len().max(1) as f64;
            let sd = (col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / col.len().max(1) as f64).sqrt();
            for v in &mut values {
                v[f] = if v[f].is_finite() && sd > 0.0 { (v[f] - mean) / sd } else { 0.0 };
            }
        }
        Features { single, values }
    }
}

/// One search problem: a portfolio size over one evaluator.
pub struct Problem<'a> {
    pub ev: &'a Evaluator,
    /// The GPU's batch fitness, when the run has one (same bits as `ev`'s).
    pub gpu: Option<&'a GpuFitness>,
    pub features: &'a Features,
    pub size: usize,
    pub params: &'a Params,
}

/// What scores portfolios: the CPU evaluator, and the GPU's batch fitness when there is one.
#[derive(Debug, Clone, Copy)]
pub struct Scorer<'a> {
    pub ev: &'a Evaluator,
    pub gpu: Option<&'a GpuFitness>,
}

impl<'a> Scorer<'a> {
    pub fn cpu(ev: &'a Evaluator) -> Self {
        Scorer { ev, gpu: None }
    }
}

impl Problem<'_> {
    pub fn n(&self) -> usize {
        self.ev.n_strategies()
    }

    /// `size` distinct strategies drawn uniformly.
    pub fn random_portfolio(&self, rng: &mut ChaCha8Rng) -> Vec<u32> {
        index::sample(rng, self.n(), self.size).into_iter().map(|i| i as u32).collect()
    }

    /// A strategy not in `members` (callers ensure size < n).
    pub fn outsider(&self, rng: &mut ChaCha8Rng, members: &[u32]) -> u32 {
        loop {
            let c = rng.random_range(0..self.n() as u32);
            if !members.contains(&c) {
                return c;
            }
        }
    }

    /// Scores a batch on the GPU when there is one; a batch the GPU fails (counted and
    /// reported by it) is scored on the CPU, with the same bits.
    pub fn evaluate_batch(&self, portfolios: &[Vec<u32>]) -> Vec<Eval> {
        if let Some(Ok(evals)) = self.gpu.map(|g| g.evaluate_batch(portfolios)) {
            return evals;
        }
        self.ev.evaluate_batch(portfolios, self.params.batch)
    }

    pub fn scratch(&self) -> Scratch {
        self.ev.scratch()
    }
}

/// What an algorithm found for one size.
#[derive(Debug, Clone)]
pub struct Found {
    pub portfolio: Vec<u32>,
    pub eval: Eval,
    pub evaluations: usize,
}

/// Keeps the best candidate seen and counts evaluations.
#[derive(Debug, Clone)]
pub struct Tracker {
    best: Vec<u32>,
    eval: Eval,
    evaluations: usize,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker { best: Vec::new(), eval: Eval::WORST, evaluations: 0 }
    }
}

impl Tracker {
    pub fn offer(&mut self, portfolio: &[u32], eval: Eval) {
        self.evaluations += 1;
        if eval.better_than(&self.eval) || self.best.is_empty() {
            self.best = portfolio.to_vec();
            self.eval = eval;
        }
    }

    /// Offers `cur` with `members[pos]` replaced by `incoming`, scored `eval`.
    pub fn offer_candidate(&mut self, cur: &Incremental, pos: usize, incoming: u32, eval: Eval) {
        self.evaluations += 1;
        if eval.better_than(&self.eval) || self.best.is_empty() {
            self.best.clear();
            self.best.extend_from_slice(cur.members());
            self.best[pos] = incoming;
            self.eval = eval;
        }
    }

    pub fn offer_all(&mut self, portfolios: &[Vec<u32>], evals: &[Eval]) {
        portfolios.iter().zip(evals).for_each(|(p, e)| self.offer(p, *e));
    }

    pub fn best_eval(&self) -> Eval {
        self.eval
    }

    pub fn best(&self) -> &[u32] {
        &self.best
    }

    /// The result; the best portfolio is scored again from scratch, so incremental rounding
    /// never reaches a report.
    pub fn finish(self, pb: &Problem) -> Found {
        let mut best = self.best;
        best.sort_unstable();
        let eval = pb.ev.evaluate(&best, &mut pb.scratch());
        Found { portfolio: best, eval, evaluations: self.evaluations }
    }
}

/// A search algorithm over fixed-size sets of distinct strategies.
pub trait Algorithm: Send + Sync {
    /// Short name as the legacy reports it (`GA`).
    fn name(&self) -> &'static str;
    /// What it is, for `--help` and reports.
    fn description(&self) -> &'static str;
    /// Fitness evaluations it spends per size.
    fn budget(&self, params: &Params) -> usize;
    /// Searches one size; only `size < n` is asked (the driver handles `size == n`).
    fn run(&self, pb: &Problem, rng: &mut ChaCha8Rng) -> Found;
}

/// Parses `ga,pso,...` or `all` into registry positions (in registry order, no duplicates).
pub fn parse_algorithms(list: &str) -> Result<Vec<usize>> {
    let reg = registry();
    let known = || reg.iter().map(|a| a.name().to_ascii_lowercase()).collect::<Vec<_>>().join(", ");
    let mut picked = vec![false; reg.len()];
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.eq_ignore_ascii_case("all") {
            picked.iter_mut().for_each(|p| *p = true);
            continue;
        }
        let pos = reg.iter().position(|a| a.name().eq_ignore_ascii_case(part)).ok_or_else(|| {
            Error::invalid("--algorithms", format!("unknown algorithm '{part}'; expected 'all' or some of {}", known()))
        })?;
        picked[pos] = true;
    }
    let out: Vec<usize> = (0..reg.len()).filter(|&i| picked[i]).collect();
    if out.is_empty() {
        return Err(Error::invalid(
            "--algorithms",
            format!("no algorithm given; expected 'all' or some of {}", known()),
        ));
    }
    Ok(out)
}

/// One algorithm's result for one size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlgorithmResult {
    pub algorithm: &'static str,
    pub fitness: f64,
    pub evaluations: usize,
    pub seconds: f64,
    #[serde(skip)]
    pub portfolio: Vec<u32>,
    #[serde(skip)]
    pub eval: Eval,
}

/// The best portfolio of one size, and every algorithm's result.
#[derive(Debug, Clone)]
pub struct SizeResult {
    pub size: usize,
    pub best: AlgorithmResult,
    pub algorithms: Vec<AlgorithmResult>,
}

/// The random stream of one (size, algorithm) job.
pub fn job_rng(seed: u64, size: usize, algorithm: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((size as u64) << 8) | algorithm as u64);
    rng
}

/// Runs the chosen algorithms (registry positions) for every size; `done` is called after
/// each (size, algorithm) job with its evaluation count.
pub fn optimize(
    scorer: Scorer<'_>,
    features: &Features,
    sizes: std::ops::RangeInclusive<usize>,
    algorithms: &[usize],
    params: &Params,
    seed: u64,
    done: &(dyn Fn(usize) + Sync),
) -> Vec<SizeResult> {
    let (ev, gpu) = (scorer.ev, scorer.gpu);
    let reg = registry();
    let jobs: Vec<(usize, usize)> = sizes.clone().flat_map(|s| algorithms.iter().map(move |&a| (s, a))).collect();
    let results: Vec<AlgorithmResult> = jobs
        .par_iter()
        .map(|&(size, a)| {
            let started = Instant::now();
            let pb = Problem { ev, gpu, features, size, params };
            let found = if size >= ev.n_strategies() {
                let all: Vec<u32> = (0..ev.n_strategies() as u32).collect();
                let eval = ev.evaluate(&all, &mut ev.scratch());
                Found { portfolio: all, eval, evaluations: 1 }
            } else {
                reg[a].run(&pb, &mut job_rng(seed, size, a))
            };
            done(found.evaluations);
            AlgorithmResult {
                algorithm: reg[a].name(),
                fitness: found.eval.fitness,
                evaluations: found.evaluations,
                seconds: started.elapsed().as_secs_f64(),
                portfolio: found.portfolio,
                eval: found.eval,
            }
        })
        .collect();
    let per_size = algorithms.len();
    sizes
        .zip(results.chunks(per_size))
        .map(|(size, rs)| {
            // Ties go to the earlier algorithm in registry order: deterministic.
            let best = rs.iter().fold(&rs[0], |b, r| if r.eval.better_than(&b.eval) { r } else { b }).clone();
            SizeResult { size, best, algorithms: rs.to_vec() }
        })
        .collect()
}

/// Samples `k` distinct items with probability proportional to `weights` (Efraimidis-Spirakis
/// keys); items with zero weight are taken only when nothing else is left.
pub fn weighted_sample(rng: &mut ChaCha8Rng, items: &[u32], weights: &[f64], k: usize) -> Vec<u32> {
    let mut keyed: Vec<(f64, u32)> = items
        .iter()
        .zip(weights)
        .map(|(&it, &w)| {
            let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
            let key = if w > 0.0 { u.ln() / w } else { f64::NEG_INFINITY };
            (key, it)
        })
        .collect();
    let k = k.min(keyed.len());
    if k < keyed.len() {
        keyed.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        keyed.truncate(k);
    }
    keyed.into_iter().map(|(_, it)| it).collect()
}

/// Replaces each member by a random outsider with probability `rate`.
pub fn mutate(pb: &Problem, rng: &mut ChaCha8Rng, portfolio: &mut [u32], rate: f64) {
    for i in 0..portfolio.len() {
        if rng.random_bool(rate.clamp(0.0, 1.0)) {
            portfolio[i] = pb.outsider(rng, portfolio);
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A small planted problem every algorithm's tests share.
    use super::*;
    use heavytune_kernels::{Metric, Penalty};

    /// 200 strategies x 60 days; strategies 0..10 earn steadily, the rest are noise.
    pub fn evaluator(metric: Metric) -> Evaluator {
        let (n, d) = (200usize, 60usize);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut values = Vec::with_capacity(n * d);
        for s in 0..n {
            for _ in 0..d {
                let noise: f64 = rng.random_range(-100.0..100.0);
                values.push(if s < 10 { 30.0 + noise * 0.5 } else { noise });
            }
        }
        Evaluator::new(&values, d, metric, Penalty::default(), None)
    }

    /// Runs `alg` on size 5 and checks the contract every algorithm keeps.
    pub fn check_contract(alg: &dyn Algorithm) -> Found {
        let ev = evaluator(Metric::Ratio);
        let features = Features::new(&ev);
        let params = Params::default();
        let pb = Problem { ev: &ev, gpu: None, features: &features, size: 5, params: &params };
        let found = alg.run(&pb, &mut job_rng(7, 5, 0));
        let mut distinct = found.portfolio.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 5, "{}: distinct, sorted members", alg.name());
        assert!(found.portfolio.iter().all(|&s| (s as usize) < ev.n_strategies()));
        assert_eq!(found.evaluations, alg.budget(&params), "{}: spends exactly its budget", alg.name());
        assert_eq!(found.eval, ev.evaluate(&found.portfolio, &mut ev.scratch()), "{}: reported = rescored", alg.name());
        let again = alg.run(&pb, &mut job_rng(7, 5, 0));
        assert_eq!(again.portfolio, found.portfolio, "{}: same seed, same answer", alg.name());
        // Better than the median random portfolio of the planted problem.
        let mut rng = job_rng(99, 5, 0);
        let mut random: Vec<f64> =
            (0..101).map(|_| ev.evaluate(&pb.random_portfolio(&mut rng), &mut ev.scratch()).fitness).collect();
        random.sort_by(f64::total_cmp);
        assert!(
            found.eval.fitness > random[50],
            "{}: {} <= median random {}",
            alg.name(),
            found.eval.fitness,
            random[50]
        );
        found
    }

    /// Runs `alg` where most fitness values are NaN or infinite (non-finite and overflowing
    /// P&L, flat strategies): it must end within its budget with a valid portfolio.
    pub fn check_terminates_on_non_finite(alg: &dyn Algorithm) {
        let (n, d) = (40usize, 12usize);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut values: Vec<f64> = (0..n * d).map(|_| rng.random_range(-10.0..10.0)).collect();
        for s in 0..n {
            let v = &mut values[s * d..(s + 1) * d];
            match s % 5 {
                0 => v[2] = f64::INFINITY,
                1 => v[4] = f64::NAN,
                2 => v.iter_mut().for_each(|x| *x = f64::MAX),
                3 => v[0] = f64::NEG_INFINITY,
                _ => v.iter_mut().for_each(|x| *x = 1.0),
            }
        }
        for metric in Metric::ALL {
            let ev = Evaluator::new(&values, d, metric, Penalty::default(), None);
            let features = Features::new(&ev);
            let params = Params { generations: 10, population: 6, ..Params::default() };
            let pb = Problem { ev: &ev, gpu: None, features: &features, size: 4, params: &params };
            let found = alg.run(&pb, &mut job_rng(1, 4, 0));
            let mut distinct = found.portfolio.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 4, "{} on {metric}: distinct members", alg.name());
            assert_eq!(found.evaluations, alg.budget(&params), "{} on {metric}: spends its budget", alg.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heavytune_kernels::{Metric, Penalty};

    #[test]
    fn algorithm_lists_parse_and_unknown_names_list_the_known_ones() {
        assert_eq!(parse_algorithms("all").unwrap(), (0..8).collect::<Vec<_>>());
        assert_eq!(parse_algorithms("rs, GA").unwrap(), vec![0, 7]);
        let err = parse_algorithms("ga,tabu").unwrap_err().to_string();
        assert!(err.contains("tabu") && err.contains("pso"), "{err}");
        assert!(parse_algorithms(" , ").is_err());
    }

    #[test]
    fn weighted_sample_is_distinct_and_prefers_heavy_items() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let items: Vec<u32> = (0..100).collect();
        let weights: Vec<f64> = (0..100).map(|i| if i < 5 { 1000.0 } else { 1.0 }).collect();
        let mut heavy = 0;
        for _ in 0..50 {
            let mut s = weighted_sample(&mut rng, &items, &weights, 5);
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), 5);
            heavy += s.iter().filter(|&&i| i < 5).count();
        }
        assert!(heavy > 200, "{heavy}");
    }

    #[test]
    fn optimize_is_deterministic_and_independent_of_threads() {
        let ev = testing::evaluator(Metric::Ratio);
        let f = Features::new(&ev);
        let params = Params { generations: 10, population: 10, ..Params::default() };
        let algs: Vec<usize> = (0..8).collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| optimize(Scorer::cpu(&ev), &f, 3..=6, &algs, &params, 42, &|_| {}))
        };
        let (a, b) = (run(1), run(2));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.best.portfolio, y.best.portfolio);
            assert_eq!(x.best.algorithm, y.best.algorithm);
            assert_eq!(x.algorithms.len(), 8);
        }
    }

    #[test]
    fn a_size_equal_to_the_number_of_strategies_takes_them_all() {
        let values: Vec<f64> = (0..12).map(|i| i as f64 - 5.0).collect();
        let ev = Evaluator::new(&values, 4, Metric::Roi, Penalty::default(), None);
        let f = Features::new(&ev);
        let r = optimize(Scorer::cpu(&ev), &f, 3..=3, &[0, 7], &Params::default(), 1, &|_| {});
        assert_eq!(r[0].best.portfolio, vec![0, 1, 2]);
    }
}
