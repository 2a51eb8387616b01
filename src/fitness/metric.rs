//! The six fitness metrics of the legacy config, with their special cases.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Below this max drawdown, `ratio` falls back to scaled ROI (legacy constant).
pub const DRAWDOWN_EPS: f64 = 1e-6;

/// What a search maximises (names as the legacy config spells them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Metric {
    #[serde(rename = "roi")]
    Roi,
    #[serde(rename = "less max dd")]
    LessMaxDd,
    #[serde(rename = "ratio")]
    Ratio,
    #[serde(rename = "win percentage")]
    WinPercentage,
    #[serde(rename = "profit factor")]
    ProfitFactor,
    #[serde(rename = "expectancy")]
    Expectancy,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::Roi,
        Metric::LessMaxDd,
        Metric::Ratio,
        Metric::WinPercentage,
        Metric::ProfitFactor,
        Metric::Expectancy,
    ];

    /// The legacy config name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Roi => "roi",
            Metric::LessMaxDd => "less max dd",
            Metric::Ratio => "ratio",
            Metric::WinPercentage => "win percentage",
            Metric::ProfitFactor => "profit factor",
            Metric::Expectancy => "expectancy",
        }
    }

    /// Whether the correlation penalty is halved for portfolios under the drawdown threshold.
    pub fn halves_penalty_under_threshold(self) -> bool {
        matches!(self, Metric::Ratio | Metric::LessMaxDd)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;

    /// Accepts the legacy names in any case, with `_` or `-` for spaces (`less_max_dd`).
    fn from_str(s: &str) -> Result<Self> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        Metric::ALL.into_iter().find(|m| m.name() == norm).ok_or_else(|| {
            let known: Vec<_> = Metric::ALL.iter().map(|m| format!("'{}'", m.name())).collect();
            Error::invalid("--metric", format!("unknown metric '{s}'; expected one of {}", known.join(", ")))
        })
    }
}

/// The metric's value for daily portfolio returns `p`, and the max drawdown (for the penalty).
pub fn base_fitness(metric: Metric, p: &[f64]) -> (f64, f64) {
    let mut eq = 0.0f64;
    let mut peak = f64::NEG_INFINITY;
    let mut mdd = 0.0f64;
    let (mut wins, mut losses, mut pos, mut neg) = (0usize, 0usize, 0.0f64, 0.0f64);
    for &x in p {
        eq += x;
        peak = peak.max(eq);
        mdd = mdd.max(peak - eq);
        if x > 0.0 {
            wins += 1;
            pos += x;
        } else if x < 0.0 {
            losses += 1;
            neg += x;
        }
    }
    let roi: f64 = p.iter().sum();
    let n = p.len() as f64;
    let value = match metric {
        Metric::Roi => roi,
        Metric::LessMaxDd => -mdd,
        Metric::Ratio => {
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
        Metric::WinPercentage => wins as f64 / n,
        Metric::ProfitFactor => {
            if neg.abs() > DRAWDOWN_EPS {
                pos / neg.abs()
            } else if pos > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Metric::Expectancy => {
            let w = wins as f64 / n;
            let mean_win = if wins == 0 { 0.0 } else { pos / wins as f64 };
            let mean_loss = if losses == 0 { 0.0 } else { neg.abs() / losses as f64 };
            w * mean_win - (1.0 - w) * mean_loss
        }
    };
    (value, mdd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
        }
        assert_eq!("Less_Max_DD".parse::<Metric>().unwrap(), Metric::LessMaxDd);
        let err = "sharpe".parse::<Metric>().unwrap_err().to_string();
        assert!(err.contains("sharpe") && err.contains("'profit factor'"), "{err}");
    }

    #[test]
    fn ratio_special_cases() {
        assert_eq!(base_fitness(Metric::Ratio, &[1.0, 2.0]).0, 300.0);
        assert_eq!(base_fitness(Metric::Ratio, &[-1.0, -2.0]).0, -1.5);
        assert_eq!(base_fitness(Metric::Ratio, &[-1.0]).0, -10.0);
        assert_eq!(base_fitness(Metric::Ratio, &[0.0, 0.0]).0, 0.0);
        // Peak 3 after day 2, trough 1 after day 3: mdd 2, roi 1.
        assert_eq!(base_fitness(Metric::Ratio, &[1.0, 2.0, -2.0]), (0.5, 2.0));
    }

    #[test]
    fn profit_factor_and_expectancy_special_cases() {
        assert_eq!(base_fitness(Metric::ProfitFactor, &[1.0, 0.0]).0, 1.0);
        assert_eq!(base_fitness(Metric::ProfitFactor, &[0.0, 0.0]).0, 0.0);
        assert_eq!(base_fitness(Metric::ProfitFactor, &[3.0, -1.0]).0, 3.0);
        assert_eq!(base_fitness(Metric::Expectancy, &[4.0, -2.0]).0, 0.5 * 4.0 - 0.5 * 2.0);
        assert_eq!(base_fitness(Metric::WinPercentage, &[4.0, -2.0, 0.0, 1.0]).0, 0.5);
        assert_eq!(base_fitness(Metric::LessMaxDd, &[4.0, -2.0, -1.0]).0, -3.0);
    }
}
