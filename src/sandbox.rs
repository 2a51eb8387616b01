//! Session copies of the tables that statements write, so that a statement and its rewrite run
//! on the same starting data and no stored table ever changes (`bench ab`, `explain --analyze`).

use sqlparser::ast::Statement;

use crate::engine::{Engine, QueryOutput, TableSource, fetch_sql, finish_dropping};
use crate::error::Result;
use crate::exec::table_written;
use crate::rewrite::Plan;
use crate::templates::{bare_name, quote_ident};

/// Session copies of the tables a statement and its rewrite write (an UPDATE's target, the
/// tables a plan's follow-ups drop or rename over), so both run on the same starting data and
/// no stored table changes: a copy hides the stored table for the session, and dropping it at
/// the end shows the stored table again.
#[derive(Debug, Default)]
pub struct Sandbox {
    copies: Vec<(String, QueryOutput)>,
    /// Every table either side writes, dropped at the end.
    written: Vec<String>,
}

impl Sandbox {
    pub async fn new(engine: &dyn Engine, original: &Statement, plan: &Plan) -> Result<Sandbox> {
        let mut written: Vec<String> = Vec::new();
        let mut touched: Vec<String> = Vec::new();
        for stmt in std::iter::once(original).chain(std::iter::once(&plan.statement)).chain(&plan.then) {
            if let Some(t) = table_written(stmt) {
                written.push(bare_name(&t));
                if !matches!(stmt, Statement::CreateTable(_)) {
                    touched.push(bare_name(&t));
                }
            }
            if let Statement::Drop { names, .. } = stmt {
                touched.extend(names.iter().map(bare_name));
            }
        }
        written.sort();
        written.dedup();
        touched.sort();
        touched.dedup();
        let mut copies = Vec::new();
        for name in touched {
            if engine.schema(&name).await?.is_some() {
                let copy = fetch_sql(engine, &format!("SELECT * FROM {}", quote_ident(&name))).await?;
                copies.push((name, copy));
            }
        }
        Ok(Sandbox { copies, written })
    }

    /// Puts fresh copies in place (before each run; untimed).
    pub async fn reset(&self, engine: &dyn Engine) -> Result<()> {
        for (name, copy) in &self.copies {
            engine
                .create_temporary(TableSource::from_batches(name.clone(), copy.schema.clone(), copy.batches.clone()))
                .await?;
        }
        Ok(())
    }

    /// Drops the copies and every table the runs wrote; the runs' error wins.
    pub async fn finish<T>(self, engine: &dyn Engine, outcome: Result<T>) -> Result<T> {
        finish_dropping(engine, &self.written, outcome).await
    }
}
