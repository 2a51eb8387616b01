//! Comparing generated data with real per-strategy metrics: 10/50/90 percentiles side by side.

use std::path::Path;

use crate::error::{Error, Location, Result};
use crate::strategy_metrics::StrategyMetrics;

/// The metrics compared, in report order.
pub const COMPARED: [&str; 4] = ["ROI", "Max Drawdown", "Win Percentage", "Profit Factor"];
pub const QUANTILES: [f64; 3] = [0.10, 0.50, 0.90];

/// One metric's percentiles in the generated and in the real data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub metric: &'static str,
    pub synthetic: [f64; 3],
    pub real: Option<[f64; 3]>,
}

/// numpy's default (linear) percentile of finite values; NaN for none.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = (v.len() - 1) as f64 * q;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

fn columns(m: &[StrategyMetrics]) -> [Vec<f64>; 4] {
    [
        m.iter().map(|x| x.roi).collect(),
        m.iter().map(|x| x.max_drawdown).collect(),
        m.iter().map(|x| x.win_percentage).collect(),
        m.iter().map(|x| x.profit_factor).collect(),
    ]
}

/// Reads a legacy `strategy_metrics.csv` (name, ROI, Max Drawdown, Win Percentage, Profit
/// Factor, Expectancy); names may hold commas, so the numbers are taken from the right.
pub fn read_metrics_csv(path: &Path) -> Result<Vec<StrategyMetrics>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.rsplitn(6, ',').collect();
        let num = |k: usize| -> Result<f64> {
            let s = f.get(k).map(|s| s.trim()).unwrap_or("");
            s.parse::<f64>().map_err(|_| {
                Error::input(
                    Location::file(path).line(i + 1).column(6 - k, None),
                    format!("expected a number, found {s:?}"),
                )
            })
        };
        out.push(StrategyMetrics {
            roi: num(4)?,
            max_drawdown: num(3)?,
            win_percentage: num(2)?,
            profit_factor: num(1)?,
            expectancy: num(0)?,
        });
    }
    if out.is_empty() {
        return Err(Error::input(
            Location::file(path),
            "no metric rows: expected a header line and one row per strategy",
        ));
    }
    Ok(out)
}

/// Percentile rows for the generated metrics, next to the real ones when given.
pub fn compare(synthetic: &[StrategyMetrics], real: Option<&[StrategyMetrics]>) -> Vec<Row> {
    let s = columns(synthetic);
    let r = real.map(columns);
    let q = |v: &Vec<f64>| QUANTILES.map(|q| percentile(v, q));
    COMPARED
        .iter()
        .enumerate()
        .map(|(i, &metric)| Row { metric, synthetic: q(&s[i]), real: r.as_ref().map(|r| q(&r[i])) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0, f64::INFINITY];
        assert_eq!(percentile(&v, 0.5), 2.5);
        assert_eq!(percentile(&v, 0.1), 1.3);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
