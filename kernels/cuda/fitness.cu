// fitness.cu: batch fitness of candidate portfolios, the GPU twin of Evaluator::evaluate
// (kernels/src/fitness.rs).
//
// Layout: one warp per candidate. The panel holds each strategy's P&L then its standardized
// values (the CPU's bits), 2 * d doubles side by side, uploaded once per run, so a member
// costs one contiguous row read (coalesced across the warp) and the standardized values are
// the CPU's bits (no z recomputed from a mean and an inverse norm, which would round
// differently). Lane l owns columns l, l + 32, ...: it adds its columns of each member's row in
// member order, exactly as the CPU loop does, into the warp's slice of shared memory
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
extern "C" __global__ void ht_batch_fitness(const double* __restrict__ panel, const double* __restrict__ zz,
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
    const int width = 2 * d;
    for (int c = lane; c < width; c += 32) acc[c] = 0.0;
    for (int m = 0; m < k; ++m) {
        const double* row = panel + (long long)pf[m] * width;
        for (int c = lane; c < width; c += 32) acc[c] += row[c];
    }
    __syncwarp();
    if (lane == 0) {
        double sum_zz = 0.0;
        for (int m = 0; m < k; ++m) sum_zz += zz[pf[m]];
        HtRule rule = {metric, penalty_weight, drawdown_threshold, labels, desired, n_desired, balance_factor};
        ht_finish(acc, d, k, sum_zz, &rule, pf, -1, 0u, out + candidate * 3);
    }
}
