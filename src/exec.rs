//! Running a rewritten [`Plan`] on an engine: its statement, the follow-up statements, then
//! its kernel step on the SQL's Arrow output. Statements that write (`CREATE TABLE AS`,
//! `UPDATE`, a rename) answer with the table they leave behind, so a plan and the statement it
//! replaces can be compared.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use heavytune_kernels::Standardized;
use heavytune_kernels::gpu::{Gpu, GpuCorr};
use sqlparser::ast::{AlterTableOperation, ObjectName, RenameTableNameKind, Statement};

use crate::engine::{Engine, QueryOutput, TableSource, Temporaries, fetch};
use crate::error::{Error, Result};
use crate::rewrite::{CorrOutput, KernelStep, Plan};
use crate::templates::bare_name;

/// Most rows a kernel step returns as Arrow; the full request streams instead (see the bench).
pub const MAX_KERNEL_ROWS: usize = 50_000_000;

/// The table a statement leaves behind, if it writes one.
pub fn table_written(stmt: &Statement) -> Option<ObjectName> {
    match stmt {
        Statement::CreateTable(ct) if ct.query.is_some() => Some(ct.name.clone()),
        Statement::Update(u) => match &u.table.relation {
            sqlparser::ast::TableFactor::Table { name, .. } => Some(name.clone()),
            _ => None,
        },
        Statement::AlterTable(a) => a.operations.iter().find_map(|op| match op {
            AlterTableOperation::RenameTable {
                table_name: RenameTableNameKind::To(t) | RenameTableNameKind::As(t),
            } => Some(t.clone()),
            _ => None,
        }),
        _ => None,
    }
}

fn select_all(table: &ObjectName) -> Result<Statement> {
    crate::templates::parse(&format!("SELECT * FROM {table}"))
}

/// Before a `CREATE TABLE AS`: drops a session table of its name left by an earlier run
/// (`drop_temporary` never drops a stored table: the engine then refuses the CTAS).
async fn clear_target(engine: &dyn Engine, stmt: &Statement) -> Result<()> {
    if let Statement::CreateTable(ct) = stmt
        && ct.query.is_some()
    {
        engine.drop_temporary(&bare_name(&ct.name)).await?;
    }
    Ok(())
}

/// Runs a statement and returns what it produced: its rows, or the table it wrote.
pub async fn execute_statement(engine: &dyn Engine, stmt: &Statement) -> Result<QueryOutput> {
    run_statements(engine, stmt, &[]).await
}

/// Runs a plan: its statement and follow-ups, then its kernel step on the SQL's output. The
/// answer is the last table written, else the last statement's rows.
pub async fn execute_plan(engine: &dyn Engine, plan: &Plan) -> Result<QueryOutput> {
    execute_plan_on(engine, plan, None).await
}

/// As [`execute_plan`], with the kernel step's matrix product on `gpu` when given.
pub async fn execute_plan_on(engine: &dyn Engine, plan: &Plan, gpu: Option<&Arc<Gpu>>) -> Result<QueryOutput> {
    let mut tables = Temporaries::new(engine);
    let result = async {
        for t in &plan.kernel_tables {
            let input = fetch(engine, &t.input).await?;
            let pairs = [(CorrOutput::IdA, "ht_id_a"), (CorrOutput::IdB, "ht_id_b"), (CorrOutput::Corr, "ht_corr")]
                .map(|(k, n)| (k, n.to_owned()));
            let out = pairwise_corr(&input, &pairs, gpu)?;
            engine.drop_temporary(&t.name.value).await?;
            tables.create(TableSource::from_batches(t.name.value.clone(), out.schema, out.batches)).await?;
        }
        let out = run_statements(engine, &plan.statement, &plan.then).await?;
        match &plan.kernel {
            None => Ok(out),
            Some(KernelStep::PairwiseCorr { outputs }) => pairwise_corr(&out, outputs, gpu),
        }
    }
    .await;
    tables.finish(result).await
}

/// Runs `first` (after clearing a session table its CTAS would collide with), then `then` in
/// order; answers with the last table written, else the last statement's rows.
async fn run_statements(engine: &dyn Engine, first: &Statement, then: &[Statement]) -> Result<QueryOutput> {
    clear_target(engine, first).await?;
    let mut last = fetch(engine, first).await?;
    let mut written = table_written(first);
    for stmt in then {
        last = fetch(engine, stmt).await?;
        written = table_written(stmt).or(written);
    }
    match written {
        Some(t) => fetch(engine, &select_all(&t)?).await,
        None => Ok(last),
    }
}

/// Wall seconds of one future.
pub async fn timed<T>(f: impl Future<Output = Result<T>>) -> Result<(T, f64)> {
    let start = Instant::now();
    let out = f.await?;
    Ok((out, start.elapsed().as_secs_f64()))
}

/// Reads (id, key, z) rows ordered by id then key into standardized rows.
pub fn standardized_rows(out: &QueryOutput) -> Result<(Vec<i64>, Standardized)> {
    let fields = out.schema.fields();
    let (Some(id), Some(z)) = (fields.first(), fields.get(2)) else {
        return Err(Error::engine("kernel input", format!("{} columns where (id, key, z) were asked", fields.len())));
    };
    let (id_name, z_name) = (id.name().clone(), z.name().clone());
    let ids_col = out.i64s(&id_name)?;
    let zs = out.f64s(&z_name)?;
    let mut ids: Vec<i64> = Vec::new();
    let mut z = Vec::with_capacity(zs.len());
    let mut counts: Vec<usize> = Vec::new();
    let mut flat: Vec<bool> = Vec::new();
    for (id, v) in ids_col.into_iter().zip(zs) {
        let id = id.ok_or_else(|| Error::engine("kernel input", "a NULL strategy id"))?;
        if ids.last() != Some(&id) {
            ids.push(id);
            counts.push(0);
            flat.push(false);
        }
        *counts.last_mut().expect("pushed") += 1;
        match v {
            None => {
                *flat.last_mut().expect("pushed") = true;
                z.push(0.0);
            }
            Some(v) => z.push(v),
        }
    }
    let d = counts.first().copied().unwrap_or(0);
    if let Some(i) = counts.iter().position(|&c| c != d) {
        return Err(Error::engine(
            "kernel input",
            format!("strategy {} has {} days where the first has {d}: not a complete panel", ids[i], counts[i]),
        ));
    }
    let n = ids.len();
    Ok((ids, Standardized { n, d, z, flat }))
}

fn pairwise_corr(out: &QueryOutput, outputs: &[(CorrOutput, String)], gpu: Option<&Arc<Gpu>>) -> Result<QueryOutput> {
    let (ids, s) = standardized_rows(out)?;
    let n = s.n;
    if n * n > MAX_KERNEL_ROWS {
        return Err(Error::data(
            "kernel output",
            format!("{n} strategies make {} pairs, too many to return as rows; narrow the candidate set", n * n),
        ));
    }
    let m = match gpu {
        None => s.matrix(),
        Some(g) => {
            let mut m = vec![0.0; n * n];
            GpuCorr::new(Arc::clone(g), &s)
                .and_then(|c| c.gram_block(0..n, &mut m))
                .map_err(|e| Error::invalid("--device", format!("the correlation product on the GPU: {e}")))?;
            m
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::parse;

    #[test]
    fn writing_statements_name_the_table_they_leave() {
        let t = |sql: &str| table_written(&parse(sql).unwrap()).map(|n| n.to_string());
        assert_eq!(t("CREATE TABLE a AS SELECT 1"), Some("a".into()));
        assert_eq!(t("UPDATE pnl SET pnl = 0"), Some("pnl".into()));
        assert_eq!(t("ALTER TABLE a RENAME TO b"), Some("b".into()));
        assert_eq!(t("SELECT 1"), None);
        assert_eq!(t("DROP TABLE a"), None);
    }
}
