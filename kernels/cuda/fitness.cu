// fitness.cu: batch fitness of candidate portfolios, the GPU twin of Evaluator::evaluate
// (kernels/src/fitness.rs).
//
// Layout: one warp per candidate. The P&L rows (d doubles per strategy) and each strategy's
// constants (mean, inverse norm, |z|^2, flat: 4 doubles) are uploaded once per run. A member
// costs one contiguous row read (coalesced across the warp): lane l owns days l, l + 32, ...
// and adds, in member order as the CPU loop does, the day's P&L and its standardized value
// (x - mean) * inv_norm, computed here as the CPU computes it, so no separate z panel is read
// (half the bytes of a [returns | z] panel). The sums go to the warp's slice of shared memory
// (2 * d doubles per warp). Lane 0 then walks the d days in order (running equity, peak,
// drawdown; |sum z|^2) with the CPU's order of operations: the recurrence is sequential in
// the legacy and a warp scan would round differently, and it is short (d = 82 days) next to
// the k row reads. Compiled with --fmad=false, every output is the CPU's bits: the same seed
// gives the same portfolios on either.
//
// Per batch only the member indices go up (4 * k bytes per candidate) and three doubles per
// candidate come down.

#ifndef HT_PREPENDED
#include "series.cuh"
#endif

// Launch: blockDim.x a multiple of 32, gridDim.x = ceil(batch / (blockDim.x / 32)), dynamic
// shared memory (blockDim.x / 32) * 2 * d doubles. out: batch x 3 (fitness, base, avg_corr).
extern "C" __global__ void ht_batch_fitness(const double* __restrict__ rows, const double* __restrict__ consts,
                                            int d, const unsigned int* __restrict__ members, int batch, int k,
                                            int metric, double penalty_weight, double drawdown_threshold,
                                            const unsigned short* __restrict__ labels,
                                            const int* __restrict__ desired, int n_desired,
                                            double balance_factor, double* __restrict__ out) {
    HT_DYNAMIC_SHARED(double, shared);
    const HtWarp w = ht_warp(shared, d);
    const long long candidate = w.item;
    if (candidate >= batch) return;  // the whole warp leaves together
    const int lane = w.lane;
    double* acc = w.acc;
    const unsigned int* pf = members + candidate * k;
    // Each lane zeroes the sums it adds to (day c and its standardized column d + c): no other
    // lane touches them before the __syncwarp below.
    for (int c = lane; c < d; c += 32) acc[c] = acc[d + c] = 0.0;
    for (int m = 0; m < k; ++m) {
        const double* row = rows + (long long)pf[m] * d;
        const HtScale z = ht_scale(consts, pf[m]);
        for (int c = lane; c < d; c += 32) {
            const double x = row[c];
            acc[c] += x;
            if (!z.flat) acc[d + c] += (x - z.mean) * z.inv_norm;
        }
    }
    __syncwarp();
    if (lane == 0) {
        double sum_zz = 0.0;
        for (int m = 0; m < k; ++m) sum_zz += consts[4 * (long long)pf[m] + 2];
        HtRule rule = {metric, penalty_weight, drawdown_threshold, labels, desired, n_desired, balance_factor};
        ht_finish(acc, d, k, sum_zz, &rule, pf, -1, 0u, out + candidate * 3);
    }
}
