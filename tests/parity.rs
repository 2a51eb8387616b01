//! Issue 3: ULTA, fitness, correlation penalty and report metrics against the legacy tool's
//! own outputs in ../shared/parity (computed on small.csv).

mod common;

use common::{assert_ulta_matches, close, index_of, num, parity, rows, small};
use heavytune::kernels::{Evaluator, Metric, Penalty, portfolio_returns};
use heavytune::performance::portfolio_report;
use heavytune::strategy_metrics::strategy_metrics;
use heavytune::ulta;

#[test]
fn ulta_inverts_the_same_strategies_with_the_same_figures() {
    let (table, inv) = ulta::apply(small());
    assert_ulta_matches(&inv, &table.names);
}

#[test]
fn inversion_report_is_byte_for_byte_the_legacy_one() {
    let (_, inv) = ulta::apply(small());
    let want = std::fs::read_to_string(parity("inversion_report.md")).unwrap();
    assert_eq!(ulta::inversion_report(&inv), want);
}

#[test]
fn strategy_metrics_after_ulta_match() {
    let (table, _) = ulta::apply(small());
    let want = rows("strategy_metrics_ulta.csv");
    assert_eq!(want.len(), table.n_strategies());
    for w in &want {
        let s = index_of(&table, &w[0])[0] as usize;
        let m = strategy_metrics(table.strategy(s));
        let got = [m.roi, m.max_drawdown, m.win_percentage, m.profit_factor, m.expectancy];
        for (k, g) in got.iter().enumerate() {
            assert!(close(*g, num(&w[k + 1])), "{} metric {k}: got {g}, want {}", w[0], w[k + 1]);
        }
    }
}

#[test]
fn every_fitness_vector_matches() {
    let plain = small();
    let (inverted, _) = ulta::apply(small());
    let want = rows("fitness.csv");
    assert!(want.len() > 3000);
    let mut evaluators = std::collections::HashMap::new();
    for w in &want {
        let table = if w[0] == "1" { &inverted } else { &plain };
        let metric: Metric = w[2].parse().unwrap();
        let threshold = num(&w[3]);
        let ev = evaluators.entry((w[0].clone(), w[2].clone(), w[3].clone())).or_insert_with(|| {
            let penalty = Penalty { drawdown_threshold: threshold, ..Penalty::default() };
            Evaluator::new(&table.values, table.n_days(), metric, penalty, None)
        });
        let pf = index_of(table, &w[4]);
        let e = ev.evaluate(&pf, &mut ev.scratch());
        let ctx = format!("ulta={} portfolio={} metric={} threshold={}", w[0], w[1], w[2], w[3]);
        assert!(close(e.base_fitness, num(&w[5])), "{ctx}: base {} want {}", e.base_fitness, w[5]);
        assert!(close(e.avg_corr, num(&w[6])), "{ctx}: avg_corr {} want {}", e.avg_corr, w[6]);
        assert!(close(e.fitness, num(&w[7])), "{ctx}: fitness {} want {}", e.fitness, w[7]);
    }
}

#[test]
fn portfolio_report_metrics_match() {
    let table = small();
    let want = rows("portfolio_report.csv");
    assert!(!want.is_empty());
    for w in &want {
        let p = portfolio_returns(&table.values, table.n_days(), &index_of(&table, &w[0]));
        let r = portfolio_report(&p);
        for (k, (name, g)) in r.fields().iter().enumerate() {
            assert!(close(*g, num(&w[k + 1])), "{}: {name} got {g}, want {}", w[0], w[k + 1]);
        }
    }
}
