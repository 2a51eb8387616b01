//! Drives the real `heavytune` binary in a temporary folder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub ok: bool,
    /// The exit code (None when a signal ended the process).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox { dir: tempfile::tempdir().expect("temp dir") }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }
    /// Runs `heavytune --db <sandbox>/db ARGS...` in the sandbox.
    pub fn run(&self, args: &[&str]) -> Run {
        let out: Output = Command::new(env!("CARGO_BIN_EXE_heavytune"))
            .current_dir(self.dir.path())
            .arg("--db")
            .arg(self.path("db"))
            .args(args)
            .env_remove("HEAVYTUNE_DB")
            .env_remove("HEAVYTUNE_ENGINE")
            .output()
            .expect("run heavytune");
        Run {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
    /// Files in the database folder (none when it does not exist).
    pub fn db_files(&self) -> Vec<String> {
        match std::fs::read_dir(self.path("db")) {
            Ok(rd) => {
                let mut v: Vec<String> = rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
                v.sort();
                v
            }
            Err(_) => vec![],
        }
    }
}

/// The shared parity folder beside the checkout.
pub fn parity(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/parity").join(name)
}

/// Fields of one CSV record on one line (RFC 4180 quoting), for reading the parity files.
#[allow(dead_code)]
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Equal to 1e-9 relative (1e-9 absolute near zero); infinities must match exactly.
#[allow(dead_code)]
pub fn close(a: f64, b: f64) -> bool {
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The parity data set, read through the loader.
pub fn small() -> heavytune::load::WideTable {
    heavytune::load::read_inputs(&[parity("small.csv")], heavytune::load::LoadOptions::default()).unwrap()
}

/// The data rows of a parity CSV file, as fields.
pub fn rows(file: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(parity(file)).unwrap();
    text.lines().skip(1).map(csv_fields).collect()
}

pub fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

/// Column positions of `|`-separated strategy names.
pub fn index_of(table: &heavytune::load::WideTable, names: &str) -> Vec<u32> {
    names
        .split('|')
        .map(|n| table.names.iter().position(|x| x == n).unwrap_or_else(|| panic!("no strategy {n:?}")) as u32)
        .collect()
}

/// ULTA's inversions and column order against ulta.csv and ulta_column_order.txt.
pub fn assert_ulta_matches(inversions: &[heavytune::ulta::Inversion], names: &[String]) {
    let want = rows("ulta.csv");
    assert_eq!(inversions.len(), want.len());
    for (i, w) in inversions.iter().zip(&want) {
        assert_eq!(i.strategy, w[0]);
        let got = [
            i.original_roi,
            i.inverted_roi,
            i.original_drawdown,
            i.inverted_drawdown,
            i.original_ratio,
            i.inverted_ratio,
        ];
        for (k, g) in got.iter().enumerate() {
            assert!(close(*g, num(&w[k + 1])), "{} field {k}: got {g}, want {}", i.strategy, w[k + 1]);
        }
    }
    let order = std::fs::read_to_string(parity("ulta_column_order.txt")).unwrap();
    assert_eq!(names, order.lines().collect::<Vec<_>>());
}

/// A small search budget for runs whose answer is compared, not judged.
pub const QUICK: &[&str] = &["--min-size", "3", "--max-size", "5", "--generations", "10", "--population", "10"];

/// `run --json` with everything that depends on time or place left out.
pub fn run_answer(stdout: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(stdout).expect("run --json");
    let sizes: Vec<serde_json::Value> = v["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::json!({"size": s["size"], "strategies": s["strategies"], "fitness": s["fitness"]}))
        .collect();
    serde_json::json!({"sizes": sizes, "inverted": v["inverted"]})
}

/// Per-strategy metrics against a parity file (strategy_metrics.csv or its ULTA twin).
pub fn assert_metrics_match(
    metrics: &[heavytune::strategy_metrics::StrategyMetrics],
    table: &heavytune::load::WideTable,
    file: &str,
) {
    let want = rows(file);
    assert_eq!(want.len(), metrics.len());
    for w in &want {
        let m = metrics[index_of(table, &w[0])[0] as usize];
        let got = [m.roi, m.max_drawdown, m.win_percentage, m.profit_factor, m.expectancy];
        for (k, g) in got.iter().enumerate() {
            assert!(close(*g, num(&w[k + 1])), "{file} {} metric {k}: got {g}, want {}", w[0], w[k + 1]);
        }
    }
}

/// `bench ab` of the correlation template on five strategies, once, its record under `ab/`.
pub const AB_PAIR_CORR: &[&str] =
    &["bench", "ab", "--query", "pair_corr", "--sample", "5", "--runs", "1", "--json", "--out", "ab"];

/// Runs the binary in `dir` with `args` and `password` as HEAVYTUNE_PASSWORD, no engine, folder
/// or user from the caller's environment.
pub fn cli_with_password(dir: &Path, args: &[&str], password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heavytune"))
        .current_dir(dir)
        .args(args)
        .env("HEAVYTUNE_PASSWORD", password)
        .env_remove("HEAVYTUNE_DB")
        .env_remove("HEAVYTUNE_ENGINE")
        .env_remove("HEAVYTUNE_USER")
        .output()
        .expect("run heavytune")
}

/// Standard output and error of a finished run, as text.
pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}
