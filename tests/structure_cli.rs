//! Issue 9 through the binary: one answer on every path (engine and local statistics, any
//! thread count), input that used to hang or abort, exit codes per error class, error chains
//! said once, and the traps: a broken database folder beside a run over files, `bench ab`
//! records, `explain --analyze` of an UPDATE, legacy INI values out of range.

mod common;

use common::{Sandbox, parity};
use serde_json::Value;

/// Edge cases in one file: dates out of order, constant strategies (0.1 and 125.5), an empty
/// cell, `inf`, `-inf` and `NaN` cells, and strongly losing strategies for ULTA.
const EDGES: &str = "Date,A,B,C,D,E,F,G,H\n\
2024-01-05,0.1,125.5,1.5,-20,3,inf,7,-1\n\
2024-01-03,0.1,125.5,-2.25,-35,,4,-1,-2\n\
2024-01-04,0.1,125.5,4,5,2,-inf,3,-3\n\
2024-01-02,0.1,125.5,-1,-40,NaN,2,2,1\n\
2024-01-08,0.1,125.5,2,-15,1,1,-4,-2\n";

fn run_json(sb: &Sandbox, args: &[&str]) -> Value {
    let mut all = vec!["run", "--input", "edges.csv", "--min-size", "1", "--max-size", "3", "--generations", "6"];
    all.extend_from_slice(&["--population", "6", "--out", "out", "--json", "--ulta"]);
    all.extend_from_slice(args);
    let r = sb.run(&all);
    assert!(r.ok, "{args:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

/// results.json without what differs between runs by nature: timings, ids, the thread count.
fn stable(mut v: Value) -> (Value, String) {
    let dir = v["output_dir"].as_str().unwrap().to_owned();
    for k in ["run_id", "output_dir", "threads", "timings", "evaluations_per_second"] {
        v.as_object_mut().unwrap().remove(k);
    }
    for s in v["sizes"].as_array_mut().unwrap() {
        for a in s["algorithms"].as_array_mut().unwrap() {
            a.as_object_mut().unwrap().remove("seconds");
        }
    }
    (v, dir)
}

#[test]
fn every_path_gives_the_same_run_on_edge_cases() {
    let sb = Sandbox::new();
    sb.write("edges.csv", EDGES.as_bytes());
    let (one, d1) = stable(run_json(&sb, &["--threads", "1"]));
    let (two, d2) = stable(run_json(&sb, &["--threads", "2"]));
    let (local, d3) = stable(run_json(&sb, &["--stats", "local"]));
    assert_eq!(one, two, "--threads 1 and 2 on the default (engine) path");
    let mut local_spec = local.clone();
    local_spec["spec"]["stats"] = one["spec"]["stats"].clone();
    assert_eq!(one, local_spec, "engine and local statistics");
    let csv = |d: &str| std::fs::read(sb.dir.path().join(d).join("strategy_metrics.csv")).unwrap();
    assert_eq!(csv(&d1), csv(&d2));
    assert_eq!(csv(&d1), csv(&d3), "strategy_metrics.csv of the engine and the local path");
    let warnings =
        one["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(warnings.contains("file order"), "the output says which order the days follow: {warnings}");
    assert!(warnings.contains("4 missing"), "empty, inf, -inf and NaN cells are counted: {warnings}");
}

#[test]
fn infinite_cells_never_hang_a_run_and_strict_rejects_them() {
    let sb = Sandbox::new();
    let mut text = String::from("Date,S0,S1,S2,S3,S4\n");
    for day in 1..=20 {
        let v: Vec<String> = (0..5)
            .map(|s| if day == 5 && s == 3 { "inf".into() } else { format!("{}", (day * 7 + s * 13) % 19) })
            .collect();
        text.push_str(&format!("2024-02-{day:02},{}\n", v.join(",")));
    }
    sb.write("inf.csv", text.as_bytes());
    for stats in ["engine", "local"] {
        let r = sb.run(&[
            "run",
            "--input",
            "inf.csv",
            "--min-size",
            "3",
            "--max-size",
            "4",
            "--stats",
            stats,
            "--out",
            "out",
        ]);
        assert!(r.ok, "{stats}: {}", r.stderr);
        assert!(r.stderr.contains("1 missing"), "{stats}: {}", r.stderr);
    }
    let r = sb.run(&["load", "--input", "inf.csv", "--strict"]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(r.stderr.contains("inf.csv:6, column 5 (\"S3\")"), "{}", r.stderr);
}

#[test]
fn a_run_over_files_never_opens_the_database_folder() {
    let sb = Sandbox::new();
    sb.write("db/catalog.json", b"{ not json");
    let input = parity("small.csv");
    let r = sb.run(&[
        "run",
        "--input",
        input.to_str().unwrap(),
        "--min-size",
        "3",
        "--max-size",
        "3",
        "--generations",
        "10",
        "--out",
        "out",
        "--no-plots",
    ]);
    assert!(r.ok, "{}", r.stderr);
    let r = sb.run(&["sql", "SELECT 1"]);
    assert_eq!(r.code, Some(4), "a broken catalog is an engine error where the folder is used: {}", r.stderr);
    assert!(r.stderr.contains("catalog.json"), "{}", r.stderr);
}

#[test]
fn absurd_populations_are_refused_not_aborted() {
    let sb = Sandbox::new();
    let input = parity("small.csv");
    let r = sb.run(&["run", "--input", input.to_str().unwrap(), "--population", "1000000000", "--out", "out"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--population") && r.stderr.contains("too large"), "{}", r.stderr);
}

#[test]
fn exit_codes_follow_the_error_class_and_causes_are_said_once() {
    let sb = Sandbox::new();
    let r = sb.run(&["run", "--input", "nope.csv", "--out", "out"]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert_eq!(r.stderr.matches("No such file or directory").count(), 1, "{}", r.stderr);
    let r = sb.run(&["run", "--input", "x.csv", "--metric", "sharpe"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let r = sb.run(&["run", "--bogus-flag"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    sb.write("good.csv", b"Date,S1\n2024-01-02,1\n2024-01-03,2\n");
    assert!(sb.run(&["load", "--input", "good.csv"]).ok);
    let r = sb.run(&["sql", "SELEC 1"]);
    assert_eq!(r.code, Some(3), "SQL that does not parse is bad input: {}", r.stderr);
    let r = sb.run(&["sql", "SELECT * FROM nope"]);
    assert_eq!(r.code, Some(4), "{}", r.stderr);
    assert_eq!(r.stderr.matches("not found").count(), 1, "{}", r.stderr);
    // An ODBC data source that is not configured: the engine cannot be reached (4), named.
    let r = sb.run(&["--engine", "odbc://DSN=x;PWD=hunter2", "sql", "SELECT 1"]);
    assert_eq!(r.code, Some(4), "{}", r.stderr);
    assert!(r.stderr.contains("no ODBC data source named \"x\""), "{}", r.stderr);
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    let r = sb.run(&["--help"]);
    assert!(r.ok && r.stdout.contains("Exit codes") && r.stdout.contains("4 engine"), "{}", r.stdout);
}

#[test]
fn bench_records_go_to_the_database_folder_and_explain_analyze_never_updates_stored_tables() {
    let sb = Sandbox::new();
    let input = parity("small.csv");
    assert!(sb.run(&["load", "--input", input.to_str().unwrap(), "--quiet"]).ok);
    let total = || sb.run(&["sql", "--csv", "SELECT sum(pnl) AS s FROM pnl"]).stdout;
    let before = total();
    let r =
        sb.run(&["bench", "ab", "--query", "pair_corr", "--sample", "4", "--runs", "1", "--warmup", "0", "--quiet"]);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(std::fs::read_dir(sb.path("db/ab")).unwrap().count(), 1);
    assert!(!sb.path("reports").exists(), "nothing written relative to the working folder");
    for target in ["datafusion", "heavydb"] {
        let r = sb.run(&[
            "explain",
            "--analyze",
            "--query",
            "ulta_update",
            "--inverted",
            "0",
            "--inverted",
            "3",
            "--target",
            target,
        ]);
        assert!(r.ok, "{target}: {}", r.stderr);
        assert!(r.stdout.contains("-- measured"), "{}", r.stdout);
    }
    assert_eq!(total(), before, "the stored pnl table is unchanged");
}

#[test]
fn legacy_values_out_of_range_warn_with_their_line() {
    let sb = Sandbox::new();
    let input = parity("small.csv");
    sb.write(
        "c.ini",
        b"[GENERAL]\nga_generations = 3\nmetric = ratio\n[PORTFOLIO]\nmin_size = 2\nmax_size = 2\npopulation_size = 4\n\
          mutation_rate = 0.9\n[OPTIMIZATION]\napply_ulta_logic = false\n",
    );
    let r = sb.run(&[
        "run",
        "--config",
        "c.ini",
        "--input",
        input.to_str().unwrap(),
        "--out",
        "out",
        "--no-plots",
        "--json",
    ]);
    assert!(r.ok, "{}", r.stderr);
    for needle in ["c.ini:2: [GENERAL] ga_generations = 3", "c.ini:7: [PORTFOLIO] population_size = 4", "c.ini:8"] {
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
    }
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (v["spec"]["params"]["generations"].as_u64(), v["spec"]["params"]["population"].as_u64()),
        (Some(10), Some(10))
    );
}
