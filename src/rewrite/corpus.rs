//! The corpus of user-shaped queries under `tests/corpus/`: for each, the rules that must fire
//! on a complete panel, a property check that the original and the rewritten plan give the
//! same rows on random data (NULLs, constant strategies, ties, a single day, awkward names),
//! and golden files of the rewritten SQL in every dialect (`HEAVYTUNE_BLESS=1` writes them).
//!
//! A corpus file starts with `-- rules: a, b` (or `(none)`), optionally `-- target: <engine>`
//! (the engine the rules plan for; the queries run on the embedded engine either way).

use std::path::{Path, PathBuf};

use super::testing::{NAMES, engine_with, random_case, rt};
use super::{Context, Outcome, optimize};
use crate::ab::same_results;
use crate::dialect::{self, Dialect};
use crate::engine::EngineKind;
use crate::exec::{execute_plan, execute_statement};
use crate::sandbox::Sandbox;
use crate::templates;

struct Entry {
    name: String,
    sql: String,
    rules: Vec<String>,
    target: Option<EngineKind>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("corpus")
}

fn entries() -> Vec<Entry> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/corpus")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let sql = std::fs::read_to_string(&path).unwrap();
            let header = |key: &str| sql.lines().find_map(|l| l.strip_prefix(&format!("-- {key}: ")).map(str::trim));
            let rules = header("rules").unwrap_or_else(|| panic!("{}: no `-- rules:` line", path.display()));
            let rules =
                if rules == "(none)" { Vec::new() } else { rules.split(',').map(|r| r.trim().to_owned()).collect() };
            let target = header("target").map(|t| match t {
                "heavydb" => EngineKind::Heavydb,
                "postgres" => EngineKind::Postgres,
                other => panic!("{}: unknown target {other}", path.display()),
            });
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            Entry { name, sql, rules, target }
        })
        .collect()
}

fn plan_text(outcome: &Outcome, d: Dialect) -> String {
    let print =
        |s: &sqlparser::ast::Statement| dialect::print(s, d).unwrap_or_else(|e| format!("-- cannot print: {e}"));
    let mut out = String::new();
    for t in &outcome.plan.kernel_tables {
        out.push_str(&format!("-- the kernel fills session table {} from:\n{};\n", t.name, print(&t.input)));
    }
    if let Some(k) = &outcome.plan.kernel {
        out.push_str(&format!("-- then the {}\n", k.describe()));
    }
    out.push_str(&print(&outcome.plan.statement));
    for s in &outcome.plan.then {
        out.push_str(&format!(";\n{}", print(s)));
    }
    out.push('\n');
    out
}

fn check_golden(entry: &Entry, outcome: &Outcome) {
    for (d, folder) in
        [(Dialect::Datafusion, "datafusion"), (Dialect::Postgres, "postgres"), (Dialect::Heavydb, "heavydb")]
    {
        let path = dir().join("golden").join(folder).join(format!("{}.sql", entry.name));
        let text = plan_text(outcome, d);
        if std::env::var_os("HEAVYTUNE_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (HEAVYTUNE_BLESS=1 writes it)", path.display()));
        assert_eq!(text, want, "{}: the rewritten SQL changed; if intended, bless the golden files", path.display());
    }
}

fn run_entry(entry: &Entry) {
    let rt = rt();
    let stmt = templates::parse(&entry.sql).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
    let mut checked_rules = false;
    for seed in 0..12u64 {
        let case = random_case(seed, seed % 3 == 2);
        let (_dir, engine) = engine_with(&rt, &case);
        let mut ctx = rt.run(Context::discover(&engine, &stmt)).unwrap();
        if let Some(kind) = entry.target {
            ctx.capabilities = kind.capabilities();
        }
        let outcome = optimize(stmt.clone(), &ctx, None).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        let complete = case.values.iter().all(Option::is_some);
        if complete {
            let fired: Vec<&str> = outcome.fired();
            assert_eq!(fired, entry.rules, "{}, seed {seed}: rules fired: {:#?}", entry.name, outcome.steps);
            if !checked_rules {
                check_golden(entry, &outcome);
                checked_rules = true;
            }
        }
        let (original, rewritten) = rt
            .run(async {
                let sandbox = Sandbox::new(&engine, &stmt, &outcome.plan).await?;
                let runs = async {
                    sandbox.reset(&engine).await?;
                    let original = execute_statement(&engine, &stmt).await?;
                    sandbox.reset(&engine).await?;
                    let rewritten = execute_plan(&engine, &outcome.plan).await?;
                    Ok((original, rewritten))
                }
                .await;
                sandbox.finish(&engine, runs).await
            })
            .unwrap_or_else(|e| panic!("{}, seed {seed}: {e}\n{}", entry.name, outcome.plan.statement));
        if let Err(diff) = same_results(&original, &rewritten, 1e-9) {
            panic!(
                "{}, seed {seed} ({} strategies of {:?}, {} days): {diff}\noriginal: {stmt}\nrewritten: {}",
                entry.name,
                case.n,
                &NAMES[..case.n],
                case.days,
                outcome.plan.statement
            );
        }
    }
    assert!(checked_rules, "{}: no seed had complete data", entry.name);
}

#[test]
fn the_corpus_is_large_and_covers_every_kind() {
    let all = entries();
    assert!(all.len() >= 30, "{} corpus queries", all.len());
    for kind in ["corr_", "ulta_", "metrics_", "std_"] {
        assert!(all.iter().filter(|e| e.name.starts_with(kind)).count() >= 3, "fewer than 3 {kind} queries");
    }
}

#[test]
fn correlation_queries_fire_their_rules_and_keep_their_results() {
    for entry in entries().iter().filter(|e| e.name.starts_with("corr_")) {
        run_entry(entry);
    }
}

#[test]
fn ulta_metrics_and_standardization_queries_fire_their_rules_and_keep_their_results() {
    for entry in entries().iter().filter(|e| !e.name.starts_with("corr_")) {
        run_entry(entry);
    }
}
