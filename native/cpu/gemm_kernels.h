// The per-ISA half of the GEMM (gemm.h): a register-blocked micro-kernel and the
// cache-block sizes that suit it. gemm.cc does the packing, blocking and threading.
#pragma once
#include <cstdint>

namespace cn {

// c[MR x NR] (row stride ldc) = alpha * sum_k a[k*MR + i] * b[k*NR + j] + beta * c,
// over kc steps. `a` and `b` are packed panels, 64-byte aligned; beta == 0 must not
// read c.
using GemmMicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                 float alpha, float beta);

struct GemmKernelInfo {
  int mr, nr;      // micro-tile: rows of A broadcast, columns of B in vector registers
  int64_t kc;      // depth of a packed panel: a KC x NR panel of B stays in L1
  int64_t mc;      // rows of A packed at once (MC x KC stays in L2), multiple of mr
  int64_t nc;      // columns of B packed at once (KC x NC stays in L2/L3), multiple of nr
  GemmMicroKernel kernel;
};

const GemmKernelInfo& gemm_kernel_portable();
const GemmKernelInfo& gemm_kernel_avx2();
const GemmKernelInfo& gemm_kernel_avx512();

}  // namespace cn
