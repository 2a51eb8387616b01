//! ULTA: invert strategies that do better upside down, as the legacy tool does before anything
//! else, and write its inversion report.

use crate::load::WideTable;

/// Suffix of an inverted strategy's name.
pub const INVERTED_SUFFIX: &str = "_inv";

/// One inverted strategy: its figures before and after (dd is the worst single day).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Inversion {
    pub strategy: String,
    pub original_roi: f64,
    pub inverted_roi: f64,
    pub original_drawdown: f64,
    pub inverted_drawdown: f64,
    pub original_ratio: f64,
    pub inverted_ratio: f64,
}

/// roi / |worst day|, +inf when the worst day is 0.
fn ratio(roi: f64, worst: f64) -> f64 {
    if worst == 0.0 { f64::INFINITY } else { roi / worst.abs() }
}

/// Whether strategy `r` should be inverted, with its figures. The inverted series' figures
/// follow from the original's exactly (its sum is minus the sum, its worst day minus the best
/// day), as `sql/ulta_strategies.sql` and `sql/ulta_report.sql` compute them.
pub fn decide(name: &str, r: &[f64]) -> Option<Inversion> {
    let (mut roi, mut worst, mut best) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &x in r {
        roi += x;
        worst = worst.min(x);
        best = best.max(x);
    }
    if r.is_empty() {
        (worst, best) = (0.0, 0.0);
    }
    let original = ratio(roi, worst);
    if original >= 0.0 || original.is_nan() {
        return None;
    }
    let (inv_roi, inv_dd) = (-roi, -best);
    let inverted = ratio(inv_roi, inv_dd);
    (inverted > original).then(|| Inversion {
        strategy: name.to_string(),
        original_roi: roi,
        inverted_roi: inv_roi,
        original_drawdown: worst,
        inverted_drawdown: inv_dd,
        original_ratio: original,
        inverted_ratio: inverted,
    })
}

/// Inverts what ULTA picks: inverted strategies get `-r`, the `_inv` name and move to the end
/// of the column order (keeping their relative order), as the legacy's drop-and-concat does.
pub fn apply(table: WideTable) -> (WideTable, Vec<Inversion>) {
    let decisions: Vec<Option<Inversion>> =
        (0..table.n_strategies()).map(|s| decide(&table.names[s], table.strategy(s))).collect();
    if decisions.iter().all(Option::is_none) {
        return (table, Vec::new());
    }
    let inverted: Vec<bool> = decisions.iter().map(Option::is_some).collect();
    let table = invert(table, &inverted);
    (table, decisions.into_iter().flatten().collect())
}

/// The strategies' new positions under ULTA: those kept, then those inverted, each in their
/// order (`order()[new] = old`).
pub fn order(inverted: &[bool]) -> Vec<usize> {
    (0..inverted.len()).filter(|&s| !inverted[s]).chain((0..inverted.len()).filter(|&s| inverted[s])).collect()
}

/// ULTA's decisions applied (`inverted[s]` for each strategy s): an inverted strategy gets
/// `-r` and the `_inv` name and moves to the end of the column order (see [`order`]). The
/// values move within their own buffer (no second copy of them is made).
pub fn invert(mut table: WideTable, inverted: &[bool]) -> WideTable {
    let order = order(inverted);
    let d = table.n_days();
    permute_rows(&mut table.values, d, &order);
    let (mut names, mut labels) = (std::mem::take(&mut table.names), std::mem::take(&mut table.labels));
    for (new, &old) in order.iter().enumerate() {
        if inverted[old] {
            table.values[new * d..(new + 1) * d].iter_mut().for_each(|x| *x = -*x);
            names[old].push_str(INVERTED_SUFFIX);
        }
    }
    table.names = order.iter().map(|&s| std::mem::take(&mut names[s])).collect();
    table.labels = order.iter().map(|&s| std::mem::take(&mut labels[s])).collect();
    table
}

/// Puts row `order[i]` of `values` (rows of `d` values) at row `i`, in place: each cycle of
/// the permutation is followed once, its first row held aside.
fn permute_rows(values: &mut [f64], d: usize, order: &[usize]) {
    let mut placed = vec![false; order.len()];
    let mut held = vec![0.0; d];
    for start in 0..order.len() {
        if placed[start] {
            continue;
        }
        held.copy_from_slice(&values[start * d..(start + 1) * d]);
        let mut at = start;
        loop {
            placed[at] = true;
            let from = order[at];
            if from == start {
                values[at * d..(at + 1) * d].copy_from_slice(&held);
                break;
            }
            values.copy_within(from * d..(from + 1) * d, at * d);
            at = from;
        }
    }
}

/// The legacy `inversion_report.md`, byte for byte.
pub fn inversion_report(inversions: &[Inversion]) -> String {
    use std::fmt::Write;
    // Written into one string (a line per String came to about 10 MB for 14,000 inversions).
    let mut text =
        String::from("# Inversion Report\n\nThe following strategies had their returns inverted based on ULTA logic:");
    for i in inversions {
        let _ = write!(
            text,
            "\n## {}\n- **Original ROI:** {:.2}\n- **Inverted ROI:** {:.2}\n- **Original Drawdown:** {:.2}\n\
             - **Inverted Drawdown:** {:.2}\n- **Original Ratio:** {:.2}\n- **Inverted Ratio:** {:.2}\n",
            i.strategy,
            i.original_roi,
            i.inverted_roi,
            i.original_drawdown,
            i.inverted_drawdown,
            i.original_ratio,
            i.inverted_ratio
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report as the legacy joins its lines, for 0, 1 and 2 inversions.
    #[test]
    fn the_report_is_the_legacy_lines_joined() {
        let joined = |inversions: &[Inversion]| {
            let mut lines = vec![
                "# Inversion Report".to_string(),
                String::new(),
                "The following strategies had their returns inverted based on ULTA logic:".to_string(),
            ];
            for i in inversions {
                lines.push(format!("## {}", i.strategy));
                lines.push(format!("- **Original ROI:** {:.2}", i.original_roi));
                lines.push(format!("- **Inverted ROI:** {:.2}", i.inverted_roi));
                lines.push(format!("- **Original Drawdown:** {:.2}", i.original_drawdown));
                lines.push(format!("- **Inverted Drawdown:** {:.2}", i.inverted_drawdown));
                lines.push(format!("- **Original Ratio:** {:.2}", i.original_ratio));
                lines.push(format!("- **Inverted Ratio:** {:.2}", i.inverted_ratio));
                lines.push(String::new());
            }
            lines.join("\n")
        };
        let a = decide("a", &[-10.0, 2.0, -1.0]).unwrap();
        let b = decide("b, \"q\"", &[-0.125, 0.0, -3.0]).unwrap();
        for inversions in [vec![], vec![a.clone()], vec![a, b]] {
            assert_eq!(inversion_report(&inversions), joined(&inversions));
        }
    }

    #[test]
    fn inverts_only_when_upside_down_is_better() {
        let inv = decide("a", &[-10.0, 2.0, -1.0]).expect("inverted");
        assert_eq!((inv.original_roi, inv.original_drawdown, inv.original_ratio), (-9.0, -10.0, -0.9));
        assert_eq!((inv.inverted_roi, inv.inverted_drawdown, inv.inverted_ratio), (9.0, -2.0, 4.5));
        assert!(decide("b", &[5.0, -1.0]).is_none(), "positive ratio stays");
        assert!(decide("c", &[0.0, 0.0]).is_none(), "infinite ratio stays");
    }

    #[test]
    fn inverted_strategies_move_to_the_end_with_the_suffix() {
        let table = WideTable {
            names: vec!["a".into(), "loser".into(), "b".into()],
            labels: vec!["x".into(), "y".into(), "z".into()],
            dates: vec![0, 1],
            zones: None,
            values: vec![1.0, -0.5, -3.0, 1.0, 2.0, 2.0],
            missing_cells: 0,
            bytes_read: 0,
            warnings: vec![],
        };
        let (t, inv) = apply(table);
        assert_eq!(t.names, ["a", "b", "loser_inv"]);
        assert_eq!(t.labels, ["x", "z", "y"]);
        assert_eq!(t.values, [1.0, -0.5, 2.0, 2.0, 3.0, -1.0]);
        assert_eq!(inv.len(), 1);
        assert!(inversion_report(&inv).ends_with("- **Inverted Ratio:** 2.00\n"));
    }

    /// In place, every choice of strategies to invert gives what copying each strategy to
    /// its new place gives: long cycles, fixed points, nothing and everything inverted.
    #[test]
    fn inverting_in_place_moves_each_strategy_where_a_copy_would() {
        let (n, d) = (9usize, 3i32);
        for pick in [0u32, 1, 0b1, 0b100000001, 0b10101010, 0b111111111, 0b11110000, 0b1011] {
            let inverted: Vec<bool> = (0..n).map(|s| pick >> s & 1 == 1).collect();
            let table = WideTable {
                names: (0..n).map(|s| format!("s{s}")).collect(),
                labels: (0..n).map(|s| format!("l{s}")).collect(),
                dates: (0..d).collect(),
                zones: None,
                values: (0..n * d as usize).map(|v| v as f64 - 5.0).collect(),
                missing_cells: 0,
                bytes_read: 0,
                warnings: vec![],
            };
            let order = order(&inverted);
            let want: Vec<f64> = order
                .iter()
                .flat_map(|&s| {
                    let flip = inverted[s];
                    table.strategy(s).iter().map(move |&x| if flip { -x } else { x })
                })
                .collect();
            let want_names: Vec<String> =
                order.iter().map(|&s| format!("s{s}{}", if inverted[s] { INVERTED_SUFFIX } else { "" })).collect();
            let t = invert(table, &inverted);
            assert_eq!(
                t.values.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "{pick:b}"
            );
            assert_eq!(t.names, want_names);
            assert_eq!(t.labels, order.iter().map(|s| format!("l{s}")).collect::<Vec<_>>());
        }
    }
}
