//! Fixtures the kernels' integration tests share.

use heavytune_kernels::Balance;

/// Balanced mode over `n` strategies in three labels, two wanted from label 0 and one from
/// label 2: what the CPU, the emulated kernels and the GPU are compared on.
pub fn three_label_balance(n: usize) -> Balance {
    Balance {
        labels: (0..n).map(|i| (i % 3) as u16).collect(),
        desired: vec![(0, 2), (2, 1)],
        factor: 0.75,
        n_labels: 3,
    }
}
