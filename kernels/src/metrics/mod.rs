//! The fitness metrics of the legacy config, one unit per file, registered in [`Metric::unit`].
//!
//! Each metric reads the one-pass [`SeriesStats`] of a portfolio's daily returns. The names are
//! the legacy config's (`metric = ratio`); any other name is an error here (the legacy silently
//! fell back to ROI).

mod expectancy;
mod less_max_dd;
mod profit_factor;
mod ratio;
mod roi;
mod win_percentage;

use std::fmt;
use std::str::FromStr;

use crate::series::SeriesStats;

/// Below this, a max drawdown (for `ratio`) or a loss sum (for `profit factor`) counts as none
/// (the legacy constant).
pub const DRAWDOWN_EPS: f64 = 1e-6;

/// One fitness metric: what a search maximises, before the correlation penalty.
pub trait FitnessMetric: Sync {
    /// The legacy config name.
    fn name(&self) -> &'static str;
    /// The metric's value for a portfolio's daily returns, from their statistics.
    fn value(&self, s: &SeriesStats) -> f64;
    /// Whether the correlation penalty is halved for portfolios under the drawdown threshold.
    fn halves_penalty_under_threshold(&self) -> bool {
        false
    }
}

/// A fitness metric by name, in the legacy config's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Roi,
    LessMaxDd,
    Ratio,
    WinPercentage,
    ProfitFactor,
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

    /// The metric's unit: the one list of metrics.
    pub fn unit(self) -> &'static dyn FitnessMetric {
        match self {
            Metric::Roi => &roi::Roi,
            Metric::LessMaxDd => &less_max_dd::LessMaxDd,
            Metric::Ratio => &ratio::Ratio,
            Metric::WinPercentage => &win_percentage::WinPercentage,
            Metric::ProfitFactor => &profit_factor::ProfitFactor,
            Metric::Expectancy => &expectancy::Expectancy,
        }
    }

    /// The legacy config name.
    pub fn name(self) -> &'static str {
        self.unit().name()
    }

    /// The metric's number in the CUDA sources (`HT_METRIC_*` of `cuda/series.cuh`): its
    /// position in [`Metric::ALL`].
    pub fn id(self) -> i32 {
        Metric::ALL.iter().position(|m| *m == self).map_or(-1, |i| i as i32)
    }

    pub fn halves_penalty_under_threshold(self) -> bool {
        self.unit().halves_penalty_under_threshold()
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A metric name that is none of the legacy ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMetric(pub String);

impl fmt::Display for UnknownMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<_> = Metric::ALL.iter().map(|m| format!("'{}'", m.name())).collect();
        write!(f, "unknown metric '{}'; expected one of {}", self.0, known.join(", "))
    }
}

impl std::error::Error for UnknownMetric {}

impl FromStr for Metric {
    type Err = UnknownMetric;

    /// Accepts the legacy names in any case, with `_` or `-` for spaces (`less_max_dd`).
    fn from_str(s: &str) -> Result<Self, UnknownMetric> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        Metric::ALL.into_iter().find(|m| m.name() == norm).ok_or_else(|| UnknownMetric(s.to_owned()))
    }
}

/// The metric's value for daily portfolio returns `p`, and their max drawdown (for the penalty).
pub fn base_fitness(metric: Metric, p: &[f64]) -> (f64, f64) {
    let s = SeriesStats::of(p);
    (metric.unit().value(&s), s.max_drawdown)
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
    fn only_ratio_and_less_max_dd_halve_the_penalty() {
        let halving: Vec<Metric> = Metric::ALL.into_iter().filter(|m| m.halves_penalty_under_threshold()).collect();
        assert_eq!(halving, [Metric::LessMaxDd, Metric::Ratio]);
    }
}
