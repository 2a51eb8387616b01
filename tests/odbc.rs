//! The ODBC engine against a real PostgreSQL server through its real ODBC driver
//! (psqlODBC): `.ci/test` starts a throw-away server with `.ci/postgres` and names it in
//! HEAVYTUNE_TEST_PG (a connection string without the database) and
//! HEAVYTUNE_TEST_PG_PASSWORD. Each test works in a database of its own.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{
    AB_PAIR_CORR, QUICK, Sandbox, assert_metrics_match, assert_ulta_matches, cli_with_password, parity, run_answer,
    small, text,
};
use heavytune::engine::{Blocking, ConnectOptions, Query, Secret, Temporaries, connect};
use heavytune::rewrite::{Context, optimize};
use heavytune::stages::{EngineStats, StageInput, engine_stats};
use heavytune::templates::{self, Params, TEMPLATES};
use serde_json::Value;

fn server() -> (String, String) {
    let need = |var: &str| {
        std::env::var(var).unwrap_or_else(|_| {
            panic!(
                "{var} is not set: the ODBC tests need the PostgreSQL server that `bash .ci/test` starts \
                 (or: bash .ci/postgres start DIR && source DIR/env)"
            )
        })
    };
    (need("HEAVYTUNE_TEST_PG"), need("HEAVYTUNE_TEST_PG_PASSWORD"))
}

/// A fresh database named `name` on the test server; its `odbc://` URL (no password: that
/// comes from HEAVYTUNE_PASSWORD).
fn database(name: &str) -> String {
    let (cs, password) = server();
    let rt = Blocking::new(Some(2)).unwrap();
    rt.run(async {
        let admin = connect(&format!("odbc://{cs};Database=postgres"), &options(&password)).await?;
        admin.query(Query::Native(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await?.count().await?;
        admin.query(Query::Native(&format!("CREATE DATABASE {name}"))).await?.count().await?;
        Ok(())
    })
    .unwrap();
    format!("odbc://{cs};Database={name}")
}

fn options(password: &str) -> ConnectOptions {
    ConnectOptions {
        password: Some(Secret::new(password)),
        timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    }
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    cli_with_password(dir, args, &server().1)
}

/// Neither output of `o` holds the server's password.
fn no_password(o: &Output) {
    let (_, password) = server();
    let (out, err) = text(o);
    assert!(!out.contains(&password) && !err.contains(&password), "the password was printed: {out} {err}");
}

#[test]
fn every_command_over_odbc_gives_the_embedded_answers() {
    let url = database("ht_commands");
    let sb = Sandbox::new();
    let dir = sb.dir.path();
    let input = parity("small.csv");
    let input = input.to_str().unwrap();
    let o = cli(dir, &["--engine", &url, "load", "--input", input, "--json"]);
    assert!(o.status.success(), "{:?}", text(&o));
    no_password(&o);
    let local = ["--db", "db"];
    let o = cli(dir, &[&local[..], &["load", "--input", input, "--quiet"]].concat());
    assert!(o.status.success(), "{:?}", text(&o));
    // sql: the same rows, value for value.
    let sql = "SELECT strategy_id, seq, trade_date, zone, pnl FROM pnl ORDER BY strategy_id, seq";
    let over = cli(dir, &["--engine", &url, "sql", "--csv", sql]);
    let here = cli(dir, &[&local[..], &["sql", "--csv", sql]].concat());
    assert!(over.status.success() && here.status.success(), "{:?} {:?}", text(&over), text(&here));
    assert!(text(&over).0 == text(&here).0, "the rows differ");
    assert!(over.stdout.len() > 1000);
    let names = "SELECT strategy_id, name, file_label FROM strategies ORDER BY strategy_id";
    assert_eq!(
        text(&cli(dir, &["--engine", &url, "sql", "--csv", names])).0,
        text(&cli(dir, &[&local[..], &["sql", "--csv", names]].concat())).0
    );
    // run --table: ULTA, metrics and standardization in the server; the embedded engine's
    // best portfolios, fitness to 1e-9.
    for ulta in ["--ulta", "--no-ulta"] {
        let run = |engine: &[&str]| {
            let mut a: Vec<&str> = engine.to_vec();
            a.extend(["run", "--table", "pnl", "--out", "out", "--json", "--no-plots", ulta]);
            a.extend_from_slice(QUICK);
            cli(dir, &a)
        };
        let (over, here) = (run(&["--engine", &url]), run(&local));
        assert!(over.status.success() && here.status.success(), "{:?} {:?}", text(&over), text(&here));
        let (a, b) = (run_answer(&text(&over).0), run_answer(&text(&here).0));
        for (x, y) in a["sizes"].as_array().unwrap().iter().zip(b["sizes"].as_array().unwrap()) {
            assert_eq!(x["strategies"], y["strategies"], "{ulta}");
            let (fx, fy) = (x["fitness"].as_f64().unwrap(), y["fitness"].as_f64().unwrap());
            assert!((fx - fy).abs() <= 1e-9 * fx.abs().max(1.0), "{ulta}: {fx} vs {fy}");
        }
        assert_eq!(a["inverted"], b["inverted"]);
        if ulta == "--ulta" {
            // score over ODBC: the embedded engine's figures for the best portfolios.
            let best: Vec<String> = a["sizes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    s["strategies"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect();
            sb.write("best.txt", best.join("\n").as_bytes());
            let score = |engine: &[&str]| {
                let o = cli(
                    dir,
                    &[engine, &["score", "--table", "pnl", "--ulta", "--portfolio-file", "best.txt", "--json"]]
                        .concat(),
                );
                assert!(o.status.success(), "{:?}", text(&o));
                serde_json::from_str::<Value>(&text(&o).0).unwrap()
            };
            let (so, sh) = (score(&["--engine", &url]), score(&local));
            let nums = |v: &Value| -> Vec<f64> {
                let mut out = Vec::new();
                let mut stack = vec![v.clone()];
                while let Some(x) = stack.pop() {
                    match x {
                        Value::Number(n) => out.push(n.as_f64().unwrap()),
                        Value::Array(a) => stack.extend(a),
                        Value::Object(o) => stack.extend(o.into_iter().map(|(_, v)| v)),
                        _ => {}
                    }
                }
                out
            };
            assert_eq!(nums(&so).len(), nums(&sh).len(), "{so}\n{sh}");
            for (x, y) in nums(&so).iter().zip(nums(&sh)) {
                assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "score: {x} vs {y}");
            }
        }
    }
    // explain: PostgreSQL's own plan, and with --analyze its measured times.
    let o = cli(dir, &["--engine", &url, "explain", "--query", "pair_corr", "--sample", "5", "--analyze", "--json"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let e: Value = serde_json::from_str(&text(&o).0).unwrap();
    assert!(e.to_string().contains("actual time="), "PostgreSQL's EXPLAIN ANALYZE: {e}");
    assert_eq!(e["engine"].as_str().map(|s| s.starts_with("postgres")), Some(true), "{e}");
    // bench ab: original and rewritten give equal results in the server.
    let o = cli(dir, &[&["--engine", &url][..], AB_PAIR_CORR].concat());
    assert!(o.status.success(), "{:?}", text(&o));
    let ab: Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(ab["equal"], Value::Bool(true), "{ab}");
    no_password(&o);
}

fn stats(url: &str, ulta: bool) -> EngineStats {
    let (_, password) = server();
    let rt = Blocking::new(Some(2)).unwrap();
    rt.run(async {
        let engine = connect(url, &options(&password)).await?;
        let mut temps = Temporaries::new(engine.as_ref());
        let result = engine_stats(&mut temps, StageInput::Wide(small()), ulta).await;
        temps.finish(result).await
    })
    .unwrap()
}

#[test]
fn server_stages_match_the_parity_vectors() {
    let url = database("ht_parity");
    for (flag, file) in [(false, "strategy_metrics.csv"), (true, "strategy_metrics_ulta.csv")] {
        let st = stats(&url, flag);
        if flag {
            assert_ulta_matches(&st.inversions, &st.table.names);
            let report = std::fs::read_to_string(parity("inversion_report.md")).unwrap();
            assert_eq!(heavytune::ulta::inversion_report(&st.inversions), report);
        }
        assert_metrics_match(&st.metrics, &st.table, file);
        // Standardized values: the in-process computation's, bit for bit (the server sums each
        // strategy's days in order), and the embedded engine's to 1e-12 (after ULTA it sums a
        // few strategies' days out of order, see reports/README.md).
        let (d, all_z) = (st.table.n_days(), st.z());
        for s in 0..st.table.n_strategies() {
            let mut z = vec![0.0; d];
            heavytune::kernels::standardize::standardize(&st.values()[s * d..(s + 1) * d], &mut z);
            let got = &all_z[s * d..(s + 1) * d];
            assert!(z.iter().zip(got).all(|(a, b)| a.to_bits() == b.to_bits()), "{file}: strategy {s}");
        }
        let engine = heavytune::engine::Embedded::in_memory(Some(2));
        let local = Blocking::new(Some(2))
            .unwrap()
            .run(async {
                let mut temps = Temporaries::new(&engine);
                let result = engine_stats(&mut temps, StageInput::Wide(small()), flag).await;
                temps.finish(result).await
            })
            .unwrap();
        assert_eq!(all_z.len(), local.z().len());
        for (a, b) in all_z.iter().zip(&local.z()) {
            assert!((a - b).abs() <= 1e-12, "{a} vs {b}");
        }
        assert_eq!(st.values(), local.values());
    }
}

#[test]
fn every_template_and_rewrite_runs_in_postgres() {
    let url = database("ht_templates");
    let (_, password) = server();
    let sb = Sandbox::new();
    let input = parity("small.csv");
    let o = cli(sb.dir.path(), &["--engine", &url, "load", "--input", input.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let rt = Blocking::new(Some(2)).unwrap();
    rt.run(async {
        let engine = connect(&url, &options(&password)).await?;
        let names = engine
            .query(Query::Native("SELECT name FROM strategies ORDER BY strategy_id LIMIT 4"))
            .await?
            .collect()
            .await?;
        let params = Params {
            candidates: Some(names.strings(0)?),
            inverted: Some(vec![1, 3]),
            columns: Some(names.strings(0)?),
            date_from: Some("2000-01-01".into()),
            date_to: Some("2100-01-01".into()),
            ..Params::default()
        };
        // The legacy wide layout of the first strategies (Date, then a column each), for
        // wide_select: PostgreSQL reads the long table instead (wide_to_long).
        let wide = small();
        let mut fields = vec![arrow::datatypes::Field::new("Date", arrow::datatypes::DataType::Date32, false)];
        let mut columns: Vec<arrow::array::ArrayRef> =
            vec![std::sync::Arc::new(arrow::array::Date32Array::from(wide.dates.clone()))];
        for s in 0..4 {
            fields.push(arrow::datatypes::Field::new(&wide.names[s], arrow::datatypes::DataType::Float64, false));
            columns.push(std::sync::Arc::new(arrow::array::Float64Array::from(wide.strategy(s).to_vec())));
        }
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
        let batch = arrow::record_batch::RecordBatch::try_new(schema.clone(), columns)?;
        heavytune::engine::Engine::ingest(
            engine.as_ref(),
            vec![heavytune::engine::TableSource::from_batches("pnl_wide", schema, vec![batch])],
        )
        .await?;
        // Reads before writes: ulta_update changes pnl, the CTAS templates add tables.
        let mut order: Vec<_> = TEMPLATES.iter().collect();
        order.sort_by_key(|t| matches!(t.name, "ulta_update" | "ulta_strategies" | "ulta_pnl" | "ulta_report"));
        let mut ran = Vec::new();
        for t in order {
            let stmt = templates::bind(t, &params)?;
            let ctx = Context::discover(engine.as_ref(), &stmt).await?;
            let out = optimize(stmt.clone(), &ctx, None)?;
            let rewritten = heavytune::exec::execute_plan(engine.as_ref(), &out.plan).await;
            let shown = heavytune::dialect::print(&out.plan.statement, heavytune::dialect::Dialect::Postgres)?;
            let rewritten =
                rewritten.map_err(|e| heavytune::error::Error::Sql(format!("{}: rewritten: {e}\n{shown}", t.name)))?;
            // The original too, where the server can run it (no wide table in PostgreSQL).
            if !out.fired().is_empty() && matches!(stmt, sqlparser::ast::Statement::Query(_)) {
                let original = heavytune::engine::fetch(engine.as_ref(), &stmt)
                    .await
                    .map_err(|e| heavytune::error::Error::Sql(format!("{}: original: {e}", t.name)))?;
                heavytune::ab::same_results(&original, &rewritten, 1e-9)
                    .map_err(|e| heavytune::error::Error::Sql(format!("{}: {e}", t.name)))?;
            }
            ran.push((t.name, out.fired().iter().map(|s| s.to_string()).collect::<Vec<_>>()));
        }
        assert_eq!(ran.len(), TEMPLATES.len());
        // PostgreSQL reads the long table (it has no wide tables): wide_to_long fires; it updates in
        // place cheaply, so update_to_ctas does not.
        let fired = |name: &str| ran.iter().find(|r| r.0 == name).unwrap().1.clone();
        assert!(fired("wide_select").iter().any(|r| r == "wide_to_long"), "{ran:?}");
        assert!(!fired("ulta_update").iter().any(|r| r == "update_to_ctas"), "{ran:?}");
        assert!(!fired("pair_corr").is_empty(), "{ran:?}");
        Ok(())
    })
    .unwrap();
}

#[test]
fn names_with_quotes_and_percent_signs_survive_the_round_trip() {
    let url = database("ht_names");
    let sb = Sandbox::new();
    let dir = sb.dir.path();
    let mut csv = String::from("Date,\"it's \"\"q\"\" 50%\",plain_%_,back\\slash\n");
    for d in 1..=9 {
        csv.push_str(&format!("2024-01-0{d},{}.5,-{d},{}\n", d, d * 2));
    }
    sb.write("odd.csv", csv.as_bytes());
    let o = cli(dir, &["--engine", &url, "load", "--input", "odd.csv", "--quiet"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = cli(dir, &["--engine", &url, "sql", "--csv", "SELECT name FROM strategies ORDER BY strategy_id"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(text(&o).0, "name\n\"it's \"\"q\"\" 50%\"\nplain_%_\nback\\slash\n");
    let o = cli(
        dir,
        &[
            "--engine",
            &url,
            "sql",
            "--csv",
            "SELECT COUNT(*) AS n FROM strategies WHERE name LIKE '%50\\%%' ESCAPE '\\'",
        ],
    );
    assert_eq!(text(&o).0, "n\n1\n", "{:?}", text(&o));
}

#[test]
fn a_type_the_server_cannot_store_is_named() {
    use arrow::array::{Array, ArrayRef, Int32Array, ListArray};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};
    use std::sync::Arc;
    let url = database("ht_types");
    let (_, password) = server();
    let rt = Blocking::new(Some(2)).unwrap();
    let e = rt
        .run(async {
            let engine = connect(&url, &options(&password)).await?;
            let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
            let schema = Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int32, false),
                Field::new("tags", list.data_type().clone(), true),
            ]));
            let batch = arrow::record_batch::RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int32Array::from(vec![1])) as ArrayRef, Arc::new(list) as ArrayRef],
            )?;
            let t = heavytune::engine::TableSource::from_batches("typed", schema, vec![batch]);
            engine.create_temporary(t).await
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"tags\"") && e.contains("List") && e.contains("cannot store"), "{e}");
}

#[test]
fn drivers_registered_by_a_bare_file_name_are_found() {
    // As Debian's odbc-postgresql registers psqlODBC: `Driver=psqlodbcw.so`, no folder.
    let (cs, _) = server();
    let url = database("ht_bare");
    let sb = Sandbox::new();
    sb.write("odbc/odbcinst.ini", b"[PostgreSQL Unicode]\nDriver=psqlodbcw.so\n");
    let (_, password) = server();
    let o = Command::new(env!("CARGO_BIN_EXE_heavytune"))
        .current_dir(sb.dir.path())
        .args(["--engine", &url, "sql", "--csv", "SELECT 1 AS one"])
        .env("HEAVYTUNE_PASSWORD", password)
        .env("ODBCSYSINI", sb.path("odbc"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{cs}: {:?}", text(&o));
    assert_eq!(text(&o).0, "one\n1\n");
}

#[test]
fn connection_faults_are_clear_errors_without_the_password() {
    let (cs, _) = server();
    let sb = Sandbox::new();
    let dir = sb.dir.path();
    // Wrong password.
    let o = Command::new(env!("CARGO_BIN_EXE_heavytune"))
        .current_dir(dir)
        .args(["--engine", &format!("odbc://{cs};Database=postgres"), "sql", "SELECT 1"])
        .env("HEAVYTUNE_PASSWORD", "not-the-password")
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("refused the login") && !err.contains("not-the-password"), "{err}");
    // A password in the string itself is never echoed either.
    let inline = format!("odbc://{cs};Database=postgres;PWD={{s3cr;et}}");
    let o = cli(dir, &["--engine", &inline, "sql", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(!text(&o).1.contains("s3cr"), "{:?}", text(&o));
    // Server down: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down =
        cs.replace(&format!("Port={}", std::env::var("HEAVYTUNE_TEST_PG_PORT").unwrap()), &format!("Port={port}"));
    assert_ne!(down, cs);
    let clock = Instant::now();
    let o = cli(dir, &["--engine", &format!("odbc://{down}"), "--timeout", "5", "sql", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(4), "{:?}", text(&o));
    assert!(text(&o).1.contains("could not reach the server"), "{:?}", text(&o));
    assert!(clock.elapsed() < Duration::from_secs(30));
    no_password(&o);
    // Driver not installed: named, with how to install it.
    let o = cli(dir, &["--engine", "odbc://Driver={HeavyaiDriver};HOST=h;PORT=6274;PWD=x", "sql", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(text(&o).1.contains("\"HeavyaiDriver\" is not installed"), "{:?}", text(&o));
    // A connection string with a syntax error: the column, exit 2.
    let o = cli(dir, &["--engine", "odbc://Driver={PostgreSQL Unicode;Server=h;PWD=hunter2", "sql", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    let (_, err) = text(&o);
    assert!(err.contains("column 8") && err.contains("never closed") && !err.contains("hunter2"), "{err}");
    // Bad SQL is the user's error (exit 3), the server's text kept.
    let url = database("ht_faults");
    let o = cli(dir, &["--engine", &url, "sql", "SELECT * FROM no_such_table"]);
    assert_eq!(o.status.code(), Some(3), "{:?}", text(&o));
    assert!(text(&o).1.contains("no_such_table"), "{:?}", text(&o));
}

#[test]
fn a_load_cut_off_by_the_server_leaves_the_previous_tables() {
    let url = database("ht_cutoff");
    let (_, password) = server();
    let sb = Sandbox::new();
    let dir = sb.dir.path();
    let input = parity("small.csv");
    let o = cli(dir, &["--engine", &url, "load", "--input", input.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let count = |sql: &str| {
        let o = cli(dir, &["--engine", &url, "sql", "--csv", sql]);
        assert!(o.status.success(), "{:?}", text(&o));
        text(&o).0
    };
    let before = (count("SELECT COUNT(*) AS n FROM pnl"), count("SELECT COUNT(*) AS n FROM strategies"));
    // A bigger data set, whose load the server ends half way (as a server shutdown ends every
    // session: pg_terminate_backend sends the backend the same signal a fast shutdown does).
    let o = cli(dir, &["synth", "--out", "big.csv", "--strategies", "3000", "--days", "82", "--seed", "7"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let (_, password_env) = (0, password.clone());
    let load = Command::new(env!("CARGO_BIN_EXE_heavytune"))
        .current_dir(dir)
        .args(["--engine", &url, "load", "--input", "big.csv", "--quiet"])
        .env("HEAVYTUNE_PASSWORD", &password_env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rt = Blocking::new(Some(2)).unwrap();
    let killed = rt
        .run(async {
            let admin = connect(&url, &options(&password)).await?;
            let clock = Instant::now();
            while clock.elapsed() < Duration::from_secs(60) {
                let out = admin
                    .query(Query::Native(
                        "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity \
                         WHERE pid <> pg_backend_pid() AND datname = current_database() AND query LIKE '%INSERT INTO%'",
                    ))
                    .await?
                    .collect()
                    .await?;
                if out.num_rows() > 0 {
                    return Ok(true);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(false)
        })
        .unwrap();
    let out = load.wait_with_output().unwrap();
    assert!(killed, "the load's INSERT was never seen: {:?}", text(&out));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("connection to the server was lost") && err.contains("previous tables are as they were"),
        "{err}"
    );
    assert!(!err.contains(&password));
    let after = (count("SELECT COUNT(*) AS n FROM pnl"), count("SELECT COUNT(*) AS n FROM strategies"));
    assert_eq!(before, after);
}

/// A table of `n` rows (id, value); with `unstorable`, its values are unsigned 64-bit
/// integers, a type heavytune stores in no server.
fn numbered(name: &str, n: i32, unstorable: bool) -> heavytune::engine::TableSource {
    use arrow::array::{ArrayRef, Float64Array, Int32Array, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let (t, values): (DataType, ArrayRef) = if unstorable {
        (DataType::UInt64, Arc::new(UInt64Array::from_iter_values((0..n).map(|i| i as u64))))
    } else {
        (DataType::Float64, Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64 / 4.0))))
    };
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, false), Field::new("v", t, false)]));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int32Array::from_iter_values(0..n)), values],
    )
    .unwrap();
    heavytune::engine::TableSource::from_batches(name, schema, vec![batch])
}

#[test]
fn the_staged_load_of_servers_without_transactions_replaces_all_or_nothing() {
    // HeavyDB's load path (staging tables, renamed into place at the end), run on PostgreSQL.
    let url = database("ht_staged");
    let (_, password) = server();
    let rt = Blocking::new(Some(2)).unwrap();
    rt.run(async {
        let engine = connect(&url, &options(&password)).await?;
        let odbc =
            heavytune::engine::Odbc::connect(&heavytune::engine::EngineUrl::parse(&url)?, &options(&password)).await?;
        odbc.ingest_staged(vec![numbered("t1", 10, false), numbered("t2", 5, false)]).await?;
        let count = |sql: &'static str| {
            let engine = engine.as_ref();
            async move { engine.query(Query::Native(sql)).await?.collect().await?.i64s("n") }
        };
        assert_eq!(count("SELECT COUNT(*) AS n FROM t1").await?, [Some(10)]);
        // Again, bigger: replaced.
        odbc.ingest_staged(vec![numbered("t1", 20, false), numbered("t2", 7, false)]).await?;
        assert_eq!(count("SELECT COUNT(*) AS n FROM t1").await?, [Some(20)]);
        // A load whose second table fails after the first is staged: neither table changes,
        // no staging table stays.
        let e = odbc.ingest_staged(vec![numbered("t1", 30, false), numbered("t2", 9, true)]).await.unwrap_err();
        assert!(e.to_string().contains("cannot store") && e.to_string().contains("previous tables"), "{e}");
        assert_eq!(count("SELECT COUNT(*) AS n FROM t1").await?, [Some(20)]);
        assert_eq!(count("SELECT COUNT(*) AS n FROM t2").await?, [Some(7)]);
        assert_eq!(count("SELECT COUNT(*) AS n FROM pg_tables WHERE tablename LIKE 'ht_stage_%'").await?, [Some(0)]);
        Ok(())
    })
    .unwrap();
}
