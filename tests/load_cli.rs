//! Issue 2: `heavytune load` and `heavytune sql` on good and bad input, through the binary.

mod common;
use common::Sandbox;

const GOOD: &str = "Date,Zone,Day,S1,S2\n2024-01-02,All Day,Tuesday,1.5,-2\n2024-01-03,All Day,Wednesday,2.5,3\n";

/// A failed load exits non-zero, names the problem and leaves no table behind.
fn assert_rejected(sb: &Sandbox, input: &str, expected: &[&str]) {
    let r = sb.run(&["load", "--input", input]);
    assert!(!r.ok, "load of {input} should fail; stdout: {}", r.stdout);
    for e in expected {
        assert!(r.stderr.contains(e), "stderr lacks {e:?}: {}", r.stderr);
    }
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let files = sb.db_files();
    assert!(files.is_empty(), "a failed first load must leave no database files: {files:?}");
}

#[test]
fn missing_file() {
    let sb = Sandbox::new();
    assert_rejected(&sb, "nope.csv", &["nope.csv", "No such file"]);
}

#[test]
fn empty_file_and_header_only() {
    let sb = Sandbox::new();
    sb.write("empty.csv", b"");
    assert_rejected(&sb, "empty.csv", &["empty.csv", "empty"]);
    sb.write("header.csv", b"Date,Zone,Day,S1\n");
    assert_rejected(&sb, "header.csv", &["header.csv", "no data rows"]);
}

#[test]
fn no_strategy_columns_and_wrong_first_column() {
    let sb = Sandbox::new();
    sb.write("nostrat.csv", b"Date,Zone,Day\n2024-01-02,All Day,Tuesday\n");
    assert_rejected(&sb, "nostrat.csv", &["nostrat.csv:1", "no strategy columns"]);
    sb.write("nodate.csv", b"When,S1\n2024-01-02,1\n");
    assert_rejected(&sb, "nodate.csv", &["nodate.csv:1, column 1", "\"Date\""]);
}

#[test]
fn ragged_rows() {
    let sb = Sandbox::new();
    sb.write("ragged.csv", b"Date,Zone,Day,S1,S2\n2024-01-02,All Day,Tuesday,1,2\n2024-01-03,All Day,Wednesday,1\n");
    assert_rejected(&sb, "ragged.csv", &["ragged.csv:3", "expected 5 fields", "found 4"]);
}

#[test]
fn duplicate_names_in_a_file_and_after_merging() {
    let sb = Sandbox::new();
    sb.write("dup.csv", b"Date,S1,S1\n2024-01-02,1,2\n");
    assert_rejected(&sb, "dup.csv", &["dup.csv:1, column 3", "duplicate strategy name"]);
    sb.write("a/x.csv", GOOD.as_bytes());
    sb.write("b/x.csv", GOOD.as_bytes());
    let r = sb.run(&["load", "--input", "a/x.csv", "b/x.csv"]);
    assert!(!r.ok && r.stderr.contains("duplicate strategy name \"x_S1\" after merging"), "{}", r.stderr);
    assert!(sb.db_files().is_empty());
}

#[test]
fn unparseable_dates() {
    let sb = Sandbox::new();
    sb.write("dates.csv", b"Date,Zone,Day,S1\n2024-01-02,All Day,Tuesday,1\nsoon,All Day,Wednesday,2\n");
    assert_rejected(&sb, "dates.csv", &["dates.csv:3, column 1 (\"Date\")", "found \"soon\""]);
}

#[test]
fn strict_rejects_empty_cells_with_location() {
    let sb = Sandbox::new();
    sb.write("holes.csv", b"Date,Zone,Day,S1,S2\n2024-01-02,All Day,Tuesday,1,\n");
    let r = sb.run(&["load", "--input", "holes.csv", "--strict"]);
    assert!(!r.ok && r.stderr.contains("holes.csv:2, column 5 (\"S2\")"), "{}", r.stderr);
    let r = sb.run(&["load", "--input", "holes.csv", "--json"]);
    assert!(r.ok, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["missing_cells"], 1);
    assert!(r.stderr.contains("1 empty or non-numeric cells became 0"), "{}", r.stderr);
}

#[test]
fn quoted_names_bom_and_crlf_load() {
    let sb = Sandbox::new();
    sb.write("odd.csv", "\u{feff}Date,Zone,Day,\"SENSEX 916-946, SL7% \"\"a\"\"\",B\r\n2024-01-02,All Day,Tuesday,1.5,2\r\n2024-01-03,All Day,Wednesday,-1,4\r\n".as_bytes());
    let r = sb.run(&["load", "--input", "odd.csv"]);
    assert!(r.ok, "{}", r.stderr);
    let r = sb.run(&["sql", "--json", "SELECT s.name, sum(p.pnl) AS total FROM pnl p JOIN strategies s USING (strategy_id) GROUP BY s.name ORDER BY s.name"]);
    assert!(r.ok, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["name"], "B");
    assert_eq!(v[0]["total"], 6.0);
    assert_eq!(v[1]["name"], "SENSEX 916-946, SL7% \"a\"");
    assert_eq!(v[1]["total"], 0.5);
}

#[test]
fn failed_reload_keeps_the_previous_tables() {
    let sb = Sandbox::new();
    sb.write("good.csv", GOOD.as_bytes());
    assert!(sb.run(&["load", "--input", "good.csv"]).ok);
    let before = sb.db_files();
    sb.write("bad.csv", b"Date,S1\n2024-01-02,1\nbad-date,2\n");
    assert!(!sb.run(&["load", "--input", "bad.csv"]).ok);
    assert_eq!(sb.db_files(), before);
    let r = sb.run(&["sql", "--csv", "SELECT count(*) AS n FROM pnl"]);
    assert_eq!(r.stdout, "n\n4\n", "{}", r.stderr);
}

#[test]
fn merge_is_an_outer_join_with_prefixed_names_and_labels() {
    let sb = Sandbox::new();
    sb.write("jan.csv", b"Date,Zone,Day,S1\n2024-01-02,All Day,Tuesday,1\n2024-01-03,All Day,Wednesday,2\n");
    sb.write("feb.csv", b"Date,Zone,Day,S1\n2024-01-03,All Day,Wednesday,5\n2024-01-04,All Day,Thursday,6\n");
    let r = sb.run(&["load", "--input", "jan.csv", "feb.csv", "--table", "both", "--json"]);
    assert!(r.ok, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!((v["days"].as_u64(), v["missing_cells"].as_u64()), (Some(3), Some(2)));
    let r = sb.run(&[
        "sql",
        "--csv",
        "SELECT s.name, s.file_label, p.trade_date, p.zone, p.pnl FROM both p JOIN both_strategies s USING (strategy_id) ORDER BY s.strategy_id, p.trade_date",
    ]);
    let expected = "name,file_label,trade_date,zone,pnl\n\
        jan_S1,jan,2024-01-02,All Day,1.0\njan_S1,jan,2024-01-03,All Day,2.0\njan_S1,jan,2024-01-04,All Day,0.0\n\
        feb_S1,feb,2024-01-02,All Day,0.0\nfeb_S1,feb,2024-01-03,All Day,5.0\nfeb_S1,feb,2024-01-04,All Day,6.0\n";
    assert_eq!(r.stdout, expected, "{}", r.stderr);
}

#[test]
fn xlsx_loads_like_csv() {
    let sb = Sandbox::new();
    let xlsx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small.xlsx");
    let r = sb.run(&["load", "--input", xlsx.to_str().unwrap(), "--json"]);
    assert!(r.ok, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (v["strategies"].as_u64(), v["days"].as_u64(), v["missing_cells"].as_u64()),
        (Some(2), Some(3), Some(2))
    );
    let r = sb.run(&["sql", "--csv", "SELECT trade_date, pnl FROM pnl WHERE strategy_id = 0 ORDER BY trade_date"]);
    assert_eq!(r.stdout, "trade_date,pnl\n2024-01-02,125.5\n2024-01-03,0.0\n2024-01-04,-3.5\n", "{}", r.stderr);
}

#[test]
fn sql_errors_and_empty_results() {
    let sb = Sandbox::new();
    sb.write("good.csv", GOOD.as_bytes());
    assert!(sb.run(&["load", "--input", "good.csv"]).ok);
    let r = sb.run(&["sql", "--json", "SELECT * FROM pnl WHERE pnl > 100"]);
    assert_eq!(r.stdout.trim(), "[]", "{}", r.stderr);
    let r = sb.run(&["sql", "SELECT * FROM nowhere"]);
    assert!(!r.ok && r.stderr.contains("nowhere"), "{}", r.stderr);
    let r = sb.run(&["--engine", "ballista://127.0.0.1:1", "sql", "SELECT 1"]);
    assert!(!r.ok && r.stderr.contains("not supported yet"), "{}", r.stderr);
    let r = sb.run(&["--engine", "flightsql://127.0.0.1:1", "--timeout", "5", "sql", "SELECT 1"]);
    assert!(!r.ok && r.stderr.contains("cannot reach"), "{}", r.stderr);
}

#[test]
fn synth_writes_same_bytes_for_same_seed_and_explains_missing_calibration() {
    let sb = Sandbox::new();
    for name in ["a.csv", "b.csv"] {
        let r = sb.run(&["synth", "--out", name, "--strategies", "300", "--days", "12", "--seed", "5"]);
        assert!(r.ok, "{}", r.stderr);
    }
    assert_eq!(std::fs::read(sb.path("a.csv")).unwrap(), std::fs::read(sb.path("b.csv")).unwrap());
    let r = sb.run(&["synth", "--report", "--calibration", "missing.csv", "--strategies", "10", "--days", "5"]);
    assert!(!r.ok && r.stderr.contains("--calibration") && r.stderr.contains("missing.csv"), "{}", r.stderr);
    let r = sb.run(&["synth"]);
    assert!(!r.ok && r.stderr.contains("nothing to do"), "{}", r.stderr);
    let r = sb.run(&["synth", "--out", "big.csv", "--strategies", "300000"]);
    assert!(!r.ok && r.stderr.contains("--strategies"), "{}", r.stderr);
    assert!(!sb.path("big.csv").exists());
}
