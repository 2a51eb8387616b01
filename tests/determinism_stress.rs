//! Issue 9: the engine's per-strategy statistics are the same bits on every run. One run of
//! the engine stages per iteration on a 3,300 x 82 table (cut into several batches, on 2 and 3
//! engine threads, without and with ULTA), each compared with the first run's bits. Races between engine operators
//! show up here in a few hundred runs where the ordinary tests see them once in weeks, so it is
//! `#[ignore]`d (minutes in a release build): `HEAVYTUNE_STRESS_ITERS=1500 cargo test --release
//! --test determinism_stress -- --ignored --nocapture` (reports/README.md quotes its counts).

mod common;

use heavytune::engine::{Blocking, Embedded, Temporaries};
use heavytune::load::{LoadOptions, read_inputs};
use heavytune::stages::{StageInput, engine_stats};
use heavytune::synth::{SynthConfig, generate, write_wide_csv};

#[test]
#[ignore = "a stress run of minutes: see the module doc"]
fn engine_stages_give_the_same_bits_on_every_run() {
    let iters: usize = std::env::var("HEAVYTUNE_STRESS_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.csv");
    let table = generate(&SynthConfig { strategies: 3_300, days: 82, seed: 4 });
    write_wide_csv(&table, &mut std::fs::File::create(&path).unwrap()).unwrap();
    let mut differing = Vec::new();
    for (threads, ulta) in [(2, false), (3, false), (2, true), (3, true)] {
        let rt = Blocking::new(Some(threads)).unwrap();
        let mut first: Option<Vec<u64>> = None;
        for it in 0..iters {
            let table = read_inputs(std::slice::from_ref(&path), LoadOptions::default()).unwrap();
            let engine = Embedded::in_memory(Some(threads));
            let st = rt
                .run(async {
                    let mut temps = Temporaries::new(&engine);
                    let result = engine_stats(&mut temps, StageInput::Wide(table), ulta).await;
                    temps.finish(result).await
                })
                .unwrap();
            let d = st.table.n_days();
            let z = st.z();
            let mut bits: Vec<u64> = z.iter().map(|v| v.to_bits()).collect();
            bits.extend(st.values().iter().map(|v| v.to_bits()));
            for m in &st.metrics {
                bits.extend([m.roi, m.max_drawdown, m.win_percentage, m.profit_factor, m.expectancy].map(f64::to_bits));
            }
            let Some(first) = &first else {
                first = Some(bits);
                continue;
            };
            if let Some(i) = (0..bits.len()).find(|&i| bits[i] != first[i]) {
                let what = if i < z.len() { format!("z of strategy {}", i / d) } else { "a value or a metric".into() };
                eprintln!("{threads} threads, ulta {ulta}, run {it}: {what} differs from the first run");
                differing.push((threads, ulta, it));
            }
        }
        let n = differing.iter().filter(|d| (d.0, d.1) == (threads, ulta)).count();
        eprintln!("{threads} threads, ulta {ulta}: {iters} runs, {n} differ from the first");
    }
    assert!(differing.is_empty(), "runs whose bits differ from the first run's: {differing:?}");
}
