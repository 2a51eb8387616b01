//! Session tables a job creates on an engine (its input, intermediate CTAS results), kept in
//! one place so they are dropped when the job ends, also when it fails: on a shared server
//! nothing of a run may stay behind.

use sqlparser::ast::Statement;

use super::{Engine, TableSource};
use crate::error::Result;

/// The temporary tables of one job. Create them through it, and hand the job's outcome,
/// success or error, to [`Temporaries::finish`], which drops them.
pub struct Temporaries<'e> {
    engine: &'e dyn Engine,
    names: Vec<String>,
}

impl<'e> Temporaries<'e> {
    pub fn new(engine: &'e dyn Engine) -> Self {
        Temporaries { engine, names: Vec::new() }
    }

    pub fn engine(&self) -> &'e dyn Engine {
        self.engine
    }

    /// Creates a session table from batches.
    pub async fn create(&mut self, table: TableSource) -> Result<()> {
        let name = table.name.clone();
        self.engine.create_temporary(table).await?;
        self.names.push(name);
        Ok(())
    }

    /// Creates a session table from a query.
    pub async fn create_as(&mut self, name: &str, query: &Statement) -> Result<()> {
        self.engine.create_temporary_as(name, query).await?;
        self.names.push(name.to_owned());
        Ok(())
    }

    /// Drops every table, newest first, after a job: the job's error wins over a failure to
    /// drop (tried for every table all the same).
    pub async fn finish<T>(self, outcome: Result<T>) -> Result<T> {
        let names: Vec<String> = self.names.into_iter().rev().collect();
        finish_dropping(self.engine, &names, outcome).await
    }
}

/// Drops `names` (session tables) after a job, trying every one; the job's error wins, then
/// the first failure to drop.
pub async fn finish_dropping<T>(engine: &dyn Engine, names: &[String], outcome: Result<T>) -> Result<T> {
    let mut dropped = Ok(());
    for name in names {
        if let Err(e) = engine.drop_temporary(name).await
            && dropped.is_ok()
        {
            dropped = Err(e);
        }
    }
    let value = outcome?;
    dropped.map(|_| value)
}
