//! Running plans and comparing results: what `explain --analyze` and `bench ab` measure.
//!
//! A plan's SQL runs on the engine; a kernel step then takes its Arrow batches. Statements
//! that write (CREATE TABLE AS, UPDATE) are compared by the table they leave behind.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use sqlparser::ast::Statement;

use crate::engine::{Engine, QueryOutput};
use crate::error::{Error, Result};
use crate::kernels::corr::Standardized;
use crate::rewrite::{CorrOutput, KernelStep, Plan};

/// Most rows a kernel step returns as Arrow; the full request streams instead (see the bench).
pub const MAX_KERNEL_ROWS: usize = 50_000_000;

/// Runs a statement and returns what it produced: its rows, or the table it wrote.
pub fn execute_statement(engine: &dyn Engine, stmt: &Statement) -> Result<QueryOutput> {
    match stmt {
        Statement::CreateTable(ct) if ct.query.is_some() => {
            let _ = engine.execute(&format!("DROP TABLE IF EXISTS {}", ct.name));
            engine.execute(&stmt.to_string())?;
            engine.execute(&format!("SELECT * FROM {}", ct.name))
        }
        Statement::Update(u) => {
            engine.execute(&stmt.to_string())?;
            engine.execute(&format!("SELECT * FROM {}", u.table.relation))
        }
        _ => engine.execute(&stmt.to_string()),
    }
}

/// Runs a plan: its SQL, then its kernel step on the SQL's Arrow output.
pub fn execute_plan(engine: &dyn Engine, plan: &Plan) -> Result<QueryOutput> {
    let out = execute_statement(engine, &plan.statement)?;
    match &plan.kernel {
        None => Ok(out),
        Some(KernelStep::PairwiseCorr { outputs }) => pairwise_corr(&out, outputs),
    }
}

/// Reads (id, key, z) rows ordered by id then key into standardized rows.
pub fn standardized_rows(out: &QueryOutput) -> Result<(Vec<i64>, Standardized)> {
    let mut ids: Vec<i64> = Vec::new();
    let mut z = Vec::with_capacity(out.num_rows());
    let mut counts: Vec<usize> = Vec::new();
    let mut flat: Vec<bool> = Vec::new();
    for b in &out.batches {
        let id = arrow::compute::cast(b.column(0), &DataType::Int64)?;
        let id = id.as_primitive::<Int64Type>();
        let zs = b.column(2).as_primitive_opt::<Float64Type>().ok_or_else(|| {
            Error::invalid("kernel input", format!("z is {}, expected DOUBLE", b.column(2).data_type()))
        })?;
        for i in 0..b.num_rows() {
            if ids.last() != Some(&id.value(i)) {
                ids.push(id.value(i));
                counts.push(0);
                flat.push(false);
            }
            *counts.last_mut().expect("pushed") += 1;
            if zs.is_null(i) {
                *flat.last_mut().expect("pushed") = true;
                z.push(0.0);
            } else {
                z.push(zs.value(i));
            }
        }
    }
    let d = counts.first().copied().unwrap_or(0);
    if let Some(i) = counts.iter().position(|&c| c != d) {
        return Err(Error::invalid(
            "kernel input",
            format!("strategy {} has {} days where the first has {d}: not a complete panel", ids[i], counts[i]),
        ));
    }
    let n = ids.len();
    Ok((ids, Standardized { n, d, z, flat }))
}

fn pairwise_corr(out: &QueryOutput, outputs: &[(CorrOutput, String)]) -> Result<QueryOutput> {
    let (ids, s) = standardized_rows(out)?;
    let n = s.n;
    if n * n > MAX_KERNEL_ROWS {
        return Err(Error::invalid(
            "kernel output",
            format!("{n} strategies make {} pairs, too many to return as rows; narrow the candidate set", n * n),
        ));
    }
    let m = s.matrix();
    let id_a = Int64Array::from_iter_values((0..n).flat_map(|i| std::iter::repeat_n(ids[i], n)));
    let id_b = Int64Array::from_iter_values((0..n).flat_map(|_| ids.iter().copied()));
    let corr = Float64Array::from_iter((0..n * n).map(|k| {
        let (i, j) = (k / n, k % n);
        (!s.flat[i] && !s.flat[j]).then_some(m[k])
    }));
    let (id_a, id_b, corr): (ArrayRef, ArrayRef, ArrayRef) = (Arc::new(id_a), Arc::new(id_b), Arc::new(corr));
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (kind, name) in outputs {
        let (t, col) = match kind {
            CorrOutput::IdA => (DataType::Int64, id_a.clone()),
            CorrOutput::IdB => (DataType::Int64, id_b.clone()),
            CorrOutput::Corr => (DataType::Float64, corr.clone()),
        };
        fields.push(Field::new(name, t, true));
        columns.push(col);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(QueryOutput { schema, batches: vec![batch] })
}

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

/// Wall seconds of one call.
pub fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = Instant::now();
    let out = f()?;
    Ok((out, start.elapsed().as_secs_f64()))
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

#[cfg(test)]
mod tests {
    use super::*;

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
