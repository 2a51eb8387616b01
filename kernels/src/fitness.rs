//! Batch fitness of candidate portfolios: the base metric of the equal-weight daily returns
//! minus the correlation penalty (and balanced mode's), as the legacy scores them.
//!
//! Layout: beyond [`STORE_Z_MAX_BYTES`], the P&L rows alone (16.8 MB at production shape: they
//! stay in a 32 MiB L3, where a [returns | z] panel of twice the size did not) and each
//! strategy's mean and norm. One pass over a portfolio's rows sums both the P&L and the
//! standardized values, each computed on the fly as `(x - mean) / norm`: the operations of
//! `standardize`, so the sums are the bits the panel gave. The next rows are prefetched while
//! one is summed. Smaller data keeps the [returns | z] panel, which is faster in cache. The average pairwise
//! correlation is then `(|sum z|^2 - sum |z|^2) / (k (k - 1))`, with no strategy-by-strategy
//! matrix. Batches run in parallel over rayon.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::metrics::{Metric, base_fitness};
use crate::standardize::{Moments, squared_norm};

/// Rows prefetched ahead of the one being summed.
const PREFETCH_AHEAD: usize = 3;

/// Largest P&L-plus-z size for which the standardized values are stored rather than computed
/// on the fly: data this small stays in the caches either way, and reading z beats dividing
/// (see `examples/layout_probe.rs` and reports/README.md).
pub const STORE_Z_MAX_BYTES: usize = 8 << 20;

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

/// Scores portfolios of one data set.
#[derive(Debug)]
pub struct Evaluator {
    metric: Metric,
    penalty: Penalty,
    pub(crate) balance: Option<Balance>,
    n_days: usize,
    n_strategies: usize,
    /// P&L, strategy by strategy (`n_days` each).
    values: Vec<f64>,
    /// Each strategy's mean and norm (`standardize`'s), from which its z is computed.
    moments: Vec<Moments>,
    /// The [returns | z] rows side by side (`2 * n_days` each), read instead of computing z:
    /// kept when they fit [`STORE_Z_MAX_BYTES`] (the division per value then costs more than
    /// the reads).
    panel: Option<Vec<f64>>,
    /// |z|^2 of each strategy (1, or 0 for a flat one).
    pub(crate) zz: Vec<f64>,
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
    /// engine's `strategy_stats` query): its standardized values are `moments[s].z(v)`, the
    /// operations of `standardize.sql` over those moments.
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
        let row = |s: usize| n_days * s..n_days * (s + 1);
        let moments: Vec<Moments> = match given {
            Some(m) => {
                assert_eq!(m.len(), n_strategies, "one Moments per strategy");
                m
            }
            None => (0..n_strategies).into_par_iter().map(|s| Moments::of(&values[row(s)])).collect(),
        };
        let own_z = |s: usize| values[row(s)].iter().map(|&v| moments[s].z(v)).collect::<Vec<f64>>();
        let zz = (0..n_strategies).into_par_iter().map(|s| squared_norm(&own_z(s))).collect();
        let small = 2 * 8 * n_strategies * n_days <= STORE_Z_MAX_BYTES;
        let panel = small.then(|| {
            (0..n_strategies)
                .into_par_iter()
                .flat_map_iter(|s| values[row(s)].iter().copied().chain(own_z(s)))
                .collect()
        });
        Evaluator { metric, penalty, balance, n_days, n_strategies, values, moments, panel, zz }
    }

    /// The P&L values, strategy by strategy (those of whole strategies only).
    pub fn into_values(self) -> Vec<f64> {
        self.values
    }

    /// This evaluator computing its standardized values on the fly: the layout of data beyond
    /// [`STORE_Z_MAX_BYTES`], for tests and benchmarks of it on small data. Scores do not change.
    pub fn computing_z(mut self) -> Self {
        self.panel = None;
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
        &self.values[s as usize * self.n_days..(s as usize + 1) * self.n_days]
    }

    /// The standardized column of strategy `s` (zeros for a flat strategy).
    pub fn standardized(&self, s: u32) -> Cow<'_, [f64]> {
        match &self.panel {
            Some(panel) => {
                Cow::Borrowed(&panel[(2 * s as usize + 1) * self.n_days..(2 * s as usize + 2) * self.n_days])
            }
            None => Cow::Owned(self.returns(s).iter().map(|&v| self.moments[s as usize].z(v)).collect()),
        }
    }

    /// Adds strategy `s`'s P&L to `acc[..d]` and its standardized values to `acc[d..]`.
    #[inline]
    pub(crate) fn add_row(&self, acc: &mut [f64], s: u32) {
        let d = self.n_days;
        if let Some(panel) = &self.panel {
            let row = &panel[2 * s as usize * d..2 * (s as usize + 1) * d];
            acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            return;
        }
        let x = self.returns(s);
        let (r, z) = acc.split_at_mut(d);
        let m = self.moments[s as usize];
        if m.flat {
            // A flat strategy adds zeros: its standardized sums stay as they are.
            r.iter_mut().zip(x).for_each(|(a, v)| *a += v);
        } else {
            for ((a, b), &v) in r.iter_mut().zip(z.iter_mut()).zip(x) {
                *a += v;
                *b += (v - m.mean) / m.norm;
            }
        }
    }

    /// Writes strategy `s`'s standardized values into `out` (`n_days` values).
    #[inline]
    pub(crate) fn z_row(&self, s: u32, out: &mut [f64]) {
        match &self.panel {
            Some(_) => out.copy_from_slice(&self.standardized(s)),
            None => {
                let m = self.moments[s as usize];
                out.iter_mut().zip(self.returns(s)).for_each(|(z, &v)| *z = m.z(v));
            }
        }
    }

    /// Asks the memory system for strategy `s`'s row ahead of its use (a hint; no effect on
    /// results).
    #[inline]
    fn prefetch(&self, s: u32) {
        #[cfg(target_arch = "x86_64")]
        for line in self.returns(s).chunks(8) {
            // SAFETY: a prefetch hint for an address inside `values`; it reads nothing.
            unsafe { std::arch::x86_64::_mm_prefetch(line.as_ptr().cast(), std::arch::x86_64::_MM_HINT_T0) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = s;
    }

    /// The [returns | z] rows side by side, `2 * n_days` values per strategy: the layout the
    /// GPU kernels read (built for their one upload).
    pub fn panel(&self) -> Vec<f64> {
        if let Some(panel) = &self.panel {
            return panel.clone();
        }
        let mut panel = Vec::with_capacity(2 * self.values.len());
        for s in 0..self.n_strategies as u32 {
            panel.extend_from_slice(self.returns(s));
            panel.extend_from_slice(&self.standardized(s));
        }
        panel
    }

    /// |z|^2 of each strategy, summed in day order (1, or 0 for a flat one).
    pub fn squared_norms(&self) -> &[f64] {
        &self.zz
    }

    pub fn scratch(&self) -> Scratch {
        let n_labels = self.balance.as_ref().map_or(0, |b| b.n_labels);
        Scratch { acc: vec![0.0; 2 * self.n_days], p: vec![0.0; self.n_days], counts: vec![0; n_labels] }
    }

    /// Scores one portfolio of distinct strategy indices.
    pub fn evaluate(&self, portfolio: &[u32], s: &mut Scratch) -> Eval {
        s.acc.iter_mut().for_each(|a| *a = 0.0);
        let mut zz = 0.0;
        for (j, &i) in portfolio.iter().enumerate() {
            if let Some(&ahead) = portfolio.get(j + PREFETCH_AHEAD)
                && self.panel.is_none()
            {
                self.prefetch(ahead);
            }
            self.add_row(&mut s.acc, i);
            zz += self.zz[i as usize];
        }
        if let Some(b) = &self.balance {
            s.counts.iter_mut().for_each(|c| *c = 0);
            portfolio.iter().for_each(|&i| s.counts[b.labels[i as usize] as usize] += 1);
        }
        let Scratch { acc, p, counts } = s;
        self.finish(acc, portfolio.len(), zz, p, counts)
    }

    /// Scores many portfolios in parallel; `min_batch` candidates at least per rayon task.
    pub fn evaluate_batch(&self, portfolios: &[Vec<u32>], min_batch: usize) -> Vec<Eval> {
        portfolios
            .par_iter()
            .with_min_len(min_batch.max(1))
            .map_init(|| self.scratch(), |s, pf| self.evaluate(pf, s))
            .collect()
    }

    /// Scores a portfolio from its column sums (`acc`: P&L sums then standardized sums).
    pub(crate) fn finish(&self, acc: &[f64], k: usize, zz: f64, p: &mut [f64], counts: &[i64]) -> Eval {
        let d = self.n_days;
        let kf = k as f64;
        p.iter_mut().zip(&acc[..d]).for_each(|(p, a)| *p = a / kf);
        let (base, mdd) = base_fitness(self.metric, p);
        let avg_corr = if k < 2 {
            0.0
        } else {
            let zsum2: f64 = acc[d..].iter().map(|v| v * v).sum();
            (zsum2 - zz) / (kf * (kf - 1.0))
        };
        let mut penalty = self.penalty.weight * avg_corr;
        if self.metric.halves_penalty_under_threshold() && mdd < self.penalty.drawdown_threshold {
            penalty /= 2.0;
        }
        let balance = self.balance.as_ref().map_or(0.0, |b| b.penalty(counts));
        Eval { fitness: base - penalty - balance, base_fitness: base, avg_corr }
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

    #[test]
    fn batch_equals_one_by_one() {
        let values = data(30, 20, 4);
        let ev = Evaluator::new(&values, 20, Metric::Roi, Penalty::default(), None);
        let pfs: Vec<Vec<u32>> = (0..25).map(|i| vec![i, (i + 1) % 30, (i + 7) % 30]).collect();
        let batch = ev.evaluate_batch(&pfs, 4);
        let mut s = ev.scratch();
        for (pf, e) in pfs.iter().zip(batch) {
            assert_eq!(ev.evaluate(pf, &mut s), e);
        }
    }

    #[test]
    fn stored_and_computed_z_give_the_same_bits() {
        let mut values = data(40, 30, 9);
        values[2 * 30..3 * 30].iter_mut().for_each(|v| *v = 0.1); // flat, rounding noise
        values[7 * 30 + 4] = f64::NAN;
        let balance = Balance {
            labels: (0..40).map(|i| (i % 2) as u16).collect(),
            desired: vec![(1, 2)],
            factor: 0.5,
            n_labels: 2,
        };
        let stored = Evaluator::new(&values, 30, Metric::Expectancy, Penalty::default(), Some(balance.clone()));
        let computed = Evaluator::new(&values, 30, Metric::Expectancy, Penalty::default(), Some(balance)).computing_z();
        assert!(stored.panel.is_some() && computed.panel.is_none());
        let pfs: Vec<Vec<u32>> = (0..60).map(|i| vec![i % 40, (i * 7 + 2) % 40, 2, (i * 3 + 7) % 40]).collect();
        let pfs: Vec<Vec<u32>> = pfs.into_iter().filter(|p| (1..p.len()).all(|j| !p[..j].contains(&p[j]))).collect();
        let (a, b) = (stored.evaluate_batch(&pfs, 4), computed.evaluate_batch(&pfs, 4));
        for (x, y) in a.iter().zip(&b) {
            assert!(
                x.fitness.to_bits() == y.fitness.to_bits() || (x.fitness.is_nan() && y.fitness.is_nan()),
                "{x:?} {y:?}"
            );
            assert!(x.avg_corr.to_bits() == y.avg_corr.to_bits() || (x.avg_corr.is_nan() && y.avg_corr.is_nan()));
        }
        let bits = |z: &[f64]| z.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for s in 0..40u32 {
            assert_eq!(bits(&stored.standardized(s)), bits(&computed.standardized(s)), "strategy {s}");
        }
    }

    #[test]
    fn moments_from_elsewhere_are_the_ones_used_and_the_values_come_back() {
        let mut values = data(12, 9, 7);
        values[2 * 9..3 * 9].iter_mut().for_each(|v| *v = -0.4); // flat
        let local = Evaluator::new(&values, 9, Metric::Ratio, Penalty::default(), None);
        let own: Vec<Moments> = values.chunks(9).map(Moments::of).collect();
        let given = Evaluator::with_moments(values.clone(), own.clone(), 9, Metric::Ratio, Penalty::default(), None);
        assert_eq!(given.panel, local.panel);
        let pf = [0u32, 2, 5, 11];
        assert_eq!(local.evaluate(&pf, &mut local.scratch()), given.evaluate(&pf, &mut given.scratch()));
        // Other moments give other standardized values: they, not the own ones, are used.
        let mut other = own;
        other[5].norm *= 2.0;
        let moved = Evaluator::with_moments(values.clone(), other.clone(), 9, Metric::Ratio, Penalty::default(), None);
        let want: Vec<f64> = values[5 * 9..6 * 9].iter().map(|&v| other[5].z(v)).collect();
        assert_eq!(moved.standardized(5).as_ref(), want.as_slice());
        assert_ne!(
            moved.evaluate(&pf, &mut moved.scratch()).avg_corr,
            local.evaluate(&pf, &mut local.scratch()).avg_corr
        );
        assert_eq!(moved.into_values(), values);
        let owned = Evaluator::from_values(values.clone(), 9, Metric::Ratio, Penalty::default(), None);
        assert_eq!(owned.panel, local.panel);
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
