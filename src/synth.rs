//! Production-shape synthetic data: strategies named and structured like the real ones.
//!
//! Strategies come in time windows (`SENSEX 1156-1226 ...`), 206 stop-loss / take-profit
//! variants per window as in production. Each day has a market factor; each window a factor
//! partly driven by it; each strategy follows its window closely. Daily P&L is skewed: a shifted
//! latent value, losses stretched by a factor > 1, so there are more small wins than large losses.
//! The constants below were calibrated against the real per-strategy metrics (`synth --report`).

use std::collections::HashSet;
use std::io::Write;

use chrono::{Datelike, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::load::WideTable;
use crate::load::dates::date_to_days;

/// Variants per time window in the production data: 72 stop-loss only, 134 with take-profit.
pub const VARIANTS_PER_WINDOW: usize = 206;
const SL_ONLY: usize = 72;
/// 1,225 distinct windows exist between 09:16 and 15:26 for the five durations.
pub const MAX_STRATEGIES: u64 = 250_000;

/// Correlation of a window's daily factor with the market factor.
const RHO_MARKET: f64 = 0.3;
/// Correlation of a strategy with its window's factor.
const RHO_WINDOW: f64 = 0.75;
/// Typical daily P&L scale (currency units) and its log-spread across strategies.
const SCALE: f64 = 1200.0;
const SCALE_SPREAD: f64 = 0.15;
/// Latent shift (sets the win rate) and its spread across strategies.
const EDGE: f64 = 0.17;
const EDGE_SPREAD: f64 = 0.04;
/// Loss stretch (>1: losses larger than wins) and its log-spread.
const LOSS_STRETCH: f64 = 1.66;
const LOSS_STRETCH_SPREAD: f64 = 0.06;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SynthConfig {
    pub strategies: usize,
    pub days: usize,
    pub seed: u64,
}

impl Default for SynthConfig {
    /// The production shape: 25,544 strategies x 82 trading days.
    fn default() -> Self {
        SynthConfig { strategies: 25_544, days: 82, seed: 42 }
    }
}

/// A trading window as minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Window {
    entry: u32,
    exit: u32,
}

fn hhmm(minutes: u32) -> u32 {
    minutes / 60 * 100 + minutes % 60
}

/// Distinct windows between 09:16 and 15:26, of the production durations.
fn windows(n: usize, rng: &mut ChaCha8Rng) -> Vec<Window> {
    const DURATIONS: [u32; 5] = [30, 60, 120, 180, 240];
    let (open, close) = (9 * 60 + 16, 15 * 60 + 26);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let dur = DURATIONS[rng.random_range(0..DURATIONS.len())];
        let entry = rng.random_range(open..=close - dur);
        let w = Window { entry, exit: entry + dur };
        // 1,225 distinct windows exist: enough for MAX_STRATEGIES, which callers respect.
        if seen.insert(w) {
            out.push(w);
        }
    }
    out
}

/// Name of variant `v` of a window: stop-loss only for the first 72, then with take-profit.
fn strategy_name(w: Window, v: usize) -> String {
    let window = format!("SENSEX {}-{}", hhmm(w.entry), hhmm(w.exit));
    if v < SL_ONLY {
        format!("{window} SL{}%", 7 + 2 * v)
    } else {
        // (i mod 10, 13 i mod 72) is one-to-one for i < 360: every pair is distinct.
        let i = v - SL_ONLY;
        format!("{window} SL{}%TP{}%", 7 + 2 * ((13 * i) % SL_ONLY), 22 + 5 * (i % 10))
    }
}

/// Weekdays from 2024-01-01 on.
fn trading_days(n: usize) -> Vec<NaiveDate> {
    let mut d = NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date");
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            out.push(d);
        }
        d = d.succ_opt().expect("date in range");
    }
    out
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Generates the data set in memory; the same config gives the same values on every run.
pub fn generate(cfg: &SynthConfig) -> WideTable {
    let (n_s, n_d) = (cfg.strategies, cfg.days);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    assert!(n_s as u64 <= MAX_STRATEGIES, "at most {MAX_STRATEGIES} strategies");
    let n_w = n_s.div_ceil(VARIANTS_PER_WINDOW);
    let wins = windows(n_w, &mut rng);
    let market: Vec<f64> = (0..n_d).map(|_| normal(&mut rng)).collect();
    let own_m = (1.0 - RHO_MARKET * RHO_MARKET).sqrt();
    let window_factor: Vec<f64> =
        (0..n_w * n_d).map(|i| RHO_MARKET * market[i % n_d] + own_m * normal(&mut rng)).collect();

    let own_w = (1.0 - RHO_WINDOW * RHO_WINDOW).sqrt();
    let mut names = Vec::with_capacity(n_s);
    let mut values = Vec::with_capacity(n_s * n_d);
    for s in 0..n_s {
        let (w, v) = (s / VARIANTS_PER_WINDOW, s % VARIANTS_PER_WINDOW);
        names.push(strategy_name(wins[w], v));
        let duration = (wins[w].exit - wins[w].entry) as f64;
        let edge = EDGE + EDGE_SPREAD * normal(&mut rng);
        let stretch = LOSS_STRETCH * (LOSS_STRETCH_SPREAD * normal(&mut rng)).exp();
        let scale = SCALE * (duration / 120.0).powf(0.15) * (SCALE_SPREAD * normal(&mut rng)).exp();
        for d in 0..n_d {
            let y = RHO_WINDOW * window_factor[w * n_d + d] + own_w * normal(&mut rng) + edge;
            values.push(scale * if y > 0.0 { y } else { stretch * y });
        }
    }
    let days = trading_days(n_d);
    WideTable {
        labels: vec!["synthetic".to_owned(); n_s],
        names,
        dates: days.iter().map(|d| date_to_days(*d)).collect(),
        zones: Some(vec!["All Day".to_owned(); n_d]),
        values,
        missing_cells: 0,
        bytes_read: 0,
        warnings: Vec::new(),
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")).into() } else { s.into() }
}

/// Writes the legacy wide layout: `Date,Zone,Day,<strategy>...`, one row per day. Floats are
/// written in their shortest exact form, so reading them back gives the same bits.
pub fn write_wide_csv(table: &WideTable, out: &mut impl Write) -> std::io::Result<()> {
    let (n_s, n_d) = (table.n_strategies(), table.n_days());
    let mut header = String::from("Date,Zone,Day");
    for n in &table.names {
        header.push(',');
        header.push_str(&csv_field(n));
    }
    header.push('\n');
    out.write_all(header.as_bytes())?;
    let rows: Vec<Vec<u8>> = (0..n_d)
        .into_par_iter()
        .map(|d| {
            let date = crate::load::dates::days_to_date(table.dates[d]);
            let zone = table.zones.as_ref().map(|z| z[d].as_str()).unwrap_or("");
            let mut line = Vec::with_capacity(n_s * 20);
            write!(line, "{},{},{}", date.format("%Y-%m-%d"), csv_field(zone), date.format("%A"))
                .expect("write to Vec");
            for s in 0..n_s {
                write!(line, ",{}", table.values[s * n_d + d]).expect("write to Vec");
            }
            line.push(b'\n');
            line
        })
        .collect();
    for r in rows {
        out.write_all(&r)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let cfg = SynthConfig { strategies: 500, days: 10, seed: 7 };
        let bytes = |c: &SynthConfig| {
            let mut v = Vec::new();
            write_wide_csv(&generate(c), &mut v).unwrap();
            v
        };
        assert_eq!(bytes(&cfg), bytes(&cfg));
        assert_ne!(bytes(&cfg), bytes(&SynthConfig { seed: 8, ..cfg }));
    }

    #[test]
    fn names_are_unique_and_production_like() {
        let t = generate(&SynthConfig { strategies: 2 * VARIANTS_PER_WINDOW + 5, days: 5, seed: 1 });
        let unique: HashSet<&String> = t.names.iter().collect();
        assert_eq!(unique.len(), t.names.len());
        assert!(t.names[0].starts_with("SENSEX ") && t.names[0].ends_with("SL7%"), "{}", t.names[0]);
        assert!(t.names[100].contains("%TP"), "{}", t.names[100]);
    }

    #[test]
    fn strategies_of_a_window_move_together() {
        let t = generate(&SynthConfig { strategies: 2 * VARIANTS_PER_WINDOW, days: 82, seed: 3 });
        let corr = |a: &[f64], b: &[f64]| {
            let (ma, mb) = (a.iter().sum::<f64>() / a.len() as f64, b.iter().sum::<f64>() / b.len() as f64);
            let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
            let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
            let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
            cov / (va * vb).sqrt()
        };
        let same = corr(t.strategy(0), t.strategy(1));
        let other = corr(t.strategy(0), t.strategy(VARIANTS_PER_WINDOW));
        assert!(same > 0.3 && same > other, "within {same}, across {other}");
    }

    #[test]
    fn trading_days_skip_weekends() {
        let d = trading_days(6);
        assert!(d.iter().all(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)));
        assert_eq!(d[5], NaiveDate::from_ymd_opt(2024, 1, 8).unwrap());
    }
}
