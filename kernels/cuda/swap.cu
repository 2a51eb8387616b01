// swap.cu: the fitness of many single-strategy swaps of one portfolio, the GPU twin of
// Incremental::try_swap (kernels/src/swap.rs).
//
// Layout: one warp per swap. The portfolio's column sums (2 * d doubles) and the sum of its
// members' |z|^2 come up once per portfolio; each swap then reads two P&L rows (the incoming
// and the outgoing strategy), not k, with their constants: lane l computes its days' sums as
// (base + incoming) - outgoing, the standardized values as fitness.cu does, the CPU's order of
// operations, into the warp's shared slice, and lane 0 finishes the score as in fitness.cu.
// Compiled with --fmad=false the outputs are the CPU's bits.

#ifndef HT_PREPENDED
#include "series.cuh"
#endif

// Launch as ht_batch_fitness, one warp per swap. Swap j replaces member positions[j] by
// strategy incoming[j]. out: n_swaps x 3 (fitness, base, avg_corr).
extern "C" __global__ void ht_swap_fitness(const double* __restrict__ rows, const double* __restrict__ consts,
                                           int d, const double* __restrict__ base_acc, double base_zz,
                                           const unsigned int* __restrict__ members, int k,
                                           const int* __restrict__ positions,
                                           const unsigned int* __restrict__ incoming, int n_swaps, int metric,
                                           double penalty_weight, double drawdown_threshold,
                                           const unsigned short* __restrict__ labels,
                                           const int* __restrict__ desired, int n_desired,
                                           double balance_factor, double* __restrict__ out) {
    HT_DYNAMIC_SHARED(double, shared);
    const HtWarp w = ht_warp(shared, d);
    const long long j = w.item;
    if (j >= n_swaps) return;  // the whole warp leaves together
    const int lane = w.lane;
    double* acc = w.acc;
    const int pos = positions[j];
    const unsigned int in = incoming[j], gone = members[pos];
    const double* row_in = rows + (long long)in * d;
    const double* row_out = rows + (long long)gone * d;
    const HtScale z_in = ht_scale(consts, in), z_out = ht_scale(consts, gone);
    for (int c = lane; c < d; c += 32) {
        const double x_in = row_in[c], x_out = row_out[c];
        acc[c] = base_acc[c] + x_in - x_out;
        acc[d + c] = base_acc[d + c] + ht_z(z_in, x_in) - ht_z(z_out, x_out);
    }
    __syncwarp();
    if (lane == 0) {
        const double sum_zz = base_zz - consts[4 * (long long)gone + 2] + consts[4 * (long long)in + 2];
        HtRule rule = {metric, penalty_weight, drawdown_threshold, labels, desired, n_desired, balance_factor};
        ht_finish(acc, d, k, sum_zz, &rule, members, pos, in, out + j * 3);
    }
}
