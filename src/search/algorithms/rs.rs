//! Random search: uniformly random portfolios, evaluated in parallel batches.

use rand_chacha::ChaCha8Rng;

use crate::search::{Algorithm, Found, Params, Problem, Tracker};

pub struct RandomSearch;

impl Algorithm for RandomSearch {
    fn name(&self) -> &'static str {
        "RS"
    }
    fn description(&self) -> &'static str {
        "random search: uniformly random portfolios, the best kept"
    }
    fn budget(&self, p: &Params) -> usize {
        p.generations * p.population
    }

    fn run(&self, pb: &Problem, rng: &mut ChaCha8Rng) -> Found {
        let mut t = Tracker::default();
        let mut left = self.budget(pb.params);
        while left > 0 {
            let n = left.min(pb.params.population.max(1) * 4);
            let cands: Vec<Vec<u32>> = (0..n).map(|_| pb.random_portfolio(rng)).collect();
            t.offer_all(&cands, &pb.evaluate_batch(&cands));
            left -= n;
        }
        t.finish(pb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_contract() {
        crate::search::testing::check_contract(&RandomSearch);
    }

    #[test]
    fn ends_on_non_finite_fitness() {
        crate::search::testing::check_terminates_on_non_finite(&RandomSearch);
    }
}
