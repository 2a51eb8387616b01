//! Genetic algorithm: tournament selection (3), union crossover, per-gene mutation, elitism.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::search::{Algorithm, Found, Params, Problem, Tracker, mutate};
use heavytune_kernels::Eval;

/// Tournament size (legacy).
const TOURNAMENT: usize = 3;

pub struct Genetic;

/// Index of the best of `TOURNAMENT` random members.
fn tournament(rng: &mut ChaCha8Rng, evals: &[Eval]) -> usize {
    let mut best = rng.random_range(0..evals.len());
    for _ in 1..TOURNAMENT {
        let c = rng.random_range(0..evals.len());
        if evals[c].better_than(&evals[best]) {
            best = c;
        }
    }
    best
}

/// A child of `size` members drawn from the union of both parents.
fn union_crossover(rng: &mut ChaCha8Rng, a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut pool: Vec<u32> = a.to_vec();
    pool.extend(b.iter().filter(|x| !a.contains(x)));
    pool.shuffle(rng);
    pool.truncate(a.len());
    pool
}

impl Algorithm for Genetic {
    fn name(&self) -> &'static str {
        "GA"
    }
    fn description(&self) -> &'static str {
        "genetic algorithm: tournament of 3, union crossover, per-gene mutation, the best kept"
    }
    fn budget(&self, p: &Params) -> usize {
        p.generations * p.population
    }

    fn run(&self, pb: &Problem, rng: &mut ChaCha8Rng) -> Found {
        let p = pb.params;
        let mut t = Tracker::default();
        let mut pop: Vec<Vec<u32>> = (0..p.population).map(|_| pb.random_portfolio(rng)).collect();
        let mut evals = pb.evaluate_batch(&pop);
        t.offer_all(&pop, &evals);
        for _ in 1..p.generations {
            let children: Vec<Vec<u32>> = (0..p.population)
                .map(|_| {
                    let (x, y) = (tournament(rng, &evals), tournament(rng, &evals));
                    let mut child = union_crossover(rng, &pop[x], &pop[y]);
                    mutate(pb, rng, &mut child, p.mutation_rate);
                    child
                })
                .collect();
            let child_evals = pb.evaluate_batch(&children);
            t.offer_all(&children, &child_evals);
            // Elitism: the best so far replaces the worst child.
            let worst = (0..children.len())
                .min_by(|&a, &b| child_evals[a].fitness.total_cmp(&child_evals[b].fitness))
                .unwrap_or(0);
            pop = children;
            evals = child_evals;
            if t.best_eval().better_than(&evals[worst]) {
                pop[worst] = t.best().to_vec();
                evals[worst] = t.best_eval();
            }
        }
        t.finish(pb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::testing::check_contract;
    use rand::SeedableRng;

    #[test]
    fn keeps_the_contract() {
        check_contract(&Genetic);
    }

    #[test]
    fn ends_on_non_finite_fitness() {
        crate::search::testing::check_terminates_on_non_finite(&Genetic);
    }

    #[test]
    fn crossover_children_come_from_their_parents() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (a, b) = ([1u32, 2, 3, 4], [3u32, 4, 5, 6]);
        for _ in 0..20 {
            let mut c = union_crossover(&mut rng, &a, &b);
            assert!(c.iter().all(|x| a.contains(x) || b.contains(x)));
            c.sort_unstable();
            c.dedup();
            assert_eq!(c.len(), 4);
        }
    }
}
