//! `bench ab`: a query and its rewrite run alternately after warm-up (statements that write on
//! session copies of their tables, see [`Sandbox`]), their results compared (order-insensitive,
//! floats to a tolerance) and their times recorded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use heavytune_kernels::gpu::Gpu;

use crate::engine::{Engine, QueryOutput};
use crate::error::{Error, Result};
use crate::exec::{execute_plan_on, execute_statement, timed};
use crate::query::Prepared;
use crate::rewrite::Outcome;
use crate::sandbox::Sandbox;

/// One cell of a result, for order-insensitive comparison.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Cell {
    fn rank(&self) -> u8 {
        match self {
            Cell::Null => 0,
            Cell::Bool(_) => 1,
            Cell::Int(_) => 2,
            Cell::Float(_) => 3,
            Cell::Text(_) => 4,
        }
    }

    fn cmp(&self, other: &Cell) -> std::cmp::Ordering {
        match (self, other) {
            (Cell::Bool(a), Cell::Bool(b)) => a.cmp(b),
            (Cell::Int(a), Cell::Int(b)) => a.cmp(b),
            (Cell::Float(a), Cell::Float(b)) => a.total_cmp(b),
            (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

fn rows_of(out: &QueryOutput) -> Result<Vec<Vec<Cell>>> {
    let mut rows = Vec::with_capacity(out.num_rows());
    for b in &out.batches {
        let mut cols: Vec<Vec<Cell>> = Vec::new();
        for c in b.columns() {
            cols.push(cells(c)?);
        }
        for r in 0..b.num_rows() {
            rows.push(cols.iter().map(|c| c[r].clone()).collect());
        }
    }
    Ok(rows)
}

fn cells(c: &ArrayRef) -> Result<Vec<Cell>> {
    let valid = |i: usize| c.is_valid(i);
    Ok(match c.data_type() {
        DataType::Float64 | DataType::Float32 => {
            let f = arrow::compute::cast(c, &DataType::Float64)?;
            let f = f.as_primitive::<Float64Type>();
            (0..c.len()).map(|i| if valid(i) { Cell::Float(f.value(i)) } else { Cell::Null }).collect()
        }
        DataType::Boolean => {
            let b = c.as_boolean();
            (0..c.len()).map(|i| if valid(i) { Cell::Bool(b.value(i)) } else { Cell::Null }).collect()
        }
        t if t.is_integer() || matches!(t, DataType::Date32 | DataType::Date64) => {
            let i64s = match t {
                DataType::Date32 => {
                    arrow::compute::cast(&arrow::compute::cast(c, &DataType::Int32)?, &DataType::Int64)?
                }
                _ => arrow::compute::cast(c, &DataType::Int64)?,
            };
            let v = i64s.as_primitive::<Int64Type>();
            (0..c.len()).map(|i| if valid(i) { Cell::Int(v.value(i)) } else { Cell::Null }).collect()
        }
        _ => {
            let s = arrow::compute::cast(c, &DataType::Utf8)?;
            let s = s.as_string::<i32>();
            (0..c.len()).map(|i| if s.is_valid(i) { Cell::Text(s.value(i).to_owned()) } else { Cell::Null }).collect()
        }
    })
}

fn cells_equal(a: &Cell, b: &Cell, rel: f64) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= rel * 1f64.max(x.abs()).max(y.abs())
        }
        (Cell::Int(x), Cell::Float(y)) | (Cell::Float(y), Cell::Int(x)) => {
            (*x as f64 - y).abs() <= rel * 1f64.max(y.abs())
        }
        _ => a == b,
    }
}

/// Compares two results as multisets of rows, floats to `rel` relative (relative to
/// max(1, |a|, |b|), so values near 0 compare absolutely). Err says the first difference.
pub fn same_results(a: &QueryOutput, b: &QueryOutput, rel: f64) -> Result<(), String> {
    if a.schema.fields().len() != b.schema.fields().len() {
        return Err(format!("{} columns against {}", a.schema.fields().len(), b.schema.fields().len()));
    }
    let (mut ra, mut rb) = (rows_of(a).map_err(|e| e.to_string())?, rows_of(b).map_err(|e| e.to_string())?);
    if ra.len() != rb.len() {
        return Err(format!("{} rows against {}", ra.len(), rb.len()));
    }
    let order = |x: &Vec<Cell>, y: &Vec<Cell>| {
        x.iter().zip(y).map(|(p, q)| p.cmp(q)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
    };
    ra.sort_by(order);
    rb.sort_by(order);
    for (i, (x, y)) in ra.iter().zip(&rb).enumerate() {
        if !x.iter().zip(y).all(|(p, q)| cells_equal(p, q, rel)) {
            return Err(format!("sorted row {i} differs: {x:?} against {y:?}"));
        }
    }
    Ok(())
}

/// min, median and max of some timings.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(times: &[f64]) -> Spread {
        let mut t = times.to_vec();
        t.sort_by(f64::total_cmp);
        let median = if t.is_empty() {
            f64::NAN
        } else if t.len() % 2 == 1 {
            t[t.len() / 2]
        } else {
            (t[t.len() / 2 - 1] + t[t.len() / 2]) / 2.0
        };
        Spread { min: *t.first().unwrap_or(&f64::NAN), median, max: *t.last().unwrap_or(&f64::NAN) }
    }
}

/// One side of an A/B record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Side {
    pub sql: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Over the runs that finished (none for an original that timed out: see `timed_out`).
    pub seconds: Spread,
    pub times: Vec<f64>,
    /// Whether every run finished within `--timeout`.
    pub finished: bool,
    /// The seconds after which a run was stopped (`--timeout`), when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed_out_after: Option<f64>,
}

/// The record `bench ab` writes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AbRecord {
    pub query: String,
    pub engine: String,
    pub machine: String,
    pub rules_fired: Vec<&'static str>,
    pub runs: u32,
    pub warmup: u32,
    /// `--timeout` for each run of the original, in seconds.
    pub timeout: Option<f64>,
    pub rows: usize,
    pub original: Side,
    pub rewritten: Side,
    /// Whether both gave the same rows; null when it could not be checked (the original did
    /// not finish on the sample either).
    pub equal: Option<bool>,
    /// What `equal` compared: both answers on the full data, or on a sample of strategies
    /// where the original did not finish on the full data.
    pub equal_checked_on: String,
    pub difference: Option<String>,
    /// Median original / median rewritten, when the original finished.
    pub speedup: Option<f64>,
    /// When the original timed out: the timeout / median rewritten, a lower bound.
    pub speedup_at_least: Option<f64>,
    pub finished: String,
    /// What ran the kernel steps (`--device`).
    pub kernels: String,
}

/// The machine, for records: CPU model, cores, OS.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cpu}, {cores} cores, {}", std::env::consts::OS)
}

/// How `bench ab` runs: rounds, the original's time limit, and the sample that checks
/// equality when the original does not finish.
#[derive(Debug, Clone, Copy)]
pub struct AbOptions {
    pub runs: u32,
    pub warmup: u32,
    /// Seconds each run of the original may take.
    pub timeout: Option<f64>,
    /// Strategies in the equality sample.
    pub sample: usize,
    pub seed: u64,
}

/// Runs `f`, stopping it after `limit` seconds: None when it did not finish. Dropping the
/// engine's future stops its query.
async fn limited<T>(limit: Option<f64>, f: impl std::future::Future<Output = Result<T>>) -> Result<Option<(T, f64)>> {
    match limit {
        None => timed(f).await.map(Some),
        // The timer ticks in milliseconds: a run that ends after its limit but before the
        // timer fires has not finished within it either.
        Some(s) => match tokio::time::timeout(std::time::Duration::from_secs_f64(s), timed(f)).await {
            Ok(Ok((out, t))) if t <= s => Ok(Some((out, t))),
            Ok(Ok(_)) | Err(_) => Ok(None),
            Ok(Err(e)) => Err(e),
        },
    }
}

/// Runs the original and the rewritten plan alternately, `warmup` unmeasured rounds then
/// `runs` measured ones (`tick` after each run), and compares the first measured results.
/// An original that runs past `timeout` is stopped and not run again; equality is then
/// checked on a sample of strategies (see [`sampled_equality`]).
pub async fn bench(
    engine: &dyn Engine,
    prepared: &Prepared,
    outcome: &Outcome,
    options: AbOptions,
    kernels: (Option<&Arc<Gpu>>, &str),
    tick: &(dyn Fn() + Sync),
) -> Result<AbRecord> {
    let AbOptions { runs, warmup, timeout, .. } = options;
    // With no rule fired the rewritten plan is the original statement: running it again
    // would time the same SQL twice (and, past --timeout, without a limit).
    let unchanged = outcome.fired().is_empty();
    let sandbox = Sandbox::new(engine, &outcome.original, &outcome.plan).await?;
    let measured = async {
        let (mut t_original, mut t_rewritten) = (Vec::new(), Vec::new());
        let (mut first_a, mut first_b) = (None, None);
        let mut timed_out = false;
        for round in 0..warmup + runs {
            if !timed_out {
                sandbox.reset(engine).await?;
                let run = limited(timeout, execute_statement(engine, &outcome.original))
                    .await
                    .map_err(|e| e.context("running the original query"))?;
                match run {
                    Some((a, ta)) if round >= warmup => {
                        t_original.push(ta);
                        first_a.get_or_insert(a);
                    }
                    Some(_) => {}
                    None => timed_out = true,
                }
            }
            tick();
            if unchanged {
                tick();
                continue;
            }
            sandbox.reset(engine).await?;
            let (b, tb) = timed(execute_plan_on(engine, &outcome.plan, kernels.0))
                .await
                .map_err(|e| e.context("running the rewritten plan"))?;
            tick();
            if round >= warmup {
                t_rewritten.push(tb);
                first_b.get_or_insert(b);
            }
        }
        Ok((t_original, t_rewritten, first_a, first_b, timed_out))
    }
    .await;
    let (t_original, t_rewritten, first_a, first_b, timed_out) = sandbox.finish(engine, measured).await?;
    let sr = Spread::of(&t_rewritten);
    let rows = match (&first_b, &first_a) {
        (Some(b), _) | (None, Some(b)) => b.num_rows(),
        (None, None) if unchanged => 0,
        (None, None) => return Err(Error::invalid("--runs", "at least one measured run")),
    };
    let (equal, equal_checked_on, speedup, speedup_at_least, so) = match (timed_out, first_a, first_b) {
        (_, _, None) => {
            let how = "not checked: no rule fired, so the rewritten plan is the original statement and was not run";
            (None, how.to_owned(), None, None, Spread::of(&t_original))
        }
        (false, Some(a), Some(b)) => {
            let so = Spread::of(&t_original);
            let equal = Some(same_results(&a, &b, 1e-9));
            (equal, "the full data".to_owned(), Some(so.median / sr.median.max(1e-12)), None, so)
        }
        (_, _, Some(_)) => {
            let limit = timeout.unwrap_or(f64::INFINITY);
            let (equal, how) = sampled_equality(engine, outcome, options, kernels.0).await?;
            (equal, how, None, Some(limit / sr.median.max(1e-12)), Spread::of(&[]))
        }
    };
    Ok(AbRecord {
        query: prepared.name.clone(),
        engine: engine.describe(),
        machine: machine(),
        rules_fired: outcome.fired(),
        runs,
        warmup,
        timeout,
        rows,
        original: Side {
            sql: outcome.original.to_string(),
            kernel: None,
            seconds: so,
            times: t_original,
            finished: !timed_out,
            timed_out_after: timed_out.then_some(timeout).flatten(),
        },
        rewritten: Side {
            sql: outcome.plan.statement.to_string(),
            kernel: outcome.plan.describe_kernels(),
            seconds: sr,
            times: t_rewritten,
            finished: !unchanged,
            timed_out_after: None,
        },
        equal: equal.as_ref().map(|e| e.is_ok()),
        equal_checked_on,
        difference: equal.and_then(|e| e.err()),
        speedup,
        speedup_at_least,
        finished: chrono::Local::now().format("%Y%m%d_%H%M%S").to_string(),
        kernels: kernels.1.to_owned(),
    })
}

/// Where the original does not finish on the full data: both sides run on session copies of
/// every table the query reads that has a `strategy_id` column, restricted to `sample`
/// strategies drawn with `seed` (the copies hide the stored tables for the session and are
/// dropped after). The original runs under the same timeout there. Answers the comparison
/// (None where it could not be made) and a description of the sample for the record.
pub async fn sampled_equality(
    engine: &dyn Engine,
    outcome: &Outcome,
    options: AbOptions,
    gpu: Option<&Arc<Gpu>>,
) -> Result<(Option<Result<(), String>>, String)> {
    if !matches!(outcome.original, sqlparser::ast::Statement::Query(_)) {
        return Ok((None, "not checked: the original writes a table and did not finish".into()));
    }
    let mut names = Vec::new();
    let _ = sqlparser::ast::visit_relations(&outcome.original, |r: &sqlparser::ast::ObjectName| {
        names.push(crate::templates::bare_name(r));
        std::ops::ControlFlow::<()>::Continue(())
    });
    names.sort();
    names.dedup();
    let mut tables = Vec::new();
    for name in names {
        if let Some(schema) = engine.schema(&name).await?
            && schema.field_with_name("strategy_id").is_ok()
        {
            tables.push(name);
        }
    }
    let Some(first) = tables.first() else {
        return Ok((None, "not checked: the original did not finish and reads no table with strategy_id".into()));
    };
    let quoted = |t: &str| crate::templates::quote_ident(t);
    let ids = crate::engine::fetch_sql(
        engine,
        &format!("SELECT DISTINCT strategy_id FROM {} ORDER BY strategy_id", quoted(first)),
    )
    .await?
    .i64s("strategy_id")?;
    let mut ids: Vec<i64> = ids.into_iter().flatten().collect();
    let total = ids.len();
    {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        ids.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(options.seed));
    }
    ids.truncate(options.sample.max(1));
    ids.sort_unstable();
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let mut copies = crate::engine::Temporaries::new(engine);
    let result = async {
        for t in &tables {
            let rows =
                crate::engine::fetch_sql(engine, &format!("SELECT * FROM {} WHERE strategy_id IN ({list})", quoted(t)))
                    .await?;
            copies.create(crate::engine::TableSource::from_batches(t.clone(), rows.schema, rows.batches)).await?;
        }
        let original = limited(options.timeout, execute_statement(engine, &outcome.original)).await?;
        let rewritten = execute_plan_on(engine, &outcome.plan, gpu).await?;
        Ok((original, rewritten))
    }
    .await;
    let (original, rewritten) = copies.finish(result).await?;
    let how = format!(
        "a sample of {} of {total} strategies (seed {}): session copies of {} restricted to them",
        ids.len(),
        options.seed,
        tables.join(", ")
    );
    match original {
        None => Ok((None, format!("not checked: the original did not finish on {how} either"))),
        Some((a, _)) => Ok((Some(same_results(&a, &rewritten, 1e-9)), how)),
    }
}

/// Writes the record as `<dir>/<query>_<finished>.json`; returns the path.
pub fn write_record(dir: &Path, record: &AbRecord) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let path = dir.join(format!("{}_{}.json", record.query, record.finished));
    let text = serde_json::to_string_pretty(record).map_err(|e| Error::internal(format!("record JSON: {e}")))? + "\n";
    std::fs::write(&path, text).map_err(|e| Error::write(&path, e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::{Float64Array, Int64Array, RecordBatch};
    use std::sync::Arc;

    fn out(cols: Vec<(&str, ArrayRef)>) -> QueryOutput {
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        QueryOutput { schema: batch.schema(), batches: vec![batch] }
    }

    #[test]
    fn comparison_ignores_order_and_tiny_float_noise_only() {
        let a = out(vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("c", Arc::new(Float64Array::from(vec![Some(0.5), None])) as ArrayRef),
        ]);
        let b = out(vec![
            ("id", Arc::new(arrow::array::Int32Array::from(vec![2, 1])) as ArrayRef),
            ("c", Arc::new(Float64Array::from(vec![None, Some(0.5 + 1e-13)])) as ArrayRef),
        ]);
        assert_eq!(same_results(&a, &b, 1e-9), Ok(()));
        let c = out(vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("c", Arc::new(Float64Array::from(vec![Some(0.5001), None])) as ArrayRef),
        ]);
        assert!(same_results(&a, &c, 1e-9).unwrap_err().contains("differs"));
    }

    #[test]
    fn equality_on_a_sample_runs_both_sides_on_restricted_copies() {
        use crate::rewrite::testing::{engine_with, random_case_of, rt};
        let rt = rt();
        let (_dir, engine) = engine_with(&rt, &random_case_of(3, false, Some(6)));
        let stmt = crate::templates::parse(
            "SELECT a.strategy_id AS x, b.strategy_id AS y, CORR(a.pnl, b.pnl) AS c FROM pnl a JOIN pnl b \
             ON a.trade_date = b.trade_date GROUP BY a.strategy_id, b.strategy_id",
        )
        .unwrap();
        let ctx = rt.run(crate::rewrite::Context::discover(&engine, &stmt)).unwrap();
        let outcome = crate::rewrite::optimize(stmt, &ctx, None).unwrap();
        let options = AbOptions { runs: 1, warmup: 0, timeout: None, sample: 2, seed: 7 };
        let (equal, how) = rt.run(sampled_equality(&engine, &outcome, options, None)).unwrap();
        assert_eq!(equal, Some(Ok(())), "{how}");
        assert!(how.starts_with("a sample of 2 of ") && how.contains("copies of pnl"), "{how}");
        // The copies are gone: the stored table shows again.
        let n = rt.run(crate::engine::fetch_sql(&engine, "SELECT COUNT(DISTINCT strategy_id) AS n FROM pnl")).unwrap();
        assert!(n.i64s("n").unwrap()[0].unwrap() > 2);
    }

    #[test]
    fn spread_median() {
        let s = Spread::of(&[3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 10.0));
    }
}
