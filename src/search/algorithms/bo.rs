//! Bayesian optimization with a cheap surrogate: Bayesian linear regression of fitness on the
//! mean standardized features of a portfolio's strategies (own fitness, ROI, -max drawdown,
//! win rate), Thompson sampling over proposals (swaps around the best so far, drawing from
//! the strategies that score best alone, and fresh random portfolios).

use std::collections::HashSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::search::{Algorithm, FEATURES, Found, Params, Problem, Tracker};

/// Dimension of the surrogate: intercept plus mean features.
const DIM: usize = FEATURES + 1;
/// Proposals scored by the surrogate per evaluation.
const PROPOSALS: usize = 128;
/// Prior precision of the weights.
const PRIOR: f64 = 1e-2;

pub struct Bayesian;

fn phi(pb: &Problem, portfolio: &[u32]) -> [f64; DIM] {
    let mut out = [0.0; DIM];
    out[0] = 1.0;
    for &s in portfolio {
        for f in 0..FEATURES {
            out[f + 1] += pb.features.values[s as usize][f];
        }
    }
    let k = portfolio.len() as f64;
    out[1..].iter_mut().for_each(|v| *v /= k);
    out
}

fn sorted(mut p: Vec<u32>) -> Vec<u32> {
    p.sort_unstable();
    p
}

/// Lower Cholesky factor of a symmetric positive definite matrix.
fn cholesky(a: &[[f64; DIM]; DIM]) -> [[f64; DIM]; DIM] {
    let mut l = [[0.0; DIM]; DIM];
    for i in 0..DIM {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                l[i][j] = (a[i][i] - s).max(1e-12).sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    l
}

/// A draw of the weights from the posterior given observations (x, y).
fn thompson(rng: &mut ChaCha8Rng, xs: &[[f64; DIM]], ys: &[f64]) -> [f64; DIM] {
    // Non-finite fitness (an infinite ratio, say) carries no slope information: left out.
    let (xs, ys): (Vec<[f64; DIM]>, Vec<f64>) =
        xs.iter().zip(ys).filter(|(_, y)| y.is_finite()).map(|(x, y)| (*x, *y)).unzip();
    let n = ys.len().max(1) as f64;
    let mean = ys.iter().sum::<f64>() / n;
    let sd = (ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n).sqrt().max(1e-12);
    let y: Vec<f64> = ys.iter().map(|v| (v - mean) / sd).collect();
    // Precision A = PRIOR I + X^T X / noise, mean = A^-1 X^T y / noise.
    let mut xtx = [[0.0; DIM]; DIM];
    let mut xty = [0.0; DIM];
    for (x, &yv) in xs.iter().zip(&y) {
        for i in 0..DIM {
            xty[i] += x[i] * yv;
            for j in 0..DIM {
                xtx[i][j] += x[i] * x[j];
            }
        }
    }
    let noise = 0.25; // standardized units: the surrogate explains part of the spread only
    let mut a = [[0.0; DIM]; DIM];
    for i in 0..DIM {
        for j in 0..DIM {
            a[i][j] = xtx[i][j] / noise + if i == j { PRIOR } else { 0.0 };
        }
    }
    let l = cholesky(&a);
    let b: Vec<f64> = xty.iter().map(|v| v / noise).collect();
    // mu = A^-1 b via L L^T.
    let mut z = [0.0; DIM];
    for i in 0..DIM {
        z[i] = (b[i] - (0..i).map(|k| l[i][k] * z[k]).sum::<f64>()) / l[i][i];
    }
    let eps: [f64; DIM] = std::array::from_fn(|_| StandardNormal.sample(rng));
    // w = L^-T (z + eps): mean L^-T L^-1 b = mu, covariance A^-1.
    let rhs: [f64; DIM] = std::array::from_fn(|i| z[i] + eps[i]);
    let mut w = [0.0; DIM];
    for i in (0..DIM).rev() {
        w[i] = (rhs[i] - (i + 1..DIM).map(|k| l[k][i] * w[k]).sum::<f64>()) / l[i][i];
    }
    w
}

impl Algorithm for Bayesian {
    fn name(&self) -> &'static str {
        "BO"
    }
    fn description(&self) -> &'static str {
        "Bayesian optimization: linear surrogate on mean strategy features, Thompson sampling over proposals"
    }
    fn budget(&self, p: &Params) -> usize {
        p.generations
    }

    fn run(&self, pb: &Problem, rng: &mut ChaCha8Rng) -> Found {
        let budget = self.budget(pb.params);
        let mut t = Tracker::default();
        let init = (budget / 5).max(2).min(budget);
        let seen: Vec<Vec<u32>> = (0..init).map(|_| pb.random_portfolio(rng)).collect();
        let evals = pb.evaluate_batch(&seen);
        t.offer_all(&seen, &evals);
        let mut xs: Vec<[f64; DIM]> = seen.iter().map(|p| phi(pb, p)).collect();
        let mut ys: Vec<f64> = evals.iter().map(|e| e.fitness).collect();
        let mut seen: HashSet<Vec<u32>> = seen.into_iter().map(sorted).collect();
        // Strategies that score best alone: where swaps draw newcomers from half the time.
        let mut top: Vec<u32> = (0..pb.n() as u32).collect();
        let pool = (pb.n() / 20).max(pb.size * 2).min(pb.n());
        top.select_nth_unstable_by(pool - 1, |&a, &b| {
            pb.features.single[b as usize].total_cmp(&pb.features.single[a as usize]).then(a.cmp(&b))
        });
        top.truncate(pool);
        let mut s = pb.scratch();
        for _ in init..budget {
            let w = thompson(rng, &xs, &ys);
            let mut best: Option<(f64, Vec<u32>)> = None;
            for i in 0..PROPOSALS {
                let cand = if i % 2 == 0 {
                    pb.random_portfolio(rng)
                } else {
                    let mut c = t.best().to_vec();
                    for _ in 0..rng.random_range(1..=3) {
                        let slot = rng.random_range(0..c.len());
                        let newcomer = top[rng.random_range(0..top.len())];
                        c[slot] = if c.contains(&newcomer) { pb.outsider(rng, &c) } else { newcomer };
                    }
                    c
                };
                let x = phi(pb, &cand);
                let score: f64 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
                if best.as_ref().is_none_or(|(b, _)| score > *b) && !seen.contains(&sorted(cand.clone())) {
                    best = Some((score, cand));
                }
            }
            let cand = best.map(|(_, c)| c).unwrap_or_else(|| pb.random_portfolio(rng));
            let e = pb.ev.evaluate(&cand, &mut s);
            t.offer(&cand, e);
            xs.push(phi(pb, &cand));
            ys.push(e.fitness);
            seen.insert(sorted(cand));
        }
        t.finish(pb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn keeps_the_contract() {
        crate::search::testing::check_contract(&Bayesian);
    }

    #[test]
    fn ends_on_non_finite_fitness() {
        crate::search::testing::check_terminates_on_non_finite(&Bayesian);
    }

    #[test]
    fn posterior_draws_recover_a_linear_trend() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let xs: Vec<[f64; DIM]> =
            (0..40).map(|i| [1.0, i as f64 / 10.0, ((i * 7) % 5) as f64, 0.0, -(i as f64) / 20.0]).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 3.0 * x[1] - x[2]).collect();
        let w = thompson(&mut rng, &xs, &ys);
        assert!(w[1] > 0.0 && w[2] < 0.0, "{w:?}");
    }
}
