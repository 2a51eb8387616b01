//! Per-strategy metrics exactly as the legacy tool computes them (see LEGACY_SPEC.md).

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

/// Sum of daily P&L.
pub fn roi(r: &[f64]) -> f64 {
    r.iter().sum()
}

/// Largest fall of the cumulative P&L from its running peak; the peak starts at the first
/// day's equity, not at 0.
pub fn max_drawdown(r: &[f64]) -> f64 {
    let mut eq = 0.0;
    let mut peak = f64::NEG_INFINITY;
    let mut mdd = 0.0f64;
    for &x in r {
        eq += x;
        peak = peak.max(eq);
        mdd = mdd.max(peak - eq);
    }
    mdd
}

/// Metrics of one strategy's daily P&L in file order.
pub fn strategy_metrics(r: &[f64]) -> StrategyMetrics {
    let n = r.len() as f64;
    let (mut wins, mut losses, mut pos, mut neg) = (0usize, 0usize, 0.0f64, 0.0f64);
    for &x in r {
        if x > 0.0 {
            wins += 1;
            pos += x;
        } else if x < 0.0 {
            losses += 1;
            neg += x;
        }
    }
    let win_percentage = wins as f64 / n;
    let profit_factor = if losses == 0 { f64::INFINITY } else { pos / neg.abs() };
    let mean_win = if wins == 0 { 0.0 } else { pos / wins as f64 };
    let mean_loss = if losses == 0 { 0.0 } else { neg.abs() / losses as f64 };
    StrategyMetrics {
        roi: roi(r),
        max_drawdown: max_drawdown(r),
        win_percentage,
        profit_factor,
        expectancy: win_percentage * mean_win - (1.0 - win_percentage) * mean_loss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawdown_peak_starts_at_first_day() {
        // Legacy: running max starts at eq[0] = -5, so the first loss is no drawdown.
        assert_eq!(max_drawdown(&[-5.0, 3.0, -4.0]), 4.0);
        assert_eq!(max_drawdown(&[1.0, 2.0, 3.0]), 0.0);
    }

    #[test]
    fn edge_cases_match_the_spec() {
        let zero = strategy_metrics(&[0.0; 4]);
        assert_eq!((zero.roi, zero.win_percentage, zero.expectancy), (0.0, 0.0, 0.0));
        assert!(zero.profit_factor.is_infinite());
        let m = strategy_metrics(&[10.0, -5.0, 20.0, -5.0]);
        assert_eq!(m.profit_factor, 3.0);
        assert_eq!(m.expectancy, 0.5 * 15.0 - 0.5 * 5.0);
    }
}
