//! `ratio`: ROI over max drawdown, with the legacy's fallbacks when there is no drawdown.

use super::{DRAWDOWN_EPS, FitnessMetric};
use crate::series::SeriesStats;

pub struct Ratio;

impl FitnessMetric for Ratio {
    fn name(&self) -> &'static str {
        "ratio"
    }
    fn value(&self, s: &SeriesStats) -> f64 {
        let (roi, mdd) = (s.sum, s.max_drawdown);
        if mdd > DRAWDOWN_EPS {
            roi / mdd
        } else if roi > 0.0 {
            roi * 100.0
        } else if roi < 0.0 {
            roi * 10.0
        } else {
            0.0
        }
    }
    fn halves_penalty_under_threshold(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(p: &[f64]) -> f64 {
        Ratio.value(&SeriesStats::of(p))
    }

    #[test]
    fn special_cases() {
        assert_eq!(ratio(&[1.0, 2.0]), 300.0);
        assert_eq!(ratio(&[-1.0, -2.0]), -1.5);
        assert_eq!(ratio(&[-1.0]), -10.0);
        assert_eq!(ratio(&[0.0, 0.0]), 0.0);
        // Peak 3 after day 2, trough 1 after day 3: mdd 2, roi 1.
        assert_eq!(ratio(&[1.0, 2.0, -2.0]), 0.5);
    }
}
