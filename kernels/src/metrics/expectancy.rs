//! `expectancy`: win rate times mean win minus loss rate times mean loss.

use super::FitnessMetric;
use crate::series::SeriesStats;

pub struct Expectancy;

impl FitnessMetric for Expectancy {
    fn name(&self) -> &'static str {
        "expectancy"
    }
    fn value(&self, s: &SeriesStats) -> f64 {
        s.expectancy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighs_mean_win_and_mean_loss() {
        assert_eq!(Expectancy.value(&SeriesStats::of(&[4.0, -2.0])), 0.5 * 4.0 - 0.5 * 2.0);
    }
}
