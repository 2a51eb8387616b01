// runner.cpp: runs one of heavytune's kernels under cuda_emulation.h on inputs read from
// stdin and writes its outputs to stdout (kernels/tests/emulation.rs builds and drives it).
//
// Input, little-endian: u32 kernel (0 ht_batch_fitness, 1 ht_swap_fitness); i32 n, d, k,
// count (candidates or swaps), metric, n_desired, has_labels, block_threads; f64
// penalty_weight, drawdown_threshold, balance_factor; f64 rows[n * d]; f64 consts[4n];
// u16 labels[n] when has_labels; i32 desired[2 * n_desired]; then for kernel 0 u32
// members[count * k], for kernel 1 f64 base_acc[2d], f64 base_zz, u32 members[k],
// i32 positions[count], u32 incoming[count]. Output: f64 out[count * 3].
#include <cstdio>
#include <cstdlib>

#include "cuda_emulation.h"

#include "../series.cuh"
#include "../fitness.cu"
#include "../swap.cu"

template <typename T>
static std::vector<T> read(std::size_t n) {
    std::vector<T> v(n);
    if (n && std::fread(v.data(), sizeof(T), n, stdin) != n) {
        std::fprintf(stderr, "runner: short input\n");
        std::exit(2);
    }
    return v;
}

template <typename T>
static T one() {
    return read<T>(1)[0];
}

int main() {
    const unsigned kernel = one<unsigned>();
    const auto ints = read<int>(8);
    const int n = ints[0], d = ints[1], k = ints[2], count = ints[3], metric = ints[4], n_desired = ints[5],
              has_labels = ints[6], block = ints[7];
    const auto reals = read<double>(3);
    const auto rows = read<double>((std::size_t)n * d);
    const auto consts = read<double>(4 * (std::size_t)n);
    const auto labels = read<unsigned short>(has_labels ? n : 0);
    const auto desired = read<int>(2 * (std::size_t)n_desired);
    std::vector<double> out((std::size_t)count * 3, -7.0);
    const unsigned warps = block / 32;
    const unsigned grid = (count + warps - 1) / warps;
    const std::size_t shared = (std::size_t)warps * 2 * d * sizeof(double);
    const unsigned short* l = has_labels ? labels.data() : nullptr;
    if (kernel == 0) {
        const auto members = read<unsigned>((std::size_t)count * k);
        emu::launch(grid, block, shared, [&] {
            ht_batch_fitness(rows.data(), consts.data(), d, members.data(), count, k, metric, reals[0], reals[1], l,
                             desired.data(), n_desired, reals[2], out.data());
        });
    } else {
        const auto base_acc = read<double>(2 * (std::size_t)d);
        const double base_zz = one<double>();
        const auto members = read<unsigned>(k);
        const auto positions = read<int>(count);
        const auto incoming = read<unsigned>(count);
        emu::launch(grid, block, shared, [&] {
            ht_swap_fitness(rows.data(), consts.data(), d, base_acc.data(), base_zz, members.data(), k,
                            positions.data(), incoming.data(), count, metric, reals[0], reals[1], l,
                            desired.data(), n_desired, reals[2], out.data());
        });
    }
    std::fwrite(out.data(), sizeof(double), out.size(), stdout);
    return 0;
}
