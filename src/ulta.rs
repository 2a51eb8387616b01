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
    let d = table.n_days();
    let decisions: Vec<Option<Inversion>> =
        (0..table.n_strategies()).map(|s| decide(&table.names[s], table.strategy(s))).collect();
    if decisions.iter().all(Option::is_none) {
        return (table, Vec::new());
    }
    let order: Vec<usize> = (0..decisions.len())
        .filter(|&s| decisions[s].is_none())
        .chain((0..decisions.len()).filter(|&s| decisions[s].is_some()))
        .collect();
    let mut values = Vec::with_capacity(table.values.len());
    let mut names = Vec::with_capacity(order.len());
    let mut labels = Vec::with_capacity(order.len());
    for &s in &order {
        let col = table.strategy(s);
        if decisions[s].is_some() {
            values.extend(col.iter().map(|x| -x));
            names.push(format!("{}{INVERTED_SUFFIX}", table.names[s]));
        } else {
            values.extend_from_slice(col);
            names.push(table.names[s].clone());
        }
        labels.push(table.labels[s].clone());
    }
    debug_assert_eq!(values.len(), order.len() * d);
    let inversions = decisions.into_iter().flatten().collect();
    (WideTable { names, labels, values, ..table }, inversions)
}

/// The legacy `inversion_report.md`, byte for byte.
pub fn inversion_report(inversions: &[Inversion]) -> String {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
