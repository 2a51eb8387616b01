//! Per-strategy metrics exactly as the legacy tool computes them (`strategy_metrics.csv`, see
//! LEGACY_SPEC.md), from the one-pass series statistics of the kernels.

use heavytune_kernels::SeriesStats;

/// The legacy `strategy_metrics.csv` row of one strategy.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StrategyMetrics {
    pub roi: f64,
    pub max_drawdown: f64,
    pub win_percentage: f64,
    /// `+inf` when there is no losing day.
    pub profit_factor: f64,
    pub expectancy: f64,
}

impl StrategyMetrics {
    /// The row of a series with these statistics.
    pub fn from_stats(s: &SeriesStats) -> Self {
        StrategyMetrics {
            roi: s.sum,
            max_drawdown: s.max_drawdown,
            win_percentage: s.win_rate(),
            profit_factor: if s.losses == 0 { f64::INFINITY } else { s.gains / s.pains.abs() },
            expectancy: s.expectancy(),
        }
    }
}

/// Metrics of one strategy's daily P&L in the input's order of days.
pub fn strategy_metrics(r: &[f64]) -> StrategyMetrics {
    StrategyMetrics::from_stats(&SeriesStats::of(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cases_match_the_spec() {
        let zero = strategy_metrics(&[0.0; 4]);
        assert_eq!((zero.roi, zero.win_percentage, zero.expectancy), (0.0, 0.0, 0.0));
        assert!(zero.profit_factor.is_infinite());
        let m = strategy_metrics(&[10.0, -5.0, 20.0, -5.0]);
        assert_eq!(m.profit_factor, 3.0);
        assert_eq!(m.expectancy, 0.5 * 15.0 - 0.5 * 5.0);
        // The running peak starts at the first day's equity.
        assert_eq!(strategy_metrics(&[-5.0, 3.0, -4.0]).max_drawdown, 4.0);
    }
}
