// cuda_emulation.h: just enough of CUDA to run heavytune's kernel sources as host C++, for
// the tests of kernels/tests/emulation.rs (test builds only; never shipped).
//
// One OS thread per CUDA thread: a block's threads run at once, blocks one after the other.
// __syncwarp() is a barrier of the warp's threads, so lanes exchange through shared memory in
// lockstep as on a GPU; __shared__ memory is one buffer per block. What this checks: the
// kernels' indexing, the per-lane column split (the last partial warp included), the
// synchronisation points that the algorithm needs, and the arithmetic (compiled with
// -ffp-contract=off, as NVRTC with --fmad=false). What it cannot check: the code the GPU
// compiler generates, races that a barrier-per-call schedule hides, and speed.
#pragma once

#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace emu {
inline thread_local dim3 thread_idx;
inline thread_local dim3 block_idx;
inline dim3 block_dim, grid_dim;
inline std::vector<double> dynamic_shared;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;

// Runs kernel(args...) over the grid: blocks in turn, each block's threads at once.
template <typename F>
void launch(unsigned grid, unsigned block, std::size_t shared_bytes, F kernel) {
    grid_dim.x = grid;
    block_dim.x = block;
    for (unsigned b = 0; b < grid; ++b) {
        dynamic_shared.assign((shared_bytes + sizeof(double) - 1) / sizeof(double), 0.0);
        warp_barriers.clear();
        for (unsigned w = 0; w * 32 < block; ++w) {
            const unsigned lanes = block - w * 32 < 32 ? block - w * 32 : 32;
            warp_barriers.push_back(std::make_unique<std::barrier<>>(lanes));
        }
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; ++t) {
            threads.emplace_back([=] {
                thread_idx.x = t;
                block_idx.x = b;
                kernel();
            });
        }
        for (auto& th : threads) th.join();
    }
}
}  // namespace emu

#define threadIdx (emu::thread_idx)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define HT_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(emu::dynamic_shared.data())

inline void __syncwarp() { emu::warp_barriers[emu::thread_idx.x / 32]->arrive_and_wait(); }

inline double __longlong_as_double(long long bits) {
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
}

using std::fabs;
using std::fmax;
