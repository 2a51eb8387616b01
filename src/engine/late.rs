//! Tables made before their rows are known. A run over files makes its long table, and plans
//! its metrics statement over it, while its input files are still being made into its table
//! ([`crate::stages::plan_ahead`]); the rows' recipe ([`Replay`]) is sent once they are.
//! What the planner learnt of the table then is a promise the recipe must keep: the schema,
//! the order of the rows, and for its series view ([`SeriesView`]) a range the days fall in.
//! A recipe that breaks it is refused, and the caller plans again over the real table.
//!
//! Only an engine that keeps recipes ([`super::Engine::keeps_recipes`]) can hold such a table:
//! it reads the recipe when a scan runs. A scan that runs before the recipe is sent fails,
//! naming why, instead of waiting for rows that only the caller's next step can send.

use std::sync::{Arc, Mutex, OnceLock};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;

use super::Replay;
use crate::error::{Error, Result};
use crate::tables::{SeriesView, pnl_schema};

/// A recipe still to come: its schema and order known now, its batches once it is sent.
#[derive(Debug)]
pub struct Late {
    schema: SchemaRef,
    sorted_by: &'static [&'static str],
    recipe: OnceLock<Arc<dyn Replay>>,
    /// For a long table: the range its days are promised to fall in, and the series view the
    /// engine asked for (the table it is named after, and the view's own late recipe).
    days: Option<(i32, i32)>,
    series: Mutex<Option<(String, Arc<Late>)>>,
}

/// The order of a long table's rows ([`crate::load::long::LongPnl`]).
const LONG_ORDER: &[&str] = &["strategy_id", "seq"];
/// The order of a series view's rows.
const SERIES_ORDER: &[&str] = &[SeriesView::ID];

impl Late {
    /// A long table (heavytune's `pnl` schema, rows by strategy then day) whose days will all
    /// fall in `days` (first, last; days since 1970-01-01), with its series view.
    pub fn long_table(days: (i32, i32)) -> Arc<Late> {
        Arc::new(Late {
            schema: pnl_schema(),
            sorted_by: LONG_ORDER,
            recipe: OnceLock::new(),
            days: Some(days),
            series: Mutex::new(None),
        })
    }

    /// Sends the recipe, once checked against what was promised: the same columns and order,
    /// and where the engine made the series view, a series view of the recipe whose days fall
    /// in the promised range. A recipe that breaks the promise is refused (an error saying
    /// how) and the table stays without rows.
    pub fn send(&self, recipe: Arc<dyn Replay>) -> Result<()> {
        let refused = |why: String| Err(Error::internal(format!("a table planned ahead cannot take its rows: {why}")));
        if recipe.schema().fields() != self.schema.fields() || recipe.sorted_by() != self.sorted_by {
            return refused(format!("its columns or order differ ({:?} by {:?})", recipe.schema(), recipe.sorted_by()));
        }
        let series = self.series.lock().map_err(|_| Error::internal("a late table's lock was poisoned"))?.clone();
        let view = match (&series, self.days) {
            (Some((table, late)), Some((first, last))) => {
                let Some(view) = recipe.series(table)? else {
                    return refused(format!("the rows make no series view of {table}"));
                };
                let promised = SeriesView::from_schema(table, &view.schema());
                match promised {
                    Some(v) if v.days.0 >= first && v.days.1 <= last && view.sorted_by() == late.sorted_by => {}
                    _ => {
                        return refused(format!(
                            "the series view of {table} is not one whose days fall in {first}..={last} ({:?})",
                            view.schema().metadata()
                        ));
                    }
                }
                Some((Arc::clone(late), view))
            }
            _ => None,
        };
        if let Some((late, view)) = view {
            late.recipe.set(view).map_err(|_| Error::internal("a late table's rows were sent twice"))?;
        }
        self.recipe.set(recipe).map_err(|_| Error::internal("a late table's rows were sent twice"))
    }

    fn recipe(&self) -> Result<&Arc<dyn Replay>> {
        self.recipe.get().ok_or_else(|| {
            Error::internal("a table planned ahead was read before its rows were sent (or they were refused)")
        })
    }
}

impl Replay for Late {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn batches(&self) -> usize {
        self.recipe.get().map_or(0, |r| r.batches())
    }

    fn known_batches(&self) -> Option<usize> {
        self.recipe.get().map(|r| r.batches())
    }

    fn sorted_by(&self) -> &[&str] {
        self.sorted_by
    }

    fn ready(&self) -> BoxFuture<'static, Result<()>> {
        match self.recipe() {
            Ok(recipe) => recipe.ready(),
            Err(e) => Box::pin(futures::future::ready(Err(e))),
        }
    }

    /// The recipe's batch, under the schema the planner was given (the series view's facts in
    /// its metadata are the promised ones; the columns are the recipe's, checked equal).
    fn batch(&self, i: usize) -> Result<RecordBatch> {
        let batch = self.recipe()?.batch(i)?;
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), batch.columns().to_vec())?)
    }

    /// A long table's series view, late as the table is: its days are the promised range.
    fn series(&self, table: &str) -> Result<Option<Arc<dyn Replay>>> {
        let Some(days) = self.days else { return Ok(None) };
        let view = Arc::new(Late {
            schema: SeriesView { of: table.to_owned(), days }.schema(),
            sorted_by: SERIES_ORDER,
            recipe: OnceLock::new(),
            days: None,
            series: Mutex::new(None),
        });
        *self.series.lock().map_err(|_| Error::internal("a late table's lock was poisoned"))? =
            Some((table.to_owned(), Arc::clone(&view)));
        Ok(Some(view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Blocking, Embedded, Engine, TableSource, fetch_sql};
    use crate::load::arriving::Arriving;
    use crate::load::long::LongPnl;

    fn wide(days: usize) -> crate::load::WideTable {
        crate::synth::generate(&crate::synth::SynthConfig { strategies: 30, days, seed: 7 })
    }

    fn long(wide: &crate::load::WideTable) -> Arc<dyn Replay> {
        let values = arrow::buffer::ScalarBuffer::from(wide.values.clone());
        Arc::new(LongPnl::arriving(Arriving::now(values), wide, 64))
    }

    /// A table made late and planned before its rows came answers, once they are sent, as the
    /// same rows made at once do (the long table and its series view, planned once, run twice).
    #[test]
    fn a_plan_made_before_the_rows_reads_them_once_sent() {
        let wide = wide(9);
        let rt = Blocking::new(Some(2)).unwrap();
        rt.run(async {
            let e = Embedded::in_memory(Some(2));
            let sql = |t: &str| {
                format!(
                    "SELECT l.strategy_id, SUM(l.pnl) AS s, MIN(v.days) AS d FROM {t} l JOIN {t}_series v \
                     ON l.strategy_id = v.strategy_id GROUP BY l.strategy_id ORDER BY l.strategy_id"
                )
            };
            e.create_temporary(TableSource::replayable("now", long(&wide))).await?;
            let want = fetch_sql(&e, &sql("now")).await?;
            let late = Late::long_table((wide.dates[0], wide.dates[wide.dates.len() - 1] + 10));
            e.create_temporary(TableSource::replayable("later", Arc::clone(&late) as _)).await?;
            let prepared =
                e.prepare_statement(&crate::templates::parse(&sql("later"))?).await?.expect("the engine prepares");
            let early = prepared.run().await.unwrap_err().to_string();
            assert!(early.contains("read before its rows were sent"), "{early}");
            late.send(long(&wide))?;
            let columns = |o: crate::engine::QueryOutput| {
                arrow::compute::concat_batches(&o.schema, &o.batches).unwrap().columns().to_vec()
            };
            let want = columns(want);
            assert_eq!(want[0].len(), 30);
            for _ in 0..2 {
                assert_eq!(columns(prepared.run().await?), want);
            }
            Ok(())
        })
        .unwrap();
    }

    /// Rows whose days fall outside the promised range are refused (the series view was
    /// planned on that promise), as are rows of other columns; nothing is sent then.
    #[test]
    fn rows_that_break_the_promise_are_refused() {
        let wide = wide(5);
        let (first, last) = (wide.dates[0], wide.dates[wide.dates.len() - 1]);
        let late = Late::long_table((first + 1, last));
        assert!(late.series("t").unwrap().is_some());
        let err = late.send(long(&wide)).unwrap_err().to_string();
        assert!(err.contains("days fall in"), "{err}");
        assert!(late.recipe().is_err(), "nothing was sent");

        let view = Late::long_table((first, last)).series("t").unwrap().unwrap();
        let late = Late::long_table((first, last));
        let err = late.send(view).unwrap_err().to_string();
        assert!(err.contains("columns or order differ"), "{err}");

        // Without a series view asked for, the days are not looked at.
        let late = Late::long_table((first + 1, last));
        late.send(long(&wide)).unwrap();
        assert_eq!(late.known_batches(), Some(long(&wide).batches()));
    }
}
