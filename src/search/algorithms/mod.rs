//! The search algorithms, one per file, registered in [`registry`].

mod aco;
mod bo;
mod de;
mod ga;
mod hc;
mod pso;
mod rs;
mod sa;

use super::Algorithm;

/// All algorithms, in the legacy order (RS last); the position is part of each one's seed stream.
pub fn registry() -> Vec<Box<dyn Algorithm>> {
    vec![
        Box::new(ga::Genetic),
        Box::new(pso::Swarm),
        Box::new(sa::Annealing),
        Box::new(de::Differential),
        Box::new(aco::AntColony),
        Box::new(hc::HillClimbing),
        Box::new(bo::Bayesian),
        Box::new(rs::RandomSearch),
    ]
}
