//! The legacy INI config (`GENERAL`, `PATHS`, `PORTFOLIO`, `OPTIMIZATION`, `ALGORITHMS`,
//! `FILE_RATIOS`), read as the legacy's configparser reads it, but bad values are errors
//! naming the line instead of silent defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Location, Result};
use heavytune_kernels::Metric;

/// One `key = value` with the line it came from.
#[derive(Debug, Clone)]
struct Entry {
    value: String,
    line: usize,
}

/// A parsed INI file: sections (case kept) of keys (lowercased, as configparser does).
#[derive(Debug, Default)]
pub struct Ini {
    path: PathBuf,
    sections: BTreeMap<String, BTreeMap<String, Entry>>,
    section_lines: BTreeMap<String, usize>,
}

impl Ini {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let mut ini = Ini { path: path.to_path_buf(), ..Ini::default() };
        let mut current: Option<String> = None;
        let mut last_key: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if trimmed.starts_with('[') {
                let name = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')).ok_or_else(|| {
                    Error::input(
                        Location::file(path).line(line),
                        format!("expected a section header like [GENERAL], found {trimmed:?}"),
                    )
                })?;
                ini.sections.entry(name.trim().to_string()).or_default();
                ini.section_lines.entry(name.trim().to_string()).or_insert(line);
                current = Some(name.trim().to_string());
                last_key = None;
                continue;
            }
            let Some(section) = current.clone() else {
                return Err(Error::input(Location::file(path).line(line), "a setting before any [SECTION] header"));
            };
            // configparser: an indented line continues the previous value.
            if let (true, Some(k)) = (raw.starts_with([' ', '\t']), &last_key) {
                let e = ini.sections.get_mut(&section).and_then(|s| s.get_mut(k)).expect("key just set");
                e.value.push('\n');
                e.value.push_str(trimmed);
                continue;
            }
            let split = trimmed.find(['=', ':']).ok_or_else(|| {
                Error::input(Location::file(path).line(line), format!("expected `key = value`, found {trimmed:?}"))
            })?;
            let key = trimmed[..split].trim().to_ascii_lowercase();
            let value = trimmed[split + 1..].trim().to_string();
            ini.sections.entry(section.clone()).or_default().insert(key.clone(), Entry { value, line });
            last_key = Some(key);
        }
        Ok(ini)
    }

    pub fn has_section(&self, name: &str) -> bool {
        self.sections.contains_key(name)
    }

    /// Errors naming every missing section.
    pub fn require_sections(&self, names: &[&str]) -> Result<()> {
        let missing: Vec<&str> = names.iter().copied().filter(|n| !self.has_section(n)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::input(
            Location::file(&self.path),
            format!("missing required section(s): [{}]", missing.join("], [")),
        ))
    }

    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.get(section)?.get(key).map(|e| e.value.as_str())
    }

    /// All keys of a section in file order of appearance... by name (configparser keeps order;
    /// the keys of FILE_RATIOS are file labels, so order does not matter).
    pub fn section(&self, section: &str) -> Vec<(String, String, usize)> {
        self.sections
            .get(section)
            .map(|s| s.iter().map(|(k, e)| (k.clone(), e.value.clone(), e.line)).collect())
            .unwrap_or_default()
    }

    fn at(&self, section: &str, key: &str) -> Location {
        let line = self.sections.get(section).and_then(|s| s.get(key)).map(|e| e.line);
        let loc = Location::file(&self.path);
        match line {
            Some(l) => loc.line(l),
            None => loc,
        }
    }

    /// Parses `[section] key` with `parse`, naming the line and what was expected on failure.
    pub fn parse_value<T>(
        &self,
        section: &str,
        key: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        let Some(v) = self.get(section, key) else { return Ok(None) };
        parse(v).map(Some).ok_or_else(|| {
            Error::input(self.at(section, key), format!("[{section}] {key} = {v:?}: expected {expected}"))
        })
    }

    pub fn bool(&self, section: &str, key: &str) -> Result<Option<bool>> {
        self.parse_value(section, key, "true/false, yes/no or 1/0", |v| match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        })
    }
}

/// What a legacy config sets; `None` where it is silent (the caller's default applies).
#[derive(Debug, Default, Clone)]
pub struct LegacyConfig {
    pub inputs: Vec<PathBuf>,
    pub strat_limit: Option<usize>,
    pub generations: Option<usize>,
    pub metric: Option<Metric>,
    pub min_size: Option<usize>,
    pub max_size: Option<usize>,
    pub population: Option<usize>,
    pub mutation_rate: Option<f64>,
    pub balanced: Option<bool>,
    pub penalty_factor: Option<f64>,
    pub drawdown_threshold: Option<f64>,
    pub ulta: Option<bool>,
    /// `[ALGORITHMS] use_*` flags in registry order (GA, PSO, SA, DE, ACO, HC, BO, RS).
    pub algorithms: Vec<usize>,
    /// `[FILE_RATIOS]`: desired count per file label.
    pub file_ratios: Vec<(String, i64)>,
    pub warnings: Vec<String>,
}

/// Registry order of the `[ALGORITHMS]` keys; RS is ours, off unless set.
const ALGORITHM_KEYS: [(&str, bool); 8] = [
    ("use_genetic_algorithm", true),
    ("use_particle_swarm", true),
    ("use_simulated_annealing", true),
    ("use_differential_evolution", true),
    ("use_ant_colony", true),
    ("use_hill_climbing", true),
    ("use_bayesian_optimization", true),
    ("use_random_search", false),
];

/// Reads a legacy config. `PATHS.data_folder` (every .csv/.xlsx in it, by name) gives the
/// inputs unless `need_inputs` is false (the command line gave them).
pub fn read_legacy(path: &Path, need_inputs: bool) -> Result<LegacyConfig> {
    let ini = Ini::read(path)?;
    ini.require_sections(&["GENERAL", "PORTFOLIO", "OPTIMIZATION"])?;
    let mut c = LegacyConfig::default();
    let uint = |v: &str| v.parse::<usize>().ok();
    let float = |v: &str| v.parse::<f64>().ok().filter(|x| x.is_finite());
    c.strat_limit = ini
        .parse_value("GENERAL", "strat_limit", "'all' or a positive whole number", |v| {
            if v.eq_ignore_ascii_case("all") {
                Some(None)
            } else {
                v.parse::<usize>().ok().filter(|&n| n > 0).map(Some)
            }
        })?
        .flatten();
    // The legacy clamps these silently; we clamp too (users' configs rely on it), with a
    // warning naming the line. Values past what heavytune can hold are errors naming the line.
    let whole = |section: &str, key: &str, min: usize, max: usize| -> Result<Option<usize>> {
        let Some(v) = ini.parse_value(section, key, "a whole number", uint)? else { return Ok(None) };
        if v > max {
            return Err(Error::input(ini.at(section, key), format!("[{section}] {key} = {v}: at most {max}")));
        }
        Ok(Some(v.max(min)))
    };
    let generations = whole("GENERAL", "ga_generations", 10, crate::search::MAX_GENERATIONS)?;
    let population = whole("PORTFOLIO", "population_size", 10, crate::search::MAX_POPULATION)?;
    let mutation_rate = ini.parse_value("PORTFOLIO", "mutation_rate", "a number", float)?;
    let penalty_factor = ini.parse_value("OPTIMIZATION", "penalty_factor", "a number", float)?;
    let clamped = [
        (
            "GENERAL",
            "ga_generations",
            ini.get("GENERAL", "ga_generations").map(str::to_owned),
            generations.map(|g| g.to_string()),
            "at least 10",
        ),
        (
            "PORTFOLIO",
            "population_size",
            ini.get("PORTFOLIO", "population_size").map(str::to_owned),
            population.map(|p| p.to_string()),
            "at least 10",
        ),
        (
            "PORTFOLIO",
            "mutation_rate",
            mutation_rate.map(|m| m.to_string()),
            mutation_rate.map(|m| m.clamp(0.01, 0.5).to_string()),
            "0.01 to 0.5",
        ),
        (
            "OPTIMIZATION",
            "penalty_factor",
            penalty_factor.map(|p| p.to_string()),
            penalty_factor.map(|p| p.max(0.0).to_string()),
            "at least 0",
        ),
    ];
    for (section, key, given, used, range) in clamped {
        if let (Some(given), Some(used)) = (given, used)
            && given.parse::<f64>().ok() != used.parse::<f64>().ok()
        {
            c.warnings.push(format!(
                "{}: [{section}] {key} = {given} is outside the legacy's range ({range}); using {used}, as the legacy does",
                ini.at(section, key)
            ));
        }
    }
    c.generations = generations;
    c.population = population;
    c.mutation_rate = mutation_rate.map(|m| m.clamp(0.01, 0.5));
    c.penalty_factor = penalty_factor.map(|p| p.max(0.0));
    c.metric = ini.parse_value(
        "GENERAL",
        "metric",
        "one of roi, less max dd, ratio, win percentage, profit factor, expectancy",
        |v| v.parse().ok(),
    )?;
    c.min_size = ini.parse_value("PORTFOLIO", "min_size", "a whole number", uint)?;
    c.max_size = ini.parse_value("PORTFOLIO", "max_size", "a whole number", uint)?;
    c.balanced = ini.bool("OPTIMIZATION", "balanced_mode")?;
    c.drawdown_threshold = ini.parse_value("OPTIMIZATION", "drawdown_threshold", "a number", float)?;
    // The legacy default is True.
    c.ulta = Some(ini.bool("OPTIMIZATION", "apply_ulta_logic")?.unwrap_or(true));
    if ini.bool("OPTIMIZATION", "zone_optimization_enabled")?.unwrap_or(false) {
        c.warnings
            .push("zone_optimization_enabled: zone mode is not supported; running the entire-day optimization".into());
    }
    for (i, (key, default)) in ALGORITHM_KEYS.iter().enumerate() {
        if ini.bool("ALGORITHMS", key)?.unwrap_or(*default) {
            c.algorithms.push(i);
        }
    }
    if c.algorithms.is_empty() {
        c.warnings.push("[ALGORITHMS] enables nothing; running GA as the legacy does".into());
        c.algorithms.push(0);
    }
    if c.balanced == Some(true) {
        if !ini.has_section("FILE_RATIOS") {
            return Err(Error::input(
                Location::file(path),
                "balanced_mode = true needs a [FILE_RATIOS] section (file label = count)",
            ));
        }
        for (k, v, line) in ini.section("FILE_RATIOS") {
            let n = v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Error::input(
                    Location::file(path).line(line),
                    format!("[FILE_RATIOS] {k} = {v:?}: expected a whole number >= 0"),
                )
            })?;
            c.file_ratios.push((k, n));
        }
    }
    if need_inputs {
        let folder = ini.get("PATHS", "data_folder").ok_or_else(|| {
            Error::input(Location::file(path), "no input: give --input, or set data_folder in a [PATHS] section")
        })?;
        let folder = resolve(path, folder);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map_err(|e| Error::io(&folder, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("xlsx"))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::input(Location::file(&folder), "data_folder holds no .csv or .xlsx file"));
        }
        c.inputs = files;
    }
    Ok(c)
}

/// A relative `data_folder` is taken from the config file's folder when it exists there,
/// else from the working directory (where the legacy script resolves it).
fn resolve(config: &Path, folder: &str) -> PathBuf {
    let p = PathBuf::from(folder);
    if p.is_absolute() || p.exists() {
        return p;
    }
    config.parent().map(|d| d.join(&p)).filter(|q| q.exists()).unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Ini> {
        Ini::parse(Path::new("c.ini"), text)
    }

    #[test]
    fn reads_sections_keys_comments_and_continuations() {
        let ini = parse("# top\n[GENERAL]\nMetric = Ratio\n; note\nga_generations: 50\n  continued\n").unwrap();
        assert_eq!(ini.get("GENERAL", "metric"), Some("Ratio"));
        assert_eq!(ini.get("GENERAL", "ga_generations"), Some("50\ncontinued"));
    }

    #[test]
    fn bad_lines_and_values_name_the_line() {
        let err = parse("key = 1\n").unwrap_err().to_string();
        assert!(err.contains("c.ini:1") && err.contains("SECTION"), "{err}");
        let err = parse("[A]\njunk line\n").unwrap_err().to_string();
        assert!(err.contains("c.ini:2"), "{err}");
        let ini = parse("[A]\n\nflag = maybe\n").unwrap();
        let err = ini.bool("A", "flag").unwrap_err().to_string();
        assert!(err.contains("c.ini:3") && err.contains("maybe"), "{err}");
        let err = ini.require_sections(&["A", "GENERAL", "PORTFOLIO"]).unwrap_err().to_string();
        assert!(err.contains("[GENERAL], [PORTFOLIO]"), "{err}");
    }

    #[test]
    fn values_outside_the_legacy_ranges_are_clamped_with_a_warning_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.ini");
        std::fs::write(
            &path,
            "[GENERAL]\nga_generations = 5\n[PORTFOLIO]\npopulation_size = 3\nmutation_rate = 0.9\n\
             [OPTIMIZATION]\npenalty_factor = -1\n",
        )
        .unwrap();
        let c = read_legacy(&path, false).unwrap();
        assert_eq!(
            (c.generations, c.population, c.mutation_rate, c.penalty_factor),
            (Some(10), Some(10), Some(0.5), Some(0.0))
        );
        let w = c.warnings.join("\n");
        for (line, key) in [
            (2, "ga_generations = 5"),
            (4, "population_size = 3"),
            (5, "mutation_rate = 0.9"),
            (7, "penalty_factor = -1"),
        ] {
            assert!(w.contains(&format!("c.ini:{line}: ")) && w.contains(key), "line {line} {key}: {w}");
        }
        std::fs::write(
            &path,
            "[GENERAL]\nga_generations = 50\n[PORTFOLIO]\npopulation_size = 1000000000\n[OPTIMIZATION]\n",
        )
        .unwrap();
        let e = read_legacy(&path, false).unwrap_err().to_string();
        assert!(e.contains("c.ini:4") && e.contains("at most"), "{e}");
    }
}
