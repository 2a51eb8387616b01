//! Issue 3: `heavytune run` and `heavytune score` through the binary: the legacy run folder,
//! results.json, legacy INI configs, determinism, parity of `score`, and bad input.

mod common;

use common::{QUICK, Sandbox, close, csv_fields, parity};
use serde_json::Value;

/// `run --json` with small, fast settings on the parity data.
fn run_json(sb: &Sandbox, extra: &[&str]) -> Value {
    let input = parity("small.csv");
    let mut args = vec!["run", "--input", input.to_str().unwrap(), "--out", "out", "--json"];
    args.extend_from_slice(QUICK);
    args.extend_from_slice(extra);
    let r = sb.run(&args);
    assert!(r.ok, "run failed: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("results JSON on stdout")
}

fn run_folders(sb: &Sandbox, out: &str) -> Vec<String> {
    match std::fs::read_dir(sb.path(out)) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => vec![],
    }
}

#[test]
fn run_writes_the_legacy_folder_and_results_json() {
    let sb = Sandbox::new();
    let v = run_json(&sb, &["--ulta"]);
    let dir = std::path::PathBuf::from(v["output_dir"].as_str().unwrap());
    let dir = sb.dir.path().join(dir);
    let id = v["run_id"].as_str().unwrap();
    assert_eq!(dir.file_name().unwrap().to_string_lossy(), format!("run_{id}"));
    for size in 3..=5 {
        for f in [
            format!("best_portfolio_size{size}_{id}.txt"),
            format!("equity_curve_size{size}_{id}.png"),
            format!("drawdown_size{size}_{id}.png"),
        ] {
            assert!(dir.join(&f).is_file(), "missing {f}");
        }
    }
    for f in [format!("optimization_summary_{id}.txt"), "strategy_metrics.csv".into(), "results.json".into()] {
        assert!(dir.join(&f).is_file(), "missing {f}");
    }
    let report = std::fs::read_to_string(dir.join("inversion_report.md")).unwrap();
    assert_eq!(report, std::fs::read_to_string(parity("inversion_report.md")).unwrap());
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(on_disk["sizes"], v["sizes"]);
    let sizes = v["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 3);
    for s in sizes {
        assert_eq!(s["algorithms"].as_array().unwrap().len(), 8);
        let best =
            s["algorithms"].as_array().unwrap().iter().map(|a| a["fitness"].as_f64().unwrap()).fold(f64::MIN, f64::max);
        assert_eq!(s["fitness"].as_f64().unwrap(), best, "the size's best is its best algorithm's");
    }
    for stage in ["load", "ulta", "standardize", "search", "outputs", "total"] {
        assert!(v["timings"][stage].as_f64().is_some(), "timing {stage}");
    }
    let text = std::fs::read_to_string(dir.join(format!("best_portfolio_size4_{id}.txt"))).unwrap();
    assert!(text.starts_with("Best Portfolio (Size 4) - Method: "), "{text}");
    assert!(text.contains("\nPerformance Metrics:\ntotal_roi: ") && text.contains("\nSelected Strategies:\n1. "));
    // No temporary folder is left beside the run.
    assert_eq!(run_folders(&sb, "out"), vec![format!("run_{id}")]);
}

#[test]
fn the_best_portfolios_score_the_same_through_score() {
    let sb = Sandbox::new();
    let v = run_json(&sb, &["--metric", "expectancy", "--no-plots"]);
    let lines: Vec<String> = v["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["strategies"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>().join("|"))
        .collect();
    sb.write("best.txt", lines.join("\n").as_bytes());
    let input = parity("small.csv");
    let r = sb.run(&[
        "score",
        "--input",
        input.to_str().unwrap(),
        "--portfolio-file",
        "best.txt",
        "--metric",
        "expectancy",
        "--json",
    ]);
    assert!(r.ok, "{}", r.stderr);
    let scored: Value = serde_json::from_str(&r.stdout).unwrap();
    for (s, sc) in v["sizes"].as_array().unwrap().iter().zip(scored.as_array().unwrap()) {
        assert_eq!(s["fitness"], sc["fitness"]);
        assert_eq!(s["avg_corr"], sc["avg_corr"]);
        assert_eq!(s["metrics"]["total_roi"], sc["total_roi"]);
    }
}

#[test]
fn same_seed_same_portfolios_on_any_thread_count() {
    let sb = Sandbox::new();
    let pick = |v: &Value| v["sizes"].as_array().unwrap().iter().map(|s| s["strategies"].clone()).collect::<Vec<_>>();
    let a = run_json(&sb, &["--seed", "7", "--threads", "1", "--no-plots"]);
    let b = run_json(&sb, &["--seed", "7", "--threads", "2", "--batch", "1", "--no-plots"]);
    let c = run_json(&sb, &["--seed", "8", "--no-plots"]);
    assert_eq!(pick(&a), pick(&b));
    assert_ne!(pick(&a), pick(&c), "another seed searches differently");
}

#[test]
fn a_legacy_config_runs_as_it_is() {
    let sb = Sandbox::new();
    sb.write("data/small.csv", &std::fs::read(parity("small.csv")).unwrap());
    let ini = "[GENERAL]\nstrat_limit = all\nga_generations = 10\nmetric = Ratio\n\n[PATHS]\ndata_folder = data\n\n\
               [PORTFOLIO]\nmin_size = 3\nmax_size = 4\npopulation_size = 10\nmutation_rate = 0.1\n\n\
               [OPTIMIZATION]\nbalanced_mode = False\npenalty_factor = 1.0\ndrawdown_threshold = 0\n\
               zone_optimization_enabled = False\n\n[ALGORITHMS]\nuse_genetic_algorithm = True\n\
               use_particle_swarm = False\nuse_simulated_annealing = True\nuse_differential_evolution = False\n\
               use_ant_colony = False\nuse_hill_climbing = True\nuse_bayesian_optimization = False\n";
    sb.write("config.ini", ini.as_bytes());
    let r = sb.run(&["run", "--config", "config.ini", "--out", "out", "--json", "--no-plots"]);
    assert!(r.ok, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["algorithms"], serde_json::json!(["GA", "SA", "HC"]));
    assert_eq!(v["spec"]["ulta"], true, "apply_ulta_logic defaults to True as in the legacy");
    assert_eq!(v["inverted"], 101);
    assert_eq!(v["spec"]["metric"], "ratio");
    assert_eq!(v["sizes"].as_array().unwrap().len(), 2);
    // Balanced mode reads FILE_RATIOS; the single file's label is its stem.
    let balanced = ini.replace("balanced_mode = False", "balanced_mode = True") + "\n[FILE_RATIOS]\nsmall = 2\n";
    sb.write("balanced.ini", balanced.as_bytes());
    let r = sb.run(&["run", "--config", "balanced.ini", "--out", "out", "--json", "--no-plots"]);
    assert!(r.ok, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["spec"]["balanced"]["ratios"], serde_json::json!([["small", 2]]));
}

/// A rejected run exits non-zero, names the problem and leaves no run folder.
fn assert_run_rejected(sb: &Sandbox, args: &[&str], expected: &[&str]) {
    let mut all = vec!["run", "--out", "out"];
    all.extend_from_slice(args);
    let r = sb.run(&all);
    assert!(!r.ok, "{args:?} should fail; stdout: {}", r.stdout);
    for e in expected {
        assert!(r.stderr.contains(e), "{args:?}: stderr lacks {e:?}: {}", r.stderr);
    }
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(run_folders(sb, "out").is_empty(), "{args:?} left {:?}", run_folders(sb, "out"));
}

#[test]
fn bad_run_options_are_clear_errors_without_output() {
    let sb = Sandbox::new();
    let input = parity("small.csv");
    let input = input.to_str().unwrap();
    assert_run_rejected(
        &sb,
        &["--input", input, "--metric", "sharpe"],
        &["unknown metric 'sharpe'", "'profit factor'"],
    );
    assert_run_rejected(&sb, &["--input", input, "--algorithms", "ga,tabu"], &["unknown algorithm 'tabu'", "pso"]);
    assert_run_rejected(
        &sb,
        &["--input", input, "--min-size", "9", "--max-size", "4"],
        &["--min-size 9", "--max-size 4"],
    );
    assert_run_rejected(
        &sb,
        &["--input", input, "--min-size", "3", "--max-size", "245"],
        &["245", "number of strategies (244)"],
    );
    assert_run_rejected(&sb, &["--input", input, "--mutation-rate", "1.5"], &["--mutation-rate"]);
    assert_run_rejected(&sb, &["--input", "nope.csv"], &["nope.csv"]);
    assert_run_rejected(&sb, &[], &["no input"]);
    assert_run_rejected(
        &sb,
        &["--input", input, "--balanced", "other=3"],
        &["no input file is labelled 'other'", "small"],
    );

    sb.write("partial.ini", b"[GENERAL]\nmetric = ratio\n");
    assert_run_rejected(&sb, &["--config", "partial.ini"], &["partial.ini", "[PORTFOLIO], [OPTIMIZATION]"]);
    sb.write("bad.ini", b"[GENERAL]\nmetric = ratio\n[PORTFOLIO]\nmin_size = three\n[OPTIMIZATION]\n");
    assert_run_rejected(&sb, &["--input", input, "--config", "bad.ini"], &["bad.ini:4", "min_size", "\"three\""]);
    sb.write("badmetric.ini", b"[GENERAL]\nmetric = sortino\n[PORTFOLIO]\n[OPTIMIZATION]\n");
    assert_run_rejected(&sb, &["--input", input, "--config", "badmetric.ini"], &["badmetric.ini:2", "sortino"]);
    sb.write("nodata.ini", b"[GENERAL]\n[PORTFOLIO]\n[OPTIMIZATION]\n");
    assert_run_rejected(&sb, &["--config", "nodata.ini"], &["data_folder"]);
}

#[test]
fn score_reproduces_the_legacy_fitness_vectors() {
    let sb = Sandbox::new();
    let text = std::fs::read_to_string(parity("fitness.csv")).unwrap();
    for ulta in ["0", "1"] {
        let rows: Vec<Vec<String>> =
            text.lines().skip(1).map(csv_fields).filter(|r| r[0] == ulta && r[2] == "ratio" && r[3] == "0.0").collect();
        assert!(rows.len() > 100);
        let file = format!("pf{ulta}.txt");
        sb.write(&file, rows.iter().map(|r| r[4].as_str()).collect::<Vec<_>>().join("\n").as_bytes());
        let input = parity("small.csv");
        let mut args = vec!["score", "--input", input.to_str().unwrap(), "--portfolio-file", &file, "--json"];
        if ulta == "1" {
            args.push("--ulta");
        }
        let r = sb.run(&args);
        assert!(r.ok, "{}", r.stderr);
        let got: Value = serde_json::from_str(&r.stdout).unwrap();
        let got = got.as_array().unwrap();
        assert_eq!(got.len(), rows.len());
        for (g, w) in got.iter().zip(&rows) {
            for (key, col) in [("base_fitness", 5), ("avg_corr", 6), ("fitness", 7)] {
                let (g, w) = (g[key].as_f64().unwrap(), w[col].parse::<f64>().unwrap());
                assert!(close(g, w), "ulta {ulta} {key}: {g} vs {w}");
            }
        }
    }
}

#[test]
fn bad_portfolio_files_are_clear_errors() {
    let sb = Sandbox::new();
    let input = parity("small.csv");
    let input = input.to_str().unwrap();
    let score = |file: &str, extra: &[&str]| {
        let mut args = vec!["score", "--input", input, "--portfolio-file", file];
        args.extend_from_slice(extra);
        sb.run(&args)
    };
    sb.write("empty.txt", b"\n\n");
    let r = score("empty.txt", &[]);
    assert!(!r.ok && r.stderr.contains("no portfolio"), "{}", r.stderr);
    sb.write("unknown.txt", b"ZERO ALWAYS|CONST 125.5\nZERO ALWAYS|NOPE\n");
    let r = score("unknown.txt", &[]);
    assert!(!r.ok && r.stderr.contains("unknown.txt:2") && r.stderr.contains("\"NOPE\""), "{}", r.stderr);
    sb.write("inverted.txt", b"LOSER ULTA 1\n");
    let r = score("inverted.txt", &["--ulta"]);
    assert!(!r.ok && r.stderr.contains("_inv suffix"), "{}", r.stderr);
    sb.write("twice.txt", b"ZERO ALWAYS|ZERO ALWAYS\n");
    let r = score("twice.txt", &[]);
    assert!(!r.ok && r.stderr.contains("twice"), "{}", r.stderr);
    let r = score("missing.txt", &[]);
    assert!(!r.ok && r.stderr.contains("missing.txt"), "{}", r.stderr);
    let r = score("twice.txt", &["--metric", "nope"]);
    assert!(!r.ok && r.stderr.contains("unknown metric"), "{}", r.stderr);
}

#[test]
fn engine_and_local_stats_give_the_same_run() {
    let sb = Sandbox::new();
    let engine = run_json(&sb, &["--ulta", "--stats", "engine"]);
    let local = run_json(&sb, &["--ulta", "--stats", "local"]);
    let (e, l) = (engine["sizes"].as_array().unwrap(), local["sizes"].as_array().unwrap());
    assert_eq!(e.len(), l.len());
    for (a, b) in e.iter().zip(l) {
        assert_eq!(a["strategies"], b["strategies"], "size {}", a["size"]);
        let (fa, fb) = (a["fitness"].as_f64().unwrap(), b["fitness"].as_f64().unwrap());
        assert!(close(fa, fb), "size {}: {fa} vs {fb}", a["size"]);
    }
}
