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
        r.ok && r.stdout.contains("-- not fired corr_by_moments: no CORR(x.v, y.v) over a self-join anywhere"),
        "{}",
        r.stdout
    );
}

/// A user's CTE query (the shape) through `explain`: the rule fires where the request
/// stands, the fragment before and after is printed, and the JSON carries the same.
#[test]
fn explain_shows_each_fired_rule_with_its_fragment() {
    let sb = loaded();
    let sql = "WITH top AS (SELECT strategy_id FROM pnl GROUP BY strategy_id ORDER BY SUM(pnl) DESC LIMIT 5) \
               SELECT a.strategy_id, b.strategy_id, CORR(b.pnl, a.pnl) FROM pnl a, pnl b \
               WHERE a.trade_date = b.trade_date AND a.strategy_id IN (SELECT strategy_id FROM top) \
               AND b.strategy_id IN (SELECT strategy_id FROM top) AND a.strategy_id <> b.strategy_id \
               GROUP BY a.strategy_id, b.strategy_id ORDER BY 3 DESC LIMIT 4";
    let r = sb.run(&["explain", sql]);
    assert!(r.ok, "{}", r.stderr);
    for needle in
        ["-- fired correlation_to_kernel", "--   at the top-level SELECT, before:", "--   after:", "ht_kernel_ht_p0"]
    {
        assert!(r.stdout.contains(needle), "{needle:?} missing from\n{}", r.stdout);
    }
    let r = sb.run(&["explain", sql, "--json", "--analyze"]);
    assert!(r.ok, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["rules_fired"], serde_json::json!(["correlation_to_kernel"]));
    let step = v["rules"].as_array().unwrap().iter().find(|s| s["rule"] == "correlation_to_kernel").unwrap();
    let fragment = &step["fragments"][0];
    assert!(fragment["before"].as_str().unwrap().contains("CORR(b.pnl, a.pnl)"), "{fragment}");
    assert!(fragment["after"].as_str().unwrap().contains("FROM ht_kernel_ht_p0 AS ht_p0"), "{fragment}");
    assert!(v["seconds"]["rewritten"].as_f64().unwrap() > 0.0);
    // --verbose names the node and the condition where a precondition fails.
    let r = sb.run(&[
        "explain",
        "--verbose",
        "SELECT a.strategy_id AS x, b.strategy_id AS y, CORR(a.pnl, b.pnl) AS c FROM pnl a JOIN pnl b \
         ON a.trade_date = b.trade_date WHERE a.pnl > b.pnl GROUP BY a.strategy_id, b.strategy_id",
    ]);
    assert!(r.ok, "{}", r.stderr);
    assert!(
        r.stdout.contains("the top-level SELECT `SELECT a.strategy_id AS x")
            && r.stdout.contains("condition a.pnl > b.pnl relates the sides on a column other than the id"),
        "{}",
        r.stdout
    );
}

/// `bench ab --timeout`: an original stopped at the limit is not run again; the record says
/// so, gives a lower bound of the speedup and says what equality was checked on.
#[test]
fn bench_ab_timeout_gives_a_lower_bound() {
    let sb = loaded();
    let r = sb.run(&[
        "bench",
        "ab",
        "--query",
        "pair_corr",
        "--sample",
        "6",
        "--runs",
        "2",
        "--warmup",
        "0",
        "--timeout",
        "0.000001",
        "--equal-sample",
        "4",
        "--json",
        "--out",
        "records",
    ]);
    assert!(r.ok, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["original"]["finished"], Value::Bool(false), "{v}");
    assert_eq!(v["original"]["times"], serde_json::json!([]), "{v}");
    assert!(v["speedup"].is_null() && v["speedup_at_least"].as_f64().unwrap() > 0.0, "{v}");
    // The original cannot finish in a microsecond on the sample either: not checked, and said.
    assert!(v["equal"].is_null(), "{v}");
    assert!(v["equal_checked_on"].as_str().unwrap().starts_with("not checked"), "{v}");
    assert_eq!(std::fs::read_dir(sb.path("records")).unwrap().count(), 1);
    let r = sb.run(&["bench", "ab", "--query", "pair_corr", "--sample", "6", "--timeout", "0"]);
    assert!(!r.ok && r.stderr.contains("--timeout"), "{}", r.stderr);
}

/// A statement no rule rewrites: `bench ab` runs the original only (the "rewritten" plan is
/// the same SQL), and says so; SQL text may begin with a `--` comment.
#[test]
fn bench_ab_without_a_rewrite_runs_the_original_only() {
    let sb = loaded();
    let sql = "-- total P&L per strategy\nSELECT strategy_id, SUM(pnl) AS roi FROM pnl GROUP BY strategy_id";
    let r = sb.run(&["bench", "ab", "--runs", "2", "--warmup", "0", "--json", "--out", "records", sql]);
    assert!(r.ok, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["rules_fired"], serde_json::json!([]), "{v}");
    assert_eq!(v["original"]["times"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["rewritten"]["times"], serde_json::json!([]), "{v}");
    assert!(v["speedup"].is_null() && v["speedup_at_least"].is_null() && v["equal"].is_null(), "{v}");
    assert!(v["equal_checked_on"].as_str().unwrap().contains("no rule fired"), "{v}");
    let r = sb.run(&["bench", "ab", "--runs", "1", "--warmup", "0", "--out", "records", sql]);
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("speedup: none to measure (no rule fired"), "{}", r.stdout);
    let r = sb.run(&["explain", "--verbose", sql]);
    assert!(r.ok && r.stdout.contains("-- not fired"), "{}\n{}", r.stdout, r.stderr);
    let r = sb.run(&["sql", "--csv", "-- one row\nSELECT 1 AS one"]);
    assert!(r.ok && r.stdout.contains("one"), "{}\n{}", r.stdout, r.stderr);
    // A stored table is not updated in place: the error says what to do instead.
    let r = sb.run(&["sql", "UPDATE PNL SET pnl = -pnl WHERE strategy_id = 1"]);
    assert!(!r.ok && r.stderr.contains("pnl is a stored table") && r.stderr.contains("heavytune load"), "{}", r.stderr);
}
