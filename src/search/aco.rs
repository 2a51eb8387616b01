//! Ant colony: pheromone on strategies. Each ant draws a portfolio with probability
//! proportional to pheromone x desirability^2 (desirability: the strategy's rank when scored
//! alone); pheromone evaporates and the iteration's and the overall best ants deposit, within
//! MAX-MIN bounds so the colony never locks in.

use rand_chacha::ChaCha8Rng;

use super::{Algorithm, Found, Params, Problem, Tracker, weighted_sample};

/// Ants per iteration.
const ANTS: usize = 10;
/// Evaporation per iteration.
const RHO: f64 = 0.2;
/// Exponent of desirability.
const BETA: i32 = 2;
/// Pheromone bounds.
const TAU_MIN: f64 = 0.2;
const TAU_MAX: f64 = 5.0;

pub struct AntColony;

/// Desirability in (0, 1]: the strategy's rank by its own fitness, the best at 1.
pub fn desirability(single: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..single.len()).collect();
    order.sort_by(|&a, &b| single[a].total_cmp(&single[b]).then(a.cmp(&b)));
    let n = single.len() as f64;
    let mut eta = vec![0.0; single.len()];
    for (rank, &s) in order.iter().enumerate() {
        eta[s] = (rank as f64 + 1.0) / n;
    }
    eta
}

impl Algorithm for AntColony {
    fn name(&self) -> &'static str {
        "ACO"
    }
    fn description(&self) -> &'static str {
        "ant colony: pheromone on strategies times rank desirability, MAX-MIN pheromone bounds"
    }
    fn budget(&self, p: &Params) -> usize {
        p.generations
    }

    fn run(&self, pb: &Problem, rng: &mut ChaCha8Rng) -> Found {
        let n = pb.n();
        let eta: Vec<f64> = desirability(&pb.features.single).into_iter().map(|e| e.powi(BETA)).collect();
        let ids: Vec<u32> = (0..n as u32).collect();
        let mut tau = vec![1.0f64; n];
        let mut t = Tracker::default();
        let mut left = self.budget(pb.params);
        while left > 0 {
            let ants = left.min(ANTS);
            left -= ants;
            let weights: Vec<f64> = tau.iter().zip(&eta).map(|(t, e)| t * e).collect();
            let paths: Vec<Vec<u32>> = (0..ants).map(|_| weighted_sample(rng, &ids, &weights, pb.size)).collect();
            let evals = pb.evaluate_batch(&paths);
            t.offer_all(&paths, &evals);
            let iter_best = (0..ants).fold(0, |b, i| if evals[i].better_than(&evals[b]) { i } else { b });
            tau.iter_mut().for_each(|t| *t *= 1.0 - RHO);
            for &s in paths[iter_best].iter().chain(t.best()) {
                tau[s as usize] += RHO;
            }
            tau.iter_mut().for_each(|t| *t = t.clamp(TAU_MIN, TAU_MAX));
        }
        t.finish(pb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_contract() {
        super::super::testing::check_contract(&AntColony);
    }

    #[test]
    fn desirability_ranks_with_the_best_at_one() {
        assert_eq!(desirability(&[3.0, -1.0, 10.0, 0.0]), vec![0.75, 0.25, 1.0, 0.5]);
    }
}
