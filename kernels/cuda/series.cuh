// series.cuh: the device side of kernels/src/series.rs and kernels/src/metrics/: one pass over
// a portfolio's daily returns (running equity, peak, drawdown, wins, losses) and the six fitness
// metrics, with the CPU's order of operations, so that compiled without FMA contraction
// (NVRTC --fmad=false; host emulation -ffp-contract=off) every value is the CPU's bits.
//
// Included by fitness.cu and swap.cu (the Rust loader prepends it and defines HT_PREPENDED).
#ifndef HT_SERIES_CUH
#define HT_SERIES_CUH

// Metric ids: the order of heavytune_kernels::Metric::ALL.
#define HT_METRIC_ROI 0
#define HT_METRIC_LESS_MAX_DD 1
#define HT_METRIC_RATIO 2
#define HT_METRIC_WIN_PERCENTAGE 3
#define HT_METRIC_PROFIT_FACTOR 4
#define HT_METRIC_EXPECTANCY 5

// metrics::DRAWDOWN_EPS
#define HT_DRAWDOWN_EPS 1e-6

// SeriesStats: what one pass over a series gives.
struct HtSeries {
    int days;
    double sum, peak, max_drawdown;
    int wins, losses;
    double gains, pains;
};

__device__ __forceinline__ void ht_series_init(HtSeries* s) {
    s->days = 0;
    s->sum = 0.0;
    s->peak = __longlong_as_double((long long)0xfff0000000000000ULL);  // -inf
    s->max_drawdown = 0.0;
    s->wins = 0;
    s->losses = 0;
    s->gains = 0.0;
    s->pains = 0.0;
}

// SeriesStats::push. fmax returns the other operand when one is NaN, as Rust's f64::max does.
__device__ __forceinline__ void ht_series_push(HtSeries* s, double x) {
    s->days += 1;
    s->sum += x;
    s->peak = fmax(s->peak, s->sum);
    double fall = s->peak - s->sum;
    s->max_drawdown = fmax(s->max_drawdown, fall);
    if (x > 0.0) {
        s->wins += 1;
        s->gains += x;
    } else if (x < 0.0) {
        s->losses += 1;
        s->pains += x;
    }
}

// FitnessMetric::value of each metric file.
__device__ __forceinline__ double ht_metric_value(int metric, const HtSeries* s) {
    switch (metric) {
    case HT_METRIC_ROI:
        return s->sum;
    case HT_METRIC_LESS_MAX_DD:
        return -s->max_drawdown;
    case HT_METRIC_RATIO: {
        double roi = s->sum, mdd = s->max_drawdown;
        if (mdd > HT_DRAWDOWN_EPS) return roi / mdd;
        if (roi > 0.0) return roi * 100.0;
        if (roi < 0.0) return roi * 10.0;
        return 0.0;
    }
    case HT_METRIC_WIN_PERCENTAGE:
        return (double)s->wins / (double)s->days;
    case HT_METRIC_PROFIT_FACTOR:
        if (fabs(s->pains) > HT_DRAWDOWN_EPS) return s->gains / fabs(s->pains);
        return s->gains > 0.0 ? 1.0 : 0.0;
    default: {  // HT_METRIC_EXPECTANCY
        double w = (double)s->wins / (double)s->days;
        double mean_win = s->wins == 0 ? 0.0 : s->gains / (double)s->wins;
        double mean_loss = s->losses == 0 ? 0.0 : fabs(s->pains) / (double)s->losses;
        return w * mean_win - (1.0 - w) * mean_loss;
    }
    }
}

__device__ __forceinline__ bool ht_halves_penalty(int metric) {
    return metric == HT_METRIC_RATIO || metric == HT_METRIC_LESS_MAX_DD;
}

// A strategy's standardization, from its 4 constants (mean, inverse norm, |z|^2, flat as 0 or
// 1: Evaluator::strategy_constants): z = (x - mean) * inv_norm, or 0 for a flat strategy.
struct HtScale {
    double mean, inv_norm;
    bool flat;
};

__device__ __forceinline__ HtScale ht_scale(const double* consts, unsigned int s) {
    const double* c = consts + 4 * (long long)s;
    HtScale z;
    z.mean = c[0];
    z.inv_norm = c[1];
    z.flat = c[3] != 0.0;
    return z;
}

// Scale::z.
__device__ __forceinline__ double ht_z(HtScale z, double x) {
    return z.flat ? 0.0 : (x - z.mean) * z.inv_norm;
}

// A warp's share of a launch where each warp takes one item (a candidate, a swap): its item's
// number, the lane, and the warp's slice of the block's shared memory (2 * d doubles).
struct HtWarp {
    long long item;
    int lane;
    double* acc;
};

__device__ __forceinline__ HtWarp ht_warp(double* shared, int d) {
    const int warp = threadIdx.x / 32;
    HtWarp w;
    w.item = (long long)blockIdx.x * (blockDim.x / 32) + warp;
    w.lane = threadIdx.x % 32;
    w.acc = shared + (long long)warp * 2 * d;
    return w;
}

// The scoring rule every kernel shares: what the fitness kernels pass to ht_finish.
struct HtRule {
    int metric;
    double penalty_weight;
    double drawdown_threshold;
    // Balanced mode (n_desired == 0: off): label of each strategy, (label, count) pairs.
    const unsigned short* labels;
    const int* desired;
    int n_desired;
    double balance_factor;
};

// Evaluator::finish for one portfolio, run by one thread: `acc` holds the column sums (d P&L
// sums, then d standardized sums), `k` members, `zz` the sum of their |z|^2; `members` (k
// entries) with member `swap_pos` replaced by `swap_in` when swap_pos >= 0 gives the label
// counts. Writes fitness, base fitness and average correlation to out[0..3].
__device__ __forceinline__ void ht_finish(const double* acc, int d, int k, double zz, const HtRule* rule,
                                          const unsigned int* members, int swap_pos, unsigned int swap_in,
                                          double* out) {
    const double kf = (double)k;
    HtSeries s;
    ht_series_init(&s);
    for (int t = 0; t < d; ++t) ht_series_push(&s, acc[t] / kf);
    const double base = ht_metric_value(rule->metric, &s);
    double avg_corr = 0.0;
    if (k >= 2) {
        double zsum2 = 0.0;
        for (int t = 0; t < d; ++t) {
            const double v = acc[d + t];
            const double sq = v * v;
            zsum2 += sq;
        }
        avg_corr = (zsum2 - zz) / (kf * (kf - 1.0));
    }
    double penalty = rule->penalty_weight * avg_corr;
    if (ht_halves_penalty(rule->metric) && s.max_drawdown < rule->drawdown_threshold) penalty /= 2.0;
    double balance = 0.0;
    if (rule->n_desired > 0) {
        double off = 0.0;
        for (int j = 0; j < rule->n_desired; ++j) {
            const int label = rule->desired[2 * j], want = rule->desired[2 * j + 1];
            long long count = 0;
            for (int m = 0; m < k; ++m) {
                const unsigned int member = m == swap_pos ? swap_in : members[m];
                count += rule->labels[member] == label;
            }
            const long long gap = count > want ? count - want : want - count;
            off += (double)gap;
        }
        balance = rule->balance_factor * off;
    }
    out[0] = base - penalty - balance;
    out[1] = base;
    out[2] = avg_corr;
}

#endif  // HT_SERIES_CUH
