// Measures the fp32 FMA throughput of this CPU (the ceiling for the GEMM and
// every convolution), so benchmarks report efficiency against a measured peak
// rather than a datasheet figure that turbo, AVX-512 down-clocking or a VM's
// CPU quota would make wrong.
#pragma once
#include "../engine/thread_pool.h"
#include "cpu_features.h"

namespace cn {

// GFLOP/s of back-to-back independent FMAs with the widest vectors of `isa`,
// over about `seconds`, on one thread (pool == nullptr) or on every pool thread
// at once (the sum).
double measure_fma_peak_gflops(Isa isa, ThreadPool* pool, double seconds);

// Per-ISA loops (fma_peak_<isa>.cc): `iters` rounds of 12 independent vector
// FMAs; return the flops done.
double fma_loop_portable(int64_t iters);
double fma_loop_avx2(int64_t iters);
double fma_loop_avx512(int64_t iters);

}  // namespace cn
