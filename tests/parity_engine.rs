//! The engine path of a run (`--stats engine`, the default): ULTA, per-strategy metrics and
//! standardized values from the sql/ templates on DataFusion, against ../shared/parity.

mod common;

use common::{assert_metrics_match, assert_ulta_matches, close, index_of, num, parity, rows, small};
use heavytune::engine::{Blocking, Embedded, Temporaries};
use heavytune::kernels::{Evaluator, Metric, Penalty};
use heavytune::stages::{EngineStats, StageInput, engine_stats};
use heavytune::ulta;

fn stats(ulta: bool) -> EngineStats {
    let engine = Embedded::in_memory(Some(2));
    Blocking::new(Some(2))
        .unwrap()
        .run(async {
            let mut temps = Temporaries::new(&engine);
            let result = engine_stats(&mut temps, StageInput::Wide(small()), ulta).await;
            temps.finish(result).await
        })
        .unwrap()
}

#[test]
fn engine_ulta_matches_the_legacy() {
    let st = stats(true);
    assert_ulta_matches(&st.inversions, &st.table.names);
    let report = std::fs::read_to_string(parity("inversion_report.md")).unwrap();
    assert_eq!(ulta::inversion_report(&st.inversions), report);
    // The inverted values are the local ULTA's, bit for bit.
    assert_eq!(st.values(), ulta::apply(small()).0.values.as_slice());
}

#[test]
fn engine_metrics_match_with_and_without_ulta() {
    for (flag, file) in [(false, "strategy_metrics.csv"), (true, "strategy_metrics_ulta.csv")] {
        let st = stats(flag);
        assert_metrics_match(&st.metrics, &st.table, file);
    }
}

#[test]
fn fitness_from_engine_standardized_values_matches() {
    let (plain, inverted) = (stats(false), stats(true));
    let want = rows("fitness.csv");
    let mut evaluators = std::collections::HashMap::new();
    for w in &want {
        let st = if w[0] == "1" { &inverted } else { &plain };
        let metric: Metric = w[2].parse().unwrap();
        let threshold = num(&w[3]);
        let ev = evaluators.entry((w[0].clone(), w[2].clone(), w[3].clone())).or_insert_with(|| {
            let penalty = Penalty { drawdown_threshold: threshold, ..Penalty::default() };
            Evaluator::with_moments(st.values().to_vec(), st.moments.clone(), st.table.n_days(), metric, penalty, None)
        });
        let e = ev.evaluate(&index_of(&st.table, &w[4]), &mut ev.scratch());
        let ctx = format!("ulta={} portfolio={} metric={}", w[0], w[1], w[2]);
        assert!(close(e.base_fitness, num(&w[5])), "{ctx}: base {} want {}", e.base_fitness, w[5]);
        assert!(close(e.avg_corr, num(&w[6])), "{ctx}: avg_corr {} want {}", e.avg_corr, w[6]);
        assert!(close(e.fitness, num(&w[7])), "{ctx}: fitness {} want {}", e.fitness, w[7]);
    }
}
