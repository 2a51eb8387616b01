//! Batch fitness of candidate portfolios: the base metric of the equal-weight daily returns
//! minus the correlation penalty (and balanced mode's), as the legacy scores them.
//!
//! Layout: the P&L rows alone (16.8 MB at production shape) and, per strategy, 32 bytes of
//! constants (mean, inverse norm, |z|^2). One pass over a portfolio's rows sums both the P&L
//! and the standardized values, each computed on the fly as `(x - mean) * inv_norm` (no
//! division per value; see [`Scale`]), in member order, each day on its own: the sums are
//! compiled for the widest vectors the CPU has (AVX-512, AVX2 or the baseline, picked once per
//! process) and give the same bits on each. The rows and constants three members ahead are
//! prefetched while one is summed, running on into the next candidate of a batch. At
//! production shape the rows do not stay in the caches, so the pass waits on memory; the
//! values are put on 2 MiB pages where the OS allows ([`crate::pages`]), which saves the page
//! walks of random rows (`benches/cpu_layout.rs` measures it against the layout it replaced).
//! The average pairwise correlation is then `(|sum z|^2 - sum |z|^2) / (k (k - 1))`, with no
//! strategy-by-strategy matrix. Batches run in parallel over rayon; within a rayon task each
//! candidate's scoring (the series recurrence over its days, a chain of dependent operations)
//! is spread over the next candidate's row sums (`Finishing`), so the core runs it while it
//! waits for those rows instead of after them.

use rayon::prelude::*;

use crate::metrics::Metric;
use crate::pages::HugeVec;
use crate::series::SeriesStats;
use crate::standardize::{Moments, squared_norm};

/// Rows prefetched ahead of the one being summed.
const PREFETCH_AHEAD: usize = 3;

/// The correlation penalty: `weight * avg_corr`, halved for `ratio` and `less max dd` when the
/// portfolio's max drawdown is under `drawdown_threshold`.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Penalty {
    pub weight: f64,
    pub drawdown_threshold: f64,
}

impl Default for Penalty {
    fn default() -> Self {
        Penalty { weight: 10.0, drawdown_threshold: 0.0 }
    }
}

/// Balanced mode: `factor * sum over desired labels of |count in portfolio - desired count|`.
#[derive(Debug, Clone)]
pub struct Balance {
    /// Label index of each strategy.
    pub labels: Vec<u16>,
    /// (label index, desired count) pairs.
    pub desired: Vec<(u16, i64)>,
    pub factor: f64,
    /// Number of distinct labels (length of the count vectors).
    pub n_labels: usize,
}

impl Balance {
    pub(crate) fn penalty(&self, counts: &[i64]) -> f64 {
        self.factor * self.desired.iter().map(|&(l, d)| (counts[l as usize] - d).abs() as f64).sum::<f64>()
    }
}

/// One portfolio's score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Eval {
    /// Base fitness minus penalties: what searches maximise.
    pub fitness: f64,
    pub base_fitness: f64,
    /// Mean Pearson correlation over the portfolio's pairs (0 for one strategy).
    pub avg_corr: f64,
}

impl Eval {
    /// Worst possible score, for "nothing found yet".
    pub const WORST: Eval = Eval { fitness: f64::NEG_INFINITY, base_fitness: f64::NEG_INFINITY, avg_corr: 0.0 };

    /// Comparison that treats NaN as worst, so a NaN never becomes "best".
    pub fn better_than(&self, other: &Eval) -> bool {
        self.fitness > other.fitness || (other.fitness.is_nan() && !self.fitness.is_nan())
    }
}

/// Per-thread buffers for evaluation.
#[derive(Debug, Clone)]
pub struct Scratch {
    pub(crate) acc: Vec<f64>,
    pub(crate) p: Vec<f64>,
    pub(crate) counts: Vec<i64>,
}

/// How a strategy's values are standardized for the correlation penalty: `z = (x - mean) *
/// inv_norm`, the mean and norm of [`Moments`] (`standardize`'s), or zeros for a flat strategy.
/// Multiplying by the inverse norm rather than dividing by the norm keeps a division out of
/// the per-value loop; the values differ from `standardize`'s by at most an ulp or so.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub mean: f64,
    pub inv_norm: f64,
    pub flat: bool,
}

impl Scale {
    pub fn of(m: &Moments) -> Scale {
        Scale { mean: m.mean, inv_norm: 1.0 / m.norm, flat: m.flat }
    }

    /// The standardized value of `v` (0 when the strategy is flat).
    #[inline]
    pub fn z(&self, v: f64) -> f64 {
        if self.flat { 0.0 } else { (v - self.mean) * self.inv_norm }
    }
}

/// The vector instructions the row sums are compiled for, picked once per process from what the
/// CPU has. Every choice gives the same bits: each day is summed on its own, in member order,
/// with no fused multiply-add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }
}

/// What a row sum reads of a strategy besides its row: 32 bytes, so one cache line holds two
/// (at production shape they are fetched from memory per member, like the row).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Strategy {
    scale: Scale,
    /// |z|^2, summed in day order (1 up to rounding, or 0 for a flat strategy).
    zz: f64,
}

const _: () = assert!(std::mem::size_of::<Strategy>() == 32);

/// Scores portfolios of one data set.
#[derive(Debug)]
pub struct Evaluator {
    metric: Metric,
    penalty: Penalty,
    pub(crate) balance: Option<Balance>,
    n_days: usize,
    n_strategies: usize,
    /// P&L, strategy by strategy (`n_days` each), on 2 MiB pages where the OS allows.
    values: HugeVec,
    /// Each strategy's standardization and |z|^2.
    strategies: Vec<Strategy>,
    isa: Isa,
}

impl Evaluator {
    /// Builds the evaluator from strategy-major values (`n_days` per strategy), standardizing
    /// each strategy here.
    pub fn new(values: &[f64], n_days: usize, metric: Metric, penalty: Penalty, balance: Option<Balance>) -> Self {
        Self::build(values.to_vec(), None, n_days, metric, penalty, balance)
    }

    /// As [`Evaluator::new`], keeping `values` themselves instead of a copy of them
    /// ([`Evaluator::into_values`] hands them back).
    pub fn from_values(
        values: Vec<f64>,
        n_days: usize,
        metric: Metric,
        penalty: Penalty,
        balance: Option<Balance>,
    ) -> Self {
        Self::build(values, None, n_days, metric, penalty, balance)
    }

    /// As [`Evaluator::from_values`], with each strategy's moments computed elsewhere (the
    /// engine's `strategy_stats` query): its standardized values come from those moments.
    ///
    /// # Panics
    /// When there is not one `Moments` per strategy (a caller's bug).
    pub fn with_moments(
        values: Vec<f64>,
        moments: Vec<Moments>,
        n_days: usize,
        metric: Metric,
        penalty: Penalty,
        balance: Option<Balance>,
    ) -> Self {
        Self::build(values, Some(moments), n_days, metric, penalty, balance)
    }

    /// As [`Evaluator::with_moments`], over values already placed on 2 MiB pages (a run puts
    /// them there while the engine computes the moments). `values` holds whole strategies.
    /// Where each strategy's squared standardized norm was computed elsewhere too
    /// (`squared_norms`: the engine's `strategy_stats` query, by this evaluator's order of
    /// operations, see [`Evaluator::squared_norms`]), the values are not read for them here.
    ///
    /// # Panics
    /// When there is not one `Moments` (and one given squared norm) per strategy, or `values`
    /// holds part of one (a caller's bug).
    pub fn with_moments_placed(
        values: HugeVec,
        moments: Vec<Moments>,
        squared_norms: Option<Vec<f64>>,
        n_days: usize,
        metric: Metric,
        penalty: Penalty,
        balance: Option<Balance>,
    ) -> Self {
        assert_eq!(values.as_slice().len() % n_days.max(1), 0, "whole strategies");
        let strategies = Self::strategies(values.as_slice(), Some(moments), squared_norms, n_days);
        Self::assemble(values, strategies, n_days, metric, penalty, balance)
    }

    fn build(
        mut values: Vec<f64>,
        given: Option<Vec<Moments>>,
        n_days: usize,
        metric: Metric,
        penalty: Penalty,
        balance: Option<Balance>,
    ) -> Self {
        let n_strategies = values.len().checked_div(n_days).unwrap_or(0);
        values.truncate(n_strategies * n_days);
        let strategies = Self::strategies(&values, given, None, n_days);
        Self::assemble(HugeVec::new(values), strategies, n_days, metric, penalty, balance)
    }

    /// The evaluator of `values` (whole strategies) and their `strategies`' scales.
    fn assemble(
        values: HugeVec,
        strategies: Vec<Strategy>,
        n_days: usize,
        metric: Metric,
        penalty: Penalty,
        balance: Option<Balance>,
    ) -> Self {
        let n_strategies = strategies.len();
        Evaluator { metric, penalty, balance, n_days, n_strategies, values, strategies, isa: Isa::detect() }
    }

    /// Each strategy's scale (from `given` moments, or its own) and squared standardized norm
    /// (from `squares` where given, else summed from the values).
    fn strategies(
        values: &[f64],
        given: Option<Vec<Moments>>,
        squares: Option<Vec<f64>>,
        n_days: usize,
    ) -> Vec<Strategy> {
        let n_strategies = values.len().checked_div(n_days).unwrap_or(0);
        let row = |s: usize| n_days * s..n_days * (s + 1);
        let scales: Vec<Scale> = match given {
            Some(m) => {
                assert_eq!(m.len(), n_strategies, "one Moments per strategy");
                m.iter().map(Scale::of).collect()
            }
            None => (0..n_strategies).into_par_iter().map(|s| Scale::of(&Moments::of(&values[row(s)]))).collect(),
        };
        if let Some(squares) = squares {
            assert_eq!(squares.len(), n_strategies, "one squared norm per strategy");
            return scales.into_iter().zip(squares).map(|(scale, zz)| Strategy { scale, zz }).collect();
        }
        (0..n_strategies)
            .into_par_iter()
            .map(|s| {
                let scale = scales[s];
                let zz = squared_norm(&values[row(s)].iter().map(|&v| scale.z(v)).collect::<Vec<f64>>());
                Strategy { scale, zz }
            })
            .collect()
    }

    /// The P&L values, strategy by strategy (those of whole strategies only).
    pub fn into_values(self) -> Vec<f64> {
        self.values.into_vec()
    }

    /// This evaluator summing rows with the baseline instruction set only, whatever the CPU
    /// has: for tests that every choice gives the same bits, and for benchmarks.
    pub fn baseline_isa(mut self) -> Self {
        self.isa = Isa::Baseline;
        self
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }
    pub fn n_strategies(&self) -> usize {
        self.n_strategies
    }
    pub fn n_days(&self) -> usize {
        self.n_days
    }

    pub fn penalty(&self) -> Penalty {
        self.penalty
    }
    pub fn balance(&self) -> Option<&Balance> {
        self.balance.as_ref()
    }

    /// Daily P&L of strategy `s`.
    pub fn returns(&self, s: u32) -> &[f64] {
        &self.values.as_slice()[s as usize * self.n_days..(s as usize + 1) * self.n_days]
    }

    /// How many 2 MiB pages back the P&L values (0 below [`crate::pages::MIN_BYTES`] or where
    /// the OS refused).
    pub fn huge_pages(&self) -> usize {
        self.values.huge_pages()
    }

    /// Strategy `s`'s standardization.
    pub fn scale(&self, s: u32) -> Scale {
        self.strategies[s as usize].scale
    }

    /// The standardized column of strategy `s` (zeros for a flat strategy).
    pub fn standardized(&self, s: u32) -> Vec<f64> {
        let mut z = vec![0.0; self.n_days];
        self.z_row(s, &mut z);
        z
    }

    /// Writes strategy `s`'s standardized values into `out` (`n_days` values).
    #[inline]
    pub(crate) fn z_row(&self, s: u32, out: &mut [f64]) {
        let m = self.strategies[s as usize].scale;
        out.iter_mut().zip(self.returns(s)).for_each(|(z, &v)| *z = m.z(v));
    }

    /// Asks the memory system for strategy `s`'s row and constants ahead of their use (a hint;
    /// no effect on results).
    #[inline(always)]
    fn prefetch(&self, s: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let consts: *const Strategy = &self.strategies[s as usize];
            // SAFETY: prefetch hints for addresses inside `strategies` and `values`; they read
            // nothing.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(consts.cast()) };
            for line in self.returns(s).chunks(8) {
                unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = s;
    }

    /// The P&L values, strategy by strategy (`n_days` each): the rows the GPU kernels read.
    pub fn values(&self) -> &[f64] {
        self.values.as_slice()
    }

    /// Each strategy's constants as the GPU kernels read them, 4 doubles per strategy: mean,
    /// inverse norm, |z|^2, and 1 for a flat strategy (0 otherwise).
    pub fn strategy_constants(&self) -> Vec<f64> {
        self.strategies
            .iter()
            .flat_map(|s| [s.scale.mean, s.scale.inv_norm, s.zz, if s.scale.flat { 1.0 } else { 0.0 }])
            .collect()
    }

    /// |z|^2 of each strategy, summed in day order (1 up to rounding, or 0 for a flat one).
    pub fn squared_norms(&self) -> Vec<f64> {
        self.strategies.iter().map(|s| s.zz).collect()
    }

    /// |z|^2 of strategy `s`.
    #[inline]
    pub(crate) fn zz(&self, s: u32) -> f64 {
        self.strategies[s as usize].zz
    }

    pub fn scratch(&self) -> Scratch {
        let n_labels = self.balance.as_ref().map_or(0, |b| b.n_labels);
        Scratch { acc: vec![0.0; 2 * self.n_days], p: vec![0.0; self.n_days], counts: vec![0; n_labels] }
    }

    /// Sums the members' rows, P&L into `acc[..d]` and standardized values into `acc[d..]`, in
    /// member order; returns the sum of their |z|^2. `before`: the candidate summed before this
    /// one (with its sums), whose scoring advances a few days per row summed here.
    #[inline]
    fn sum_rows(&self, portfolio: &[u32], next: &[u32], acc: &mut [f64], before: Option<Before<'_>>) -> f64 {
        match self.isa {
            // SAFETY: `Isa::detect` found the instructions these variants are compiled for.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { self.sum_rows_avx512(portfolio, next, acc, before) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { self.sum_rows_avx2(portfolio, next, acc, before) },
            Isa::Baseline => self.sum_rows_body(portfolio, next, acc, before),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn sum_rows_avx512(&self, portfolio: &[u32], next: &[u32], acc: &mut [f64], before: Option<Before<'_>>) -> f64 {
        self.sum_rows_body(portfolio, next, acc, before)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn sum_rows_avx2(&self, portfolio: &[u32], next: &[u32], acc: &mut [f64], before: Option<Before<'_>>) -> f64 {
        self.sum_rows_body(portfolio, next, acc, before)
    }

    /// [`Evaluator::sum_rows`], compiled into each instruction set's variant. The rows three
    /// members ahead are prefetched while one is summed, running on into `next` (the
    /// candidate scored after this one, if any) near the end. After each row, `before`'s
    /// scoring takes its share of the days: its recurrence is a chain of dependent operations
    /// that the core runs while this candidate's rows come from memory, where it would wait
    /// for them if it ran alone.
    #[inline(always)]
    fn sum_rows_body(&self, portfolio: &[u32], next: &[u32], acc: &mut [f64], mut before: Option<Before<'_>>) -> f64 {
        let d = self.n_days;
        let (r, z) = acc.split_at_mut(d);
        r.fill(0.0);
        z.fill(0.0);
        let mut zz = 0.0;
        let k = portfolio.len();
        for (j, &i) in portfolio.iter().enumerate() {
            if let Some(&ahead) = portfolio.get(j + PREFETCH_AHEAD).or_else(|| next.get(j + PREFETCH_AHEAD - k)) {
                self.prefetch(ahead);
            }
            if let Some((f, sums)) = before.as_mut() {
                f.advance(sums, d, ((j + 1) * d).div_ceil(k));
            }
            let x = self.returns(i);
            let Strategy { scale: m, zz: own } = self.strategies[i as usize];
            if m.flat {
                // A flat strategy adds zeros: its standardized sums stay as they are.
                r.iter_mut().zip(x).for_each(|(a, v)| *a += v);
            } else {
                for ((a, b), &v) in r.iter_mut().zip(z.iter_mut()).zip(x) {
                    *a += v;
                    *b += (v - m.mean) * m.inv_norm;
                }
            }
            zz += own;
        }
        zz
    }

    /// Scores one portfolio of distinct strategy indices.
    pub fn evaluate(&self, portfolio: &[u32], s: &mut Scratch) -> Eval {
        let zz = self.sum_rows(portfolio, &[], &mut s.acc, None);
        let balance = self.balance_of(portfolio, &mut s.counts);
        self.score(&s.acc, portfolio.len(), zz, balance, &mut s.p)
    }

    /// The balanced-mode penalty of `portfolio` (0 without balanced mode), its label counts
    /// left in `counts`.
    fn balance_of(&self, portfolio: &[u32], counts: &mut [i64]) -> f64 {
        let Some(b) = &self.balance else { return 0.0 };
        counts.iter_mut().for_each(|c| *c = 0);
        portfolio.iter().for_each(|&i| counts[b.labels[i as usize] as usize] += 1);
        b.penalty(counts)
    }

    /// Scores many portfolios in parallel; `min_batch` candidates at least per rayon task.
    /// Within a task each candidate is scored while the next one's rows are summed
    /// ([`Evaluator::sum_rows_body`]); the scores are [`Evaluator::evaluate`]'s, bit for bit.
    pub fn evaluate_batch(&self, portfolios: &[Vec<u32>], min_batch: usize) -> Vec<Eval> {
        let mut out = vec![Eval::WORST; portfolios.len()];
        // A few tasks per thread (for balance), each a run of candidates long enough that
        // restarting the pipeline costs nothing.
        let per_task = portfolios.len().div_ceil(4 * rayon::current_num_threads()).max(min_batch).max(1);
        out.par_chunks_mut(per_task).zip(portfolios.par_chunks(per_task)).for_each_init(
            || (self.scratch(), vec![0.0; 2 * self.n_days]),
            |(s, spare), (out, run)| self.evaluate_run(run, out, s, spare),
        );
        out
    }

    /// Scores `run` into `out` in order, each candidate's scoring spread over the next one's
    /// row sums (the last one's done alone).
    fn evaluate_run(&self, run: &[Vec<u32>], out: &mut [Eval], s: &mut Scratch, spare: &mut Vec<f64>) {
        let d = self.n_days;
        let (mut sums, mut summed) = (&mut s.acc, spare);
        let mut pending: Option<Finishing> = None;
        for (i, portfolio) in run.iter().enumerate() {
            let next = run.get(i + 1).map_or(&[][..], |p| p);
            let zz = self.sum_rows(portfolio, next, sums, pending.as_mut().map(|f| (f, summed.as_slice())));
            if let Some(mut f) = pending.take() {
                f.advance(summed, d, d);
                out[i - 1] = f.eval(self);
            }
            pending = Some(Finishing::new(portfolio.len(), zz, self.balance_of(portfolio, &mut s.counts)));
            std::mem::swap(&mut sums, &mut summed);
        }
        if let Some(mut f) = pending {
            f.advance(summed, d, d);
            out[run.len() - 1] = f.eval(self);
        }
    }

    /// Scores a portfolio of `k` members from its column sums (`acc`: P&L sums then
    /// standardized sums), the sum of their |z|^2 and its label counts (`p`: scratch).
    pub(crate) fn finish(&self, acc: &[f64], k: usize, zz: f64, p: &mut [f64], counts: &[i64]) -> Eval {
        let balance = self.balance.as_ref().map_or(0.0, |b| b.penalty(counts));
        self.score(acc, k, zz, balance, p)
    }

    /// [`Evaluator::finish`] with balanced mode's penalty given; `p` gets the daily returns
    /// (divided all at once, in vectors, before the recurrence reads them).
    fn score(&self, acc: &[f64], k: usize, zz: f64, balance: f64, p: &mut [f64]) -> Eval {
        let (d, kf) = (self.n_days, k as f64);
        p.iter_mut().zip(&acc[..d]).for_each(|(p, a)| *p = a / kf);
        Finishing::whole(k, zz, balance, p, &acc[d..]).eval(self)
    }
}

/// The candidate summed before, being scored, and its sums (see [`Finishing`]).
type Before<'a> = (&'a mut Finishing, &'a [f64]);

/// The scoring of a candidate whose rows are summed, day by day: the equal-weight daily
/// return `sum / k` through the series recurrence (what [`crate::metrics::base_fitness`]
/// computes from the returns) and `|sum z|^2` summed in day order. [`Finishing::advance`]
/// takes it up to a day; [`Finishing::eval`] gives the score once every day is in.
#[derive(Debug, Clone, Copy)]
struct Finishing {
    k: usize,
    /// Days taken so far.
    day: usize,
    /// The members' |z|^2, summed.
    zz: f64,
    /// Balanced mode's penalty (0 without).
    balance: f64,
    series: SeriesStats,
    /// |sum z|^2 so far.
    zsum2: f64,
}

impl Finishing {
    fn new(k: usize, zz: f64, balance: f64) -> Self {
        // From -0.0: whichever zero `Iterator::sum` starts from (`whole`), adding the first
        // square (never -0.0) gives the same bits.
        Finishing { k, day: 0, zz, balance, series: SeriesStats::default(), zsum2: -0.0 }
    }

    /// Takes the days before `until` (at most `d`) from `sums` (P&L sums then standardized
    /// sums, `d` each), each day's return divided as it is taken.
    #[inline(always)]
    fn advance(&mut self, sums: &[f64], d: usize, until: usize) {
        let kf = self.k as f64;
        let (r, z) = sums.split_at(d);
        let end = until.min(d);
        let days = self.day.min(end)..end;
        for (&a, &zs) in r[days.clone()].iter().zip(&z[days]) {
            self.series.push(a / kf);
            self.zsum2 += zs * zs;
        }
        self.day = self.day.max(end);
    }

    /// Every day at once, from the daily returns `p` and standardized sums `z`: the same
    /// operations in the same order as [`Finishing::advance`], one chain after the other.
    #[inline]
    fn whole(k: usize, zz: f64, balance: f64, p: &[f64], z: &[f64]) -> Self {
        let series = SeriesStats::of(p);
        Finishing { k, day: p.len(), zz, balance, series, zsum2: z.iter().map(|v| v * v).sum() }
    }

    /// The score, once every day is taken.
    fn eval(&self, ev: &Evaluator) -> Eval {
        debug_assert_eq!(self.day, ev.n_days, "every day taken");
        let kf = self.k as f64;
        let base = ev.metric.unit().value(&self.series);
        let avg_corr = if self.k < 2 { 0.0 } else { (self.zsum2 - self.zz) / (kf * (kf - 1.0)) };
        let mut penalty = ev.penalty.weight * avg_corr;
        if ev.metric.halves_penalty_under_threshold() && self.series.max_drawdown < ev.penalty.drawdown_threshold {
            penalty /= 2.0;
        }
        Eval { fitness: base - penalty - self.balance, base_fitness: base, avg_corr }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    pub fn data(n: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * d).map(|_| rng.random_range(-100.0..100.0)).collect()
    }

    /// Brute force: the mean over pairs of Pearson correlations.
    fn avg_corr_pairs(ev: &Evaluator, pf: &[u32]) -> f64 {
        let mut sum = 0.0;
        let mut pairs = 0.0;
        for (a, &i) in pf.iter().enumerate() {
            for &j in &pf[a + 1..] {
                sum += ev.standardized(i).iter().zip(ev.standardized(j).iter()).map(|(x, y)| x * y).sum::<f64>();
                pairs += 1.0;
            }
        }
        if pairs == 0.0 { 0.0 } else { sum / pairs }
    }

    #[test]
    fn average_correlation_from_sums_equals_pairwise_mean() {
        let mut values = data(20, 30, 1);
        values[5 * 30..6 * 30].iter_mut().for_each(|v| *v = 7.0); // a constant strategy
        let ev = Evaluator::new(&values, 30, Metric::Ratio, Penalty::default(), None);
        let mut s = ev.scratch();
        for pf in [vec![0u32, 1, 2, 3], vec![5, 6, 7], vec![9], vec![5, 2]] {
            let e = ev.evaluate(&pf, &mut s);
            assert!((e.avg_corr - avg_corr_pairs(&ev, &pf)).abs() < 1e-12, "{pf:?}");
            assert!((e.fitness - (e.base_fitness - 10.0 * e.avg_corr)).abs() < 1e-12);
        }
    }

    /// A batch scores each candidate while summing the next one's rows; every score is the
    /// one it gets alone, bit for bit: sizes 1 to 12 over 5 and 20 days (fewer days than
    /// members, and more), runs of 1, 3 and all candidates, every metric, a drawdown threshold,
    /// balanced mode, a flat strategy and NaN and inf values.
    #[test]
    fn a_batch_scores_each_candidate_as_alone_bit_for_bit() {
        let bits = |e: &Eval| [e.fitness.to_bits(), e.base_fitness.to_bits(), e.avg_corr.to_bits()];
        for d in [5, 20] {
            let mut values = data(30, d, 4);
            values[3 * d..4 * d].iter_mut().for_each(|v| *v = 7.0); // flat
            values[9 * d + 1] = f64::NAN;
            values[13 * d + 2] = f64::INFINITY;
            let balance = Balance {
                labels: (0..30).map(|i| (i % 3) as u16).collect(),
                desired: vec![(2, 1)],
                factor: 0.25,
                n_labels: 3,
            };
            let pfs: Vec<Vec<u32>> =
                (0..40u32).map(|i| (0..1 + i % 12).map(|j| (i * 5 + j * 7) % 30).collect()).collect();
            for metric in Metric::ALL {
                let penalty = Penalty { weight: 10.0, drawdown_threshold: 400.0 };
                let ev = Evaluator::new(&values, d, metric, penalty, Some(balance.clone()));
                let mut s = ev.scratch();
                let alone: Vec<_> = pfs.iter().map(|pf| bits(&ev.evaluate(pf, &mut s))).collect();
                for run in [1, 3, pfs.len()] {
                    let batch: Vec<_> = ev.evaluate_batch(&pfs, run).iter().map(bits).collect();
                    assert_eq!(batch, alone, "{metric}, {d} days, runs of {run}");
                }
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        // 37 days: whole vectors and a partial one for every width.
        let mut values = data(40, 37, 9);
        values[2 * 37..3 * 37].iter_mut().for_each(|v| *v = 0.1); // flat, rounding noise
        values[7 * 37 + 4] = f64::NAN;
        values[11 * 37 + 5] = f64::INFINITY;
        let balance = Balance {
            labels: (0..40).map(|i| (i % 2) as u16).collect(),
            desired: vec![(1, 2)],
            factor: 0.5,
            n_labels: 2,
        };
        let detected = Evaluator::new(&values, 37, Metric::Expectancy, Penalty::default(), Some(balance.clone()));
        let baseline =
            Evaluator::new(&values, 37, Metric::Expectancy, Penalty::default(), Some(balance)).baseline_isa();
        assert_eq!(baseline.isa, Isa::Baseline);
        let pfs: Vec<Vec<u32>> = (0..60).map(|i| vec![i % 40, (i * 7 + 2) % 40, 2, (i * 3 + 7) % 40]).collect();
        let pfs: Vec<Vec<u32>> = pfs.into_iter().filter(|p| (1..p.len()).all(|j| !p[..j].contains(&p[j]))).collect();
        let bits = |e: &Eval| [e.fitness.to_bits(), e.base_fitness.to_bits(), e.avg_corr.to_bits()];
        let (a, b) = (detected.evaluate_batch(&pfs, 4), baseline.evaluate_batch(&pfs, 4));
        assert_eq!(a.iter().map(bits).collect::<Vec<_>>(), b.iter().map(bits).collect::<Vec<_>>());
        // And one at a time (no next candidate to prefetch) as in a batch.
        let mut s = detected.scratch();
        for (pf, e) in pfs.iter().zip(&a) {
            assert_eq!(bits(&detected.evaluate(pf, &mut s)), bits(e));
        }
    }

    #[test]
    fn standardized_values_are_the_scaled_deviations_and_the_gpu_constants_hold_them() {
        let mut values = data(9, 13, 3);
        values[4 * 13..5 * 13].iter_mut().for_each(|v| *v = -2.5); // flat
        let ev = Evaluator::new(&values, 13, Metric::Roi, Penalty::default(), None);
        for s in 0..9u32 {
            let m = Moments::of(ev.returns(s));
            let want: Vec<f64> =
                ev.returns(s).iter().map(|&v| if m.flat { 0.0 } else { (v - m.mean) * (1.0 / m.norm) }).collect();
            assert_eq!(ev.standardized(s), want, "strategy {s}");
            // Within rounding of standardize's division.
            for (z, v) in ev.standardized(s).iter().zip(ev.returns(s)) {
                assert!((z - m.z(*v)).abs() <= 4.0 * f64::EPSILON * m.z(*v).abs().max(f64::MIN_POSITIVE));
            }
        }
        // The sums are the rows and their standardized values added in member order.
        let pf = [3u32, 4, 0, 8];
        let mut acc = vec![0.0; 26];
        for &i in &pf {
            let row = ev.returns(i).iter().copied().chain(ev.standardized(i));
            acc.iter_mut().zip(row).for_each(|(a, x)| *a += x);
        }
        let mut s = ev.scratch();
        ev.evaluate(&pf, &mut s);
        assert_eq!(s.acc, acc);
        // The constants the GPU reads.
        let consts = ev.strategy_constants();
        assert_eq!(consts.len(), 4 * 9);
        let scale = ev.scale(3);
        assert_eq!(consts[12..16], [scale.mean, scale.inv_norm, ev.squared_norms()[3], 0.0]);
        assert_eq!((consts[18], consts[19]), (0.0, 1.0));
    }

    #[test]
    fn moments_from_elsewhere_are_the_ones_used_and_the_values_come_back() {
        let mut values = data(12, 9, 7);
        values[2 * 9..3 * 9].iter_mut().for_each(|v| *v = -0.4); // flat
        let local = Evaluator::new(&values, 9, Metric::Ratio, Penalty::default(), None);
        let own: Vec<Moments> = values.chunks(9).map(Moments::of).collect();
        let given = Evaluator::with_moments(values.clone(), own.clone(), 9, Metric::Ratio, Penalty::default(), None);
        assert_eq!(given.strategy_constants(), local.strategy_constants());
        let pf = [0u32, 2, 5, 11];
        assert_eq!(local.evaluate(&pf, &mut local.scratch()), given.evaluate(&pf, &mut given.scratch()));
        // Other moments give other standardized values: they, not the own ones, are used.
        let mut other = own;
        other[5].norm *= 2.0;
        let moved = Evaluator::with_moments(values.clone(), other.clone(), 9, Metric::Ratio, Penalty::default(), None);
        let want: Vec<f64> = values[5 * 9..6 * 9].iter().map(|&v| Scale::of(&other[5]).z(v)).collect();
        assert_eq!(moved.standardized(5), want);
        assert_ne!(
            moved.evaluate(&pf, &mut moved.scratch()).avg_corr,
            local.evaluate(&pf, &mut local.scratch()).avg_corr
        );
        // Values placed on pages beforehand give the same evaluator, and come back.
        let placed = Evaluator::with_moments_placed(
            HugeVec::new(values.clone()),
            other.clone(),
            None,
            9,
            Metric::Ratio,
            Penalty::default(),
            None,
        );
        assert_eq!(placed.strategy_constants(), moved.strategy_constants());
        assert_eq!(placed.evaluate(&pf, &mut placed.scratch()), moved.evaluate(&pf, &mut moved.scratch()));
        // Squared norms from elsewhere are the ones used (the values are not read for them).
        let with_squares = |squares: Vec<f64>| {
            let pages = HugeVec::new(values.clone());
            Evaluator::with_moments_placed(
                pages,
                other.clone(),
                Some(squares),
                9,
                Metric::Ratio,
                Penalty::default(),
                None,
            )
        };
        let mut squares = moved.squared_norms();
        let given = with_squares(squares.clone());
        assert_eq!(given.strategy_constants(), moved.strategy_constants());
        assert_eq!(given.evaluate(&pf, &mut given.scratch()), moved.evaluate(&pf, &mut moved.scratch()));
        squares[5] += 0.5;
        let odd = with_squares(squares.clone());
        assert_eq!(odd.squared_norms(), squares);
        assert_eq!(odd.into_values(), values);
        assert_eq!(placed.into_values(), values);
        assert_eq!(moved.into_values(), values);
        let owned = Evaluator::from_values(values.clone(), 9, Metric::Ratio, Penalty::default(), None);
        assert_eq!(owned.strategy_constants(), local.strategy_constants());
        assert_eq!(owned.into_values(), values);
    }

    #[test]
    fn penalty_is_halved_under_the_drawdown_threshold_for_ratio_only() {
        let values = data(6, 10, 5);
        let pf = [0u32, 1, 2];
        for (metric, halves) in [(Metric::Ratio, true), (Metric::LessMaxDd, true), (Metric::Roi, false)] {
            let plain = Evaluator::new(&values, 10, metric, Penalty::default(), None);
            let high = Evaluator::new(&values, 10, metric, Penalty { weight: 10.0, drawdown_threshold: 1e12 }, None);
            let (a, b) = (plain.evaluate(&pf, &mut plain.scratch()), high.evaluate(&pf, &mut high.scratch()));
            let expect = if halves { a.base_fitness - 5.0 * a.avg_corr } else { a.fitness };
            assert!((b.fitness - expect).abs() < 1e-12, "{metric}");
        }
    }

    #[test]
    fn a_nan_score_never_beats_a_number() {
        let mut values = data(5, 4, 7);
        values[5] = f64::NAN;
        let ev = Evaluator::new(&values, 4, Metric::Ratio, Penalty::default(), None);
        let (nan, number) = (ev.evaluate(&[0, 1, 2], &mut ev.scratch()), ev.evaluate(&[2, 3, 4], &mut ev.scratch()));
        assert!(nan.fitness.is_nan() && number.fitness.is_finite());
        assert!(!nan.better_than(&number) && number.better_than(&nan) && number.better_than(&Eval::WORST));
    }
}
