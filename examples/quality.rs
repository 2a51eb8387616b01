//! Search quality at equal budgets: the legacy tool's algorithms as LEGACY_SPEC.md describes
//! them (GA; "PSO" = mutation at 0.05; "SA" and HC = greedy single swaps; DE = uniform
//! crossover with a random partner; "ACO" and "BO" = random sampling) against heavytune's
//! real ones with the same legacy budgets (RS left out, as the legacy has no RS), and
//! heavytune with 4x the generations. Prints best fitness per size, averaged over seeds.
//!
//! cargo run --release --example quality -- [--seeds 5] [--min 35] [--max 60] [--strategies 25544]

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use heavytune::kernels::{Eval, Evaluator, Metric, Penalty};
use heavytune::search::{Features, Params, Problem, Scorer, job_rng, optimize};
use heavytune::synth::{SynthConfig, generate};

fn best_of(pb: &Problem, pop: &[Vec<u32>], best: &mut (Vec<u32>, f64)) -> Vec<Eval> {
    let evals = pb.evaluate_batch(pop);
    for (p, e) in pop.iter().zip(&evals) {
        if e.fitness > best.1 {
            *best = (p.clone(), e.fitness);
        }
    }
    evals
}

fn mutate(pb: &Problem, rng: &mut ChaCha8Rng, p: &mut [u32], rate: f64) {
    for i in 0..p.len() {
        if rng.random_bool(rate) {
            p[i] = pb.outsider(rng, p);
        }
    }
}

fn legacy_ga(pb: &Problem, rng: &mut ChaCha8Rng, gens: usize, popn: usize, rate: f64) -> f64 {
    let mut best = (Vec::new(), f64::NEG_INFINITY);
    let mut pop: Vec<Vec<u32>> = (0..popn).map(|_| pb.random_portfolio(rng)).collect();
    let mut evals = best_of(pb, &pop, &mut best);
    for _ in 1..gens {
        let pick = |rng: &mut ChaCha8Rng| {
            (0..3)
                .map(|_| rng.random_range(0..popn))
                .max_by(|&a, &b| evals[a].fitness.total_cmp(&evals[b].fitness))
                .unwrap()
        };
        pop = (0..popn)
            .map(|_| {
                let (a, b) = (pick(rng), pick(rng));
                let mut union: Vec<u32> = pop[a].clone();
                union.extend(pop[b].iter().filter(|x| !pop[a].contains(x)));
                union.shuffle(rng);
                union.truncate(pb.size);
                mutate(pb, rng, &mut union, rate);
                union
            })
            .collect();
        evals = best_of(pb, &pop, &mut best);
    }
    best.1
}

fn legacy_pso(pb: &Problem, rng: &mut ChaCha8Rng, gens: usize, popn: usize) -> f64 {
    let mut best = (Vec::new(), f64::NEG_INFINITY);
    let mut pop: Vec<Vec<u32>> = (0..popn).map(|_| pb.random_portfolio(rng)).collect();
    best_of(pb, &pop, &mut best);
    for _ in 1..gens {
        pop.iter_mut().for_each(|p| mutate(pb, rng, p, 0.05));
        best_of(pb, &pop, &mut best);
    }
    best.1
}

fn legacy_climb(pb: &Problem, rng: &mut ChaCha8Rng, iters: usize) -> f64 {
    let mut s = pb.scratch();
    let mut cur = pb.random_portfolio(rng);
    let mut f = pb.ev.evaluate(&cur, &mut s).fitness;
    for _ in 1..iters {
        let mut next = cur.clone();
        let slot = rng.random_range(0..next.len());
        next[slot] = pb.outsider(rng, &next);
        let g = pb.ev.evaluate(&next, &mut s).fitness;
        if g > f {
            (cur, f) = (next, g);
        }
    }
    f
}

fn legacy_de(pb: &Problem, rng: &mut ChaCha8Rng, gens: usize, popn: usize) -> f64 {
    let mut best = (Vec::new(), f64::NEG_INFINITY);
    let mut pop: Vec<Vec<u32>> = (0..popn).map(|_| pb.random_portfolio(rng)).collect();
    let mut evals = best_of(pb, &pop, &mut best);
    for _ in 1..gens {
        let trials: Vec<Vec<u32>> = (0..popn)
            .map(|i| {
                let partner = &pop[rng.random_range(0..popn)];
                let mut t: Vec<u32> = Vec::with_capacity(pb.size);
                for k in 0..pb.size {
                    let x = if rng.random_bool(0.5) { pop[i][k] } else { partner[k] };
                    t.push(if t.contains(&x) { pb.outsider(rng, &t) } else { x });
                }
                t
            })
            .collect();
        let te = best_of(pb, &trials, &mut best);
        for i in 0..popn {
            if te[i].fitness > evals[i].fitness {
                pop[i] = trials[i].clone();
                evals[i] = te[i];
            }
        }
    }
    best.1
}

fn legacy_random(pb: &Problem, rng: &mut ChaCha8Rng, n: usize) -> f64 {
    let mut best = (Vec::new(), f64::NEG_INFINITY);
    let pop: Vec<Vec<u32>> = (0..n).map(|_| pb.random_portfolio(rng)).collect();
    best_of(pb, &pop, &mut best);
    best.1
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let (seeds, min, max) = (arg("--seeds", 5), arg("--min", 35), arg("--max", 60));
    let table = generate(&SynthConfig { strategies: arg("--strategies", 25_544), ..SynthConfig::default() });
    let ev = Evaluator::new(&table.values, table.n_days(), Metric::Ratio, Penalty::default(), None);
    let features = Features::new(&ev);
    let legacy_params = Params::default();
    let big = Params { generations: 200, ..Params::default() };
    let ours: Vec<usize> = (0..7).collect(); // GA PSO SA DE ACO HC BO
    let n_sizes = max - min + 1;
    let (mut leg, mut ht, mut ht_big) = (vec![0.0; n_sizes], vec![0.0; n_sizes], vec![0.0; n_sizes]);
    let mut wins = 0;
    for seed in 0..seeds as u64 {
        for (k, size) in (min..=max).enumerate() {
            let pb = Problem { ev: &ev, gpu: None, features: &features, size, params: &legacy_params };
            let mut rng = job_rng(seed + 1000, size, 0);
            let p = &legacy_params;
            let best = [
                legacy_ga(&pb, &mut rng, p.generations, p.population, p.mutation_rate),
                legacy_pso(&pb, &mut rng, p.generations, p.population),
                legacy_climb(&pb, &mut rng, 1000),
                legacy_de(&pb, &mut rng, p.generations, p.population),
                legacy_random(&pb, &mut rng, 50),
                legacy_climb(&pb, &mut rng, 200),
                legacy_random(&pb, &mut rng, 50),
            ]
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
            leg[k] += best / seeds as f64;
        }
        let a = optimize(Scorer::cpu(&ev), &features, min..=max, &ours, &legacy_params, seed, &|_| {});
        let b = optimize(Scorer::cpu(&ev), &features, min..=max, &ours, &big, seed, &|_| {});
        for k in 0..n_sizes {
            ht[k] += a[k].best.eval.fitness / seeds as f64;
            ht_big[k] += b[k].best.eval.fitness / seeds as f64;
        }
    }
    println!(
        "best fitness (ratio) per size, mean over {seeds} seeds, {} strategies x {} days",
        table.n_strategies(),
        table.n_days()
    );
    println!("{:>5} {:>14} {:>14} {:>16} {:>8}", "size", "legacy", "heavytune", "heavytune 4x", "ht>=leg");
    for k in 0..n_sizes {
        if ht[k] >= leg[k] {
            wins += 1;
        }
        println!("{:>5} {:>14.4} {:>14.4} {:>16.4} {:>8}", min + k, leg[k], ht[k], ht_big[k], ht[k] >= leg[k]);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "mean over sizes: legacy {:.4}, heavytune {:.4} ({:+.1}%), heavytune 4x {:.4}; heavytune >= legacy on {wins}/{n_sizes} sizes",
        mean(&leg),
        mean(&ht),
        100.0 * (mean(&ht) - mean(&leg)) / mean(&leg).abs(),
        mean(&ht_big)
    );
}
