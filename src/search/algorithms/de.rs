//! Differential evolution for sets: the mutant is a base member moved by the difference of two
//! others (members of b not in c), crossed over uniformly with the target; greedy selection.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::search::{Algorithm, Found, Params, Problem, Tracker};

/// Probability that each element of the difference moves into the mutant.
const F: f64 = 0.5;
/// Probability that a trial member comes from the mutant.
const CR: f64 = 0.7;

pub struct Differential;

/// Three distinct population indices other than `i`.
fn three_others(rng: &mut ChaCha8Rng, n: usize, i: usize) -> [usize; 3] {
    let mut out = [usize::MAX; 3];
    for k in 0..3 {
        loop {
            let c = rng.random_range(0..n);
            if c != i && !out[..k].contains(&c) {
                out[k] = c;
                break;
            }
        }
    }
    out
}

/// The trial portfolio for `target`.
fn trial(pb: &Problem, rng: &mut ChaCha8Rng, target: &[u32], a: &[u32], b: &[u32], c: &[u32]) -> Vec<u32> {
    let mut mutant = a.to_vec();
    for &x in b.iter().filter(|x| !c.contains(x)) {
        if !mutant.contains(&x) && rng.random_bool(F) {
            let slot = rng.random_range(0..mutant.len());
            mutant[slot] = x;
        }
    }
    // Uniform crossover over sets: keep target members, take mutant members with CR, and at
    // least one mutant member so the trial differs from the target whenever it can.
    let mut fresh: Vec<u32> = mutant.iter().copied().filter(|x| !target.contains(x)).collect();
    fresh.shuffle(rng);
    let mut out = target.to_vec();
    let mut slots: Vec<usize> = (0..out.len()).collect();
    slots.shuffle(rng);
    for (n, (&slot, &x)) in slots.iter().zip(&fresh).enumerate() {
        if n == 0 || rng.random_bool(CR) {
            out[slot] = x;
        }
    }
    if fresh.is_empty() {
        let slot = rng.random_range(0..out.len());
        out[slot] = pb.outsider(rng, &out);
    }
    out
}

impl Algorithm for Differential {
    fn name(&self) -> &'static str {
        "DE"
    }
    fn description(&self) -> &'static str {
        "differential evolution for sets: base moved by a difference of two members, uniform crossover, greedy selection"
    }
    fn budget(&self, p: &Params) -> usize {
        p.generations * p.population
    }

    fn run(&self, pb: &Problem, rng: &mut ChaCha8Rng) -> Found {
        let p = pb.params;
        let n = p.population;
        let mut t = Tracker::default();
        let mut pop: Vec<Vec<u32>> = (0..n).map(|_| pb.random_portfolio(rng)).collect();
        let mut evals = pb.evaluate_batch(&pop);
        t.offer_all(&pop, &evals);
        for _ in 1..p.generations {
            let trials: Vec<Vec<u32>> = (0..n)
                .map(|i| {
                    if n < 4 {
                        let mut x = pop[i].clone();
                        let slot = rng.random_range(0..x.len());
                        x[slot] = pb.outsider(rng, &x);
                        return x;
                    }
                    let [a, b, c] = three_others(rng, n, i);
                    trial(pb, rng, &pop[i], &pop[a], &pop[b], &pop[c])
                })
                .collect();
            let trial_evals = pb.evaluate_batch(&trials);
            t.offer_all(&trials, &trial_evals);
            for (i, (x, e)) in trials.into_iter().zip(trial_evals).enumerate() {
                if !evals[i].better_than(&e) {
                    pop[i] = x;
                    evals[i] = e;
                }
            }
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
        crate::search::testing::check_contract(&Differential);
    }

    #[test]
    fn ends_on_non_finite_fitness() {
        crate::search::testing::check_terminates_on_non_finite(&Differential);
    }

    #[test]
    fn trials_are_distinct_sets_that_move() {
        let ev = crate::search::testing::evaluator(heavytune_kernels::Metric::Roi);
        let f = crate::search::Features::new(&ev);
        let params = Params::default();
        let pb = Problem { ev: &ev, gpu: None, features: &f, size: 4, params: &params };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..50 {
            let [t, a, b, c] = [0; 4].map(|_| pb.random_portfolio(&mut rng));
            let mut x = trial(&pb, &mut rng, &t, &a, &b, &c);
            assert_ne!(x, t);
            x.sort_unstable();
            x.dedup();
            assert_eq!(x.len(), 4);
        }
    }
}
