//! `roi`: the sum of the portfolio's daily returns.

use super::FitnessMetric;
use crate::series::SeriesStats;

pub struct Roi;

impl FitnessMetric for Roi {
    fn name(&self) -> &'static str {
        "roi"
    }
    fn value(&self, s: &SeriesStats) -> f64 {
        s.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_days() {
        assert_eq!(Roi.value(&SeriesStats::of(&[4.0, -2.0, -1.0])), 1.0);
    }
}
