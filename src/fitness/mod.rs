//! Portfolio fitness exactly as the legacy tool scores it: six base metrics, the correlation
//! penalty (from standardized columns, never a strategy-by-strategy matrix) and balanced mode.

pub mod corr;
mod eval;
mod metric;
mod report;

pub use corr::standardize;
pub use eval::{Balance, Eval, Evaluator, Incremental, Penalty, Scratch};
pub use metric::{DRAWDOWN_EPS, Metric, base_fitness};
pub use report::{PortfolioReport, portfolio_report};

/// Daily returns of an equal-weight portfolio: the plain mean of its strategies' P&L per day.
pub fn portfolio_returns(values: &[f64], n_days: usize, portfolio: &[u32]) -> Vec<f64> {
    let mut sum = vec![0.0; n_days];
    for &s in portfolio {
        let col = &values[s as usize * n_days..(s as usize + 1) * n_days];
        sum.iter_mut().zip(col).for_each(|(a, x)| *a += x);
    }
    let k = portfolio.len() as f64;
    sum.iter_mut().for_each(|a| *a /= k);
    sum
}
