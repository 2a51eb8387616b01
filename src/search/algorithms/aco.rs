//! Ant colony: pheromone on strategies. Each ant draws a portfolio with probability
//! proportional to pheromone x desirability^2 (desirability: the strategy's rank when scored
//! alone); pheromone evaporates and the iteration's and the overall best ants deposit, within
//! MAX-MIN bounds so the colony never locks in.

use rand_chacha::ChaCha8Rng;

use rand::Rng;

use crate::search::{Algorithm, Found, Params, Problem, Tracker};

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

/// One ant: `size` distinct strategies, each drawn with probability proportional to its weight
/// among those not yet drawn. Drawing from the cumulative weights and redrawing on a repeat gives
/// exactly that distribution, in O(size log n) instead of O(n) per ant.
fn walk(pb: &Problem, rng: &mut ChaCha8Rng, cumulative: &[f64]) -> Vec<u32> {
    let total = *cumulative.last().expect("at least one strategy");
    let mut path: Vec<u32> = Vec::with_capacity(pb.size);
    let mut tries = 0usize;
    while path.len() < pb.size {
        tries += 1;
        let s = if tries > 64 * pb.size {
            // Weight concentrated on few strategies: finish uniformly rather than spin.
            pb.outsider(rng, &path)
        } else {
            let x = rng.random_range(0.0..total);
            cumulative.partition_point(|&c| c <= x).min(cumulative.len() - 1) as u32
        };
        if !path.contains(&s) {
            path.push(s);
        }
    }
    path
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
        let mut tau = vec![1.0f64; n];
        let mut t = Tracker::default();
        let mut left = self.budget(pb.params);
        while left > 0 {
            let ants = left.min(ANTS);
            left -= ants;
            let cumulative: Vec<f64> = tau
                .iter()
                .zip(&eta)
                .scan(0.0, |acc, (t, e)| {
                    *acc += t * e;
                    Some(*acc)
                })
                .collect();
            let paths: Vec<Vec<u32>> = (0..ants).map(|_| walk(pb, rng, &cumulative)).collect();
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
        crate::search::testing::check_contract(&AntColony);
    }

    #[test]
    fn ends_on_non_finite_fitness() {
        crate::search::testing::check_terminates_on_non_finite(&AntColony);
    }

    #[test]
    fn walks_are_distinct_and_follow_the_weights() {
        let ev = crate::search::testing::evaluator(heavytune_kernels::Metric::Roi);
        let f = crate::search::Features::new(&ev);
        let params = Params::default();
        let pb = Problem { ev: &ev, gpu: None, features: &f, size: 5, params: &params };
        // Strategy 7 carries half of the weight.
        let w: Vec<f64> = (0..200).map(|i| if i == 7 { 199.0 } else { 1.0 }).collect();
        let cum: Vec<f64> = w
            .iter()
            .scan(0.0, |a, x| {
                Some({
                    *a += x;
                    *a
                })
            })
            .collect();
        let mut rng = crate::search::job_rng(1, 5, 4);
        let mut with7 = 0;
        for _ in 0..200 {
            let mut p = walk(&pb, &mut rng, &cum);
            with7 += p.contains(&7) as usize;
            p.sort_unstable();
            p.dedup();
            assert_eq!(p.len(), 5);
        }
        assert!(with7 > 190, "{with7}");
    }

    #[test]
    fn desirability_ranks_with_the_best_at_one() {
        assert_eq!(desirability(&[3.0, -1.0, 10.0, 0.0]), vec![0.75, 0.25, 1.0, 0.5]);
    }
}
