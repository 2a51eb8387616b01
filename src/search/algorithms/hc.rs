//! Hill climbing: random single-strategy swaps scored incrementally, kept when they improve.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::search::{Algorithm, Found, Params, Problem, Tracker};
use heavytune_kernels::Incremental;

pub struct HillClimbing;

impl Algorithm for HillClimbing {
    fn name(&self) -> &'static str {
        "HC"
    }
    fn description(&self) -> &'static str {
        "hill climbing: random single swaps, scored in O(days), kept when better"
    }
    fn budget(&self, p: &Params) -> usize {
        4 * p.generations
    }

    fn run(&self, pb: &Problem, rng: &mut ChaCha8Rng) -> Found {
        let mut s = pb.scratch();
        let mut t = Tracker::default();
        let mut cur = Incremental::new(pb.ev, pb.random_portfolio(rng), &mut s);
        t.offer(cur.members(), cur.eval());
        for _ in 1..self.budget(pb.params) {
            let pos = rng.random_range(0..pb.size);
            let incoming = pb.outsider(rng, cur.members());
            let e = cur.try_swap(pb.ev, pos, incoming, &mut s);
            if e.better_than(&cur.eval()) {
                cur.commit_swap(pb.ev, pos, incoming, e, &s);
            }
            t.offer(cur.members(), cur.eval());
        }
        t.finish(pb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_contract() {
        crate::search::testing::check_contract(&HillClimbing);
    }

    #[test]
    fn ends_on_non_finite_fitness() {
        crate::search::testing::check_terminates_on_non_finite(&HillClimbing);
    }
}
