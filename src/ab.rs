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
    pub seconds: Spread,
    pub times: Vec<f64>,
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
    pub rows: usize,
    pub original: Side,
    pub rewritten: Side,
    pub equal: bool,
    pub difference: Option<String>,
    pub speedup: f64,
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

/// Runs the original and the rewritten plan alternately, `warmup` unmeasured rounds then
/// `runs` measured ones (`tick` after each run), and compares the first measured results.
pub async fn bench(
    engine: &dyn Engine,
    prepared: &Prepared,
    outcome: &Outcome,
    runs: u32,
    warmup: u32,
    kernels: (Option<&Arc<Gpu>>, &str),
    tick: &(dyn Fn() + Sync),
) -> Result<AbRecord> {
    let sandbox = Sandbox::new(engine, &outcome.original, &outcome.plan).await?;
    let measured = async {
        let (mut t_original, mut t_rewritten) = (Vec::new(), Vec::new());
        let mut first: Option<(QueryOutput, QueryOutput)> = None;
        for round in 0..warmup + runs {
            sandbox.reset(engine).await?;
            let (a, ta) = timed(execute_statement(engine, &outcome.original))
                .await
                .map_err(|e| e.context("running the original query"))?;
            tick();
            sandbox.reset(engine).await?;
            let (b, tb) = timed(execute_plan_on(engine, &outcome.plan, kernels.0))
                .await
                .map_err(|e| e.context("running the rewritten plan"))?;
            tick();
            if round >= warmup {
                t_original.push(ta);
                t_rewritten.push(tb);
                first.get_or_insert((a, b));
            }
        }
        Ok((t_original, t_rewritten, first))
    }
    .await;
    let (t_original, t_rewritten, first) = sandbox.finish(engine, measured).await?;
    let (a, b) = first.ok_or_else(|| Error::invalid("--runs", "at least one measured run"))?;
    let difference = same_results(&a, &b, 1e-9).err();
    let (so, sr) = (Spread::of(&t_original), Spread::of(&t_rewritten));
    Ok(AbRecord {
        query: prepared.name.clone(),
        engine: engine.describe(),
        machine: machine(),
        rules_fired: outcome.fired(),
        runs,
        warmup,
        rows: a.num_rows(),
        original: Side { sql: outcome.original.to_string(), kernel: None, seconds: so, times: t_original },
        rewritten: Side {
            sql: outcome.plan.statement.to_string(),
            kernel: outcome.plan.kernel.as_ref().map(|k| k.describe()),
            seconds: sr,
            times: t_rewritten,
        },
        equal: difference.is_none(),
        difference,
        speedup: so.median / sr.median.max(1e-12),
        finished: chrono::Local::now().format("%Y%m%d_%H%M%S").to_string(),
        kernels: kernels.1.to_owned(),
    })
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
    fn spread_median() {
        let s = Spread::of(&[3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 10.0));
    }
}
