//! Single-strategy swaps scored from a portfolio's running sums: two rows read per swap (the
//! one leaving and the one coming in), not k. The members' standardized rows are kept, so only
//! the incoming strategy's are computed per swap.

use crate::fitness::{Eval, Evaluator, Scratch};

/// A portfolio held as running column sums, so a single-strategy swap is scored in O(days).
#[derive(Debug, Clone)]
pub struct Incremental {
    members: Vec<u32>,
    acc: Vec<f64>,
    zz: f64,
    counts: Vec<i64>,
    eval: Eval,
    /// The members' standardized rows, `n_days` each, in member order.
    member_z: Vec<f64>,
}

impl Incremental {
    pub fn new(ev: &Evaluator, portfolio: Vec<u32>, s: &mut Scratch) -> Self {
        let eval = ev.evaluate(&portfolio, s);
        let zz = portfolio.iter().map(|&i| ev.zz(i)).sum();
        let d = ev.n_days();
        let mut member_z = vec![0.0; portfolio.len() * d];
        for (row, &m) in member_z.chunks_mut(d.max(1)).zip(&portfolio) {
            ev.z_row(m, row);
        }
        Incremental { acc: s.acc.clone(), counts: s.counts.clone(), members: portfolio, zz, eval, member_z }
    }

    pub fn members(&self) -> &[u32] {
        &self.members
    }
    pub fn eval(&self) -> Eval {
        self.eval
    }
    /// The portfolio's column sums: P&L sums then standardized sums, `2 * n_days` values.
    pub fn sums(&self) -> &[f64] {
        &self.acc
    }
    /// The sum of the members' |z|^2, as the swaps update it.
    pub fn sum_squared_norms(&self) -> f64 {
        self.zz
    }

    /// Scores the portfolio with `members[pos]` replaced by `incoming`, without changing it.
    pub fn try_swap(&self, ev: &Evaluator, pos: usize, incoming: u32, s: &mut Scratch) -> Eval {
        let out = self.members[pos];
        let d = ev.n_days();
        let (x_out, x_in) = (ev.returns(out), ev.returns(incoming));
        // The incoming row's standardized values go through `p` (free until `finish`).
        ev.z_row(incoming, &mut s.p);
        let z_out = &self.member_z[pos * d..(pos + 1) * d];
        let (acc_r, acc_z) = s.acc.split_at_mut(d);
        let (base_r, base_z) = self.acc.split_at(d);
        for t in 0..d {
            acc_r[t] = base_r[t] + x_in[t] - x_out[t];
            acc_z[t] = base_z[t] + s.p[t] - z_out[t];
        }
        if let Some(b) = &ev.balance {
            s.counts.copy_from_slice(&self.counts);
            s.counts[b.labels[out as usize] as usize] -= 1;
            s.counts[b.labels[incoming as usize] as usize] += 1;
        }
        let zz = self.zz - ev.zz(out) + ev.zz(incoming);
        let Scratch { acc, p, counts } = s;
        ev.finish(acc, self.members.len(), zz, p, counts)
    }

    /// Applies a swap scored by [`Incremental::try_swap`] (whose sums are still in `s`).
    pub fn commit_swap(&mut self, ev: &Evaluator, pos: usize, incoming: u32, eval: Eval, s: &Scratch) {
        let out = self.members[pos];
        self.acc.copy_from_slice(&s.acc);
        if ev.balance.is_some() {
            self.counts.copy_from_slice(&s.counts);
        }
        self.zz += ev.zz(incoming) - ev.zz(out);
        let d = ev.n_days();
        ev.z_row(incoming, &mut self.member_z[pos * d..(pos + 1) * d]);
        self.members[pos] = incoming;
        self.eval = eval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fitness::tests::data;
    use crate::fitness::{Balance, Penalty};
    use crate::metrics::Metric;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn swaps_give_the_same_bits_on_every_instruction_set() {
        let values = data(30, 25, 12);
        let detected = Evaluator::new(&values, 25, Metric::Ratio, Penalty::default(), None);
        let baseline = Evaluator::new(&values, 25, Metric::Ratio, Penalty::default(), None).baseline_isa();
        let (mut s1, mut s2) = (detected.scratch(), baseline.scratch());
        let mut a = Incremental::new(&detected, vec![0, 3, 6, 9], &mut s1);
        let mut b = Incremental::new(&baseline, vec![0, 3, 6, 9], &mut s2);
        assert_eq!(a.sums(), b.sums());
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for _ in 0..100 {
            let (pos, incoming) = (rng.random_range(0..4), rng.random_range(10..30u32));
            let (ea, eb) =
                (a.try_swap(&detected, pos, incoming, &mut s1), b.try_swap(&baseline, pos, incoming, &mut s2));
            assert_eq!(ea.fitness.to_bits(), eb.fitness.to_bits());
            if rng.random_bool(0.5) && !a.members().contains(&incoming) {
                a.commit_swap(&detected, pos, incoming, ea, &s1);
                b.commit_swap(&baseline, pos, incoming, eb, &s2);
            }
        }
    }

    #[test]
    fn swaps_match_full_evaluation() {
        let values = data(50, 40, 2);
        let labels = (0..50).map(|i| (i % 3) as u16).collect();
        let balance = Balance { labels, desired: vec![(0, 2), (1, 1)], factor: 0.5, n_labels: 3 };
        let ev = Evaluator::new(&values, 40, Metric::Expectancy, Penalty::default(), Some(balance));
        let mut s = ev.scratch();
        let mut inc = Incremental::new(&ev, vec![0, 1, 2, 3, 4], &mut s);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let pos = rng.random_range(0..5);
            let incoming = rng.random_range(0..50u32);
            if inc.members().contains(&incoming) {
                continue;
            }
            let e = inc.try_swap(&ev, pos, incoming, &mut s);
            let mut pf = inc.members().to_vec();
            pf[pos] = incoming;
            let full = ev.evaluate(&pf, &mut ev.scratch());
            assert!((e.fitness - full.fitness).abs() < 1e-9 * full.fitness.abs().max(1.0));
            if rng.random_bool(0.5) {
                inc.try_swap(&ev, pos, incoming, &mut s);
                inc.commit_swap(&ev, pos, incoming, e, &s);
            }
        }
    }
}
