// The per-ISA half of the GEMM (gemm.h): a register-blocked micro-kernel and the
// cache-block sizes that suit it. gemm.cc does the packing, blocking and threading.
#pragma once
#include <cstdint>

namespace cn {

// c[MR x NR] (row stride ldc) = alpha * sum_k a[k*MR + i] * b[k*ldb + j] + beta * c,
// over kc steps. `a` is a packed panel, 64-byte aligned; `b` is a packed panel
// (ldb = NR) or NR columns of B read where they are (ldb = B's row stride);
// beta == 0 must not read c.
using GemmMicroKernel = void (*)(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                                 float alpha, float beta);

// dst[k * width + i] = src[i * ld + k] for i < rows, k < kb, zero for
// rows <= i < width: the transposing half of packing (A stored row-major, B
// stored transposed into k-major panels).
using GemmPackTransposed = void (*)(const float* src, int64_t ld, int rows, int64_t kb, int width, float* dst);

// The baseline version (SSE 4x4 blocks on x86-64, scalar elsewhere), gemm.cc,
// and its tail: rows [first, rows) only, then the zero rows up to width.
void gemm_pack_transposed_baseline(const float* src, int64_t ld, int rows, int64_t kb, int width, float* dst);
void gemm_pack_transposed_rows(const float* src, int64_t ld, int first, int rows, int64_t kb, int width, float* dst);

// dst[k * W + j] = src[k * ld + j] for j < W, k < kb: the copying half of
// packing, W = mr (A stored [K, M]) or nr (B stored [K, N]); gemm_copy_rows.inc.
using GemmCopyRows = void (*)(const float* src, int64_t ld, int64_t kb, float* dst);

// The same for a tile that overhangs C: only rows < `rows` and columns < `cols`
// of c are read and written (and only `rows` rows of `a` are used).
using GemmEdgeKernel = void (*)(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                                float alpha, float beta, int rows, int cols);

struct GemmKernelInfo {
  int mr, nr;      // micro-tile: rows of A broadcast, columns of B in vector registers
  int64_t kc;      // depth of a packed panel: a KC x NR panel of B stays in L1
  int64_t mc;      // rows of A packed at once (MC x KC stays in L2), multiple of mr
  int64_t nc;      // columns of B packed at once (KC x NC stays in L2/L3), multiple of nr
  GemmMicroKernel kernel;
  GemmPackTransposed pack_transposed;
  GemmCopyRows copy_a_rows;  // W = mr
  GemmCopyRows copy_b_rows;  // W = nr
  // Null: edge tiles go through `kernel` into a scratch tile, then are copied.
  GemmEdgeKernel edge_kernel = nullptr;
};

const GemmKernelInfo& gemm_kernel_portable();
const GemmKernelInfo& gemm_kernel_avx2();
const GemmKernelInfo& gemm_kernel_avx512();

}  // namespace cn
