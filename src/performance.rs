//! Performance metrics of a portfolio for the reports (the legacy
//! `generate_performance_report`): the strategy metrics of its daily returns, annualized
//! return, Sharpe and Sortino ratios.

use heavytune_kernels::SeriesStats;

use crate::strategy_metrics::StrategyMetrics;

/// Trading days per year, for annualizing.
const YEAR_DAYS: f64 = 252.0;

/// The metrics written for each size's best portfolio, in the legacy order.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PortfolioReport {
    pub total_roi: f64,
    pub max_drawdown: f64,
    pub win_percentage: f64,
    /// `+inf` when no day lost money (serialized as `null` in JSON).
    pub profit_factor: f64,
    pub expectancy: f64,
    pub sharpe_ratio: f64,
    pub sortino_ratio: f64,
    pub annualized_return: f64,
}

impl PortfolioReport {
    /// (name, value) pairs in the legacy order, for text outputs.
    pub fn fields(&self) -> [(&'static str, f64); 8] {
        [
            ("total_roi", self.total_roi),
            ("max_drawdown", self.max_drawdown),
            ("win_percentage", self.win_percentage),
            ("profit_factor", self.profit_factor),
            ("expectancy", self.expectancy),
            ("sharpe_ratio", self.sharpe_ratio),
            ("sortino_ratio", self.sortino_ratio),
            ("annualized_return", self.annualized_return),
        ]
    }
}

/// Population standard deviation (numpy's default).
fn std(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    (x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
}

/// Report metrics of daily portfolio returns `p`.
pub fn portfolio_report(p: &[f64]) -> PortfolioReport {
    let m = StrategyMetrics::from_stats(&SeriesStats::of(p));
    let annualized_return = m.roi * YEAR_DAYS / p.len() as f64;
    let sd = std(p);
    let sharpe_ratio = if sd == 0.0 { 0.0 } else { annualized_return / (sd * YEAR_DAYS.sqrt()) };
    let losses: Vec<f64> = p.iter().copied().filter(|&x| x < 0.0).collect();
    // Only "no losing day" is special-cased, as in the legacy: one losing day divides by 0.
    let sortino_ratio = if losses.is_empty() { 0.0 } else { annualized_return / (std(&losses) * YEAR_DAYS.sqrt()) };
    PortfolioReport {
        total_roi: m.roi,
        max_drawdown: m.max_drawdown,
        win_percentage: m.win_percentage,
        profit_factor: m.profit_factor,
        expectancy: m.expectancy,
        sharpe_ratio,
        sortino_ratio,
        annualized_return,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annualizes_over_the_number_of_days() {
        let r = portfolio_report(&[1.0, -1.0, 2.0, 2.0]);
        assert_eq!(r.annualized_return, 4.0 * 252.0 / 4.0);
        assert!(r.sortino_ratio.is_infinite(), "one losing day has zero spread");
        assert_eq!(portfolio_report(&[1.0, 2.0]).sortino_ratio, 0.0);
        assert!(r.sharpe_ratio > 0.0);
        assert_eq!(portfolio_report(&[1.0, 1.0]).sharpe_ratio, 0.0);
    }
}
