//! `heavytune score`: given portfolios (one per line of a file, strategy names separated by
//! `|`) scored as the legacy scores them, with their report metrics.

use std::collections::HashMap;
use std::path::Path;

use heavytune_kernels::gpu::DeviceChoice;
use heavytune_kernels::{Eval, Evaluator, Metric, Penalty, portfolio_returns};

use crate::device::{Device, DeviceSummary};
use crate::engine::Engine;
use crate::error::{Error, Location, Result};
use crate::load::WideTable;
use crate::performance::{PortfolioReport, portfolio_report};
use crate::pipeline::Source;

/// One scored line of the portfolio file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scored {
    pub line: usize,
    pub size: usize,
    pub fitness: f64,
    pub base_fitness: f64,
    pub avg_corr: f64,
    #[serde(flatten)]
    pub metrics: PortfolioReport,
}

/// Parses portfolio file text against the strategies' names: `(line, strategy indices)` per
/// non-blank line. `ulta` says whether `_inv` names exist (for hints).
pub fn parse_portfolios(path: &Path, text: &str, names: &[String], ulta: bool) -> Result<Vec<(usize, Vec<u32>)>> {
    let index: HashMap<&str, u32> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect();
    let mut portfolios = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || Location::file(path).line(i + 1);
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut pf = Vec::new();
        for name in line.split('|') {
            let s = index.get(name).copied().or_else(|| index.get(name.trim()).copied());
            let Some(s) = s else {
                let hint = if index.contains_key(format!("{}_inv", name.trim()).as_str()) {
                    " (ULTA inverted it: it is named with the _inv suffix)"
                } else if !ulta && name.trim().ends_with("_inv") {
                    " (an _inv name exists only with --ulta)"
                } else {
                    ""
                };
                return Err(Error::input(at(), format!("unknown strategy {name:?}{hint}")));
            };
            if pf.contains(&s) {
                return Err(Error::input(at(), format!("strategy {name:?} appears twice in one portfolio")));
            }
            pf.push(s);
        }
        portfolios.push((i + 1, pf));
    }
    if portfolios.is_empty() {
        return Err(Error::input(
            Location::file(path),
            "no portfolio in the file (expected one per line, names separated by `|`)",
        ));
    }
    Ok(portfolios)
}

/// Scores every portfolio of the file on `table` (already through ULTA when asked), on the
/// `device` (portfolios of one size in one GPU batch; the CPU's bits either way).
pub fn score(
    table: &WideTable,
    portfolios: &[(usize, Vec<u32>)],
    metric: Metric,
    penalty: Penalty,
    device: DeviceChoice,
) -> Result<(Vec<Scored>, DeviceSummary)> {
    let ev = Evaluator::new(&table.values, table.n_days(), metric, penalty, None);
    let device = Device::open(device, &ev)?;
    let mut evals: Vec<Option<Eval>> = vec![None; portfolios.len()];
    if let Some(gpu) = &device.fitness {
        let mut sizes: Vec<usize> = portfolios.iter().map(|(_, pf)| pf.len()).collect();
        sizes.sort_unstable();
        sizes.dedup();
        for size in sizes {
            let at: Vec<usize> = (0..portfolios.len()).filter(|&i| portfolios[i].1.len() == size).collect();
            let batch: Vec<Vec<u32>> = at.iter().map(|&i| portfolios[i].1.clone()).collect();
            if let Ok(scores) = gpu.evaluate_batch(&batch) {
                at.iter().zip(scores).for_each(|(&i, e)| evals[i] = Some(e));
            }
        }
    }
    let mut scratch = ev.scratch();
    let scored = portfolios
        .iter()
        .zip(evals)
        .map(|((line, pf), e)| {
            let e = e.unwrap_or_else(|| ev.evaluate(pf, &mut scratch));
            let metrics = portfolio_report(&portfolio_returns(&table.values, table.n_days(), pf));
            Scored {
                line: *line,
                size: pf.len(),
                fitness: e.fitness,
                base_fitness: e.base_fitness,
                avg_corr: e.avg_corr,
                metrics,
            }
        })
        .collect();
    Ok((scored, device.summary()))
}

/// `heavytune score` end to end: reads the strategies (files, or a loaded table through
/// `engine`), applies ULTA when asked, parses the portfolio file and scores every line.
pub async fn score_file(
    source: &Source,
    engine: Option<&dyn Engine>,
    portfolio_file: &Path,
    metric: Metric,
    penalty: Penalty,
    ulta: bool,
    device: DeviceChoice,
) -> Result<(Vec<Scored>, DeviceSummary)> {
    let text = std::fs::read_to_string(portfolio_file).map_err(|e| Error::io(portfolio_file, e))?;
    let table = crate::pipeline::read_source(source, engine).await?;
    let (table, _) = if ulta { crate::ulta::apply(table) } else { (table, Vec::new()) };
    let portfolios = parse_portfolios(portfolio_file, &text, &table.names, ulta)?;
    score(&table, &portfolios, metric, penalty, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["A", "B", "C x", "D_inv"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lines_become_portfolios_and_blank_lines_are_skipped() {
        let p = parse_portfolios(Path::new("p.txt"), "A|B\n\n C x |D_inv\r\n", &names(), true).unwrap();
        assert_eq!(p, vec![(1, vec![0, 1]), (3, vec![2, 3])]);
    }

    #[test]
    fn mistakes_name_the_line_and_hint() {
        let e = |t: &str, ulta| parse_portfolios(Path::new("p.txt"), t, &names(), ulta).unwrap_err().to_string();
        assert!(e("A|B\nA|NOPE\n", false).contains("p.txt:2") && e("A|NOPE", false).contains("\"NOPE\""));
        assert!(e("D", true).contains("_inv suffix"));
        assert!(e("A|X_inv", false).contains("only with --ulta"));
        assert!(e("A|A", false).contains("twice"));
        assert!(e("\n\n", false).contains("no portfolio"));
    }
}
