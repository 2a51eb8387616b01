//! `ht_series_of(values)`: the figures of `ht_series` for a series already in day order, one
//! list per row. It is what `ht_series(value, seq)` gives for a group whose values are that
//! list, bit for bit (the same code computes the figures), without grouping rows: the rule
//! series_view reads a long table's per-strategy series view through it.
//!
//! NULL items are skipped, as `ht_series` skips NULL values; a NULL list gives a NULL struct.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, GenericListArray, OffsetSizeTrait, StructArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::series::{FigureColumns, LANES, figures, figures_side_by_side, figures_type};

/// The `ht_series_of` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SeriesOf {
    signature: Signature,
}

impl SeriesOf {
    pub const NAME: &'static str = "ht_series_of";

    pub fn new() -> Self {
        SeriesOf { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl Default for SeriesOf {
    fn default() -> Self {
        Self::new()
    }
}

/// A list type of numbers as the function reads it: its items as Float64, same list kind.
fn as_float_list(t: &DataType) -> Option<DataType> {
    let item = |f: &Arc<Field>| {
        (f.data_type().is_numeric() || f.data_type().is_null())
            .then(|| Arc::new(Field::new(f.name(), DataType::Float64, true)))
    };
    match t {
        DataType::List(f) => item(f).map(DataType::List),
        DataType::LargeList(f) => item(f).map(DataType::LargeList),
        DataType::FixedSizeList(f, _) => item(f).map(DataType::List),
        _ => None,
    }
}

/// The figures of every row of a list array of Float64.
fn figures_of<O: OffsetSizeTrait>(lists: &GenericListArray<O>) -> Result<ArrayRef> {
    let values = lists.values().as_primitive::<Float64Type>();
    let (items, item_nulls) = (values.values(), values.nulls());
    let mut columns = FigureColumns::with_capacity(lists.len());
    let mut kept = Vec::new();
    let offsets = lists.offsets();
    // A row's values when it is a list without NULL items (`None`: a NULL list, or one
    // holding NULL items).
    let whole = |row: usize| {
        let (a, b) = (offsets[row].as_usize(), offsets[row + 1].as_usize());
        let clean = lists.is_valid(row) && item_nulls.is_none_or(|n| n.slice(a, b - a).null_count() == 0);
        clean.then(|| &items[a..b])
    };
    let mut row = 0;
    while row < lists.len() {
        // Runs of LANES plain lists go side by side (same bits as one by one).
        if row + LANES <= lists.len() {
            let run: [Option<&[f64]>; LANES] = std::array::from_fn(|l| whole(row + l));
            if run.iter().all(Option::is_some)
                && let Some(together) = figures_side_by_side(run.map(Option::unwrap_or_default))
            {
                for f in &together {
                    columns.append_present(f);
                }
                row += LANES;
                continue;
            }
        }
        let f = match (whole(row), item_nulls) {
            (Some(x), _) => figures(x),
            (None, _) if lists.is_null(row) => [None; super::series::FIGURES],
            // A list holding NULL items: the figures of its other items.
            (None, n) => {
                let (a, b) = (offsets[row].as_usize(), offsets[row + 1].as_usize());
                kept.clear();
                kept.extend((a..b).filter(|&i| n.is_none_or(|n| n.is_valid(i))).map(|i| items[i]));
                figures(&kept)
            }
        };
        columns.append(&f);
        row += 1;
    }
    let DataType::Struct(fields) = figures_type() else { unreachable!("figures_type is a struct") };
    let nulls: Option<NullBuffer> = lists.nulls().cloned();
    Ok(Arc::new(StructArray::try_new(fields, columns.finish(true), nulls)?))
}

impl ScalarUDFImpl for SeriesOf {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [t] => match as_float_list(t) {
                // A list of Float64 is read as it is (items nullable or not: no cast, no copy).
                Some(_) if matches!(t, DataType::List(f) | DataType::LargeList(f) if f.data_type() == &DataType::Float64) => {
                    Ok(vec![t.clone()])
                }
                Some(list) => Ok(vec![list]),
                None => plan_err!("{}(values) takes a list of numbers in day order, not {t}", Self::NAME),
            },
            _ => plan_err!("{}(values) takes one argument, a list of numbers in day order", Self::NAME),
        }
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(figures_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return plan_err!("{}(values) takes one argument", Self::NAME);
        };
        let scalar = matches!(arg, ColumnarValue::Scalar(_));
        let array = arg.to_array(args.number_rows)?;
        let out = match array.data_type() {
            DataType::List(_) => figures_of(array.as_list::<i32>())?,
            DataType::LargeList(_) => figures_of(array.as_list::<i64>())?,
            other => return plan_err!("{}(values) got {other}, not a list of Float64", Self::NAME),
        };
        Ok(if scalar {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backends::functions::OrderedSeries;
    use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
    use datafusion::prelude::SessionContext;

    fn rows(ctx: &SessionContext, sql: &str) -> Vec<arrow::record_batch::RecordBatch> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async { ctx.sql(sql).await.unwrap().collect().await.unwrap() })
    }

    /// Each list's figures are those ht_series gives for the same values grouped by rows, bit
    /// for bit, with NULL items skipped; a NULL list gives NULL, an empty one no figures.
    #[test]
    fn a_list_gives_the_figures_of_its_rows_grouped() {
        use arrow::array::{Float64Builder, Int64Array, ListBuilder};
        let ctx = SessionContext::new();
        ctx.register_udf(ScalarUDF::from(SeriesOf::new()));
        ctx.register_udaf(AggregateUDF::from(OrderedSeries::new()));
        let series: [&[Option<f64>]; 5] = [
            &[Some(1.5), Some(-2.25), Some(0.1), Some(3.0), Some(-0.7)],
            &[Some(2.0), Some(2.0), Some(2.0)],
            &[Some(0.3), None, Some(-1e-9), Some(7.0)],
            &[Some(-4.0)],
            &[None, None],
        ];
        let mut long = Vec::new();
        let mut lists = ListBuilder::new(Float64Builder::new());
        for (s, vs) in series.iter().enumerate() {
            for (d, v) in vs.iter().enumerate() {
                long.push(format!("({s}, {d}, {})", v.map_or("NULL".to_string(), |v| format!("{v:e}"))));
            }
            lists.append_value(vs.iter().copied());
        }
        lists.append_null();
        lists.append_value(std::iter::empty::<Option<f64>>());
        let lists = arrow::record_batch::RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from_iter_values(0..7)) as ArrayRef),
            ("vs", Arc::new(lists.finish()) as ArrayRef),
        ])
        .unwrap();
        ctx.register_batch("lists", lists).unwrap();
        let by_rows = format!(
            "SELECT id, ht_series(v, d) AS f FROM (VALUES {}) AS t(id, d, v) GROUP BY id ORDER BY id",
            long.join(", ")
        );
        let grouped = rows(&ctx, &by_rows);
        let listed = rows(&ctx, "SELECT id, ht_series_of(vs) AS f FROM lists ORDER BY id");
        let grouped = arrow::compute::concat_batches(&grouped[0].schema(), &grouped).unwrap();
        let listed = arrow::compute::concat_batches(&listed[0].schema(), &listed).unwrap();
        assert_eq!(grouped.num_rows(), 5);
        assert_eq!(grouped.column(1).as_ref(), &listed.column(1).slice(0, 5));
        let f = listed.column(1).as_struct();
        assert!(f.is_null(5));
        assert!(f.is_valid(6) && f.column_by_name("sum").unwrap().is_null(6));
        assert_eq!(f.column_by_name("wins").unwrap().as_primitive::<arrow::datatypes::Int64Type>().value(6), 0);
    }

    #[test]
    fn anything_but_a_list_of_numbers_is_refused_with_its_type() {
        let ctx = SessionContext::new();
        ctx.register_udf(ScalarUDF::from(SeriesOf::new()));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let err = rt.block_on(async { ctx.sql("SELECT ht_series_of('x')").await.err().unwrap() });
        assert!(err.to_string().contains("takes a list of numbers in day order, not Utf8"), "{err}");
    }

    /// A batch of lists gives each row the figures of that row alone, bit for bit, whether it
    /// went side by side with its neighbours (runs of plain lists of one length, or not) or
    /// alone (a NULL list, NULL items, the tail of the batch).
    #[test]
    fn each_row_gets_its_own_figures_side_by_side_or_alone() {
        use arrow::array::{Float64Builder, ListBuilder};
        let plain = |v: &[f64]| Some(v.iter().copied().map(Some).collect::<Vec<_>>());
        let mut rows: Vec<Option<Vec<Option<f64>>>> = vec![
            // A run of plain lists of one length: side by side.
            plain(&[1.5, -2.25, 0.1]),
            plain(&[0.3, 0.3, 0.3]),
            plain(&[-1e-9, 7.0, -0.0]),
            plain(&[4.0, f64::NAN, -3.5]),
            plain(&[f64::INFINITY, 1.0, -2.0]),
            plain(&[-0.0, -0.0, -0.0]),
            plain(&[0.5, 0.25, -8.0]),
            plain(&[-0.1, 0.2, 0.3]),
            // Runs broken by lengths, a NULL list, NULL items, an empty list: alone.
            plain(&[2.0, -1.0]),
            plain(&[0.5, 0.25, -8.0, 1.0]),
            plain(&[9.0]),
            plain(&[-0.1, 0.2, 0.3]),
            None,
            Some(vec![Some(1.0), None, Some(-2.0)]),
            Some(vec![]),
            plain(&[6.0, -6.0, 6.5]),
        ];
        assert_eq!(rows.len(), 2 * LANES, "the first run is one whole run of lanes");
        // The tail of the batch, shorter than a run.
        rows.push(plain(&[1.0, 2.0, 3.0]));
        let mut b = ListBuilder::new(Float64Builder::new());
        for r in &rows {
            b.append_option(r.clone());
        }
        let out = figures_of(&b.finish()).unwrap();
        let out = out.as_struct();
        for (i, r) in rows.iter().enumerate() {
            let want = r.as_ref().map(|v| figures(&v.iter().flatten().copied().collect::<Vec<f64>>()));
            let got: Option<Vec<Option<u64>>> = out.is_valid(i).then(|| {
                (0..super::super::series::FIGURES)
                    .map(|k| {
                        let c = arrow::compute::cast(out.column(k), &DataType::Float64).unwrap();
                        let c = c.as_primitive::<Float64Type>();
                        c.is_valid(i).then(|| c.value(i).to_bits())
                    })
                    .collect()
            });
            let want = want.map(|f| f.iter().map(|v| v.map(f64::to_bits)).collect::<Vec<_>>());
            assert_eq!(got, want, "row {i}");
        }
    }
}
