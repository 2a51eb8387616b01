//! `less max dd`: minus the portfolio's max drawdown.

use super::FitnessMetric;
use crate::series::SeriesStats;

pub struct LessMaxDd;

impl FitnessMetric for LessMaxDd {
    fn name(&self) -> &'static str {
        "less max dd"
    }
    fn value(&self, s: &SeriesStats) -> f64 {
        -s.max_drawdown
    }
    fn halves_penalty_under_threshold(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_minus_the_drawdown() {
        assert_eq!(LessMaxDd.value(&SeriesStats::of(&[4.0, -2.0, -1.0])), -3.0);
    }
}
