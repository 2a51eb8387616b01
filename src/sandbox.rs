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
        let mut names: Vec<String> = self.copies.into_iter().map(|(name, _)| name).chain(self.written).collect();
        names.sort();
        names.dedup();
        finish_dropping(engine, &names, outcome).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::rewrite::testing::{engine_with, random_case, rt, sql_plan};

    #[test]
    fn finish_drops_every_copy_even_when_a_run_failed_before_its_drop() {
        let rt = rt();
        let (_dir, engine) = engine_with(&rt, &random_case(1, false));
        let names = |e: &dyn Engine| -> Vec<String> {
            rt.run(fetch_sql(e, "SELECT name FROM strategies ORDER BY strategy_id")).unwrap().strings(0).unwrap()
        };
        let stored = names(&engine);
        let original = crate::templates::parse("SELECT * FROM strategies").unwrap();
        let mut plan = sql_plan("SELECT 1");
        plan.then.push(crate::templates::parse("DROP TABLE strategies").unwrap());
        let outcome: Result<()> = rt
            .run(async {
                let sandbox = Sandbox::new(&engine, &original, &plan).await?;
                sandbox.reset(&engine).await?;
                // The session copy changes; the run fails before the plan's DROP.
                fetch_sql(&engine, "UPDATE strategies SET name = 'changed'").await?;
                Ok(sandbox.finish(&engine, Err::<(), _>(Error::internal("a failed run"))).await)
            })
            .unwrap();
        assert!(outcome.is_err());
        assert_eq!(names(&engine), stored, "the copy is dropped and the stored table shows again");
    }
}
