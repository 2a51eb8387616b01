//! Equity-curve and drawdown charts of a portfolio, as PNG (plotters, bundled font).

use std::path::Path;
use std::sync::Once;

use heavytune_kernels::series::curves;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// DejaVu Sans (see assets/DejaVuSans.LICENSE): charts need no system fonts.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

const SIZE: (u32, u32) = (900, 500);

fn font() {
    REGISTER.call_once(|| {
        // Only fails on a corrupt font file, which the tests would catch.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Plot { path: path.display().to_string(), message: e.to_string() }
}

/// Padded y range of the finite values (and 0). Non-finite values are left out: an infinite
/// axis would have no ticks to draw.
fn y_range(ys: &[f64]) -> (f64, f64) {
    let finite = || ys.iter().copied().filter(|y| y.is_finite());
    let lo = finite().fold(0.0f64, f64::min);
    let hi = finite().fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.05).max(1e-9);
    if !(lo - pad).is_finite() || !(hi + pad).is_finite() {
        return (lo, hi);
    }
    (lo - pad, hi + pad)
}

fn draw(path: &Path, title: &str, y_desc: &str, ys: &[f64], area: bool) -> Result<()> {
    font();
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let (lo, hi) = y_range(ys);
    let x_max = (ys.len().max(2) - 1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max, lo..hi)
        .map_err(|e| err(path, e))?;
    chart.configure_mesh().x_desc("Days").y_desc(y_desc).draw().map_err(|e| err(path, e))?;
    // A non-finite value (an overflowing sum) is no point on the chart.
    let points = ys.iter().enumerate().filter(|(_, y)| y.is_finite()).map(|(i, y)| (i as f64, *y));
    if area {
        chart.draw_series(AreaSeries::new(points, 0.0, RED.mix(0.25)).border_style(RED)).map_err(|e| err(path, e))?;
    } else {
        chart.draw_series(LineSeries::new(points, &BLUE)).map_err(|e| err(path, e))?;
    }
    root.present().map_err(|e| err(path, e))
}

/// Cumulative return of the daily returns `p`.
pub fn equity_curve(path: &Path, title: &str, p: &[f64]) -> Result<()> {
    draw(path, title, "Cumulative Return", &curves(p).0, false)
}

/// Drawdown from the running peak (<= 0), the peak starting at the first day.
pub fn drawdown(path: &Path, title: &str, p: &[f64]) -> Result<()> {
    draw(path, title, "Drawdown", &curves(p).1, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("eq.png"), dir.path().join("dd.png"));
        equity_curve(&a, "Equity", &[1.0, -2.0, 3.0, 0.5]).unwrap();
        drawdown(&b, "Drawdown", &[1.0, -2.0, 3.0, 0.5]).unwrap();
        for p in [a, b] {
            let bytes = std::fs::read(p).unwrap();
            assert_eq!(&bytes[1..4], b"PNG");
        }
    }

    #[test]
    fn non_finite_returns_still_draw() {
        let dir = tempfile::tempdir().unwrap();
        let p = [1.0, f64::INFINITY, -2.0, f64::NAN, f64::MAX, f64::MAX];
        equity_curve(&dir.path().join("eq.png"), "Equity", &p).unwrap();
        drawdown(&dir.path().join("dd.png"), "Drawdown", &p).unwrap();
    }
}
