//! Issue 4 through the binary: `explain` and `bench ab` on loaded parity data, and bad input.

mod common;

use common::{Sandbox, parity};
use serde_json::Value;

fn loaded() -> Sandbox {
    let sb = Sandbox::new();
    let input = parity("small.csv");
    let r = sb.run(&["load", "--input", input.to_str().unwrap(), "--quiet"]);
    assert!(r.ok, "load failed: {}", r.stderr);
    sb
}

#[test]
fn explain_reports_rules_and_plans() {
    let sb = loaded();
    let r = sb.run(&["explain", "--query", "pair_corr", "--sample", "6", "--json", "--analyze"]);
    assert!(r.ok, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let fired: Vec<&str> = v["rules_fired"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    assert_eq!(fired, ["correlation_to_kernel"], "{}", r.stdout);
    assert!(v["plan_original"].as_str().unwrap().contains("Join"), "{}", v["plan_original"]);
    assert!(v["seconds"]["original"].as_f64().unwrap() > 0.0);

    let r = sb.run(&[
        "explain",
        "--query",
        "pair_corr",
        "--sample",
        "4",
        "--rules",
        "candidate_pushdown,corr_by_moments,symmetric_self_join",
        "--verbose",
        "--dialect",
        "heavydb",
    ]);
    assert!(r.ok, "{}", r.stderr);
    for needle in ["-- fired corr_by_moments", "-- not fired correlation_to_kernel: not selected", "ht_mirror"] {
        assert!(r.stdout.contains(needle), "{needle:?} missing from\n{}", r.stdout);
    }
}

#[test]
fn bench_ab_checks_equality_and_writes_a_record() {
    let sb = loaded();
    let r = sb.run(&[
        "bench",
        "ab",
        "--query",
        "pair_corr",
        "--sample",
        "8",
        "--runs",
        "2",
        "--warmup",
        "0",
        "--json",
        "--out-dir",
        "ab",
    ]);
    assert!(r.ok, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["equal"], Value::Bool(true));
    assert!(v["speedup"].as_f64().unwrap() > 0.0);
    assert_eq!(v["rows"].as_u64().unwrap(), 64);
    let records: Vec<_> = std::fs::read_dir(sb.path("ab")).unwrap().collect();
    assert_eq!(records.len(), 1);
}

#[test]
fn bench_ab_runs_the_update_rewrite() {
    let sb = loaded();
    let r = sb.run(&[
        "bench",
        "ab",
        "--query",
        "ulta_update",
        "--inverted",
        "0",
        "--inverted",
        "3",
        "--runs",
        "1",
        "--json",
        "--target",
        "heavydb",
    ]);
    assert!(r.ok, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["rules_fired"], serde_json::json!(["update_to_ctas"]));
    assert_eq!(v["equal"], Value::Bool(true));
}

#[test]
fn bad_input_is_explained() {
    let sb = loaded();
    let r = sb.run(&["explain", "SELECT * FORM pnl"]);
    assert!(!r.ok && r.stderr.contains("Line: 1"), "{}", r.stderr);
    let r = sb.run(&["explain", "--query", "nope"]);
    assert!(!r.ok && r.stderr.contains("pair_corr") && r.stderr.contains("standardize"), "{}", r.stderr);
    let r = sb.run(&["explain", "--query", "pair_corr"]);
    assert!(!r.ok && r.stderr.contains("$candidates"), "{}", r.stderr);
    let r =
        sb.run(&["explain", "--dialect", "heavydb", "SELECT CORR(pnl, pnl) OVER (PARTITION BY strategy_id) FROM pnl"]);
    assert!(!r.ok && r.stderr.contains("HeavyDB cannot run CORR as a window function"), "{}", r.stderr);
    let r = sb.run(&["explain", "--rules", "nope", "SELECT 1"]);
    assert!(!r.ok && r.stderr.contains("symmetric_self_join"), "{}", r.stderr);
    // A failed precondition: the query runs as written and --verbose says why.
    let r = sb.run(&["explain", "--verbose", "SELECT strategy_id FROM pnl"]);
    assert!(
        r.ok && r.stdout.contains("-- not fired corr_by_moments: no pairwise-correlation self-join"),
        "{}",
        r.stdout
    );
}
