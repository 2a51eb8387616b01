//! A run's settings from its three sources, flags over a legacy INI over the defaults of the
//! production config, checked once: what `heavytune run` hands to [`crate::pipeline::run`].

use std::path::PathBuf;

use heavytune_kernels::{Metric, Penalty};

use crate::config::read_legacy;
use crate::error::{Error, Result};
use crate::pipeline::{Balanced, RunSpec, Source};
use crate::search::{self, MAX_BUDGET, MAX_GENERATIONS, MAX_POPULATION, Params};
use crate::stages::Stats;

/// The options of `heavytune run` as given (`None`: not given, the config or default applies).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub input: Vec<PathBuf>,
    pub table: Option<String>,
    pub config: Option<PathBuf>,
    pub min_size: Option<usize>,
    pub max_size: Option<usize>,
    pub metric: Option<String>,
    pub algorithms: Option<String>,
    pub generations: Option<usize>,
    pub population: Option<usize>,
    pub mutation_rate: Option<f64>,
    /// `--ulta` (true) or `--no-ulta` (false).
    pub ulta: Option<bool>,
    pub drawdown_threshold: Option<f64>,
    pub balanced: Option<String>,
    pub penalty_factor: Option<f64>,
    pub seed: u64,
    pub batch: usize,
    pub stats: Stats,
    pub device: heavytune_kernels::gpu::DeviceChoice,
}

/// Parses `LABEL=COUNT,...` of `--balanced`.
pub fn parse_balanced(s: &str) -> Result<Vec<(String, i64)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| Error::invalid("--balanced", format!("expected LABEL=COUNT, found {p:?}")))?;
            let n: i64 = v.trim().parse().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Error::invalid(
                    "--balanced",
                    format!("count of {:?} must be a whole number >= 0, found {v:?}", k.trim()),
                )
            })?;
            Ok((k.trim().to_string(), n))
        })
        .collect()
}

/// Flags over config over defaults; returns the spec, where the data comes from, and the
/// config's warnings.
pub fn build_spec(o: &RunOptions) -> Result<(RunSpec, Source, Vec<String>)> {
    let need_inputs = o.input.is_empty() && o.table.is_none();
    let cfg = match &o.config {
        Some(p) => read_legacy(p, need_inputs)?,
        None if need_inputs => {
            return Err(Error::invalid("input", "no input: give --input FILE..., --table NAME or --config config.ini"));
        }
        None => Default::default(),
    };
    let metric = match &o.metric {
        Some(m) => m.parse::<Metric>()?,
        None => cfg.metric.unwrap_or(Metric::Ratio),
    };
    let algorithms = match &o.algorithms {
        Some(list) => search::parse_algorithms(list)?,
        None if o.config.is_some() => cfg.algorithms.clone(),
        None => (0..search::registry().len()).collect(),
    };
    let generations = o.generations.or(cfg.generations).unwrap_or(50);
    let population = o.population.or(cfg.population).unwrap_or(30);
    let mutation_rate = o.mutation_rate.or(cfg.mutation_rate).unwrap_or(0.1);
    if generations == 0 || generations > MAX_GENERATIONS {
        return Err(Error::invalid("--generations", format!("{generations}: give 1 to {MAX_GENERATIONS}")));
    }
    if population < 2 {
        return Err(Error::invalid("--population", "must be at least 2 (GA and DE need partners)"));
    }
    if population > MAX_POPULATION {
        return Err(Error::invalid(
            "--population",
            format!("{population} is too large: at most {MAX_POPULATION} (each member is a portfolio held in memory)"),
        ));
    }
    if generations.saturating_mul(population) > MAX_BUDGET {
        return Err(Error::invalid(
            "--generations",
            format!(
                "{generations} generations of {population} is over {MAX_BUDGET} evaluations per size and algorithm"
            ),
        ));
    }
    if !(0.0..=1.0).contains(&mutation_rate) {
        return Err(Error::invalid("--mutation-rate", format!("must be a probability in [0, 1], got {mutation_rate}")));
    }
    if o.batch == 0 {
        return Err(Error::invalid("--batch", "must be at least 1"));
    }
    let threshold = o.drawdown_threshold.or(cfg.drawdown_threshold).unwrap_or(0.0);
    if !threshold.is_finite() {
        return Err(Error::invalid("--drawdown-threshold", "must be a finite number"));
    }
    let factor = o.penalty_factor.or(cfg.penalty_factor).unwrap_or(1.0);
    if !(factor.is_finite() && factor >= 0.0) {
        return Err(Error::invalid("--penalty-factor", format!("must be a number >= 0, got {factor}")));
    }
    let balanced = match &o.balanced {
        Some(s) => Some(Balanced { factor, ratios: parse_balanced(s)? }),
        None if cfg.balanced == Some(true) => Some(Balanced { factor, ratios: cfg.file_ratios.clone() }),
        None => None,
    };
    let spec = RunSpec {
        min_size: o.min_size.or(cfg.min_size).unwrap_or(35),
        max_size: o.max_size.or(cfg.max_size).unwrap_or(60),
        metric,
        algorithms,
        params: Params { generations, population, mutation_rate, batch: o.batch },
        ulta: o.ulta.or(cfg.ulta).unwrap_or(false),
        penalty: Penalty { drawdown_threshold: threshold, ..Penalty::default() },
        balanced,
        seed: o.seed,
        strat_limit: cfg.strat_limit,
        stats: o.stats,
        device: o.device,
    };
    if spec.min_size > spec.max_size {
        return Err(Error::invalid(
            "--min-size",
            format!("--min-size {} is larger than --max-size {}", spec.min_size, spec.max_size),
        ));
    }
    let source = match (&o.table, o.input.is_empty()) {
        (Some(t), _) => Source::Table(t.clone()),
        (None, false) => Source::Files(o.input.clone()),
        (None, true) => Source::Files(cfg.inputs.clone()),
    };
    Ok((spec, source, cfg.warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RunOptions {
        RunOptions { input: vec!["x.csv".into()], batch: 64, ..RunOptions::default() }
    }

    #[test]
    fn defaults_are_the_production_config() {
        let (spec, source, _) = build_spec(&opts()).unwrap();
        assert_eq!((spec.min_size, spec.max_size, spec.metric), (35, 60, Metric::Ratio));
        assert_eq!((spec.params.generations, spec.params.population), (50, 30));
        assert_eq!(spec.algorithms.len(), 8);
        assert!(!spec.ulta);
        assert!(matches!(source, Source::Files(f) if f == [PathBuf::from("x.csv")]));
    }

    #[test]
    fn flags_override_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("c.ini");
        std::fs::write(
            &ini,
            "[GENERAL]\nga_generations = 20\nmetric = roi\n[PORTFOLIO]\nmin_size = 3\nmax_size = 9\n\
             [OPTIMIZATION]\napply_ulta_logic = true\n[ALGORITHMS]\nuse_hill_climbing = false\n",
        )
        .unwrap();
        let o = RunOptions { config: Some(ini), max_size: Some(5), ulta: Some(false), ..opts() };
        let (spec, _, _) = build_spec(&o).unwrap();
        assert_eq!((spec.min_size, spec.max_size, spec.params.generations), (3, 5, 20));
        assert_eq!(spec.metric, Metric::Roi);
        assert!(!spec.ulta, "--no-ulta beats apply_ulta_logic = true");
        assert_eq!(spec.algorithms, vec![0, 1, 2, 3, 4, 6], "the config's ALGORITHMS when --algorithms is absent");
    }

    #[test]
    fn absurd_values_are_refused_before_any_allocation() {
        let e = build_spec(&RunOptions { population: Some(1_000_000_000), ..opts() }).unwrap_err().to_string();
        assert!(e.contains("--population") && e.contains("too large"), "{e}");
        let e = build_spec(&RunOptions { population: Some(100_000), generations: Some(10_000_000), ..opts() })
            .unwrap_err()
            .to_string();
        assert!(e.contains("evaluations per size"), "{e}");
        assert!(build_spec(&RunOptions { batch: 0, ..opts() }).is_err());
        assert!(build_spec(&RunOptions { mutation_rate: Some(1.5), ..opts() }).is_err());
        let e = build_spec(&RunOptions { min_size: Some(9), max_size: Some(4), ..opts() }).unwrap_err().to_string();
        assert!(e.contains("--min-size 9") && e.contains("--max-size 4"), "{e}");
        let e = build_spec(&RunOptions { input: vec![], ..opts() }).unwrap_err().to_string();
        assert!(e.contains("no input"), "{e}");
    }

    #[test]
    fn balanced_counts_parse_and_bad_ones_say_why() {
        assert_eq!(parse_balanced("a=2, b = 3").unwrap(), vec![("a".into(), 2), ("b".into(), 3)]);
        assert!(parse_balanced("a").unwrap_err().to_string().contains("LABEL=COUNT"));
        assert!(parse_balanced("a=-1").unwrap_err().to_string().contains(">= 0"));
    }
}
