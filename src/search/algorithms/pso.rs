//! Particle swarm for sets: each particle's next position is sampled from its current
//! position (inertia), its own best and the swarm's best, weighted like PSO's velocity terms,
//! then perturbed by per-gene mutation (turbulence).

use std::collections::HashMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::search::{Algorithm, Found, Params, Problem, Tracker, mutate, weighted_sample};

/// Inertia, cognitive and social weights (Clerc's constriction values).
const INERTIA: f64 = 0.729;
const COGNITIVE: f64 = 1.49445;
const SOCIAL: f64 = 1.49445;

pub struct Swarm;

/// The next position of a particle.
fn step(pb: &Problem, rng: &mut ChaCha8Rng, pos: &[u32], own: &[u32], swarm: &[u32], rate: f64) -> Vec<u32> {
    let (r1, r2): (f64, f64) = (rng.random(), rng.random());
    let mut weight: HashMap<u32, f64> = HashMap::with_capacity(3 * pos.len());
    for (set, w) in [(pos, INERTIA), (own, COGNITIVE * r1), (swarm, SOCIAL * r2)] {
        for &s in set {
            *weight.entry(s).or_default() += w;
        }
    }
    let mut items: Vec<(u32, f64)> = weight.into_iter().collect();
    items.sort_unstable_by_key(|&(s, _)| s); // HashMap order is not deterministic
    let (ids, ws): (Vec<u32>, Vec<f64>) = items.into_iter().unzip();
    let mut next = weighted_sample(rng, &ids, &ws, pb.size);
    mutate(pb, rng, &mut next, rate);
    next
}

impl Algorithm for Swarm {
    fn name(&self) -> &'static str {
        "PSO"
    }
    fn description(&self) -> &'static str {
        "particle swarm for sets: positions resampled from inertia, own best and swarm best, plus turbulence"
    }
    fn budget(&self, p: &Params) -> usize {
        p.generations * p.population
    }

    fn run(&self, pb: &Problem, rng: &mut ChaCha8Rng) -> Found {
        let p = pb.params;
        let mut t = Tracker::default();
        let mut pos: Vec<Vec<u32>> = (0..p.population).map(|_| pb.random_portfolio(rng)).collect();
        let evals = pb.evaluate_batch(&pos);
        t.offer_all(&pos, &evals);
        let mut own = pos.clone();
        let mut own_eval = evals;
        // Turbulence at half the mutation rate keeps the swarm exploring without undoing it.
        let rate = p.mutation_rate / 2.0;
        for _ in 1..p.generations {
            let swarm = t.best().to_vec();
            pos = (0..p.population).map(|i| step(pb, rng, &pos[i], &own[i], &swarm, rate)).collect();
            let evals = pb.evaluate_batch(&pos);
            t.offer_all(&pos, &evals);
            for i in 0..p.population {
                if evals[i].better_than(&own_eval[i]) {
                    own[i] = pos[i].clone();
                    own_eval[i] = evals[i];
                }
            }
        }
        t.finish(pb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_contract() {
        crate::search::testing::check_contract(&Swarm);
    }

    #[test]
    fn ends_on_non_finite_fitness() {
        crate::search::testing::check_terminates_on_non_finite(&Swarm);
    }
}
