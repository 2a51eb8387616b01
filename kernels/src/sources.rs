//! The CUDA C sources of the GPU kernels (`cuda/`), as text compiled at run time by NVRTC,
//! and the signature of each entry point, which the launch code and the compile-gate test
//! both read.

/// `cuda/series.cuh`: the series recurrence, the six metrics and the shared scoring rule.
pub const SERIES: &str = include_str!("../cuda/series.cuh");
/// `cuda/fitness.cu`: batch fitness, one warp per candidate.
pub const FITNESS: &str = include_str!("../cuda/fitness.cu");
/// `cuda/swap.cu`: single-strategy swaps of one portfolio, one warp per swap.
pub const SWAP: &str = include_str!("../cuda/swap.cu");

/// A kernel parameter's kind, as the PTX declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// A device pointer (`.u64`).
    Ptr,
    /// `int` (`.u32` in PTX).
    I32,
    /// `double` (`.f64`).
    F64,
}

/// An entry point: its name, its parameters in order, and its source file.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    pub name: &'static str,
    pub params: &'static [Param],
    pub source: &'static str,
    pub file: &'static str,
}

use Param::{F64, I32, Ptr};

/// `ht_batch_fitness(rows, consts, d, members, batch, k, metric, penalty_weight,
/// drawdown_threshold, labels, desired, n_desired, balance_factor, out)`.
pub const BATCH_FITNESS: Kernel = Kernel {
    name: "ht_batch_fitness",
    params: &[Ptr, Ptr, I32, Ptr, I32, I32, I32, F64, F64, Ptr, Ptr, I32, F64, Ptr],
    source: FITNESS,
    file: "fitness.cu",
};

/// `ht_swap_fitness(rows, consts, d, base_acc, base_zz, members, k, positions, incoming, n_swaps,
/// metric, penalty_weight, drawdown_threshold, labels, desired, n_desired, balance_factor, out)`.
pub const SWAP_FITNESS: Kernel = Kernel {
    name: "ht_swap_fitness",
    params: &[Ptr, Ptr, I32, Ptr, F64, Ptr, I32, Ptr, Ptr, I32, I32, F64, F64, Ptr, Ptr, I32, F64, Ptr],
    source: SWAP,
    file: "swap.cu",
};

/// Every kernel, in one list.
pub const KERNELS: [Kernel; 2] = [BATCH_FITNESS, SWAP_FITNESS];

/// The text NVRTC compiles for `kernel`: the shared header, then the kernel's file, with the
/// shared-memory macro of a real GPU.
pub fn program(kernel: &Kernel) -> String {
    format!(
        "#define HT_PREPENDED\n#define HT_DYNAMIC_SHARED(T, name) extern __shared__ T name[]\n{SERIES}\n{}\n",
        kernel.source
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metric;

    #[test]
    fn metric_numbers_match_the_cuda_defines() {
        for m in Metric::ALL {
            let define = format!("#define HT_METRIC_{} {}", m.name().to_ascii_uppercase().replace(' ', "_"), m.id());
            assert!(SERIES.contains(&define), "series.cuh lacks {define:?}");
        }
    }

    #[test]
    fn every_kernel_is_defined_in_its_file() {
        for k in KERNELS {
            assert!(k.source.contains(&format!("extern \"C\" __global__ void {}(", k.name)), "{}", k.name);
            assert!(program(&k).starts_with("#define HT_PREPENDED"));
        }
    }
}
