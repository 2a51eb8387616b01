//! `win percentage`: the share of days with a positive return.

use super::FitnessMetric;
use crate::series::SeriesStats;

pub struct WinPercentage;

impl FitnessMetric for WinPercentage {
    fn name(&self) -> &'static str {
        "win percentage"
    }
    fn value(&self, s: &SeriesStats) -> f64 {
        s.win_rate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_positive_days_only() {
        assert_eq!(WinPercentage.value(&SeriesStats::of(&[4.0, -2.0, 0.0, 1.0])), 0.5);
    }
}
