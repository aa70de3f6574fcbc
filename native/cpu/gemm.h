// Single-precision GEMM for the CPU backend (convolutions are lowered to it).
//
// This is a hand-written GEMM on purpose: the package must install with two
// commands (npm install, then use) on any Linux/macOS box, so it cannot depend on
// a system BLAS (OpenBLAS/MKL headers, pkg-config, licences, thread-pool clashes
// with our own pool). The classic Goto/BLIS structure is enough to get close to
// the FMA peak: operands packed into cache-sized panels, one register-blocked
// micro-kernel per ISA (gemm_portable.cc, gemm_avx2.cc, gemm_avx512.cc) chosen at
// run time, and the output split between the engine's worker threads.
#pragma once
#include <cstdint>

#include "../engine/thread_pool.h"
#include "cpu_features.h"

namespace cn {

struct GemmOp {
  bool trans_a = false;  // A is stored [K, M] (lda >= M) and used transposed
  bool trans_b = false;  // B is stored [N, K] (ldb >= K) and used transposed
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  // beta == 0 overwrites C without reading it (so C may hold NaN garbage).
  float beta = 0.0f;
  float* c = nullptr;  // [M, N], row stride ldc >= N
  int64_t ldc = 0;
  // Optional, for a non-transposed B only: B's columns come in groups of
  // b_group_cols, column j read from b + b_group_offset[j / b_group_cols] +
  // k * ldb + j % b_group_cols (ldb >= b_group_cols): several shifted views of
  // one matrix side by side, as a convolution's kernel taps are, multiplied in
  // one GEMM so that A is packed once for all of them. Fastest when
  // b_group_cols is a multiple of 32 (no micro-panel then straddles two groups).
  int64_t b_group_cols = 0;
  const int64_t* b_group_offset = nullptr;
  int64_t b_col0 = 0;  // grouped B: index of this op's first column (the threads' pieces set it)
};

// C = alpha * op(A) * op(B) + beta * C, all row-major. Uses the kernels of `isa`
// (which the CPU must support) and the threads of `pool` (nullptr: the calling
// thread only). Called from inside a parallel region it runs on the caller only.
void sgemm(Isa isa, ThreadPool* pool, const GemmOp& op);

// dst[k * width + i] = src[i * ld + k] for i < rows, k < kb, zero for rows <= i < width:
// a transpose in the vector blocks of `isa` (the GEMM's own packing), on the calling thread.
void gemm_pack_transposed(Isa isa, const float* src, int64_t ld, int rows, int64_t kb, int width, float* dst);

}  // namespace cn
