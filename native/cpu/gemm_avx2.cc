// AVX2 GEMM micro-kernel: a 6 x 16 tile of C in 12 ymm accumulators (the 16
// ymm registers hold the tile, two vectors of B and one broadcast of A).
#include "gemm_kernels.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include "gemm_copy_rows.inc"
#include "gemm_pack_avx.inc"

namespace cn {

namespace {
constexpr int kMr = 6, kNr = 16;

void kernel_6x16(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
                 float beta) {
  __m256 acc0[kMr], acc1[kMr];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb), _MM_HINT_T0);
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kMr;
    b += ldb;
  }
  __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      _mm256_storeu_ps(c + i * ldc, _mm256_mul_ps(va, acc0[i]));
      _mm256_storeu_ps(c + i * ldc + 8, _mm256_mul_ps(va, acc1[i]));
    }
  } else {
    __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      float* ci = c + i * ldc;
      _mm256_storeu_ps(ci, _mm256_fmadd_ps(va, acc0[i], _mm256_mul_ps(vb, _mm256_loadu_ps(ci))));
      _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(va, acc1[i], _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8))));
    }
  }
}
}  // namespace

const GemmKernelInfo& gemm_kernel_avx2() {
  static const GemmKernelInfo info{kMr, kNr, 256, 120, 1024, kernel_6x16, pack_transposed_avx, copy_rows<kMr>, copy_rows<kNr>};
  return info;
}

}  // namespace cn

#else  // not compiled for x86: the dispatcher never selects this ISA here

namespace cn {
const GemmKernelInfo& gemm_kernel_avx2() { return gemm_kernel_portable(); }
}  // namespace cn

#endif
