//! Issue 11: `heavytune serve` and the `flightsql://` engine over a real socket on 127.0.0.1,
//! each server a real `heavytune serve` process on a free port, stopped at the end of its test
//! (also when the test fails).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Float64Array, Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use common::{AB_PAIR_CORR, QUICK, Sandbox, cli_with_password, parity, run_answer, text};
use heavytune::engine::{Blocking, ConnectOptions, Query, Rows, Secret, TableSource, connect};
use serde_json::Value;

/// The parity data set (`../shared/parity/small.csv`): 244 strategies x 82 days.
const USER: &str = "ann";
const PASSWORD: &str = "pässword: with spaces";

/// A `heavytune serve` process; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `heavytune --db DB serve --listen 127.0.0.1:0 EXTRA...`, with the test user unless
    /// `EXTRA` says `--no-auth`.
    fn start(db: &Path, extra: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_heavytune"));
        cmd.arg("--db").arg(db).args(["serve", "--listen", "127.0.0.1:0", "--grace", "2"]);
        let auth = !extra.contains(&"--no-auth");
        cmd.args(extra.iter().filter(|a| **a != "--no-auth"));
        if auth {
            cmd.args(["--user", USER]).env("HEAVYTUNE_PASSWORD", PASSWORD);
        } else {
            cmd.env_remove("HEAVYTUNE_PASSWORD").env_remove("HEAVYTUNE_USER");
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start heavytune serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("serve printed no address within 60 s");
        let port = line
            .trim()
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line of serve: {line:?}"));
        Server { child, port }
    }

    fn url(&self) -> String {
        format!("flightsql://127.0.0.1:{}", self.port)
    }

    fn user_url(&self) -> String {
        format!("flightsql://{USER}@127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// Waits at most `limit` for the process to end.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary in `dir` with `args` and the test password in the environment.
fn cli(dir: &Path, args: &[&str]) -> Output {
    cli_with_password(dir, args, PASSWORD)
}

/// A sandbox whose `db` holds the parity data set, loaded by the embedded engine.
fn loaded() -> Sandbox {
    let sb = Sandbox::new();
    let input = parity("small.csv");
    let r = sb.run(&["load", "--input", input.to_str().unwrap(), "--quiet"]);
    assert!(r.ok, "load failed: {}", r.stderr);
    sb
}

fn options(user: bool) -> ConnectOptions {
    ConnectOptions {
        user: user.then(|| USER.to_owned()),
        password: user.then(|| Secret::new(PASSWORD)),
        timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    }
}

/// One Flight `DoAction` sent with tonic's plain client and the given `authorization` header.
fn raw_action(rt: &Blocking, port: u16, kind: &str, body: &str, authorization: &str) -> Result<(), tonic::Status> {
    let (kind, body, authorization) = (kind.to_owned(), body.to_owned(), authorization.to_owned());
    rt.run(async move {
        let ch = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = arrow_flight::flight_service_client::FlightServiceClient::new(ch);
        let mut r = tonic::Request::new(arrow_flight::Action { r#type: kind, body: body.into() });
        r.metadata_mut().insert("authorization", authorization.parse().unwrap());
        Ok(client.do_action(r).await.map(|_| ()))
    })
    .unwrap()
}

#[test]
fn every_command_over_flightsql_gives_the_embedded_answers() {
    let sb = Sandbox::new();
    let served = sb.path("served");
    let server = Server::start(&served, &[]);
    let remote = server.user_url();
    let dir = sb.dir.path();
    let input = parity("small.csv");
    // load over the wire; the embedded engine then reads the same folder.
    let o = cli(dir, &["--engine", &remote, "load", "--input", input.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let local = ["--db", served.to_str().unwrap()];
    for sql in [
        "SELECT strategy_id, seq, trade_date, zone, pnl FROM pnl ORDER BY strategy_id, seq",
        "SELECT s.name, SUM(p.pnl) AS roi, COUNT(*) AS days FROM pnl p JOIN strategies s USING (strategy_id) \
         GROUP BY s.name ORDER BY s.name",
    ] {
        let over = cli(dir, &["--engine", &remote, "sql", "--csv", sql]);
        let here = cli(dir, &[&local[..], &["sql", "--csv", sql]].concat());
        assert!(over.status.success() && here.status.success(), "{:?} {:?}", text(&over), text(&here));
        assert_eq!(over.stdout, here.stdout, "{sql}");
        assert!(over.stdout.len() > 1000);
    }
    // run --table: the embedded engine's best portfolios and fitness (to 1e-12, here exactly).
    let run_args = |engine: &[&str]| {
        let mut a: Vec<&str> = engine.to_vec();
        a.extend(["run", "--table", "pnl", "--out", "out", "--json", "--no-plots", "--ulta"]);
        a.extend_from_slice(QUICK);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let over = cli(dir, &run_args(&["--engine", &remote]).iter().map(String::as_str).collect::<Vec<_>>());
    let here = cli(dir, &run_args(&local).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(over.status.success() && here.status.success(), "{:?} {:?}", text(&over), text(&here));
    let (a, b) = (run_answer(&text(&over).0), run_answer(&text(&here).0));
    for (x, y) in a["sizes"].as_array().unwrap().iter().zip(b["sizes"].as_array().unwrap()) {
        assert_eq!(x["strategies"], y["strategies"]);
        let (fx, fy) = (x["fitness"].as_f64().unwrap(), y["fitness"].as_f64().unwrap());
        assert!((fx - fy).abs() <= 1e-12 * fx.abs().max(1.0), "{fx} vs {fy}");
    }
    assert_eq!(a["inverted"], b["inverted"]);
    // score over the wire.
    let best: Vec<String> = a["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["strategies"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>().join("|"))
        .collect();
    sb.write("best.txt", best.join("\n").as_bytes());
    let score = |engine: &[&str]| {
        cli(dir, &[engine, &["score", "--table", "pnl", "--ulta", "--portfolio-file", "best.txt", "--json"]].concat())
    };
    let (so, sh) = (score(&["--engine", &remote]), score(&local));
    assert!(so.status.success(), "{:?}", text(&so));
    assert_eq!(so.stdout, sh.stdout);
    // explain: the same rules, and the server's plan.
    let explain = |engine: &[&str]| {
        let o = cli(dir, &[engine, &["explain", "--query", "pair_corr", "--sample", "5", "--json"]].concat());
        assert!(o.status.success(), "{:?}", text(&o));
        serde_json::from_str::<Value>(&text(&o).0).unwrap()
    };
    let (eo, eh) = (explain(&["--engine", &remote]), explain(&local));
    assert_eq!(eo["rules_fired"], eh["rules_fired"]);
    assert!(eo.to_string().contains("ProjectionExec"), "the server's physical plan: {eo}");
    // bench ab: equal results, record under --out.
    let o = cli(dir, &[&["--engine", &remote][..], AB_PAIR_CORR].concat());
    assert!(o.status.success(), "{:?}", text(&o));
    let rec: Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(rec["equal"], true, "{rec}");
    assert!(rec["engine"].as_str().unwrap().starts_with("flightsql"));
}

#[test]
fn results_arrive_without_a_copy_after_the_receive() {
    let sb = loaded();
    let server = Server::start(&sb.path("db"), &[]);
    let rt = Blocking::new(Some(2)).unwrap();
    let remote = rt.run(connect(&server.url(), &options(true))).unwrap();
    let local = rt.run(connect("embedded", &ConnectOptions { db: Some(sb.path("db")), ..Default::default() })).unwrap();
    let sql = "SELECT * FROM pnl ORDER BY strategy_id, seq";
    let over = rt.run(async { remote.query(Query::Native(sql)).await?.collect().await }).unwrap();
    let here = rt.run(async { local.query(Query::Native(sql)).await?.collect().await }).unwrap();
    let (received, copied) = remote.wire_bytes().expect("a wire engine counts its bytes");
    assert!(received > 100_000, "received {received} bytes");
    assert_eq!(copied, 0, "bytes copied after the receive");
    let concat = |b: &[RecordBatch]| arrow::compute::concat_batches(&b[0].schema(), b).unwrap();
    let (a, b) = (concat(&over.batches), concat(&here.batches));
    assert_eq!(a.num_rows(), b.num_rows());
    for i in 0..a.num_columns() {
        let x = arrow::compute::cast(a.column(i), b.column(i).data_type()).unwrap();
        assert_eq!(&x, b.column(i), "column {}", b.schema().field(i).name());
    }
}

#[test]
fn logins_are_checked_on_every_call() {
    let sb = loaded();
    let server = Server::start(&sb.path("db"), &["--token-ttl", "1.5"]);
    let dir = sb.dir.path();
    // A wrong password, and no user at all, are refused.
    let wrong = Command::new(env!("CARGO_BIN_EXE_heavytune"))
        .args(["--engine", &server.user_url(), "sql", "SELECT 1"])
        .env("HEAVYTUNE_PASSWORD", "guess")
        .output()
        .unwrap();
    let (_, err) = text(&wrong);
    assert_eq!(wrong.status.code(), Some(4), "{err}");
    assert!(err.contains("wrong user or password") && !err.contains("guess"), "{err}");
    let anonymous = cli(dir, &["--engine", &server.url(), "sql", "SELECT 1"]);
    assert_eq!(anonymous.status.code(), Some(4));
    assert!(text(&anonymous).1.contains("requires a user and password"), "{:?}", text(&anonymous));
    let ok = cli(dir, &["--engine", &server.user_url(), "sql", "SELECT 1 AS one"]);
    assert!(ok.status.success(), "{:?}", text(&ok));
    // A forged token.
    let rt = Blocking::new(Some(2)).unwrap();
    let forged = raw_action(&rt, server.port, "heavytune.info", "", &format!("Bearer {}", "ab".repeat(32)));
    let e = forged.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    assert!(e.message().contains("unknown bearer token"), "{e}");
    // A token that expired (--token-ttl 1.5).
    let engine = rt.run(connect(&server.url(), &options(true))).unwrap();
    assert!(rt.run(async { engine.query(Query::Native("SELECT 1")).await?.count().await }).is_ok());
    std::thread::sleep(Duration::from_millis(1800));
    let late = rt.run(async { engine.query(Query::Native("SELECT 1")).await?.count().await }).unwrap_err().to_string();
    assert!(late.contains("expired"), "{late}");
}

#[test]
fn unreachable_servers_are_clear_errors_in_bounded_time() {
    let sb = Sandbox::new();
    let dir = sb.dir.path();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = Instant::now();
    let refused =
        cli(dir, &["--engine", &format!("flightsql://127.0.0.1:{port}"), "--timeout", "5", "sql", "SELECT 1"]);
    let (_, err) = text(&refused);
    assert_eq!(refused.status.code(), Some(4), "{err}");
    assert!(err.contains("cannot reach") && err.to_lowercase().contains("refused"), "{err}");
    let unknown =
        cli(dir, &["--engine", "flightsql://no-such-host.invalid:50051", "--timeout", "5", "sql", "SELECT 1"]);
    let (_, err) = text(&unknown);
    assert_eq!(unknown.status.code(), Some(4), "{err}");
    assert!(err.contains("cannot reach") && err.contains("no-such-host.invalid"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
    // A password on the command line is refused before anything is sent, and never echoed.
    let inline = cli(dir, &["--engine", "flightsql://ann:hunter2@127.0.0.1:1", "sql", "SELECT 1"]);
    assert_eq!(inline.status.code(), Some(2));
    assert!(!text(&inline).1.contains("hunter2"));
}

/// A certificate authority and a server certificate for 127.0.0.1 signed by it (openssl,
/// installed by .ci/test where missing): (CA certificate, server certificate, server key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl (.ci/test installs it)");
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-subj", "/CN=heavytune test CA", "-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    );
    openssl(&[&["req"][..], &ec, &["-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"]].concat());
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
    (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

#[test]
fn tls_works_and_tls_on_one_side_only_is_a_clear_error() {
    let sb = loaded();
    let dir = sb.dir.path();
    let (ca, cert, key) = certificates(dir);
    let (ca, cert, key) = (ca.to_str().unwrap(), cert.to_str().unwrap(), key.to_str().unwrap());
    let tls_server = Server::start(&sb.path("db"), &["--tls-cert", cert, "--tls-key", key]);
    let url = format!("grpc+tls://{USER}@127.0.0.1:{}", tls_server.port);
    let ok = cli(dir, &["--engine", &url, "--tls-ca", ca, "sql", "--csv", "SELECT COUNT(*) AS n FROM pnl"]);
    assert!(ok.status.success(), "{:?}", text(&ok));
    assert_eq!(text(&ok).0, "n\n20008\n");
    // Plain client, TLS server.
    let plain = cli(dir, &["--engine", &tls_server.user_url(), "--timeout", "5", "sql", "SELECT 1"]);
    assert_eq!(plain.status.code(), Some(4), "{:?}", text(&plain));
    assert!(text(&plain).1.contains("TLS"), "{:?}", text(&plain));
    // TLS client, plain server.
    let plain_server = Server::start(&sb.path("db"), &[]);
    let url = format!("grpc+tls://{USER}@127.0.0.1:{}", plain_server.port);
    let mismatch = cli(dir, &["--engine", &url, "--tls-ca", ca, "--timeout", "5", "sql", "SELECT 1"]);
    assert_eq!(mismatch.status.code(), Some(4), "{:?}", text(&mismatch));
    assert!(text(&mismatch).1.contains("TLS"), "{:?}", text(&mismatch));
}

#[test]
fn bad_sql_and_missing_tables_are_errors_to_that_client_only() {
    let sb = loaded();
    let server = Server::start(&sb.path("db"), &[]);
    let dir = sb.dir.path();
    let remote = server.user_url();
    let bad = cli(dir, &["--engine", &remote, "sql", "SELECT strategy_id FROM pnl WHER strategy_id = 1"]);
    let (_, err) = text(&bad);
    assert_eq!(bad.status.code(), Some(3), "{err}");
    assert!(err.contains("Line: 1, Column"), "{err}");
    let missing = cli(dir, &["--engine", &remote, "sql", "SELECT * FROM no_such_table"]);
    let (_, err) = text(&missing);
    assert_eq!(missing.status.code(), Some(4), "{err}");
    assert!(err.contains("no_such_table") && err.contains("not found"), "{err}");
    // A malformed request (an action body that is not JSON) is an error; the server goes on.
    let rt = Blocking::new(Some(2)).unwrap();
    let basic = heavytune::flight::basic_header(USER, PASSWORD);
    let malformed = raw_action(&rt, server.port, "heavytune.explain", "{{", &basic).unwrap_err();
    assert_eq!(malformed.code(), tonic::Code::InvalidArgument, "{malformed}");
    let fine = cli(dir, &["--engine", &remote, "sql", "--csv", "SELECT COUNT(*) AS n FROM strategies"]);
    assert_eq!(text(&fine).0, "n\n244\n", "{:?}", text(&fine));
}

/// Rows of `n` batches whose last is an error.
fn broken_rows(n: i32) -> Rows {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("v", DataType::Float64, false),
    ]));
    let batch = |i: i32| {
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int32Array::from(vec![i; 1000])), Arc::new(Float64Array::from(vec![f64::from(i); 1000]))],
        )
        .unwrap()
    };
    let mut items: Vec<heavytune::Result<RecordBatch>> = (0..n).map(|i| Ok(batch(i))).collect();
    items.push(Err(heavytune::Error::Data { what: "input", message: "the file ended half way".into() }));
    Rows { schema: schema.clone(), stream: Box::pin(futures::stream::iter(items)) }
}

#[test]
fn an_ingest_that_fails_half_way_leaves_no_table_behind() {
    let sb = loaded();
    let db = sb.path("db");
    let server = Server::start(&db, &[]);
    let rt = Blocking::new(Some(2)).unwrap();
    let remote = rt.run(connect(&server.url(), &options(true))).unwrap();
    let before = sb.db_files();
    // Two tables, the second breaks: neither is published, the old `strategies` stays.
    let good = TableSource::streamed("fresh", broken_rows(0));
    let good = TableSource::from_batches(good.name, good.rows.schema, vec![]);
    let e =
        rt.run(remote.ingest(vec![good, TableSource::streamed("strategies", broken_rows(3))])).unwrap_err().to_string();
    assert!(e.contains("ended half way"), "{e}");
    assert_eq!(rt.run(remote.schema("fresh")).unwrap(), None);
    let names = rt.run(async { remote.query(Query::Native("SELECT name FROM strategies")).await?.count().await });
    assert_eq!(names.unwrap(), 244, "the old strategies table is intact");
    // The server dropped the staged folders before it answered.
    assert_eq!(sb.db_files(), before);
    // A whole ingest works and is seen by the next session.
    let whole = TableSource::streamed("fresh", broken_rows(2));
    let whole = TableSource::streamed(whole.name, {
        let b = rt.run(async { Ok(futures::StreamExt::collect::<Vec<_>>(whole.rows.stream).await) }).unwrap();
        Rows::from_batches(whole.rows.schema, b.into_iter().filter_map(Result::ok).collect())
    });
    rt.run(remote.ingest(vec![whole])).unwrap();
    let other = rt.run(connect(&server.url(), &options(true))).unwrap();
    assert_eq!(rt.run(async { other.query(Query::Native("SELECT * FROM fresh")).await?.count().await }).unwrap(), 2000);
}

#[test]
fn a_server_killed_mid_query_is_an_error_within_the_timeout() {
    let sb = loaded();
    let server = Server::start(&sb.path("db"), &[]);
    let rt = Blocking::new(Some(2)).unwrap();
    let remote = rt.run(connect(&server.url(), &options(true))).unwrap();
    // A result far larger than what the stream buffers: the cross product of pnl with itself.
    let mut rows = rt.run(remote.query(Query::Native("SELECT a.pnl, b.pnl FROM pnl a, pnl b"))).unwrap();
    let first = rt.run(async { Ok(futures::StreamExt::next(&mut rows.stream).await) }).unwrap();
    assert!(matches!(first, Some(Ok(_))));
    let mut server = server;
    server.signal(libc::SIGKILL);
    server.wait(Duration::from_secs(5)).expect("killed");
    let start = Instant::now();
    let rest = rt.run(async {
        loop {
            match futures::StreamExt::next(&mut rows.stream).await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Ok(Some(e.to_string())),
                None => return Ok(None),
            }
        }
    });
    let error = rest.unwrap().expect("a result cut off is an error, not a short result");
    assert!(start.elapsed() < Duration::from_secs(15), "took {:?}", start.elapsed());
    assert!(error.contains("flightsql"), "{error}");
}

#[test]
fn a_client_killed_mid_stream_leaves_the_server_serving_others() {
    let sb = loaded();
    let server = Server::start(&sb.path("db"), &[]);
    let remote = server.user_url();
    let mut client = Command::new(env!("CARGO_BIN_EXE_heavytune"))
        .args(["--engine", &remote, "sql", "--csv", "SELECT a.pnl, b.pnl FROM pnl a, pnl b"])
        .env("HEAVYTUNE_PASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    client.kill().unwrap();
    client.wait().unwrap();
    // Concurrent clients, all answered alike.
    let dir = sb.dir.path().to_path_buf();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (dir, remote) = (dir.clone(), remote.clone());
            std::thread::spawn(move || {
                let sql = format!("SELECT COUNT(*) AS n, {i} AS client FROM pnl WHERE strategy_id >= 0");
                text(&cli(&dir, &["--engine", &remote, "sql", "--csv", &sql])).0
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), format!("n,client\n20008,{i}\n"));
    }
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let sb = loaded();
    let mut server = Server::start(&sb.path("db"), &[]);
    let ok = cli(sb.dir.path(), &["--engine", &server.user_url(), "sql", "SELECT 1"]);
    assert!(ok.status.success());
    server.signal(libc::SIGTERM);
    let status = server.wait(Duration::from_secs(15)).expect("serve ends after SIGTERM");
    assert!(status.success(), "{status:?}");
    let r = sb.run(&["sql", "--csv", "SELECT COUNT(*) AS n FROM pnl"]);
    assert_eq!(r.stdout, "n\n20008\n", "{}", r.stderr);
}

#[test]
fn serve_refuses_what_cannot_be_safe() {
    let sb = Sandbox::new();
    let o = cli(sb.dir.path(), &["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--user"), "{:?}", text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_heavytune"))
        .args(["serve", "--user", "ann"])
        .env_remove("HEAVYTUNE_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("HEAVYTUNE_PASSWORD"), "{:?}", text(&o));
    for (flag, value) in [("--grace", "1e300"), ("--token-ttl", "0"), ("--grace", "-0")] {
        let o = cli(sb.dir.path(), &["serve", &format!("{flag}={value}")]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {:?}", text(&o));
        assert!(text(&o).1.contains(flag), "{:?}", text(&o));
    }
}

/// Python's ADBC Flight SQL driver (from PyPI; .ci/test installs it and sets HEAVYTUNE_PYTHON):
/// a client nobody here wrote.
#[test]
fn python_adbc_gets_the_embedded_engine_rows() {
    let python = std::env::var("HEAVYTUNE_PYTHON")
        .expect("HEAVYTUNE_PYTHON is unset: run the tests through .ci/test, which installs pyarrow and ADBC");
    let sb = loaded();
    let server = Server::start(&sb.path("db"), &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/adbc_interop.py");
    let o = Command::new(&python)
        .arg(&script)
        .arg(format!("grpc://127.0.0.1:{}", server.port))
        .env("ADBC_USER", USER)
        .env("ADBC_PASSWORD", PASSWORD)
        .output()
        .expect("run python");
    let (out, err) = text(&o);
    assert!(o.status.success(), "adbc_interop.py failed:\n{out}\n{err}");
    let got: Value = serde_json::from_str(out.lines().last().unwrap_or("")).expect("the script's JSON line");
    // The same query through the embedded engine.
    let r = sb.run(&[
        "sql",
        "--json",
        "SELECT strategy_id, SUM(pnl) AS roi FROM pnl GROUP BY strategy_id ORDER BY strategy_id",
    ]);
    assert!(r.ok, "{}", r.stderr);
    let want: Value = serde_json::from_str(&r.stdout).unwrap();
    let want_roi: Vec<f64> = want.as_array().unwrap().iter().map(|r| r["roi"].as_f64().unwrap()).collect();
    let got_roi: Vec<f64> = got["roi"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(got_roi, want_roi);
    assert_eq!(got["prepared_rows"], 82);
    assert!(got["tables"].as_array().unwrap().iter().any(|t| t == "pnl"));
    assert_eq!(got["ingested_rows"], 3);
    assert_eq!(got["wrong_password_refused"], true);
    // The ingested table is in the database folder for every later client.
    let r = sb.run(&["sql", "--csv", "SELECT SUM(x) AS s FROM adbc_ingested"]);
    assert_eq!(r.stdout, "s\n6\n", "{}", r.stderr);
}

/// arrow-flight's own Flight SQL client: statement updates (DDL and INSERT through DoPut),
/// prepared statements with parameters (create, bind, execute, close), each call authenticated.
#[test]
fn arrow_flight_client_runs_updates_and_prepared_statements() {
    use arrow_flight::sql::client::FlightSqlServiceClient;
    let sb = loaded();
    let server = Server::start(&sb.path("db"), &[]);
    let rt = Blocking::new(Some(2)).unwrap();
    let port = server.port;
    let (inserted, counted, prepared_rows) = rt
        .run(async move {
            let ch = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap().connect().await.unwrap();
            let mut c = FlightSqlServiceClient::new(ch);
            c.handshake(USER, PASSWORD).await.unwrap();
            c.execute_update("CREATE TABLE made (x INT)".into(), None).await.unwrap();
            let inserted = c.execute_update("INSERT INTO made VALUES (1), (2), (3)".into(), None).await.unwrap();
            let rows_of = |info: arrow_flight::FlightInfo, mut c: FlightSqlServiceClient<tonic::transport::Channel>| async move {
                let mut n = 0;
                for e in info.endpoint {
                    let batches: Vec<RecordBatch> =
                        futures::TryStreamExt::try_collect(c.do_get(e.ticket.unwrap()).await.unwrap()).await.unwrap();
                    n += batches.iter().map(|b| b.num_rows()).sum::<usize>();
                }
                n
            };
            let info = c.execute("SELECT x FROM made".into(), None).await.unwrap();
            let counted = rows_of(info, c.clone()).await;
            let mut p = c.prepare("SELECT pnl FROM pnl WHERE strategy_id = $1 AND seq < $2".into(), None).await.unwrap();
            let params = RecordBatch::try_from_iter([
                ("$1", Arc::new(Int32Array::from(vec![5])) as arrow::array::ArrayRef),
                ("$2", Arc::new(Int32Array::from(vec![10])) as arrow::array::ArrayRef),
            ])
            .unwrap();
            p.set_parameters(params).unwrap();
            let info = p.execute().await.unwrap();
            let prepared_rows = rows_of(info, c.clone()).await;
            p.close().await.unwrap();
            Ok((inserted, counted, prepared_rows))
        })
        .unwrap();
    assert_eq!((inserted, counted, prepared_rows), (3, 3, 10));
}

#[test]
fn sigterm_cancels_a_running_query_after_the_grace_period() {
    let sb = loaded();
    let mut server = Server::start(&sb.path("db"), &[]);
    let rt = Blocking::new(Some(2)).unwrap();
    let remote = rt.run(connect(&server.url(), &options(true))).unwrap();
    let mut rows = rt.run(remote.query(Query::Native("SELECT a.pnl, b.pnl FROM pnl a, pnl b"))).unwrap();
    assert!(matches!(rt.run(async { Ok(futures::StreamExt::next(&mut rows.stream).await) }).unwrap(), Some(Ok(_))));
    server.signal(libc::SIGTERM);
    // This client stops reading: the server must not wait for it for ever (--grace 2).
    let status = server.wait(Duration::from_secs(20)).expect("serve ends after its grace period");
    assert!(status.success(), "{status:?}");
    let rest = rt.run(async {
        while let Some(b) = futures::StreamExt::next(&mut rows.stream).await {
            if let Err(e) = b {
                return Ok(Some(e.to_string()));
            }
        }
        Ok(None)
    });
    assert!(rest.unwrap().is_some(), "a cancelled result is an error, not a short result");
    let r = sb.run(&["sql", "--csv", "SELECT COUNT(*) AS n FROM pnl"]);
    assert_eq!(r.stdout, "n\n20008\n", "{}", r.stderr);
}
