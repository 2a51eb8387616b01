//! One pass over a daily P&L series: the statistics every later step reads.
//!
//! Strategy metrics, portfolio fitness and the charts all walk the same recurrence in the
//! legacy's day order: equity is the running sum, the peak its running maximum (starting at
//! the first day's equity, not at 0), the drawdown the fall from that peak. Sums run in day
//! order from 0.0, as the SQL engine's per-strategy aggregates do, so both give the same bits.

/// What one pass over a series gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesStats {
    /// Days seen.
    pub days: usize,
    /// Sum of the daily P&L: also the final equity.
    pub sum: f64,
    /// Running maximum of the equity (-inf before the first day).
    pub peak: f64,
    /// Largest fall of the equity from its running peak (>= 0).
    pub max_drawdown: f64,
    /// Days above 0.
    pub wins: usize,
    /// Days below 0.
    pub losses: usize,
    /// Sum of the winning days.
    pub gains: f64,
    /// Sum of the losing days (<= 0).
    pub pains: f64,
}

impl Default for SeriesStats {
    fn default() -> Self {
        SeriesStats {
            days: 0,
            sum: 0.0,
            peak: f64::NEG_INFINITY,
            max_drawdown: 0.0,
            wins: 0,
            losses: 0,
            gains: 0.0,
            pains: 0.0,
        }
    }
}

impl SeriesStats {
    /// The statistics of `r`, in its order.
    pub fn of(r: &[f64]) -> Self {
        let mut s = SeriesStats::default();
        for &x in r {
            s.push(x);
        }
        s
    }

    /// Adds one day; returns that day's drawdown (equity minus peak, <= 0).
    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        self.days += 1;
        self.sum += x;
        // `f64::max` as one compare-and-pick (a single instruction where f64::max needs three):
        // a NaN operand loses either way, and the two differ only on NaN `peak` or
        // `max_drawdown`, which neither can be (they start at -inf and 0).
        self.peak = if self.sum > self.peak { self.sum } else { self.peak };
        let fall = self.peak - self.sum;
        self.max_drawdown = if fall > self.max_drawdown { fall } else { self.max_drawdown };
        // Without branches (a day's sign is a coin flip to the branch predictor): a day that
        // is not a win adds +0.0 to `gains`, which leaves every value it can hold (+0.0, a
        // positive sum, inf, NaN) as it is; `pains` alike, which is never -0.0.
        let (win, loss) = (x > 0.0, x < 0.0);
        self.wins += usize::from(win);
        self.gains += if win { x } else { 0.0 };
        self.losses += usize::from(loss);
        self.pains += if loss { x } else { 0.0 };
        self.sum - self.peak
    }

    /// Share of winning days.
    pub fn win_rate(&self) -> f64 {
        self.wins as f64 / self.days as f64
    }

    /// Mean of the winning days (0 without one).
    pub fn mean_win(&self) -> f64 {
        if self.wins == 0 { 0.0 } else { self.gains / self.wins as f64 }
    }

    /// Mean size of the losing days (0 without one).
    pub fn mean_loss(&self) -> f64 {
        if self.losses == 0 { 0.0 } else { self.pains.abs() / self.losses as f64 }
    }

    /// W * mean win - (1 - W) * mean loss, W the win rate.
    pub fn expectancy(&self) -> f64 {
        let w = self.win_rate();
        w * self.mean_win() - (1.0 - w) * self.mean_loss()
    }
}

/// Equity (cumulative P&L) and drawdown (equity minus its running peak, <= 0), day by day:
/// the two curves the charts draw, from the same recurrence.
pub fn curves(r: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut s = SeriesStats::default();
    let mut equity = Vec::with_capacity(r.len());
    let mut drawdown = Vec::with_capacity(r.len());
    for &x in r {
        drawdown.push(s.push(x));
        equity.push(s.sum);
    }
    (equity, drawdown)
}

/// Daily returns of an equal-weight portfolio: the plain mean of its strategies' P&L per day
/// (`values` strategy-major, `n_days` per strategy).
pub fn portfolio_returns(values: &[f64], n_days: usize, portfolio: &[u32]) -> Vec<f64> {
    let mut sum = vec![0.0; n_days];
    for &s in portfolio {
        let col = &values[s as usize * n_days..(s as usize + 1) * n_days];
        sum.iter_mut().zip(col).for_each(|(a, x)| *a += x);
    }
    let k = portfolio.len() as f64;
    sum.iter_mut().for_each(|a| *a /= k);
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawdown_peak_starts_at_the_first_day() {
        // The running max starts at eq[0] = -5, so the first loss is no drawdown.
        assert_eq!(SeriesStats::of(&[-5.0, 3.0, -4.0]).max_drawdown, 4.0);
        assert_eq!(SeriesStats::of(&[1.0, 2.0, 3.0]).max_drawdown, 0.0);
    }

    #[test]
    fn counts_and_sums_split_by_sign() {
        let s = SeriesStats::of(&[10.0, -5.0, 0.0, 20.0, -5.0]);
        assert_eq!((s.days, s.wins, s.losses), (5, 2, 2));
        assert_eq!((s.sum, s.gains, s.pains), (20.0, 30.0, -10.0));
        assert_eq!(s.expectancy(), 0.4 * 15.0 - 0.6 * 5.0);
    }

    #[test]
    fn curves_follow_the_same_recurrence() {
        let (eq, dd) = curves(&[1.0, -2.0, 3.0, -0.5]);
        assert_eq!(eq, [1.0, -1.0, 2.0, 1.5]);
        assert_eq!(dd, [0.0, -2.0, 0.0, -0.5]);
        assert_eq!(dd.iter().copied().fold(0.0f64, f64::min), -SeriesStats::of(&[1.0, -2.0, 3.0, -0.5]).max_drawdown);
    }

    /// The recurrence as first written, with branches and `f64::max`.
    fn branchy(r: &[f64]) -> SeriesStats {
        let mut s = SeriesStats::default();
        for &x in r {
            s.days += 1;
            s.sum += x;
            s.peak = s.peak.max(s.sum);
            s.max_drawdown = s.max_drawdown.max(s.peak - s.sum);
            if x > 0.0 {
                s.wins += 1;
                s.gains += x;
            } else if x < 0.0 {
                s.losses += 1;
                s.pains += x;
            }
        }
        s
    }

    #[test]
    fn the_branchless_push_gives_the_branchy_bits() {
        let special = [0.0, -0.0, 1.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 5e-324, -5e-324, 1e308];
        let bits = |s: &SeriesStats| {
            [s.sum, s.peak, s.max_drawdown, s.gains, s.pains]
                .map(f64::to_bits)
                .to_vec()
                .into_iter()
                .chain([s.days as u64, s.wins as u64, s.losses as u64])
                .collect::<Vec<u64>>()
        };
        // Every pair and triple of special values, then random series with ties and zeros.
        let mut cases: Vec<Vec<f64>> = Vec::new();
        for &a in &special {
            for &b in &special {
                cases.push(vec![a, b]);
                for &c in &special {
                    cases.push(vec![a, b, c]);
                }
            }
        }
        let mut x = 7u64;
        for len in 1..60 {
            cases.push(
                (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        ((x >> 33) % 7) as f64 - 3.0
                    })
                    .collect(),
            );
        }
        for r in &cases {
            let nan_aware = |v: Vec<u64>| v.into_iter().map(|b| if f64::from_bits(b).is_nan() { u64::MAX } else { b });
            assert!(
                nan_aware(bits(&SeriesStats::of(r))).eq(nan_aware(bits(&branchy(r)))),
                "{r:?}: {:?} vs {:?}",
                SeriesStats::of(r),
                branchy(r)
            );
        }
    }

    #[test]
    fn non_finite_days_never_loop_or_panic() {
        let s = SeriesStats::of(&[f64::INFINITY, 1.0, f64::NAN, f64::NEG_INFINITY]);
        assert_eq!(s.days, 4);
        assert!(s.sum.is_nan());
    }

    #[test]
    fn portfolio_returns_are_daily_means() {
        let values = [1.0, 2.0, 3.0, 5.0, 6.0, 7.0];
        assert_eq!(portfolio_returns(&values, 3, &[0, 1]), vec![3.0, 4.0, 5.0]);
    }
}
