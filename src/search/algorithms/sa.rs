//! Simulated annealing: single swaps scored incrementally, worse moves accepted with
//! probability exp(delta / T) under a geometric cooling schedule.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::search::{Algorithm, Found, Params, Problem, Tracker};
use heavytune_kernels::Incremental;

/// Swaps spent probing the landscape to set the starting temperature.
const PROBES: usize = 20;
/// Final temperature as a fraction of the starting one.
const COOL_TO: f64 = 1e-3;

pub struct Annealing;

impl Algorithm for Annealing {
    fn name(&self) -> &'static str {
        "SA"
    }
    fn description(&self) -> &'static str {
        "simulated annealing: single swaps, Metropolis acceptance, geometric cooling from a probed temperature"
    }
    fn budget(&self, p: &Params) -> usize {
        20 * p.generations
    }

    fn run(&self, pb: &Problem, rng: &mut ChaCha8Rng) -> Found {
        let budget = self.budget(pb.params);
        let mut s = pb.scratch();
        let mut t = Tracker::default();
        let mut cur = Incremental::new(pb.ev, pb.random_portfolio(rng), &mut s);
        t.offer(cur.members(), cur.eval());
        // Starting temperature: a typical worsening is accepted with probability 1/2.
        let probes = PROBES.min(budget.saturating_sub(1) / 5);
        let mut worse = Vec::with_capacity(probes);
        for _ in 0..probes {
            let pos = rng.random_range(0..pb.size);
            let incoming = pb.outsider(rng, cur.members());
            let e = cur.try_swap(pb.ev, pos, incoming, &mut s);
            t.offer_candidate(&cur, pos, incoming, e);
            let delta = e.fitness - cur.eval().fitness;
            if delta.is_finite() && delta != 0.0 {
                worse.push(delta.abs());
            }
        }
        let typical = if worse.is_empty() { 1.0 } else { worse.iter().sum::<f64>() / worse.len() as f64 };
        let t0 = typical / std::f64::consts::LN_2;
        let steps = budget - 1 - probes;
        for step in 0..steps {
            let temp = t0 * COOL_TO.powf(step as f64 / steps.max(1) as f64);
            let pos = rng.random_range(0..pb.size);
            let incoming = pb.outsider(rng, cur.members());
            let e = cur.try_swap(pb.ev, pos, incoming, &mut s);
            t.offer_candidate(&cur, pos, incoming, e);
            let delta = e.fitness - cur.eval().fitness;
            let accept = delta >= 0.0 || (delta.is_finite() && rng.random::<f64>() < (delta / temp).exp());
            if accept && !e.fitness.is_nan() {
                cur.commit_swap(pb.ev, pos, incoming, e, &s);
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
        crate::search::testing::check_contract(&Annealing);
    }

    #[test]
    fn ends_on_non_finite_fitness() {
        crate::search::testing::check_terminates_on_non_finite(&Annealing);
    }
}
