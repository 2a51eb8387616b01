//! Batch fitness of candidate portfolios: the base metric of the equal-weight daily returns
//! minus the correlation penalty (and balanced mode's), as the legacy scores them.
//!
//! Layout: each strategy's P&L and standardized column side by side (`2 * days` values per
//! strategy), so one pass over a portfolio's rows gives both column sums; the average pairwise
//! correlation is then `(|sum z|^2 - sum |z|^2) / (k (k - 1))`, with no strategy-by-strategy
//! matrix. Batches run in parallel over rayon.

use rayon::prelude::*;

use crate::metrics::{Metric, base_fitness};
use crate::standardize::{squared_norm, standardize};

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
    panel: Vec<f64>,
    /// |z|^2 of each strategy (1, or 0 for a flat one).
    pub(crate) zz: Vec<f64>,
}

impl Evaluator {
    /// Builds the evaluator from strategy-major values (`n_days` per strategy), standardizing
    /// each strategy here.
    pub fn new(values: &[f64], n_days: usize, metric: Metric, penalty: Penalty, balance: Option<Balance>) -> Self {
        Self::build(values, n_days, metric, penalty, balance, |_, x, z| {
            standardize(x, z);
        })
    }

    /// As [`Evaluator::new`], with the standardized columns computed elsewhere (by the engine's
    /// `standardize` query): `z` holds them strategy by strategy, zeros for a flat one.
    ///
    /// # Panics
    /// When `z` and `values` differ in length (a caller's bug: one z per value).
    pub fn with_standardized(
        values: &[f64],
        z: &[f64],
        n_days: usize,
        metric: Metric,
        penalty: Penalty,
        balance: Option<Balance>,
    ) -> Self {
        assert_eq!(values.len(), z.len(), "one standardized value per P&L value");
        Self::build(values, n_days, metric, penalty, balance, |s, _, zrow| {
            zrow.copy_from_slice(&z[s * n_days..(s + 1) * n_days]);
        })
    }

    /// The [returns | z] panel, row by row in parallel; `fill_z(strategy, returns, z)` writes a
    /// row's standardized values.
    fn build(
        values: &[f64],
        n_days: usize,
        metric: Metric,
        penalty: Penalty,
        balance: Option<Balance>,
        fill_z: impl Fn(usize, &[f64], &mut [f64]) + Sync,
    ) -> Self {
        let n_strategies = values.len().checked_div(n_days).unwrap_or(0);
        let mut panel = vec![0.0; n_strategies * 2 * n_days];
        let mut zz = vec![0.0; n_strategies];
        if n_days > 0 {
            panel
                .par_chunks_mut(2 * n_days)
                .zip(zz.par_iter_mut())
                .zip(values.par_chunks(n_days))
                .enumerate()
                .for_each(|(s, ((row, zz), x))| {
                    let (r, z) = row.split_at_mut(n_days);
                    r.copy_from_slice(x);
                    fill_z(s, x, z);
                    *zz = squared_norm(z);
                });
        }
        Evaluator { metric, penalty, balance, n_days, n_strategies, panel, zz }
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

    /// The [returns | z] panel: `2 * n_days` values per strategy, strategy by strategy (the
    /// layout the GPU kernels read too).
    pub fn panel(&self) -> &[f64] {
        &self.panel
    }

    /// |z|^2 of each strategy, summed in day order (1, or 0 for a flat one).
    pub fn squared_norms(&self) -> &[f64] {
        &self.zz
    }

    /// Daily P&L of strategy `s`.
    pub fn returns(&self, s: u32) -> &[f64] {
        &self.row(s)[..self.n_days]
    }

    /// The standardized column of strategy `s` (zeros for a flat strategy).
    pub fn standardized(&self, s: u32) -> &[f64] {
        &self.row(s)[self.n_days..]
    }

    #[inline]
    pub(crate) fn row(&self, s: u32) -> &[f64] {
        let w = 2 * self.n_days;
        &self.panel[s as usize * w..(s as usize + 1) * w]
    }

    pub fn scratch(&self) -> Scratch {
        let n_labels = self.balance.as_ref().map_or(0, |b| b.n_labels);
        Scratch { acc: vec![0.0; 2 * self.n_days], p: vec![0.0; self.n_days], counts: vec![0; n_labels] }
    }

    /// Scores one portfolio of distinct strategy indices.
    pub fn evaluate(&self, portfolio: &[u32], s: &mut Scratch) -> Eval {
        s.acc.iter_mut().for_each(|a| *a = 0.0);
        let mut zz = 0.0;
        for &i in portfolio {
            add(&mut s.acc, self.row(i));
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

#[inline]
pub(crate) fn add(acc: &mut [f64], row: &[f64]) {
    acc.iter_mut().zip(row).for_each(|(a, x)| *a += x);
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
                sum += ev.standardized(i).iter().zip(ev.standardized(j)).map(|(x, y)| x * y).sum::<f64>();
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
    fn standardized_from_elsewhere_gives_the_same_scores() {
        let values = data(12, 9, 6);
        let local = Evaluator::new(&values, 9, Metric::Ratio, Penalty::default(), None);
        let z: Vec<f64> = (0..12u32).flat_map(|s| local.standardized(s).to_vec()).collect();
        let given = Evaluator::with_standardized(&values, &z, 9, Metric::Ratio, Penalty::default(), None);
        let pf = [0u32, 4, 7, 11];
        assert_eq!(local.evaluate(&pf, &mut local.scratch()), given.evaluate(&pf, &mut given.scratch()));
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
