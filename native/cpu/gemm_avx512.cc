// AVX-512 GEMM micro-kernel: a 12 x 32 tile of C in 24 zmm accumulators. Each
// k step loads two vectors of B and broadcasts 12 scalars of A, 24 FMAs for 14
// loads, so the two FMA ports stay busy while the load ports have slack.
#include "gemm_kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include <utility>

#include "gemm_copy_rows.inc"
#include "gemm_pack_avx.inc"

namespace cn {

namespace {
constexpr int kMr = 12, kNr = 32;

// R of the 12 rows of a tile (only their FMAs run), the first `cols` columns
// stored (masked). Whole tiles are R = 12, cols = 32; an overhanging tile is
// less: a small layer's GEMMs are mostly edges (32 output channels are panels
// of 12, 12 and 8), which went through a scratch tile and a scalar copy.
template <int R>
void kernel_rows(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
                 float beta, int cols) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    // B is read once per tile row sweep; fetch a few steps ahead.
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb + 16), _MM_HINT_T0);
    __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i) {
      __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kMr;
    b += ldb;
  }
  const __mmask16 m0 = static_cast<__mmask16>(cols >= 16 ? 0xFFFFu : (1u << cols) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(cols >= 32 ? 0xFFFFu : cols > 16 ? (1u << (cols - 16)) - 1 : 0u);
  __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i) {
      _mm512_mask_storeu_ps(c + i * ldc, m0, _mm512_mul_ps(va, acc0[i]));
      _mm512_mask_storeu_ps(c + i * ldc + 16, m1, _mm512_mul_ps(va, acc1[i]));
    }
  } else {
    __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i) {
      float* ci = c + i * ldc;
      _mm512_mask_storeu_ps(ci, m0, _mm512_fmadd_ps(va, acc0[i], _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m0, ci))));
      _mm512_mask_storeu_ps(ci + 16, m1, _mm512_fmadd_ps(va, acc1[i], _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16))));
    }
  }
}

void kernel_12x32(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
                  float beta) {
  kernel_rows<kMr>(kc, a, b, ldb, c, ldc, alpha, beta, kNr);
}

template <int... R>
void edge_12x32_of(std::integer_sequence<int, R...>, int64_t kc, const float* a, const float* b, int64_t ldb, float* c,
                   int64_t ldc, float alpha, float beta, int rows, int cols) {
  using Fn = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, float, float, int);
  static constexpr Fn by_rows[] = {kernel_rows<R + 1>...};
  by_rows[rows - 1](kc, a, b, ldb, c, ldc, alpha, beta, cols);
}

void edge_12x32(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
                float beta, int rows, int cols) {
  edge_12x32_of(std::make_integer_sequence<int, kMr>{}, kc, a, b, ldb, c, ldc, alpha, beta, rows, cols);
}
}  // namespace

const GemmKernelInfo& gemm_kernel_avx512() {
  static const GemmKernelInfo info{kMr, kNr, 256, 240, 1024, kernel_12x32, pack_transposed_avx,
                                        copy_rows<kMr>, copy_rows<kNr>, edge_12x32};
  return info;
}

}  // namespace cn

#else  // not compiled for x86: the dispatcher never selects this ISA here

namespace cn {
const GemmKernelInfo& gemm_kernel_avx512() { return gemm_kernel_portable(); }
}  // namespace cn

#endif
