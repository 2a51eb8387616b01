//! `ht_series(value, seq)`: the order-dependent figures of one series, its values taken in
//! `seq` order whatever order its rows arrive in, computed by the kernels' own code
//! ([`SeriesStats`], and the mean and norm in the order of operations of
//! `heavytune_kernels::standardize::Moments`) so that an engine query gives the in-process bits:
//! - `max_drawdown`: the largest fall of the running sum from its running peak (the peak
//!   starts at the first day's sum), as `MAX(peak - equity)` over running windows gives it;
//! - `mean` and `norm`: the mean, and the square root of the summed squared deviations from
//!   it, each sum taken in day order;
//! - `sum`, `min`, `max`, `wins` and `losses` (days above and below 0), `gains` and `pains`
//!   (their sums): what SUM, MIN, MAX and `SUM(CASE WHEN v > 0 THEN ... ELSE 0 END)` give;
//! - `z_squares`: the summed squares of the standardized values, in day order, each value
//!   centred on the mean and multiplied by the inverse norm as the search's evaluator
//!   standardizes it (`heavytune_kernels::fitness::Scale`), 0 for a flat series (its minimum
//!   equal to its maximum, or a zero norm): what the evaluator would compute from the values
//!   again, read from them here while they are at hand.
//!
//! NULL values are skipped, as SQL's aggregates skip them; a series without a value has 0
//! wins, losses, gains and pains and NULL for the rest. The result is a struct: `get_field(ht_series(pnl, seq), 'norm')` picks a
//! figure, and a query asking for several gets one aggregate (DataFusion keeps one copy of
//! equal aggregate calls), so every series is ordered once.
//!
//! A group keeps its values as they arrive (copied, so no input batch stays alive with them)
//! and, while its days follow each other (seq, seq + 1, ...), only its first day: rows that
//! arrive in day order, as a scan of the long table gives them, are never sorted. Any other
//! group is sorted by day at the end (a stable sort: rows of one day keep their arrival order;
//! a NULL day sorts last, as the window form's `ORDER BY seq` puts it).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, Int64Array, Int64Builder, ListBuilder,
    StructArray,
};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};
use heavytune_kernels::SeriesStats;

/// The figures of `ht_series`, in the order of its struct's fields.
pub const SERIES_FIELDS: [&str; FIGURES] =
    ["max_drawdown", "mean", "norm", "sum", "min", "max", "wins", "losses", "gains", "pains", "z_squares"];

pub(super) const FIGURES: usize = 11;

/// Figures that count days (integers).
const COUNTS: [usize; 2] = [6, 7];

/// One series' figures, in [`SERIES_FIELDS`] order (`None`: NULL).
pub(super) type Figures = [Option<f64>; FIGURES];

/// One series' figures where none is NULL (a series with at least one value).
pub(super) type Present = [f64; FIGURES];

/// The `ht_series` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct OrderedSeries {
    signature: Signature,
}

impl OrderedSeries {
    pub const NAME: &'static str = "ht_series";

    pub fn new() -> Self {
        OrderedSeries { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl Default for OrderedSeries {
    fn default() -> Self {
        Self::new()
    }
}

/// A date or time type: its days order like the integers it casts to.
fn day(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Date64 | DataType::Timestamp(..))
}

fn field_type(k: usize) -> DataType {
    if COUNTS.contains(&k) { DataType::Int64 } else { DataType::Float64 }
}

pub(super) fn figures_type() -> DataType {
    DataType::Struct(
        SERIES_FIELDS.iter().enumerate().map(|(k, f)| Field::new(*f, field_type(k), true)).collect::<Fields>(),
    )
}

impl AggregateUDFImpl for OrderedSeries {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [v, s] if (v.is_numeric() || v.is_null()) && (s.is_integer() || s.is_null() || day(s)) => {
                Ok(vec![DataType::Float64, DataType::Int64])
            }
            _ => plan_err!(
                "{}(value, seq) takes a number and a day (an integer position or a date), not ({})",
                Self::NAME,
                args.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(figures_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(One::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: &str, t: DataType| {
            Arc::new(Field::new_list(format_state_name(args.name, name), Field::new_list_field(t, true), true))
        };
        let mut fields = vec![
            list("values", DataType::Float64),
            list("seqs", DataType::Int64),
            Arc::new(Field::new(format_state_name(args.name, "first"), DataType::Int64, true)),
        ];
        // The partial's figures of its series: final when no other partial saw the group.
        fields.extend(
            SERIES_FIELDS
                .iter()
                .map(|f| Arc::new(Field::new(format_state_name(args.name, f), DataType::Float64, true))),
        );
        Ok(fields)
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Groups::default()))
    }
}

/// The days of a group's values, as they arrived.
#[derive(Debug, Clone, Default)]
enum Days {
    #[default]
    None,
    /// Day `first`, then each next day once: the values are in day order.
    Following { first: i64, next: i64 },
    /// Any other days, one per value (a NULL day as `i64::MAX`).
    Listed(Vec<i64>),
}

/// A batch of partial states, as the final phase received it.
#[derive(Debug, Clone)]
struct States {
    values: arrow::array::ListArray,
    days: arrow::array::ListArray,
    firsts: Int64Array,
    figures: Vec<Float64Array>,
}

impl States {
    fn of(arrays: &[ArrayRef]) -> States {
        States {
            values: arrays[0].as_list::<i32>().clone(),
            days: arrays[1].as_list::<i32>().clone(),
            firsts: arrays[2].as_primitive::<Int64Type>().clone(),
            figures: arrays[3..3 + FIGURES].iter().map(|a| a.as_primitive::<Float64Type>().clone()).collect(),
        }
    }

    fn figures(&self, row: usize) -> Figures {
        std::array::from_fn(|k| self.figures[k].is_valid(row).then(|| self.figures[k].value(row)))
    }
}

/// A partial's series of a group: row `row` of state batch `batch` (read only if another
/// partial saw the group too).
#[derive(Debug, Clone, Copy)]
struct Part {
    batch: u32,
    row: u32,
}

/// One group's values (NULLs dropped) and their days, and the partials' series not yet
/// folded in.
#[derive(Debug, Clone, Default)]
struct Group {
    values: Vec<f64>,
    days: Days,
    parts: Vec<Part>,
}

impl Group {
    #[inline]
    fn push(&mut self, value: f64, day: Option<i64>) {
        match (&mut self.days, day) {
            (Days::None, Some(d)) => self.days = Days::Following { first: d, next: d.saturating_add(1) },
            (Days::Following { next, .. }, Some(d)) if d == *next && d != i64::MAX => *next += 1,
            (Days::Listed(days), d) => days.push(d.unwrap_or(i64::MAX)),
            (days, d) => {
                let mut listed: Vec<i64> = match days {
                    Days::Following { first, next } => (*first..*next).collect(),
                    _ => Vec::new(),
                };
                listed.reserve(self.values.capacity() - self.values.len());
                listed.push(d.unwrap_or(i64::MAX));
                *days = Days::Listed(listed);
            }
        }
        self.values.push(value);
    }

    /// Adds values on days `first`, `first + 1`, ... at once where they continue the group's
    /// days (a scan's rows, or a partial's ordered series), else one by one.
    fn extend(&mut self, values: &[f64], first: i64) {
        let end = first.saturating_add(values.len() as i64);
        self.values.reserve_exact(values.len());
        match &mut self.days {
            Days::None if end != i64::MAX => self.days = Days::Following { first, next: end },
            Days::Following { next, .. } if *next == first && end != i64::MAX => *next = end,
            _ => {
                for (i, v) in values.iter().enumerate() {
                    self.push(*v, Some(first + i as i64));
                }
                return;
            }
        }
        self.values.extend_from_slice(values);
    }

    /// Folds the partials' series into the group's own values.
    fn absorb(&mut self, states: &[States]) {
        for p in std::mem::take(&mut self.parts) {
            let (st, row) = (&states[p.batch as usize], p.row as usize);
            let values = st.values.value(row);
            let values = values.as_primitive::<Float64Type>().values();
            if st.firsts.is_valid(row) {
                self.extend(values, st.firsts.value(row));
            } else {
                let days = st.days.value(row);
                self.values.reserve_exact(values.len());
                for (x, d) in values.iter().zip(days.as_primitive::<Int64Type>().values()) {
                    self.push(*x, Some(*d).filter(|&d| d != i64::MAX));
                }
            }
        }
    }

    /// The group's figures: a lone partial's as it computed them, else those of the values
    /// in day order.
    fn figures(&mut self, states: &[States]) -> Figures {
        if let ([p], true) = (self.parts.as_slice(), self.values.is_empty()) {
            return states[p.batch as usize].figures(p.row as usize);
        }
        self.absorb(states);
        self.order();
        figures(&self.values)
    }

    /// Puts the values in day order (a stable sort: values of one day keep their arrival
    /// order) and returns the first day when the days follow each other.
    fn order(&mut self) -> Option<i64> {
        let Days::Listed(days) = &mut self.days else {
            return match self.days {
                Days::Following { first, .. } => Some(first),
                _ => None,
            };
        };
        if !days.is_sorted() {
            let mut rows: Vec<(i64, f64)> = days.iter().copied().zip(self.values.iter().copied()).collect();
            rows.sort_by_key(|&(d, _)| d);
            (*days, self.values) = rows.into_iter().unzip();
        }
        let follow = days.windows(2).all(|w| w[0].checked_add(1) == Some(w[1]) && w[1] != i64::MAX);
        if follow && let Some(&first) = days.first().filter(|&&d| d != i64::MAX) {
            self.days = Days::Following { first, next: first + days.len() as i64 };
            return Some(first);
        }
        None
    }
}

/// The figures of an ordered series. Without a value the day counts and the gains and pains
/// are 0, as `SUM(CASE WHEN ... ELSE 0 END)` gives them, and the other figures NULL.
pub(super) fn figures(x: &[f64]) -> Figures {
    if x.is_empty() {
        return [None, None, None, None, None, None, Some(0.0), Some(0.0), Some(0.0), Some(0.0), None];
    }
    // One pass for the kernels' series statistics and the extremes, one for the squares, one
    // for the standardized values' squares.
    let (mut st, mut lo, mut hi) = (SeriesStats::default(), x[0], x[0]);
    for &v in x {
        st.push(v);
        lo = lo.min(v);
        hi = hi.max(v);
    }
    // Moments::of's order of operations: the day-order sum (SeriesStats' own) over the count,
    // then the summed squared deviations.
    let mean = st.sum / x.len() as f64;
    let mut squares = 0.0;
    for &v in x {
        let c = v - mean;
        squares += c * c;
    }
    let norm = squares.sqrt();
    // The evaluator's Scale: a flat series' standardized values are 0, others' (v - mean)
    // times the inverse norm, their squares summed from 0 in day order.
    let mut z_squares = 0.0;
    if !(lo == hi || norm == 0.0) {
        let inv_norm = 1.0 / norm;
        for &v in x {
            let z = (v - mean) * inv_norm;
            z_squares += z * z;
        }
    }
    [st.max_drawdown, mean, norm, st.sum, lo, hi, st.wins as f64, st.losses as f64, st.gains, st.pains, z_squares]
        .map(Some)
}

/// How many series [`figures_side_by_side`] walks at once.
pub(super) const LANES: usize = 8;

/// The figures of `LANES` series of one length (at least one value), each bit for bit what
/// [`figures`] gives it alone, or `None` where the lengths differ or are 0 (the series then go
/// one at a time): the series are walked side by side, day by day, each through the same
/// operations in the same order, so the core runs their chains of dependent additions (the
/// running sum, the squared deviations) at once instead of one after another. Each figure of
/// the lanes is an array the compiler keeps in vector registers (one lane per series),
/// compiled for AVX-512 and AVX2 where the CPU has them (no fused multiply-add: the same
/// operations, so the same bits) and for the baseline otherwise. The figures come back as
/// plain numbers, to be appended as such ([`Figures`]' options are twice the bytes, and each
/// append of one looks for a NULL). (`figures` keeps its own loop: written as this function's
/// one-lane case, the strategy_stats stage measured about 2 ms slower, 11 interleaved runs
/// each.)
pub(super) fn figures_side_by_side(xs: [&[f64]; LANES]) -> Option<[Present; LANES]> {
    let n = xs[0].len();
    if n == 0 || xs.iter().any(|x| x.len() != n) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the instructions this variant is compiled for.
            return Some(unsafe { side_by_side_avx512(xs) });
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return Some(unsafe { side_by_side_avx2(xs) });
        }
    }
    Some(side_by_side(xs))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn side_by_side_avx512(xs: [&[f64]; LANES]) -> [Present; LANES] {
    side_by_side(xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn side_by_side_avx2(xs: [&[f64]; LANES]) -> [Present; LANES] {
    side_by_side(xs)
}

/// [`figures_side_by_side`]'s walk over series of one length (at least one value), compiled
/// into each instruction set's variant: [`SeriesStats::push`]'s recurrence and [`figures`]'
/// extremes and squares, lane by lane, as structure of arrays (the days counted as floats,
/// exact far beyond any series' length).
// Day by day across the lanes: the index is the day, the same for every lane.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn side_by_side(xs: [&[f64]; LANES]) -> [Present; LANES] {
    let n = xs[0].len();
    let xs = xs.map(|x| &x[..n]);
    let (mut sum, mut peak, mut drawdown) = ([0.0; LANES], [f64::NEG_INFINITY; LANES], [0.0; LANES]);
    let (mut wins, mut losses, mut gains, mut pains) = ([0.0; LANES], [0.0; LANES], [0.0; LANES], [0.0; LANES]);
    let mut lo: [f64; LANES] = std::array::from_fn(|l| xs[l][0]);
    let mut hi = lo;
    for i in 0..n {
        let day: [f64; LANES] = std::array::from_fn(|l| xs[l][i]);
        for l in 0..LANES {
            let x = day[l];
            // SeriesStats::push, lane by lane.
            sum[l] += x;
            peak[l] = if sum[l] > peak[l] { sum[l] } else { peak[l] };
            let fall = peak[l] - sum[l];
            drawdown[l] = if fall > drawdown[l] { fall } else { drawdown[l] };
            let (win, loss) = (x > 0.0, x < 0.0);
            wins[l] += if win { 1.0 } else { 0.0 };
            gains[l] += if win { x } else { 0.0 };
            losses[l] += if loss { 1.0 } else { 0.0 };
            pains[l] += if loss { x } else { 0.0 };
            lo[l] = lo[l].min(x);
            hi[l] = hi[l].max(x);
        }
    }
    let mean: [f64; LANES] = std::array::from_fn(|l| sum[l] / n as f64);
    let mut squares = [0.0; LANES];
    for i in 0..n {
        let day: [f64; LANES] = std::array::from_fn(|l| xs[l][i]);
        for l in 0..LANES {
            let c = day[l] - mean[l];
            squares[l] += c * c;
        }
    }
    let norm: [f64; LANES] = std::array::from_fn(|l| squares[l].sqrt());
    // A flat lane's standardized values are 0, so it sums 0 * 0 to 0: the 0 of figures.
    let flat: [bool; LANES] = std::array::from_fn(|l| lo[l] == hi[l] || norm[l] == 0.0);
    let inv_norm: [f64; LANES] = std::array::from_fn(|l| 1.0 / norm[l]);
    let mut z_squares = [0.0; LANES];
    for i in 0..n {
        let day: [f64; LANES] = std::array::from_fn(|l| xs[l][i]);
        for l in 0..LANES {
            let z = if flat[l] { 0.0 } else { (day[l] - mean[l]) * inv_norm[l] };
            z_squares[l] += z * z;
        }
    }
    std::array::from_fn(|l| {
        [drawdown[l], mean[l], norm[l], sum[l], lo[l], hi[l], wins[l], losses[l], gains[l], pains[l], z_squares[l]]
    })
}

/// Figures by column, made into arrays typed as the struct's fields (`typed`) or all
/// Float64 (a state). Each column is written straight into its Arrow buffers (no NULL mask
/// unless a NULL comes).
pub(super) struct FigureColumns([Float64Builder; FIGURES]);

impl Default for FigureColumns {
    fn default() -> Self {
        FigureColumns::with_capacity(0)
    }
}

impl FigureColumns {
    pub(super) fn with_capacity(n: usize) -> Self {
        FigureColumns(std::array::from_fn(|_| Float64Builder::with_capacity(n)))
    }

    pub(super) fn append(&mut self, f: &Figures) {
        for (c, v) in self.0.iter_mut().zip(f) {
            c.append_option(*v);
        }
    }

    pub(super) fn append_present(&mut self, f: &Present) {
        for (c, v) in self.0.iter_mut().zip(f) {
            c.append_value(*v);
        }
    }

    pub(super) fn finish(self, typed: bool) -> Vec<ArrayRef> {
        self.0
            .into_iter()
            .enumerate()
            .map(|(k, mut c)| {
                let c = c.finish();
                match typed && COUNTS.contains(&k) {
                    true => Arc::new(c.unary::<_, Int64Type>(|n| n as i64)) as ArrayRef,
                    false => Arc::new(c),
                }
            })
            .collect()
    }
}

/// Partial states being written, one row per group: the series in day order, its days (empty
/// when they follow each other from `first`), and its figures.
struct StateRows {
    values: ListBuilder<Float64Builder>,
    days: ListBuilder<Int64Builder>,
    firsts: Int64Builder,
    figures: FigureColumns,
}

impl StateRows {
    fn with_capacity(groups: usize, rows: usize) -> Self {
        StateRows {
            values: ListBuilder::new(Float64Builder::with_capacity(rows)),
            days: ListBuilder::new(Int64Builder::new()),
            firsts: Int64Builder::with_capacity(groups),
            figures: FigureColumns::with_capacity(groups),
        }
    }

    fn push(&mut self, values: &[f64], days: &[i64], first: Option<i64>) {
        self.values.values().append_slice(values);
        self.values.append(true);
        self.days.values().append_slice(days);
        self.days.append(true);
        self.firsts.append_option(first);
        self.figures.append(&figures(values));
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        let mut out: Vec<ArrayRef> =
            vec![Arc::new(self.values.finish()), Arc::new(self.days.finish()), Arc::new(self.firsts.finish())];
        out.extend(self.figures.finish(false));
        out
    }
}

/// The accumulator of every group of an aggregation. Values are copied in (no input batch
/// stays alive with them), each run of a group's rows reserved at once.
#[derive(Debug, Default)]
struct Groups {
    groups: Vec<Group>,
    /// The state batches the final phase received.
    states: Vec<States>,
    /// Values held, for [`GroupsAccumulator::size`] (which must not walk the groups).
    held: usize,
}

impl Groups {
    fn take(&mut self, emit_to: EmitTo) -> Vec<Group> {
        let taken = emit_to.take_needed(&mut self.groups);
        self.held = match emit_to {
            EmitTo::All => 0,
            EmitTo::First(_) => self.groups.iter().map(|g| g.values.len()).sum(),
        };
        taken
    }

    fn grow(&mut self, total: usize) {
        if total > self.groups.len() {
            self.groups.resize_with(total, Group::default);
        }
    }
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let (v, s) = (values[0].as_primitive::<Float64Type>(), values[1].as_primitive::<Int64Type>());
        self.grow(total_num_groups);
        let kept = |i: usize| opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i)) && v.is_valid(i);
        // Without NULLs or a filter, a run whose days follow each other is copied at once.
        let plain = opt_filter.is_none() && v.null_count() == 0 && s.null_count() == 0;
        let mut i = 0;
        while i < group_indices.len() {
            let g = group_indices[i];
            let mut j = i + 1;
            while j < group_indices.len() && group_indices[j] == g {
                j += 1;
            }
            self.held += j - i;
            let group = &mut self.groups[g];
            let days = &s.values()[i..j];
            if plain && days.windows(2).all(|w| w[0].checked_add(1) == Some(w[1])) {
                group.extend(&v.values()[i..j], days[0]);
            } else {
                group.values.reserve_exact(j - i);
                for r in i..j {
                    if kept(r) {
                        group.push(v.value(r), s.is_valid(r).then(|| s.value(r)));
                    }
                }
            }
            i = j;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        let mut columns = FigureColumns::with_capacity(groups.len());
        for mut g in groups {
            columns.append(&g.figures(&self.states));
        }
        if self.groups.is_empty() {
            self.states.clear();
        }
        let DataType::Struct(fields) = figures_type() else { unreachable!("figures_type is a struct") };
        Ok(Arc::new(StructArray::try_new(fields, columns.finish(true), None)?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        let rows: usize = groups.iter().map(|g| g.values.len()).sum();
        let mut out = StateRows::with_capacity(groups.len(), rows);
        // Each group is freed once its series is in the state.
        for mut g in groups {
            g.absorb(&self.states);
            let first = g.order();
            // Days that follow each other travel as their first one only.
            let days = match (first, &g.days) {
                (None, Days::Listed(days)) => days.as_slice(),
                _ => &[],
            };
            out.push(&g.values, days, first);
        }
        if self.groups.is_empty() {
            self.states.clear();
        }
        Ok(out.finish())
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        let states = States::of(values);
        let batch = self.states.len() as u32;
        self.grow(total_num_groups);
        for (row, &g) in group_indices.iter().enumerate() {
            if states.values.is_null(row) || states.values.value_length(row) == 0 {
                continue;
            }
            self.held += states.values.value_length(row) as usize;
            self.groups[g].parts.push(Part { batch, row: row as u32 });
        }
        self.states.push(states);
        Ok(())
    }

    /// Each row as a state of its own (DataFusion skips the partial phase when it does not
    /// reduce the rows): a one-value series, or an empty one for a NULL or filtered-out row.
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let (v, s) = (values[0].as_primitive::<Float64Type>(), values[1].as_primitive::<Int64Type>());
        let mut out = StateRows::with_capacity(v.len(), v.len());
        for i in 0..v.len() {
            let kept = opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i)) && v.is_valid(i);
            match (kept, s.is_valid(i)) {
                (false, _) => out.push(&[], &[], None),
                (true, true) => out.push(&v.values()[i..=i], &[], Some(s.value(i))),
                (true, false) => out.push(&v.values()[i..=i], &[i64::MAX], None),
            }
        }
        Ok(out.finish())
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Group>() + self.held * std::mem::size_of::<f64>()
    }
}

/// The accumulator of an aggregation without groups: one group.
#[derive(Debug, Default)]
struct One(Groups);

impl Accumulator for One {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0.update_batch(values, &vec![0; values[0].len()], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut g = Groups { groups: self.0.groups.clone(), states: self.0.states.clone(), held: self.0.held };
        g.grow(1);
        ScalarValue::try_from_array(&g.evaluate(EmitTo::All)?, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut g = Groups { groups: self.0.groups.clone(), states: self.0.states.clone(), held: self.0.held };
        g.grow(1);
        g.state(EmitTo::All)?.iter().map(|a| ScalarValue::try_from_array(a, 0)).collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.0.merge_batch(states, &vec![0; states[0].len()], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;
    use heavytune_kernels::standardize::Moments;

    fn batch(values: &[Option<f64>], days: &[Option<i64>]) -> Vec<ArrayRef> {
        vec![Arc::new(Float64Array::from(values.to_vec())), Arc::new(Int64Array::from(days.to_vec()))]
    }

    fn evaluated(g: &mut Groups) -> Vec<Figures> {
        let out = g.evaluate(EmitTo::All).unwrap();
        let s = out.as_struct();
        let cols: Vec<Float64Array> = (0..FIGURES)
            .map(|k| {
                arrow::compute::cast(s.column(k), &DataType::Float64).unwrap().as_primitive::<Float64Type>().clone()
            })
            .collect();
        (0..s.len()).map(|i| std::array::from_fn(|k| cols[k].is_valid(i).then(|| cols[k].value(i)))).collect()
    }

    fn kernels(x: &[f64]) -> Figures {
        figures(x)
    }

    #[test]
    fn rows_in_any_order_give_the_figures_of_the_ordered_series() {
        let x = [3.0, -5.0, 2.5, 0.1, -7.25, 4.0, 1.0];
        let want = kernels(&x);
        // In order, in one run.
        let mut g = Groups::default();
        let days: Vec<Option<i64>> = (0..7).map(Some).collect();
        g.update_batch(&batch(&x.map(Some), &days), &[0; 7], None, 1).unwrap();
        assert_eq!(evaluated(&mut g), [want]);
        // Reversed and interleaved with another group, over two batches.
        let mut g = Groups::default();
        let rev: Vec<Option<f64>> = x.iter().rev().map(|v| Some(*v)).collect();
        let rev_days: Vec<Option<i64>> = (0..7).rev().map(Some).collect();
        g.update_batch(&batch(&rev[..4], &rev_days[..4]), &[1, 0, 1, 0], None, 2).unwrap();
        g.update_batch(&batch(&rev[4..], &rev_days[4..]), &[0, 1, 0], None, 2).unwrap();
        // Group 0 got days 5, 3, 2, 0 and group 1 days 6, 4, 1.
        let want = [kernels(&[x[0], x[2], x[3], x[5]]), kernels(&[x[1], x[4], x[6]])];
        assert_eq!(evaluated(&mut g), want);
    }

    #[test]
    fn partial_states_merge_into_the_ordered_series() {
        let x: Vec<f64> = (0..20).map(|i| ((i * 37 % 11) as f64 - 5.0) * 0.3).collect();
        let want = kernels(&x);
        // Days 10..20 arrive in one partial, days 0..10 in another (shuffled), then merge.
        let mut late = Groups::default();
        let days: Vec<Option<i64>> = (10..20).map(Some).collect();
        late.update_batch(&batch(&x[10..].iter().map(|v| Some(*v)).collect::<Vec<_>>(), &days), &[0; 10], None, 1)
            .unwrap();
        let mut early = Groups::default();
        let order = [3, 0, 9, 1, 2, 8, 4, 7, 5, 6];
        let vals: Vec<Option<f64>> = order.iter().map(|&i| Some(x[i])).collect();
        let days: Vec<Option<i64>> = order.iter().map(|&i| Some(i as i64)).collect();
        early.update_batch(&batch(&vals, &days), &[0; 10], None, 1).unwrap();
        let mut fin = Groups::default();
        for mut partial in [late, early] {
            let state = partial.state(EmitTo::All).unwrap();
            fin.merge_batch(&state, &[0], 1).unwrap();
        }
        assert_eq!(evaluated(&mut fin), [want]);
        // Rows passed on one by one as states (DataFusion's skipped partial phase), NULLs too.
        let mut fin = Groups::default();
        let mut vals: Vec<Option<f64>> = x.iter().rev().map(|v| Some(*v)).collect();
        let mut days: Vec<Option<i64>> = (0..20).rev().map(Some).collect();
        vals.push(None);
        days.push(Some(3));
        let state = Groups::default().convert_to_state(&batch(&vals, &days), None).unwrap();
        fin.merge_batch(&state, &[0; 21], 1).unwrap();
        assert_eq!(evaluated(&mut fin), [want]);
    }

    #[test]
    fn nulls_are_skipped_and_an_empty_series_is_null() {
        let mut g = Groups::default();
        let vals = [Some(1.0), None, Some(-2.0), None, None];
        let days = [Some(0), Some(1), Some(2), Some(0), Some(1)];
        g.update_batch(&batch(&vals, &days), &[0, 0, 0, 1, 1], None, 2).unwrap();
        assert_eq!(evaluated(&mut g), [kernels(&[1.0, -2.0]), kernels(&[])]);
        // Without a value the counts, gains and pains are 0, the rest NULL.
        assert_eq!(kernels(&[])[0], None);
        assert_eq!(kernels(&[])[6..10], [Some(0.0); 4]);
        assert_eq!(kernels(&[])[10], None);
        // The figures are the kernels' own.
        let st = SeriesStats::of(&[1.0, -2.0]);
        assert_eq!(kernels(&[1.0, -2.0])[3..10], [st.sum, -2.0, 1.0, 1.0, 1.0, st.gains, st.pains].map(Some));
        let x = [0.1, 0.7, -0.3, 0.1, 2.5];
        let m = Moments::of(&x);
        assert_eq!(kernels(&x)[..3], [SeriesStats::of(&x).max_drawdown, m.mean, m.norm].map(Some));
    }

    #[test]
    fn the_struct_is_one_aggregate_in_sql_and_matches_the_window_form() {
        use datafusion::prelude::SessionContext;
        let ctx = SessionContext::new();
        for f in super::super::all() {
            ctx.register_udaf(f);
        }
        let ids = Int32Array::from(vec![1, 1, 1, 2, 2, 1]);
        let seq = Int32Array::from(vec![2, 0, 1, 0, 1, 3]);
        let pnl = Float64Array::from(vec![-4.0, 3.0, 2.0, 1.0, 1.0, 0.5]);
        let batch = arrow::record_batch::RecordBatch::try_from_iter(vec![
            ("strategy_id", Arc::new(ids) as ArrayRef),
            ("seq", Arc::new(seq) as ArrayRef),
            ("pnl", Arc::new(pnl) as ArrayRef),
        ])
        .unwrap();
        ctx.register_batch("pnl", batch).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let sql = "SELECT strategy_id, get_field(ht_series(pnl, seq), 'max_drawdown') AS dd, \
                   get_field(ht_series(pnl, seq), 'norm') AS norm FROM pnl GROUP BY strategy_id ORDER BY strategy_id";
        let plan = rt.block_on(async { ctx.sql(&format!("EXPLAIN {sql}")).await?.collect().await }).unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
        let aggregates: Vec<&str> = text.lines().filter(|l| l.contains("Aggregate")).collect();
        assert!(!aggregates.is_empty() && aggregates.iter().all(|l| l.matches("ht_series(").count() == 1), "{text}");
        let out = rt.block_on(async { ctx.sql(sql).await?.collect().await }).unwrap();
        let dd = out[0].column(1).as_primitive::<Float64Type>();
        // Strategy 1 in day order: 3, 2, -4, 0.5: equity 3, 5, 1, 1.5: fall 4 from the peak 5.
        assert_eq!((dd.value(0), dd.value(1)), (4.0, 0.0));
        let norm = out[0].column(2).as_primitive::<Float64Type>();
        assert_eq!(norm.value(0), Moments::of(&[3.0, 2.0, -4.0, 0.5]).norm);
        assert_eq!(norm.value(1), 0.0);
        let bad = rt.block_on(async { ctx.sql("SELECT ht_series(pnl, 'x') FROM pnl").await.map(|_| ()) });
        assert!(bad.unwrap_err().to_string().contains("an integer position or a date"));
    }

    /// Bits of figures, so NaN equals NaN and -0.0 differs from 0.0.
    fn bits(f: &Figures) -> [Option<u64>; FIGURES] {
        f.map(|v| v.map(f64::to_bits))
    }

    /// Series walked side by side give each one's figures alone, bit for bit: random values
    /// of every sign and scale, a flat series, -0.0, NaN and inf, lengths 1 to 9, and lanes of
    /// different lengths (which are not walked side by side); in every instruction set's
    /// variant the CPU runs.
    #[test]
    fn side_by_side_gives_each_series_its_own_bits() {
        type Walk = fn([&[f64]; LANES]) -> [Present; LANES];
        #[allow(unused_mut)]
        let mut walks: Vec<(&str, Walk)> = vec![("baseline", side_by_side)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                walks.push(("avx2", |xs| unsafe { side_by_side_avx2(xs) }));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                walks.push(("avx512", |xs| unsafe { side_by_side_avx512(xs) }));
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in 1..10 {
            for round in 0..50 {
                let mut series: Vec<Vec<f64>> = (0..LANES)
                    .map(|_| (0..n).map(|_| (next() % 2_000_001) as f64 / 997.0 - 1003.0).collect())
                    .collect();
                match round {
                    0 => series[1] = vec![0.1; n],
                    1 => series[2][n / 2] = f64::NAN,
                    2 => series[3][0] = f64::INFINITY,
                    3 => series[0] = vec![-0.0; n],
                    4 => series[1].push(1.0),
                    // Flat but for a NaN: its extremes are equal, so its z_squares are 0.
                    5 => {
                        series[4] = vec![1.0; n];
                        series[4][0] = f64::NAN;
                    }
                    _ => {}
                }
                let lanes: [&[f64]; LANES] = std::array::from_fn(|l| series[l].as_slice());
                let Some(together) = figures_side_by_side(lanes) else {
                    assert!(lanes.iter().any(|x| x.len() != n), "n {n}, round {round}: one length, walked alone");
                    continue;
                };
                // The variant picked, and each instruction set's variant this CPU runs.
                for (isa, walk) in std::iter::once(("picked", None)).chain(walks.iter().map(|(i, w)| (*i, Some(w)))) {
                    let together = walk.map_or(together, |w| w(lanes));
                    for l in 0..LANES {
                        let want = bits(&figures(lanes[l]));
                        assert_eq!(bits(&together[l].map(Some)), want, "{isa}: n {n}, round {round}, lane {l}");
                    }
                }
            }
        }
        // Changing one lane's order of operations shows (the comparison is not vacuous).
        let a = [0.1, 0.2, 0.3];
        assert_ne!(bits(&figures(&a)), bits(&figures(&[0.3, 0.2, 0.1])));
    }

    /// A series' z_squares are the squared norm the search's evaluator computes from the same
    /// values and the figures' moments, bit for bit (flat series included), walked alone or
    /// side by side.
    #[test]
    fn z_squares_are_the_evaluators_squared_norms() {
        use heavytune_kernels::standardize::Moments;
        use heavytune_kernels::{Evaluator, Metric, Penalty};
        let days = 23;
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2_000_001) as f64 / 997.0 - 1003.0
        };
        let mut series: Vec<Vec<f64>> = (0..3 * LANES).map(|_| (0..days).map(|_| next()).collect()).collect();
        series[2] = vec![0.1; days];
        series[9] = vec![-4.0; days];
        series[17] = vec![0.0; days];
        let alone: Vec<Present> = series.iter().map(|x| figures(x).map(|f| f.unwrap())).collect();
        let together: Vec<Present> = series
            .chunks(LANES)
            .flat_map(|c| figures_side_by_side(std::array::from_fn(|l| c[l].as_slice())).unwrap())
            .collect();
        let field = |name: &str| SERIES_FIELDS.iter().position(|f| *f == name).unwrap();
        let (mean, norm, min, max, zz) = (field("mean"), field("norm"), field("min"), field("max"), field("z_squares"));
        let moments: Vec<Moments> = alone
            .iter()
            .map(|f| Moments { mean: f[mean], norm: f[norm], flat: f[min] == f[max] || f[norm] == 0.0 })
            .collect();
        let values: Vec<f64> = series.concat();
        let ev = Evaluator::with_moments(values, moments, days, Metric::Ratio, Penalty::default(), None);
        let want: Vec<u64> = ev.squared_norms().iter().map(|v| v.to_bits()).collect();
        assert_eq!(alone.iter().map(|f| f[zz].to_bits()).collect::<Vec<_>>(), want);
        assert_eq!(together.iter().map(|f| f[zz].to_bits()).collect::<Vec<_>>(), want);
        assert_eq!((alone[2][zz], alone[9][zz], alone[17][zz]), (0.0, 0.0, 0.0), "flat series");
        assert!(
            alone.iter().enumerate().filter(|(s, _)| ![2, 9, 17].contains(s)).all(|(_, f)| (f[zz] - 1.0).abs() < 1e-12)
        );
    }
}
