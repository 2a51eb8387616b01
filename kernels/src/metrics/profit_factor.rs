//! `profit factor`: gains over losses, 1 with gains and no losses, 0 with neither.

use super::{DRAWDOWN_EPS, FitnessMetric};
use crate::series::SeriesStats;

pub struct ProfitFactor;

impl FitnessMetric for ProfitFactor {
    fn name(&self) -> &'static str {
        "profit factor"
    }
    fn value(&self, s: &SeriesStats) -> f64 {
        if s.pains.abs() > DRAWDOWN_EPS {
            s.gains / s.pains.abs()
        } else if s.gains > 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_cases() {
        let pf = |p: &[f64]| ProfitFactor.value(&SeriesStats::of(p));
        assert_eq!(pf(&[1.0, 0.0]), 1.0);
        assert_eq!(pf(&[0.0, 0.0]), 0.0);
        assert_eq!(pf(&[3.0, -1.0]), 3.0);
    }
}
